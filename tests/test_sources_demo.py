"""The demo source: a simulated race in the same raw form as real data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from racereplay.model import DrsState, Lap, RawSession, SessionKind, TrackStatusCode
from racereplay.sources import SessionNotFound, load
from racereplay.sources.demo import simulate
from racereplay.sources.demo.track import LAP_LENGTH, PIT_BLEND, PIT_OFFSET, build_track
from racereplay.timeline.model import DriverStatus


@pytest.fixture(scope="session")
def race() -> RawSession:
    return simulate()  # the default: seed 0, 20 cars, 30 laps


@pytest.fixture(scope="session")
def small() -> RawSession:
    return simulate(seed=1, cars=6, laps=8)


def _sc_interval(session: RawSession) -> tuple[float, float]:
    (sc,) = [s for s in session.track_status if s.status == TrackStatusCode.SAFETY_CAR]
    return sc.start, sc.end


def test_same_seed_same_session_other_seed_differs(small: RawSession) -> None:
    again = simulate(seed=1, cars=6, laps=8)
    other = simulate(seed=2, cars=6, laps=8)
    for code, tel in small.telemetry.items():
        for channel in ("time", *tel.CHANNELS):
            np.testing.assert_array_equal(
                getattr(tel, channel), getattr(again.telemetry[code], channel)
            )
    assert [lap.end for lap in small.laps] == [lap.end for lap in again.laps]
    assert small.results == again.results
    assert [lap.end for lap in small.laps] != [lap.end for lap in other.laps]
    code = small.drivers[0].code
    assert not np.array_equal(
        small.telemetry[code].speed[-500:], other.telemetry[code].speed[-500:]
    )


def test_track_is_closed_smooth_and_does_not_cross_itself() -> None:
    track = build_track()
    assert 4000 <= track.length <= 6000
    assert math.hypot(track.x[-1] - track.x[0], track.y[-1] - track.y[0]) < 1e-6
    steps = np.hypot(np.diff(track.x), np.diff(track.y))
    assert steps.max() < 2.5  # no jumps
    # Non-adjacent segments of the (decimated) centre line never intersect.
    px, py = track.x[::10], track.y[::10]
    ax, ay, bx, by = px[:-1], py[:-1], px[1:], py[1:]

    def side(ox, oy, dx, dy, qx, qy):
        return np.sign((dx - ox) * (qy - oy) - (dy - oy) * (qx - ox))

    i, j = np.triu_indices(len(ax), k=2)
    keep = ~((i == 0) & (j == len(ax) - 1))  # first and last segments touch at the line
    i, j = i[keep], j[keep]
    crosses = (
        side(ax[i], ay[i], bx[i], by[i], ax[j], ay[j])
        != side(ax[i], ay[i], bx[i], by[i], bx[j], by[j])
    ) & (
        side(ax[j], ay[j], bx[j], by[j], ax[i], ay[i])
        != side(ax[j], ay[j], bx[j], by[j], bx[i], by[i])
    )
    assert not crosses.any()
    assert 80 <= track.lap_time <= 95
    assert track.speed.min() < 30 and track.speed.max() > 85  # slow corners, fast straights


def test_circuit_info_and_session_info(race: RawSession) -> None:
    corners = race.circuit.corners
    assert len(corners) >= 8
    assert [c.number for c in corners] == list(range(1, len(corners) + 1))
    assert all(a.distance < b.distance for a, b in itertools.pairwise(corners))
    assert race.info.kind.is_race and race.info.total_laps == 30
    assert 60 <= race.info.start_time <= 200  # a pre-start before the lights


def test_drivers_teams_of_two(race: RawSession) -> None:
    assert len(race.drivers) == 20
    assert len({d.code for d in race.drivers}) == 20
    assert len({d.number for d in race.drivers}) == 20
    teams = [d.team for d in race.drivers]
    assert all(teams.count(t) == 2 for t in teams)
    assert all(len(d.code) == 3 and d.colour.startswith("#") for d in race.drivers)


def test_telemetry_irregular_at_4_to_8_hz_and_distance_monotonic(race: RawSession) -> None:
    for tel in race.telemetry.values():
        gaps = np.diff(tel.time)
        assert 1 / 8 <= np.median(gaps) <= 1 / 4
        assert gaps.min() > 0 and gaps.max() <= 0.26
        assert gaps.std() > 0.02  # irregular, as real data
        assert np.all(np.diff(tel.distance) >= 0)
        assert np.all(np.isfinite(tel.x)) and np.all(np.isfinite(tel.speed))
        assert tel.speed.max() > 280 and tel.gear.max() == 8


def test_car_is_on_the_line_at_every_lap_end(race: RawSession) -> None:
    track = build_track()
    for driver in race.drivers:
        tel = race.telemetry[driver.code]
        laps = race.laps_of(driver.code)
        ends = np.array([lap.end for lap in laps])
        x, y = np.interp(ends, tel.time, tel.x), np.interp(ends, tel.time, tel.y)
        off_line = np.hypot(x - track.x[0], y - track.y[0])
        in_pit = np.array([not math.isnan(lap.pit_in) for lap in laps])
        assert np.all(off_line[~in_pit] < 3.0)
        assert np.all(off_line[in_pit] < PIT_OFFSET + 3.0)  # the in-lap ends in the pit lane
        lap_distance = np.diff(np.interp(ends, tel.time, tel.distance))
        np.testing.assert_allclose(lap_distance, LAP_LENGTH, atol=1.0)


def test_lap_times_plausible_and_sectors_add_up(race: RawSession) -> None:
    times = np.array([lap.lap_time for lap in race.laps])
    assert 80 <= np.median(times) <= 95
    for lap in race.laps:
        assert lap.end - lap.start == pytest.approx(lap.lap_time)
        assert sum(lap.sector_times) == pytest.approx(lap.lap_time)
        assert all(s > 0 for s in lap.sector_times)


def test_one_pit_stop_per_car_with_compound_change_and_a_stop(race: RawSession) -> None:
    retired = {r.driver for r in race.results if r.status == "Retired"}
    for driver in race.drivers:
        if driver.code in retired:
            continue
        laps = race.laps_of(driver.code)
        pit_in = [lap for lap in laps if not math.isnan(lap.pit_in)]
        pit_out = [lap for lap in laps if not math.isnan(lap.pit_out)]
        assert len(pit_in) == 1 and len(pit_out) == 1
        assert pit_out[0].number == pit_in[0].number + 1
        assert pit_in[0].compound != pit_out[0].compound
        assert (pit_in[0].stint, pit_out[0].stint) == (1, 2) and pit_out[0].tyre_age == 1
        tel = race.telemetry[driver.code]
        lane = (tel.time > pit_in[0].pit_in) & (tel.time < pit_out[0].pit_out)
        # The limit applies between the speed-limit lines, PIT_BLEND inside the lane's ends.
        entry, exit_ = np.interp([pit_in[0].pit_in, pit_out[0].pit_out], tel.time, tel.distance)
        limited = (tel.distance > entry + PIT_BLEND) & (tel.distance < exit_ - PIT_BLEND)
        assert limited.sum() > 20 and tel.speed[limited].max() <= 80.5
        standing = tel.time[lane & (tel.speed < 0.5)]
        assert 2.0 <= standing.max() - standing.min() <= 3.5


def test_safety_car_bunches_the_field_without_overtakes(race: RawSession) -> None:
    start, end = _sc_interval(race)
    assert start < end
    texts = {m.message: m.time for m in race.messages}
    assert texts["SAFETY CAR DEPLOYED"] == pytest.approx(start)
    assert start < texts["SAFETY CAR IN THIS LAP"] < end
    under_sc = [lap for lap in race.laps if start < lap.end <= end]
    by_lap: dict[int, dict[str, int | None]] = {}
    for lap in under_sc:
        by_lap.setdefault(lap.number, {})[lap.driver] = lap.position
    numbers = sorted(by_lap)
    assert len(numbers) >= 2
    for a, b in itertools.pairwise(numbers):
        common = by_lap[a].keys() & by_lap[b].keys()
        assert all(by_lap[a][c] == by_lap[b][c] for c in common)

    def spread(number: int) -> float:
        ends = [lap.end for lap in under_sc if lap.number == number]
        return max(ends) - min(ends)

    assert spread(numbers[-1]) < spread(numbers[0])
    for tel in race.telemetry.values():
        assert not np.any(tel.drs[(tel.time > start) & (tel.time < end)] == DrsState.OPEN)


def test_drs_opens_and_overtakes_happen_in_green_running(race: RawSession) -> None:
    assert any(np.any(t.drs == DrsState.OPEN) for t in race.telemetry.values())
    start, end = _sc_interval(race)
    gains = 0
    for driver in race.drivers:
        laps = race.laps_of(driver.code)
        for a, b in itertools.pairwise(laps):
            pitting = not (math.isnan(a.pit_in) and math.isnan(b.pit_in) and math.isnan(b.pit_out))
            if not pitting and (b.end < start or b.start > end):
                gains += int(
                    b.position is not None and a.position is not None and b.position < a.position
                )
    assert gains >= 3


def test_one_retirement_with_no_laps_after(race: RawSession) -> None:
    retired = [r for r in race.results if r.status == "Retired"]
    assert len(retired) == 1
    code = retired[0].driver
    laps = race.laps_of(code)
    assert race.info.total_laps is not None
    assert retired[0].laps == len(laps) < race.info.total_laps
    stop = next(m.time for m in race.messages if m.driver == code)
    assert laps[-1].end < stop
    tel = race.telemetry[code]
    assert tel.time[-1] < stop + 15 and tel.speed[-1] < 0.5
    yellow = [s for s in race.track_status if s.status == TrackStatusCode.YELLOW]
    assert len(yellow) == 1 and yellow[0].start < stop


@pytest.fixture(scope="module", params=[2, 20, 40])
def field(request: pytest.FixtureRequest) -> RawSession:
    # 7 laps: the shortest race with a retirement, a Safety Car, a restart and pit stops.
    return simulate(seed=1, cars=request.param, laps=7)


def _running(session: RawSession, code: str, lights: float, stop: float) -> np.ndarray:
    """Samples of `code` racing on track: from a second after it left the grid to its last
    lap end (or a second before its stop, if it retired), the pit lane left out."""
    tel = session.telemetry[code]
    t = tel.time
    moved = t[np.argmax((t > lights) & (tel.speed > 5))]
    laps = session.laps_of(code)
    retired = next(r for r in session.results if r.driver == code).status == "Retired"
    end = stop - 1.0 if retired else laps[-1].end
    keep = (t > moved + 1.0) & (t < end)
    for a, b in itertools.pairwise(laps):
        if not math.isnan(a.pit_in):
            keep &= ~((t >= a.pit_in) & (t <= b.pit_out))
    return keep


def test_no_car_stands_still_on_track_and_speeds_stay_plausible(field: RawSession) -> None:
    """Large fields once piled up after the start and stood still for ~12 s (40 cars)."""
    lights = field.info.start_time
    if len(field.drivers) > 2:  # the test must cover a Safety Car and its restart
        _sc_interval(field)
    yellow = [s.start for s in field.track_status if s.status == TrackStatusCode.YELLOW]
    stop = yellow[0] if yellow else math.inf
    for driver in field.drivers:
        tel = field.telemetry[driver.code]
        t, speed = tel.time, tel.speed.astype(np.float64)
        left_grid = t[np.argmax((t > lights) & (speed > 5))]
        assert left_grid - lights < 2.0, f"{driver.code} waited on the grid"
        running = _running(field, driver.code, lights, stop)
        assert running.sum() > 100
        slowest = speed[running].min()
        assert slowest > 20.0, f"{driver.code} at {slowest:.1f} km/h on track"
        assert speed.max() < 360.0
        # No car jumps to racing speed: at most 25 m/s gained in any second (~2.5 g).
        inside = t + 1.0 <= t[-1]
        gain = (np.interp(t + 1.0, t, speed) - speed)[inside] / 3.6
        assert gain.max() < 25.0, f"{driver.code} gained {gain.max():.0f} m/s in a second"


def test_results_follow_laps_and_finish_times(race: RawSession) -> None:
    results = race.results
    assert [r.position for r in results] == list(range(1, 21))
    assert sorted(r.grid for r in results) == list(range(1, 21))  # type: ignore[type-var]
    laps_done = [r.laps for r in results]
    assert laps_done == sorted(laps_done, reverse=True)  # type: ignore[type-var]
    assert results[0].laps == race.info.total_laps and results[0].status == "Finished"
    finishers = [r for r in results if r.status != "Retired"]
    last_end = [race.laps_of(r.driver)[-1].end for r in finishers if r.laps == results[0].laps]
    assert last_end == sorted(last_end)
    final = {lap.driver: lap.position for lap in race.laps if lap.number == results[0].laps}
    assert [final[r.driver] for r in finishers] == [r.position for r in finishers]


def test_weather_every_minute(race: RawSession) -> None:
    times = np.array([w.time for w in race.weather])
    np.testing.assert_allclose(np.diff(times), 60.0)
    assert times[-1] >= max(t.time[-1] for t in race.telemetry.values()) - 60
    assert all(10 < w.air_temp < 35 and w.track_temp > w.air_temp - 5 for w in race.weather)


def test_rain_falls_during_the_race_and_slows_it(race: RawSession) -> None:
    rain = [w.time for w in race.weather if w.rainfall]
    assert rain, "the default race has its spell of rain"
    wet_from, wet_to = rain[0] + 60, rain[-1] + 60  # a lap ending then was run in the wet
    green = [s for s in race.track_status if s.status != TrackStatusCode.GREEN]

    def clean(lap: Lap) -> bool:  # timed, no pit lane, nowhere near a neutralisation
        return (
            math.isfinite(lap.lap_time)
            and math.isnan(lap.pit_in)
            and math.isnan(lap.pit_out)
            and not any(s.start - 100 <= lap.end <= s.end + 100 for s in green)
        )

    laps = [lap for lap in race.laps if clean(lap)]
    wet = [lap.lap_time for lap in laps if wet_from <= lap.end <= wet_to]
    dry = [lap.lap_time for lap in laps if lap.end < rain[0] - 300]
    assert len(wet) >= 20 and len(dry) >= 20
    assert np.median(wet) > 1.025 * np.median(dry), (np.median(wet), np.median(dry))


@pytest.mark.parametrize(
    "name",
    [
        "demo?cars=1",
        "demo?cars=100",
        "demo?cars=abc",
        "demo?laps=0",
        "demo?seed=x",
        "demo?session=sprint",
        "demo?speed=2",
        "demo?session=qualifying&minutes=5",
        "demo?session=qualifying&minutes=abc",
        "demo?session=practice&minutes=1000",
        "demo?session=qualifying&laps=10",
        "demo?minutes=30",
    ],
)
def test_bad_options_are_rejected(name: str) -> None:
    with pytest.raises(SessionNotFound, match=r"demo option|session="):
        load(name)


def test_options_through_the_session_name_and_scale() -> None:
    session = load("demo?seed=3&cars=40&laps=2")
    assert len(session.drivers) == 40 and len(session.telemetry) == 40
    assert len({d.code for d in session.drivers}) == 40
    assert session.info.total_laps == 2
    assert max(r.laps for r in session.results) == 2  # type: ignore[type-var]


# --- qualifying and practice -------------------------------------------------------------


@pytest.fixture(scope="session")
def qualifying() -> RawSession:
    return simulate(kind=SessionKind.QUALIFYING)  # the default: 20 cars, full length


@pytest.fixture(scope="session")
def small_qualifying() -> RawSession:
    return load("demo?session=qualifying&cars=8&minutes=18&seed=3")


@pytest.fixture(scope="session")
def practice() -> RawSession:
    return load("demo?session=practice&cars=8&minutes=40&seed=5")


def _segment_times(session: RawSession) -> tuple[list[float], list[float]]:
    """Green lights and chequered flags, from race control."""
    greens = [m.time for m in session.messages if m.message == "GREEN LIGHT - PIT EXIT OPEN"]
    flags = [m.time for m in session.messages if m.message == "CHEQUERED FLAG"]
    return greens, flags


def _segment_of(session: RawSession, time: float) -> int:
    greens, _ = _segment_times(session)
    return int(np.searchsorted(greens, time, side="right")) - 1


def _runs(laps: list[Lap]) -> list[list[Lap]]:
    """A driver's laps split into runs: each run begins with a lap out of the pit lane."""
    runs: list[list[Lap]] = []
    for lap in laps:
        if not math.isnan(lap.pit_out):
            runs.append([])
        runs[-1].append(lap)
    return runs


def _timed(run: list[Lap]) -> list[Lap]:
    return run[1:-1]


def _best_by_segment(session: RawSession) -> dict[str, dict[int, float]]:
    best: dict[str, dict[int, float]] = {}
    for driver in session.drivers:
        for run in _runs(session.laps_of(driver.code)):
            for lap in _timed(run):
                seg = _segment_of(session, lap.start)
                mine = best.setdefault(driver.code, {})
                mine[seg] = min(mine.get(seg, math.inf), lap.lap_time)
    return best


@pytest.mark.parametrize("which", ["qualifying", "small_qualifying", "practice"])
def test_runs_are_out_lap_timed_laps_in_lap_then_garage(
    which: str, request: pytest.FixtureRequest
) -> None:
    session: RawSession = request.getfixturevalue(which)
    assert session.info.total_laps is None
    greens, flags = _segment_times(session)
    assert session.info.start_time == greens[0]
    expected = 3 if session.info.kind == SessionKind.QUALIFYING else 1
    assert len(greens) == len(flags) == expected
    for driver in session.drivers:
        laps = session.laps_of(driver.code)
        assert [lap.number for lap in laps] == list(range(1, len(laps) + 1))
        runs = _runs(laps)
        assert runs and laps[0] is runs[0][0]  # the first lap leaves the pit lane
        tel = session.telemetry[driver.code]
        for run in runs:
            out, timed, into = run[0], _timed(run), run[-1]
            assert timed and all(math.isnan(lap.pit_in + lap.pit_out) for lap in timed)
            assert not math.isnan(into.pit_in) and math.isnan(into.pit_out)
            seg = _segment_of(session, out.start)
            assert greens[seg] < out.start and all(lap.start < flags[seg] for lap in timed)
            for a, b in itertools.pairwise(run):
                assert b.start == a.end  # laps follow each other without a gap in a run
            fastest_slow_lap = min(out.lap_time, into.lap_time)
            assert fastest_slow_lap > 1.25 * max(lap.lap_time for lap in timed)
            for lap in run:
                assert lap.end - lap.start == pytest.approx(lap.lap_time)
                assert sum(lap.sector_times) == pytest.approx(lap.lap_time)
                assert all(s > 0 for s in lap.sector_times)
        for before, after in itertools.pairwise(runs):
            garage = (before[-1].end + 30.0, after[0].start - 10.0)
            assert garage[1] - garage[0] > 10.0  # time in the garage between runs
            assert not np.any((tel.time > garage[0]) & (tel.time < garage[1]))  # no telemetry
        # Telemetry: standing in the box before the first run, on the line at each lap end.
        assert tel.time[0] < laps[0].start and tel.speed[0] < 0.5
        assert np.all(np.diff(tel.time) > 0) and np.all(np.diff(tel.distance) >= 0)
        ends = np.array([lap.end for lap in laps])
        lap_distance = np.diff(np.interp(ends, tel.time, tel.distance))
        timed_after = np.array([math.isnan(lap.pit_out) for lap in laps[1:]])
        np.testing.assert_allclose(lap_distance[timed_after], LAP_LENGTH, atol=1.0)


def test_timed_laps_faster_than_the_race(qualifying: RawSession, race: RawSession) -> None:
    best_q = min(lap.lap_time for lap in qualifying.laps)
    best_race = min(lap.lap_time for lap in race.laps)
    assert best_q < best_race - 0.5
    code = qualifying.results[0].driver
    tel = qualifying.telemetry[code]
    assert tel.speed.max() > 300 and np.any(tel.drs == DrsState.OPEN)
    # Out of the box the limiter holds the car at the pit lane limit, not at out-lap pace.
    for lap in qualifying.laps_of(code):
        if not math.isnan(lap.pit_out):
            box, exit_ = np.interp([lap.start, lap.pit_out], tel.time, tel.distance)
            limited = (tel.distance > box + 60) & (tel.distance < exit_ - PIT_BLEND)
            assert limited.sum() > 10
            assert np.median(tel.speed[limited]) > 78 and tel.speed[limited].max() <= 80.5


@pytest.mark.parametrize("which", ["qualifying", "small_qualifying"])
def test_eliminations_after_q1_and_q2(which: str, request: pytest.FixtureRequest) -> None:
    session: RawSession = request.getfixturevalue(which)
    n = len(session.drivers)
    out = n // 4
    best = _best_by_segment(session)
    q1 = sorted(best, key=lambda c: best[c][0])
    assert len(q1) == n  # everyone set a Q1 time
    q2 = {c for c in best if 1 in best[c]}
    q3 = {c for c in best if 2 in best[c]}
    assert q2 == set(q1[: n - out])  # the slowest quarter is out after Q1
    assert q3 == set(sorted(q2, key=lambda c: best[c][1])[: n - 2 * out])
    greens, _ = _segment_times(session)
    for code in set(q1) - q2:  # no laps after their segment
        assert max(lap.end for lap in session.laps_of(code)) < greens[1]
    for code in q2 - q3:
        assert max(lap.end for lap in session.laps_of(code)) < greens[2]


@pytest.mark.parametrize("which", ["qualifying", "small_qualifying", "practice"])
def test_results_in_best_time_order_of_the_last_segment(
    which: str, request: pytest.FixtureRequest
) -> None:
    session: RawSession = request.getfixturevalue(which)
    best = _best_by_segment(session)
    expected = sorted(best, key=lambda c: (-max(best[c]), best[c][max(best[c])]))
    assert [r.driver for r in session.results] == expected
    assert [r.position for r in session.results] == list(range(1, len(expected) + 1))
    assert all(r.grid is None and r.status == "Finished" for r in session.results)
    # Each car's last lap ends after its segment is decided: its position is the final one.
    for r in session.results:
        assert session.laps_of(r.driver)[-1].position == r.position


def test_lap_positions_lead_with_the_fastest_time_so_far(qualifying: RawSession) -> None:
    laps = sorted(qualifying.laps, key=lambda lap: lap.end)
    fastest: dict[int, float] = {}
    checked = 0
    for lap in laps:
        if not (math.isnan(lap.pit_in) and math.isnan(lap.pit_out)):
            continue
        seg = _segment_of(qualifying, lap.start)
        if lap.lap_time < fastest.get(seg, math.inf):
            fastest[seg] = lap.lap_time
            assert lap.position == 1
            checked += 1
    assert checked >= 3


def test_practice_runs_vary_and_nobody_is_eliminated(practice: RawSession) -> None:
    lengths = []
    compounds = set()
    for driver in practice.drivers:
        runs = _runs(practice.laps_of(driver.code))
        assert len(runs) >= 2
        lengths += [len(_timed(run)) for run in runs]
        compounds |= {run[0].compound for run in runs}
        for run in runs:
            assert len({lap.compound for lap in run}) == 1
            assert [lap.tyre_age for lap in run] == list(range(1, len(run) + 1))
        assert [run[0].stint for run in runs] == list(range(1, len(runs) + 1))
    assert min(lengths) <= 3 and max(lengths) >= 5
    assert len(compounds) >= 2
    assert practice.info.kind == SessionKind.PRACTICE and practice.info.name == "Practice 1"


def test_qualifying_same_seed_same_session_other_seed_differs(
    small_qualifying: RawSession,
) -> None:
    again = load("demo?session=qualifying&cars=8&minutes=18&seed=3")
    other = load("demo?session=qualifying&cars=8&minutes=18&seed=4")
    assert repr(again.laps) == repr(small_qualifying.laps)  # repr: NaN == NaN
    assert again.results == small_qualifying.results
    for code, tel in small_qualifying.telemetry.items():
        for channel in ("time", *tel.CHANNELS):
            np.testing.assert_array_equal(
                getattr(tel, channel), getattr(again.telemetry[code], channel)
            )
    assert [lap.end for lap in other.laps] != [lap.end for lap in small_qualifying.laps]


@pytest.mark.parametrize("which", ["qualifying", "small_qualifying", "practice"])
def test_timeline_leaderboard_at_the_end_equals_results(
    which: str, request: pytest.FixtureRequest
) -> None:
    from racereplay.timeline.build import build_timeline
    from racereplay.timeline.laptable import all_driver_laps
    from racereplay.timeline.qualifying import segment_starts

    session: RawSession = request.getfixturevalue(which)
    timeline = build_timeline(session, workers=1)
    codes = [d.code for d in session.drivers]
    final = timeline.frames["position"][-1]
    assert [codes[j] for j in np.argsort(final)] == [r.driver for r in session.results]
    # The breaks are found without help: each detected segment start lies in a break.
    greens, flags = _segment_times(session)
    starts = segment_starts(session, all_driver_laps(session))
    assert len(starts) == len(greens) - 1
    assert all(
        flag < s and g <= s for s, flag, g in zip(starts, flags[:-1], greens[1:], strict=True)
    )


@pytest.mark.parametrize(
    "name",
    ["demo?cars=2&laps=5", "demo?cars=20&laps=8", "demo?cars=40&laps=6", "demo?cars=60&laps=4"],
)
def test_demo_fidelity_at_several_sizes(name: str) -> None:
    from racereplay.timeline.build import build_timeline
    from racereplay.timeline.summary import summarize

    timeline = build_timeline(load(name))
    summary = summarize(timeline)
    fidelity = summary["fidelity"]
    assert fidelity["motion_in_band"] >= 0.99
    assert fidelity["track_line_p99_m"] <= 20.0
    final = timeline.frames["status"][-1]
    retired = {
        d.code for d, s in zip(timeline.drivers, final, strict=True) if s == DriverStatus.RETIRED
    }
    assert retired == set(summary["retirements"])
    # The demo has no Safety Car position either: its Safety Car is drawn as an estimate.
    # The pit-exit ghost says which loss factors (or loss) it took by default.
    estimates = ("Safety Car:", "pit-exit ghost: ")
    assert not [p for p in summary["problems"] if not p.startswith(estimates)]
    assert summary["pit_loss"] is not None
