"""What the viewer sees, on every shared session in every source mode it allows.

Each session of ../shared/data is built from the archive alone, the archive with
FastF1 timing, and FastF1 alone, and checked from the frames the server sends:
cars move at their recorded speed on the track line, the pit lane holds only cars
in it, stops and retirements agree across modes, statuses at the flag are right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import build_shared, need_shared_data

from racereplay.bench.fidelity import REFERENCE_MODE, out_of_the_race, stops_agreement
from racereplay.bench.shared_data import SHARED_SESSIONS, SharedSession
from racereplay.timeline.model import DriverStatus, EventKind

pytestmark = pytest.mark.realdata

CASES = [
    pytest.param(session, mode, id=f"{session.label}-{mode}")
    for session in SHARED_SESSIONS
    for mode in session.refs()  # archive; archive+fastf1 and fastf1 where FastF1 has it
]
RACES = [s for s in SHARED_SESSIONS if s.race]
AUS_RETIREMENTS = {"ALO": 33, "BOR": 46, "LAW": 47, "DOO": 1, "SAI": 1}


# `built` (conftest.py): each session and mode built once per run, shared with
# tests/test_timeline_pitloss.py.
_build = build_shared


@pytest.mark.parametrize(("session", "mode"), CASES)
def test_every_session_builds_in_every_mode_and_says_what_is_missing(
    built: dict, session: SharedSession, mode: str
) -> None:
    timeline, summary = _build(built, session, mode)
    assert timeline.n_frames > 0 and summary["classification"]
    if mode == "fastf1":
        assert any("no car/position telemetry" in p for p in summary["problems"])
    if session.label == "chn-race" and mode != "archive":
        # The partial FastF1 cache: one line for each missing piece, no traceback.
        for piece in ("race control messages", "weather", "official results"):
            assert sum(piece in p for p in summary["problems"]) == 1, piece


@pytest.mark.parametrize(("session", "mode"), [c for c in CASES if c.values[1] != "fastf1"])
def test_cars_move_at_their_recorded_speed_on_the_track_line(
    built: dict, session: SharedSession, mode: str
) -> None:
    _, summary = _build(built, session, mode)
    fidelity = summary["fidelity"]
    print(session.label, mode, fidelity)
    assert fidelity["motion_in_band"] >= (0.99 if session.race else 0.98)
    assert fidelity["track_line_p99_m"] <= 20.0
    # Parked, waiting or retired: where it stopped, on or beside the track.
    assert fidelity["standing_cars_max_m"] <= 30.0


@pytest.mark.parametrize(("session", "mode"), [c for c in CASES if c.values[0].race])
def test_the_pit_lane_holds_only_cars_in_it(built: dict, session: SharedSession, mode: str) -> None:
    _, summary = _build(built, session, mode)
    assert summary["fidelity"]["pit_lane_share"] <= 0.03


@pytest.mark.parametrize("session", RACES, ids=lambda s: s.label)
@pytest.mark.parametrize("mode", ["archive", "fastf1"])
def test_stops_and_retirements_agree_with_fastf1_timing_in_every_mode(
    built: dict, session: SharedSession, mode: str
) -> None:
    _, reference = _build(built, session, REFERENCE_MODE)
    _, summary = _build(built, session, mode)
    agreement = stops_agreement(
        summary["pit_stops"], reference["pit_stops"], reference["classification"]
    )
    print(session.label, mode, f"stops agree for {agreement:.0%} of drivers")
    assert agreement >= 0.9
    if mode == "fastf1":  # without telemetry a formation-lap crash looks like a lap-1 retirement
        assert out_of_the_race(summary) == out_of_the_race(reference)
    else:
        assert summary["retirements"] == reference["retirements"]
    assert summary["classification"] == reference["classification"]
    if session.label == "aus-race":
        assert reference["retirements"] == AUS_RETIREMENTS | {}
        assert reference["did_not_start"] == ["HAD"]
    else:
        assert reference["retirements"] == {"ALO": 4}


@pytest.mark.parametrize(("session", "mode"), [c for c in CASES if c.values[0].race])
def test_statuses_at_the_flag(built: dict, session: SharedSession, mode: str) -> None:
    timeline, summary = _build(built, session, mode)
    codes = [d.code for d in timeline.drivers]
    final = dict(zip(codes, timeline.frames["status"][-1], strict=True))
    for code in summary["retirements"]:
        assert final[code] == DriverStatus.RETIRED, code
    out = set(summary["retirements"]) | set(summary["did_not_start"])
    for code, status in final.items():
        if code not in out:
            assert status == DriverStatus.FINISHED, code
    if summary["fidelity"]["official_order_agreement"] is not None:
        assert summary["fidelity"]["official_order_agreement"] >= 0.99


@pytest.mark.parametrize("mode", ["archive", "archive+fastf1"])
def test_a_car_that_stops_on_track_is_retired_from_its_stop(built: dict, mode: str) -> None:
    """ALO crashed at Turn 6 on lap 33 of the 2025 Australian GP: stopped, then retired,
    within 2 s of standing still; his gap stops counting; the incident is at the stop."""
    timeline, _ = _build(built, SHARED_SESSIONS[0], mode)
    j = [d.code for d in timeline.drivers].index("ALO")
    speed, status = timeline.frames["speed"][:, j], timeline.frames["status"][:, j]
    moving = np.flatnonzero((speed > 1.0) & (status == DriverStatus.RUNNING))
    stopped_at = timeline.time_of(int(moving[-1]) + 1)
    assert status[timeline.frame_at(stopped_at + 2.0)] == DriverStatus.RETIRED
    assert status[timeline.frame_at(stopped_at - 2.0)] == DriverStatus.RUNNING
    assert np.isnan(timeline.frames["gap"][timeline.frame_at(stopped_at + 2.0) :, j]).all()
    retirement = next(
        e for e in timeline.events if e.kind == EventKind.RETIREMENT and e.driver == "ALO"
    )
    assert abs(retirement.time - stopped_at) <= 2.0


@pytest.mark.parametrize("mode", ["archive", "archive+fastf1"])
def test_a_car_that_never_starts_is_dns_and_off_the_map(built: dict, mode: str) -> None:
    timeline, _ = _build(built, SHARED_SESSIONS[0], mode)
    j = [d.code for d in timeline.drivers].index("HAD")
    after_start = timeline.frame_at(timeline.info.start_time + 1.0)
    assert (timeline.frames["status"][after_start:, j] == DriverStatus.DID_NOT_START).all()
    assert np.isnan(timeline.frames["x"][:, j]).all()
    assert timeline.frames["position"][-1, j] == len(timeline.drivers)


@pytest.mark.parametrize("mode", ["archive", "archive+fastf1", "fastf1"])
def test_practice_garage_visits_are_no_pit_stops(built: dict, mode: str) -> None:
    _, summary = _build(built, SHARED_SESSIONS[2], mode)
    assert summary["pit_stops"] == {}
    assert summary["classification"][:5] == ["NOR", "SAI", "LEC", "PIA", "VER"]


def test_lapped_cars_are_laps_down_not_seconds(built: dict) -> None:
    """In the 2025 Chinese GP the leaders lapped the tail of the field."""
    timeline, _ = _build(built, SHARED_SESSIONS[3], REFERENCE_MODE)
    laps_down = timeline.frames["gap_laps"]
    status = timeline.frames["status"]
    assert laps_down.max() >= 1
    # Never for the leader or a car out of the race; and a car one lap down at the flag.
    leader = timeline.frames["position"] == 1
    assert not laps_down[leader].any()
    assert not laps_down[np.isin(status, (DriverStatus.RETIRED, DriverStatus.NOT_STARTED))].any()
    finished = status[-1] == DriverStatus.FINISHED
    assert (laps_down[-1][finished] >= 1).any()
    assert (timeline.frames["interval_laps"] <= laps_down).all()


def test_the_pre_start_clock_and_messages_keep_their_real_time(built: dict) -> None:
    timeline, summary = _build(built, SHARED_SESSIONS[0], REFERENCE_MODE)
    start = timeline.info.start_time
    assert timeline.t0 < start
    before = [e for e in timeline.events if e.kind == EventKind.MESSAGE and e.time < start]
    assert len(before) >= 10
    assert len({round(e.time) for e in before}) == len(before)  # not all at one instant
    assert all(math.isfinite(e.time) for e in before)
    assert any("formation lap" in p for p in summary["problems"])


@pytest.fixture(scope="module")
def partial_archive(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Chinese race's archive folder with pieces missing, as downloads often are:
    VER's lap 1 (file and lap time), all of HAM's lap files, corners.json."""
    import json
    import shutil

    source = need_shared_data(SHARED_SESSIONS[3].path)
    folder = tmp_path_factory.mktemp("partial") / "2025" / "Chinese Grand Prix" / "Race"
    shutil.copytree(source, folder)
    (folder / "VER" / "1_tel.json.gz").unlink()
    (folder / "corners.json").unlink()
    for lap_file in (folder / "HAM").glob("*_tel.json*"):
        lap_file.unlink()
    times = folder / "VER" / "laptimes.json"
    table = json.loads(times.read_text())
    first = table["lap"].index(1.0)
    times.write_text(json.dumps({name: v[:first] + v[first + 1 :] for name, v in table.items()}))
    return str(folder)


@pytest.mark.parametrize("with_fastf1", [False, True])
def test_a_partial_archive_builds_and_says_what_is_missing(
    built: dict, partial_archive: str, with_fastf1: bool
) -> None:
    from racereplay.sources import SessionRef, load
    from racereplay.timeline.build import build_timeline
    from racereplay.timeline.summary import summarize

    if with_fastf1:
        pytest.importorskip(
            "fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]"
        )
    mode = "archive+fastf1" if with_fastf1 else "archive"
    _, whole = _build(built, SHARED_SESSIONS[3], mode)
    options = dict(SessionRef.parse(SHARED_SESSIONS[3].refs()[mode]).options)
    summary = summarize(
        build_timeline(load(SessionRef("tracinginsights", partial_archive, options)))
    )
    problems = " | ".join(summary["problems"])
    assert "HAM: no readable lap files" in problems and "corners.json missing" in problems
    if not with_fastf1:
        assert "VER: lap(s) 1 missing from the archive" in problems
    # Nothing else changes: the order, VER's stop, the cars still on the map.
    assert summary["classification"] == whole["classification"]
    assert summary["pit_stops"]["VER"] == whole["pit_stops"]["VER"]
    assert summary["fidelity"]["motion_in_band"] >= 0.99
