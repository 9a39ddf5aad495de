"""Watch parties: a room's members all follow one clock (pure rules, no I/O).

A `Room` is a short, unguessable id (a link a viewer shares), the session it
plays, one clock, a host, a policy (only the host, or everyone, may move the
clock), its members and a version bumped by every change. The clock is a
`PlaybackClock` `Anchor` dated in Unix seconds (`time.time`), so every member on
every replica computes the same position from the same state:

    frame = anchor.frame + (now - anchor.wall) * speed * fps   (while playing)

Every change is a pure function from a room to the next (`join`, `leave`,
`hand_over`, `set_policy`, `control`), raising `RoomError` with the protocol's
error code when it may not happen. Where rooms are kept and how changes reach
the members is replay/room_hub.py's job; the WebSocket side is server/rooms.py.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from racereplay.replay.player import Anchor, PlaybackClock

Policy = Literal["host", "everyone"]
POLICIES: tuple[Policy, ...] = ("host", "everyone")
ROOM_ID_LENGTH = 8  # 48 random bits in url-safe base64
ROOM_ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{ROOM_ID_LENGTH}}}")
MEMBER_ID_LENGTH = 8
MAX_NAME_CHARS = 32
DEFAULT_ROOM_SIZE = 50
DEFAULT_MAX_ROOMS = 500
# What moved the room last: a clock command, or a change of who is in it or in charge.
CLOCK_REASONS = ("play", "pause", "seek", "speed")


class RoomError(ValueError):
    """A room change that may not happen; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RoomLimits:
    room_size: int = DEFAULT_ROOM_SIZE  # members in one room
    max_rooms: int = DEFAULT_MAX_ROOMS  # rooms one process holds members of


@dataclass(frozen=True)
class Member:
    id: str
    name: str


@dataclass(frozen=True)
class Room:
    id: str
    session: str  # the session's id (the registry's key)
    n_frames: int
    fps: int
    clock: Anchor  # wall: Unix seconds
    host: str  # a member id
    policy: Policy
    members: tuple[Member, ...]
    version: int
    # What the last change was: "create", "join", "leave", "host", "policy", or CLOCK_REASONS.
    reason: str

    def playback(self, now: Callable[[], float] = time.time) -> PlaybackClock:
        """The room's clock as a `PlaybackClock` on the Unix time base (or `now`)."""
        clock = PlaybackClock(self.n_frames, self.fps, now=now)
        clock.restore(self.clock)
        return clock

    def position(self, now: float | None = None) -> float:
        return self.playback().position(now)

    def member(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def may_control(self, member_id: str) -> bool:
        return self.policy == "everyone" or member_id == self.host

    def to_json(self) -> dict[str, Any]:
        """The room as the protocol's `room` message shows it (docs/protocol.md)."""
        return {
            "id": self.id,
            "session": self.session,
            "n_frames": self.n_frames,
            "fps": self.fps,
            "clock": {
                "frame": self.clock.frame,
                "wall": self.clock.wall,
                "playing": self.clock.playing,
                "speed": self.clock.speed,
            },
            "host": self.host,
            "policy": self.policy,
            "members": [{"id": m.id, "name": m.name} for m in self.members],
            "version": self.version,
            "reason": self.reason,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Room:
        clock = body["clock"]
        return cls(
            id=str(body["id"]),
            session=str(body["session"]),
            n_frames=int(body["n_frames"]),
            fps=int(body["fps"]),
            clock=Anchor(
                float(clock["frame"]),
                float(clock["wall"]),
                bool(clock["playing"]),
                float(clock["speed"]),
            ),
            host=str(body["host"]),
            policy="everyone" if body["policy"] == "everyone" else "host",
            members=tuple(Member(str(m["id"]), str(m["name"])) for m in body["members"]),
            version=int(body["version"]),
            reason=str(body["reason"]),
        )

    @classmethod
    def loads(cls, text: str | bytes) -> Room:
        return cls.from_json(json.loads(text))


def new_room_id() -> str:
    """8 url-safe characters, 48 random bits: short to share, too many to guess."""
    return secrets.token_urlsafe(ROOM_ID_LENGTH * 3 // 4)


def new_member_id() -> str:
    return secrets.token_urlsafe(MEMBER_ID_LENGTH * 3 // 4)


def check_room_id(room_id: str) -> str:
    """`room_id` if it has a room id's shape, else `room_not_found` (no lookup needed)."""
    if not isinstance(room_id, str) or not ROOM_ID_PATTERN.fullmatch(room_id):
        raise not_found(str(room_id))
    return room_id


def not_found(room_id: str) -> RoomError:
    shown = room_id if len(room_id) <= 20 else room_id[:17] + "..."
    return RoomError(
        "room_not_found",
        f"no watch party {shown!r}: it ended or the link is wrong; ask for a new link",
    )


def display_name(name: str | None, member_id: str) -> str:
    """A member's name as shown: printable, trimmed, at most MAX_NAME_CHARS; or a default."""
    cleaned = " ".join("".join(c for c in (name or "") if c.isprintable()).split())
    return cleaned[:MAX_NAME_CHARS] or f"Viewer {member_id[:4]}"


def new_room(
    session: str,
    n_frames: int,
    fps: int,
    host: Member,
    clock: PlaybackClock,
    room_id: str | None = None,
) -> Room:
    """A room for `session` hosted by `host`, its clock where `clock` is now (on any
    time base: it is re-dated in Unix seconds)."""
    room_clock = PlaybackClock(n_frames, fps, now=time.time)
    room_clock.follow(clock)
    return Room(
        id=room_id or new_room_id(),
        session=session,
        n_frames=n_frames,
        fps=fps,
        clock=room_clock.anchor,
        host=host.id,
        policy="host",
        members=(host,),
        version=1,
        reason="create",
    )


def _next(room: Room, reason: str, **changes: Any) -> Room:
    return replace(room, version=room.version + 1, reason=reason, **changes)


def join(room: Room, member: Member, limits: RoomLimits) -> Room:
    """`member` in the room (a member joining again keeps its place, takes its new name)."""
    if room.member(member.id) is not None:
        members = tuple(member if m.id == member.id else m for m in room.members)
        return _next(room, "join", members=members)
    if len(room.members) >= limits.room_size:
        raise RoomError(
            "room_full",
            f"this watch party is full ({limits.room_size} members): "
            "watch alone, or ask the host to start another",
        )
    return _next(room, "join", members=(*room.members, member))


def leave(room: Room, member_id: str) -> Room | None:
    """The room without `member_id`; a leaving host hands over to the longest-present
    member; None once nobody is left (the room ends)."""
    members = tuple(m for m in room.members if m.id != member_id)
    if not members:
        return None
    if len(members) == len(room.members):
        return room  # not a member: nothing changes
    host = room.host if room.host != member_id else members[0].id
    return _next(room, "leave", members=members, host=host)


def _host_only(room: Room, by: str, what: str) -> None:
    if by != room.host:
        raise RoomError("not_host", f"only the host may {what}")


def hand_over(room: Room, by: str, to: str) -> Room:
    """The host makes member `to` the host."""
    _host_only(room, by, "hand over control")
    if room.member(to) is None:
        raise RoomError("bad_value", f"no member {to[:20]!r} in this watch party")
    return _next(room, "host", host=to)


def set_policy(room: Room, by: str, policy: str) -> Room:
    """The host lets everyone control the clock ("everyone"), or only itself ("host")."""
    _host_only(room, by, "change who controls the replay")
    if policy not in POLICIES:
        raise RoomError("bad_value", f"policy {policy[:20]!r}: use 'host' or 'everyone'")
    return _next(room, "policy", policy=policy)


def control(
    room: Room, by: str, kind: str, move: Callable[[PlaybackClock], None], now: float
) -> Room:
    """The room after member `by`'s clock command `kind` (one of CLOCK_REASONS), which
    `move` applies to the room's clock at Unix time `now`; `not_host` when not allowed."""
    if room.member(by) is None:
        raise RoomError("not_member", "you are not in this watch party: join it first")
    if not room.may_control(by):
        raise RoomError(
            "not_host",
            "only the host controls this watch party: ask the host to hand over control "
            "or to allow everyone, or leave to watch alone",
        )
    clock = room.playback(now=lambda: now)
    move(clock)
    return _next(room, kind, clock=clock.anchor)
