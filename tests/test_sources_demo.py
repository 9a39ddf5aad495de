"""The demo source: a simulated race in the same raw form as real data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from racereplay.model import DrsState, RawSession, TrackStatusCode
from racereplay.sources import SessionNotFound, load
from racereplay.sources.demo import simulate
from racereplay.sources.demo.track import LAP_LENGTH, PIT_BLEND, PIT_OFFSET, build_track


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
    assert retired[0].laps == len(laps) < race.info.total_laps
    stop = next(m.time for m in race.messages if m.driver == code)
    assert laps[-1].end < stop
    tel = race.telemetry[code]
    assert tel.time[-1] < stop + 15 and tel.speed[-1] < 0.5
    yellow = [s for s in race.track_status if s.status == TrackStatusCode.YELLOW]
    assert len(yellow) == 1 and yellow[0].start < stop


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


@pytest.mark.parametrize(
    "name",
    [
        "demo?cars=1",
        "demo?cars=100",
        "demo?cars=abc",
        "demo?laps=0",
        "demo?seed=x",
        "demo?session=practice",
        "demo?speed=2",
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
