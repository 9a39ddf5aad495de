"""The WebSocket endpoint: one viewer per connection, protocol version 1 (docs/protocol.md).

Three tasks per connection, each with one job:

- the reader awaits the client's commands (never polled with a timeout) and
  applies them to the viewer's clock;
- the pump sends the shared, pre-encoded chunks a little ahead of the clock,
  and sleeps until the next one is due, a command wakes it, or a heartbeat;
- the sender drains a small bounded queue into the socket, so a slow client
  blocks only its own sender. When the queue is full the pump drops data and
  skips the viewer forward; a viewer stuck for `STUCK_SECONDS` is closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from racereplay.codec import UnknownCodec, get_codec
from racereplay.replay.player import ClockError, PlaybackClock
from racereplay.replay.registry import BuildFailed, LoadedSession, SessionStatus
from racereplay.server.protocol import (
    CLIENT_CONSTANTS,
    CLOSE_BAD_PARAMS,
    CLOSE_FAILED,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_SLOW,
    MAX_COMMAND_BYTES,
    MAX_FRAMES_PER_WALL_SECOND,
    PROTOCOL_VERSION,
)
from racereplay.server.state import ServerState, SessionRejected
from racereplay.server.wire import Message, packb

log = logging.getLogger(__name__)

LEAD_WALL_SECONDS = 2.0  # data sent ahead of the clock: the client's playout buffer
HEARTBEAT_PAUSED = 1.0
HEARTBEAT_PLAYING = 5.0
STUCK_SECONDS = 10.0
CLOSE_WAIT_SLOW = 10.0  # how long a stuck viewer's close frame may wait for it to read
QUEUE_CHUNKS = 3  # data messages a viewer may have waiting, in chunks
CONTROL_SLACK = 64  # control messages beyond that before a viewer counts as not reading

router = APIRouter()


class CommandError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SendQueue:
    """A bounded FIFO of outgoing messages; data may be purged, control never is."""

    def __init__(self, data_limit: int) -> None:
        self.data_limit = data_limit
        self._items: collections.deque[tuple[bool, Message]] = collections.deque()
        self._data = 0
        self._ready = asyncio.Event()

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


class Viewer:
    """One connection's state: codec and rate, the clock, what was sent."""

    def __init__(self, ws: WebSocket, state: ServerState, codec: str, rate: str) -> None:
        self.ws = ws
        self.state = state
        self.codec = get_codec(codec)
        self.auto = rate == "auto"
        self.rate = self.codec.rates[0] if self.auto else self._parse_rate(rate)
        self.auto_cap = 0  # auto quality: how many steps down from the best rate
        self.session: LoadedSession | None = None
        self.clock: PlaybackClock | None = None
        self.queue = SendQueue(self._data_limit())
        self.next_chunk = 0
        self.generation = 0  # bumped by every command that invalidates in-flight data
        self.skipped = False
        self.stuck_since: float | None = None
        self.last_state = 0.0
        self.pending: list[dict[str, Any]] = []  # commands received before the session loaded
        self._wake: asyncio.Future[None] | None = None
        self.closing: tuple[int, str] | None = None

    # -- set-up -----------------------------------------------------------

    def _parse_rate(self, rate: str | int) -> int:
        try:
            value = int(rate)
        except (TypeError, ValueError):
            value = -1
        if value not in self.codec.rates:
            raise CommandError(
                "bad_value",
                f"rate {rate!r} is not offered by codec {self.codec.name}: "
                f"use one of {', '.join(map(str, self.codec.rates))} or 'auto'",
            )
        return value

    def _data_limit(self) -> int:
        per_chunk = 1 if not self.codec.per_frame else self.codec.chunk_seconds * self.rate + 1
        return QUEUE_CHUNKS * per_chunk

    def _auto_rate(self) -> int:
        assert self.clock is not None
        rates = sorted(self.codec.rates, reverse=True)
        fitting = [r for r in rates if r * self.clock.speed <= MAX_FRAMES_PER_WALL_SECOND]
        best = rates.index(fitting[0]) if fitting else len(rates) - 1
        return rates[min(best + self.auto_cap, len(rates) - 1)]

    # -- messages ---------------------------------------------------------

    def control(self, message: dict[str, Any]) -> None:
        if not self.queue.put_control(packb(message)):
            self.close_soon(CLOSE_TOO_SLOW, "too slow: the client did not read its messages")

    def send_state(self, reason: str, seq: Any = None) -> None:
        assert self.clock is not None and self.session is not None
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
        }
        if seq is not None:
            message["seq"] = seq
        self.control(message)
        self.last_state = time.monotonic()

    def error(self, code: str, message: str, seq: Any = None) -> None:
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
        self.wake()

    def wake(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    # -- the tasks --------------------------------------------------------

    async def read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                command = self._decode(message)
            except CommandError as exc:
                self.error(exc.code, str(exc))
                continue
            if self.clock is None:
                self.pending.append(command)
            else:
                self.apply(command)

    def _decode(self, message: Mapping[str, Any]) -> dict[str, Any]:
        raw = message.get("bytes")
        text = message.get("text")
        size = len(raw) if raw is not None else len((text or "").encode())
        if size > MAX_COMMAND_BYTES:
            raise CommandError(
                "too_large", f"command of {size} bytes ignored: at most {MAX_COMMAND_BYTES}"
            )
        try:
            command = msgpack.unpackb(raw, raw=False) if raw is not None else json.loads(text or "")
        except Exception:
            raise CommandError(
                "bad_message", "could not decode the command: send one msgpack or JSON map"
            ) from None
        if not isinstance(command, dict) or not isinstance(command.get("type"), str):
            raise CommandError("bad_message", 'a command is a map with a "type" (see protocol.md)')
        return command

    def apply(self, command: dict[str, Any]) -> None:
        seq = command.get("seq")
        kind = command["type"]
        try:
            handler = getattr(self, f"_cmd_{kind}", None)
            if handler is None:
                raise CommandError(
                    "unknown_command",
                    f"unknown command {kind!r}: use play, pause, seek, speed, quality or ping",
                )
            handler(command, seq)
        except ClockError as exc:
            self.error("bad_value", str(exc), seq)
        except CommandError as exc:
            self.error(exc.code, str(exc), seq)
        self.wake()

    def _restart_data(self) -> None:
        """Forget queued data: the next chunk sent is the one at the clock's position."""
        assert self.clock is not None and self.session is not None
        self.generation += 1
        self.queue.purge_data()
        self.next_chunk = self.codec.chunk_of_frame(self.session.timeline, self.clock.frame())

    def _cmd_play(self, command: dict[str, Any], seq: Any) -> None:
        assert self.clock is not None
        self.clock.play()
        self.send_state("play", seq)

    def _cmd_pause(self, command: dict[str, Any], seq: Any) -> None:
        assert self.clock is not None
        self.clock.pause()
        self.send_state("pause", seq)

    def _cmd_ping(self, command: dict[str, Any], seq: Any) -> None:
        body = {"type": "pong", "t": command.get("t"), "server_time": time.time()}
        if seq is not None:
            body["seq"] = seq
        self.control(body)

    def _cmd_speed(self, command: dict[str, Any], seq: Any) -> None:
        assert self.clock is not None
        value = command.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandError("bad_value", 'speed needs a number "value" (0.25 to 64)')
        self.clock.set_speed(float(value))
        if self.auto and self._auto_rate() != self.rate:
            self.rate = self._auto_rate()
            self._restart_data()
        self.send_state("speed", seq)

    def _cmd_seek(self, command: dict[str, Any], seq: Any) -> None:
        assert self.clock is not None
        self.clock.seek(self._seek_target(command))
        self._restart_data()
        self.send_state("seek", seq)

    def _seek_target(self, command: dict[str, Any]) -> float:
        assert self.session is not None
        tl = self.session.timeline
        given = [k for k in ("time", "frame", "lap") if k in command]
        if len(given) != 1:
            raise CommandError("bad_value", 'seek needs exactly one of "time", "frame" or "lap"')
        value = command[given[0]]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise CommandError("bad_value", f"seek {given[0]} must be a number, not {value!r}")
        if given[0] == "frame":
            return float(value)
        if given[0] == "time":
            return (value - tl.t0) * tl.fps
        return float(self._frame_of_lap(int(value)))

    def _frame_of_lap(self, lap: int) -> int:
        assert self.session is not None
        leader_lap = self.session.timeline.frames["leader_lap"]
        started = np.flatnonzero(np.asarray(leader_lap) >= lap)
        if lap < 1 or len(started) == 0:
            top = int(np.max(leader_lap)) if len(leader_lap) else 0
            raise CommandError("bad_value", f"no lap {lap} in this session: use 1 to {top}")
        return int(started[0])

    def _cmd_quality(self, command: dict[str, Any], seq: Any) -> None:
        name = command.get("codec", self.codec.name)
        rate = command.get("rate", "auto" if self.auto else self.rate)
        try:
            codec = get_codec(str(name))
        except UnknownCodec as exc:
            raise CommandError("bad_value", str(exc)) from None
        previous = (self.codec, self.auto, self.rate)
        self.codec, self.auto = codec, rate == "auto"
        try:
            self.rate = self._auto_rate() if self.auto else self._parse_rate(rate)
        except CommandError:
            self.codec, self.auto, self.rate = previous
            raise
        self.queue.data_limit = self._data_limit()
        self._restart_data()
        self.send_state("quality", seq)

    async def send(self) -> None:
        while True:
            message = await self.queue.get()
            if isinstance(message, bytes):
                await self.ws.send_bytes(message)
            else:
                await self.ws.send_text(message)

    async def pump(self) -> None:
        assert self.clock is not None and self.session is not None
        loop = asyncio.get_running_loop()
        while self.closing is None:
            if self.clock.stop_if_ended():
                self.send_state("end")
            delay = await self._fill()
            heartbeat = HEARTBEAT_PLAYING if self.clock.playing else HEARTBEAT_PAUSED
            due = self.last_state + heartbeat - time.monotonic()
            if due <= 0:
                self.send_state("heartbeat")
                due = heartbeat
            if self.closing is not None:
                break
            self._wake = loop.create_future()
            timer = loop.call_later(min(delay, due), self.wake)
            try:
                await self._wake
            finally:
                timer.cancel()
                self._wake = None

    async def _fill(self) -> float:
        """Queue the chunks the clock needs now; seconds until the next one is due."""
        assert self.clock is not None and self.session is not None
        tl = self.session.timeline
        span = self.codec.chunk_seconds * tl.fps
        n_chunks = self.codec.n_chunks(tl)
        while True:
            position = self.clock.position()
            lead = LEAD_WALL_SECONDS * self.clock.speed * tl.fps if self.clock.playing else 0.0
            wanted = self.codec.chunk_of_frame(tl, int(position + max(lead, span)))
            if self.next_chunk > wanted or self.next_chunk >= n_chunks:
                if self.next_chunk >= n_chunks:
                    return math.inf
                due_frame = self.next_chunk * span - max(lead, span)
                return self.clock.seconds_until(due_frame)
            generation, codec, rate = self.generation, self.codec, self.rate
            cached = self.state.wire.cached(self.session.id, codec.name, rate, self.next_chunk)
            messages = cached or await self.state.wire.messages(
                self.session, codec, rate, self.next_chunk
            )
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
            self.state.wire.prefetch(self.session, codec, rate, self.next_chunk)

    def _skip_forward(self, position: float) -> float:
        """The client is not keeping up: drop what it missed, maybe lower the rate, maybe close."""
        assert self.session is not None
        now = time.monotonic()
        if self.stuck_since is None:
            self.stuck_since = now
        elif now - self.stuck_since > STUCK_SECONDS:
            self.close_soon(CLOSE_TOO_SLOW, "too slow: the client did not read its data")
            return math.inf
        current = self.codec.chunk_of_frame(self.session.timeline, int(position))
        if current > self.next_chunk:
            self.next_chunk = current
            self.skipped = True
            if self.auto and self.auto_cap < len(self.codec.rates) - 1:
                self.auto_cap += 1
                self.rate = self._auto_rate()
                self.queue.data_limit = self._data_limit()
        return 0.25  # look again soon: the queue drains as the client reads


async def _wait_for_session(viewer: Viewer, name: str) -> LoadedSession | None:
    state = viewer.state
    try:
        ref = state.resolve(name)
    except SessionRejected as exc:
        viewer.error(exc.code, str(exc))
        viewer.close_soon(CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_BAD_PARAMS, str(exc))
        return None
    viewer.control(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "session": ref.key,
            "server": state.version,
            "constants": CLIENT_CONSTANTS,
        }
    )
    try:
        return await state.registry.get(ref, viewer.on_progress)
    except BuildFailed as exc:
        viewer.error("session_failed", str(exc))
        viewer.close_soon(CLOSE_FAILED, str(exc)[:120])
        return None


def _ready_message(state: ServerState, session: LoadedSession) -> dict[str, Any]:
    return {"type": "ready", "metadata": state.metadata(session)}


async def _close(ws: WebSocket, code: int, reason: str, wait: float = 2.0) -> None:
    # The close frame queues behind whatever the client has not read yet; after
    # `wait` seconds the server gives up and drops the connection.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason[:120]), timeout=wait)


@router.websocket("/ws")
async def viewer_socket(
    ws: WebSocket, session: str = "", codec: str = "compact", rate: str = "auto"
) -> None:
    state: ServerState = ws.app.state.racereplay
    await ws.accept()
    try:
        viewer = Viewer(ws, state, codec, rate)
    except (UnknownCodec, CommandError) as exc:
        await ws.send_bytes(packb({"type": "error", "code": "bad_value", "message": str(exc)}))
        await _close(ws, CLOSE_BAD_PARAMS, str(exc))
        return
    if not session:
        viewer.error("bad_value", "connect with ?session=NAME (see GET /api/catalogue)")
        viewer.close_soon(CLOSE_BAD_PARAMS, "missing ?session=NAME")
    tasks = {
        asyncio.create_task(viewer.read(), name="ws reader"),
        asyncio.create_task(viewer.send(), name="ws sender"),
    }
    try:
        loaded = await _race(tasks, _wait_for_session(viewer, session)) if session else None
        if loaded is not None and viewer.closing is None:
            await _watch(viewer, loaded, tasks)
        await _drain_then_close(viewer, tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _race(tasks: set[asyncio.Task[Any]], work: Any) -> Any:
    """Run `work` until done, or None if the client leaves first (the build carries on)."""
    job = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({job, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    if job in done:
        return job.result()
    job.cancel()
    with contextlib.suppress(BaseException):
        await job
    return None


async def _watch(viewer: Viewer, session: LoadedSession, tasks: set[asyncio.Task[Any]]) -> None:
    state = viewer.state
    state.registry.attach(session)
    try:
        tl = session.timeline
        viewer.session = session
        viewer.clock = PlaybackClock(tl.n_frames, tl.fps)
        if viewer.auto:
            viewer.rate = viewer._auto_rate()
            viewer.queue.data_limit = viewer._data_limit()
        viewer.control(_ready_message(state, session))
        viewer.send_state("join")
        for command in viewer.pending:
            viewer.apply(command)
        viewer.pending.clear()
        pump = asyncio.create_task(viewer.pump(), name="ws pump")
        tasks.add(pump)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if not isinstance(exc, WebSocketDisconnect | ConnectionError):
                    log.warning("viewer task %s failed: %r", task.get_name(), exc)
    finally:
        state.registry.detach(session)


async def _drain_then_close(viewer: Viewer, tasks: set[asyncio.Task[Any]]) -> None:
    if viewer.closing is None:
        return
    code, reason = viewer.closing
    if code != CLOSE_TOO_SLOW:
        # Let the sender flush the error message before the close frame.
        for _ in range(20):
            if not viewer.queue._items:
                break
            await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await _close(viewer.ws, code, reason, CLOSE_WAIT_SLOW if code == CLOSE_TOO_SLOW else 2.0)
