"""A short, JSON-able account of a timeline (`racereplay inspect --json`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from racereplay.timeline.fidelity import fidelity
from racereplay.timeline.flags import track_flags
from racereplay.timeline.model import EventKind, Timeline
from racereplay.timeline.pitloss import pit_exit


def summarize(timeline: Timeline) -> dict[str, Any]:
    codes = [d.code for d in timeline.drivers]
    final = timeline.frames["position"][-1]
    placed = [j for j in np.argsort(final, kind="stable") if final[j] > 0]
    lap_end_order: dict[int, list[tuple[float, str]]] = {}
    for row in timeline.laps:
        if row["end"] is not None:
            lap_end_order.setdefault(row["lap"], []).append((row["end"], row["driver"]))
    pit_stops: dict[str, list[int]] = {}
    pit_lane_visits: dict[str, list[int]] = {}
    retirements: dict[str, int] = {}
    did_not_start: list[str] = []
    overtakes = 0
    segments: list[dict[str, Any]] = []
    for event in timeline.events:
        if event.kind == EventKind.PIT_STOP and event.driver:
            pit_stops.setdefault(event.driver, []).append(int(event.data["lap"]))
        elif event.kind == EventKind.PIT_IN and event.driver:
            pit_lane_visits.setdefault(event.driver, []).append(int(event.data["lap"]))
        elif event.kind == EventKind.RETIREMENT and event.driver:
            if event.data.get("reason") == "did not start":
                did_not_start.append(event.driver)
            else:
                retirements[event.driver] = int(event.data["lap"])
        elif event.kind == EventKind.OVERTAKE:
            overtakes += 1
        elif event.kind == EventKind.SEGMENT:
            segments.append(dict(event.data))
    views = derived_views(timeline)
    return {
        "session": f"{timeline.info.year} {timeline.info.event} {timeline.info.name}",
        "classification": [codes[j] for j in placed],
        "lap_end_order": {
            lap: [code for _, code in sorted(rows)] for lap, rows in sorted(lap_end_order.items())
        },
        "pit_stops": pit_stops,
        "pit_lane_visits": pit_lane_visits,
        "retirements": retirements,
        "did_not_start": did_not_start,
        "laps": int(timeline.frames["leader_lap"].max(initial=0)),
        "frames": timeline.n_frames,
        "fps": timeline.fps,
        "duration_s": round(timeline.duration, 2),
        "t0": timeline.t0,
        "drivers": len(codes),
        "events": len(timeline.events),
        "overtakes": overtakes,
        "segments": segments,
        "problems": views["problems"],
        "fidelity": fidelity(timeline),
        "pit_loss": views["pit_loss"],
        "flags": views["flags"],
    }


def derived_views(timeline: Timeline) -> dict[str, Any]:
    """What the page shows beyond the frames and what the data could not give for it:
    the pit-exit ghost's pit loss (None outside races), the flag periods,
    and the problems, the timeline's own followed by theirs."""
    ghost = pit_exit(timeline)
    flags = track_flags(timeline)
    problems = [*timeline.problems, *((ghost or {}).get("problems") or []), *flags["problems"]]
    return {"pit_loss": ghost, "flags": flags, "problems": problems}
