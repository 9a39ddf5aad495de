"""One `Timeline` per file: versioned, checksummed, written atomically, read memory-mapped.

Layout (all integers little-endian):

    preamble  32 bytes: magic (8) | format version u32 | reserved u32 |
                        header length u64 | data length u64
    header    UTF-8 JSON, space-padded to a 64-byte boundary: the session key and
              full name (so any process sharing the folder resolves an id), session
              info, drivers, t0, fps, events, laps, results, geometry, problems,
              block_frames, and the array directory [{name, dtype, shape, offset,
              nbytes}] (offsets from the data start)
    data      the arrays, each at a 64-byte-aligned offset, C order: frames/<channel>
              for every channel, geometry/outline and geometry/pit_lane, then
              integrity/blocks
    trailer   16 bytes: xxh3-128 of header + data

Header values come back as JSON gives them: tuples in event data or lap tables
come back as lists; NaN survives.

A warm open reads the preamble and header, verifies the checksum by streaming the
file through a small buffer (so the hash does not leave every page resident in
this process), then maps the whole file once and hands out read-only array views.

The whole-file checksum only vouches for the file as it was at open; a server
keeps a session mapped for hours. So `integrity/blocks` holds, for every block of
`BLOCK_FRAMES` frame rows, the xxh3-64 of that block's rows of every frames array
in directory order, and the opened timeline carries a `verify_frames` hook (see
`timeline.model.DamagedTimeline`) that readers call before reading a span: it
checks the path still names the same, whole file (a stat: no mapped page is
touched, so a truncated file raises instead of killing the process with SIGBUS),
then hashes, once per process, each block of the span not yet verified.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from racereplay.model import Driver, SessionInfo, SessionKind
from racereplay.timeline.model import DamagedTimeline, Event, Timeline, TrackGeometry

MAGIC = b"RRTIMELN"
# 2: integrity/blocks, block_frames and the session key (files of version 1 are rebuilt).
FORMAT_VERSION = 2
ALIGN = 64
PREAMBLE = struct.Struct("<8sIIQQ")
TRAILER_SIZE = 16
HASH_CHUNK = 4 << 20  # big enough to amortise syscalls, small enough to stay in cache

# Geometry arrays live in the data section beside the frames, under these names.
_GEOMETRY_ARRAYS = ("outline", "pit_lane")

# Frame rows per integrity block: a store constant, independent of the codec's chunks
# (2 s at 25 fps, so a chunk is one block). 156k frames of a race: 3,129 checksums, 25 kB.
BLOCK_FRAMES = 50
BLOCKS_ARRAY = "integrity/blocks"

# A temporary file of a write in progress is named `.{target name}.{writer pid}.{random}.tmp`.
TEMP_SUFFIX = ".tmp"


class CorruptStore(ValueError):
    """A store file is truncated, damaged, of another version, or not a store file at all."""


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _json_default(value: Any) -> Any:
    # Events and lap tables may carry numpy scalars straight from the build.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a timeline header: {value!r}")


def _header_dict(
    timeline: Timeline,
    directory: list[dict[str, Any]],
    session: str | None,
    session_name: str | None,
) -> dict[str, Any]:
    geometry = None
    if timeline.geometry is not None:
        geometry = {k: v for k, v in asdict(timeline.geometry).items() if k not in _GEOMETRY_ARRAYS}
    info = asdict(timeline.info)
    info["kind"] = timeline.info.kind.value
    return {
        "session": session,
        "name": session_name,
        "info": info,
        "drivers": [asdict(d) for d in timeline.drivers],
        "t0": timeline.t0,
        "fps": timeline.fps,
        "events": [[e.time, e.kind, e.driver, e.data] for e in timeline.events],
        "laps": timeline.laps,
        "results": timeline.results,
        "geometry": geometry,
        "problems": timeline.problems,
        "block_frames": BLOCK_FRAMES,
        "arrays": directory,
    }


def _arrays_of(timeline: Timeline) -> dict[str, np.ndarray]:
    arrays = {f"frames/{name}": arr for name, arr in timeline.frames.items()}
    if timeline.geometry is not None:
        for name in _GEOMETRY_ARRAYS:
            arrays[f"geometry/{name}"] = getattr(timeline.geometry, name)
    arrays = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
    frames = [arr for name, arr in arrays.items() if name.startswith("frames/")]
    arrays[BLOCKS_ARRAY] = block_checksums(frames, BLOCK_FRAMES)
    return arrays


def _n_frames(frames: Sequence[np.ndarray]) -> int:
    return max((arr.shape[0] if arr.ndim else 0 for arr in frames), default=0)


def _rows(arr: np.ndarray) -> tuple[memoryview, int]:
    """A C-contiguous array's bytes and the bytes per frame row."""
    flat = arr.reshape(-1).view(np.uint8).data
    return flat, (arr.nbytes // arr.shape[0] if arr.ndim and arr.shape[0] else 0)


def _block_digest(rows: Sequence[tuple[memoryview, int]], block: int, block_frames: int) -> int:
    digest = xxhash.xxh3_64()
    lo, hi = block * block_frames, (block + 1) * block_frames
    for flat, row_bytes in rows:
        digest.update(flat[lo * row_bytes : hi * row_bytes])
    return digest.intdigest()


def block_checksums(frames: Sequence[np.ndarray], block_frames: int = BLOCK_FRAMES) -> np.ndarray:
    """xxh3-64 of each block of `block_frames` rows of all `frames` arrays, in order (uint64).

    Block `b` hashes rows `[b * block_frames, (b + 1) * block_frames)` of the first
    array, then the same rows of the next, and so on; the last block may be short.
    """
    rows = [_rows(np.ascontiguousarray(arr)) for arr in frames]
    n_blocks = -(-_n_frames(frames) // block_frames)
    return np.array([_block_digest(rows, b, block_frames) for b in range(n_blocks)], dtype="<u8")


def encode_header(
    timeline: Timeline,
    arrays: dict[str, np.ndarray],
    session: str | None = None,
    session_name: str | None = None,
) -> tuple[bytes, int]:
    """The padded header and the length of the data section that follows it."""
    directory = []
    offset = 0
    for name, arr in arrays.items():
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object: the store keeps numeric arrays only")
        directory.append(
            {
                "name": name,
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "offset": offset,
                "nbytes": arr.nbytes,
            }
        )
        offset = _aligned(offset + arr.nbytes)
    header = _header_dict(timeline, directory, session, session_name)
    text = json.dumps(header, default=_json_default)
    raw = text.encode()
    # The data must start 64-byte aligned in the file so every array view is aligned.
    padded = raw + b" " * (_aligned(PREAMBLE.size + len(raw)) - PREAMBLE.size - len(raw))
    return padded, offset


def temp_prefix(target: Path) -> str:
    """The name prefix of this process's temporary files for `target`."""
    return f".{target.name}.{os.getpid()}."


def temp_writer(name: str) -> tuple[str, int | None] | None:
    """(target name, writer pid) of a temporary file's name, or None if it is not one.

    The pid is None for files named before the pid was part of the name.
    """
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[1 : -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    target, _, random = name[1 : -len(TEMP_SUFFIX)].rpartition(".")
    return (target, None) if target and random else None


def write_timeline(
    timeline: Timeline,
    path: str | os.PathLike[str],
    session: str | None = None,
    session_name: str | None = None,
    overwrite: bool = True,
    release_frames: bool = False,
) -> int:
    """Write `timeline` to `path` atomically; returns the file size in bytes.

    With `release_frames`, the timeline's frames are emptied as they are written:
    each channel's memory goes back to the system before the next is copied into
    the page cache, which takes those pages again. On a VM whose fresh memory is
    slow to touch, that makes the write of a cold open 3x faster (docs/benchmarks.md).

    With `overwrite=False`, a file already at `path` stays and this raises
    `FileExistsError`: another process's build of the same session, finished first,
    which other processes may have mapped already (a file renamed over theirs would
    read to them as damaged).

    The file appears complete or not at all: it is written to a temporary file in
    the same folder (named by `temp_prefix`, so that a file left by a killed
    writer can be told from one being written), then renamed over `path`. It is not
    forced to disk (fsync): the store is a cache, and a file a power cut leaves torn
    fails its checksum at the next open and is rebuilt (store/cache.py), so a cold
    open does not wait on the disk for 100+ MB it may never need from there.

    `session` (a `SessionRef.key`) is recorded in the header, so that a reader can
    refuse another session's file under this name, and so is `session_name` (the
    session's full name), so that any process sharing the folder can tell which
    session an id names (`read_header`).
    """
    path = Path(path)
    arrays = _arrays_of(timeline)
    if release_frames:
        timeline.frames.clear()  # `arrays` holds the only references left
    header, data_len = encode_header(timeline, arrays, session, session_name)
    digest = xxhash.xxh3_128()
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(header), data_len))
            f.write(header)
            digest.update(header)
            written = 0
            for name in list(arrays):
                arr = arrays.pop(name)  # freed once written, unless the timeline keeps it
                pad = b"\0" * (_aligned(written) - written)
                f.write(pad)
                digest.update(pad)
                buf = arr.reshape(-1).view(np.uint8).data
                f.write(buf)
                digest.update(buf)
                written = _aligned(written) + arr.nbytes
                del buf, arr
            tail = b"\0" * (data_len - written)
            f.write(tail)
            digest.update(tail)
            f.write(digest.digest())
        _publish(tmp, path, overwrite)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return PREAMBLE.size + len(header) + data_len + TRAILER_SIZE


def _publish(tmp: str, path: Path, overwrite: bool) -> None:
    """Rename the finished `tmp` to `path`; without `overwrite`, only if nothing is there."""
    if not overwrite:
        try:
            os.link(tmp, path)  # atomic: fails if `path` exists
        except FileExistsError:
            raise
        except OSError:  # no hard links on this filesystem: rename, as with overwrite
            pass
        else:
            os.unlink(tmp)
            return
    os.replace(tmp, path)


def _read_preamble(f: Any, path: Path, size: int) -> tuple[int, int]:
    raw = f.read(PREAMBLE.size)
    if len(raw) < PREAMBLE.size:
        raise CorruptStore(f"{path}: too short ({size} bytes) to be a timeline store file")
    magic, version, _, header_len, data_len = PREAMBLE.unpack(raw)
    if magic != MAGIC:
        raise CorruptStore(f"{path}: not a timeline store file (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise CorruptStore(
            f"{path}: store format version {version}, this racereplay reads {FORMAT_VERSION}: "
            "delete it or rebuild"
        )
    expected = PREAMBLE.size + header_len + data_len + TRAILER_SIZE
    if size != expected:
        raise CorruptStore(f"{path}: {size} bytes, expected {expected}: truncated or damaged")
    return header_len, data_len


def _verify_checksum(f: Any, path: Path, header: bytes, length: int) -> None:
    """Hash the header and the next `length` bytes, and compare with the trailer."""
    digest = xxhash.xxh3_128(header)
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    remaining = length
    while remaining:
        n = f.readinto(view[: min(HASH_CHUNK, remaining)])
        if not n:
            raise CorruptStore(f"{path}: ended early while verifying: truncated")
        digest.update(view[:n])
        remaining -= n
    if f.read(TRAILER_SIZE) != digest.digest():
        raise CorruptStore(f"{path}: checksum mismatch: the file is damaged")


def read_timeline(
    path: str | os.PathLike[str], verify: bool = True, *, session_key: str | None = None
) -> Timeline:
    """Open a store file; its frames are read-only views of one memory map of the file.

    Raises `CorruptStore` if the file is truncated, damaged, of another format
    version or not a store file, or, when `session_key` is given, if its header
    names another session; `FileNotFoundError` if it does not exist.

    The timeline's `verify_frames(first, end)` raises `DamagedTimeline` if the file
    was truncated, replaced, removed or changed since: call it before reading frame
    rows `[first, end)` (the chunk cache does). Geometry and the block checksums are
    copied into memory, so only frame rows depend on the file afterwards.
    """
    path = Path(path)
    with open(path, "rb", buffering=0) as f:
        stat = os.fstat(f.fileno())
        header_len, data_len = _read_preamble(f, path, stat.st_size)
        header_raw = f.read(header_len)
        if verify:
            _verify_checksum(f, path, header_raw, data_len)
        header = _parse_header(header_raw, path)
        if session_key is not None and header.get("session") != session_key:
            raise CorruptStore(
                f"{path}: holds session {header.get('session')!r}, not {session_key!r}: "
                "another session's file under this name"
            )
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        arrays = _map_arrays(mapped, header, PREAMBLE.size + header_len, data_len, path)
        timeline = _timeline_from(header, arrays)
        frames = [arr for name, arr in arrays.items() if name.startswith("frames/")]
        timeline.verify_frames = _FileSpans(
            path, stat, frames, arrays[BLOCKS_ARRAY], header["block_frames"]
        )
        return timeline
    except CorruptStore:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStore(f"{path}: header does not describe a timeline: {exc!r}") from exc


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a store file, read without its arrays and without the checksum
    (a cheap look at what a file holds; `read_timeline` verifies). Raises as it does."""
    path = Path(path)
    with open(path, "rb", buffering=0) as f:
        header_len, _ = _read_preamble(f, path, os.fstat(f.fileno()).st_size)
        return _parse_header(f.read(header_len), path)


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptStore(f"{path}: unreadable header: {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptStore(f"{path}: header is not a JSON object")
    return header


class _FileSpans:
    """`Timeline.verify_frames` of a timeline memory-mapped from a store file.

    Checks, on every call, that `path` still names the file that was opened and
    that it still has its size (a stat of the path: no mapped page is touched, so
    a truncated file raises rather than SIGBUS); then hashes each block of the
    span not yet verified in this process and compares it with the checksum read
    (and verified) at open. Blocks are marked once they pass, so each is hashed at
    most once per process; concurrent calls may hash a block twice, harmlessly.
    """

    def __init__(
        self,
        path: Path,
        stat: os.stat_result,
        frames: Sequence[np.ndarray],
        checksums: np.ndarray,
        block_frames: Any,
    ) -> None:
        self.path = path
        self._identity = (stat.st_dev, stat.st_ino, stat.st_size)
        self._rows = [_rows(arr) for arr in frames]
        self.n_frames = _n_frames(frames)
        if not isinstance(block_frames, int) or block_frames <= 0:
            raise CorruptStore(f"{path}: block_frames {block_frames!r} is not a positive integer")
        self.block_frames = block_frames
        n_blocks = -(-self.n_frames // block_frames)
        if checksums.dtype != np.dtype("<u8") or checksums.shape != (n_blocks,):
            raise CorruptStore(
                f"{path}: {BLOCKS_ARRAY} is {checksums.dtype}{list(checksums.shape)}, "
                f"expected uint64[{n_blocks}] for {self.n_frames} frames"
            )
        # A copy, so that a change to the file cannot change the reference checksums.
        self._checksums: list[int] = checksums.tolist()
        self._verified = bytearray(n_blocks)

    def check_file(self) -> None:
        """Raise `DamagedTimeline` unless `path` is still the opened file, whole."""
        try:
            now = os.stat(self.path)
        except OSError as exc:
            raise DamagedTimeline(
                f"{self.path} was removed after it was opened ({exc.strerror}): "
                "drop this timeline; the session's file will be rebuilt"
            ) from None
        dev, ino, size = self._identity
        if (now.st_dev, now.st_ino) != (dev, ino):
            raise DamagedTimeline(
                f"{self.path} was replaced by another file after it was opened: "
                "drop this timeline; the session's file will be rebuilt"
            )
        if now.st_size != size:
            raise DamagedTimeline(
                f"{self.path} was truncated or extended after it was opened "
                f"({now.st_size} bytes, {size} at open): "
                "drop this timeline; the session's file will be rebuilt"
            )

    def __call__(self, first_frame: int, end_frame: int) -> None:
        self.check_file()
        first, end = max(first_frame, 0), min(end_frame, self.n_frames)
        if end <= first:
            return
        checked = False
        for block in range(first // self.block_frames, -(-end // self.block_frames)):
            if self._verified[block]:
                continue
            if checked:
                self.check_file()  # a long span: the file may have changed meanwhile
            checked = True
            if _block_digest(self._rows, block, self.block_frames) != self._checksums[block]:
                lo = block * self.block_frames
                raise DamagedTimeline(
                    f"{self.path}: frames {lo} to {lo + self.block_frames - 1} changed after "
                    "the file was opened (checksum mismatch): "
                    "drop this timeline; the session's file will be rebuilt"
                )
            self._verified[block] = 1


def _map_arrays(
    mapped: mmap.mmap, header: dict[str, Any], data_start: int, data_len: int, path: Path
) -> dict[str, np.ndarray]:
    arrays = {}
    for entry in header["arrays"]:
        dtype = np.dtype(entry["dtype"])
        shape = tuple(entry["shape"])
        count = math.prod(shape)
        if entry["offset"] + count * dtype.itemsize > data_len:
            raise CorruptStore(f"{path}: array {entry['name']!r} runs past the data section")
        arr = np.frombuffer(mapped, dtype=dtype, count=count, offset=data_start + entry["offset"])
        arrays[entry["name"]] = arr.reshape(shape)
    return arrays


def _in_memory(arr: np.ndarray) -> np.ndarray:
    # Small arrays read outside the codec: a copy, so a later truncation cannot SIGBUS them.
    copy = arr.copy()
    copy.flags.writeable = False
    return copy


def _timeline_from(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Timeline:
    info = dict(header["info"])
    info["kind"] = SessionKind(info["kind"])
    geometry = None
    if header["geometry"] is not None:
        g = header["geometry"]
        geometry = TrackGeometry(
            outline=_in_memory(arrays["geometry/outline"]),
            width=g["width"],
            sector_starts=g["sector_starts"],
            corners=g["corners"],
            pit_lane=_in_memory(arrays["geometry/pit_lane"]),
            rotation=g["rotation"],
            length=g["length"],
            marshal_sectors=g.get("marshal_sectors", []),
        )
    frames = {
        name.removeprefix("frames/"): arr
        for name, arr in arrays.items()
        if name.startswith("frames/")
    }
    return Timeline(
        info=SessionInfo(**info),
        drivers=[Driver(**d) for d in header["drivers"]],
        t0=header["t0"],
        fps=header["fps"],
        frames=frames,
        events=[Event(t, kind, driver, data) for t, kind, driver, data in header["events"]],
        laps=header["laps"],
        results=header["results"],
        geometry=geometry,
        problems=header["problems"],
    )
