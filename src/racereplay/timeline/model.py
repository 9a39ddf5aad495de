"""The replay timeline: one frame grid, every channel resampled onto it, columnar.

A `Timeline` is what the store keeps on disk and what codecs encode. Per-frame
arrays have shape `(n_frames, n_drivers)` (or `(n_frames,)` for session-wide
channels); driver `i` is `drivers[i]`. Everything that is not a per-frame
array is plain JSON-able data, so that the store can keep it as a header.

Frame `k` is at session time `t0 + k / fps`.

A timeline opened from a store file may carry `verify_frames`: readers of frame
rows (the codec) call it with a frame span before reading those rows; it raises
`DamagedTimeline` if the rows can no longer be trusted (the file under the
memory map was truncated, replaced or changed). An empty span, `(0, 0)`, only
checks that the file is still whole (a stat): the guard to use before reading a
whole column. In-memory timelines have none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from racereplay.model import Driver, SessionInfo

FPS = 25

# Per-frame, per-driver channels: name -> dtype. The order is the store's order.
DRIVER_CHANNELS: dict[str, np.dtype] = {
    "x": np.dtype(np.float32),  # metres
    "y": np.dtype(np.float32),
    "speed": np.dtype(np.float32),  # km/h
    "gear": np.dtype(np.int8),
    "throttle": np.dtype(np.uint8),  # %
    "brake": np.dtype(np.uint8),  # %, 0-100
    "drs": np.dtype(np.uint8),  # DrsState
    "rpm": np.dtype(np.uint16),
    "lap": np.dtype(np.uint16),  # lap being driven (1-based); 0 before the start
    "distance": np.dtype(np.float32),  # monotonic race distance, metres
    "position": np.dtype(np.uint8),  # running position, 1-based; 0 = not classified
    "gap": np.dtype(np.float32),  # seconds to the leader; NaN where meaningless
    "interval": np.dtype(np.float32),  # seconds to the car ahead
    "compound": np.dtype(np.uint8),  # Compound
    "tyre_age": np.dtype(np.uint8),  # laps
    "status": np.dtype(np.uint8),  # DriverStatus
    "gap_laps": np.dtype(np.uint8),  # whole laps behind the leader (gap shows "+1 L")
    "interval_laps": np.dtype(np.uint8),  # whole laps behind the car ahead
}

# Per-frame, session-wide channels.
SESSION_CHANNELS: dict[str, np.dtype] = {
    "leader_lap": np.dtype(np.uint16),
    "track_status": np.dtype(np.uint8),  # TrackStatusCode
}


class DriverStatus(IntEnum):
    NOT_STARTED = 0
    RUNNING = 1
    PIT_LANE = 2
    RETIRED = 3
    FINISHED = 4
    DID_NOT_START = 5  # a race car that never took the start (e.g. a formation-lap crash)


class Compound(IntEnum):
    UNKNOWN = 0
    SOFT = 1
    MEDIUM = 2
    HARD = 3
    INTERMEDIATE = 4
    WET = 5

    @classmethod
    def parse(cls, name: str | None) -> Compound:
        try:
            return cls[(name or "UNKNOWN").upper()]
        except KeyError:
            return cls.UNKNOWN


class EventKind:
    """Event kinds, as strings so they read well on the wire and in JSON."""

    LAP = "lap"  # data: lap, lap_time, sectors, personal_best, overall_best, position
    SECTOR = "sector"  # data: lap, sector (1-3), time, personal_best, overall_best
    PIT_IN = "pit_in"  # data: lap
    PIT_OUT = "pit_out"  # data: lap, compound
    PIT_STOP = "pit_stop"  # data: lap, duration (pit lane time, s), stationary (s); at pit exit
    OVERTAKE = "overtake"  # data: position gained, passed (code)
    RETIREMENT = "retirement"  # data: lap (0 and reason "did not start" for a DNS)
    FINISH = "finish"  # data: position, lap
    TRACK_STATUS = "track_status"  # data: status, label
    MESSAGE = "message"  # data: category, message, flag, scope, sector, driver, lap
    WEATHER = "weather"  # data: WeatherSample fields
    SEGMENT = "segment"  # data: name (Q1, SQ2, ...), start, end (session times); at start


@dataclass(frozen=True)
class Event:
    time: float  # session time
    kind: str  # an EventKind value
    driver: str | None = None  # code, when the event belongs to one driver
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrackGeometry:
    outline: np.ndarray  # (n, 2) float32 centre line of a reference lap, metres
    width: float  # metres, for drawing
    sector_starts: list[float]  # distance along the outline where sectors 2 and 3 start
    corners: list[dict[str, Any]]  # number, letter, x, y, angle, distance
    pit_lane: np.ndarray  # (m, 2) float32, empty when unknown
    rotation: float  # degrees
    length: float  # metres, one lap


class DamagedTimeline(RuntimeError):
    """The frame rows behind a timeline are damaged: do not read them, drop the timeline.

    Raised by `Timeline.verify_frames` (set by the store on the timelines it opens)
    when the file under the memory map was truncated, replaced, removed or changed
    after it was opened. Reading the rows anyway could serve wrong data or, past a
    truncation, kill the process with SIGBUS. The holder should forget the timeline
    (and everything encoded from it) and open the session again: the store then
    finds the file damaged, deletes it and rebuilds it.
    """


# verify_frames(first_frame, end_frame): check rows [first_frame, end_frame) before reading.
SpanVerifier = Callable[[int, int], None]


@dataclass
class Timeline:
    info: SessionInfo
    drivers: list[Driver]
    t0: float  # session time of frame 0
    fps: int
    frames: dict[str, np.ndarray]  # DRIVER_CHANNELS and SESSION_CHANNELS by name
    events: list[Event]
    laps: list[dict[str, Any]]  # the lap table, JSON-able (see timeline.build)
    results: list[dict[str, Any]]  # final classification, JSON-able
    geometry: TrackGeometry | None
    problems: list[str] = field(default_factory=list)
    # Set by the store on timelines backed by a file; raises DamagedTimeline. See above.
    verify_frames: SpanVerifier | None = field(default=None, repr=False, compare=False)

    @property
    def n_frames(self) -> int:
        return int(self.frames["position"].shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def frame_at(self, session_time: float) -> int:
        """The frame showing `session_time`, clamped to the timeline."""
        k = round((session_time - self.t0) * self.fps)
        return min(max(k, 0), self.n_frames - 1)

    def time_of(self, frame: int) -> float:
        return self.t0 + frame / self.fps
