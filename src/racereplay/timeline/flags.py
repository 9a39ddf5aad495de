"""Flags on the map: marshal-sector yellows, the Safety Car, the VSC, the medical car.

Everything here is derived from a timeline's events (race control messages and track
status changes) and its geometry, as periods of session time, so that a viewer shows
the state at any moment by looking the moment up (a seek back shows the right flags,
with no state carried from frame to frame):

- `yellow_periods`: a message scoped to a marshal sector with flag `YELLOW` or
  `DOUBLE YELLOW` sets that sector (a later one replaces its flag); `CLEAR` for that
  sector clears it, and so does any track-wide `CLEAR`/`GREEN` message ("TRACK CLEAR",
  "GREEN LIGHT - PIT EXIT OPEN") or a change of track status to green (status 1 means
  no yellow anywhere). A sector still yellow at the end of the timeline stays so.
- `marshal_spans`: where each marshal sector lies on the outline: from the circuit
  info's marshal sector starts where the source has them (`TrackGeometry.marshal_sectors`),
  else equal stretches of the lap, as many as the highest sector race control names
  (`estimated`, drawn dashed).
- `safety_car_periods`: while the track status is Safety Car (4), with the time of
  "SAFETY CAR IN THIS LAP" when race control said it. No source here records where the
  Safety Car is (FastF1's position data covers the race cars only), so the map draws
  an estimate `SC_AHEAD_M` ahead of the leader along the track (`sc_marker_distance`),
  labelled as such.
- `vsc_periods`: track status VSC (6) or VSC ending (7): no car is drawn, the map says VSC.
- `medical_car_notes`: a message naming the medical car gives a note (never a position)
  until the track is clear or green again, at most `MEDICAL_NOTE_MAX_S`.

`track_flags(timeline)` gathers them for the metadata's `flags` (docs/protocol.md), with
one `problems` line for each estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from racereplay.model import TrackStatusCode
from racereplay.timeline.model import Event, EventKind, Timeline

SC_AHEAD_M = 250.0  # the estimated Safety Car: this far ahead of the leader, along the track
MEDICAL_NOTE_MAX_S = 300.0  # a medical car note lasts at most this long without a clear
YELLOW_FLAGS = ("YELLOW", "DOUBLE YELLOW")
TRACK_CLEARING_FLAGS = ("CLEAR", "GREEN")
SC_STATUSES = (int(TrackStatusCode.SAFETY_CAR),)
VSC_STATUSES = (int(TrackStatusCode.VSC), int(TrackStatusCode.VSC_ENDING))


def _sector_of(data: dict[str, Any]) -> int | None:
    """The marshal sector a message is scoped to, or None."""
    if str(data.get("scope") or "").lower() != "sector":
        return None
    sector = data.get("sector")
    try:
        n = int(sector) if sector is not None else 0
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _flag(data: dict[str, Any]) -> str:
    return str(data.get("flag") or "").upper()


def _in_time_order(events: Iterable[Event]) -> list[Event]:
    """Messages and track status changes by time; at one instant a status change first
    (a green status clears, and a message at the same instant may set a sector again)."""
    kept = [e for e in events if e.kind in (EventKind.MESSAGE, EventKind.TRACK_STATUS)]
    return sorted(kept, key=lambda e: (e.time, 0 if e.kind == EventKind.TRACK_STATUS else 1))


def yellow_periods(events: Iterable[Event], end_time: float) -> list[dict[str, Any]]:
    """Each marshal sector's yellow spells: `{"sector", "flag", "start", "end"}` by start."""
    active: dict[int, tuple[str, float]] = {}
    out: list[dict[str, Any]] = []

    def close(sector: int, t: float) -> None:
        flag, start = active.pop(sector)
        if t > start:
            out.append({"sector": sector, "flag": flag, "start": start, "end": t})

    for e in _in_time_order(events):
        if not math.isfinite(e.time):
            continue
        if e.kind == EventKind.TRACK_STATUS:
            if int(e.data.get("status", 0)) == int(TrackStatusCode.GREEN):
                for s in list(active):
                    close(s, e.time)
            continue
        flag, named = _flag(e.data), _sector_of(e.data)
        if named is None:
            if str(e.data.get("scope") or "").lower() == "track" and flag in TRACK_CLEARING_FLAGS:
                for s in list(active):
                    close(s, e.time)
            continue
        sector = named
        if flag in YELLOW_FLAGS:
            if sector in active and active[sector][0] == flag:
                continue  # repeated: the spell goes on
            if sector in active:
                close(sector, e.time)
            active[sector] = (flag, e.time)
        elif flag == "CLEAR" and sector in active:
            close(sector, e.time)
    for sector in list(active):
        close(sector, max(end_time, active[sector][1]))
    out.sort(key=lambda p: (p["start"], p["sector"]))
    return out


def yellow_sectors_at(periods: Sequence[dict[str, Any]], t: float) -> dict[int, str]:
    """The marshal sectors under yellow at session time `t`: {sector: flag}."""
    return {p["sector"]: p["flag"] for p in periods if p["start"] <= t < p["end"]}


def highest_sector_named(events: Iterable[Event]) -> int:
    """The highest marshal sector number any race control message names (0: none)."""
    return max(
        (s for e in events if e.kind == EventKind.MESSAGE if (s := _sector_of(e.data))),
        default=0,
    )


def estimated_marshal_spans(length: float, count: int) -> list[dict[str, Any]]:
    """`count` equal stretches of a `length`-metre lap, numbered 1.. from the line."""
    if count <= 0 or not length > 0:
        return []
    edges = np.linspace(0.0, length, count + 1)
    return [
        {"number": k + 1, "start": round(float(edges[k]), 1), "end": round(float(edges[k + 1]), 1)}
        for k in range(count)
    ]


def marshal_spans(starts: Sequence[dict[str, Any]], length: float) -> list[dict[str, Any]]:
    """Spans from marshal sector starts (`number`, `distance` along the lap): each runs to
    the next start along the track; the last one wraps past the line (`end` > `length`)."""
    ordered = sorted(starts, key=lambda m: float(m["distance"]))
    out = []
    for i, m in enumerate(ordered):
        start = float(m["distance"])
        nxt = ordered[(i + 1) % len(ordered)]
        end = float(nxt["distance"]) + (length if i + 1 == len(ordered) else 0.0)
        out.append({"number": int(m["number"]), "start": round(start, 1), "end": round(end, 1)})
    return sorted(out, key=lambda s: s["number"])


def _status_runs(
    events: Iterable[Event], statuses: tuple[int, ...], end_time: float
) -> list[tuple[float, float, list[tuple[float, int]]]]:
    """Spells of track status within `statuses`: (start, end, [(time, status) inside])."""
    runs: list[tuple[float, float, list[tuple[float, int]]]] = []
    start: float | None = None
    inside: list[tuple[float, int]] = []
    changes = sorted(
        (e.time, int(e.data.get("status", 0)))
        for e in events
        if e.kind == EventKind.TRACK_STATUS and math.isfinite(e.time)
    )
    for t, status in changes:
        if status in statuses:
            if start is None:
                start, inside = t, []
            inside.append((t, status))
        elif start is not None:
            runs.append((start, t, inside))
            start = None
    if start is not None:
        runs.append((start, max(end_time, start), inside))
    return runs


def safety_car_periods(events: Sequence[Event], end_time: float) -> list[dict[str, Any]]:
    """While the track status is Safety Car: `{"start", "end", "in_this_lap"}` (the time
    race control said "SAFETY CAR IN THIS LAP", or None)."""
    out = []
    for start, end, _ in _status_runs(events, SC_STATUSES, end_time):
        in_lap = [
            e.time
            for e in events
            if e.kind == EventKind.MESSAGE
            and start <= e.time < end
            and "SAFETY CAR IN THIS LAP" in str(e.data.get("message", "")).upper()
        ]
        out.append({"start": start, "end": end, "in_this_lap": min(in_lap) if in_lap else None})
    return out


def vsc_periods(events: Sequence[Event], end_time: float) -> list[dict[str, Any]]:
    """While the track status is VSC or VSC ending: `{"start", "end", "ending"}` (when the
    VSC ending status began, or None)."""
    out = []
    for start, end, inside in _status_runs(events, VSC_STATUSES, end_time):
        ending = [t for t, s in inside if s == int(TrackStatusCode.VSC_ENDING)]
        out.append({"start": start, "end": end, "ending": ending[0] if ending else None})
    return out


def medical_car_notes(events: Sequence[Event], end_time: float) -> list[dict[str, Any]]:
    """Messages naming the medical car: `{"start", "end", "message"}`; no position."""
    ordered = _in_time_order(events)
    notes = []
    for i, e in enumerate(ordered):
        text = str(e.data.get("message", "")) if e.kind == EventKind.MESSAGE else ""
        if "MEDICAL CAR" not in text.upper():
            continue
        end = min(e.time + MEDICAL_NOTE_MAX_S, max(end_time, e.time))
        for later in ordered[i + 1 :]:
            if later.time >= end:
                break
            green = later.kind == EventKind.TRACK_STATUS and int(
                later.data.get("status", 0)
            ) == int(TrackStatusCode.GREEN)
            clear = (
                later.kind == EventKind.MESSAGE
                and str(later.data.get("scope") or "").lower() == "track"
                and _flag(later.data) in TRACK_CLEARING_FLAGS
            )
            if green or clear:
                end = later.time
                break
        notes.append({"start": e.time, "end": end, "message": text})
    return notes


def sc_marker_distance(
    leader_distance: np.ndarray | float, length: float, ahead: float = SC_AHEAD_M
) -> np.ndarray:
    """Where the estimated Safety Car is drawn: metres along the lap (0..length), `ahead`
    of the leader's race distance. Race distance is counted on the track even while the
    leader is in the pit lane, and is negative on the grid, so the marker stays on the
    track in both. NaN where the leader's distance is unknown."""
    d = np.asarray(leader_distance, dtype=np.float64)
    return np.mod(d + ahead, length)


def point_on_outline(
    outline: np.ndarray, length: float, distance: np.ndarray | float
) -> np.ndarray:
    """x/y (…, 2) of the outline at lap distances (the outline is sampled evenly along a
    lap of `length` metres, so index = distance / length * points), wrapping at the line."""
    n = len(outline)
    pos = np.mod(np.asarray(distance, dtype=np.float64), length) / length * n
    i = np.floor(np.nan_to_num(pos)).astype(np.int64) % n
    frac = (pos - np.floor(pos))[..., None]
    a = outline[i].astype(np.float64)
    b = outline[(i + 1) % n].astype(np.float64)
    out = a + (b - a) * frac
    out[~np.isfinite(pos)] = np.nan
    return out


def track_flags(timeline: Timeline) -> dict[str, Any]:
    """The metadata's `flags`: what the map draws and when (see the module's doc)."""
    events = timeline.events
    end_time = timeline.t0 + timeline.duration
    geometry = timeline.geometry
    problems: list[str] = []
    yellows = yellow_periods(events, end_time)
    named = sorted({p["sector"] for p in yellows})
    highest = highest_sector_named(events)
    spans: list[dict[str, Any]] = []
    estimated = False
    if geometry is not None and geometry.marshal_sectors:
        spans = marshal_spans(geometry.marshal_sectors, geometry.length)
        known = {s["number"] for s in spans}
        unknown = [n for n in named if n not in known]
        if unknown:
            problems.append(
                "yellow flags: marshal sector(s) "
                + ", ".join(map(str, unknown))
                + " named by race control are not in the circuit info: not drawn"
            )
    elif geometry is not None and highest:
        spans = estimated_marshal_spans(geometry.length, highest)
        estimated = True
        problems.append(
            f"yellow flags: the source has no marshal sector positions: the {highest} "
            "sectors race control names are drawn as equal stretches of the lap "
            "(estimated, dashed)"
        )
    has_yellow_status = any(
        e.kind == EventKind.TRACK_STATUS and int(e.data.get("status", 0)) == 2 for e in events
    )
    if has_yellow_status and not highest:
        problems.append(
            "yellow flags: no race control message names a marshal sector: "
            "yellows are not drawn on the map"
        )
    safety_car = safety_car_periods(events, end_time)
    if safety_car:
        problems.append(
            "Safety Car: the source has no Safety Car position: the map shows an estimate "
            f'{SC_AHEAD_M:g} m ahead of the leader, labelled "SC (estimated)"'
        )
    medical = medical_car_notes(events, end_time)
    if medical:
        problems.append(
            "medical car: race control names it but the source has no position: "
            "a note on the map, no marker"
        )
    return {
        "marshal_sectors": spans,
        "marshal_estimated": estimated,
        "yellow": yellows,
        "safety_car": safety_car,
        "sc_ahead": SC_AHEAD_M,
        "sc_estimated": True,
        "vsc": vsc_periods(events, end_time),
        "medical_car": medical,
        "problems": problems,
    }
