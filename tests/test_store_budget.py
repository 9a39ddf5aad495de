"""The cache folder stays bounded: least recently used files beyond a byte budget go,
and so do the temporary files of killed builds; nothing in use is ever deleted, by
this process or by another sharing the folder (a held file, `FileHold`)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from factories import random_timeline

from racereplay.store.cache import (
    PARTIAL_FILE_MAX_AGE_SECONDS,
    USE_RESOLUTION_SECONDS,
    FileHold,
    prune_cache,
    remove_partial_files,
    try_open,
)
from racereplay.store.format import read_timeline, temp_writer, write_timeline

HOUR = 3600


def _store_file(folder: Path, name: str, age_hours: float, seed: int = 1) -> Path:
    """A real store file, last used `age_hours` ago."""
    path = folder / f"{name}.f2b1.rrtl"
    write_timeline(random_timeline(n_frames=100, n_drivers=2, seed=seed), path)
    _age(path, age_hours)
    return path


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * HOUR
    os.utime(path, (then, then))


def test_prune_deletes_least_recently_used_files_until_within_budget(tmp_path: Path) -> None:
    files = {hours: _store_file(tmp_path, f"s{hours}", hours) for hours in (1, 5, 3, 2, 4)}
    size = files[1].stat().st_size
    assert all(p.stat().st_size == size for p in files.values())
    deleted = prune_cache(tmp_path, budget_bytes=2 * size + size // 2, keep=[])
    assert deleted == [files[5], files[4], files[3]]  # oldest first, until 2 files remain
    assert sorted(tmp_path.iterdir()) == sorted([files[1], files[2]])
    assert prune_cache(tmp_path, budget_bytes=2 * size, keep=[]) == []  # within budget already


def test_prune_never_deletes_a_kept_file_even_over_budget(tmp_path: Path) -> None:
    oldest = _store_file(tmp_path, "held", 10)
    newer = _store_file(tmp_path, "idle", 1)
    other = tmp_path / "notes.txt"
    other.write_text("not a store file")
    _age(other, 100)
    deleted = prune_cache(tmp_path, budget_bytes=0, keep=[tmp_path / "." / oldest.name])
    assert deleted == [newer]  # the held file stays although it alone exceeds the budget
    assert oldest.exists() and other.exists()


def test_opening_a_file_marks_it_used(tmp_path: Path) -> None:
    used = _store_file(tmp_path, "used", 10)
    idle = _store_file(tmp_path, "idle", 5)
    assert try_open(used) is not None  # opened: now the most recently used
    assert time.time() - used.stat().st_mtime < 60
    assert prune_cache(tmp_path, budget_bytes=used.stat().st_size, keep=()) == [idle]
    # The mark is coarse: a file used within the resolution is not touched again.
    _age(used, USE_RESOLUTION_SECONDS / HOUR / 2)
    mtime = used.stat().st_mtime_ns
    assert try_open(used) is not None
    assert used.stat().st_mtime_ns == mtime


def test_prune_ignores_temporary_files_and_a_missing_folder(tmp_path: Path) -> None:
    store = _store_file(tmp_path, "s", 2)
    partial = tmp_path / f".{store.name}.{os.getpid()}.abcd1234.tmp"
    partial.write_bytes(b"\0" * 10_000)
    _age(partial, 50)
    assert prune_cache(tmp_path, budget_bytes=0, keep=()) == [store]
    assert partial.exists()
    assert prune_cache(tmp_path / "absent", budget_bytes=0, keep=()) == []
    with pytest.raises(ValueError, match="budget"):
        prune_cache(tmp_path, budget_bytes=-1, keep=())


# Holds `FileHold(argv[1])` (as a server holding the session does) until stdin closes.
_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from racereplay.store.cache import FileHold

    hold = FileHold(Path(sys.argv[1]))
    print(hold.held, flush=True)
    sys.stdin.read()
    """
)


def test_prune_spares_a_file_another_process_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    held = _store_file(tmp_path, "held", 10, seed=1)  # the least recently used
    idle = _store_file(tmp_path, "idle", 5, seed=2)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with caplog.at_level(logging.WARNING, logger="racereplay.store.cache"):
            # This process does not hold it (keep is empty): the other one's hold counts.
            assert prune_cache(tmp_path, budget_bytes=0, keep=()) == [idle]
        assert held.exists() and not idle.exists()
        assert read_timeline(held).n_frames == 100
        assert "in use by this or another server" in caplog.text
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    # The holder has gone (its lock with it): the file is an old unheld one now.
    assert prune_cache(tmp_path, budget_bytes=0, keep=()) == [held]


def test_a_hold_in_this_process_counts_until_released(tmp_path: Path) -> None:
    held = _store_file(tmp_path, "held", 10)
    hold = FileHold(held)
    assert hold.held
    assert prune_cache(tmp_path, budget_bytes=0) == []
    hold.release()
    hold.release()  # twice is harmless
    assert prune_cache(tmp_path, budget_bytes=0) == [held]
    assert not FileHold(held).held  # gone: nothing to hold


# --- Partial files of killed builds -----------------------------------------------------

# Writes a timeline as a build does, and is killed (-9) just before the file is renamed
# into place: what a build killed mid-write leaves behind.
_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from factories import random_timeline
    from racereplay.store import format

    def killed(*args):
        print(os.getpid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    format.os.replace = killed
    format.write_timeline(random_timeline(n_frames=20_000, n_drivers=20), sys.argv[1])
    """
)


def _killed_build(target: Path) -> tuple[Path, int]:
    """The partial file a killed write of `target` left, and the killed writer's pid."""
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(target), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    (partial,) = target.parent.glob(f".{target.name}.*.tmp")
    return partial, int(done.stdout)


def test_a_killed_builds_partial_file_is_removed_and_a_live_writers_is_kept(
    tmp_path: Path,
) -> None:
    target = tmp_path / "demo-abc.f2b1.rrtl"
    dead, pid = _killed_build(target)
    assert not target.exists()
    assert dead.stat().st_size > 1_000_000  # the data was written, the rename never came
    assert temp_writer(dead.name) == (target.name, pid)  # named after its writer
    live = tmp_path / f".{target.name}.{os.getpid()}.x1y2z3w4.tmp"  # this process: alive
    live.write_bytes(b"being written")
    fresh_old_style = tmp_path / f".{target.name}.q9r8s7t6.tmp"  # no pid: could be live
    fresh_old_style.write_bytes(b"old racereplay, writing")
    stale_old_style = tmp_path / f".{target.name}.a1b2c3d4.tmp"
    stale_old_style.write_bytes(b"old racereplay, long dead")
    _age(stale_old_style, PARTIAL_FILE_MAX_AGE_SECONDS / HOUR + 1)
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_bytes(b"someone else's")
    _age(unrelated, 100)
    store = _store_file(tmp_path, "kept", 100)

    removed = remove_partial_files(tmp_path)

    assert sorted(removed) == sorted([dead, stale_old_style])
    assert not dead.exists() and not stale_old_style.exists()
    for path in (live, fresh_old_style, unrelated, store):
        assert path.exists(), path
    assert read_timeline(store).n_frames == 100
    assert remove_partial_files(tmp_path) == []
    assert remove_partial_files(tmp_path / "absent") == []


def test_a_live_writers_partial_file_goes_once_it_is_implausibly_old(tmp_path: Path) -> None:
    # The pid may have been reused by an unrelated process: age decides then.
    stuck = tmp_path / f".s.f2b1.rrtl.{os.getpid()}.abcdefgh.tmp"
    stuck.write_bytes(b"x")
    _age(stuck, PARTIAL_FILE_MAX_AGE_SECONDS / HOUR + 1)
    assert remove_partial_files(tmp_path) == [stuck]
