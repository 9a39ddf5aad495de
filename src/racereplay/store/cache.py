"""The build cache: one store file per session, built once, then opened memory-mapped.

A file's name carries the session key, the store format version and the timeline
build version, so a file written by an older racereplay is rebuilt rather than
misread; its header names the session, so another session's file under this name
is too. A file that fails verification is deleted and rebuilt, never served.

A timeline served from here carries `verify_frames` (see `store.format`): when a
reader gets `DamagedTimeline` from it, forget the timeline and call
`open_or_build` again; that finds the file damaged, deletes it and rebuilds it
(`discard` deletes it outright).

The folder is bounded by the caller: `prune_cache` deletes the least recently used
files beyond a byte budget (a file's mtime is its last use: opening it refreshes
it), and `remove_partial_files` deletes what killed writers left behind.

Several processes (replicas, a `racereplay build`) may share the folder, and one's
prune must not delete a file another is serving: a server holds a `FileHold` (a
shared `flock`) on the file of each session it holds, and `prune_cache` deletes a
file only under an exclusive lock it can take, so it spares what any process on
the host (or on an NFS client with working locks) holds. The kernel drops a dead
process's locks: nothing to expire, no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import gc
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from racereplay.sources import Progress, SessionRef
from racereplay.store.format import (
    FORMAT_VERSION,
    TEMP_SUFFIX,
    CorruptStore,
    read_header,
    read_timeline,
    temp_writer,
    write_timeline,
)
from racereplay.timeline.model import Timeline

log = logging.getLogger(__name__)

CACHE_ENV = "RACEREPLAY_CACHE"
SESSION_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")  # what SessionRef.key makes
SUFFIX = ".rrtl"

# Share of the progress bar each stage gets; the source parse dominates on real data.
_LOAD_SHARE = (0.0, 0.6)
_BUILD_SHARE = (0.6, 0.95)

# A file's mtime is its last use, refreshed by an open when older than this: a coarse
# clock is plenty for a disk budget, and an mtime that moves only hourly still tells
# a rebuild from a reopen.
USE_RESOLUTION_SECONDS = 3600.0
# A temporary file this old is a dead writer's, whoever wrote it (a write takes seconds).
PARTIAL_FILE_MAX_AGE_SECONDS = 3600.0


def default_cache_dir() -> Path:
    """`$RACEREPLAY_CACHE` if set, else `~/.cache/racereplay`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "racereplay"


def build_version() -> int:
    """The timeline build's output version: bumping it invalidates every cached file."""
    from racereplay.timeline.build import BUILD_VERSION

    return BUILD_VERSION


def cache_path(ref: SessionRef | str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    ref = SessionRef.parse(ref) if isinstance(ref, str) else ref
    return cache_path_of_key(ref.key, cache_dir)


def cache_path_of_key(session_key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{session_key}.f{FORMAT_VERSION}b{build_version()}{SUFFIX}"


def cached_session_name(
    session_key: str, cache_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """The full name of the session whose key is `session_key`, if its file is in the
    cache folder (the file's header names it): how a process that never opened the
    session, another replica sharing the folder or this one after a restart, resolves
    its id. None when no such file (of this format and build) is there."""
    if not SESSION_KEY.fullmatch(session_key):  # a client's text: a name, never a path
        return None
    path = cache_path_of_key(session_key, cache_dir)
    try:
        header = read_header(path)
    except (OSError, CorruptStore):
        return None
    name = header.get("name")
    return name if header.get("session") == session_key and isinstance(name, str) else None


def _scaled(progress: Progress | None, share: tuple[float, float]) -> Progress | None:
    if progress is None:
        return None
    lo, hi = share

    def report(fraction: float, message: str) -> None:
        progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), message)

    return report


def try_open(path: Path, session_key: str | None = None) -> Timeline | None:
    """The cached timeline at `path`, or None if absent; a damaged file is deleted.

    With `session_key` (a `SessionRef.key`), a file whose header names another
    session counts as damaged. A successful open marks the file used (its mtime).
    """
    try:
        timeline = read_timeline(path, session_key=session_key)
    except FileNotFoundError:
        return None
    except CorruptStore as exc:
        log.warning("deleting damaged cache file, it will be rebuilt: %s", exc)
        path.unlink(missing_ok=True)
        return None
    _mark_used(path)
    return timeline


def _mark_used(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > USE_RESOLUTION_SECONDS:
            os.utime(path)
    except OSError as exc:  # a read-only cache still serves; it just ages
        log.debug("cannot mark %s used: %s", path, exc)


def discard(ref: SessionRef | str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Delete the session's cache file (e.g. after `DamagedTimeline`); True if one was there.

    Not needed to recover: `open_or_build` deletes and rebuilds a damaged file by
    itself. Use it to force a rebuild even of a file that still verifies.
    """
    path = cache_path(ref, cache_dir)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    log.warning("discarded cache file %s, it will be rebuilt", path)
    return True


class FileHold:
    """A shared lock on a store file while its session is served (`flock`, LOCK_SH).

    While any process holds one, `prune_cache` in every process sharing the folder
    spares the file. Holding does not keep the file from `discard` or from deletion
    as damaged. `release` (or the process's exit) lets go. On a filesystem without
    locks the hold is empty (`held` False, logged): other processes' prunes cannot
    see it there.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # pruned or replaced meanwhile: nothing to hold
            return
        try:
            # Blocks only while a prune holds the exclusive lock, i.e. for one unlink.
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError as exc:
            os.close(fd)
            log.warning(
                "cannot lock %s (%s): other servers sharing this cache folder may delete "
                "it while this one serves it; give each server its own --cache",
                path,
                exc,
            )
            return
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def _delete_unless_held(path: Path) -> bool:
    """Delete a store file unless a process holds it (`FileHold`); True if deleted
    (or already gone). The check and the unlink happen under one exclusive lock, so
    a hold taken meanwhile waits for the unlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # another process pruned it first
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # held: a server is serving it
            # No locks on this filesystem: holds are invisible, delete as before.
            log.debug("cannot lock %s to prune it (%s): deleting it anyway", path, exc)
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                return False  # a build renamed a new file into place meanwhile: in use
        except FileNotFoundError:
            return True
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _store_files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    files = []
    for path in folder.glob(f"*{SUFFIX}"):
        if path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # deleted meanwhile by another process
            continue
        files.append((path, stat))
    return files


def prune_cache(
    cache_dir: str | os.PathLike[str], budget_bytes: int, keep: Collection[Path] = ()
) -> list[Path]:
    """Delete least recently used store files until they total at most `budget_bytes`.

    Only finished store files (`*.rrtl`) count and are deleted; temporary files
    are `remove_partial_files`'s. A file's mtime is its last use (`try_open`
    refreshes it, to the hour). Files in `keep` (those of sessions in use; compared
    after resolving) and files any process holds (`FileHold`: another server
    sharing the folder serves them) are never deleted, so the total may stay above
    the budget (logged, with how much is held). Returns the deleted paths, oldest
    first; a missing folder has nothing to prune.
    """
    if budget_bytes < 0:
        raise ValueError(f"budget_bytes must be at least 0, got {budget_bytes}")
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    kept = {Path(p).resolve() for p in keep}
    files = sorted(_store_files(folder), key=lambda entry: entry[1].st_mtime_ns)
    total = sum(stat.st_size for _, stat in files)
    deleted = []
    held, held_bytes = 0, 0
    for path, stat in files:
        if total <= budget_bytes:
            break
        if path.resolve() in kept or not _delete_unless_held(path):
            held += 1
            held_bytes += stat.st_size
            continue
        total -= stat.st_size
        deleted.append(path)
    if deleted:
        log.info(
            "cache over its %d-byte budget: deleted %d least recently used file(s), %d bytes left",
            budget_bytes,
            len(deleted),
            total,
        )
    if total > budget_bytes:
        log.warning(
            "cache %s stays over its %d-byte budget (%d bytes): %d file(s) of %d bytes are in "
            "use by this or another server sharing the folder; raise --cache-mb if this lasts",
            folder,
            budget_bytes,
            total,
            held,
            held_bytes,
        )
    return deleted


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_partial_files(cache_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files left in `cache_dir` by killed writers; returns them.

    `write_timeline` writes `.{name}.{pid}.{random}.tmp` and renames it when done.
    Such a file is deleted when no process `pid` is alive, or when it is older than
    `PARTIAL_FILE_MAX_AGE_SECONDS` (the pid may have been reused). A file of a live
    writer, possibly another server or a `racereplay build` writing right now, is
    left alone. Files named without a pid (older racereplay) go once they are that
    old. Safe to call at start-up while other processes use the same folder
    (a folder shared between machines would need more: the pid is this host's).
    """
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    now = time.time()
    removed = []
    for path in folder.glob(f".*{SUFFIX}.*{TEMP_SUFFIX}"):
        parsed = temp_writer(path.name)
        if parsed is None or not parsed[0].endswith(SUFFIX):
            continue
        _, pid = parsed
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # renamed into place or removed meanwhile
            continue
        if age <= PARTIAL_FILE_MAX_AGE_SECONDS and (pid is None or _writer_alive(pid)):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        log.info("removed %d partial file(s) left by killed builds in %s", len(removed), folder)
    return removed


def load_and_build(
    ref: SessionRef, progress: Progress | None = None, workers: int | None = None
) -> Timeline:
    """Load the source and build its timeline (the cold open's work, without the write)."""
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    raw = load(ref, _scaled(progress, _LOAD_SHARE))
    _return_freed_heap()
    return build_timeline(raw, progress=_scaled(progress, _BUILD_SHARE), workers=workers)


def _return_freed_heap() -> None:
    """Hand the heap the load freed back to the system before the build allocates.

    Parsing leaves tens of MB of freed small blocks (the parse workers' arrays, once
    converted) that glibc keeps mapped; the build's frames would sit on top of them,
    adding them to the peak. Elsewhere than glibc there is nothing to do.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def build_and_write(
    ref: SessionRef, path: Path, progress: Progress | None = None, workers: int | None = None
) -> None:
    """Load the source, build the timeline and write it to `path` (the cold open).

    The build is not kept: its frames are handed back as they are written
    (`release_frames`), and a caller maps the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    timeline = load_and_build(ref, progress, workers)
    if progress:
        progress(0.95, "writing")
    try:
        write_timeline(
            timeline,
            path,
            session=ref.key,
            session_name=str(ref),
            overwrite=False,
            release_frames=True,
        )
    except FileExistsError:
        # Another process sharing the folder built it meanwhile, and may serve it already.
        log.info("%s was built meanwhile by another process: keeping its file", path.name)
        return
    _remove_stale_versions(ref, path)


def _remove_stale_versions(ref: SessionRef, current: Path) -> None:
    # Files of the same session from another format or build version are dead weight.
    for old in current.parent.glob(f"{ref.key}.f*{SUFFIX}"):
        if old != current:
            old.unlink(missing_ok=True)


def open_or_build(
    ref: SessionRef | str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Timeline:
    """The session's timeline, memory-mapped from the cache, built first if needed."""
    ref = SessionRef.parse(ref) if isinstance(ref, str) else ref
    path = cache_path(ref, cache_dir)
    timeline = try_open(path, ref.key)
    if timeline is None:
        build_and_write(ref, path, progress, workers)
        timeline = read_timeline(path, session_key=ref.key)
    if progress:
        progress(1.0, "ready")
    return timeline


async def open_or_build_async(
    ref: SessionRef | str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    mode: Literal["process", "thread"] = "process",
) -> Timeline:
    """`open_or_build` without blocking the event loop.

    mode="process" (default) loads, builds and writes in a fresh process: the
    source parse is mostly Python and would otherwise hold the GIL and stall the
    loop; only a file name comes back, never the timeline itself. mode="thread"
    does the same in a worker thread (cheaper to start, but the loop stutters).
    `progress` is called from a worker thread: an asyncio caller should hop back
    with `loop.call_soon_threadsafe`.
    """
    ref = SessionRef.parse(ref) if isinstance(ref, str) else ref
    path = cache_path(ref, cache_dir)
    timeline = await asyncio.to_thread(try_open, path, ref.key)
    if timeline is not None:
        return timeline
    if mode == "process":
        await asyncio.to_thread(_build_in_process, ref, path, progress, workers)
    else:
        await asyncio.to_thread(_build_in_thread, ref, path, progress, workers)
    timeline = await asyncio.to_thread(read_timeline, path, session_key=ref.key)
    if progress:
        progress(1.0, "ready")
    return timeline


EXIT_GRACE_SECONDS = 10.0


def _build_in_thread(
    ref: SessionRef, path: Path, progress: Progress | None, workers: int | None
) -> None:
    build_and_write(ref, path, progress, workers)


# What a build process imports: loaded once in the fork server, then inherited.
BUILD_MODULES = [
    "racereplay.store.cache",
    "racereplay.sources.tracinginsights",  # also what its parse workers import
    "racereplay.sources.fastf1",
    "racereplay.timeline.build",
    # The optional extra (skipped where it is not installed): 0.3 s to import, with
    # pandas, in every build that reads FastF1; ~70 MB in the fork server, shared.
    "fastf1",
]


def start_build_processes() -> None:
    """Start the fork server build processes come from, with the build's modules
    loaded, so that a build process starts in milliseconds rather than the ~0.3 s a
    fresh interpreter spends importing numpy and the build. Not fork from the caller:
    it may be a server with threads and an event loop. A build in a server's thread
    takes its parse workers from there too (`tracinginsights._pool_context`).
    Idempotent; the first `mode="process"` build calls it anyway, a server calls it
    at start-up."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(BUILD_MODULES)
    multiprocessing.forkserver.ensure_running()


def _build_in_process(
    ref: SessionRef, path: Path, progress: Progress | None, workers: int | None
) -> None:
    start_build_processes()
    ctx = multiprocessing.get_context("forkserver")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_process_main, args=(str(ref), str(path), sender, workers), name=f"build {ref}"
    )
    proc.start()
    sender.close()
    try:
        _relay(receiver, progress)
    finally:
        receiver.close()
        # The result is in; a child that cannot exit (e.g. a stuck pool of its own)
        # must not keep every waiter of this session waiting.
        proc.join(timeout=EXIT_GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _relay(receiver: Any, progress: Progress | None) -> None:
    """Forward the child's progress until it reports done or failure."""
    while True:
        try:
            kind, payload = receiver.recv()
        except EOFError:
            raise RuntimeError("the build process died without a result (out of memory?)") from None
        if kind == "progress":
            if progress:
                progress(*payload)
        elif kind == "error":
            raise payload
        else:
            return


def _process_main(ref_name: str, path: str, sender: Any, workers: int | None) -> None:
    # What the fork server preloaded is shared with it until written: a collection
    # would write to every inherited object (FastF1 and pandas among them) and copy
    # their pages, slowly on a machine where fresh memory is slow (0.1 s a build).
    gc.freeze()

    def report(fraction: float, message: str) -> None:
        sender.send(("progress", (fraction, message)))

    try:
        build_and_write(SessionRef.parse(ref_name), Path(path), report, workers)
        sender.send(("done", None))
    except Exception as exc:
        try:
            sender.send(("error", exc))
        except Exception:  # the exception itself does not pickle
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        sender.close()
