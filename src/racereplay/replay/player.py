"""A viewer's clock: play, pause, seek and speed, anchored to the wall clock.

The position is computed from an anchor, never accumulated tick by tick, so it
cannot drift however irregularly the server wakes up:

    frame = anchor_frame + (now - anchor_wall) * speed * fps

Every command re-anchors at the current position. The clock stops by itself at
the last frame.

The anchor is the whole state (`Anchor`): a watch party's room keeps one, dated in
Unix seconds, and every member's clock `follow`s the clock it describes, so all of
them compute the same position at the same instant (replay/rooms.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_SPEED = 0.25
MAX_SPEED = 64.0


class ClockError(ValueError):
    """A command with a value out of range; the message says what is valid."""


@dataclass(frozen=True)
class Anchor:
    """A clock's whole state: at wall time `wall` (in the clock's own time base) it
    was at `frame`, and moves on at `speed` x fps while `playing`."""

    frame: float
    wall: float
    playing: bool
    speed: float


class PlaybackClock:
    def __init__(
        self,
        n_frames: int,
        fps: int,
        start_frame: float = 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if n_frames <= 0:
            raise ClockError("a clock needs at least one frame")
        self.n_frames = n_frames
        self.fps = fps
        self._now = now
        self.speed = 1.0
        self.playing = False
        self._anchor_frame = self._clamp(start_frame)
        self._anchor_wall = now()

    @property
    def last_frame(self) -> int:
        return self.n_frames - 1

    def _clamp(self, frame: float) -> float:
        return min(max(float(frame), 0.0), float(self.n_frames - 1))

    def position(self, now: float | None = None) -> float:
        """The current frame (fractional), clamped to the timeline."""
        if not self.playing:
            return self._anchor_frame
        now = self._now() if now is None else now
        elapsed = max(now - self._anchor_wall, 0.0)
        return self._clamp(self._anchor_frame + elapsed * self.speed * self.fps)

    def frame(self, now: float | None = None) -> int:
        return math.floor(self.position(now))

    def at_end(self, now: float | None = None) -> bool:
        return self.position(now) >= self.last_frame

    @property
    def anchor(self) -> Anchor:
        return Anchor(self._anchor_frame, self._anchor_wall, self.playing, self.speed)

    def restore(self, anchor: Anchor) -> None:
        """Take `anchor` as this clock's state (its wall time in this clock's time base)."""
        if not (math.isfinite(anchor.frame) and math.isfinite(anchor.wall)):
            raise ClockError(f"cannot anchor at frame {anchor.frame}, time {anchor.wall}")
        if not MIN_SPEED <= anchor.speed <= MAX_SPEED:
            raise ClockError(f"speed {anchor.speed!r} is out of range")
        self._anchor_frame = self._clamp(anchor.frame)
        self._anchor_wall = float(anchor.wall)
        self.playing = bool(anchor.playing)
        self.speed = float(anchor.speed)

    def follow(self, other: PlaybackClock) -> None:
        """Be where `other` is now, moving as it moves; the two may keep different time
        bases (a room's Unix seconds, a viewer's monotonic seconds)."""
        self._anchor_frame = self._clamp(other.position())
        self._anchor_wall = self._now()
        self.playing = other.playing and self._anchor_frame < self.last_frame
        self.speed = other.speed

    def _reanchor(self, now: float) -> None:
        self._anchor_frame = self.position(now)
        self._anchor_wall = now

    def play(self) -> None:
        now = self._now()
        self._reanchor(now)
        if self._anchor_frame >= self.last_frame:
            return  # nothing left to play: stay paused at the end
        self.playing = True

    def pause(self) -> None:
        self._reanchor(self._now())
        self.playing = False

    def seek(self, frame: float) -> None:
        if not math.isfinite(frame):
            raise ClockError(f"cannot seek to frame {frame}")
        self._anchor_frame = self._clamp(frame)
        self._anchor_wall = self._now()

    def set_speed(self, speed: float) -> None:
        if not (isinstance(speed, int | float) and MIN_SPEED <= speed <= MAX_SPEED):
            raise ClockError(f"speed {speed!r} is out of range: use {MIN_SPEED} to {MAX_SPEED}")
        self._reanchor(self._now())
        self.speed = float(speed)

    def stop_if_ended(self) -> bool:
        """Pause at the last frame once the clock got there; True if it just stopped."""
        now = self._now()
        if self.playing and self.at_end(now):
            self._reanchor(now)
            self.playing = False
            return True
        return False

    def seconds_until(self, frame: float, now: float | None = None) -> float:
        """Wall seconds until the clock reaches `frame`: inf while paused, 0 if already past."""
        now = self._now() if now is None else now
        ahead = frame - self.position(now)
        if ahead <= 0:
            return 0.0
        if not self.playing:
            return math.inf
        return ahead / (self.speed * self.fps)
