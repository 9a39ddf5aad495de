"""The TracingInsights source on the real 2025 Australian GP, and on small broken folders."""

from __future__ import annotations

import gzip
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from racereplay.model import DrsState, RawSession, SessionKind, TrackStatusCode
from racereplay.sources import SessionNotFound, load
from racereplay.sources.tracinginsights import load_folder, read_driver_laps, read_lap_file

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="session")
def race(real_race: RawSession) -> RawSession:
    """The race with FastF1 timing from the frozen caches."""
    return real_race


@pytest.fixture(scope="session")
def race_archive_only(ti_race_dir: Path) -> RawSession:
    """The race from the TracingInsights files alone."""
    return load_folder(ti_race_dir)


# ---------------------------------------------------------------- real race, FastF1 timing


def test_race_has_every_driver_lap_and_sample(race: RawSession) -> None:
    assert len(race.drivers) == 20
    assert len(race.laps) == 927
    assert set(race.telemetry) == {d.code for d in race.drivers}
    assert 740_000 < sum(len(t) for t in race.telemetry.values()) < 760_000
    assert race.problems == []


def test_race_laps_per_driver(race: RawSession) -> None:
    last_lap = {d.code: race.laps_of(d.code)[-1].number for d in race.drivers}
    assert last_lap["HAD"] == last_lap["DOO"] == last_lap["SAI"] == 1
    assert (last_lap["ALO"], last_lap["BOR"], last_lap["LAW"]) == (33, 46, 47)
    assert last_lap["NOR"] == 57


def test_race_info_and_drivers(race: RawSession) -> None:
    info = race.info
    assert (info.year, info.event, info.name, info.kind) == (
        2025,
        "Australian Grand Prix",
        "Race",
        SessionKind.RACE,
    )
    assert info.total_laps == 57
    assert info.start_time == pytest.approx(4260.355)  # the 'Started' session status
    nor = race.driver("NOR")
    assert (nor.number, nor.team, nor.colour, nor.name) == (
        "4",
        "McLaren",
        "#FF8000",
        "Lando Norris",
    )


def test_race_classification(race: RawSession) -> None:
    top10 = [r.driver for r in sorted(race.results, key=lambda r: r.position or 99)][:10]
    assert top10 == ["NOR", "VER", "RUS", "ANT", "ALB", "STR", "HUL", "LEC", "PIA", "HAM"]
    antonelli = next(r for r in race.results if r.driver == "ANT")
    assert antonelli.grid == 16
    assert sum(r.classified == "R" for r in race.results) == 6


def test_race_laps_carry_fastf1_timing(race: RawSession) -> None:
    ver = race.laps_of("VER")
    assert ver[0].start == pytest.approx(race.info.start_time)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(ver))
    assert ver[0].lap_time == pytest.approx(119.392)
    assert math.isnan(ver[1].lap_time)  # behind the safety car: no official time
    assert math.isfinite(ver[1].pit_in) and math.isfinite(ver[2].pit_out)
    assert ver[2].stint == 2 and ver[0].compound == "INTERMEDIATE"
    assert ver[-1].position == 2 and race.laps_of("NOR")[-1].position == 1


def test_race_safety_car_periods_span_the_documented_laps(race: RawSession) -> None:
    leader = race.laps_of("NOR")
    periods = []
    for interval in race.track_status:
        if interval.status == TrackStatusCode.SAFETY_CAR:
            laps = [
                lap.number
                for lap in leader
                if lap.end > interval.start and lap.start < interval.end
            ]
            periods.append((laps[0], laps[-1]))
    assert periods == [(1, 7), (34, 41), (47, 51)]


def test_safety_car_messages_land_on_the_track_status_changes(race: RawSession) -> None:
    deployed = [m.time for m in race.messages if m.message == "SAFETY CAR DEPLOYED"]
    changes = [i.start for i in race.track_status if i.status == TrackStatusCode.SAFETY_CAR]
    assert len(deployed) == len(changes) == 3
    for message_time, change_time in zip(deployed, changes, strict=True):
        assert abs(message_time - change_time) < 2.0
    blue = [m for m in race.messages if m.flag == "BLUE"]
    assert blue and all(m.driver is not None and len(m.driver) == 3 for m in blue)


def test_race_weather_records_rain(race: RawSession) -> None:
    assert len(race.weather) > 100
    assert any(w.rainfall for w in race.weather)
    assert all(0 < w.air_temp < 40 for w in race.weather)


def test_race_corners_in_metres(race: RawSession) -> None:
    corners = race.circuit.corners
    assert [c.number for c in corners] == list(range(1, 15))
    assert corners[0].x == pytest.approx(-365.06, abs=0.01)  # corners.json gives -3650.6 (1/10 m)


def test_telemetry_is_sorted_monotonic_and_in_metres(race: RawSession) -> None:
    for code, tel in race.telemetry.items():
        assert np.all(np.diff(tel.time) > 0), code
        assert np.all(np.diff(tel.distance) >= 0), code
        assert np.nanmax(np.abs(tel.x)) < 1500, code  # Albert Park fits in ±1.5 km
        assert set(np.unique(tel.drs)) <= {s.value for s in DrsState}
    ver = race.telemetry["VER"]
    assert ver.time[0] == pytest.approx(race.laps_of("VER")[0].start)
    assert 57 * 5.2e3 < ver.distance[-1] < 57 * 5.35e3  # 57 laps of a 5.278 km lap


def test_telemetry_laps_join_without_jumps(race: RawSession) -> None:
    """A lap placed at the wrong time makes the car jump across the map at its ends."""
    for code, tel in race.telemetry.items():
        step = np.hypot(np.diff(tel.x), np.diff(tel.y))
        assert np.count_nonzero(step > 120) <= 1, code  # PIA's off on lap 44 glitches once


def test_laps_start_on_the_line(race: RawSession) -> None:
    tel = race.telemetry["NOR"]
    starts = np.array([lap.start for lap in race.laps_of("NOR")[1:]])
    x, y = np.interp(starts, tel.time, tel.x), np.interp(starts, tel.time, tel.y)
    off_line = np.hypot(x - np.median(x), y - np.median(y))
    assert np.count_nonzero(off_line < 30) >= 0.9 * len(starts)


# ---------------------------------------------------------------- real data, archive only


def test_archive_only_race_chains_lap_times(
    race_archive_only: RawSession, race: RawSession
) -> None:
    plain = race_archive_only
    assert len(plain.laps) == 927 and len(plain.drivers) == 20
    assert plain.info.start_time == 0.0 and plain.info.total_laps == 57
    # Chained durations agree with FastF1's clock to a fraction of a second over 57 laps.
    chained_end = plain.laps_of("NOR")[-1].end
    official_end = race.laps_of("NOR")[-1].end - race.info.start_time
    assert chained_end == pytest.approx(official_end, abs=1.0)
    assert plain.driver("NOR").colour == "#FF8000"  # the team table, without FastF1
    assert plain.results == [] and plain.messages == []


def test_archive_only_infers_pit_stops_from_compounds(race_archive_only: RawSession) -> None:
    ver = {lap.number: lap for lap in race_archive_only.laps_of("VER")}
    assert (ver[34].compound, ver[35].compound) == ("INTERMEDIATE", "MEDIUM")
    assert math.isfinite(ver[34].pit_in) and math.isfinite(ver[35].pit_out)
    assert ver[35].stint == ver[34].stint + 1
    assert math.isnan(ver[2].lap_time) and ver[2].end > ver[2].start  # NaN time: file duration


def test_qualifying_loads_without_fastf1(ti_quali_dir: Path) -> None:
    quali = load_folder(ti_quali_dir)
    assert quali.info.kind == SessionKind.QUALIFYING and quali.info.total_laps is None
    assert len(quali.drivers) == 20 and len(quali.laps) == 297
    assert len(quali.telemetry) == 20
    assert any("garage" in p for p in quali.problems)


def test_qualifying_falls_back_to_the_archive_when_fastf1_lacks_it(
    ti_quali_dir: Path, ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    # The FastF1 cache holds the race only: qualifying still loads, and says why it is
    # timed from the archive (this used to leave the parse pool's workers hanging).
    quali = load_folder(ti_quali_dir, ff1_cache_dir, ff1_http_cache_dir, offline=True)
    assert len(quali.laps) == 297 and len(quali.telemetry) == 20
    assert any("FastF1 timing unavailable" in p for p in quali.problems)


def test_session_name_with_fastf1_options(
    ti_race_dir: Path, ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    name = (
        f"tracinginsights:{ti_race_dir}?fastf1_cache={ff1_cache_dir}"
        f"&fastf1_http_cache={ff1_http_cache_dir}&offline=1"
    )
    session = load(name)
    assert session.info.start_time == pytest.approx(4260.355)
    with pytest.raises(SessionNotFound, match="unknown option"):
        load(f"tracinginsights:{ti_race_dir}?cache=x")


# ---------------------------------------------------------------- small made-up folders


def _lap(duration: float, length: float, samples: int = 50) -> dict:
    """A lap around a circle of the given length, in the archive's units (1/10 m)."""
    t = np.linspace(0.0, duration, samples)
    angle = 2 * np.pi * t / duration
    radius = length / (2 * np.pi) * 10
    return {
        "tel": {
            "time": t.tolist(),
            "rpm": [10000.0] * samples,
            "speed": [length / duration * 3.6] * samples,
            "gear": [7] * samples,
            "throttle": [100.0] * samples,
            "brake": [0] * samples,
            "drs": [12] * samples,
            "distance": np.linspace(0.0, length, samples).tolist(),
            "x": (radius * np.cos(angle)).tolist(),
            "y": (radius * np.sin(angle)).tolist(),
            "z": [50.0] * samples,
            "dataKey": "test",
        }
    }


def _write(path: Path, doc: object, compress: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc)
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _session(tmp_path: Path, laps: dict[str, list[float]], compress: bool = True) -> Path:
    folder = tmp_path / "2024" / "Test Grand Prix" / "Race"
    _write(
        folder / "drivers.json",
        {"drivers": [{"driver": code, "team": "McLaren"} for code in laps]},
        False,
    )
    for code, durations in laps.items():
        for number, duration in enumerate(durations, start=1):
            _write(folder / code / f"{number}_tel.json", _lap(duration, 5000.0), compress)
        times = ", ".join(str(d) for d in durations)
        numbers = ", ".join(str(float(n)) for n in range(1, len(durations) + 1))
        compounds = json.dumps(["SOFT"] * len(durations))
        (folder / code / "laptimes.json").write_text(
            f'{{"time": [{times}], "lap": [{numbers}], "compound": {compounds}}}'
        )
    return folder


def test_uncompressed_lap_files_load(tmp_path: Path) -> None:
    session = load_folder(_session(tmp_path, {"AAA": [90.0, 91.0, 92.0]}, compress=False))
    tel = session.telemetry["AAA"]
    assert tel.time[-1] == pytest.approx(90 + 91 + 92)
    assert tel.distance[-1] == pytest.approx(15000.0)
    assert np.nanmax(np.hypot(tel.x, tel.y)) == pytest.approx(5000 / (2 * np.pi), rel=1e-3)
    assert np.all(tel.drs == DrsState.OPEN)
    assert session.info.year == 2024 and session.info.event == "Test Grand Prix"


def test_nan_and_none_lap_times_use_the_file_duration(tmp_path: Path) -> None:
    folder = _session(tmp_path, {"AAA": [90.0, 95.0, 92.0]})
    (folder / "AAA" / "laptimes.json").write_text(
        '{"time": [90.0, NaN, "None"], "lap": [1.0, 2.0, 3.0], '
        '"compound": ["SOFT", "SOFT", "HARD"]}'
    )
    laps = load_folder(folder).laps_of("AAA")
    assert math.isnan(laps[1].lap_time) and math.isnan(laps[2].lap_time)
    assert laps[2].start == pytest.approx(90 + 95)
    assert laps[2].end == pytest.approx(90 + 95 + 92)
    # A new compound with no standstill in the telemetry: the archive cannot place a
    # stop, and none is made up.
    assert all(math.isnan(lap.pit_in) and math.isnan(lap.pit_out) for lap in laps)


def _with_pit_stop(lap: dict, entry: float, standstill: float, exit_: float) -> dict:
    """The lap with the car at the 80 km/h limit from `entry` to `exit_` (lap seconds)
    and standing still for `standstill` seconds in the middle."""
    tel = lap["tel"]
    t = np.asarray(tel["time"])
    speed = np.asarray(tel["speed"])
    middle = (entry + exit_) / 2
    speed[(t >= entry) & (t <= exit_)] = 80.0
    speed[np.abs(t - middle) <= standstill / 2] = 0.0
    tel["speed"] = speed.tolist()
    return lap


@pytest.mark.parametrize("standstill", [2.4, 0.0])
def test_archive_pit_stops_come_from_the_telemetry(tmp_path: Path, standstill: float) -> None:
    folder = _session(tmp_path, {"AAA": [90.0, 95.0, 92.0]})
    stop = _with_pit_stop(_lap(95.0, 5000.0, samples=400), 60.0, standstill, 80.0)
    _write(folder / "AAA" / "2_tel.json", stop, compress=True)
    session = load_folder(folder)
    laps = session.laps_of("AAA")
    if standstill:
        assert laps[1].pit_in == pytest.approx(90 + 60, abs=0.5)
        assert laps[1].pit_out == pytest.approx(90 + 80, abs=0.5)
        assert [lap.stint for lap in laps] == [1, 1, 2]
    else:  # a drive-through: not found in the telemetry alone, and said so
        assert all(math.isnan(lap.pit_in) for lap in laps)
    assert any("drive-throughs" in p for p in session.problems)


def test_corrupt_lap_file_is_skipped_and_reported(tmp_path: Path) -> None:
    folder = _session(tmp_path, {"AAA": [90.0, 90.0, 90.0], "BBB": [91.0, 91.0]})
    (folder / "AAA" / "2_tel.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    session = load_folder(folder)
    assert any("AAA: lap 2" in p and "cannot read" in p for p in session.problems)
    tel = session.telemetry["AAA"]
    # Lap 3 still sits at its chained time; the missing lap counts a median lap of distance.
    assert tel.time[-1] == pytest.approx(270.0)
    assert tel.distance[-1] == pytest.approx(15000.0)
    assert len(session.telemetry["BBB"]) == 99  # 2 laps x 50 samples, one shared boundary time


def test_missing_driver_folder_and_laptimes_are_reported(tmp_path: Path) -> None:
    folder = _session(tmp_path, {"AAA": [90.0, 91.0], "BBB": [92.0]})
    drivers = {"drivers": [{"driver": c, "team": "Nobody Racing"} for c in ("AAA", "BBB", "CCC")]}
    (folder / "drivers.json").write_text(json.dumps(drivers))
    (folder / "BBB" / "laptimes.json").unlink()
    session = load_folder(folder)
    assert any("CCC" in p and "no folder" in p for p in session.problems)
    assert any("BBB: no laptimes.json" in p for p in session.problems)
    assert session.laps_of("BBB")[0].end == pytest.approx(92.0)  # from the file's duration
    colour = session.driver("AAA").colour
    assert colour.startswith("#") and len(colour) == 7
    assert colour == load_folder(folder).driver("AAA").colour  # deterministic


def test_folder_not_in_the_layout_raises(tmp_path: Path) -> None:
    with pytest.raises(SessionNotFound, match="not a folder"):
        load_folder(tmp_path / "nowhere")
    empty = tmp_path / "2024" / "Test Grand Prix" / "Race"
    empty.mkdir(parents=True)
    with pytest.raises(SessionNotFound, match="no driver folders"):
        load_folder(empty)
    no_year = _session(tmp_path / "x", {"AAA": [90.0]}).rename(tmp_path / "Race")
    with pytest.raises(SessionNotFound, match="YEAR/EVENT/SESSION"):
        load_folder(no_year)
    bad_name = _session(tmp_path / "y", {"AAA": [90.0]})
    with pytest.raises(SessionNotFound, match="unknown session"):
        load_folder(bad_name.rename(bad_name.with_name("Warmup")))


# ---------------------------------------------------------------- the lap file reader


def _stdlib_lap(path: Path) -> dict[str, np.ndarray]:
    """A lap file read the slow, lenient way: json (bare NaN, Infinity), float() per value."""
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    tel = json.loads(data)["tel"]

    def number(value: object) -> float:
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan

    return {name: np.array([number(v) for v in tel[name]]) for name in tel if name != "dataKey"}


def _same_channels(read: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, values in read.items():
        assert values.dtype == np.float64, name
        np.testing.assert_array_equal(values, expected[name], err_msg=name)


# Each quirk of the archive's lap files, on its own: the bare NaN the fast reader
# rewrites, and the string and the infinity it leaves to the lenient parser.
QUIRKS = {
    "nan": ("10000.0, 10000.0", "NaN, null"),
    "string": ("10000.0, 10000.0", '"None", 10000.0'),
    "infinity": ("10000.0, 10000.0", "Infinity, -Infinity"),
}


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("quirk", QUIRKS)
def test_lap_file_quirks_read_as_the_lenient_parser_reads_them(
    tmp_path: Path, quirk: str, compress: bool
) -> None:
    lap = _lap(90.0, 5000.0, samples=6)
    lap["tel"]["acc_x"] = [0.5] * 6  # a channel the reader skips
    old, new = QUIRKS[quirk]
    text = json.dumps(lap).replace(old, new, 1)  # rpm's first two samples
    path = tmp_path / ("1_tel.json.gz" if compress else "1_tel.json")
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    read = read_lap_file(path)
    _same_channels(read, _stdlib_lap(path))
    expected = {"nan": [math.nan, math.nan], "string": [math.nan, 1e4]}
    expected["infinity"] = [math.inf, -math.inf]
    np.testing.assert_array_equal(read["rpm"][:2], expected[quirk])


def test_a_nested_array_never_shifts_a_channels_samples(tmp_path: Path) -> None:
    # The fast parser flattens nested arrays: [[a, b], c] must not read as [a, b, c].
    lap = _lap(90.0, 5000.0, samples=6)
    text = json.dumps(lap).replace("10000.0, 10000.0", "[10000.0, 10000.0]", 1)
    (tmp_path / "1_tel.json").write_text(text)
    with pytest.raises(ValueError, match="different lengths"):
        read_lap_file(tmp_path / "1_tel.json")


def test_lap_file_without_a_channel_is_refused(tmp_path: Path) -> None:
    lap = _lap(90.0, 5000.0, samples=6)
    del lap["tel"]["distance"]
    _write(tmp_path / "1_tel.json", lap, compress=False)
    with pytest.raises(KeyError, match="distance"):
        read_lap_file(tmp_path / "1_tel.json")


def test_every_real_lap_file_reads_as_the_lenient_parser_reads_it(ti_race_dir: Path) -> None:
    """Every shared session's lap files (a sample of each driver's), both ways, equal."""
    sessions = ti_race_dir.parent.parent.parent
    paths = sorted(sessions.glob("*/*/*/*/*_tel.json*"))
    assert len(paths) > 1000, "the shared sessions' lap files were not found"
    for path in paths[::9]:
        _same_channels(read_lap_file(path), _stdlib_lap(path))


def test_parse_workers_fork_only_from_a_process_with_one_thread() -> None:
    # A build process (one thread) forks them, with everything imported; a server
    # building in a thread must not fork itself, threads and locks and all. In a
    # fresh interpreter: this one may have threads left by other tests.
    import subprocess
    import sys

    script = """
import threading
from racereplay.sources.tracinginsights import _pool_context
alone = _pool_context().get_start_method()
release = threading.Event()
other = threading.Thread(target=release.wait)
other.start()
print(alone, _pool_context().get_start_method())
release.set()
other.join()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["fork", "forkserver"]


def test_a_driver_reads_on_after_a_lap_the_fast_parser_refuses(tmp_path: Path) -> None:
    # One parser serves all of a driver's laps: a lap it refuses (a bare NaN) must not
    # leave it holding that document, or the next lap's parse would fail.
    driver = tmp_path / "VER"
    driver.mkdir()
    for number in (1, 2, 3):
        lap = _lap(90.0, 5000.0, samples=6)
        text = json.dumps(lap)
        if number == 2:
            text = text.replace("10000.0", "NaN", 1)
        (driver / f"{number}_tel.json").write_text(text)
    data = read_driver_laps(driver)
    assert data.problems == []
    assert data.numbers.tolist() == [1, 2, 3]
    assert np.isnan(data.channels["rpm"]).sum() == 1
