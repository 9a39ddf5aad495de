"""What happened, when: lap and sector completions, pits, overtakes, flags, messages."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from racereplay.model import RawSession, TrackStatusCode
from racereplay.timeline.framegrid import FrameGrid
from racereplay.timeline.laptable import DriverLaps
from racereplay.timeline.model import Compound, DriverStatus, Event, EventKind
from racereplay.timeline.qualifying import Segment
from racereplay.timeline.results import _num, personal_best_flags, valid_lap_times

TRACK_LABELS = {
    TrackStatusCode.GREEN: "Green flag",
    TrackStatusCode.YELLOW: "Yellow flag",
    TrackStatusCode.SAFETY_CAR: "Safety Car",
    TrackStatusCode.RED: "Red flag",
    TrackStatusCode.VSC: "Virtual Safety Car",
    TrackStatusCode.VSC_ENDING: "Virtual Safety Car ending",
}


def build_events(
    raw: RawSession,
    laps: dict[str, DriverLaps],
    codes: list[str],
    frame_grid: FrameGrid,
    frames: dict[str, np.ndarray],
    segments: list[Segment] | None = None,
) -> list[Event]:
    events = [
        *segment_events(segments or []),
        *lap_events(laps),
        *sector_events(laps),
        *pit_events(laps, codes, frame_grid, frames["speed"], raw.info.kind.is_race),
        *overtake_events(
            codes,
            frame_grid,
            frames["position"],
            racing(laps, codes, frame_grid, frames),
            defending(laps, codes, frame_grid, frames["speed"]),
        ),
        *fate_events(laps, frames, frame_grid, codes),
        *track_status_events(raw),
        *message_events(raw),
        *weather_events(raw),
    ]
    events.sort(key=lambda e: (e.time, e.kind, e.driver or ""))
    return events


def _overall_best_flags(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For values set at `times`: True where a value beat every earlier one (NaN never)."""
    order = np.argsort(times, kind="stable")
    v = values[order]
    best_so_far = np.minimum.accumulate(np.where(np.isfinite(v), v, np.inf))
    best_before = np.concatenate([[np.inf], best_so_far[:-1]])
    flags = np.empty(len(v), dtype=bool)
    flags[order] = np.isfinite(v) & (v < best_before)
    return flags


def lap_events(laps: dict[str, DriverLaps]) -> list[Event]:
    pbs = personal_best_flags(laps)
    rows = [(code, i) for code, dl in laps.items() for i in range(dl.completed)]
    if not rows:
        return []
    ends = np.array([laps[c].end[i] for c, i in rows])
    valid = np.array([valid_lap_times(laps[c])[i] for c, i in rows])
    overall = _overall_best_flags(ends, valid)
    return [
        Event(
            float(ends[k]),
            EventKind.LAP,
            code,
            {
                "lap": int(laps[code].number[i]),
                "lap_time": _num(laps[code].lap_time[i]),
                "sectors": [_num(s) for s in laps[code].sectors[i]],
                "personal_best": bool(pbs[code][i]),
                "overall_best": bool(overall[k]),
                "position": int(laps[code].position[i]) or None,
            },
        )
        for k, (code, i) in enumerate(rows)
    ]


def sector_events(laps: dict[str, DriverLaps]) -> list[Event]:
    events: list[Event] = []
    for sector in range(3):
        rows: list[tuple[str, int, float, float]] = []
        for code, dl in laps.items():
            n = len(dl.number)
            if sector == 2:
                ends = np.where(np.arange(n) < dl.completed, dl.end, np.nan)
            else:
                ends = dl.start + dl.sectors[:, : sector + 1].sum(axis=1)
            times = np.where(dl.deleted, np.nan, dl.sectors[:, sector])
            rows += [
                (code, i, float(ends[i]), float(times[i]))
                for i in range(n)
                if math.isfinite(ends[i])
            ]
        if not rows:
            continue
        when = np.array([r[2] for r in rows])
        values = np.array([r[3] for r in rows])
        overall = _overall_best_flags(when, values)
        personal = np.zeros(len(rows), dtype=bool)
        codes = np.array([r[0] for r in rows])
        for code in set(codes.tolist()):
            mine = np.flatnonzero(codes == code)
            personal[mine] = _overall_best_flags(when[mine], values[mine])
        events += [
            Event(
                r[2],
                EventKind.SECTOR,
                r[0],
                {
                    "lap": int(laps[r[0]].number[r[1]]),
                    "sector": sector + 1,
                    "time": _num(r[3]),
                    "personal_best": bool(personal[k]),
                    "overall_best": bool(overall[k]),
                },
            )
            for k, r in enumerate(rows)
        ]
    return events


# A pit-lane visit counts as a stop only if the car changed tyres: behind a Safety Car
# the field is sometimes led through the pit lane (2025 Australia, laps 2-4), and
# official timing records those drive-throughs with pit-in and pit-out times too.
# Where stints are not known, a car that stood in its box (but not for a red flag's
# wait) stopped.
STOP_MIN_STATIONARY_S = 1.0
STOP_MAX_STATIONARY_S = 60.0
STATIONARY_KMH = 3.0


def pit_events(
    laps: dict[str, DriverLaps],
    codes: list[str],
    frame_grid: FrameGrid,
    speed: np.ndarray,
    race: bool,
) -> list[Event]:
    """Pit-lane entries and exits for every visit; in a race, a pit stop where the car
    changed tyres (outside races, a visit to the garage is no pit stop)."""
    events: list[Event] = []
    for code, dl in laps.items():
        ins = [
            (float(t), int(n))
            for t, n in zip(dl.pit_in, dl.number, strict=True)
            if math.isfinite(t)
        ]
        outs = [
            (float(t), int(n), int(c))
            for t, n, c in zip(dl.pit_out, dl.number, dl.compound, strict=True)
            if math.isfinite(t)
        ]
        events += [Event(t, EventKind.PIT_IN, code, {"lap": n}) for t, n in ins]
        events += [
            Event(t, EventKind.PIT_OUT, code, {"lap": n, "compound": Compound(c).name})
            for t, n, c in outs
        ]
        driver_speed = speed[:, codes.index(code)] if code in codes else None
        for t_in, n_in in ins if race else []:
            t_out, n_out = next(((t, n) for t, n, _ in outs if t >= t_in), (math.nan, 0))
            if not math.isfinite(t_out):
                continue
            still = _stationary_seconds(driver_speed, frame_grid, t_in, t_out)
            if t_out - t_in < STOP_MIN_STATIONARY_S:
                still = math.nan  # pit times unknown: a stop placed at the line
            if _changed_tyres(dl, n_in, n_out, still):
                data = {"lap": n_in, "duration": _num(t_out - t_in), "stationary": _num(still)}
                events.append(Event(t_out, EventKind.PIT_STOP, code, data))
    return events


def _changed_tyres(dl: DriverLaps, n_in: int, n_out: int, stationary: float) -> bool:
    """Whether a visit from lap n_in to lap n_out was a stop for tyres: the car stood in
    its box where telemetry shows it; else the tyres' age restarted or the compound
    changed; else a new stint (FastF1 starts one at every pit exit, stop or not)."""
    before, after = np.searchsorted(dl.number, [n_in, n_out])
    if after >= len(dl.number):
        return False  # never came out to race again
    if math.isfinite(stationary):
        return STOP_MIN_STATIONARY_S <= stationary <= STOP_MAX_STATIONARY_S
    ages = dl.tyre_age[before], dl.tyre_age[after]
    if dl.compound[before] != dl.compound[after] or (min(ages) >= 0 and ages[1] <= ages[0]):
        return True
    if min(ages) >= 0 or Compound.UNKNOWN not in (dl.compound[before], dl.compound[after]):
        return False
    return bool(min(dl.stint[before], dl.stint[after]) >= 0 and dl.stint[before] != dl.stint[after])


def _stationary_seconds(
    speed: np.ndarray | None, frame_grid: FrameGrid, start: float, end: float
) -> float:
    """Seconds the car stood still between `start` and `end`; NaN without telemetry there."""
    if speed is None:
        return math.nan
    first, last = frame_grid.frame_of(np.array([start, end]))
    window = speed[first : last + 1]
    if not np.isfinite(window).any():
        return math.nan
    return float(np.count_nonzero(window < STATIONARY_KMH)) / frame_grid.fps


# A car is slowing for the pit lane or getting back up to speed this long around its
# visit (pit entry and exit roads; 2025 Australia: passed 0-12 s before the pit-in line).
PIT_ROAD_S = 15.0
STANDING_KMH = 10.0
# No racing: overtaking is not allowed, places change through pit stops and retirements,
# and cars nose to tail behind the Safety Car are closer than race distance can tell apart.
NEUTRALISED = (
    TrackStatusCode.SAFETY_CAR,
    TrackStatusCode.RED,
    TrackStatusCode.VSC,
    TrackStatusCode.VSC_ENDING,
)


def racing(
    laps: dict[str, DriverLaps],
    codes: list[str],
    frame_grid: FrameGrid,
    frames: dict[str, np.ndarray],
) -> np.ndarray:
    """(F, D) True where a car races for places: running (not in the pit lane, retired or
    finished), the track not neutralised, and not stopped for good (official timing keeps
    a stopped car in its place until its lap is over: the places it loses are lost to
    its retirement)."""
    times = frame_grid.times
    ok = frames["status"] == DriverStatus.RUNNING
    ok &= ~np.isin(frames["track_status"], NEUTRALISED)[:, None]
    for j, code in enumerate(codes):
        dl = laps[code]
        if dl.retired and math.isfinite(dl.stop_time):
            ok[times >= dl.stop_time, j] = False
    return ok


def defending(
    laps: dict[str, DriverLaps], codes: list[str], frame_grid: FrameGrid, speed: np.ndarray
) -> np.ndarray:
    """(F, D) True where a car that loses a place is passed, not left behind: it is not
    within PIT_ROAD_S before a pit entry or after a pit exit (the place is lost to the
    stop), nor standing (stalled, or stopped where it crashed)."""
    times = frame_grid.times
    with np.errstate(invalid="ignore"):  # NaN speed (no telemetry): not known to stand
        ok = ~(speed < STANDING_KMH)
    for j, code in enumerate(codes):
        dl = laps[code]
        ins, outs = dl.pit_in[np.isfinite(dl.pit_in)], dl.pit_out[np.isfinite(dl.pit_out)]
        spans = [
            *zip(ins - PIT_ROAD_S, ins, strict=True),
            *zip(outs, outs + PIT_ROAD_S, strict=True),
        ]
        for start, end in spans:
            first, last = np.searchsorted(times, [start, end], side="left")
            ok[first:last, j] = False
    return ok


def overtake_events(
    codes: list[str],
    frame_grid: FrameGrid,
    position: np.ndarray,
    racing: np.ndarray,
    defending: np.ndarray,
) -> list[Event]:
    """A car that takes the place of another while both race (`racing`) and the other
    defends it (`defending`)."""
    if len(position) < 2:
        return []
    # Only the frames where the order changes can hold a pass: (F, D) temporaries
    # for a whole race would be the build's largest.
    k = np.flatnonzero((position[1:] != position[:-1]).any(axis=1))
    before_k, after_k = position[k], position[k + 1]
    both = racing[k + 1] & racing[k]
    passable = both & defending[k + 1] & defending[k]
    gained = (after_k < before_k) & both
    rows, movers = np.nonzero(gained)
    events: list[Event] = []
    for row, a in zip(rows.tolist(), movers.tolist(), strict=True):
        before, after = before_k[row], after_k[row]
        # The cars passed: ahead of `a` before, behind it after, and passable.
        passed = np.flatnonzero((before < before[a]) & (after > after[a]) & passable[row])
        for b in passed.tolist():
            events.append(
                Event(
                    frame_grid.t0 + (int(k[row]) + 1) / frame_grid.fps,
                    EventKind.OVERTAKE,
                    codes[a],
                    {"position": int(after[a]), "passed": codes[b]},
                )
            )
    return events


def fate_events(
    laps: dict[str, DriverLaps],
    frames: dict[str, np.ndarray],
    frame_grid: FrameGrid,
    codes: list[str],
) -> list[Event]:
    events: list[Event] = []
    for j, code in enumerate(codes):
        dl = laps[code]
        if not math.isfinite(dl.stop_time) or len(dl.number) == 0:
            continue
        if not dl.started:
            data = {"lap": 0, "reason": "did not start"}
            events.append(Event(float(dl.start[0]), EventKind.RETIREMENT, code, data))
        elif dl.retired:
            lap = int(dl.number[-1])
            events.append(Event(dl.out_time, EventKind.RETIREMENT, code, {"lap": lap}))
        elif dl.finished:
            position = int(frames["position"][frame_grid.frame_of(dl.stop_time), j])
            final = int(frames["position"][-1, j])
            events.append(
                Event(
                    dl.stop_time,
                    EventKind.FINISH,
                    code,
                    {"position": final or position, "lap": int(dl.number[dl.completed - 1])},
                )
            )
    return events


def track_status_events(raw: RawSession) -> list[Event]:
    return [
        Event(
            i.start,
            EventKind.TRACK_STATUS,
            None,
            {"status": int(i.status), "label": TRACK_LABELS.get(i.status, str(i.status))},
        )
        for i in raw.track_status
        if math.isfinite(i.start)
    ]


def message_events(raw: RawSession) -> list[Event]:
    return [
        Event(
            m.time,
            EventKind.MESSAGE,
            m.driver,
            {
                "category": m.category,
                "message": m.message,
                "flag": m.flag,
                "scope": m.scope,
                "sector": m.sector,
                "driver": m.driver,
                "lap": m.lap,
            },
        )
        for m in raw.messages
        if math.isfinite(m.time)
    ]


def segment_events(segments: list[Segment]) -> list[Event]:
    """Qualifying parts, for tabs (Q1, Q2, Q3): one event at each part's start."""
    return [
        Event(
            s.start,
            EventKind.SEGMENT,
            None,
            {"name": s.name, "start": _num(s.start), "end": _num(s.end)},
        )
        for s in segments
    ]


def weather_events(raw: RawSession) -> list[Event]:
    def clean(sample: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (_num(v) if isinstance(v, float) else v) for k, v in sample.items() if k != "time"
        }

    return [
        Event(w.time, EventKind.WEATHER, None, clean(asdict(w)))
        for w in raw.weather
        if math.isfinite(w.time)
    ]
