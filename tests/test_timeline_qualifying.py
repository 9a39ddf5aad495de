"""Qualifying: the parts (Q1, Q2, Q3) from race control or the breaks, and a leaderboard
per part (its participants first, eliminated cars in their final places behind)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from racereplay.model import RaceControlMessage, RawSession
from racereplay.sources import load
from racereplay.timeline.build import build_timeline
from racereplay.timeline.model import EventKind, Timeline


@pytest.fixture(scope="module")
def quali() -> RawSession:
    return load("demo?session=qualifying&cars=10&minutes=24&seed=11")


@pytest.fixture(scope="module")
def quali_timeline(quali: RawSession) -> Timeline:
    return build_timeline(quali, workers=1)


def _flags(session: RawSession) -> tuple[list[float], list[float]]:
    greens = [m.time for m in session.messages if m.message.startswith("GREEN LIGHT")]
    chequered = [m.time for m in session.messages if m.message == "CHEQUERED FLAG"]
    return greens, chequered


def _segments(timeline: Timeline) -> list[dict]:
    return [e.data for e in timeline.events if e.kind == EventKind.SEGMENT]


def _order_at(timeline: Timeline, t: float) -> list[str]:
    codes = [d.code for d in timeline.drivers]
    return [codes[j] for j in np.argsort(timeline.frames["position"][timeline.frame_at(t)])]


def test_parts_come_from_the_green_lights_and_chequered_flags(
    quali: RawSession, quali_timeline: Timeline
) -> None:
    greens, chequered = _flags(quali)
    assert len(greens) == len(chequered) == 3
    segments = _segments(quali_timeline)
    assert [s["name"] for s in segments] == ["Q1", "Q2", "Q3"]
    assert [s["start"] for s in segments] == pytest.approx(greens)
    assert [s["end"] for s in segments] == pytest.approx(chequered)
    assert not any("parts not found" in p for p in quali_timeline.problems)


def test_a_red_flag_restart_does_not_start_a_new_part(quali: RawSession) -> None:
    greens, chequered = _flags(quali)
    red, restart = greens[0] + 200, greens[0] + 400
    messages = [
        *quali.messages,
        RaceControlMessage(red, "Flag", "RED FLAG", flag="RED"),
        RaceControlMessage(restart, "Flag", "GREEN LIGHT - PIT EXIT OPEN", flag="GREEN"),
    ]
    timeline = build_timeline(dataclasses.replace(quali, messages=messages), workers=1)
    segments = _segments(timeline)
    assert [s["start"] for s in segments] == pytest.approx(greens)
    assert [s["end"] for s in segments] == pytest.approx(chequered)


def test_without_race_control_the_breaks_make_the_parts(quali: RawSession) -> None:
    greens, chequered = _flags(quali)
    timeline = build_timeline(dataclasses.replace(quali, messages=[]), workers=1)
    segments = _segments(timeline)
    assert [s["name"] for s in segments] == ["Q1", "Q2", "Q3"]
    for k, s in enumerate(segments):
        # From the first car out after the green light to the last car in after the flag.
        assert greens[k] <= s["start"] < chequered[k] < s["end"]
        if k + 1 < len(segments):
            assert s["end"] < greens[k + 1]


def test_each_part_ranks_its_participants_and_eliminated_cars_keep_their_places(
    quali: RawSession, quali_timeline: Timeline
) -> None:
    greens, chequered = _flags(quali)
    final = [r.driver for r in quali.results]
    assert _order_at(quali_timeline, quali_timeline.time_of(quali_timeline.n_frames - 1)) == final
    in_q2 = {lap.driver for lap in quali.laps if lap.start > greens[1]}
    in_q3 = {lap.driver for lap in quali.laps if lap.start > greens[2]}
    assert len(final) > len(in_q2) > len(in_q3) > 0
    out_in_q1 = [c for c in final if c not in in_q2]
    out_in_q2 = [c for c in final if c in in_q2 and c not in in_q3]
    # Just after the green light of Q2 nobody has a Q2 time: its participants lead, in
    # their Q1 order; the cars out in Q1 are behind in their final places.
    at_q2_start = _order_at(quali_timeline, greens[1] + 1)
    assert set(at_q2_start[: len(in_q2)]) == in_q2
    assert at_q2_start[len(in_q2) :] == out_in_q1
    at_q1_end = _order_at(quali_timeline, greens[1] - 1)
    assert at_q2_start[: len(in_q2)] == [c for c in at_q1_end if c in in_q2]
    # Through Q2 and Q3 the Q1 eliminations hold their places; in Q3 those of Q2 too.
    for t in np.linspace(greens[1], chequered[2] + 60, 25):
        order = _order_at(quali_timeline, float(t))
        assert order[len(in_q2) :] == out_in_q1
        if t > greens[2]:
            assert order[len(in_q3) : len(in_q2)] == out_in_q2
            assert set(order[: len(in_q3)]) == in_q3


def test_the_gap_is_to_the_fastest_of_the_part_and_only_for_its_timed_cars(
    quali: RawSession, quali_timeline: Timeline
) -> None:
    greens, chequered = _flags(quali)
    codes = [d.code for d in quali.drivers]
    k = quali_timeline.frame_at(chequered[1])
    gap = quali_timeline.frames["gap"][k]
    best: dict[str, float] = {}
    for lap in quali.laps:
        timed = math.isnan(lap.pit_out) and math.isfinite(lap.lap_time)
        if timed and greens[1] < lap.end <= chequered[1]:
            best[lap.driver] = min(best.get(lap.driver, math.inf), lap.lap_time)
    fastest = min(best.values())
    for j, code in enumerate(codes):
        if code in best:
            assert gap[j] == pytest.approx(best[code] - fastest, abs=1e-3)
        else:
            assert math.isnan(gap[j])  # out in Q1, or no Q2 time yet


def test_practice_has_no_parts() -> None:
    practice = load("demo?session=practice&cars=4&minutes=20&seed=2")
    assert _segments(build_timeline(practice, workers=1)) == []


@pytest.mark.realdata
def test_real_qualifying_without_timing_is_one_part_by_best_lap(ti_quali_dir: Path) -> None:
    from racereplay.sources.tracinginsights import load_folder

    raw = load_folder(ti_quali_dir)
    timeline = build_timeline(raw, workers=1)
    # Lap starts chained from 0 include the garage time in the laps: no breaks, and
    # no race control: one part, said so among the problems.
    segments = _segments(timeline)
    assert [s["name"] for s in segments] == ["Qualifying"]
    assert any("parts not found" in p for p in timeline.problems)
    order = _order_at(timeline, timeline.time_of(timeline.n_frames - 1))
    best = {
        code: min(
            (lap.lap_time for lap in raw.laps_of(code) if math.isfinite(lap.lap_time)),
            default=math.inf,
        )
        for code in order
    }
    assert [best[c] for c in order] == sorted(best.values())
    assert order[:3] == ["NOR", "PIA", "VER"]  # the official front row and third
    assert order[-1] == "BEA"  # no lap completed


def test_inspect_summary_lists_the_parts(quali_timeline: Timeline) -> None:
    from racereplay.timeline.summary import summarize

    parts = summarize(quali_timeline)["segments"]
    assert [p["name"] for p in parts] == ["Q1", "Q2", "Q3"]
    assert all(p["start"] < p["end"] for p in parts)
