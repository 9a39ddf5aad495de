"""The source-neutral record of one session: what was recorded, at its own rate.

Every source (FastF1, the TracingInsights archive, the demo simulator) produces a
`RawSession`; the timeline build consumes nothing else. Conventions, so that no
stage has to guess:

- Times are seconds of *session time* (float64), the clock FastF1 calls
  `SessionTime`: 0 is the start of the session's data stream.
- Positions are metres in the circuit's own frame (FastF1 gives 1/10 m: sources
  divide by 10).
- Missing values are explicit: `NaN` for a float, `None` for anything else.
  Never a silent zero: a lap with no time has `lap_time = nan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np


class SessionKind(StrEnum):
    RACE = "race"
    SPRINT = "sprint"
    QUALIFYING = "qualifying"
    SPRINT_QUALIFYING = "sprint_qualifying"
    PRACTICE = "practice"

    @property
    def is_race(self) -> bool:
        return self in (SessionKind.RACE, SessionKind.SPRINT)


class TrackStatusCode(IntEnum):
    """F1 live-timing track status codes (as FastF1 reports them)."""

    GREEN = 1
    YELLOW = 2
    SAFETY_CAR = 4
    RED = 5
    VSC = 6
    VSC_ENDING = 7


class DrsState(IntEnum):
    """DRS normalised from the raw F1 codes (0, 1 off; 8 eligible; 10, 12, 14 open)."""

    OFF = 0
    ELIGIBLE = 1
    OPEN = 2


def drs_from_f1_code(codes: np.ndarray) -> np.ndarray:
    """Map raw F1 DRS codes to `DrsState` values (uint8)."""
    codes = np.nan_to_num(np.asarray(codes, dtype=np.float64), nan=0.0)
    state = np.full(codes.shape, DrsState.OFF, dtype=np.uint8)
    state[codes == 8] = DrsState.ELIGIBLE
    state[codes >= 10] = DrsState.OPEN
    return state


@dataclass(frozen=True)
class SessionInfo:
    year: int
    event: str  # "Australian Grand Prix"
    name: str  # "Race", "Qualifying", "Practice 1", ...
    kind: SessionKind
    circuit: str = ""
    date: str = ""  # ISO date of the session (UTC), informative only
    start_time: float = math.nan  # session time of the start (lights out / green light)
    total_laps: int | None = None  # scheduled race distance in laps; None outside races


@dataclass(frozen=True)
class Driver:
    code: str  # three letters, "VER"
    number: str  # racing number as printed, "1"
    team: str
    colour: str  # "#3671C6"
    name: str = ""


@dataclass
class Telemetry:
    """One driver's samples at their native, irregular times, sorted by `time`.

    `distance` is metres driven since the driver's first sample, monotonic
    non-decreasing across laps (sources that get per-lap distance chain it).
    """

    time: np.ndarray  # float64, session seconds
    x: np.ndarray  # float32, metres
    y: np.ndarray
    z: np.ndarray
    speed: np.ndarray  # float32, km/h
    rpm: np.ndarray  # float32
    gear: np.ndarray  # int8, 0 = neutral
    throttle: np.ndarray  # float32, 0-100 %
    brake: np.ndarray  # float32, 0-1 (F1 data is on/off; simulated may be partial)
    drs: np.ndarray  # uint8, DrsState
    distance: np.ndarray  # float64, metres

    CHANNELS = ("x", "y", "z", "speed", "rpm", "gear", "throttle", "brake", "drs", "distance")

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class Lap:
    driver: str
    number: int
    start: float = math.nan  # session time the lap started (line crossing or pit exit)
    end: float = math.nan  # session time the lap ended (line crossing)
    lap_time: float = math.nan  # official lap time; NaN when none was set (SC, in-lap...)
    sector_times: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    compound: str | None = None  # "SOFT", "MEDIUM", "HARD", "INTERMEDIATE", "WET"
    tyre_age: int | None = None  # laps on this set at the end of this lap
    stint: int | None = None
    pit_in: float = math.nan  # session time the car entered the pit lane on this lap
    pit_out: float = math.nan  # session time the car left the pit lane on this lap
    position: int | None = None  # official position at the end of this lap
    deleted: bool = False  # time deleted (track limits)
    speed_trap: float = math.nan  # km/h at the official speed trap (FastF1 `SpeedST`)


@dataclass(frozen=True)
class TrackStatusInterval:
    start: float
    end: float  # NaN: until the end of the session
    status: TrackStatusCode


@dataclass(frozen=True)
class RaceControlMessage:
    time: float
    category: str  # "Flag", "SafetyCar", "Drs", "Other", ...
    message: str
    flag: str | None = None
    scope: str | None = None
    sector: int | None = None
    driver: str | None = None  # three-letter code when the message names one car
    lap: int | None = None


@dataclass(frozen=True)
class WeatherSample:
    time: float
    air_temp: float = math.nan  # °C
    track_temp: float = math.nan
    humidity: float = math.nan  # %
    pressure: float = math.nan  # mbar
    rainfall: bool | None = None
    wind_speed: float = math.nan  # m/s
    wind_direction: float = math.nan  # degrees


@dataclass(frozen=True)
class Result:
    driver: str
    grid: int | None = None  # None for a pit-lane start or unknown
    position: int | None = None  # final position in the classification
    classified: str | None = None  # "1".."20", "R" retired, "D" disqualified, "W", "N"...
    status: str = ""  # "Finished", "+1 Lap", "Retired", ...
    laps: int | None = None


@dataclass(frozen=True)
class Corner:
    number: int
    letter: str
    x: float  # metres
    y: float
    angle: float  # degrees, where to draw the label
    distance: float  # metres from the start/finish line


@dataclass(frozen=True)
class MarshalSector:
    """Where a marshal sector starts (race control names them: "YELLOW IN TRACK SECTOR 7")."""

    number: int
    x: float  # metres
    y: float
    distance: float  # metres from the start/finish line (the source's own lap)


@dataclass(frozen=True)
class CircuitInfo:
    corners: tuple[Corner, ...] = ()
    rotation: float = 0.0  # degrees the map is rotated in broadcasts
    marshal_sectors: tuple[MarshalSector, ...] = ()  # empty when the source has none


@dataclass
class RawSession:
    info: SessionInfo
    drivers: list[Driver]
    telemetry: dict[str, Telemetry]  # by driver code; a driver without data is absent
    laps: list[Lap]
    track_status: list[TrackStatusInterval] = field(default_factory=list)
    messages: list[RaceControlMessage] = field(default_factory=list)
    weather: list[WeatherSample] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    circuit: CircuitInfo = field(default_factory=CircuitInfo)
    problems: list[str] = field(default_factory=list)  # what was missing or skipped, for the user

    def driver(self, code: str) -> Driver:
        for d in self.drivers:
            if d.code == code:
                return d
        raise KeyError(f"no driver {code!r} in this session")

    def laps_of(self, code: str) -> list[Lap]:
        return sorted((lap for lap in self.laps if lap.driver == code), key=lambda lap: lap.number)
