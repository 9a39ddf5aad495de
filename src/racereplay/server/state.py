"""What one running server holds: settings, catalogue, registry, chunk caches."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from racereplay.codec import CODEC_NAMES, ChunkCache, get_codec, jsonable
from racereplay.replay.leases import BuildLeases
from racereplay.replay.registry import Builder, Listener, LoadedSession, Registry, cache_builder
from racereplay.replay.room_hub import EmbeddedRooms, RoomHub, room_hub
from racereplay.replay.rooms import RoomLimits
from racereplay.server.catalogue import Catalogue, SessionForbidden
from racereplay.server.collector import Freezer, GcPauses
from racereplay.server.looplag import LoopLagMonitor
from racereplay.server.protocol import CLIENT_CONSTANTS, PROTOCOL_VERSION
from racereplay.server.settings import Settings
from racereplay.server.wire import WireChunks
from racereplay.sources import BadOption, Progress, SessionNotFound, SessionRef
from racereplay.store.cache import (
    FileHold,
    cache_path,
    cached_session_name,
    default_cache_dir,
    prune_cache,
    remove_partial_files,
)
from racereplay.timeline.model import DamagedTimeline, Timeline
from racereplay.timeline.summary import derived_views

log = logging.getLogger(__name__)


class SessionRejected(ValueError):
    """A session name or id the server will not serve; `status` is the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RedisUnavailable(RuntimeError):
    """`--redis` names a Redis this server cannot use; the message says which and why."""


async def open_redis(url: str) -> Any:
    """A connected redis.asyncio.Redis at `url`; RedisUnavailable names the URL and what to do."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise RedisUnavailable(
            f"--redis {url}: the redis client is not installed: pip install 'racereplay[redis]'"
        ) from None
    # A burst of commands (hundreds of viewers opening rooms at once) waits for one of
    # the pool's connections; the default pool raises past 100, which reads as Redis lost.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=100, timeout=10, socket_connect_timeout=5, socket_timeout=10
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise RedisUnavailable(
            f"cannot reach Redis at {url} ({exc}): start it, or serve without --redis "
            "to run as one process"
        ) from None
    return client


class ServerState:
    def __init__(self, settings: Settings, builder: Builder | None = None) -> None:
        from racereplay import __version__

        self.settings = settings
        self.version = str(__version__)
        self.catalogue = Catalogue(settings)
        self._builder = builder or cache_builder(settings.cache_dir, settings.build_mode)
        # The default builder's processes (build processes, or parse workers of a build
        # in a thread) come from a fork server started with us (store/cache.py).
        self.starts_fork_server = builder is None
        self.registry = Registry(
            self._build_within_budget,
            max_builds=settings.max_builds,
            memory_budget=settings.memory_budget_mb << 20,
            idle_seconds=settings.idle_seconds,
            max_queued=settings.max_queued_builds,
            builds_per_client=settings.builds_per_client,
            name_of=self.catalogue.public_name,
            redact=self.catalogue.redact,
        )
        self.chunks = ChunkCache(settings.chunk_cache_mb << 20)
        self.wire = WireChunks(self.chunks, (settings.chunk_cache_mb << 20) // 2)
        # The store files of the sessions held, locked so that no process sharing the
        # cache folder prunes them (store/cache.py `FileHold`); by session id.
        self._holds: dict[str, FileHold] = {}
        # Whatever is built on a session lets go of it when the registry does.
        self.registry.on_unload += [
            self.chunks.drop_session,
            self.wire.drop_session,
            self._release_hold,
        ]
        # Shared with the other replicas (settings.redis_url); None: this process alone.
        self.redis: Any = None  # redis.asyncio.Redis, connected by `connect_redis`
        self.leases: BuildLeases | None = None  # the registry's coordinator, with Redis
        # Watch parties: in this process until `connect_redis` (then shared through Redis).
        self.rooms: RoomHub = EmbeddedRooms(RoomLimits(settings.room_size, settings.max_rooms))
        self.loop_lag = LoopLagMonitor()
        self.gc_pauses = GcPauses()
        self.freezer = Freezer()
        self.viewers = 0  # open WebSocket connections

    async def connect_redis(self) -> None:
        """Connect to `settings.redis_url` (at start-up); RedisUnavailable names the URL."""
        url = self.settings.redis_url
        if url is None:
            return
        client = await open_redis(url)
        self.redis = client
        self.rooms = room_hub(self.rooms.limits, client)
        log.info("coordinating with other replicas through Redis at %s", url)
        # One build per session across the replicas: the registry builds through a lease.
        self.leases = BuildLeases(
            client,
            self._build_within_budget,
            lease_seconds=self.settings.lease_seconds,
            cached=self.is_cached,
            where=url,
        )
        self.registry.coordinator = self.leases
        self.leases.start()

    async def close_redis(self) -> None:
        if self.leases is not None:
            self.registry.coordinator = None
            await self.leases.close()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    @property
    def builds_started(self) -> int:
        """Builds this process ran. With Redis, not the sessions it only opened from the
        shared cache folder, nor those it waited for another replica to build."""
        return self.registry.builds_started

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir or default_cache_dir()

    async def _build_within_budget(self, ref: SessionRef, progress: Progress) -> Timeline:
        """Build (or open), hold its file, then delete the least recently used store files
        over the disk budget, sparing the files of every session held here or by any
        other server sharing the folder."""
        timeline = await self._builder(ref, progress)
        self.freezer.settle()  # its events, laps and metadata live as long as it is held
        hold = await asyncio.to_thread(FileHold, cache_path(ref, self.cache_dir))
        self._release_hold(ref.key)
        self._holds[ref.key] = hold
        held = [s.ref for s in self.registry.held_sessions()] + [ref]
        keep = {cache_path(r, self.cache_dir) for r in held}
        budget = self.settings.cache_budget_mb << 20
        removed = await asyncio.to_thread(prune_cache, self.cache_dir, budget, keep)
        if removed:
            log.info(
                "cache over %d MB: removed %d least recently used files", budget >> 20, len(removed)
            )
        return timeline

    def remove_partial_files(self) -> None:
        """Temporary files a killed build left behind (call at start-up)."""
        if self.cache_dir.is_dir():
            for path in remove_partial_files(self.cache_dir):
                log.warning("removed a partial file left by an interrupted build: %s", path.name)

    def damaged(self, session: LoadedSession, exc: DamagedTimeline) -> None:
        """The session's file was damaged under us: let go of it everywhere; the next
        open finds the file damaged, deletes it and builds the session again."""
        log.warning("session %s is damaged, unloading it: %s", session.id, exc)
        self.registry.unload(session.id)

    def _release_hold(self, session_id: str) -> None:
        hold = self._holds.pop(session_id, None)
        if hold is not None:
            hold.release()

    async def get_session(
        self, ref: SessionRef, client: str, listener: Listener | None = None
    ) -> LoadedSession:
        """The loaded session (built first if needed) for a viewer at address `client`."""
        return await self.registry.get(ref, listener, client)

    def resolve(self, name_or_id: str) -> SessionRef:
        """A client's session name, or a session id: one this process knows, or one
        whose file is in the cache folder (opened by another replica, or before a restart)."""
        known = self.registry.ref_of(name_or_id)
        if known is not None:
            return known
        try:
            return self.catalogue.resolve(name_or_id)
        except SessionForbidden as exc:
            raise SessionRejected(400, "forbidden", str(exc)) from None
        except BadOption as exc:
            raise SessionRejected(400, "bad_option", str(exc)) from None
        except SessionNotFound as exc:
            cached = self._cached_ref(name_or_id)
            if cached is None:
                raise SessionRejected(404, "session_not_found", str(exc)) from None
            return cached

    def _cached_ref(self, session_id: str) -> SessionRef | None:
        """The session a cached file names, if this server would serve it under this id:
        its name goes through the catalogue's checks as a client's would."""
        name = cached_session_name(session_id, self.cache_dir)
        if name is None:
            return None
        try:
            ref = self.catalogue.resolve(self.catalogue.public_name(SessionRef.parse(name)))
        except (SessionForbidden, BadOption, SessionNotFound):
            return None
        return ref if ref.key == session_id else None

    def is_cached(self, ref: SessionRef) -> bool:
        """Its timeline's file is in the cache folder: opening it costs milliseconds."""
        return cache_path(ref, self.cache_dir).is_file()

    def metadata(self, session: LoadedSession) -> dict[str, Any]:
        """The session's metadata (the WebSocket's `ready`, GET .../metadata): made once
        per loaded session, and let go of with it."""
        return session.derive("metadata", lambda: self._make_metadata(session))

    def _make_metadata(self, session: LoadedSession) -> dict[str, Any]:
        tl = session.timeline
        info = asdict(tl.info)
        info["kind"] = tl.info.kind.value
        geometry = None
        if tl.geometry is not None:
            geometry = jsonable(asdict(tl.geometry))
        codecs = []
        for name in CODEC_NAMES:
            codec = get_codec(name)
            codecs.append(
                {
                    "name": name,
                    "rates": list(codec.rates),
                    "chunk_frames": codec.chunk_seconds * tl.fps,
                    "chunk_seconds": codec.chunk_seconds,
                    "n_chunks": codec.n_chunks(tl),
                    "per_frame": codec.per_frame,
                    "media_type": codec.media_type,
                }
            )
        views = jsonable(derived_views(tl))
        meta = {
            "id": session.id,
            "chunk_url": f"{self.settings.root_path}/api/sessions/{session.id}/chunks/"
            f"{content_version()}"
            "/{codec}/{rate}/{index}",
            "name": self.catalogue.public_name(session.ref),
            "protocol": PROTOCOL_VERSION,
            "constants": CLIENT_CONSTANTS,
            "info": jsonable(info),
            "drivers": [asdict(d) for d in tl.drivers],
            "t0": tl.t0,
            "fps": tl.fps,
            "n_frames": tl.n_frames,
            "duration": tl.duration,
            "geometry": geometry,
            "codecs": codecs,
            "problems": [self.catalogue.redact(line) for line in views["problems"]],
            "pit_loss": views["pit_loss"],
            "flags": views["flags"],
        }
        return meta


def content_version() -> str:
    """What a chunk's bytes depend on besides the session: the store format, the timeline
    build and the wire encoding. Part of every chunk URL, so those URLs stay immutable."""
    from racereplay.codec import WIRE_VERSION
    from racereplay.store.cache import build_version
    from racereplay.store.format import FORMAT_VERSION

    return f"v{FORMAT_VERSION}.{build_version()}.{WIRE_VERSION}"
