"""Each driver's laps as arrays, and what became of the driver (finished, retired).

This is the official timing the rest of the build is anchored to: lap boundaries
give the race distance, pit times give the pit-lane status, the results give
who finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racereplay.model import Lap, RawSession, Result, Telemetry
from racereplay.timeline.model import Compound

MOVING_KMH = 1.0  # below this a car is stopped (used to find when a retired car stopped)
NOT_FINISHED = {"R", "D", "E", "W", "F", "N"}


@dataclass
class DriverLaps:
    code: str
    number: np.ndarray  # int, sorted
    start: np.ndarray  # float64 session time, gaps filled from the previous lap's end
    end: np.ndarray
    lap_time: np.ndarray
    sectors: np.ndarray  # (n, 3)
    pit_in: np.ndarray
    pit_out: np.ndarray
    compound: np.ndarray  # uint8 Compound
    tyre_age: np.ndarray  # int, -1 unknown
    stint: np.ndarray  # int, -1 unknown
    position: np.ndarray  # int, 0 unknown
    deleted: np.ndarray  # bool: lap time deleted (track limits)
    finished: bool  # took the chequered flag (classified as running at the end)
    retired: bool  # classified as not finished
    started: bool  # took the start (a car that never moved after lights out did not)
    completed: int  # laps completed (crossed the line at their end)
    stop_time: float  # retired: when the car stopped; finished: final line crossing; else nan
    out_time: float  # when timing gives the car up (end of its last lap, else stop_time)

    @property
    def boundaries(self) -> np.ndarray:
        """Session times of lap 1's start and of each completed lap's end."""
        if len(self.number) == 0:
            return np.empty(0)
        return np.concatenate([self.start[:1], self.end[: self.completed]])


def _floats(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def driver_laps(
    code: str,
    laps: list[Lap],
    result: Result | None,
    tel: Telemetry | None,
    start_time: float,
    race_end: float = math.nan,
) -> DriverLaps:
    """`race_end`: in a race, when the winner took the flag; it tells a finisher from a
    retirement when the result has no status (archive data, a partial FastF1 cache)."""
    laps = sorted(laps, key=lambda lap: lap.number)
    start = _floats([lap.start for lap in laps])
    end = _floats([lap.end for lap in laps])
    # A lap without a start began when the previous one ended (or at lights out).
    previous_end = np.concatenate([[start_time], end[:-1]]) if len(laps) else end
    start = np.where(np.isfinite(start), start, previous_end)
    started = _took_the_start(tel, start_time)
    if _has_status(result) or not math.isfinite(race_end):
        retired = _is_retired(result)
    else:
        # A finisher crosses the line after the winner does; a car that stopped, before.
        retired = not (len(end) and np.nanmax(end, initial=-np.inf) >= race_end - 1.0)
    retired = retired or not started
    finished = bool(laps) and not retired and _is_finisher(result)
    # A retired driver's last lap is the one they did not complete.
    completed = len(laps) - 1 if retired and laps else len(laps)
    while completed > 0 and not math.isfinite(end[completed - 1]):
        completed -= 1
    if finished:
        stop_time = float(end[completed - 1]) if completed else math.nan
    elif retired:
        stop_time = _stop_time(laps, start, end, completed, tel)
    else:
        stop_time = math.nan
    # A car is out of the race the moment it stops for good, not when timing
    # gives up on it at the end of its lap.
    out_time = stop_time
    if retired and not math.isfinite(out_time) and laps and math.isfinite(end[-1]):
        out_time = float(end[-1])
    return DriverLaps(
        code=code,
        number=np.asarray([lap.number for lap in laps], dtype=np.int64),
        start=start,
        end=end,
        lap_time=_floats([lap.lap_time for lap in laps]),
        sectors=np.asarray([lap.sector_times for lap in laps], dtype=np.float64).reshape(-1, 3),
        pit_in=_floats([lap.pit_in for lap in laps]),
        pit_out=_floats([lap.pit_out for lap in laps]),
        compound=_compound_per_lap(laps),
        tyre_age=np.asarray([-1 if lap.tyre_age is None else lap.tyre_age for lap in laps]),
        stint=np.asarray([-1 if lap.stint is None else lap.stint for lap in laps]),
        position=np.asarray([lap.position or 0 for lap in laps], dtype=np.int64),
        deleted=np.asarray([lap.deleted for lap in laps], dtype=bool),
        finished=finished,
        retired=retired,
        started=started,
        completed=completed,
        stop_time=stop_time,
        out_time=out_time,
    )


def _is_retired(result: Result | None) -> bool:
    if result is None:
        return False
    if result.classified is not None and result.classified.strip().upper() in NOT_FINISHED:
        return True
    status = result.status.lower()
    return bool(status) and not (status.startswith(("finished", "+", "lapped")))


def _compound_per_lap(laps: list[Lap]) -> np.ndarray:
    """Each lap's compound; a lap the data leaves blank (an in-lap, a lap behind the
    Safety Car) ran on the tyres of the lap before it, or, before any, after it, as
    long as no pit visit lies between."""
    compound = np.asarray([Compound.parse(lap.compound) for lap in laps], dtype=np.uint8)
    for step in (1, -1):
        indices = range(1, len(laps)) if step == 1 else range(len(laps) - 2, -1, -1)
        for i in indices:
            j = i - step
            later = laps[max(i, j)]
            pitted = math.isfinite(later.pit_out) or math.isfinite(laps[min(i, j)].pit_in)
            if compound[i] == Compound.UNKNOWN and not pitted:
                compound[i] = compound[j]
    return compound


def _has_status(result: Result | None) -> bool:
    return result is not None and bool(result.status.strip() or (result.classified or "").strip())


# A car that never goes faster than this after lights out did not take the start.
STARTED_KMH = 10.0


def _took_the_start(tel: Telemetry | None, start_time: float) -> bool:
    """False only when telemetry shows the car standing still from lights out on."""
    if tel is None or len(tel) < 2 or not math.isfinite(start_time):
        return True
    after = tel.time >= start_time
    return not after.any() or bool(np.nanmax(tel.speed[after]) > STARTED_KMH)


def _is_finisher(result: Result | None) -> bool:
    # Without results we cannot tell a retirement from a finish: treat as running to the end.
    return result is None or not _is_retired(result)


def _stop_time(
    laps: list[Lap], start: np.ndarray, end: np.ndarray, completed: int, tel: Telemetry | None
) -> float:
    """When a retired car stopped: its last moving sample in the lap it did not finish."""
    if not laps:
        return math.nan
    last = len(laps) - 1
    lap_start = float(start[last])
    latest = float(end[completed - 1]) if completed else lap_start
    if tel is not None and len(tel):
        moving = (tel.time >= lap_start) & (np.asarray(tel.speed) > MOVING_KMH)
        if moving.any():
            return max(float(tel.time[moving][-1]), latest)
    return latest


def all_driver_laps(raw: RawSession) -> dict[str, DriverLaps]:
    results = {r.driver: r for r in raw.results}
    start_time = raw.info.start_time
    if not math.isfinite(start_time):
        starts = [lap.start for lap in raw.laps if lap.number == 1 and math.isfinite(lap.start)]
        start_time = min(starts) if starts else math.nan
    end = race_end(raw) if raw.info.kind.is_race else math.nan
    return {
        d.code: driver_laps(
            d.code,
            raw.laps_of(d.code),
            results.get(d.code),
            raw.telemetry.get(d.code),
            start_time,
            end,
        )
        for d in raw.drivers
    }


def race_end(raw: RawSession) -> float:
    """When the winner took the chequered flag: the first to complete the race's laps."""
    timed = [lap for lap in raw.laps if math.isfinite(lap.end)]
    if not timed:
        return math.nan
    last = raw.info.total_laps or max(lap.number for lap in timed)
    return min((lap.end for lap in timed if lap.number >= last), default=math.nan)


# Without telemetry the race distance is only compared with itself (order, gaps,
# laps down), so any length serves; this one is a typical circuit's.
NOMINAL_LAP_LENGTH = 5000.0


def lap_length(raw: RawSession, per_driver: dict[str, DriverLaps]) -> float | None:
    """One lap in metres: the median telemetry distance of complete laps without a pit
    stop, after the first. A session of one lap has only first laps: then the shortest
    of them (the car that started nearest the line ran one lap). None when no complete
    lap has telemetry."""
    later = _lap_distances(raw, per_driver, first=False)
    if len(later):
        return float(np.median(later))
    first = _lap_distances(raw, per_driver, first=True)
    return float(np.min(first)) if len(first) else None


def _lap_distances(raw: RawSession, per_driver: dict[str, DriverLaps], first: bool) -> np.ndarray:
    lengths: list[np.ndarray] = []
    for code, dl in per_driver.items():
        tel = raw.telemetry.get(code)
        if tel is None or len(tel) < 2 or dl.completed == 0:
            continue
        n = dl.completed
        clean = ~(np.isfinite(dl.pit_in[:n]) | np.isfinite(dl.pit_out[:n]))
        clean &= np.isfinite(dl.lap_time[:n]) & (
            (dl.number[:n] == 1) if first else (dl.number[:n] > 1)
        )
        d0 = np.interp(dl.start[:n][clean], tel.time, tel.distance)
        d1 = np.interp(dl.end[:n][clean], tel.time, tel.distance)
        lengths.append(d1 - d0)
    values = np.concatenate(lengths) if lengths else np.empty(0)
    return values[values > 500]  # a lap shorter than that is a data gap, not a lap
