"""Attacks on a store file after it was opened: truncated, changed in place, swapped for
another session's file, or of an older format. None may be served, none may kill the
process; each ends in the file being rebuilt."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from racereplay.codec import ChunkCache, get_codec
from racereplay.sources import SessionRef
from racereplay.store.cache import cache_path, discard, open_or_build, try_open
from racereplay.store.format import (
    BLOCK_FRAMES,
    BLOCKS_ARRAY,
    FORMAT_VERSION,
    PREAMBLE,
    CorruptStore,
    read_timeline,
    write_timeline,
)
from racereplay.timeline.model import DamagedTimeline, Timeline

SESSION_A = "demo?cars=4&laps=2"
SESSION_B = "demo?cars=3&laps=2"
CODEC = get_codec("compact")
RATE = 25


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the built files of sessions A and B (copied, never damaged)."""
    cache = tmp_path_factory.mktemp("built")
    for name in (SESSION_A, SESSION_B):
        open_or_build(name, cache)
    return cache


@pytest.fixture
def cache(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built cache folder, for one test to damage."""
    folder = tmp_path / "cache"
    shutil.copytree(built, folder)
    return folder


def _key(name: str) -> str:
    return SessionRef.parse(name).key


def _array_entry(path: Path, name: str) -> tuple[int, dict[str, object]]:
    """(data section start, directory entry) of array `name` in the store file at `path`."""
    with open(path, "rb") as f:
        _, _, _, header_len, _ = PREAMBLE.unpack(f.read(PREAMBLE.size))
        header = json.loads(f.read(header_len))
    entry = next(e for e in header["arrays"] if e["name"] == name)
    return PREAMBLE.size + header_len, entry


def _chunk_bytes(timeline: Timeline, index: int) -> list[bytes]:
    return ChunkCache().get_chunk("fresh", timeline, CODEC, RATE, index)


# --- A file truncated under the map -----------------------------------------------------

_TRUNCATE_AFTER_OPEN = textwrap.dedent(
    """
    import os, sys
    from racereplay.codec import ChunkCache, get_codec
    from racereplay.store.format import read_timeline
    from racereplay.timeline.model import DamagedTimeline

    path, key = sys.argv[1], sys.argv[2]
    timeline = read_timeline(path, session_key=key)
    codec = get_codec("compact")
    cache = ChunkCache()
    last = codec.n_chunks(timeline) - 1
    cache.get_chunk(key, timeline, codec, 25, 0)
    os.truncate(path, os.path.getsize(path) // 2)
    for index in (last, 0, 1):  # the lost half; cached; the kept half, not yet encoded
        try:
            cache.get_chunk(key, timeline, codec, 25, index)
        except DamagedTimeline as exc:
            print("damaged", index, exc, flush=True)
        else:
            print("served", index, flush=True)
    """
)


def test_a_file_truncated_after_open_raises_instead_of_sigbus(
    cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_path(SESSION_A, cache)
    full_size = path.stat().st_size
    # In a subprocess: reading the lost half of the map would kill it with SIGBUS.
    done = subprocess.run(
        [sys.executable, "-c", _TRUNCATE_AFTER_OPEN, str(path), _key(SESSION_A)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode} (SIGBUS is -7): {done.stderr}"
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["damaged", lines[0].split()[1]],
        ["served", "0"],  # already encoded: the bytes are in memory, not in the file
        ["damaged", "1"],  # in the half that is still there, but the file is damaged
    ]
    assert "truncated" in lines[0] and "rebuilt" in lines[0] and str(path) in lines[0]
    assert path.stat().st_size == full_size // 2

    # Recovery, as the server does it: open the session again; it is rebuilt.
    with caplog.at_level(logging.WARNING, logger="racereplay.store.cache"):
        rebuilt = open_or_build(SESSION_A, cache)
    assert "deleting damaged cache file" in caplog.text
    assert path.stat().st_size == full_size
    last = CODEC.n_chunks(rebuilt) - 1
    assert _chunk_bytes(rebuilt, last) == _chunk_bytes(read_timeline(path), last)


def test_truncation_is_caught_before_any_block_is_hashed(cache: Path) -> None:
    path = cache_path(SESSION_A, cache)
    timeline = read_timeline(path)
    assert timeline.verify_frames is not None
    timeline.verify_frames(0, timeline.n_frames)  # every block verified once
    # Then shortened and grown back to its size: only the hashes could tell, and they do.
    size = path.stat().st_size
    os.truncate(path, size - 4096)
    with pytest.raises(DamagedTimeline, match="truncated"):
        timeline.verify_frames(0, BLOCK_FRAMES)  # a verified block: the size is still checked
    os.truncate(path, size)
    with pytest.raises(CorruptStore, match="checksum"):
        read_timeline(path)  # zeros where the tail was: a reopen refuses it


def test_a_replaced_or_removed_file_is_damaged(cache: Path) -> None:
    path = cache_path(SESSION_A, cache)
    timeline = read_timeline(path)
    other = cache_path(SESSION_B, cache)
    os.replace(other, path)  # a rename over the open file: our map still shows the old one
    with pytest.raises(DamagedTimeline, match="replaced"):
        ChunkCache().get_chunk("a", timeline, CODEC, RATE, 3)
    path.unlink()
    with pytest.raises(DamagedTimeline, match="removed"):
        ChunkCache().get_chunk("a", timeline, CODEC, RATE, 3)


# --- Bytes changed in place after open --------------------------------------------------


def test_bytes_flipped_in_place_after_open_are_refused_per_chunk(cache: Path) -> None:
    path = cache_path(SESSION_A, cache)
    timeline = read_timeline(path, session_key=_key(SESSION_A))
    expected = {index: _chunk_bytes(read_timeline(path), index) for index in (4, 5)}
    data_start, entry = _array_entry(path, "frames/x")
    shape = entry["shape"]
    assert isinstance(shape, list) and isinstance(entry["offset"], int)
    row_bytes = 4 * shape[1]  # float32 x of every driver
    span = CODEC.chunk_seconds * timeline.fps
    damaged = 5
    row = damaged * span + 7
    at = data_start + entry["offset"] + row * row_bytes
    with open(path, "r+b") as f:  # the same inode: the map sees the change
        f.seek(at)
        original = f.read(4)
        f.seek(at)
        f.write(bytes(b ^ 0x55 for b in original))
    assert timeline.frames["x"][row, 0].tobytes() != original  # what the codec would read
    cache_ = ChunkCache()
    with pytest.raises(DamagedTimeline, match=f"frames {damaged * span} to"):
        cache_.get_chunk("a", timeline, CODEC, RATE, damaged)
    with pytest.raises(DamagedTimeline):  # not cached: asked again, refused again
        cache_.get_chunk("a", timeline, CODEC, RATE, damaged)
    assert cache_.get_chunk("a", timeline, CODEC, RATE, 4) == expected[4]  # others still serve
    assert cache_.stats.entries == 1
    with pytest.raises(CorruptStore, match="checksum"):
        read_timeline(path)  # and a reopen refuses the whole file


def test_the_block_checksums_cover_every_frames_array(cache: Path) -> None:
    path = cache_path(SESSION_B, cache)
    timeline = read_timeline(path)
    assert timeline.verify_frames is not None
    data_start, blocks = _array_entry(path, BLOCKS_ARRAY)
    assert blocks["shape"] == [-(-timeline.n_frames // BLOCK_FRAMES)]
    last_block = (timeline.n_frames - 1) // BLOCK_FRAMES
    for name in timeline.frames:  # the last row of each array, in the last (short) block
        _, entry = _array_entry(path, f"frames/{name}")
        assert isinstance(entry["offset"], int) and isinstance(entry["nbytes"], int)
        at = data_start + entry["offset"] + entry["nbytes"] - 1
        copy = path.with_name(f"flipped-{name}.rrtl")
        shutil.copyfile(path, copy)
        flipped = read_timeline(copy)
        with open(copy, "r+b") as f:
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 1]))
        assert flipped.verify_frames is not None
        flipped.verify_frames(0, last_block * BLOCK_FRAMES)  # the blocks before are intact
        with pytest.raises(DamagedTimeline, match="checksum"):
            flipped.verify_frames(timeline.n_frames - 1, timeline.n_frames)
        del flipped
        copy.unlink()


# --- Another session's file under this session's name -----------------------------------


@contextlib.contextmanager
def _logged(name: str) -> Iterator[list[str]]:
    """The messages logged to `name`, read at the logger itself: in a full run an
    earlier in-process server's logging config keeps them from caplog's root handler."""
    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger(name).addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger(name).removeHandler(handler)


def test_another_sessions_file_under_this_name_is_rebuilt(cache: Path) -> None:
    a, b = cache_path(SESSION_A, cache), cache_path(SESSION_B, cache)
    shutil.copyfile(a, b)  # a valid file, checksums and all, of the wrong session
    with pytest.raises(CorruptStore, match="another session"):
        read_timeline(b, session_key=_key(SESSION_B))
    with _logged("racereplay.store.cache") as lines:
        timeline = open_or_build(SESSION_B, cache)
    assert len(timeline.drivers) == 3  # B's, not A's four
    assert "deleting damaged cache file" in lines[0]
    assert f"holds session {_key(SESSION_A)!r}, not {_key(SESSION_B)!r}" in lines[0]
    assert read_timeline(b).n_frames == timeline.n_frames
    assert len(open_or_build(SESSION_A, cache).drivers) == 4  # A's own file is untouched


def test_a_file_without_a_session_is_refused_under_a_session_name(cache: Path) -> None:

    a = cache_path(SESSION_A, cache)
    write_timeline(read_timeline(a), a)  # no session given: the header names none
    assert try_open(a, _key(SESSION_A)) is None
    assert not a.exists()


# --- Files of an older format ----------------------------------------------------------


def test_old_format_files_are_rebuilt(cache: Path) -> None:
    current = cache_path(SESSION_A, cache)
    assert f".f{FORMAT_VERSION}b" in current.name  # the version is in the name ...
    old_name = current.with_name(current.name.replace(f".f{FORMAT_VERSION}b", ".f1b"))
    assert old_name != current
    shutil.copyfile(current, old_name)
    # ... and in the preamble: an old file under the current name is refused too.
    data = bytearray(current.read_bytes())
    struct.pack_into("<I", data, 8, FORMAT_VERSION - 1)
    current.write_bytes(bytes(data))
    with pytest.raises(CorruptStore, match="version"):
        read_timeline(current)
    timeline = open_or_build(SESSION_A, cache)
    assert len(timeline.drivers) == 4
    read_timeline(current, session_key=_key(SESSION_A))  # rebuilt in the current format
    assert not old_name.exists()  # the build removed the other version's file


def test_discard_deletes_the_sessions_file(cache: Path) -> None:
    assert discard(SESSION_A, cache) is True
    assert not cache_path(SESSION_A, cache).exists()
    assert discard(SESSION_A, cache) is False
    assert cache_path(SESSION_B, cache).exists()


def test_in_memory_timelines_need_no_verifier(tmp_path: Path) -> None:
    from racereplay.store.cache import load_and_build

    path = cache_path(SESSION_B, tmp_path)
    timeline = load_and_build(SessionRef.parse(SESSION_B))
    write_timeline(timeline, path)
    assert timeline.verify_frames is None  # the in-memory build
    assert _chunk_bytes(timeline, 2) == _chunk_bytes(read_timeline(path), 2)


def test_a_build_finishing_second_keeps_the_first_file(cache: Path) -> None:
    """Two processes building one session at once (replicas without Redis): the one
    that finishes second leaves the first one's file, which others may have mapped."""
    from racereplay.store.cache import build_and_write

    path = cache_path(SESSION_A, cache)
    served = read_timeline(path, session_key=_key(SESSION_A))  # mapped by "another process"
    inode = path.stat().st_ino
    build_and_write(SessionRef.parse(SESSION_A), path)  # began before the file existed
    assert path.stat().st_ino == inode
    assert served.verify_frames is not None
    served.verify_frames(0, served.n_frames)  # still whole: not replaced under its map
    assert not list(cache.glob("*.tmp"))
