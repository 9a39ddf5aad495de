"""The timeline store: exact round trips, and damaged files refused, never served."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import Built, build_shared
from factories import random_timeline

from racereplay.bench import shared_data
from racereplay.store.format import (
    ALIGN,
    FORMAT_VERSION,
    PREAMBLE,
    CorruptStore,
    read_timeline,
    write_timeline,
)
from racereplay.timeline.model import (
    Timeline,
)


def assert_same_timeline(a: Timeline, b: Timeline) -> None:
    assert a.info == b.info
    assert a.drivers == b.drivers
    assert (a.t0, a.fps) == (b.t0, b.fps)
    assert a.frames.keys() == b.frames.keys()
    for name, arr in a.frames.items():
        assert b.frames[name].dtype == arr.dtype, name
        assert b.frames[name].shape == arr.shape, name
        np.testing.assert_array_equal(b.frames[name], arr, err_msg=name)
    # json keeps NaN; compare through json so NaN == NaN and tuples == lists.
    assert json.dumps([(e.time, e.kind, e.driver, e.data) for e in a.events]) == json.dumps(
        [(e.time, e.kind, e.driver, e.data) for e in b.events]
    )
    assert json.dumps(a.laps) == json.dumps(b.laps)
    assert a.results == b.results
    assert a.problems == b.problems
    assert (a.geometry is None) == (b.geometry is None)
    if a.geometry is not None and b.geometry is not None:
        np.testing.assert_array_equal(a.geometry.outline, b.geometry.outline)
        # Shapes too: an empty pit lane stays (0, 2).
        np.testing.assert_array_equal(a.geometry.pit_lane, b.geometry.pit_lane)
        assert (a.geometry.width, a.geometry.sector_starts, a.geometry.corners) == (
            b.geometry.width,
            b.geometry.sector_starts,
            b.geometry.corners,
        )
        assert (a.geometry.rotation, a.geometry.length) == (b.geometry.rotation, b.geometry.length)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Timeline, Path]:
    timeline = random_timeline()
    path = tmp_path / "t.rrtl"
    write_timeline(timeline, path)
    return timeline, path


def test_round_trip_is_exact(stored: tuple[Timeline, Path]) -> None:
    timeline, path = stored
    back = read_timeline(path)
    assert_same_timeline(timeline, back)
    assert back.n_frames == timeline.n_frames
    assert math.isnan(back.frames["gap"][0, 0])


def test_round_trip_without_geometry_and_events(tmp_path: Path) -> None:
    timeline = random_timeline(n_frames=3, n_drivers=1)
    timeline.geometry = None
    timeline.events = []
    write_timeline(timeline, tmp_path / "t.rrtl")
    assert_same_timeline(timeline, read_timeline(tmp_path / "t.rrtl"))


def test_arrays_are_read_only_aligned_memory_maps(stored: tuple[Timeline, Path]) -> None:
    _, path = stored
    back = read_timeline(path)
    for name, arr in back.frames.items():
        assert not arr.flags.writeable, name
        assert arr.ctypes.data % ALIGN == 0, name
        assert not arr.flags.owndata, name  # a view of the map, not a copy
    with pytest.raises(ValueError):
        back.frames["x"][0, 0] = 1.0
    # Geometry is small and read outside the codec: copied, so no later change to the
    # file can reach it (frame rows are checked per span instead: test_store_damage).
    assert back.geometry is not None
    for arr in (back.geometry.outline, back.geometry.pit_lane):
        assert not arr.flags.writeable and arr.flags.owndata


def test_write_reports_file_size_and_leaves_no_temp_file(tmp_path: Path) -> None:
    size = write_timeline(random_timeline(), tmp_path / "t.rrtl")
    assert size == os.path.getsize(tmp_path / "t.rrtl")
    assert [p.name for p in tmp_path.iterdir()] == ["t.rrtl"]


def test_a_write_that_releases_the_frames_writes_the_same_file(tmp_path: Path) -> None:
    # The cold open's write hands each channel back as it goes (build_and_write).
    kept, released = random_timeline(seed=3), random_timeline(seed=3)
    write_timeline(kept, tmp_path / "kept.rrtl")
    write_timeline(released, tmp_path / "released.rrtl", release_frames=True)
    assert released.frames == {}
    assert (tmp_path / "kept.rrtl").read_bytes() == (tmp_path / "released.rrtl").read_bytes()
    assert_same_timeline(kept, read_timeline(tmp_path / "released.rrtl"))


def test_rewrite_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "t.rrtl"
    write_timeline(random_timeline(seed=1), path)
    newer = random_timeline(seed=2)
    write_timeline(newer, path)
    assert_same_timeline(newer, read_timeline(path))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_the_arrays_is_detected(stored: tuple[Timeline, Path]) -> None:
    _, path = stored
    _flip(path, os.path.getsize(path) - 5000)
    with pytest.raises(CorruptStore, match="checksum"):
        read_timeline(path)


def test_a_flipped_byte_in_the_checksum_is_detected(stored: tuple[Timeline, Path]) -> None:
    _, path = stored
    _flip(path, os.path.getsize(path) - 1)
    with pytest.raises(CorruptStore, match="checksum"):
        read_timeline(path)


def test_a_changed_header_is_detected(stored: tuple[Timeline, Path]) -> None:
    _, path = stored
    data = path.read_bytes()
    at = data.index(b"Test Grand Prix")
    path.write_bytes(data[:at] + b"Best" + data[at + 4 :])
    with pytest.raises(CorruptStore, match="checksum"):
        read_timeline(path)


@pytest.mark.parametrize("keep", [0, 10, PREAMBLE.size, 1000, -1])
def test_truncation_is_detected(stored: tuple[Timeline, Path], keep: int) -> None:
    _, path = stored
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(CorruptStore):
        read_timeline(path)


def test_garbage_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "t.rrtl"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(CorruptStore, match="not a timeline store"):
        read_timeline(path)


def test_garbage_header_with_valid_framing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.rrtl"
    stored = tmp_path / "good.rrtl"
    write_timeline(random_timeline(), stored)
    data = bytearray(stored.read_bytes())
    _, _, _, header_len, _ = PREAMBLE.unpack_from(data)
    data[PREAMBLE.size : PREAMBLE.size + header_len] = b"{" * header_len
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStore):
        read_timeline(path)
    # Even unverified, an unparsable header is refused with a CorruptStore.
    with pytest.raises(CorruptStore, match="header"):
        read_timeline(path, verify=False)


def test_another_format_version_is_refused(stored: tuple[Timeline, Path]) -> None:
    _, path = stored
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, FORMAT_VERSION + 1)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStore, match="version"):
        read_timeline(path)


def test_missing_file_is_not_a_corruption(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_timeline(tmp_path / "absent.rrtl")


# --- the cache -------------------------------------------------------------------------------


def test_cache_dir_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from racereplay.store.cache import CACHE_ENV, default_cache_dir

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "racereplay"


def test_cache_file_name_carries_key_and_versions(tmp_path: Path) -> None:
    from racereplay.sources import SessionRef
    from racereplay.store.cache import build_version, cache_path

    ref = SessionRef.parse("demo?cars=4&laps=2")
    path = cache_path(ref, tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith(ref.key)
    assert f"f{FORMAT_VERSION}b{build_version()}" in path.name
    assert cache_path("demo?laps=2&cars=4", tmp_path) == path  # same session, same file
    assert cache_path("demo?cars=5&laps=2", tmp_path) != path


def test_a_damaged_cache_file_is_deleted_not_served(tmp_path: Path) -> None:
    from racereplay.store.cache import try_open

    path = tmp_path / "t.rrtl"
    write_timeline(random_timeline(), path)
    assert try_open(path) is not None
    _flip(path, os.path.getsize(path) - 100)
    assert try_open(path) is None
    assert not path.exists()
    assert try_open(path) is None  # absent: nothing to delete, no error


TINY_DEMO = "demo?cars=3&laps=2"


@pytest.fixture(scope="module")
def tiny_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Timeline]:
    from racereplay.store.cache import open_or_build

    cache = tmp_path_factory.mktemp("cache")
    return cache, open_or_build(TINY_DEMO, cache)


def test_open_or_build_writes_then_serves_the_memory_mapped_file(
    tiny_built: tuple[Path, Timeline],
) -> None:
    from racereplay.store.cache import cache_path, open_or_build

    cache, timeline = tiny_built
    path = cache_path(TINY_DEMO, cache)
    assert list(cache.iterdir()) == [path]
    assert not timeline.frames["x"].flags.writeable  # the reopened map, not the in-memory build
    mtime = path.stat().st_mtime_ns
    again = open_or_build(TINY_DEMO, cache)
    assert path.stat().st_mtime_ns == mtime  # served from the cache, not rebuilt
    assert_same_timeline(timeline, again)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_async_build_matches_the_sync_build(
    tiny_built: tuple[Path, Timeline], tmp_path: Path, mode: str
) -> None:
    import asyncio

    from racereplay.store.cache import open_or_build_async

    seen: list[tuple[float, str]] = []
    timeline = asyncio.run(
        open_or_build_async(TINY_DEMO, tmp_path, lambda f, m: seen.append((f, m)), mode=mode)  # type: ignore[arg-type]
    )
    assert_same_timeline(tiny_built[1], timeline)
    assert seen[-1] == (1.0, "ready")
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)  # the bar never goes backwards across stages
    assert len(seen) > 3  # progress from the source and the build reached the caller


def test_async_process_build_reports_the_source_error(tmp_path: Path) -> None:
    import asyncio

    from racereplay.sources import SessionNotFound
    from racereplay.store.cache import open_or_build_async

    missing = f"tracinginsights:{tmp_path / 'absent'}"
    with pytest.raises(SessionNotFound, match="absent"):
        asyncio.run(open_or_build_async(missing, tmp_path / "cache", mode="process"))


def test_build_processes_start_with_the_build_already_imported() -> None:
    # In a fresh interpreter: in this one another test may have started the fork server.
    import subprocess
    import sys

    script = """
import importlib.util
import multiprocessing
from racereplay.store.cache import BUILD_MODULES, start_build_processes
if __name__ == "__main__":
    start_build_processes()
    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        # eval: a builtin, so unpickling the job imports nothing of racereplay itself.
        loaded = pool.apply(eval, ("[m for m in __import__('sys').modules]",))
    installed = {m for m in BUILD_MODULES if importlib.util.find_spec(m)}  # fastf1: an extra
    print(sorted(installed - set(loaded)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["[]"], done.stderr  # every module loaded before the job


_SHARED_MODES = [
    (session, mode)
    for session in shared_data.SHARED_SESSIONS
    for mode in ("archive", "archive+fastf1", "fastf1")
    if mode == "archive" or session.fastf1 is not None
]


@pytest.mark.parametrize(
    ("session", "mode"), _SHARED_MODES, ids=[f"{s.label}-{m}" for s, m in _SHARED_MODES]
)
def test_a_server_builds_every_shared_session_as_one_process_would(
    built: Built, tmp_path: Path, session: shared_data.SharedSession, mode: str
) -> None:
    # A server's build: a process from the fork server, its parse workers forked there.
    import asyncio

    from racereplay.store.cache import open_or_build_async

    in_process, _ = build_shared(built, session, mode)
    served = asyncio.run(open_or_build_async(session.refs()[mode], tmp_path, mode="process"))
    assert_same_timeline(in_process, served)
