"""The session registry: one build per session, however many viewers ask at once.

- Single flight: the first request for a session starts its build; every other
  request for it waits on that same build.
- A bounded number of builds run at once; the rest queue (first come, first
  served) and know their position.
- Progress reaches every waiter; a failure reaches every waiter with its reason
  and is not kept, so the next request builds again.
- A waiter that leaves (a closed browser tab) cancels nothing: the build is its
  own task, waiters only watch it.
- Loaded sessions are dropped when idle (no viewer for `idle_seconds`) and,
  least recently used first, when their arrays exceed `memory_budget` bytes.
  Sessions being watched are never dropped.

Everything here runs on the event loop thread; the builder does its heavy work
elsewhere (`open_or_build_async` builds in a process) and may report progress
from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import Timeline

log = logging.getLogger(__name__)

Builder = Callable[[SessionRef, Progress], Awaitable[Timeline]]


class BuildState(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class SessionStatus:
    id: str
    name: str
    state: BuildState
    fraction: float = 0.0
    message: str = ""
    queue_position: int | None = None  # 1 = next to start; None when not queued
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state.value,
            "fraction": round(self.fraction, 4),
            "message": self.message,
            "queue_position": self.queue_position,
            "error": self.error,
        }


class BuildFailed(RuntimeError):
    """The session could not be built; the message is the reason, for the user."""


Listener = Callable[[SessionStatus], None]


@dataclass
class LoadedSession:
    id: str
    ref: SessionRef
    timeline: Timeline
    nbytes: int
    last_used: float = field(default_factory=time.monotonic)
    viewers: int = 0

    def touch(self) -> None:
        self.last_used = time.monotonic()


def timeline_nbytes(timeline: Timeline) -> int:
    return int(sum(a.nbytes for a in timeline.frames.values()))


class _Build:
    def __init__(self, ref: SessionRef) -> None:
        self.status = SessionStatus(ref.key, str(ref), BuildState.QUEUED)
        self.listeners: set[Listener] = set()
        self.task: asyncio.Task[LoadedSession] | None = None

    def update(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]
        for listener in list(self.listeners):
            try:
                listener(self.status)
            except Exception:  # one broken listener must not stop the others' progress
                log.exception("progress listener failed")


class Registry:
    def __init__(
        self,
        builder: Builder,
        max_builds: int = 1,
        memory_budget: int = 2 << 30,
        idle_seconds: float = 600.0,
    ) -> None:
        if max_builds < 1:
            raise ValueError("max_builds must be at least 1")
        self._builder = builder
        self.max_builds = max_builds
        self.memory_budget = memory_budget
        self.idle_seconds = idle_seconds
        self._loaded: collections.OrderedDict[str, LoadedSession] = collections.OrderedDict()
        self._builds: dict[str, _Build] = {}
        self._failures: dict[str, SessionStatus] = {}
        self._refs: dict[str, SessionRef] = {}
        self._running = 0
        self._queue: collections.deque[tuple[_Build, asyncio.Future[None]]] = collections.deque()
        self._janitor: asyncio.Task[None] | None = None
        self.builds_started = 0  # for tests and benchmarks: how many builds ever ran

    # -- queries ---------------------------------------------------------

    def ref_of(self, session_id: str) -> SessionRef | None:
        return self._refs.get(session_id)

    def status(self, session_id: str) -> SessionStatus | None:
        if session_id in self._loaded:
            loaded = self._loaded[session_id]
            return SessionStatus(loaded.id, str(loaded.ref), BuildState.READY, 1.0, "ready")
        if session_id in self._builds:
            return self._builds[session_id].status
        return self._failures.get(session_id)

    def loaded(self, session_id: str) -> LoadedSession | None:
        session = self._loaded.get(session_id)
        if session is not None:
            session.touch()
            self._loaded.move_to_end(session_id)
        return session

    @property
    def builds_running(self) -> int:
        return self._running

    @property
    def builds_queued(self) -> int:
        return len(self._queue)

    @property
    def sessions_loaded(self) -> int:
        return len(self._loaded)

    @property
    def loaded_bytes(self) -> int:
        return sum(s.nbytes for s in self._loaded.values())

    # -- opening ---------------------------------------------------------

    def open(self, ref: SessionRef) -> SessionStatus:
        """Start the session's build if it is neither loaded nor building; its status."""
        self._refs[ref.key] = ref
        if ref.key in self._loaded:
            self.loaded(ref.key)
            return self.status(ref.key)  # type: ignore[return-value]
        build = self._builds.get(ref.key)
        if build is None:
            self._failures.pop(ref.key, None)  # a failure is not cached: try again
            build = _Build(ref)
            if self._running >= self.max_builds or self._queue:
                # Its place in the queue, known now rather than when the task first runs.
                build.status = replace(build.status, queue_position=len(self._queue) + 1)
            self._builds[ref.key] = build
            build.task = asyncio.get_running_loop().create_task(
                self._run(ref, build), name=f"build {ref}"
            )
            # A failed build nobody awaits must not log "exception never retrieved".
            build.task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return build.status

    async def get(self, ref: SessionRef, listener: Listener | None = None) -> LoadedSession:
        """The loaded session, building it first if needed; `listener` gets every status.

        Raises BuildFailed with the reason. Cancelling this call cancels only the wait.
        """
        self.open(ref)
        loaded = self.loaded(ref.key)
        if loaded is not None:
            return loaded
        build = self._builds[ref.key]
        assert build.task is not None
        if listener is not None:
            build.listeners.add(listener)
            listener(build.status)
        try:
            return await asyncio.shield(build.task)
        finally:
            if listener is not None:
                build.listeners.discard(listener)

    async def _run(self, ref: SessionRef, build: _Build) -> LoadedSession:
        try:
            await self._acquire_slot(build)
            try:
                self.builds_started += 1
                build.update(state=BuildState.BUILDING, queue_position=None, message="starting")
                timeline = await self._builder(ref, self._progress_reporter(build))
            finally:
                self._release_slot()
        except asyncio.CancelledError:
            self._builds.pop(ref.key, None)
            raise
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("build of %s failed: %s", ref, reason)
            build.update(state=BuildState.FAILED, error=reason, message="failed")
            self._failures[ref.key] = build.status
            self._builds.pop(ref.key, None)
            raise BuildFailed(f"could not load {ref}: {reason}") from exc
        loaded = LoadedSession(ref.key, ref, timeline, timeline_nbytes(timeline))
        self._loaded[ref.key] = loaded
        self._builds.pop(ref.key, None)
        build.update(state=BuildState.READY, fraction=1.0, message="ready")
        self.evict()
        return loaded

    def _progress_reporter(self, build: _Build) -> Progress:
        loop = asyncio.get_running_loop()

        def on_loop(fraction: float, message: str) -> None:
            if build.status.state is BuildState.BUILDING:
                build.update(fraction=max(build.status.fraction, fraction), message=message)

        def report(fraction: float, message: str) -> None:
            # Builders report from worker threads: hop back onto the loop.
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
                loop.call_soon_threadsafe(on_loop, float(fraction), str(message))

        return report

    # -- the build queue -------------------------------------------------

    async def _acquire_slot(self, build: _Build) -> None:
        if self._running < self.max_builds and not self._queue:
            self._running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((build, waiter))
        self._report_queue_positions()
        try:
            await waiter  # the slot is handed over by _release_slot
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()
            with contextlib.suppress(ValueError):
                self._queue.remove((build, waiter))
            self._report_queue_positions()
            raise

    def _release_slot(self) -> None:
        while self._queue:
            _, waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: _running is unchanged
                self._report_queue_positions()
                return
        self._running -= 1

    def _report_queue_positions(self) -> None:
        for position, (build, _) in enumerate(self._queue, start=1):
            build.update(state=BuildState.QUEUED, queue_position=position, message="queued")

    # -- viewers and eviction -------------------------------------------

    def attach(self, session: LoadedSession) -> None:
        """A viewer starts watching: the session stays loaded while watched."""
        session.viewers += 1
        session.touch()

    def detach(self, session: LoadedSession) -> None:
        session.viewers = max(session.viewers - 1, 0)
        session.touch()

    def evict(self, now: float | None = None) -> list[str]:
        """Drop idle sessions and, least recently used first, sessions over the budget."""
        now = time.monotonic() if now is None else now
        dropped = []
        for key, session in list(self._loaded.items()):
            if session.viewers == 0 and now - session.last_used > self.idle_seconds:
                dropped.append(key)
        for key in dropped:
            del self._loaded[key]
        total = self.loaded_bytes
        for key, session in list(self._loaded.items()):  # oldest use first
            if total <= self.memory_budget:
                break
            if session.viewers == 0:
                total -= session.nbytes
                del self._loaded[key]
                dropped.append(key)
        if dropped:
            log.info("unloaded sessions: %s", ", ".join(dropped))
        return dropped

    def start(self) -> None:
        """Start the periodic eviction (call from the running loop)."""
        if self._janitor is None:
            self._janitor = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(min(self.idle_seconds / 4, 30.0), 0.05))
            self.evict()

    async def close(self) -> None:
        tasks = [b.task for b in self._builds.values() if b.task is not None]
        if self._janitor is not None:
            tasks.append(self._janitor)  # type: ignore[arg-type]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._janitor = None


def cache_builder(
    cache_dir: Path | None, mode: str = "process", workers: int | None = None
) -> Builder:
    """The production builder: the store's cache (open memory-mapped, or build and write)."""

    async def build(ref: SessionRef, progress: Progress) -> Timeline:
        from racereplay.store.cache import open_or_build_async

        return await open_or_build_async(ref, cache_dir, progress, workers, mode=mode)  # type: ignore[arg-type]

    return build
