"""The timeline build on small sessions made here: a finish, a pit stop, a retirement,
a driver without telemetry, qualifying segments, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racereplay.model import (
    Driver,
    Lap,
    RawSession,
    Result,
    SessionInfo,
    SessionKind,
    Telemetry,
    TrackStatusCode,
    TrackStatusInterval,
)
from racereplay.timeline.build import build_timeline
from racereplay.timeline.flicker import deflicker
from racereplay.timeline.model import DriverStatus, EventKind, Timeline
from racereplay.timeline.summary import summarize

LAP = 1000.0  # metres: a circle of this circumference
START = 100.0  # session time of lights out


def _telemetry(knots_t: list[float], knots_d: list[float], rate: float = 5.0) -> Telemetry:
    """A car on the circle whose distance is piecewise linear through the knots."""
    t = np.arange(knots_t[0], knots_t[-1] + 1e-9, 1.0 / rate)
    d = np.interp(t, knots_t, knots_d)
    angle = 2 * np.pi * d / LAP
    radius = LAP / (2 * np.pi)
    speed = np.gradient(d, t) * 3.6
    n = len(t)
    return Telemetry(
        time=t,
        x=(radius * np.cos(angle)).astype(np.float32),
        y=(radius * np.sin(angle)).astype(np.float32),
        z=np.zeros(n, np.float32),
        speed=speed.astype(np.float32),
        rpm=np.full(n, 10000, np.float32),
        gear=np.full(n, 6, np.int8),
        throttle=np.full(n, 80, np.float32),
        brake=np.zeros(n, np.float32),
        drs=np.zeros(n, np.uint8),
        distance=d,
    )


def _laps(code: str, lap_times: list[float], **per_lap: dict[int, dict]) -> list[Lap]:
    laps, t = [], START
    for number, lap_time in enumerate(lap_times, start=1):
        extra = per_lap.get("extra", {}).get(number, {})
        laps.append(
            Lap(
                code,
                number,
                start=t,
                end=t + lap_time,
                lap_time=lap_time if number > 1 else math.nan,
                sector_times=(lap_time / 3, lap_time / 3, lap_time / 3),
                compound="MEDIUM",
                tyre_age=number,
                stint=1,
                position=None,
                **extra,
            )
        )
        t += lap_time
    return laps


def race_session() -> RawSession:
    """AAA wins (3 x 50 s); BBB pits at the end of lap 2; CCC stops half way round lap 2;
    DDD has laps but no telemetry and finishes last."""
    aaa = _laps("AAA", [50, 50, 50])
    bbb = _laps(
        "BBB",
        [52, 70, 52],
        extra={2: {"pit_in": START + 52 + 60}, 3: {"pit_out": START + 122 + 5}},
    )
    ccc_done = _laps("CCC", [55])
    ccc_last = Lap("CCC", 2, start=START + 55, end=math.nan, compound="MEDIUM", tyre_age=2)
    ddd = _laps("DDD", [60, 60, 60])
    tel = {
        "AAA": _telemetry([START, START + 150, START + 160], [0, 3 * LAP, 3 * LAP + 200]),
        # Slow in the pit lane (lap 2's last 10 s and lap 3's first 5 s), standing still in
        # the box for 2.5 s just after the line, but the laps are whole.
        "BBB": _telemetry(
            [START + s for s in (0, 52, 112, 122, 123, 125.5, 127, 174)],
            [LAP * f for f in (0, 1, 1.9, 2.0, 2.01, 2.01, 2.03, 3)],
        ),
        "CCC": _telemetry(
            [START, START + 55, START + 80, START + 200], [0, LAP, 1.5 * LAP, 1.5 * LAP]
        ),
    }
    results = [
        Result("AAA", grid=2, position=1, classified="1", status="Finished", laps=3),
        Result("BBB", grid=1, position=2, classified="2", status="Finished", laps=3),
        Result("DDD", grid=4, position=3, classified="3", status="Finished", laps=3),
        Result("CCC", grid=3, position=4, classified="R", status="Retired", laps=1),
    ]
    drivers = [
        Driver(c, str(i), "Team", "#ffffff") for i, c in enumerate(["AAA", "BBB", "CCC", "DDD"])
    ]
    return RawSession(
        info=SessionInfo(2025, "Test GP", "Race", SessionKind.RACE, start_time=START, total_laps=3),
        drivers=drivers,
        telemetry=tel,
        laps=[*aaa, *bbb, *ccc_done, ccc_last, *ddd],
        track_status=[TrackStatusInterval(START + 60, START + 90, TrackStatusCode.SAFETY_CAR)],
        results=results,
    )


@pytest.fixture(scope="module")
def race() -> Timeline:
    return build_timeline(race_session())


def _at(timeline: Timeline, channel: str, code: str, t: float) -> float:
    j = [d.code for d in timeline.drivers].index(code)
    return timeline.frames[channel][timeline.frame_at(t), j]


def test_the_order_at_lights_out_is_the_grid(race: Timeline) -> None:
    order = [int(_at(race, "position", c, START + 0.04)) for c in ("BBB", "AAA", "CCC", "DDD")]
    assert order == [1, 2, 3, 4]
    assert _at(race, "status", "AAA", START - 10) == DriverStatus.NOT_STARTED
    assert _at(race, "lap", "AAA", START - 10) == 0


def test_distance_is_anchored_to_lap_ends(race: Timeline) -> None:
    # The winner is exactly at 1 lap and 2 laps at its lap ends.
    assert _at(race, "distance", "AAA", START + 50) == pytest.approx(LAP, abs=1.0)
    assert _at(race, "distance", "AAA", START + 100) == pytest.approx(2 * LAP, abs=1.0)
    # ... and stops counting after the finish (telemetry goes on for the cool-down).
    assert _at(race, "distance", "AAA", START + 159) == pytest.approx(3 * LAP)


def test_the_finish(race: Timeline) -> None:
    assert _at(race, "status", "AAA", START + 149) == DriverStatus.RUNNING
    assert _at(race, "status", "AAA", START + 151) == DriverStatus.FINISHED
    summary = summarize(race)
    assert summary["classification"] == ["AAA", "BBB", "DDD", "CCC"]
    finishes = [e for e in race.events if e.kind == EventKind.FINISH]
    assert [e.driver for e in finishes] == ["AAA", "BBB", "DDD"]
    assert finishes[0].data == {"position": 1, "lap": 3}
    # A finished car's gap is frozen at the line: BBB crossed 24 s after AAA.
    assert _at(race, "gap", "BBB", START + 200) == pytest.approx(24.0, abs=0.05)


def test_a_pit_stop(race: Timeline) -> None:
    assert _at(race, "status", "BBB", START + 115) == DriverStatus.PIT_LANE
    assert _at(race, "status", "BBB", START + 126) == DriverStatus.PIT_LANE
    assert _at(race, "status", "BBB", START + 130) == DriverStatus.RUNNING
    stops = [e for e in race.events if e.kind == EventKind.PIT_STOP]
    assert [(e.driver, e.data["lap"], e.data["duration"]) for e in stops] == [("BBB", 2, 15.0)]
    # 5 Hz samples and a speed from finite differences blur each edge by a sample.
    assert stops[0].data["stationary"] == pytest.approx(2.5, abs=0.5)
    assert summarize(race)["pit_stops"] == {"BBB": [2]}


def test_a_retirement(race: Timeline) -> None:
    stopped_at = _at(race, "distance", "CCC", START + 80)
    assert stopped_at == pytest.approx(1.5 * LAP, abs=2.0)
    assert _at(race, "distance", "CCC", START + 190) == stopped_at
    assert _at(race, "status", "CCC", START + 190) == DriverStatus.RETIRED
    assert math.isnan(_at(race, "gap", "CCC", START + 190))
    # Retired cars rank behind all running cars (DDD is slower, but still running).
    assert _at(race, "position", "CCC", START + 190) == 4
    assert summarize(race)["retirements"] == {"CCC": 2}


def test_a_driver_without_telemetry_is_timed_from_laps(race: Timeline) -> None:
    assert any("DDD" in p and "no telemetry" in p for p in race.problems)
    assert _at(race, "distance", "DDD", START + 60) == pytest.approx(LAP, abs=1.0)
    assert _at(race, "distance", "DDD", START + 90) == pytest.approx(1.5 * LAP, abs=1.0)
    assert math.isnan(_at(race, "x", "DDD", START + 90))
    assert _at(race, "gap", "DDD", START + 60) == pytest.approx(10.0, abs=0.1)


def test_gaps_intervals_and_session_channels(race: Timeline) -> None:
    # Lap 1 ends: AAA at 50 s, BBB 52 s, CCC 55 s.
    assert _at(race, "gap", "AAA", START + 50) == 0
    assert _at(race, "gap", "CCC", START + 55) == pytest.approx(5.0, abs=0.05)
    assert _at(race, "interval", "CCC", START + 55) == pytest.approx(
        5.0 - float(_at(race, "gap", "BBB", START + 55)), abs=0.05
    )
    assert math.isnan(_at(race, "interval", "AAA", START + 55))
    k = race.frame_at(START + 75)
    assert race.frames["track_status"][k] == TrackStatusCode.SAFETY_CAR
    assert race.frames["track_status"][race.frame_at(START + 95)] == TrackStatusCode.GREEN
    assert race.frames["leader_lap"][race.frame_at(START + 75)] == 2


def test_lap_events_flag_personal_and_overall_bests(race: Timeline) -> None:
    laps = [e for e in race.events if e.kind == EventKind.LAP]
    aaa = [e for e in laps if e.driver == "AAA"]
    assert [e.data["lap"] for e in aaa] == [1, 2, 3]
    # Lap 1 has no time; lap 2 (50 s) is AAA's first timed lap and the fastest set so far.
    assert aaa[1].data["personal_best"] and aaa[1].data["overall_best"]
    assert not aaa[2].data["personal_best"]  # 50 s again: not an improvement
    assert [e.time for e in race.events] == sorted(e.time for e in race.events)


def test_an_overtake_on_track(race: Timeline) -> None:
    # AAA (50 s laps) passes BBB (52 s laps) early on lap 1, while both are running.
    overtakes = [e for e in race.events if e.kind == EventKind.OVERTAKE]
    assert any(e.driver == "AAA" and e.data["passed"] == "BBB" for e in overtakes)
    # Passing a car in the pit lane or a retired car is not an overtake.
    assert not any(e.data["passed"] == "CCC" and e.time > START + 80 for e in overtakes)


def test_the_build_is_deterministic() -> None:
    a, b = build_timeline(race_session()), build_timeline(race_session())
    for name in a.frames:
        np.testing.assert_array_equal(a.frames[name], b.frames[name], err_msg=name)
    assert a.events == b.events and a.laps == b.laps and a.results == b.results


def test_deflicker_hides_orders_shorter_than_the_window() -> None:
    steady, swapped = [0, 1, 2], [1, 0, 2]
    order = np.array([steady] * 30 + [swapped] * 5 + [steady] * 30 + [swapped] * 40)
    shown = deflicker(order, 25)
    assert (shown[30:35] == steady).all()  # the 5-frame swap never shows
    assert (shown[65:] == swapped).all()  # the lasting one shows at once


def qualifying_session() -> RawSession:
    """Two segments 10 minutes apart; AAA improves in Q2 and goes ahead of BBB."""

    def runs(code: str, q1: float, q2: float) -> list[Lap]:
        return [
            Lap(code, 1, start=0.0, end=q1, lap_time=q1),
            Lap(code, 2, start=q1 + 600, end=q1 + 600 + q2, lap_time=q2),
        ]

    laps = runs("AAA", 91.0, 88.0) + runs("BBB", 90.0, 89.0)
    tel = {
        "AAA": _telemetry([0, 91, 691, 779], [0, LAP, LAP, 2 * LAP]),
        "BBB": _telemetry([0, 90, 690, 779], [0, LAP, LAP, 2 * LAP]),
    }
    return RawSession(
        info=SessionInfo(2025, "Test GP", "Qualifying", SessionKind.QUALIFYING),
        drivers=[Driver("AAA", "1", "T", "#fff"), Driver("BBB", "2", "T", "#fff")],
        telemetry=tel,
        laps=laps,
    )


def test_qualifying_orders_by_best_time_in_the_segment() -> None:
    q = build_timeline(qualifying_session())
    assert _at(q, "position", "BBB", 95) == 1  # Q1: 90.0 beats 91.0
    assert _at(q, "gap", "AAA", 95) == pytest.approx(1.0)
    assert _at(q, "position", "AAA", 780) == 1  # Q2: 88.0 beats 89.0
    assert _at(q, "gap", "BBB", 780) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "session", ["demo?cars=6&laps=3", "demo?session=qualifying&cars=6&minutes=18"]
)
def test_frame_blocks_and_threads_do_not_change_the_build(
    session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order, gaps and laps behind are computed in blocks of frames, drivers on threads:
    blocks of a few frames on four threads give the timeline of one block on one."""
    from racereplay.sources import load
    from racereplay.timeline import order

    raw = load(session)
    monkeypatch.setattr(order, "BLOCK_FRAMES", 10**9)
    whole = build_timeline(raw, workers=1)
    monkeypatch.setattr(order, "BLOCK_FRAMES", 7)
    blocks = build_timeline(raw, workers=4)
    assert whole.n_frames > 1000
    for name, values in whole.frames.items():
        np.testing.assert_array_equal(blocks.frames[name], values, err_msg=name)
