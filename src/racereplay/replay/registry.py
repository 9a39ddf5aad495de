"""The session registry: one build per session, however many viewers ask at once.

- Single flight: the first request for a session starts its build; every other
  request for it waits on that same build.
- A bounded number of builds run at once; the rest queue (first come, first
  served) and know their position. The queue is bounded too, and so are the
  builds one client may have waiting: beyond either, `open` raises
  `BuildRefused` (the server answers 429 with Retry-After).
- Progress reaches every waiter; a failure reaches every waiter with its reason
  and is not kept, so the next request builds again.
- With a `coordinator` (replay/leases.py: replicas sharing a Redis), the registry
  hands it each build as a `BuildTicket` instead of building: the coordinator
  decides whether this process builds (in a build slot of its own queue) or
  relays another replica's queue position and progress to the waiters here.
- A waiter that leaves (a closed browser tab) cancels nothing: the build is its
  own task, waiters only watch it.
- Loaded sessions are dropped when idle (no viewer for `idle_seconds`) and,
  least recently used first, when their arrays exceed `memory_budget` bytes.
  Sessions being watched are never dropped. Every unload is announced to the
  `on_unload` listeners, so the caches built on a session let go of it too.
- What it remembers of sessions it no longer holds (ids, failures) is bounded.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast

from racereplay.replay.tasks import cancel_and_wait
from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import Timeline

log = logging.getLogger(__name__)

Builder = Callable[[SessionRef, Progress], Awaitable[Timeline]]
QueueListener = Callable[[int], None]  # a build's place in the queue (1 = next to start)


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


class BuildRefused(RuntimeError):
    """No build can start for this request now; `code` says why, `retry_after` when to retry."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


REMEMBERED = 1024  # ids and failures of sessions not held, kept for status and reconnects
RETRY_AFTER_SECONDS = 10


Listener = Callable[[SessionStatus], None]


@dataclass(frozen=True)
class BuildTicket:
    """One build, as a coordinator sees it: how to reach this process's waiters, and
    this process's build slot.

    - `progress(fraction, message)`: the build is running (here or elsewhere).
    - `queued(position)`: the build waits, `position` builds from starting (another
      replica's queue: this process's own queue reports itself).
    - `slot(on_position)`: a build slot of this process, held for the block; waits
      in its queue first, telling the waiters here, and `on_position`, each place.
    """

    ref: SessionRef
    progress: Progress
    queued: QueueListener
    slot: Callable[[QueueListener | None], AbstractAsyncContextManager[None]]


Coordinator = Callable[[BuildTicket], Awaitable[Timeline]]


_Derived = TypeVar("_Derived")


@dataclass
class LoadedSession:
    id: str
    ref: SessionRef
    timeline: Timeline
    nbytes: int
    last_used: float = field(default_factory=time.monotonic)
    viewers: int = 0
    # Views computed from the timeline on first request (mini-sectors...), by name.
    derived: dict[str, Any] = field(default_factory=dict)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def derive(self, name: str, make: Callable[[], _Derived]) -> _Derived:
        """`derived[name]`, made by `make` the first time it is asked for."""
        if name not in self.derived:
            self.derived[name] = make()
        return cast(_Derived, self.derived[name])


def timeline_nbytes(timeline: Timeline) -> int:
    return int(sum(a.nbytes for a in timeline.frames.values()))


class _Build:
    def __init__(self, ref: SessionRef, name: str, client: str | None) -> None:
        self.status = SessionStatus(ref.key, name, BuildState.QUEUED)
        self.client = client  # who asked first: counts against that client's builds
        self.listeners: set[Listener] = set()
        self.task: asyncio.Task[LoadedSession] | None = None
        self.on_position: QueueListener | None = None  # its slot's: each place in the queue

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
        max_queued: int = 64,
        builds_per_client: int = 1_000_000,
        name_of: Callable[[SessionRef], str] = str,
        redact: Callable[[str], str] = str,
    ) -> None:
        if max_builds < 1:
            raise ValueError("max_builds must be at least 1")
        self._builder = builder
        self.max_builds = max_builds
        self.memory_budget = memory_budget
        self.idle_seconds = idle_seconds
        self.max_queued = max_queued
        self.builds_per_client = builds_per_client
        self.name_of = name_of  # the name clients see (no server paths in it)
        self.redact = redact  # a failure's reason as clients see it (no server paths)
        self.on_unload: list[Callable[[str], None]] = []
        # Replicas: builds go through it (it calls the builder itself); None: build here.
        self.coordinator: Coordinator | None = None
        self._loaded: collections.OrderedDict[str, LoadedSession] = collections.OrderedDict()
        self._builds: dict[str, _Build] = {}
        self._failures: collections.OrderedDict[str, SessionStatus] = collections.OrderedDict()
        self._refs: collections.OrderedDict[str, SessionRef] = collections.OrderedDict()
        self._running = 0
        self._queue: collections.deque[tuple[_Build, asyncio.Future[None]]] = collections.deque()
        self._janitor: asyncio.Task[None] | None = None
        self.builds_started = 0  # build slots taken: the builds (or, alone, opens) run here

    # -- queries ---------------------------------------------------------

    def ref_of(self, session_id: str) -> SessionRef | None:
        return self._refs.get(session_id)

    def status(self, session_id: str) -> SessionStatus | None:
        if session_id in self._loaded:
            loaded = self._loaded[session_id]
            name = self.name_of(loaded.ref)
            return SessionStatus(loaded.id, name, BuildState.READY, 1.0, "ready")
        if session_id in self._builds:
            return self._builds[session_id].status
        return self._failures.get(session_id)

    async def settled(self, session_id: str, timeout: float) -> None:
        """Until the build of `session_id` ends (ready or failed) or `timeout` seconds
        pass; at once when none is running. Whatever the build's outcome, no error."""
        build = self._builds.get(session_id)
        if build is not None and build.task is not None and timeout > 0:
            await asyncio.wait({build.task}, timeout=timeout)

    def loaded(self, session_id: str) -> LoadedSession | None:
        session = self._loaded.get(session_id)
        if session is not None:
            session.touch()
            self._loaded.move_to_end(session_id)
        return session

    def held_sessions(self) -> list[LoadedSession]:
        return list(self._loaded.values())

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

    def open(self, ref: SessionRef, client: str | None = None) -> SessionStatus:
        """Start the session's build if it is neither loaded nor building; its status.

        Raises BuildRefused when a new build would overfill the queue, or when
        `client` already has `builds_per_client` builds queued or running.
        """
        if ref.key in self._loaded:
            self._remember(ref)
            self.loaded(ref.key)
            return self.status(ref.key)  # type: ignore[return-value]
        build = self._builds.get(ref.key)
        if build is None:
            self._check_room(client)
            self._remember(ref)
            self._failures.pop(ref.key, None)  # a failure is not cached: try again
            build = _Build(ref, self.name_of(ref), client)
            if self.coordinator is None and (self._running >= self.max_builds or self._queue):
                # Its place in the queue, known now rather than when the task first runs.
                build.status = replace(build.status, queue_position=len(self._queue) + 1)
            self._builds[ref.key] = build
            build.task = asyncio.get_running_loop().create_task(
                self._run(ref, build), name=f"build {ref}"
            )
            # A failed build nobody awaits must not log "exception never retrieved".
            build.task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return build.status

    def _check_room(self, client: str | None) -> None:
        if self._running >= self.max_builds and len(self._queue) >= self.max_queued:
            raise BuildRefused(
                "busy",
                f"the server is busy: {len(self._queue)} sessions are waiting to be built; "
                f"try again in {RETRY_AFTER_SECONDS} s",
                RETRY_AFTER_SECONDS,
            )
        mine = sum(1 for b in self._builds.values() if client is not None and b.client == client)
        if mine >= self.builds_per_client:
            raise BuildRefused(
                "too_many_builds",
                f"you already have {mine} sessions building (at most {self.builds_per_client}): "
                "wait for one to finish",
                RETRY_AFTER_SECONDS,
            )

    def _remember(self, ref: SessionRef) -> None:
        self._refs[ref.key] = ref
        self._refs.move_to_end(ref.key)
        _trim(self._refs, keep=lambda key: key in self._loaded or key in self._builds)

    async def get(
        self, ref: SessionRef, listener: Listener | None = None, client: str | None = None
    ) -> LoadedSession:
        """The loaded session, building it first if needed; `listener` gets every status.

        Raises BuildFailed with the reason, BuildRefused when no build can start now.
        Cancelling this call cancels only the wait.
        """
        self.open(ref, client)
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
            timeline = await self._produce(ref, build)
        except asyncio.CancelledError:
            self._builds.pop(ref.key, None)
            raise
        except Exception as exc:
            log.warning("build of %s failed: %s", ref, str(exc) or type(exc).__name__)
            reason = self.redact(str(exc) or type(exc).__name__)
            build.update(state=BuildState.FAILED, error=reason, message="failed")
            self._failures[ref.key] = build.status
            _trim(self._failures, keep=lambda key: False)
            self._builds.pop(ref.key, None)
            raise BuildFailed(f"could not load {build.status.name}: {reason}") from exc
        loaded = LoadedSession(ref.key, ref, timeline, timeline_nbytes(timeline))
        self._loaded[ref.key] = loaded
        self._builds.pop(ref.key, None)
        build.update(state=BuildState.READY, fraction=1.0, message="ready")
        self.evict()
        return loaded

    async def _produce(self, ref: SessionRef, build: _Build) -> Timeline:
        ticket = BuildTicket(
            ref,
            self._progress_reporter(build),
            lambda position: build.update(
                state=BuildState.QUEUED, queue_position=position, message="queued"
            ),
            lambda on_position: self._slot(build, on_position),
        )
        if self.coordinator is not None:
            return await self.coordinator(ticket)
        async with ticket.slot(None):
            return await self._builder(ref, ticket.progress)

    def _progress_reporter(self, build: _Build) -> Progress:
        loop = asyncio.get_running_loop()

        def on_loop(fraction: float, message: str) -> None:
            # Queued: another replica's build has started (not after ready or failed).
            if build.status.state in (BuildState.QUEUED, BuildState.BUILDING):
                fraction = max(build.status.fraction, fraction)
                build.update(
                    state=BuildState.BUILDING,
                    queue_position=None,
                    fraction=fraction,
                    message=message,
                )

        def report(fraction: float, message: str) -> None:
            # Builders report from worker threads: hop back onto the loop.
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
                loop.call_soon_threadsafe(on_loop, float(fraction), str(message))

        return report

    # -- the build queue -------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self, build: _Build, on_position: QueueListener | None) -> AsyncIterator[None]:
        build.on_position = on_position
        await self._acquire_slot(build)
        try:
            self.builds_started += 1
            build.update(state=BuildState.BUILDING, queue_position=None, message="starting")
            yield
        finally:
            self._release_slot()

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
            if build.on_position is not None:
                build.on_position(position)

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
        for key in dropped:
            self._announce_unload(key)
        return dropped

    def unload(self, session_id: str) -> bool:
        """Drop a session now, watched or not (its file was found damaged); True if held."""
        if self._loaded.pop(session_id, None) is None:
            return False
        log.warning("unloaded session %s", session_id)
        self._announce_unload(session_id)
        return True

    def _announce_unload(self, session_id: str) -> None:
        for listener in self.on_unload:
            try:
                listener(session_id)
            except Exception:  # one cache failing to let go must not keep the others holding
                log.exception("unload listener failed for %s", session_id)

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
        await cancel_and_wait(tasks)
        self._janitor = None


def _trim(table: collections.OrderedDict[str, Any], keep: Callable[[str], bool]) -> None:
    """Forget the oldest entries beyond `REMEMBERED`, except those `keep` says are in use."""
    excess = len(table) - REMEMBERED
    for key in list(table):
        if excess <= 0:
            break
        if not keep(key):
            del table[key]
            excess -= 1


def cache_builder(
    cache_dir: Path | None, mode: str = "process", workers: int | None = None
) -> Builder:
    """The production builder: the store's cache (open memory-mapped, or build and write)."""

    async def build(ref: SessionRef, progress: Progress) -> Timeline:
        from racereplay.store.cache import open_or_build_async

        return await open_or_build_async(ref, cache_dir, progress, workers, mode=mode)  # type: ignore[arg-type]

    return build
