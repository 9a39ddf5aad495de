"""One build per session across replicas: a build lease in Redis around the registry's builder.

Replicas (`serve --redis URL`) share one cache folder and one Redis. Each replica's
`Registry` still builds a session once per process (its single flight and queue);
`BuildLeases` is its coordinator: the registry hands it each build (a `BuildTicket`),
so that one replica in the cluster builds and the others open the file it wrote:

- A session whose file is already in the shared cache folder is opened directly:
  no lease, no Redis round trip, no build slot.
- Otherwise the replica subscribes to the session's channel, then tries to take the
  lease (`SET racereplay:build:KEY:lease TOKEN NX PX ttl`).
- The leader waits for a build slot in its own queue, then builds. It renews the
  lease every ttl/3 (compare-and-pexpire) from the moment it takes it, publishes
  its place in its queue and then its progress on the channel (and keeps the latest
  in a status key, for waiters who arrive late), then "ready" or "failed" with the
  reason, and releases the lease only if it still holds it (compare-and-delete). A
  failure is not kept: the next request takes the lease again and retries.
- A follower relays that queue position and progress to its own waiters, holding
  no build slot (its own queue goes on with other sessions); on "ready" it opens the
  file (the builder opens an existing valid file cheaply), on "failed" it fails with
  the leader's reason. It also watches the lease: a leader that died (killed, its
  lease expired) or stopped without an outcome is taken over, and the follower
  builds, in a slot of its own.
- Redis lost while running: builds go on locally, as in one process, with one log
  line (and one more when it is back); `connected` says which, for /api/health.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from enum import Enum
from typing import Any

from racereplay.replay.registry import Builder, BuildTicket
from racereplay.replay.tasks import cancel_and_wait
from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import Timeline

log = logging.getLogger(__name__)

KEY_PREFIX = "racereplay:build:"
DEFAULT_LEASE_SECONDS = 10.0
PUBLISH_INTERVAL_SECONDS = 0.1  # progress reaches other replicas at most this often
DRAIN_SECONDS = 0.05  # a vanished lease: messages already sent get this long to arrive

# Renew or release the lease only while this replica still holds it.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[2])
  return redis.call('del', KEYS[1])
end
return 0
"""


class RemoteBuildFailed(RuntimeError):
    """Another replica's build of the session failed; the message is its reason."""


class _RedisLost(Exception):
    """Redis did not answer: the caller goes on without it."""


class _Outcome(Enum):
    READY = "ready"
    VACANT = "vacant"  # the lease vanished without an outcome: take over


def lease_key(ref: SessionRef) -> str:
    return f"{KEY_PREFIX}{ref.key}:lease"


def status_key(ref: SessionRef) -> str:
    return f"{KEY_PREFIX}{ref.key}:status"


def channel(ref: SessionRef) -> str:
    return f"{KEY_PREFIX}{ref.key}"


class BuildLeases:
    """A registry's coordinator that builds each session once across every replica
    sharing `redis`.

    `builder` does the work (opening the cache file, or building and writing it);
    `cached(ref)` says whether the session's file is already in the shared folder
    (it is called in a worker thread); `where` names the Redis in log lines.
    """

    def __init__(
        self,
        redis: Any,  # redis.asyncio.Redis
        builder: Builder,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        cached: Callable[[SessionRef], bool] = lambda ref: False,
        where: str = "Redis",
    ) -> None:
        from redis.exceptions import RedisError

        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._redis = redis
        self._builder = builder
        self._cached = cached
        self.where = where
        self.lease_seconds = lease_seconds
        self._lease_ms = max(int(lease_seconds * 1000), 1)
        self._poll = min(lease_seconds / 3, 1.0)  # how often a follower looks at the lease
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._renew_script = redis.register_script(_RENEW)
        self._release_script = redis.register_script(_RELEASE)
        self._token_prefix = f"{socket.gethostname()}:{os.getpid()}:"
        self._watcher: asyncio.Task[None] | None = None
        self.connected = True  # Redis answered last time we asked
        self.builds_followed = 0  # builds of another replica this one waited for
        self.takeovers = 0  # leases taken over from a leader that vanished

    # -- the builder -----------------------------------------------------

    async def __call__(self, ticket: BuildTicket) -> Timeline:
        ref = ticket.ref
        if await asyncio.to_thread(self._cached, ref):
            return await self._builder(ref, ticket.progress)  # an open, not a build
        if self.connected:
            try:
                return await self._coordinated(ticket)
            except _RedisLost:
                pass  # logged once by _lost
        async with ticket.slot(None):
            return await self._builder(ref, ticket.progress)

    async def _coordinated(self, ticket: BuildTicket) -> Timeline:
        ref = ticket.ref
        vanished = False
        while True:
            # Subscribe before looking at the lease: an outcome published in between
            # is then not missed.
            async with self._subscription(ref) as pubsub:
                token = await self._try_lease(ref)
                if token is None:
                    outcome = await self._follow(ticket, pubsub)
            if token is not None:
                if vanished:
                    self.takeovers += 1
                    log.warning("took over the build of %s from a replica that vanished", ref)
                return await self._lead(ticket, token)
            if outcome is _Outcome.READY or await asyncio.to_thread(self._cached, ref):
                self.builds_followed += 1
                return await self._builder(ref, ticket.progress)  # opens the leader's file
            vanished = True

    # -- Redis, guarded ---------------------------------------------------

    async def _call(self, awaitable: Any) -> Any:
        """`awaitable`'s result; a Redis failure is logged (once) and raised as _RedisLost."""
        try:
            return await awaitable
        except self._errors as exc:
            self._lost(exc)
            raise _RedisLost(str(exc)) from exc

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            self.connected = False
            log.warning(
                "Redis at %s is unreachable (%s): building sessions in this process alone "
                "until it is back",
                self.where,
                exc or type(exc).__name__,
            )

    def _answered(self) -> None:
        if not self.connected:
            self.connected = True
            log.info("Redis at %s answers again: one build per session across replicas", self.where)

    @contextlib.asynccontextmanager
    async def _subscription(self, ref: SessionRef) -> AsyncIterator[Any]:
        pubsub = self._redis.pubsub()
        try:
            await self._call(pubsub.subscribe(channel(ref)))
            yield pubsub
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _try_lease(self, ref: SessionRef) -> str | None:
        token = self._token_prefix + uuid.uuid4().hex
        taken = await self._call(self._redis.set(lease_key(ref), token, nx=True, px=self._lease_ms))
        return token if taken else None

    # -- following another replica's build -------------------------------

    async def _follow(self, ticket: BuildTicket, pubsub: Any) -> _Outcome:
        ref = ticket.ref
        latest = await self._call(self._redis.get(status_key(ref)))
        if latest is None:
            ticket.progress(0.0, "building on another replica")
        else:
            _relay(json.loads(latest), ticket)
        looked = time.monotonic()
        while True:
            message = await self._call(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=self._poll)
            )
            if message is not None and _relay(json.loads(message["data"]), ticket) == "ready":
                return _Outcome.READY
            if time.monotonic() - looked < self._poll:
                continue
            looked = time.monotonic()
            if not await self._call(self._redis.exists(lease_key(ref))):
                # An outcome published just before the lease went may still be on its way.
                while (
                    message := await self._call(
                        pubsub.get_message(ignore_subscribe_messages=True, timeout=DRAIN_SECONDS)
                    )
                ) is not None:
                    if _relay(json.loads(message["data"]), ticket) == "ready":
                        return _Outcome.READY
                return _Outcome.VACANT

    # -- leading: building for every replica ------------------------------

    async def _lead(self, ticket: BuildTicket, token: str) -> Timeline:
        ref = ticket.ref
        renewer = asyncio.create_task(self._renew(ref, token), name=f"lease {ref}")
        publisher = _Publisher(self, ref)
        try:
            try:
                async with ticket.slot(publisher.queued):
                    publisher.started()
                    timeline = await self._builder(ref, publisher.reporter(ticket.progress))
            except asyncio.CancelledError:
                raise  # no outcome: the lease goes below, and a follower takes over
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                await publisher.finish({"state": "failed", "error": reason})
                raise
            await publisher.finish({"state": "ready"})  # before the lease goes: see _follow
            return timeline
        finally:
            await cancel_and_wait([renewer])
            await publisher.stop()
            await self._release(ref, token)

    async def _renew(self, ref: SessionRef, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                held = await self._renew_script(keys=[lease_key(ref)], args=[token, self._lease_ms])
            except self._errors as exc:
                self._lost(exc)
                continue
            self._answered()
            if not held:
                log.warning(
                    "the build lease of %s expired before it was renewed (this process stalled "
                    "for over %g s?): another replica may build it too",
                    ref,
                    self.lease_seconds,
                )
                return

    async def _release(self, ref: SessionRef, token: str) -> None:
        try:
            await self._release_script(keys=[lease_key(ref), status_key(ref)], args=[token])
        except self._errors as exc:
            self._lost(exc)  # the lease expires by itself

    async def _publish(self, ref: SessionRef, status: dict[str, Any], keep: bool) -> None:
        """`status` to every follower; `keep`: also for followers who subscribe later."""
        text = json.dumps(status, separators=(",", ":"))
        try:
            pipe = self._redis.pipeline(transaction=False)
            if keep:
                pipe.set(status_key(ref), text, px=self._lease_ms)
            pipe.publish(channel(ref), text)
            await pipe.execute()
        except self._errors as exc:
            self._lost(exc)
        else:
            self._answered()

    # -- watching Redis ---------------------------------------------------

    def start(self) -> None:
        """Watch Redis (from the running loop): `connected` follows it even with no build."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        interval = max(min(self.lease_seconds / 3, 5.0), 0.5)
        while True:
            try:
                await asyncio.wait_for(self._redis.ping(), timeout=interval)
            except self._errors as exc:
                self._lost(exc)
            else:
                self._answered()
            await asyncio.sleep(interval)

    async def close(self) -> None:
        if self._watcher is not None:
            await cancel_and_wait([self._watcher])
            self._watcher = None

    def health(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "lease_seconds": self.lease_seconds,
            "builds_followed": self.builds_followed,
            "lease_takeovers": self.takeovers,
        }


def _relay(status: dict[str, Any], ticket: BuildTicket) -> str:
    """Pass a leader's status on to this replica's waiters; its state."""
    state = str(status.get("state", ""))
    if state == "queued":
        ticket.queued(int(status.get("queue_position") or 1))
    elif state == "building":
        ticket.progress(float(status.get("fraction", 0.0)), str(status.get("message", "")))
    elif state == "failed":
        raise RemoteBuildFailed(str(status.get("error") or "the build failed on another replica"))
    return state


class _Publisher:
    """The leader's progress to every replica, at most every PUBLISH_INTERVAL_SECONDS."""

    def __init__(self, leases: BuildLeases, ref: SessionRef) -> None:
        self._leases = leases
        self._ref = ref
        self._latest: dict[str, Any] = {"state": "building", "fraction": 0.0, "message": "starting"}
        self._changed = asyncio.Event()
        self._changed.set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reporter(self, local: Progress) -> Progress:
        loop = asyncio.get_running_loop()

        def report(fraction: float, message: str) -> None:
            local(fraction, message)
            # Builders report from worker threads: hop back onto the loop.
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
                loop.call_soon_threadsafe(self._update, float(fraction), str(message))

        return report

    def queued(self, position: int) -> None:
        """The leader's place in its own build queue (a `QueueListener`)."""
        self._set({"state": "queued", "queue_position": position, "message": "queued"})

    def started(self) -> None:
        self._set({"state": "building", "fraction": 0.0, "message": "starting"})

    def _update(self, fraction: float, message: str) -> None:
        fraction = max(fraction, float(self._latest.get("fraction", 0.0)))
        self._set({"state": "building", "fraction": fraction, "message": message})

    def _set(self, status: dict[str, Any]) -> None:
        self._latest = status
        self._changed.set()

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self._leases._publish(self._ref, self._latest, keep=True)
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def finish(self, status: dict[str, Any]) -> None:
        await self.stop()
        await self._leases._publish(self._ref, status, keep=False)
