"""What the viewer sees, on every shared session in every source mode it allows.

The shared data (../shared/data) holds four real 2025 sessions. Each is built
the ways a user could open it: from the archive alone, the archive with FastF1
timing, and FastF1 alone (timing without telemetry: no map). For each build the
report gives the figures of `racereplay.timeline.fidelity`, and how its pit
stops and retirements agree with the best build of the same session (archive
telemetry with FastF1 timing).
"""

from __future__ import annotations

from typing import Any

from racereplay.bench import shared_data
from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.bench.shared_data import SharedSession

TITLE = "Fidelity on every shared session"

MOTION_TARGET = Target.at_least(0.99)
TRACK_LINE_TARGET_M = Target.at_most(20.0)
STANDING_TARGET_M = Target.at_most(30.0)
PIT_LANE_TARGET = Target.at_most(0.03)
STOPS_TARGET = Target.at_least(0.9)
ORDER_TARGET = Target.at_least(0.99)
REJOIN_TARGET = Target.at_most(1.0)  # places: median |predicted - real| rejoin place

REFERENCE_MODE = "archive+fastf1"


def stops_agreement(
    stops: dict[str, list[int]], reference: dict[str, list[int]], drivers: list[str]
) -> float:
    """Share of the session's drivers whose pit stops match the reference's (the same
    number, each within one lap)."""
    if not drivers:
        return 1.0
    same = sum(
        len(stops.get(d, [])) == len(reference.get(d, []))
        and all(
            abs(a - b) <= 1 for a, b in zip(stops.get(d, []), reference.get(d, []), strict=True)
        )
        for d in drivers
    )
    return same / len(drivers)


def out_of_the_race(summary: dict[str, Any]) -> dict[str, int]:
    """Retirements by lap, a car that did not start counted as out on lap 1: without
    telemetry (FastF1 timing alone) a formation-lap crash cannot be told from a crash
    on lap 1."""
    return {**summary["retirements"], **dict.fromkeys(summary["did_not_start"], 1)}


def summaries(session: SharedSession) -> dict[str, dict[str, Any]]:
    """`racereplay inspect --json` of each mode of a session, built (and not cached)."""
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline
    from racereplay.timeline.summary import summarize

    return {mode: summarize(build_timeline(load(ref))) for mode, ref in session.refs().items()}


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    found = shared_data.available()
    if not found:
        result.notes.append(f"no shared sessions at {shared_data.ROOT}: nothing measured")
        return result
    for session in found:
        by_mode = summaries(session)
        reference = by_mode.get(REFERENCE_MODE)
        for mode, summary in by_mode.items():
            _rows(result, f"{session.label}, {mode}", session, summary, reference)
    result.notes.append(
        "archive: TracingInsights lap files alone; archive+fastf1: with FastF1 timing; "
        "fastf1: FastF1 timing alone (no telemetry: no map, so no motion figures)"
    )
    return result


def _rows(
    result: BenchResult,
    name: str,
    session: SharedSession,
    summary: dict[str, Any],
    reference: dict[str, Any] | None,
) -> None:
    fidelity = summary["fidelity"]
    race_target = (lambda target: target) if session.race else (lambda target: None)
    if fidelity["motion_in_band"] is not None:
        result.add(
            f"{name}: map speed within 0.8-1.25 of recorded",
            fidelity["motion_in_band"],
            "share",
            target=race_target(MOTION_TARGET),
            note=f"{fidelity['motion_frames']:,} running frames above 20 m/s",
        )
        result.add(
            f"{name}: p99 distance from the track line",
            fidelity["track_line_p99_m"],
            "m",
            target=TRACK_LINE_TARGET_M,
        )
        result.add(
            f"{name}: farthest standing car from the track or pit lane",
            fidelity["standing_cars_max_m"],
            "m",
            target=STANDING_TARGET_M,
            note="waiting for the start, retired or finished",
        )
    result.add(
        f"{name}: racing car-time shown in the pit lane",
        fidelity["pit_lane_share"],
        "share",
        target=race_target(PIT_LANE_TARGET),
    )
    if fidelity["official_order_agreement"] is not None:
        result.add(
            f"{name}: lap-end order agreeing with official positions",
            fidelity["official_order_agreement"],
            "share",
            target=ORDER_TARGET,
        )
    if summary.get("pit_loss"):
        _pit_exit_rows(result, name, summary["pit_loss"])
    if session.race and reference is not None and reference is not summary:
        result.add(
            f"{name}: drivers whose pit stops agree with FastF1 timing",
            stops_agreement(
                summary["pit_stops"], reference["pit_stops"], summary["classification"]
            ),
            "share",
            target=STOPS_TARGET,
            note="each stop within one lap",
        )
        same = out_of_the_race(summary) == out_of_the_race(reference)
        result.add(
            f"{name}: retirements as in FastF1 timing",
            1.0 if same else 0.0,
            "exact",
            target=Target.at_least(1.0),
            note=", ".join(f"{c} {lap}" for c, lap in summary["retirements"].items())
            + "".join(f", {c} DNS" for c in summary["did_not_start"]),
        )


def _pit_exit_rows(result: BenchResult, name: str, pit: dict[str, Any]) -> None:
    """The pit-exit ghost: the loss it uses, and how its predictions at pit entry compare
    with the places really taken (timeline/pitloss.py)."""
    factors = ", ".join(
        f"{label} x{pit[key + '_factor']:g} ({pit[key + '_source']})"
        for key, label in (("sc", "SC"), ("vsc", "VSC"))
    )
    result.add(
        f"{name}: pit loss (green flag)",
        pit["seconds"],
        "s",
        note=f"{pit['how']}; {factors}",
    )
    green = [r for r in pit["stops"] if r["condition"] == "green"]
    result.add(
        f"{name}: pit-exit ghost, median rejoin error",
        pit["median_error"],
        "places",
        target=REJOIN_TARGET,
        note=f"{len(green)} green-flag stops: predicted at pit entry against the place at "
        "the end of the out-lap, cars that stopped meanwhile left out of both",
    )
    result.add(
        f"{name}: pit-exit ghost, median rejoin error as the board showed it",
        pit["board_error"],
        "places",
        note="every car counted, the place 5 s after pit exit (others' stops included)",
    )
