"""The pit-exit ghost (timeline/pitloss.py): the measured pit loss, the predicted rejoin
place, and how the predictions at pit entry compare with the places really taken.

Synthetic races of a known loss (tests/factories.py `pit_race_timeline`), then every
shared race in every source mode: the median error of the prediction made at pit
entry against the place taken after pit exit is at most one place.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from conftest import build_shared
from factories import oval_timeline, pit_race_timeline

from racereplay.bench.shared_data import SHARED_SESSIONS, SharedSession
from racereplay.model import SessionInfo, SessionKind
from racereplay.timeline.model import DriverStatus
from racereplay.timeline.pitloss import (
    DEFAULT_LOSS_S,
    DEFAULT_SC_FACTOR,
    DEFAULT_VSC_FACTOR,
    board_error,
    evaluate,
    median_error,
    pit_exit,
    pit_loss,
    predicted_rejoin,
    rank_by_gap,
)

R, P, F, X = (
    DriverStatus.RUNNING,
    DriverStatus.PIT_LANE,
    DriverStatus.FINISHED,
    DriverStatus.RETIRED,
)


def test_rejoin_place_counts_the_racing_cars_with_a_smaller_gap() -> None:
    gap = np.array([0.0, 1.0, 5.0, 10.0, 30.0, 12.0])
    status = np.array([R, R, R, P, R, X])  # the retired car does not count
    p = predicted_rejoin(gap, status, 1, 20.0)
    assert p.position.tolist() == [4]  # behind cars 0, 2 and 3 (gap 21 s)
    assert p.ahead.tolist() == [3] and p.behind.tolist() == [4]
    assert p.gap.tolist() == [21.0] and p.to_ahead.tolist() == [11.0]
    # No loss: the car's own place by gap.
    assert rank_by_gap(gap, status, np.array([1])).tolist() == [2]


def test_rejoin_is_vectorised_over_rows_drivers_and_losses() -> None:
    gap = np.array([[0.0, 2.0, 4.0], [0.0, 2.0, 4.0], [0.0, 2.0, np.nan], [0.0, 2.0, 4.0]])
    status = np.array([[R, R, R], [R, R, R], [R, R, R], [R, F, R]])
    p = predicted_rejoin(gap, status, np.array([0, 0, 0, 1]), np.array([3.0, 1.0, 9.0, 5.0]))
    # Row 1 loses only 1 s: still ahead; row 2's NaN gap is no car; a finisher has no stop.
    assert p.position.tolist() == [2, 1, 2, 0]
    assert p.ahead.tolist() == [1, -1, 1, -1]
    assert p.behind.tolist() == [2, 1, -1, -1]
    # The leader cannot rejoin behind nobody: ahead of everyone with a tiny loss.
    assert predicted_rejoin(gap[:1], status[:1], 0, 1.0).position.tolist() == [1]
    assert predicted_rejoin(gap[:1], status[:1], 0, 1.0).ahead.tolist() == [-1]


@pytest.mark.parametrize("loss", [14.0, 20.0, 26.0])
def test_a_known_loss_is_measured_from_the_green_flag_stops(loss: float) -> None:
    timeline = pit_race_timeline(loss=loss)
    measured = pit_loss(timeline)
    assert measured is not None
    assert measured.source == "measured" and measured.stops_used == 6
    assert abs(measured.seconds - loss) < 1.0, measured
    assert {s.condition for s in measured.stops} == {"green"}
    # No stop under SC or VSC: the documented defaults, said in one line of problems.
    assert (measured.sc_factor, measured.sc_source) == (DEFAULT_SC_FACTOR, "default")
    assert (measured.vsc_factor, measured.vsc_source) == (DEFAULT_VSC_FACTOR, "default")
    assert measured.problems == [
        "pit-exit ghost: no stops under SC to measure: default loss factor SC x0.6",
        "pit-exit ghost: no stops under VSC to measure: default loss factor VSC x0.75",
    ]
    # Each stop's loss is its own: every one within a second of the truth.
    assert all(abs(stop.loss - loss) < 1.0 for stop in measured.stops), measured.stops


def test_predictions_at_pit_entry_match_the_places_taken() -> None:
    timeline = pit_race_timeline(loss=20.0)
    measured = pit_loss(timeline)
    assert measured is not None
    rejoins = evaluate(timeline, measured)
    assert len(rejoins) == 6
    assert all(r["predicted"] > 0 and r["actual"] > 0 for r in rejoins)
    # Every stop's loss is measured exactly (the cars run at constant pace).
    assert [round(s.loss, 6) for s in measured.stops] == [20.0] * 6
    # The loss is known and nobody else stops meanwhile: the predictions are right, but
    # for D04, whose stop (lap 14) is a close call with D05: D05 loses 7.5 s a lap to the
    # leader, 6.6 s of them while D04 is in the pit lane, and D04 comes out just ahead.
    board = {r["driver"]: r["actual"] - r["predicted"] for r in rejoins}
    assert board == {"D00": 0, "D01": 0, "D02": 0, "D03": 0, "D04": -1, "D05": 0}
    # The prediction's own error reads the place at the end of the out-lap: a lap later
    # the field has drifted further (D00, the leader, rejoins last but is ahead of D05,
    # 7.5 s a lap slower, by the end of its out-lap).
    errors = {r["driver"]: r["error"] for r in rejoins}
    assert errors == {"D00": 1, "D01": 0, "D02": 0, "D03": 0, "D04": 1, "D05": 0}
    assert median_error(rejoins) == 0.0 and board_error(rejoins) == 0.0
    # ... and a wrong loss is found out: predictions with 60 s more are worse.
    wrong = replace(measured, seconds=measured.seconds + 60.0)
    assert sum(r["error"] > 0 for r in evaluate(timeline, wrong)) >= 3
    # Some stops do cost places (the test is not trivially "no change").
    codes = [d.code for d in timeline.drivers]
    before = [
        rank_by_gap(
            timeline.frames["gap"][[timeline.frame_at(r["pit_in"] - 1.0)]],
            timeline.frames["status"][[timeline.frame_at(r["pit_in"] - 1.0)]],
            np.array([codes.index(r["driver"])]),
        )[0]
        for r in rejoins
    ]
    assert any(r["actual"] > b for r, b in zip(rejoins, before, strict=True))


def test_the_safety_car_factor_is_measured_from_stops_under_it() -> None:
    timeline = pit_race_timeline(loss=20.0, sc_cars=(1, 2, 3), sc_loss=12.0)
    measured = pit_loss(timeline)
    assert measured is not None
    conditions = {s.driver: s.condition for s in measured.stops}
    assert conditions == {"D00": "green", "D01": "sc", "D02": "sc", "D03": "sc"} | {
        "D04": "green",
        "D05": "green",
    }
    assert measured.stops_used == 3 and abs(measured.seconds - 20.0) < 1.0
    assert measured.sc_source == "measured" and measured.sc_stops == 3
    assert measured.sc_factor == pytest.approx(0.6, abs=0.05)
    assert measured.vsc_source == "default"
    assert measured.problems == [
        "pit-exit ghost: no stops under VSC to measure: default loss factor VSC x0.75"
    ]
    # The loss per frame follows the track status.
    per_frame = measured.per_frame(timeline.frames["track_status"])
    sc = timeline.frames["track_status"] == 4
    assert np.allclose(per_frame[sc], measured.seconds * measured.sc_factor)
    assert np.allclose(per_frame[~sc], measured.seconds)
    # One stop under SC is not enough to measure a factor: the default, and why.
    single = pit_loss(pit_race_timeline(loss=20.0, sc_cars=(2,), sc_loss=12.0))
    assert single is not None and (single.sc_factor, single.sc_source) == (0.6, "default")
    assert "pit-exit ghost: 1 stops under SC too few or too scattered to measure" in " ".join(
        single.problems
    )


def test_a_race_without_stops_uses_the_circuit_default_and_says_so() -> None:
    measured = pit_loss(pit_race_timeline(stops=False))
    assert measured is not None
    assert (measured.seconds, measured.source, measured.stops_used) == (
        DEFAULT_LOSS_S,
        "default",
        0,
    )
    assert any("circuit default pit loss of 22 s" in p for p in measured.problems)
    meta = pit_exit(pit_race_timeline(stops=False))
    assert meta is not None and meta["source"] == "default" and meta["stops"] == []
    assert meta["median_error"] is None


def test_no_ghost_outside_races() -> None:
    practice = oval_timeline()
    practice.info = SessionInfo(2025, "Test Grand Prix", "Practice 1", SessionKind.PRACTICE)
    assert pit_loss(practice) is None and pit_exit(practice) is None


def test_metadata_field_is_plain_json() -> None:
    import json

    meta = pit_exit(pit_race_timeline())
    assert meta is not None
    text = json.dumps(meta, allow_nan=False)
    assert '"seconds"' in text and meta["stops_used"] == 6
    assert set(meta["stops"][0]) == {
        "driver",
        "lap",
        "pit_in",
        "pit_out",
        "condition",
        "loss",
        "predicted",
        "actual",
        "error",
    }


# -- every shared race, every source mode ------------------------------------------

RACE_CASES = [
    pytest.param(session, mode, id=f"{session.label}-{mode}")
    for session in SHARED_SESSIONS
    if session.race
    for mode in session.refs()
]


@pytest.mark.realdata
@pytest.mark.parametrize(("session", "mode"), RACE_CASES)
def test_shared_races_predict_the_rejoin_place_within_one(
    built: dict, session: SharedSession, mode: str
) -> None:
    _, summary = build_shared(built, session, mode)
    pit = summary["pit_loss"]
    assert pit is not None
    green = [r for r in pit["stops"] if r["condition"] == "green"]
    errors = [r["error"] for r in green if r["error"] is not None]
    print(
        session.label,
        mode,
        f"loss {pit['seconds']:.1f} s ({pit['how']}), SC x{pit['sc_factor']} "
        f"({pit['sc_source']}, {pit['sc_stops']} stops), VSC x{pit['vsc_factor']} "
        f"({pit['vsc_source']}, {pit['vsc_stops']} stops), median rejoin error "
        f"{pit['median_error']} over {len(errors)} green stops (as the board showed it: "
        f"{pit['board_error']})",
    )
    assert pit["source"] == "measured" and pit["stops_used"] >= 5
    assert 15.0 <= pit["seconds"] <= 30.0  # a real circuit's pit loss
    assert len(errors) >= 5
    assert pit["median_error"] is not None and pit["median_error"] <= 1.0
    assert math.isclose(pit["median_error"], float(np.median(errors)))
    # The lines the metadata and `inspect` carry for what was not measured.
    for key, label in (("sc", "SC"), ("vsc", "VSC")):
        if pit[f"{key}_source"] == "default":
            assert any(f"default loss factor {label}" in p for p in summary["problems"])
