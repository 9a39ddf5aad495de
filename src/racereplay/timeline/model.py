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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from racereplay.model import Driver, SessionInfo

if TYPE_CHECKING:
    import pandas
    import polars

    from racereplay.timeline.table import FrameTable

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

# Every channel's unit and meaning: the one description of them, for docstrings, the
# notebook exports (timeline/table.py) and docs/python-api.md (checked by a test).
CHANNELS: dict[str, tuple[str, str]] = {
    "x": ("m", "position on the map, the circuit's own frame; NaN when off the map"),
    "y": ("m", "position on the map, the circuit's own frame; NaN when off the map"),
    "speed": ("km/h", "speed"),
    "gear": ("", "gear engaged, 1-8; 0 neutral or unknown"),
    "throttle": ("%", "throttle pedal, 0-100"),
    "brake": ("%", "brake, 0-100 (most sources only say on, 100, or off, 0)"),
    "drs": ("DrsState", "OFF, ELIGIBLE (within a second in a DRS zone) or OPEN"),
    "rpm": ("1/min", "engine revolutions per minute"),
    "lap": ("lap", "lap being driven, 1-based; 0 before the start"),
    "distance": ("m", "race distance from the start line (negative on the grid), never decreasing"),
    "position": ("", "running position, 1-based; 0 when not classified"),
    "gap": ("s", "time behind the leader (0 for the leader); NaN where meaningless (retired)"),
    "interval": ("s", "time behind the car ahead; NaN for the leader and where meaningless"),
    "compound": ("Compound", "tyre: SOFT, MEDIUM, HARD, INTERMEDIATE, WET or UNKNOWN"),
    "tyre_age": ("laps", "laps driven on this set of tyres"),
    "status": (
        "DriverStatus",
        "NOT_STARTED, RUNNING, PIT_LANE, RETIRED, FINISHED or DID_NOT_START",
    ),
    "gap_laps": ("laps", "whole laps behind the leader (the board shows +1 L)"),
    "interval_laps": ("laps", "whole laps behind the car ahead"),
    "leader_lap": ("lap", "the lap the leader is on (whole session)"),
    "track_status": ("TrackStatusCode", "GREEN, YELLOW, SAFETY_CAR, RED, VSC or VSC_ENDING"),
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
    # number, x, y, distance (along the outline) where each marshal sector starts, from
    # the source's circuit info; empty when it has none (timeline/flags.py estimates them)
    marshal_sectors: list[dict[str, Any]] = field(default_factory=list)


class DamagedTimeline(RuntimeError):
    """The frame rows behind a timeline are damaged: do not read them, drop the timeline.

    Raised by `Timeline.verify_frames` (set by the store on the timelines it opens)
    when the file under the memory map was truncated, replaced, removed or changed
    after it was opened. Reading the rows anyway could serve wrong data or, past a
    truncation, kill the process with SIGBUS. The holder should forget the timeline
    (and everything encoded from it) and open the session again: the store then
    finds the file damaged, deletes it and rebuilds it.
    """


class SupportsTotalSeconds(Protocol):
    """A duration: `datetime.timedelta`, `pandas.Timedelta` (FastF1's session times)."""

    def total_seconds(self) -> float: ...


# verify_frames(first_frame, end_frame): check rows [first_frame, end_frame) before reading.
SpanVerifier = Callable[[int, int], None]


@dataclass
class Timeline:
    """A session replayed: every channel on one frame clock (`fps` frames per second).

    Get one with `racereplay.open(name_or_fastf1_session)`. Times are seconds of
    session time (FastF1's `SessionTime`); frame `k` shows `t0 + k / fps`.

    Attributes:
        info: the session (`year`, `event`, `name`, `kind`, `circuit`, `date`;
            `start_time`, lights out, session time in s; `total_laps` of a race).
        drivers: `Driver`s (`code`, `number`, `team`, `colour`, `name`); column `i`
            of every per-driver channel is `drivers[i]`.
        t0: session time of frame 0, s.
        fps: frames per second of session time (25).
        frames: the channels by name: `(n_frames, n_drivers)` arrays for
            `DRIVER_CHANNELS`, `(n_frames,)` for `SESSION_CHANNELS`; units and
            meanings in `CHANNELS` (x, y m; speed km/h; gap, interval s; ...).
        events: `Event`s in time order (`time` s, `kind` an `EventKind`, `driver`,
            `data`): laps, sectors, pit stops, overtakes, retirements, track status,
            race control messages, weather.
        laps: the lap table, one dict per driver and lap (`driver`, `lap`, `start`,
            `end`, `lap_time`, `sectors` in s; `compound`, `tyre_age` laps, `stint`,
            `pit_in`, `pit_out` s, `position`, `personal_best`, `deleted`,
            `speed_trap` km/h).
        results: the final classification, one dict per driver.
        geometry: the track map (`TrackGeometry`, metres), or None without telemetry.
        problems: what the data could not give, one line each.

    Read it with `at(time)` (one frame as a table) and `to_pandas()` /
    `to_polars()` (every frame of a span, one row per frame and driver).
    """

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

    def at(self, time: float | SupportsTotalSeconds) -> FrameTable:
        """The frame showing session time `time` (s, or a `timedelta` / pandas
        `Timedelta` such as FastF1's `SessionTime`), as a small table: one row per
        driver, leader first, with every driver channel (units: `CHANNELS`).

        `info.start_time` is lights out; `t0` and `t0 + duration` bound the timeline
        (times outside it give its first or last frame).
        """
        from racereplay.timeline.table import frame_table

        seconds = time.total_seconds() if hasattr(time, "total_seconds") else float(time)
        return frame_table(self, self.frame_at(seconds))

    def to_pandas(
        self,
        drivers: Sequence[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
    ) -> pandas.DataFrame:
        """Every frame from session time `start` to `end` (s; default: all), or `fps`
        of them per second, of `drivers` (codes; default: all), as a pandas DataFrame.

        One row per frame and driver: `time` (session time, s), `frame`, `driver`,
        then every channel of `CHANNELS` (session channels repeated on each driver's
        row). `status`, `compound`, `drs` and `track_status` are categoricals of their
        names. `df.attrs["units"]` gives each column's unit. A whole race at 25 fps is
        millions of rows: `fps=1` is often plenty. Needs `pip install 'racereplay[pandas]'`.
        """
        from racereplay.timeline import table

        return table.to_pandas(self, table.frame_span(self, drivers, start, end, fps))

    def to_polars(
        self,
        drivers: Sequence[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
    ) -> polars.DataFrame:
        """The same rows and columns as `to_pandas`, as a polars DataFrame (names as
        `pl.Enum`). Needs `pip install 'racereplay[polars]'`."""
        from racereplay.timeline import table

        return table.to_polars(self, table.frame_span(self, drivers, start, end, fps))
