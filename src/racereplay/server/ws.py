"""The WebSocket endpoint: one viewer per connection, protocol version 1 (docs/protocol.md).

A viewer lives in two phases:

- a `Connection` from the first byte: it reads commands (decoded by the pure
  functions of `commands.py`), paces them with a token bucket, holds a few of
  them (coalesced) while the session loads, and sends messages through a small
  bounded queue, so a slow client blocks only its own sender;
- a `Watch` once the session is loaded: the session and the viewer's clock,
  present from the start. Its pump sends the shared, pre-encoded chunks a little
  ahead of the clock and sleeps until the next one is due, a command wakes it,
  or a heartbeat. When the queue is full it drops data and skips the viewer
  forward; a viewer stuck for `stuck_seconds` is closed (4008) and, if it does
  not read the close frame either, its transport is aborted.

Delivery (`?delivery=`): `push` sends the chunk bytes over the socket; `http`
sends, on the same schedule, `next` hints naming the chunk to fetch from its
immutable URL, so an HTTP cache in front (nginx, a CDN) serves the bytes. A
viewer whose fetches fail asks for `push` with a `delivery` command.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from racereplay.codec import Codec, Message, UnknownCodec, get_codec, packb
from racereplay.replay.player import ClockError, PlaybackClock
from racereplay.replay.registry import BuildFailed, BuildRefused, LoadedSession, SessionStatus
from racereplay.replay.rooms import CLOCK_REASONS
from racereplay.replay.tasks import cancel_and_wait
from racereplay.server.commands import (
    DELIVERIES,
    ROOM_COMMANDS,
    Command,
    CommandError,
    CommandQueue,
    TokenBucket,
    decode_command,
)
from racereplay.server.protocol import (
    CLIENT_CONSTANTS,
    CLOSE_BAD_PARAMS,
    CLOSE_FAILED,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_SLOW,
    CLOSE_TRY_LATER,
    COMMAND_BURST,
    COMMANDS_PER_SECOND,
    MAX_FRAMES_PER_WALL_SECOND,
    PROTOCOL_VERSION,
)
from racereplay.server.rooms import Party
from racereplay.server.state import ServerState, SessionRejected
from racereplay.server.transport import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    abort_transport,
    origin_allowed,
    route_path,
)
from racereplay.timeline.model import DamagedTimeline

log = logging.getLogger(__name__)

LEAD_WALL_SECONDS = 2.0  # data sent ahead of the clock: the client's playout buffer
HEARTBEAT_PAUSED = 1.0
HEARTBEAT_PLAYING = 5.0
QUEUE_CHUNKS = 3  # data messages a viewer may have waiting, in chunks
HINT_QUEUE = 96  # `next` hints a viewer may have waiting: 2 s ahead at 64x is 64 chunks
CONTROL_SLACK = 64  # control messages beyond that before a viewer counts as not reading
REFUSAL_INTERVAL = 1.0  # at most one `too_many` answer per second: a flood gets silence


class SendQueue:
    """A bounded FIFO of outgoing messages; data may be purged, control never is."""

    def __init__(self, data_limit: int) -> None:
        self.data_limit = data_limit
        self._items: collections.deque[tuple[bool, Message]] = collections.deque()
        self._data = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def room_for(self, n: int) -> bool:
        return self._data + n <= self.data_limit

    def put_data(self, messages: tuple[Message, ...]) -> None:
        self._items.extend((True, m) for m in messages)
        self._data += len(messages)
        self._ready.set()

    def put_control(self, message: Message) -> bool:
        """False when the client has stopped reading (too many control messages waiting)."""
        if len(self._items) - self._data >= CONTROL_SLACK:
            return False
        self._items.append((False, message))
        self._ready.set()
        return True

    def purge_data(self) -> None:
        self._items = collections.deque(item for item in self._items if not item[0])
        self._data = 0

    async def get(self) -> Message:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        is_data, message = self._items.popleft()
        if is_data:
            self._data -= 1
        return message


def data_limit(codec: Codec, rate: int, delivery: str = "push") -> int:
    if delivery == "http":
        # A hint is a few bytes and the loop that queues them never waits (nothing to
        # encode): room for a whole lead at the top speed, else a fast viewer is skipped.
        return HINT_QUEUE
    per_chunk = 1 if not codec.per_frame else codec.chunk_seconds * rate + 1
    return QUEUE_CHUNKS * per_chunk


def parse_rate(codec: Codec, rate: str | int) -> int:
    try:
        value = int(rate)
    except (TypeError, ValueError):
        value = -1
    if value not in codec.rates:
        raise CommandError(
            "bad_value",
            f"rate {str(rate)[:20]!r} is not offered by codec {codec.name}: "
            f"use one of {', '.join(map(str, codec.rates))} or 'auto'",
        )
    return value


def check_delivery(delivery: str, codec: Codec) -> str:
    """`delivery` if this codec can be delivered so; else CommandError (bad_value)."""
    if delivery not in DELIVERIES:
        raise CommandError(
            "bad_value", f"delivery {delivery[:20]!r} is not offered: use http or push"
        )
    if delivery == "http" and codec.per_frame:
        raise CommandError(
            "bad_value",
            f"http delivery carries compact chunks only: use delivery=push for {codec.name}",
        )
    return delivery


def auto_rate(codec: Codec, speed: float, steps_down: int) -> int:
    """The best rate that keeps rate x speed within the cap, `steps_down` rates lower."""
    rates = sorted(codec.rates, reverse=True)
    fitting = [r for r in rates if r * speed <= MAX_FRAMES_PER_WALL_SECOND]
    best = rates.index(fitting[0]) if fitting else len(rates) - 1
    return rates[min(best + steps_down, len(rates) - 1)]


class Connection:
    """One WebSocket: commands in (paced, held while loading), messages out (bounded)."""

    def __init__(
        self, ws: WebSocket, state: ServerState, codec: str, rate: str, delivery: str = "push"
    ) -> None:
        self.ws = ws
        self.state = state
        self.codec = get_codec(codec)
        self.delivery = check_delivery(delivery, self.codec)
        self.auto = rate == "auto"
        self.rate = self.codec.rates[0] if self.auto else parse_rate(self.codec, rate)
        self.queue = SendQueue(data_limit(self.codec, self.rate, self.delivery))
        self.bucket = TokenBucket(COMMANDS_PER_SECOND, COMMAND_BURST)
        self.held = CommandQueue()  # commands waiting for the session or for a token
        self.watch: Watch | None = None
        self.closing: tuple[int, str] | None = None
        self._refused_at = -math.inf
        self.refused = 0  # commands refused or dropped for pacing, for tests and logs

    # -- messages ---------------------------------------------------------

    def control(self, message: dict[str, Any]) -> None:
        if not self.queue.put_control(packb(message)):
            self.close_soon(CLOSE_TOO_SLOW, "too slow: the client did not read its messages")

    def error(self, code: str, message: str, seq: int | None = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if seq is not None:
            body["seq"] = seq
        self.control(body)

    def on_progress(self, status: SessionStatus) -> None:
        self.control(
            {
                "type": "progress",
                "state": status.state.value,
                "fraction": status.fraction,
                "message": status.message,
                "queue_position": status.queue_position,
            }
        )

    def close_soon(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
        if self.watch is not None:
            self.watch.wake()

    # -- commands ---------------------------------------------------------

    async def read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                command = decode_command(message)
            except CommandError as exc:
                if self.bucket.take():
                    self.error(exc.code, str(exc))
                else:
                    self._refuse(None)
                continue
            self.take(command)

    def take(self, command: Command) -> None:
        """Apply a command now, or hold it for later (coalesced), or refuse it."""
        if command.kind == "ping":
            if self.bucket.take():
                self._pong(command)
            else:
                self._refuse(command.seq)
        elif self.watch is None or len(self.held) or not self.bucket.take():
            # Loading, or out of tokens: the last seek/speed/quality/play-pause waits its turn.
            self.held.put(command)
            if self.watch is not None:
                self.watch.wake()
        else:
            self.watch.apply(command)

    def release_held(self) -> float:
        """Apply held commands while tokens last; seconds until the next can go (inf: none)."""
        assert self.watch is not None
        while len(self.held):
            if not self.bucket.take():
                return self.bucket.seconds_until_token()
            command = self.held.pop()
            assert command is not None
            self.watch.apply(command)
        return math.inf

    def _pong(self, command: Command) -> None:
        body: dict[str, Any] = {"type": "pong", "t": command.value, "server_time": time.time()}
        if command.seq is not None:
            body["seq"] = command.seq
        self.control(body)

    def _refuse(self, seq: int | None) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._refused_at >= REFUSAL_INTERVAL:
            self._refused_at = now
            self.error(
                "too_many",
                f"too many commands: at most {COMMANDS_PER_SECOND:g} a second "
                f"(bursts of {COMMAND_BURST}); the rest are dropped",
                seq,
            )

    async def send(self) -> None:
        while True:
            message = await self.queue.get()
            if isinstance(message, bytes):
                await self.ws.send_bytes(message)
            else:
                await self.ws.send_text(message)


class Watch:
    """A connection watching one loaded session: its clock, its codec and rate, what was sent."""

    def __init__(self, connection: Connection, session: LoadedSession) -> None:
        tl = session.timeline
        self.connection = connection
        self.state = connection.state
        self.session = session
        self.clock = PlaybackClock(tl.n_frames, tl.fps)
        self.codec, self.auto, self.rate = connection.codec, connection.auto, connection.rate
        self.delivery = connection.delivery  # "push": chunk bytes; "http": `next` hints
        self.auto_steps_down = 0  # auto quality: how many steps down from the best rate
        self.queue = connection.queue
        if self.auto:
            self.rate = auto_rate(self.codec, self.clock.speed, 0)
        self.queue.data_limit = data_limit(self.codec, self.rate, self.delivery)
        self.next_chunk = 0
        self.generation = 0  # bumped by every command that invalidates in-flight data
        self.skipped = False
        self.stuck_since: float | None = None
        self.last_state = 0.0
        self._wake: asyncio.Future[None] | None = None
        self.party = Party(self, self.state.rooms)  # a watch party's member (server/rooms.py)

    def wake(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def send_state(self, reason: str, seq: int | None = None) -> None:
        frame = self.clock.position()
        message = {
            "type": "state",
            "reason": reason,
            "playing": self.clock.playing,
            "speed": self.clock.speed,
            "frame": frame,
            "time": self.session.timeline.t0 + frame / self.session.timeline.fps,
            "server_time": time.time(),
            "codec": self.codec.name,
            "rate": self.rate,
            "auto": self.auto,
            "delivery": self.delivery,
        }
        if seq is not None:
            message["seq"] = seq
        self.connection.control(message)
        self.last_state = time.monotonic()

    # -- commands ---------------------------------------------------------

    def apply(self, command: Command) -> None:
        if command.kind in ROOM_COMMANDS or (self.party.in_room and command.kind in CLOCK_REASONS):
            self._to_room(command)
            return
        try:
            if command.kind == "play":
                self.clock.play()
            elif command.kind == "pause":
                self.clock.pause()
            elif command.kind == "speed":
                self._speed(command)
            elif command.kind == "seek":
                self.clock.seek(self._seek_frame(command))
                self._restart_data()
            elif command.kind == "quality":
                self._quality(command)
            elif command.kind == "delivery":
                assert command.delivery is not None
                self.delivery = check_delivery(command.delivery, self.codec)
                self.queue.data_limit = data_limit(self.codec, self.rate, self.delivery)
                self._restart_data()  # e.g. push what the client failed to fetch
            self.send_state(command.kind, command.seq)
        except (ClockError, CommandError) as exc:
            code = exc.code if isinstance(exc, CommandError) else "bad_value"
            self.connection.error(code, str(exc), command.seq)
        self.wake()

    def _to_room(self, command: Command) -> None:
        """A room command, or a clock command that moves the room's clock (the watch's
        own clock follows the room's when the change comes back, server/rooms.py)."""
        try:
            move = self._clock_move(command) if command.kind in CLOCK_REASONS else None
        except CommandError as exc:
            self.connection.error(exc.code, str(exc), command.seq)
            return
        self.party.take(command, move)

    def _clock_move(self, command: Command) -> Callable[[PlaybackClock], None]:
        if command.kind == "seek":
            frame = self._seek_frame(command)
            return lambda clock: clock.seek(frame)
        if command.kind == "speed":
            speed = command.value
            return lambda clock: clock.set_speed(speed)  # type: ignore[arg-type]
        return PlaybackClock.play if command.kind == "play" else PlaybackClock.pause

    # What a watch party needs of its member's watch (rooms.Watching).
    @property
    def session_id(self) -> str:
        return self.session.id

    def control(self, message: dict[str, Any]) -> None:
        self.connection.control(message)

    def error(self, code: str, message: str, seq: int | None = None) -> None:
        self.connection.error(code, message, seq)

    def restart_data(self) -> None:
        self._restart_data()

    def fit_rate_to_speed(self) -> None:
        """Auto quality: the rate that suits the clock's speed (data restarts if it changed)."""
        if self.auto and auto_rate(self.codec, self.clock.speed, self.auto_steps_down) != self.rate:
            self.rate = auto_rate(self.codec, self.clock.speed, self.auto_steps_down)
            self._restart_data()

    def _restart_data(self) -> None:
        """Forget queued data: the next chunk sent is the one at the clock's position."""
        self.generation += 1
        self.queue.purge_data()
        self.next_chunk = self.codec.chunk_of_frame(self.session.timeline, self.clock.frame())

    def _speed(self, command: Command) -> None:
        assert command.value is not None
        self.clock.set_speed(command.value)
        self.fit_rate_to_speed()

    def _seek_frame(self, command: Command) -> float:
        tl = self.session.timeline
        assert command.value is not None
        if command.target == "frame":
            return command.value
        if command.target == "time":
            return (command.value - tl.t0) * tl.fps
        return float(self._frame_of_lap(int(command.value)))

    def _frame_of_lap(self, lap: int) -> int:
        tl = self.session.timeline
        if tl.verify_frames is not None:
            try:
                tl.verify_frames(0, 0)  # the file is whole: its pages can be read
            except DamagedTimeline as exc:
                self.damaged(exc)
                raise CommandError("session_damaged", str(exc)) from None
        leader_lap = np.asarray(tl.frames["leader_lap"])
        top = int(np.max(leader_lap)) if len(leader_lap) else 0
        if not 1 <= lap <= top:
            raise CommandError("bad_value", f"no lap {lap} in this session: use 1 to {top}")
        return int(np.argmax(leader_lap >= lap))

    def _quality(self, command: Command) -> None:
        try:
            codec = get_codec(command.codec or self.codec.name)
        except UnknownCodec as exc:
            raise CommandError("bad_value", str(exc)) from None
        check_delivery(self.delivery, codec)
        rate = command.rate if command.rate is not None else ("auto" if self.auto else self.rate)
        auto = rate == "auto"
        chosen = auto_rate(codec, self.clock.speed, 0) if auto else parse_rate(codec, rate)
        self.codec, self.auto, self.rate, self.auto_steps_down = codec, auto, chosen, 0
        self.queue.data_limit = data_limit(codec, chosen, self.delivery)
        self._restart_data()

    # -- sending ----------------------------------------------------------

    async def pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self.connection.closing is None:
            if self.clock.stop_if_ended():
                self.send_state("end")
            held_due = self.connection.release_held()
            delay = await self._fill()
            heartbeat = HEARTBEAT_PLAYING if self.clock.playing else HEARTBEAT_PAUSED
            due = self.last_state + heartbeat - time.monotonic()
            if due <= 0:
                self.send_state("heartbeat")
                due = heartbeat
            if self.connection.closing is not None:
                break
            self._wake = loop.create_future()
            timer = loop.call_later(min(delay, due, held_due), self.wake)
            try:
                await self._wake
            finally:
                timer.cancel()
                self._wake = None

    async def _fill(self) -> float:
        """Queue the chunks the clock needs now; seconds until the next one is due."""
        tl = self.session.timeline
        while True:
            span = self.codec.chunk_seconds * tl.fps
            position = self.clock.position()
            lead = LEAD_WALL_SECONDS * self.clock.speed * tl.fps if self.clock.playing else 0.0
            wanted = self.codec.chunk_of_frame(tl, int(position + max(lead, span)))
            if self.next_chunk >= self.codec.n_chunks(tl):
                return math.inf
            if self.next_chunk > wanted:
                due_frame = self.next_chunk * span - max(lead, span)
                return self.clock.seconds_until(due_frame)
            generation, codec, rate = self.generation, self.codec, self.rate
            wire = self.state.wire
            if self.delivery == "http":
                # The same schedule, a few bytes instead of the chunk: the client fetches it.
                hint = {"type": "next", "codec": codec.name, "rate": rate, "chunk": self.next_chunk}
                messages: tuple[Message, ...] = (packb(hint),)
            else:
                cached = wire.cached(self.session.id, codec.name, rate, self.next_chunk)
                try:
                    messages = cached or await wire.messages(
                        self.session, codec, rate, self.next_chunk
                    )
                except DamagedTimeline as exc:
                    self.damaged(exc)
                    return math.inf
            if generation != self.generation:
                continue  # a command moved the clock or changed quality while we encoded
            if not self.queue.room_for(len(messages)):
                return self._skip_forward(position)
            if self.skipped:
                self.skipped = False
                self.send_state("skip")
            self.stuck_since = None
            self.queue.put_data(messages)
            self.next_chunk += 1
            if self.delivery == "push":
                wire.prefetch(self.session, codec, rate, self.next_chunk)

    def damaged(self, exc: DamagedTimeline) -> None:
        self.state.damaged(self.session, exc)
        message = "this session's cache file was damaged: it is being rebuilt, reconnect"
        self.connection.error("session_damaged", message)
        self.connection.close_soon(CLOSE_TRY_LATER, message)

    def _skip_forward(self, position: float) -> float:
        """The client is not keeping up: drop what it missed, maybe lower the rate, maybe close."""
        now = time.monotonic()
        if self.stuck_since is None:
            self.stuck_since = now
        elif now - self.stuck_since > self.state.settings.stuck_seconds:
            self.connection.close_soon(CLOSE_TOO_SLOW, "too slow: the client did not read its data")
            return math.inf
        current = self.codec.chunk_of_frame(self.session.timeline, int(position))
        if current > self.next_chunk:
            self.next_chunk = current
            self.skipped = True
            if self.auto and self.auto_steps_down < len(self.codec.rates) - 1:
                self.auto_steps_down += 1
                self.rate = auto_rate(self.codec, self.clock.speed, self.auto_steps_down)
                self.queue.data_limit = data_limit(self.codec, self.rate, self.delivery)
        return 0.25  # look again soon: the queue drains as the client reads


# -- the endpoint -------------------------------------------------------------


async def viewer_socket(ws: WebSocket) -> None:
    """`/ws?session=NAME&codec=compact&rate=auto&delivery=push&room=ID&name=NAME`."""
    query = ws.query_params
    session, room, name = query.get("session", ""), query.get("room", ""), query.get("name", "")
    codec, rate = query.get("codec", "compact"), query.get("rate", "auto")
    delivery = query.get("delivery", "push")
    state: ServerState = ws.app.state.racereplay
    await ws.accept()
    refusal = _refusal(ws, state, session)
    try:
        connection = Connection(ws, state, codec, rate, delivery)
    except (UnknownCodec, CommandError) as exc:
        refusal = refusal or (CLOSE_BAD_PARAMS, "bad_value", str(exc))
    if refusal is not None:
        code, error, message = refusal
        await ws.send_bytes(packb({"type": "error", "code": error, "message": message}))
        await _close(ws, code, message, state.settings.close_wait_seconds)
        return
    state.viewers += 1
    tasks = {
        asyncio.create_task(connection.read(), name="ws reader"),
        asyncio.create_task(connection.send(), name="ws sender"),
    }
    try:
        loaded = await _race(tasks, _wait_for_session(connection, session))
        if loaded is not None and connection.closing is None:
            await _watch(connection, loaded, tasks, room, name)
        await _drain_then_close(connection, tasks)
    finally:
        state.viewers -= 1
        state.freezer.left(state.viewers)
        await cancel_and_wait(tasks)


def _refusal(ws: WebSocket, state: ServerState, session: str) -> tuple[int, str, str] | None:
    """Why this connection is refused before it starts: (close code, error code, message)."""
    origin = ws.headers.get("origin")
    if not origin_allowed(origin, ws.headers.get("host", ""), state.settings.allowed_origins):
        return (
            CLOSE_FORBIDDEN,
            "forbidden",
            f"origin {str(origin)[:100]!r} may not use this server "
            "(start it with --allow-origin URL or RACEREPLAY_ALLOW_ORIGIN=URL)",
        )
    if not session:
        return (
            CLOSE_BAD_PARAMS,
            "bad_value",
            "connect with ?session=NAME (see GET /api/catalogue)",
        )
    return None


async def _wait_for_session(connection: Connection, name: str) -> LoadedSession | None:
    state = connection.state
    try:
        ref = state.resolve(name)
    except SessionRejected as exc:
        connection.error(exc.code, str(exc))
        code = CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_BAD_PARAMS
        connection.close_soon(code, str(exc))
        return None
    connection.control(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "session": ref.key,
            "server": state.version,
            "constants": CLIENT_CONSTANTS,
        }
    )
    try:
        return await state.get_session(ref, _client_of(connection.ws), connection.on_progress)
    except BuildRefused as exc:
        connection.error(exc.code, str(exc))
        connection.close_soon(CLOSE_TRY_LATER, str(exc))
    except BuildFailed as exc:
        connection.error("session_failed", str(exc))
        connection.close_soon(CLOSE_FAILED, str(exc))
    return None


def _client_of(ws: WebSocket) -> str:
    return ws.client.host if ws.client is not None else "unknown"


async def _close(ws: WebSocket, code: int, reason: str, wait: float) -> None:
    """Close with `code`; a client that does not take the close frame within `wait`
    seconds (it queues behind the data the client has not read) has its transport
    aborted, so its unsent bytes are freed rather than held by the kernel."""
    try:
        await asyncio.wait_for(ws.close(code, reason[:120]), timeout=wait)
    except Exception:
        abort_transport(ws.scope)


async def _race(tasks: set[asyncio.Task[Any]], work: Any) -> Any:
    """Run `work` until done, or None if the client leaves first (the build carries on)."""
    job = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({job, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    if job in done:
        return job.result()
    await cancel_and_wait([job])
    return None


async def _watch(
    connection: Connection,
    session: LoadedSession,
    tasks: set[asyncio.Task[Any]],
    room: str = "",
    name: str = "",
) -> None:
    state = connection.state
    state.registry.attach(session)
    state.freezer.watch()  # this viewer's objects live as long as it watches
    try:
        watch = Watch(connection, session)
        connection.watch = watch
        try:
            metadata = state.metadata(session)  # reads whole columns of the mapped file
        except DamagedTimeline as damage:
            watch.damaged(damage)
            return
        connection.control({"type": "ready", "metadata": metadata})
        watch.send_state("join")
        if room:  # `?room=ID`: join the watch party at once
            watch.apply(Command("room_join", room=room, name=name or None))
        for command in connection.held.drain():  # held while loading: already coalesced
            watch.apply(command)
        pump = asyncio.create_task(watch.pump(), name="ws pump")
        tasks.add(pump)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if not isinstance(exc, WebSocketDisconnect | ConnectionError):
                    log.warning("viewer task %s failed: %r", task.get_name(), exc)
                    connection.close_soon(CLOSE_FAILED, "server error")
    finally:
        if connection.watch is not None:
            await connection.watch.party.close()
        state.registry.detach(session)


async def _drain_then_close(connection: Connection, tasks: set[asyncio.Task[Any]]) -> None:
    if connection.closing is None:
        return
    code, reason = connection.closing
    if code != CLOSE_TOO_SLOW:
        # Let the sender flush the error message before the close frame.
        for _ in range(20):
            if not len(connection.queue):
                break
            await asyncio.sleep(0.01)
    await cancel_and_wait(tasks)
    await _close(connection.ws, code, reason, connection.state.settings.close_wait_seconds)


class ViewerSockets:
    """ASGI middleware: `/ws` straight to `viewer_socket`, ahead of the framework's
    exception handlers, router and dependency injection, whose frames (exit stacks, a
    second WebSocket) would otherwise stay on every viewer's stack for its whole
    connection. Put it inside `Guard`, which checks the Host header first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and route_path(scope) == "/ws":
            await viewer_socket(WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)
