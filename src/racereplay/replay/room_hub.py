"""Where watch-party rooms live and how their changes reach the members: one interface,
two backends.

- `EmbeddedRooms`: one process alone (no `--redis`): a dict, and listeners called
  at once.
- `RedisRooms`: replicas sharing a Redis. A room is a JSON string under
  `racereplay:room:{id}` whose TTL every replica with members in it refreshes; a
  change is an optimistic transaction (WATCH, MULTI: SET and PUBLISH on the
  room's channel), and every replica subscribes to the channels of the rooms its
  members are in. If Redis goes away the hub logs it once and carries on: members
  keep playing on their own clocks; commands to the room fail with
  `rooms_unavailable` until it is back, when each room is read again.

A listener gets the whole room after each change; it may see a version twice, or
skip one, so it keeps the highest version it has seen (`Room.version`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from racereplay.replay.rooms import Room, RoomError, RoomLimits, not_found
from racereplay.replay.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Listener = Callable[[Room], None]
Edit = Callable[[Room], "Room | None"]

KEY_PREFIX = "racereplay:room:"
ROOM_TTL_SECONDS = 60  # a room nobody refreshes (no replica holds members) expires
REFRESH_SECONDS = 20.0
RECONNECT_SECONDS = 1.0
TRANSACTION_TRIES = 20


def room_key(room_id: str) -> str:
    return KEY_PREFIX + room_id


def room_channel(room_id: str) -> str:
    return f"{KEY_PREFIX}{room_id}:changes"


def unavailable() -> RoomError:
    return RoomError(
        "rooms_unavailable",
        "watch parties are unavailable for now (the server lost its Redis): "
        "you keep watching on your own clock; try again in a moment",
    )


class RoomHub:
    """The rooms' store and notifier. `listen` to a room before changing it as a member."""

    def __init__(self, limits: RoomLimits) -> None:
        self.limits = limits
        self._listeners: dict[str, list[Listener]] = {}

    # -- the members of this process --------------------------------------

    @property
    def local_rooms(self) -> int:
        """Rooms this process holds members of (bounded by `limits.max_rooms`)."""
        return len(self._listeners)

    def listen(self, room_id: str, listener: Listener) -> None:
        """Call `listener` with each new state of the room; `too_many_rooms` when this
        process already holds members of `max_rooms` rooms and this is another."""
        if room_id not in self._listeners and self.local_rooms >= self.limits.max_rooms:
            raise RoomError(
                "too_many_rooms",
                f"this server holds its limit of {self.limits.max_rooms} watch parties: "
                "try again later, or watch alone",
            )
        first = room_id not in self._listeners
        self._listeners.setdefault(room_id, []).append(listener)
        if first:
            self._subscribe(room_id)

    def unlisten(self, room_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(room_id)
        if listeners is None or listener not in listeners:
            return
        listeners.remove(listener)
        if not listeners:
            del self._listeners[room_id]
            self._unsubscribe(room_id)

    def _dispatch(self, room: Room) -> None:
        for listener in list(self._listeners.get(room.id, ())):
            try:
                listener(room)
            except Exception:
                log.exception("a watch-party listener failed on room %s", room.id)

    def _subscribe(self, room_id: str) -> None:
        """The backend starts delivering the room's changes to this process."""

    def _unsubscribe(self, room_id: str) -> None:
        """The backend stops delivering them."""

    # -- the rooms --------------------------------------------------------

    async def create(self, room: Room) -> Room:
        raise NotImplementedError

    async def get(self, room_id: str) -> Room:
        """The room, or RoomError `room_not_found`."""
        raise NotImplementedError

    async def change(self, room_id: str, edit: Edit) -> Room | None:
        """Apply `edit` to the room atomically and tell every member; None: it ended
        (the edit returned None). RoomError from `edit` passes through unchanged."""
        raise NotImplementedError

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class EmbeddedRooms(RoomHub):
    """One process alone: the rooms in a dict; changes reach listeners at once."""

    def __init__(self, limits: RoomLimits) -> None:
        super().__init__(limits)
        self._rooms: dict[str, Room] = {}

    async def create(self, room: Room) -> Room:
        self._rooms[room.id] = room
        self._dispatch(room)
        return room

    async def get(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise not_found(room_id)
        return room

    async def change(self, room_id: str, edit: Edit) -> Room | None:
        room = edit(await self.get(room_id))
        if room is None:
            del self._rooms[room_id]
            return None
        self._rooms[room_id] = room
        self._dispatch(room)
        return room


class RedisRooms(RoomHub):
    """Rooms shared by the replicas through Redis (`redis.asyncio.Redis`)."""

    def __init__(self, limits: RoomLimits, redis: Any) -> None:
        super().__init__(limits)
        self.redis = redis
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()
        self.lost = False  # Redis is unreachable right now (logged once per outage)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="rooms: redis listener"),
            asyncio.create_task(self._refresh(), name="rooms: redis ttl refresh"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    def _subscribe(self, room_id: str) -> None:
        self._subscriptions.put_nowait((True, room_id))

    def _unsubscribe(self, room_id: str) -> None:
        self._subscriptions.put_nowait((False, room_id))

    # -- the rooms --------------------------------------------------------

    async def create(self, room: Room) -> Room:
        try:
            await self.redis.set(room_key(room.id), room.dumps(), ex=ROOM_TTL_SECONDS, nx=True)
        except Exception as exc:
            raise self._lost(exc) from None
        self._dispatch(room)
        return room

    async def get(self, room_id: str) -> Room:
        try:
            raw = await self.redis.get(room_key(room_id))
        except Exception as exc:
            raise self._lost(exc) from None
        if raw is None:
            raise not_found(room_id)
        return Room.loads(raw)

    async def change(self, room_id: str, edit: Edit) -> Room | None:
        from redis.exceptions import WatchError

        key = room_key(room_id)
        for _ in range(TRANSACTION_TRIES):
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise not_found(room_id)
                    room = edit(Room.loads(raw))
                    pipe.multi()
                    if room is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, room.dumps(), ex=ROOM_TTL_SECONDS)
                        pipe.publish(room_channel(room_id), room.dumps())
                    await pipe.execute()
            except WatchError:
                continue  # another member changed the room meanwhile: edit the new state
            except RoomError:
                raise
            except Exception as exc:
                raise self._lost(exc) from None
            if room is not None:
                self._dispatch(room)  # this replica's members at once; the echo is ignored
            return room
        raise RoomError("busy", "the watch party is changing too fast: try again")

    def _lost(self, exc: BaseException) -> RoomError:
        if not self.lost:
            self.lost = True
            log.warning(
                "watch parties lost Redis (%s): members keep playing on their own clocks", exc
            )
        return unavailable()

    # -- the changes of other replicas --------------------------------------

    async def _listen(self) -> None:
        """Deliver published changes; survive Redis going away and coming back."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()
                    self._pubsub = None
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _follow(self) -> None:
        pubsub = self._pubsub = self.redis.pubsub()
        # A channel of its own keeps the connection subscribed while no room is.
        await pubsub.subscribe(KEY_PREFIX + "replicas")
        while not self._subscriptions.empty():
            self._subscriptions.get_nowait()  # the current set is subscribed below
        rooms = list(self._listeners)
        if rooms:
            await pubsub.subscribe(*(room_channel(r) for r in rooms))
        if self.lost:
            self.lost = False
            log.info("watch parties reached Redis again")
        for room_id in rooms:  # changes missed while away (or before subscribing)
            with contextlib.suppress(RoomError):
                self._dispatch(await self.get(room_id))
        while True:
            while not self._subscriptions.empty():
                subscribe, room_id = self._subscriptions.get_nowait()
                if subscribe:
                    await pubsub.subscribe(room_channel(room_id))
                    # What changed before the subscription took effect is read once.
                    with contextlib.suppress(RoomError):
                        self._dispatch(await self.get(room_id))
                elif room_id not in self._listeners:
                    await pubsub.unsubscribe(room_channel(room_id))
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None and message["type"] == "message":
                self._dispatch(Room.loads(message["data"]))

    async def _refresh(self) -> None:
        """Keep alive the rooms this replica has members in."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            rooms = list(self._listeners)
            if not rooms:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for room_id in rooms:
                        pipe.expire(room_key(room_id), ROOM_TTL_SECONDS)
                    await pipe.execute()
            except Exception as exc:
                self._lost(exc)


def room_hub(limits: RoomLimits, redis: Any | None) -> RoomHub:
    """Redis-backed when this server has a Redis (`ServerState.redis`), else embedded."""
    return EmbeddedRooms(limits) if redis is None else RedisRooms(limits, redis)
