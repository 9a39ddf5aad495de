"""Viewer commands: decoded and checked by pure functions, held and paced by small queues.

Nothing here touches a socket or a session, so every rule is tested on its own
(tests/test_server_commands.py):

- `decode_command` turns one WebSocket message into a `Command`, or raises
  `CommandError` with the protocol's error code (docs/protocol.md);
- `CommandQueue` keeps a few commands for later, coalesced: the last seek,
  speed, quality and play/pause win, so a flood costs a handful of slots;
- `TokenBucket` paces a connection's commands.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from racereplay.server.protocol import MAX_COMMAND_BYTES

# Watch parties (replay/rooms.py): create, join (or rejoin), leave, hand over, who controls.
ROOM_COMMANDS = ("room_create", "room_join", "room_leave", "room_host", "room_policy")
ROOM_TEXT_FIELDS = {
    "room_create": ("name",),
    "room_join": ("room", "name"),
    "room_host": ("member",),
}
# Larger integers than a float holds exactly are no frame, lap, time or sequence number.
MAX_SAFE_INTEGER = 2**53 - 1
COMMAND_KINDS = ("play", "pause", "seek", "speed", "quality", "ping", "delivery", *ROOM_COMMANDS)
DELIVERIES = ("http", "push")  # how chunk bytes reach a viewer (docs/protocol.md §2)
SeekTarget = Literal["time", "frame", "lap"]


class CommandError(ValueError):
    """A command the server will not apply; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Command:
    kind: str  # one of COMMAND_KINDS
    seq: int | None = None
    value: float | None = None  # speed: the speed; seek: the target; ping: the client's time
    target: SeekTarget | None = None  # seek only
    codec: str | None = None  # quality only; None keeps the current codec
    rate: int | Literal["auto"] | None = None  # quality only; None keeps the current rate
    delivery: str | None = None  # delivery only: one of DELIVERIES
    room: str | None = None  # room_join: the room's id
    name: str | None = None  # room_create, room_join: the member's display name
    member: str | None = None  # room_host: the member who takes over
    policy: str | None = None  # room_policy: "host" or "everyone"

    @property
    def slot(self) -> str:
        """Commands in the same slot replace each other in a `CommandQueue`."""
        if self.kind in ("room_create", "room_join", "room_leave"):
            return "room"  # which room to be in: the last word wins
        return "playback" if self.kind in ("play", "pause") else self.kind


def decode_command(message: Mapping[str, Any]) -> Command:
    """One ASGI `websocket.receive` message (msgpack bytes or JSON text) as a `Command`."""
    raw = message.get("bytes")
    text = message.get("text")
    size = len(raw) if raw is not None else len((text or "").encode(errors="replace"))
    if size > MAX_COMMAND_BYTES:
        raise CommandError(
            "too_large", f"command of {size} bytes ignored: at most {MAX_COMMAND_BYTES}"
        )
    try:
        body = msgpack.unpackb(raw, raw=False) if raw is not None else json.loads(text or "")
    except Exception:
        raise CommandError(
            "bad_message", "could not decode the command: send one msgpack or JSON map"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise CommandError("bad_message", 'a command is a map with a "type" (see protocol.md)')
    return parse_command(body)


def parse_command(body: Mapping[str, Any]) -> Command:
    """A decoded map as a `Command`; every value checked for type and range."""
    kind = body["type"]
    if kind not in COMMAND_KINDS:
        raise CommandError(
            "unknown_command",
            f"unknown command {str(kind)[:40]!r}: "
            "use play, pause, seek, speed, quality, delivery, ping or a room_ command",
        )
    seq = body.get("seq")
    if seq is not None:
        seq = int(_number(seq, "seq", integer=True))
    if kind in ("play", "pause"):
        return Command(kind, seq)
    if kind == "ping":
        t = body.get("t")
        return Command(kind, seq, value=None if t is None else _number(t, "ping t"))
    if kind == "speed":
        if "value" not in body:
            raise CommandError("bad_value", 'speed needs a number "value" (0.25 to 64)')
        return Command(kind, seq, value=_number(body["value"], "speed value"))
    if kind == "seek":
        given = [k for k in ("time", "frame", "lap") if k in body]
        if len(given) != 1:
            raise CommandError("bad_value", 'seek needs exactly one of "time", "frame" or "lap"')
        target: SeekTarget = given[0]  # type: ignore[assignment]
        value = _number(body[target], f"seek {target}", integer=target == "lap")
        return Command(kind, seq, value=value, target=target)
    if kind in ROOM_COMMANDS:
        return _room(kind, body, seq)
    if kind == "delivery":
        mode = body.get("mode")
        if mode not in DELIVERIES:
            raise CommandError(
                "bad_value", f'delivery needs "mode": "http" or "push", not {str(mode)[:20]!r}'
            )
        return Command(kind, seq, delivery=mode)
    return _quality(body, seq)


def _room(kind: str, body: Mapping[str, Any], seq: int | None) -> Command:
    texts: dict[str, str | None] = {}
    for field in ROOM_TEXT_FIELDS.get(kind, ()):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise CommandError("bad_value", f"{kind} {field} must be text, not {value!r:.40}")
        texts[field] = value
    if kind in ("room_join", "room_host"):
        needed = "room" if kind == "room_join" else "member"
        if not texts.get(needed):
            raise CommandError("bad_value", f'{kind} needs "{needed}": an id')
    policy = None
    if kind == "room_policy":
        policy = body.get("policy")
        if policy not in ("host", "everyone"):
            raise CommandError(
                "bad_value", f'room_policy needs "policy": "host" or "everyone", not {policy!r:.20}'
            )
    return Command(
        kind,
        seq,
        room=texts.get("room"),
        name=texts.get("name"),
        member=texts.get("member"),
        policy=policy,
    )


def _quality(body: Mapping[str, Any], seq: int | None) -> Command:
    codec = body.get("codec")
    if codec is not None and not isinstance(codec, str):
        raise CommandError("bad_value", f"quality codec must be a name, not {codec!r}")
    rate = body.get("rate")
    if rate is not None and rate != "auto":
        rate = int(_number(rate, "quality rate", integer=True))
    return Command("quality", seq, codec=codec, rate=rate)


def _number(value: Any, what: str, integer: bool = False) -> float:
    """A finite number within the exactly representable range, else `bad_value`."""
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError("bad_value", f"{what} must be a number, not {shown}")
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        raise CommandError("bad_value", f"{what} {shown} is out of range")
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_SAFE_INTEGER):
        raise CommandError("bad_value", f"{what} {shown} is out of range")
    if integer and value != int(value):
        raise CommandError("bad_value", f"{what} must be a whole number, not {shown}")
    return float(value)


class CommandQueue:
    """Commands kept for later, at most one per slot: a newer seek replaces an older one."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, Command] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def put(self, command: Command) -> None:
        self._held.pop(command.slot, None)  # the newest keeps its place last in line
        self._held[command.slot] = command

    def drain(self) -> Iterator[Command]:
        while self._held:
            yield self._held.popitem(last=False)[1]

    def pop(self) -> Command | None:
        return self._held.popitem(last=False)[1] if self._held else None


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; `take` spends one if there is one."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._now = now
        self._tokens = float(burst)
        self._at = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def seconds_until_token(self) -> float:
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)
