"""Flags on the map (timeline/flags.py): marshal-sector yellows, the Safety Car, VSC, medical car.

The pure parts on hand-made messages; the demo race's flags against what it simulated;
and on the shared races, the yellow and Safety Car periods the map would show against
the race control messages and the track status (skipped without ../shared/data).
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import build_shared

from racereplay.bench.shared_data import SHARED_SESSIONS, SharedSession
from racereplay.model import MarshalSector, TrackStatusCode
from racereplay.sources import load
from racereplay.sources.fastf1_timing import marshal_sectors
from racereplay.timeline.build import build_timeline
from racereplay.timeline.flags import (
    SC_AHEAD_M,
    estimated_marshal_spans,
    marshal_spans,
    medical_car_notes,
    point_on_outline,
    safety_car_periods,
    sc_marker_distance,
    track_flags,
    vsc_periods,
    yellow_periods,
    yellow_sectors_at,
)
from racereplay.timeline.geometry import OUTLINE_STEP, marshal_sectors_on
from racereplay.timeline.model import Event, EventKind, Timeline


def msg(t: float, text: str, flag: str | None = None, scope: str | None = None, sector=None):
    return Event(
        t,
        EventKind.MESSAGE,
        None,
        {"category": "Flag", "message": text, "flag": flag, "scope": scope, "sector": sector},
    )


def status(t: float, code: TrackStatusCode) -> Event:
    return Event(t, EventKind.TRACK_STATUS, None, {"status": int(code), "label": code.name})


def yellow(t: float, sector: int, double: bool = False) -> Event:
    flag = "DOUBLE YELLOW" if double else "YELLOW"
    return msg(t, f"{flag} IN TRACK SECTOR {sector}", flag, "Sector", sector)


def clear(t: float, sector: int) -> Event:
    return msg(t, f"CLEAR IN TRACK SECTOR {sector}", "CLEAR", "Sector", sector)


# --- yellow sectors at a moment ------------------------------------------------------


def test_a_sector_is_yellow_from_its_flag_to_its_clear() -> None:
    periods = yellow_periods([yellow(100, 7), clear(140, 7)], end_time=1000)
    assert yellow_sectors_at(periods, 99.9) == {}
    assert yellow_sectors_at(periods, 100) == {7: "YELLOW"}
    assert yellow_sectors_at(periods, 139.9) == {7: "YELLOW"}
    assert yellow_sectors_at(periods, 140) == {}
    # A moment asked for after a later one (a seek back) gives the same answer.
    assert yellow_sectors_at(periods, 120) == {7: "YELLOW"}


def test_double_yellow_replaces_yellow_and_a_repeat_does_not_restart_the_spell() -> None:
    events = [yellow(10, 3), yellow(20, 3, double=True), yellow(25, 3, double=True), clear(30, 3)]
    periods = yellow_periods(events, end_time=100)
    assert [(p["flag"], p["start"], p["end"]) for p in periods] == [
        ("YELLOW", 10, 20),
        ("DOUBLE YELLOW", 20, 30),
    ]
    assert yellow_sectors_at(periods, 22) == {3: "DOUBLE YELLOW"}


def test_sectors_are_independent_and_a_clear_of_another_sector_changes_nothing() -> None:
    periods = yellow_periods([yellow(10, 1), yellow(12, 9, True), clear(15, 4), clear(20, 1)], 100)
    assert yellow_sectors_at(periods, 16) == {1: "YELLOW", 9: "DOUBLE YELLOW"}
    assert yellow_sectors_at(periods, 21) == {9: "DOUBLE YELLOW"}


def test_track_clear_green_message_and_green_status_clear_every_sector() -> None:
    track_clear = msg(50, "TRACK CLEAR", "CLEAR", "Track")
    green_light = msg(50, "GREEN LIGHT - PIT EXIT OPEN", "GREEN", "Track")
    for clearing in (track_clear, green_light, status(50, TrackStatusCode.GREEN)):
        periods = yellow_periods([yellow(10, 1), yellow(20, 2, True), clearing], 100)
        assert yellow_sectors_at(periods, 49) == {1: "YELLOW", 2: "DOUBLE YELLOW"}
        assert yellow_sectors_at(periods, 50) == {}, clearing
    # A Safety Car or yellow status does not clear them; a message at the instant of a
    # green status sets its sector again.
    events = [yellow(10, 1), status(20, TrackStatusCode.SAFETY_CAR)]
    assert yellow_sectors_at(yellow_periods(events, 100), 60) == {1: "YELLOW"}
    events = [status(30, TrackStatusCode.GREEN), yellow(30, 4)]
    assert yellow_sectors_at(yellow_periods(events, 100), 31) == {4: "YELLOW"}


def test_a_yellow_never_cleared_lasts_to_the_end_and_other_messages_are_ignored() -> None:
    events = [
        yellow(10, 5),
        msg(20, "WAVED BLUE FLAG FOR CAR 87 (BEA)", "BLUE", "Driver"),
        msg(30, "DRS ENABLED"),
        msg(40, "CLEAR IN TRACK SECTOR ?", "CLEAR", "Sector", None),
    ]
    periods = yellow_periods(events, end_time=90)
    assert periods == [{"sector": 5, "flag": "YELLOW", "start": 10, "end": 90}]
    assert yellow_sectors_at(periods, 89.9) == {5: "YELLOW"}
    assert yellow_sectors_at(periods, 90) == {}


# --- marshal sector spans ------------------------------------------------------------


def test_estimated_marshal_sectors_are_equal_stretches_covering_the_lap() -> None:
    spans = estimated_marshal_spans(5200.0, 20)
    assert [s["number"] for s in spans] == list(range(1, 21))
    assert spans[0]["start"] == 0.0 and spans[-1]["end"] == 5200.0
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(spans))
    assert all(s["end"] - s["start"] == pytest.approx(260.0, abs=0.1) for s in spans)
    assert estimated_marshal_spans(5200.0, 0) == []


def test_marshal_sectors_from_their_starts_run_to_the_next_and_the_last_wraps() -> None:
    starts = [{"number": 2, "distance": 1000.0}, {"number": 1, "distance": 0.0},
              {"number": 3, "distance": 3000.0}]  # fmt: skip
    spans = marshal_spans(starts, 5000.0)
    assert spans == [
        {"number": 1, "start": 0.0, "end": 1000.0},
        {"number": 2, "start": 1000.0, "end": 3000.0},
        {"number": 3, "start": 3000.0, "end": 5000.0},
    ]
    # Sector 1 starting after the line: the last sector runs over it.
    spans = marshal_spans(
        [{"number": 1, "distance": 100.0}, {"number": 2, "distance": 2600.0}], 5000
    )
    assert spans[1] == {"number": 2, "start": 2600.0, "end": 5100.0}


def test_marshal_sector_starts_are_placed_on_the_outline_by_position() -> None:
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    outline = np.column_stack([100 * np.cos(angle), 100 * np.sin(angle)]).astype(np.float32)
    sectors = (
        MarshalSector(2, x=-101.0, y=0.5, distance=9999.0),  # the source's distance is not ours
        MarshalSector(1, x=100.0, y=0.0, distance=0.0),
    )
    placed = marshal_sectors_on(outline, sectors)
    assert [m["number"] for m in placed] == [1, 2]
    assert placed[0]["distance"] == 0.0
    assert placed[1]["distance"] == pytest.approx(200 * OUTLINE_STEP)


def test_fastf1_marshal_sectors_are_read_in_metres() -> None:
    table = pd.DataFrame(
        {"X": [1000.0, -2500.0], "Y": [0.0, 400.0], "Number": [1, 2], "Letter": ["", ""],
         "Angle": [0.0, 0.0], "Distance": [0.0, 800.0]}
    )  # fmt: skip
    got = marshal_sectors(SimpleNamespace(marshal_sectors=table))
    assert got == (MarshalSector(1, 100.0, 0.0, 0.0), MarshalSector(2, -250.0, 40.0, 800.0))
    assert marshal_sectors(SimpleNamespace()) == ()


# --- the Safety Car, the VSC, the medical car ----------------------------------------


def test_the_safety_car_marker_is_ahead_of_the_leader_on_the_track() -> None:
    lap = 5000.0
    got = sc_marker_distance(np.array([100.0, 4900.0, 3 * lap + 10, -40.0, np.nan]), lap)
    assert got[0] == pytest.approx(100 + SC_AHEAD_M)
    assert got[1] == pytest.approx(4900 + SC_AHEAD_M - lap)  # past the line: next lap
    assert got[2] == pytest.approx(10 + SC_AHEAD_M)  # race distance, laps later
    assert got[3] == pytest.approx(SC_AHEAD_M - 40)  # on the grid, behind the line
    assert math.isnan(got[4])
    assert np.all((got[:4] >= 0) & (got[:4] < lap))


def test_a_distance_maps_onto_the_outline_by_arc_length() -> None:
    n = 1000
    angle = np.arange(n) / n * 2 * np.pi
    outline = np.column_stack([np.cos(angle), np.sin(angle)]) * (5000 / (2 * np.pi))
    r = 5000 / (2 * np.pi)
    for d in (0.0, 1250.0, 2500.0, 4999.0, 6250.0):
        x, y = point_on_outline(outline, 5000.0, d)
        a = d / 5000 * 2 * np.pi
        assert math.hypot(x - r * math.cos(a), y - r * math.sin(a)) < 1.0, d


def test_safety_car_and_vsc_periods_follow_the_track_status() -> None:
    events = [
        status(0, TrackStatusCode.GREEN),
        status(100, TrackStatusCode.YELLOW),
        status(105, TrackStatusCode.SAFETY_CAR),
        msg(300, "SAFETY CAR IN THIS LAP"),
        status(400, TrackStatusCode.GREEN),
        status(600, TrackStatusCode.VSC),
        status(700, TrackStatusCode.VSC_ENDING),
        status(720, TrackStatusCode.GREEN),
        status(900, TrackStatusCode.SAFETY_CAR),
    ]
    assert safety_car_periods(events, 1000) == [
        {"start": 105, "end": 400, "in_this_lap": 300},
        {"start": 900, "end": 1000, "in_this_lap": None},
    ]
    assert vsc_periods(events, 1000) == [{"start": 600, "end": 720, "ending": 700}]


def test_a_medical_car_message_gives_a_note_until_the_track_is_clear() -> None:
    events = [
        msg(100, "MEDICAL CAR DEPLOYED"),
        status(150, TrackStatusCode.RED),
        msg(250, "TRACK CLEAR", "CLEAR", "Track"),
        msg(2000, "MEDICAL CAR ON TRACK"),
    ]
    notes = medical_car_notes(events, 2100)
    assert [(n["start"], n["end"]) for n in notes] == [(100, 250), (2000, 2100)]
    assert medical_car_notes([msg(10, "MEDICAL CAR DEPLOYED")], 10_000)[0]["end"] == 310


# --- the demo race: flags where its simulation put them -------------------------------


@pytest.fixture(scope="module")
def demo_timeline() -> Timeline:
    return build_timeline(load("demo?cars=12&laps=12"))


def test_the_demo_yellow_is_where_the_car_stopped_and_the_sc_follows(
    demo_timeline: Timeline,
) -> None:
    tl = demo_timeline
    flags = track_flags(tl)
    assert not flags["marshal_estimated"] and len(flags["marshal_sectors"]) == 18
    assert any("Safety Car" in p and "estimate" in p for p in flags["problems"])
    (period,) = flags["yellow"]
    (retirement,) = [e for e in tl.events if e.kind == EventKind.RETIREMENT]
    assert period["start"] == pytest.approx(retirement.time, abs=1.0)
    # The stopped car is in the yellow sector's stretch of the track.
    frame = tl.frame_at(period["start"] + 5)
    j = [d.code for d in tl.drivers].index(retirement.driver)
    car = np.array([tl.frames["x"][frame, j], tl.frames["y"][frame, j]], dtype=np.float64)
    outline = tl.geometry.outline.astype(np.float64)
    where = float(np.argmin(((outline - car) ** 2).sum(axis=1))) * OUTLINE_STEP
    span = flags["marshal_sectors"][period["sector"] - 1]
    assert span["start"] - 30 <= where <= span["end"] + 30
    (sc,) = flags["safety_car"]
    assert period["start"] < sc["start"] < sc["in_this_lap"] < sc["end"]
    assert period["end"] == pytest.approx(sc["end"])  # TRACK CLEAR clears the sector
    on_sc = np.flatnonzero(tl.frames["track_status"] == int(TrackStatusCode.SAFETY_CAR))
    frame_times = tl.t0 + on_sc / tl.fps
    assert sc["start"] <= frame_times.min() and frame_times.max() < sc["end"]


# --- the shared races: what the map shows against race control and track status ------

REALDATA = [
    pytest.param(s, mode, id=f"{s.label}-{mode}", marks=pytest.mark.realdata)
    for s in SHARED_SESSIONS
    for mode in s.refs()
    if mode != "archive"  # the archive alone has no race control messages or track status
]


def _frame_times(tl: Timeline) -> np.ndarray:
    return tl.t0 + np.arange(tl.n_frames) / tl.fps


def _sector_messages(tl: Timeline) -> list[Event]:
    return [e for e in tl.events if e.kind == EventKind.MESSAGE and e.data.get("scope") == "Sector"]


@pytest.mark.parametrize(("session", "mode"), REALDATA)
def test_yellow_sectors_on_the_map_agree_with_race_control_and_track_status(
    built: dict, session: SharedSession, mode: str
) -> None:
    tl, summary = build_shared(built, session, mode)
    flags = summary["flags"]
    end = tl.t0 + tl.duration
    messages = _sector_messages(tl)
    if not messages:
        assert flags["yellow"] == [] and flags["marshal_sectors"] == []
        return
    # Every flag message is obeyed at once: a yellow shows its sector, a clear removes it.
    for m in messages:
        if m.time >= end:
            continue
        shown = yellow_sectors_at(flags["yellow"], m.time + 0.01)
        if m.data["flag"] in ("YELLOW", "DOUBLE YELLOW"):
            assert shown.get(m.data["sector"]) == m.data["flag"], m
        elif m.data["flag"] == "CLEAR":
            assert m.data["sector"] not in shown, m
    # Every spell starts at a flag message for its sector and ends at a clear of it (or
    # its change between yellow and double yellow), a track-wide clear or green, a green
    # track status, or the end of the timeline.
    starts = {(m.data["sector"], m.time) for m in messages if m.data["flag"] != "CLEAR"}
    clears = {(m.data["sector"], m.time) for m in messages if m.data["flag"] == "CLEAR"}
    track_wide = {
        e.time
        for e in tl.events
        if (e.kind == EventKind.MESSAGE and e.data.get("scope") == "Track"
            and e.data.get("flag") in ("CLEAR", "GREEN"))
        or (e.kind == EventKind.TRACK_STATUS and e.data["status"] == 1)
    }  # fmt: skip
    for p in flags["yellow"]:
        assert (p["sector"], p["start"]) in starts or p["start"] in {t for _, t in starts}, p
        ended = (p["sector"], p["end"])
        assert ended in clears or ended in starts or p["end"] in track_wide or p["end"] == end, p
    # The map agrees with the track status: a yellow status shows a yellow sector, a
    # green one (almost) never does. Race control's messages are stamped to the second,
    # up to a second after the status changes: a sector shown within a second counts.
    times = _frame_times(tl)[:: tl.fps]  # one a second
    shown = np.array(
        [bool(yellow_sectors_at(flags["yellow"], t) or yellow_sectors_at(flags["yellow"], t + 1))
         for t in times]
    )  # fmt: skip
    track = tl.frames["track_status"][:: tl.fps]
    yellow_status = track == int(TrackStatusCode.YELLOW)
    green = track == int(TrackStatusCode.GREEN)
    print(
        session.label, mode, yellow_status.sum(), shown[yellow_status].mean(), shown[green].mean()
    )
    assert shown[yellow_status].mean() >= 0.95
    assert shown[green].mean() <= 0.01
    # Sectors drawn where the source has no positions are estimated, and said so; with
    # no track map (FastF1 alone: no car positions) there is nothing to draw them on.
    if tl.geometry is None:
        assert flags["marshal_sectors"] == [] and not flags["marshal_estimated"]
        return
    assert flags["marshal_estimated"]
    highest = max(m.data["sector"] for m in messages)
    assert len(flags["marshal_sectors"]) == highest
    assert sum("no marshal sector positions" in p for p in summary["problems"]) == 1


@pytest.mark.parametrize(("session", "mode"), REALDATA)
def test_the_safety_car_is_shown_exactly_while_the_track_status_says_so(
    built: dict, session: SharedSession, mode: str
) -> None:
    tl, summary = build_shared(built, session, mode)
    flags = summary["flags"]
    times = _frame_times(tl)
    shown = np.zeros(tl.n_frames, dtype=bool)
    for p in flags["safety_car"]:
        shown |= (times >= p["start"]) & (times < p["end"])
    on_sc = tl.frames["track_status"] == int(TrackStatusCode.SAFETY_CAR)
    assert np.array_equal(shown, on_sc)
    if session.label != "aus-race":
        assert flags["safety_car"] == []
        assert not any("Safety Car" in p for p in summary["problems"])
        return
    # 2025 Australia: three Safety Cars, from laps 1, 34 and 47 (../shared/data/README.md),
    # each deployed by race control and called in before the track went green.
    assert len(flags["safety_car"]) == 3
    leader_laps = [
        int(tl.frames["leader_lap"][tl.frame_at(p["start"])]) for p in flags["safety_car"]
    ]
    assert leader_laps == [1, 34, 47]
    texts = [(e.time, e.data["message"]) for e in tl.events if e.kind == EventKind.MESSAGE]
    for p in flags["safety_car"]:
        assert any(text == "SAFETY CAR DEPLOYED" and abs(t - p["start"]) < 30 for t, text in texts)
        assert p["in_this_lap"] is not None and p["start"] < p["in_this_lap"] < p["end"]
        assert any(text == "TRACK CLEAR" and abs(t - p["end"]) < 2 for t, text in texts)
    assert sum("no Safety Car position" in p for p in summary["problems"]) == 1
    if mode == "fastf1":
        return  # no car positions: nothing to place the marker against
    # The marker's placement (lap distance onto the outline) puts the leader's own
    # distance where the leader's car is drawn: so the SC is drawn 250 m ahead of it.
    g = tl.geometry
    frames = np.flatnonzero(on_sc)[:: tl.fps]
    leader = np.argmax(tl.frames["position"][frames] == 1, axis=1)
    d = tl.frames["distance"][frames, leader].astype(np.float64)
    car = np.column_stack([tl.frames["x"][frames, leader], tl.frames["y"][frames, leader]])
    on_track = np.isfinite(car).all(axis=1) & (tl.frames["status"][frames, leader] == 1)
    at = point_on_outline(g.outline, g.length, sc_marker_distance(d, g.length, ahead=0.0))
    error = np.hypot(*(at - car)[on_track].T)
    print("SC placement error p50/p95 m", np.percentile(error, [50, 95]))
    assert on_track.sum() > 100 and np.percentile(error, 95) < 40.0
    marker = point_on_outline(g.outline, g.length, sc_marker_distance(d, g.length))
    ahead = np.hypot(*(marker - car)[on_track].T)
    assert np.median(ahead) > 100.0  # ahead of the leader, not on top of it
