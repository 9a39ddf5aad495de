"""The build cache: one store file per session, built once, then opened memory-mapped.

A file's name carries the session key, the store format version and the timeline
build version, so a file written by an older racereplay is rebuilt rather than
misread. A file that fails verification is deleted and rebuilt, never served.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any, Literal

from racereplay.sources import Progress, SessionRef
from racereplay.store.format import FORMAT_VERSION, CorruptStore, read_timeline, write_timeline
from racereplay.timeline.model import Timeline

log = logging.getLogger(__name__)

CACHE_ENV = "RACEREPLAY_CACHE"
SUFFIX = ".rrtl"

# Share of the progress bar each stage gets; the source parse dominates on real data.
_LOAD_SHARE = (0.0, 0.6)
_BUILD_SHARE = (0.6, 0.95)


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
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{ref.key}.f{FORMAT_VERSION}b{build_version()}{SUFFIX}"


def _scaled(progress: Progress | None, share: tuple[float, float]) -> Progress | None:
    if progress is None:
        return None
    lo, hi = share

    def report(fraction: float, message: str) -> None:
        progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), message)

    return report


def try_open(path: Path) -> Timeline | None:
    """The cached timeline at `path`, or None if absent; a damaged file is deleted."""
    try:
        return read_timeline(path)
    except FileNotFoundError:
        return None
    except CorruptStore as exc:
        log.warning("deleting damaged cache file, it will be rebuilt: %s", exc)
        path.unlink(missing_ok=True)
        return None


def build_and_write(
    ref: SessionRef, path: Path, progress: Progress | None = None, workers: int | None = None
) -> Timeline:
    """Load the source, build the timeline and write it to `path`; returns the in-memory build."""
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    path.parent.mkdir(parents=True, exist_ok=True)
    raw = load(ref, _scaled(progress, _LOAD_SHARE))
    timeline = build_timeline(raw, progress=_scaled(progress, _BUILD_SHARE), workers=workers)
    if progress:
        progress(0.95, "writing")
    write_timeline(timeline, path)
    _remove_stale_versions(ref, path)
    return timeline


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
    timeline = try_open(path)
    if timeline is None:
        build_and_write(ref, path, progress, workers)
        timeline = read_timeline(path)
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
    timeline = await asyncio.to_thread(try_open, path)
    if timeline is not None:
        return timeline
    if mode == "process":
        await asyncio.to_thread(_build_in_process, ref, path, progress, workers)
    else:
        await asyncio.to_thread(_build_in_thread, ref, path, progress, workers)
    timeline = await asyncio.to_thread(read_timeline, path)
    if progress:
        progress(1.0, "ready")
    return timeline


EXIT_GRACE_SECONDS = 10.0


def _build_in_thread(
    ref: SessionRef, path: Path, progress: Progress | None, workers: int | None
) -> None:
    build_and_write(ref, path, progress, workers)


def _build_in_process(
    ref: SessionRef, path: Path, progress: Progress | None, workers: int | None
) -> None:
    # spawn, not fork: the parent may be a server with threads and an event loop.
    ctx = multiprocessing.get_context("spawn")
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
