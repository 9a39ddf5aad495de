"""Watch parties on the server: one viewer's place in a room (`Party`), and
`GET /api/rooms/{id}`.

A `Party` belongs to a WebSocket watch (ws.py). It turns the viewer's room
commands into changes of the room (replay/rooms.py) through the server's hub
(replay/room_hub.py, `ServerState.rooms`), and makes the watch follow every new
state of the room: the watch's own clock is put where the room's clock is, so
its data push and heartbeats carry on as for any viewer, and a jump of the room
restarts its data at the new moment. Room commands of one viewer run one after
another, in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, HTTPException, Request

from racereplay.replay.player import ClockError, PlaybackClock
from racereplay.replay.rooms import (
    CLOCK_REASONS,
    Member,
    Room,
    RoomError,
    check_room_id,
    control,
    display_name,
    hand_over,
    join,
    leave,
    new_member_id,
    new_room,
    set_policy,
)
from racereplay.replay.tasks import cancel_and_wait
from racereplay.server.commands import Command, CommandError

log = logging.getLogger(__name__)

router = APIRouter()

# A member whose clock is this far from the room's (seconds of replay) jumps to it,
# and its data restarts there; closer, it only takes the room's speed and play state.
JUMP_SECONDS = 0.1
# `room` messages to one member at most this often (the latest state wins): a party
# filling up would otherwise send every member every join, n^2 messages.
ROOM_MESSAGE_EVERY = 0.1


class Watching(Protocol):
    """What a party needs of the watch it belongs to (ws.Watch)."""

    clock: PlaybackClock

    @property
    def session_id(self) -> str: ...

    def control(self, message: dict[str, Any]) -> None: ...
    def error(self, code: str, message: str, seq: int | None = None) -> None: ...
    def send_state(self, reason: str, seq: int | None = None) -> None: ...
    def restart_data(self) -> None: ...
    def fit_rate_to_speed(self) -> None: ...
    def wake(self) -> None: ...


class Party:
    """One viewer's membership of (at most) one room."""

    def __init__(self, watch: Watching, hub: Any) -> None:
        self.watch = watch
        self.hub = hub  # replay.room_hub.RoomHub
        self.member_id = new_member_id()
        self.name = display_name(None, self.member_id)
        self.room_id: str | None = None
        self.version = 0  # the highest version of the room followed
        self._ack: int | None = None  # the seq of this member's change under way
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsent: Room | None = None  # the newest state not yet told
        self._told_at = -math.inf
        self._timer: asyncio.TimerHandle | None = None

    @property
    def in_room(self) -> bool:
        return self.room_id is not None

    def take(self, command: Command, move: Callable[[PlaybackClock], None] | None = None) -> None:
        """Run a room command, or a clock command (`move`) on the room, after the ones before."""
        task = asyncio.create_task(self._run(command, move), name=f"room {command.kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, command: Command, move: Callable[[PlaybackClock], None] | None) -> None:
        async with self._lock:
            self._ack = command.seq
            try:
                await self._apply(command, move)
            except RoomError as exc:
                self.watch.error(exc.code, str(exc), command.seq)
                if exc.code == "not_host":
                    # The client may have moved its own clock already: put it back.
                    self.watch.send_state("seek", command.seq)
            except (ClockError, CommandError) as exc:
                code = exc.code if isinstance(exc, CommandError) else "bad_value"
                self.watch.error(code, str(exc), command.seq)
            except Exception:
                log.exception("watch party command %s failed", command.kind)
                self.watch.error("server_error", "the watch party command failed", command.seq)
            finally:
                self._ack = None

    async def _apply(self, command: Command, move: Callable[[PlaybackClock], None] | None) -> None:
        kind, seq = command.kind, command.seq
        if kind == "room_create":
            await self._create(command.name, seq)
        elif kind == "room_join":
            await self._join(command.room or "", command.name, seq)
        elif kind == "room_leave":
            await self._leave(seq)
        elif kind == "room_host":
            me, to = self.member_id, command.member or ""
            await self._change(lambda room: hand_over(room, me, to), seq)
        elif kind == "room_policy":
            me, policy = self.member_id, command.policy or ""
            await self._change(lambda room: set_policy(room, me, policy), seq)
        elif kind in CLOCK_REASONS and move is not None:
            me = self.member_id
            await self._change(lambda room: control(room, me, kind, move, time.time()), seq)
        else:
            raise CommandError("unknown_command", f"{kind} is no watch party command")

    async def _change(self, edit: Callable[[Room], Room | None], seq: int | None) -> None:
        if self.room_id is None:
            raise RoomError("not_member", "you are in no watch party: create or join one first")
        room = await self.hub.change(self.room_id, edit)
        if room is not None:
            self._follow(room, seq)

    async def _create(self, name: str | None, seq: int | None) -> None:
        await self._leave(None, quiet=True)
        if name is not None:
            self.name = display_name(name, self.member_id)
        tl = self.watch.clock
        room = new_room(
            self.watch.session_id, tl.n_frames, tl.fps, Member(self.member_id, self.name), tl
        )
        self.hub.listen(room.id, self._on_room)
        self.room_id, self.version = room.id, 0
        try:
            await self.hub.create(room)
        except RoomError:
            self._forget()
            raise
        self._follow(room, seq)

    async def _join(self, room_id: str, name: str | None, seq: int | None) -> None:
        check_room_id(room_id)
        if name is not None:
            self.name = display_name(name, self.member_id)
        if room_id != self.room_id:
            await self._leave(None, quiet=True)
            self.hub.listen(room_id, self._on_room)
            self.room_id, self.version = room_id, 0
        me, session = Member(self.member_id, self.name), self.watch.session_id
        limits = self.hub.limits

        def enter(room: Room) -> Room:
            if room.session != session:
                raise RoomError(
                    "room_other_session",
                    "this watch party plays another session: open the party's own link",
                )
            return join(room, me, limits)

        try:
            room = await self.hub.change(room_id, enter)
        except RoomError:
            self._forget()
            raise
        assert room is not None
        self._follow(room, seq)

    async def _leave(self, seq: int | None, quiet: bool = False) -> None:
        """Leave the room (watching on alone from this moment); the room ends with its
        last member. `quiet`: no `room_left` message (another room follows)."""
        room_id = self.room_id
        if room_id is None:
            if not quiet:
                raise RoomError("not_member", "you are in no watch party")
            return
        self._forget()
        me = self.member_id
        try:
            await self.hub.change(room_id, lambda room: leave(room, me))
        except RoomError as exc:
            if exc.code != "room_not_found":
                raise
        if not quiet:
            body: dict[str, Any] = {"type": "room_left", "id": room_id}
            if seq is not None:
                body["seq"] = seq
            self.watch.control(body)

    def _forget(self) -> None:
        if self.room_id is not None:
            self.hub.unlisten(self.room_id, self._on_room)
        self.room_id, self.version = None, 0

    async def close(self) -> None:
        """The viewer went away: out of the room (best effort), nothing left running."""
        if self._timer is not None:
            self._timer.cancel()
        await cancel_and_wait(self._tasks)
        with contextlib.suppress(Exception):
            await self._leave(None, quiet=True)
        self._forget()

    # -- following the room ---------------------------------------------------

    def _on_room(self, room: Room) -> None:
        if room.id == self.room_id and room.member(self.member_id) is not None:
            seq, self._ack = self._ack, None  # this member's own change, dispatched at once
            self._follow(room, seq)

    def _follow(self, room: Room, seq: int | None = None) -> None:
        """Put the watch's clock where the room's is; tell the viewer about the room."""
        if room.version <= self.version:
            return  # an echo, or older than what the watch follows already
        self.version = room.version
        watch, target = self.watch, room.playback()
        before = watch.clock.position()
        jumped = abs(target.position() - before) > JUMP_SECONDS * target.fps
        changed = (watch.clock.playing, watch.clock.speed) != (target.playing, target.speed)
        watch.clock.follow(target)
        self._tell(room)
        if jumped or room.reason == "seek":
            watch.restart_data()
            watch.send_state("seek", seq)
        elif changed or room.reason in CLOCK_REASONS:
            watch.fit_rate_to_speed()
            reason = room.reason if room.reason in CLOCK_REASONS else None
            watch.send_state(reason or ("play" if target.playing else "pause"), seq)
        watch.wake()

    def _tell(self, room: Room) -> None:
        """Send the `room` message now, or the newest one shortly (ROOM_MESSAGE_EVERY)."""
        self._unsent = room
        if self._timer is not None:
            return
        wait = self._told_at + ROOM_MESSAGE_EVERY - time.monotonic()
        if wait <= 0:
            self._flush()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self._flush)

    def _flush(self) -> None:
        self._timer = None
        room, self._unsent = self._unsent, None
        if room is not None and room.id == self.room_id:
            self.watch.control(self.message(room))
            self._told_at = time.monotonic()

    def message(self, room: Room) -> dict[str, Any]:
        """The `room` message for this member (docs/protocol.md)."""
        return {"type": "room", "you": self.member_id, "server_time": time.time(), **room.to_json()}


@router.get("/api/rooms/{room_id}")
async def room_state(room_id: str, request: Request) -> dict[str, Any]:
    """A watch party's state: its session, clock, host, policy and members."""
    hub = request.app.state.racereplay.rooms
    try:
        room = await hub.get(check_room_id(room_id))
    except RoomError as exc:
        status = 404 if exc.code == "room_not_found" else 503
        raise HTTPException(status, str(exc)) from None
    return {**room.to_json(), "position": room.position(), "server_time": time.time()}
