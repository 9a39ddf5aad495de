"""Mini-sectors and speed traps, as timing screens show them.

Each lap is split into `MINI_SECTORS` parts of equal distance (the circuit's length
over `MINI_SECTORS`, counted back along the `distance` channel from the line the lap
ended on, on the frame grid); a part's time runs from
the moment the car crosses its first metre to the moment it crosses its last, read
between frames by linear interpolation. A part is marked as a timing screen marks it
at the moment it is completed: overall best (purple) when no car has been quicker
through it so far in the session, personal best (green) when the driver has not, else
normal (yellow). Only laps timed from line to line have parts: not in- and
out-laps, nor laps without an official time; laps without distance data, or cut
short by a gap in it, have parts of unknown time (`UNKNOWN`).

Speed traps: the official speed-trap speed per lap (FastF1's `SpeedST`, the lap
table's `speed_trap`) where the source has it; else the top speed in each of the
lap's three timing sectors, from the `speed` channel, and a note saying so.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from racereplay.timeline.model import Timeline

MINI_SECTORS = 25
FULL_LAP_TOLERANCE = 0.06  # share of a lap's length a timed lap may differ by
MAX_SPEED = 100.0  # m/s: no part of a lap is driven faster on average


class Mark(enum.IntEnum):
    UNKNOWN = 0
    NORMAL = 1  # yellow
    PERSONAL_BEST = 2  # green
    OVERALL_BEST = 3  # purple


@dataclass(frozen=True)
class MiniSectors:
    """One row per lap with both ends known, in the lap table's order."""

    drivers: list[str]  # driver code per row
    laps: np.ndarray  # (rows,) lap number
    ends: np.ndarray  # (rows, MINI_SECTORS) session time each part was completed, s
    times: np.ndarray  # (rows, MINI_SECTORS) seconds through each part; NaN unknown
    marks: np.ndarray  # (rows, MINI_SECTORS) Mark
    sector_top_speed: np.ndarray  # (rows, 3) km/h, the top speed in each timing sector
    speed_trap: np.ndarray  # (rows,) km/h at the official trap; NaN where none
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """The JSON the server sends (docs/protocol.md): NaN as null, times in ms."""

        def ms(a: np.ndarray) -> list[Any]:
            return [None if math.isnan(v) else round(v * 1e3) for v in a.tolist()]

        def kmh(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 1)

        return {
            "count": MINI_SECTORS,
            "notes": self.notes,
            "laps": [
                {
                    "driver": code,
                    "lap": int(self.laps[i]),
                    "ends": ms(self.ends[i]),
                    "times": ms(self.times[i]),
                    "marks": self.marks[i].tolist(),
                    "sector_top_speed": [kmh(v) for v in self.sector_top_speed[i].tolist()],
                    "speed_trap": kmh(float(self.speed_trap[i])),
                }
                for i, code in enumerate(self.drivers)
            ],
        }


def mini_sectors(timeline: Timeline) -> MiniSectors:
    """Every lap's mini-sectors, their marks, and its speed-trap figures."""
    rows = [r for r in timeline.laps if _timed_lap(r)]
    column = {d.code: i for i, d in enumerate(timeline.drivers)}
    rows = [r for r in rows if r["driver"] in column]
    n = len(rows)
    crossed = np.full((n, MINI_SECTORS + 1), np.nan)
    tops = np.full((n, 3), np.nan)
    times = timeline.t0 + np.arange(timeline.n_frames) / timeline.fps
    # The circuit's length where the map has it; else each driver's usual lap.
    lap_length = timeline.geometry.length if timeline.geometry is not None else math.nan
    for code, d in column.items():
        mine = [i for i, r in enumerate(rows) if r["driver"] == code]
        if not mine:
            continue
        starts = np.array([rows[i]["start"] for i in mine], dtype=np.float64)
        stops = np.array([rows[i]["end"] for i in mine], dtype=np.float64)
        distance = timeline.frames["distance"][:, d]
        crossed[mine] = _boundaries(times, distance, starts, stops, lap_length)
        tops[mine] = _sector_tops(timeline, d, [rows[i] for i in mine])
    ends = crossed[:, 1:]
    part_times = ends - crossed[:, :-1]
    marks = _marks([r["driver"] for r in rows], part_times, ends)
    trap = np.array([_num(r.get("speed_trap")) for r in rows], dtype=np.float64)
    notes = []
    if n and not np.isfinite(trap).any():
        notes.append(
            "speed trap: the source has no official speed-trap speeds; "
            "the top speed in each sector is shown instead"
        )
    if n and not np.isfinite(part_times).any():
        notes.append("mini-sectors: no distance data, so no mini-sector times")
    return MiniSectors(
        drivers=[r["driver"] for r in rows],
        laps=np.array([int(r["lap"]) for r in rows], dtype=np.int64),
        ends=ends,
        times=part_times,
        marks=marks,
        sector_top_speed=tops,
        speed_trap=trap,
        notes=notes,
    )


def _boundaries(
    times: np.ndarray,
    distance: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    lap_length: float,
) -> np.ndarray:
    """When each lap crossed its parts' boundaries: (laps, MINI_SECTORS + 1) session
    times, NaN unknown. Boundaries are counted back from the line the lap ended on,
    so that they lie at the same places on every lap, lap 1 (from a grid slot behind
    the line: its first part is not whole) included."""
    out = np.full((len(starts), MINI_SECTORS + 1), np.nan)
    known = np.isfinite(distance)
    if known.sum() < 2:
        return out
    t, s = times[known], np.maximum.accumulate(distance[known].astype(np.float64))
    s_start, s_stop = np.interp(starts, t, s), np.interp(stops, t, s)
    covered = s_stop - s_start
    lap = lap_length if math.isfinite(lap_length) else float(np.nanmedian(covered))
    at = s_stop[:, None] - lap * (1.0 - np.arange(MINI_SECTORS + 1) / MINI_SECTORS)[None, :]
    out[:] = _crossing(t, s, at)
    out[:, 0] = np.where(np.abs(at[:, 0] - s_start) < 1.0, starts, out[:, 0])
    out[:, -1] = stops  # the line crossing timing recorded
    out[at < s_start[:, None] - 1.0] = np.nan  # before the lap began: on the grid
    # A lap that did not cover a lap's distance (ended in the garage, cut short by a
    # gap in the data) has no comparable parts. A lap may end a moment after the car's
    # last sample (telemetry stopping at the flag): a frame or two is clamped.
    slack = 2.0 * float(np.median(np.diff(t)))
    whole = np.abs(covered - lap) <= FULL_LAP_TOLERANCE * lap
    inside = (starts >= t[0] - slack) & (stops <= t[-1] + slack)
    # A part quicker than a car can drive it is a jump in the data (a car that left
    # the garage, in sources that do not say so): the lap's parts are not timed.
    with np.errstate(invalid="ignore"):
        fastest = np.nanmin(np.diff(out, axis=1), axis=1, initial=np.inf)
    possible = fastest * MAX_SPEED >= lap / MINI_SECTORS
    out[~(whole & inside & possible)] = np.nan
    return out


def _crossing(t: np.ndarray, s: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The first time the non-decreasing distance `s` reaches each of `at`, read
    linearly between samples."""
    hi = np.clip(np.searchsorted(s, at, side="left"), 1, len(s) - 1)
    lo = hi - 1
    span = s[hi] - s[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(span > 0, (at - s[lo]) / span, 0.0)
    return t[lo] + np.clip(share, 0.0, 1.0) * (t[hi] - t[lo])


def _marks(drivers: list[str], part_times: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each part's mark against the bests set before it was completed, at the
    millisecond a timing screen shows (equal to the best is the best)."""
    part_times = np.round(part_times, 3)
    marks = np.full(part_times.shape, Mark.UNKNOWN, dtype=np.uint8)
    known = np.isfinite(part_times) & (part_times > 0)
    marks[known] = Mark.NORMAL
    who = np.array(drivers)
    for k in range(part_times.shape[1]):
        order = np.argsort(np.where(known[:, k], ends[:, k], np.inf), kind="stable")
        order = order[known[order, k]]
        best_so_far = np.minimum.accumulate(part_times[order, k])
        overall = part_times[order, k] <= best_so_far
        personal = np.zeros(len(order), dtype=bool)
        for code in np.unique(who[order]):
            own = who[order] == code
            own_times = part_times[order[own], k]
            personal[own] = own_times <= np.minimum.accumulate(own_times)
        marks[order[personal], k] = Mark.PERSONAL_BEST
        marks[order[overall], k] = Mark.OVERALL_BEST
    return marks


def _sector_tops(timeline: Timeline, d: int, rows: list[dict[str, Any]]) -> np.ndarray:
    """Top speed in each timing sector of each lap (km/h, NaN where unknown)."""
    speed = timeline.frames["speed"][:, d]
    out = np.full((len(rows), 3), np.nan)
    for i, r in enumerate(rows):
        sectors = [_num(s) for s in (r.get("sectors") or [])]
        if len(sectors) != 3 or not all(math.isfinite(s) for s in sectors[:2]):
            continue
        bounds = float(r["start"]) + np.array([0.0, sectors[0], sectors[0] + sectors[1]])
        bounds = np.append(bounds, float(r["end"]))
        frames = np.clip(np.round((bounds - timeline.t0) * timeline.fps).astype(int), 0, None)
        for j in range(3):
            part = speed[frames[j] : frames[j + 1]]
            part = part[np.isfinite(part)]
            if part.size:
                out[i, j] = float(part.max())
    return out


def _timed_lap(row: dict[str, Any]) -> bool:
    """A lap timed from line to line. Out-laps start at the pit exit, in-laps end in
    the pit lane or the garage, and a lap without an official time may have estimated
    ends: their parts would not lie where other laps' do. Nor would lap 1's from a
    standing start (in the archive's own timing its distance channel runs up to 45%
    ahead in places)."""
    start, end, lap_time = (_num(row.get(key)) for key in ("start", "end", "lap_time"))
    return (
        row.get("lap") != 1
        and abs(end - start - lap_time) < 0.5  # False where any is NaN
        and not _finite(row.get("pit_in"))
        and not _finite(row.get("pit_out"))
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: Any) -> float:
    return float(value) if _finite(value) else math.nan
