"""Mini-sectors and speed traps (timeline/minisectors.py): equal-distance parts of each
lap, marked as timing screens mark them, on a made-up circuit and every shared session."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_shared
from factories import FPS, drivers, timeline_of

from racereplay.bench.shared_data import SHARED_SESSIONS, SharedSession
from racereplay.timeline.minisectors import MINI_SECTORS, Mark, mini_sectors
from racereplay.timeline.model import DRIVER_CHANNELS, SESSION_CHANNELS, Timeline

LAP = 1000.0  # metres
PART = LAP / MINI_SECTORS


def _two_cars(speeds: list[list[float]], laps: int = 2) -> Timeline:
    """Cars on a 1 km lap from the line at t0 = 0, each at a constant speed (m/s) per
    lap (`speeds[car][lap]`, or per half lap when a lap's entry is a pair)."""
    slowest = min(min(np.atleast_1d(lap)) for per_lap in speeds for lap in per_lap)
    seconds = 2 * laps * LAP / slowest
    t = np.arange(int(seconds * FPS)) / FPS
    n = len(t)
    frames = {name: np.zeros((n, len(speeds)), dtype) for name, dtype in DRIVER_CHANNELS.items()}
    frames |= {name: np.zeros(n, dtype) for name, dtype in SESSION_CHANNELS.items()}
    rows = []
    for car, per_lap in enumerate(speeds):
        # Piecewise constant speed over distance: time at each half-lap boundary.
        halves = [v for lap in per_lap for v in ((lap, lap) if np.isscalar(lap) else lap)]
        at = np.concatenate([[0.0], np.cumsum([LAP / 2 / v for v in halves])])
        s = np.arange(len(at)) * LAP / 2
        frames["distance"][:, car] = np.interp(t, at, s, right=np.nan)
        half = np.searchsorted(at, t, side="right") - 1
        driving = half < len(halves)
        frames["speed"][:, car] = np.where(driving, np.array([*halves, 0.0])[half] * 3.6, np.nan)
        for lap in range(laps):
            start, end = float(at[2 * lap]), float(at[2 * lap + 2])
            third = (end - start) / 3
            rows.append(
                {
                    "driver": f"D{car:02d}",
                    "lap": lap + 2,  # lap 1, from a standing start, has no parts
                    "start": start,
                    "end": end,
                    "lap_time": end - start,
                    "sectors": [third, third, third],
                }
            )
    frames["position"][:] = 1
    return timeline_of(frames, drivers(len(speeds)), t0=0.0, laps=rows)


def test_each_part_is_an_equal_share_of_the_distance_timed_between_frames() -> None:
    sectors = mini_sectors(_two_cars([[50.0, 50.0]]))
    assert sectors.times.shape == (2, MINI_SECTORS)
    # 40 m at 50 m/s, read between 40 ms frames to well under a frame.
    assert np.allclose(sectors.times, PART / 50.0, atol=0.004)
    assert np.allclose(sectors.times.sum(axis=1), LAP / 50.0)
    assert np.allclose(sectors.ends[:, -1], [20.0, 40.0])


def test_marks_follow_the_bests_set_before_each_part_was_completed() -> None:
    # D00: 50 m/s on both laps. D01: 40 m/s on lap 1, then 40 and 60 m/s on lap 2.
    sectors = mini_sectors(_two_cars([[50.0, 50.0], [40.0, (40.0, 60.0)]]))
    by = {
        (code, int(lap)): i
        for i, (code, lap) in enumerate(zip(sectors.drivers, sectors.laps, strict=True))
    }
    first, again = sectors.marks[by[("D00", 2)]], sectors.marks[by[("D00", 3)]]
    slow, quick = sectors.marks[by[("D01", 2)]], sectors.marks[by[("D01", 3)]]
    assert (first == Mark.OVERALL_BEST).all()  # nobody had been through any part yet
    assert (slow == Mark.PERSONAL_BEST).all()  # slower than D00, but D01's first lap
    assert (again == Mark.OVERALL_BEST).all()  # equal to the best: still the best
    half = MINI_SECTORS // 2
    assert (quick[:half] == Mark.PERSONAL_BEST).all()  # equal to its own lap 1
    assert (quick[half + 1 :] == Mark.OVERALL_BEST).all()  # 60 m/s beats everyone


def test_no_distance_means_no_parts_and_a_note() -> None:
    timeline = _two_cars([[50.0, 50.0]])
    timeline.frames["distance"][:] = np.nan
    sectors = mini_sectors(timeline)
    assert (sectors.marks == Mark.UNKNOWN).all() and np.isnan(sectors.times).all()
    assert any("no distance data" in note for note in sectors.notes)


def test_without_official_traps_the_top_speed_per_sector_stands_in() -> None:
    sectors = mini_sectors(_two_cars([[50.0, (40.0, 60.0)]]))
    assert np.isnan(sectors.speed_trap).all()
    assert any("speed trap" in note for note in sectors.notes)
    assert np.allclose(sectors.sector_top_speed[0], 180.0)  # 50 m/s everywhere
    assert sectors.sector_top_speed[1, 2] == pytest.approx(216.0)  # 60 m/s at the end
    doc = sectors.to_json()
    assert doc["count"] == MINI_SECTORS and len(doc["laps"]) == 2
    assert abs(doc["laps"][0]["times"][0] - 800) <= 1 and doc["laps"][0]["speed_trap"] is None


CASES = [
    pytest.param(session, mode, id=f"{session.label}-{mode}")
    for session in SHARED_SESSIONS
    for mode in session.refs()
    if mode != "fastf1"  # FastF1 alone has no car telemetry here: no distance channel
]


@pytest.mark.realdata
@pytest.mark.parametrize(("session", "mode"), CASES)
def test_mini_sectors_agree_with_the_lap_table_on_shared_sessions(
    built: dict, session: SharedSession, mode: str
) -> None:
    timeline, _ = build_shared(built, session, mode)
    sectors = mini_sectors(timeline)
    known = np.isfinite(sectors.times).all(axis=1)
    # Practice from the archive alone: no pit flags, so in- and out-laps are counted
    # here and (not covering the line-to-line distance) rightly have no parts.
    enough = 0.95 if session.race or mode != "archive" else 0.7
    assert known.mean() >= enough, f"{known.mean():.1%} of laps with every part timed"
    # The fastest time through each part, over the session, was the best when set.
    for k in range(MINI_SECTORS):
        assert sectors.marks[np.nanargmin(sectors.times[:, k]), k] == Mark.OVERALL_BEST
    # Each driver's best parts add up to a little under their best timed lap.
    laps = {(r["driver"], r["lap"]): r for r in timeline.laps}
    for code in set(sectors.drivers):
        rows = [i for i, c in enumerate(sectors.drivers) if c == code and known[i]]
        timed = [laps[(code, int(sectors.laps[i]))]["lap_time"] for i in rows]
        if not rows:
            continue
        best_lap = min(timed)
        ideal = float(np.nanmin(sectors.times[rows], axis=0).sum())
        assert 0.93 * best_lap <= ideal <= best_lap + 0.3, (code, ideal, best_lap)
    trap = np.isfinite(sectors.speed_trap)
    if mode == "archive+fastf1":
        assert trap.mean() > 0.5  # FastF1's SpeedST, on most laps
        assert np.nanmax(sectors.speed_trap) > 250.0
    print(session.label, mode, f"{known.mean():.0%} of laps timed,", f"traps on {trap.mean():.0%}")
