"""One `Timeline` per file: versioned, checksummed, written atomically, read memory-mapped.

Layout (all integers little-endian):

    preamble  32 bytes: magic (8) | format version u32 | reserved u32 |
                        header length u64 | data length u64
    header    UTF-8 JSON, space-padded to a 64-byte boundary: session info, drivers,
              t0, fps, events, laps, results, geometry, problems, and the array
              directory [{name, dtype, shape, offset, nbytes}] (offsets from the data start)
    data      the arrays, each at a 64-byte-aligned offset, C order
    trailer   16 bytes: xxh3-128 of header + data

Header values come back as JSON gives them: tuples in event data or lap tables
come back as lists; NaN survives.

A warm open reads the preamble and header, verifies the checksum by streaming the
file through a small buffer (so the hash does not leave every page resident in
this process), then maps the whole file once and hands out read-only array views.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from racereplay.model import Driver, SessionInfo, SessionKind
from racereplay.timeline.model import Event, Timeline, TrackGeometry

MAGIC = b"RRTIMELN"
FORMAT_VERSION = 1
ALIGN = 64
PREAMBLE = struct.Struct("<8sIIQQ")
TRAILER_SIZE = 16
HASH_CHUNK = 4 << 20  # big enough to amortise syscalls, small enough to stay in cache

# Geometry arrays live in the data section beside the frames, under these names.
_GEOMETRY_ARRAYS = ("outline", "pit_lane")


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


def _header_dict(timeline: Timeline, directory: list[dict[str, Any]]) -> dict[str, Any]:
    geometry = None
    if timeline.geometry is not None:
        geometry = {k: v for k, v in asdict(timeline.geometry).items() if k not in _GEOMETRY_ARRAYS}
    info = asdict(timeline.info)
    info["kind"] = timeline.info.kind.value
    return {
        "info": info,
        "drivers": [asdict(d) for d in timeline.drivers],
        "t0": timeline.t0,
        "fps": timeline.fps,
        "events": [[e.time, e.kind, e.driver, e.data] for e in timeline.events],
        "laps": timeline.laps,
        "results": timeline.results,
        "geometry": geometry,
        "problems": timeline.problems,
        "arrays": directory,
    }


def _arrays_of(timeline: Timeline) -> dict[str, np.ndarray]:
    arrays = {f"frames/{name}": arr for name, arr in timeline.frames.items()}
    if timeline.geometry is not None:
        for name in _GEOMETRY_ARRAYS:
            arrays[f"geometry/{name}"] = getattr(timeline.geometry, name)
    return {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}


def encode_header(timeline: Timeline, arrays: dict[str, np.ndarray]) -> tuple[bytes, int]:
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
    text = json.dumps(_header_dict(timeline, directory), default=_json_default)
    raw = text.encode()
    # The data must start 64-byte aligned in the file so every array view is aligned.
    padded = raw + b" " * (_aligned(PREAMBLE.size + len(raw)) - PREAMBLE.size - len(raw))
    return padded, offset


def write_timeline(timeline: Timeline, path: str | os.PathLike[str]) -> int:
    """Write `timeline` to `path` atomically; returns the file size in bytes.

    The file appears complete or not at all: it is written to a temporary file in
    the same folder, flushed to disk, then renamed over `path`.
    """
    path = Path(path)
    arrays = _arrays_of(timeline)
    header, data_len = encode_header(timeline, arrays)
    digest = xxhash.xxh3_128()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(header), data_len))
            f.write(header)
            digest.update(header)
            written = 0
            for arr in arrays.values():
                pad = b"\0" * (_aligned(written) - written)
                f.write(pad)
                digest.update(pad)
                buf = arr.reshape(-1).view(np.uint8).data
                f.write(buf)
                digest.update(buf)
                written = _aligned(written) + arr.nbytes
            tail = b"\0" * (data_len - written)
            f.write(tail)
            digest.update(tail)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return PREAMBLE.size + len(header) + data_len + TRAILER_SIZE


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def read_timeline(path: str | os.PathLike[str], verify: bool = True) -> Timeline:
    """Open a store file; its arrays are read-only views of one memory map of the file.

    Raises `CorruptStore` if the file is truncated, damaged, of another format
    version or not a store file; `FileNotFoundError` if it does not exist.
    """
    path = Path(path)
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        header_len, data_len = _read_preamble(f, path, size)
        header_raw = f.read(header_len)
        if verify:
            _verify_checksum(f, path, header_raw, data_len)
        try:
            header = json.loads(header_raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptStore(f"{path}: unreadable header: {exc}") from exc
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        arrays = _map_arrays(mapped, header, PREAMBLE.size + header_len, data_len, path)
        return _timeline_from(header, arrays)
    except CorruptStore:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStore(f"{path}: header does not describe a timeline: {exc!r}") from exc


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


def _timeline_from(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Timeline:
    info = dict(header["info"])
    info["kind"] = SessionKind(info["kind"])
    geometry = None
    if header["geometry"] is not None:
        g = header["geometry"]
        geometry = TrackGeometry(
            outline=arrays["geometry/outline"],
            width=g["width"],
            sector_starts=g["sector_starts"],
            corners=g["corners"],
            pit_lane=arrays["geometry/pit_lane"],
            rotation=g["rotation"],
            length=g["length"],
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
