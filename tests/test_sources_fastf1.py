"""The fastf1 source and the FastF1 timing conversion, offline on the real 2025 Australian GP."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import need_shared_data

from racereplay.bench import shared_data
from racereplay.model import RawSession
from racereplay.sources import SessionNotFound, fastf1_timing, load
from racereplay.sources.fastf1 import load_session, merge_car_and_position, parse_arg
from racereplay.sources.fastf1_timing import (
    Timing,
    estimate_t0_date,
    load_timing,
    loaded_session,
    session_long_name,
    team_colour,
)
from racereplay.sources.tracinginsights import load_folder

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="session")
def race_with_ti_telemetry(
    ff1_cache_dir: Path, ff1_http_cache_dir: Path, ti_race_dir: Path
) -> RawSession:
    return load_session(
        2025,
        "Australia",
        "R",
        ff1_cache_dir,
        ff1_http_cache_dir,
        offline=True,
        telemetry=ti_race_dir,
    )


def test_fastf1_timing_with_tracinginsights_telemetry(race_with_ti_telemetry: RawSession) -> None:
    race = race_with_ti_telemetry
    assert race.info.event == "Australian Grand Prix" and race.info.total_laps == 57
    assert len(race.laps) == 927 and len(race.telemetry) == 20
    assert 740_000 < sum(len(t) for t in race.telemetry.values()) < 760_000
    assert [r.driver for r in race.results[:4]] == ["NOR", "VER", "RUS", "ANT"]
    assert len(race.circuit.corners) == 14  # from the TI folder's corners.json
    assert race.problems == []


def test_session_time_zero_is_found_from_safety_car_messages(
    ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    problems: list[str] = []
    with loaded_session(
        2025, "Australia", "R", ff1_cache_dir, ff1_http_cache_dir, offline=True
    ) as ff1_session:
        t0 = estimate_t0_date(ff1_session, problems)
    assert t0 is not None and problems == []
    assert abs((t0 - datetime(2025, 3, 16, 3, 7, 22)).total_seconds()) < 0.5


def test_session_name_loads_offline_without_telemetry(
    ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    session = load(
        f"fastf1:2025/Australia/R?cache={ff1_cache_dir}&http_cache={ff1_http_cache_dir}&offline=1"
    )
    assert len(session.laps) == 927 and session.telemetry == {}
    assert any("telemetry=PATH" in p for p in session.problems)
    sc = [m for m in session.messages if m.message == "SAFETY CAR DEPLOYED"]
    assert sc[0].lap == 1 and sc[0].time == pytest.approx(4328.95, abs=2.0)


def test_same_race_from_both_sources_agrees(
    race_with_ti_telemetry: RawSession,
    ti_race_dir: Path,
    ff1_cache_dir: Path,
    ff1_http_cache_dir: Path,
) -> None:
    via_ti = load_folder(ti_race_dir, ff1_cache_dir, ff1_http_cache_dir, offline=True)
    for code, tel in via_ti.telemetry.items():
        np.testing.assert_array_equal(tel.time, race_with_ti_telemetry.telemetry[code].time)
    assert [repr(lap) for lap in via_ti.laps] == [repr(lap) for lap in race_with_ti_telemetry.laps]


def test_a_session_the_offline_cache_lacks_is_a_clear_error(
    ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    # The cache holds the race only: qualifying must fail with a message, not a traceback.
    with pytest.raises(SessionNotFound, match="does it hold this session"):
        load(
            f"fastf1:2025/Australia/Q?cache={ff1_cache_dir}"
            f"&http_cache={ff1_http_cache_dir}&offline=1"
        )


def test_bad_names_say_what_to_do(ff1_cache_dir: Path) -> None:
    with pytest.raises(SessionNotFound, match="YEAR/EVENT/TYPE"):
        parse_arg("Australia/R")
    with pytest.raises(SessionNotFound, match="unknown session type"):
        session_long_name("warmup")
    with pytest.raises(SessionNotFound, match="unknown option"):
        load("fastf1:2025/Australia/R?cahce=x")
    with pytest.raises(SessionNotFound, match="not a folder"):
        load_session(2025, "Australia", "R", ff1_cache_dir, offline=True, telemetry=Path("/nope"))
    assert parse_arg("2025/1/fp2") == (2025, 1, "fp2")
    assert session_long_name("fp2") == "Practice 2" and session_long_name("sprint qualifying")


def test_team_colours() -> None:
    assert team_colour("McLaren", "ff8000") == "#FF8000"
    assert team_colour("Williams", None) == "#64C4FF"
    made_up = team_colour("Nobody Racing")
    assert made_up == team_colour("Nobody Racing") and made_up != team_colour("Someone Racing")


def test_car_and_position_merge_on_real_samples(race_with_ti_telemetry: RawSession) -> None:
    """FastF1's two streams, rebuilt from real samples: car data on even, position on odd ones."""
    ver = race_with_ti_telemetry.telemetry["VER"]
    window = slice(10_000, 20_000)
    t = ver.time[window]
    car_t, pos_t = t[0::2], t[1::2]
    car = {
        "speed": ver.speed[window][0::2],
        "rpm": ver.rpm[window][0::2],
        "gear": ver.gear[window][0::2],
        "throttle": ver.throttle[window][0::2],
        "brake": ver.brake[window][0::2],
        "drs": np.where(ver.drs[window][0::2] == 2, 12, 0),
    }
    pos = {axis: getattr(ver, axis)[window][1::2] * 10.0 for axis in ("x", "y", "z")}
    merged = merge_car_and_position(car_t, car, pos_t, pos)
    np.testing.assert_array_equal(merged.time, t)
    np.testing.assert_allclose(merged.x[1::2], ver.x[window][1::2], atol=0.01)
    np.testing.assert_allclose(merged.speed[0::2], ver.speed[window][0::2], atol=0.01)
    np.testing.assert_array_equal(merged.gear[0::2], ver.gear[window][0::2])
    # Position between samples: interpolated, so within a car's length or two of the truth.
    assert np.nanmedian(np.abs(merged.x[2:-1:2] - ver.x[window][2:-1:2])) < 5.0
    driven = ver.distance[window][-1] - ver.distance[window][0]
    assert merged.distance[-1] == pytest.approx(driven, rel=0.02)
    assert np.isnan(merged.x[0])  # before the first position sample: unknown, not zero


def test_missing_lap_start_falls_back_to_the_previous_lap_end(
    race_with_ti_telemetry: RawSession,
) -> None:
    laps = [dataclasses.replace(lap) for lap in race_with_ti_telemetry.laps]
    ver_lap_5 = next(lap for lap in laps if lap.driver == "VER" and lap.number == 5)
    ver_lap_4_end = next(lap.end for lap in laps if lap.driver == "VER" and lap.number == 4)
    ver_lap_5.start = math.nan
    timing = Timing(race_with_ti_telemetry.info, [], laps, [], [], [], [], None, None)
    assert timing.lap_starts()["VER"][5] == ver_lap_4_end


def _tree(root: Path) -> dict[str, tuple[str, int] | str]:
    """Every entry under `root`: files by content hash and mtime, folders by name."""
    entries: dict[str, tuple[str, int] | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            entries[key] = "folder"
        else:
            stat = path.lstat()
            entries[key] = (hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mtime_ns)
    return entries


def _written(folder: Path) -> int:
    """Bytes of the regular files under `folder` (its symlinks are reads in place)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture
def overlay_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(bytes written, files linked) of every FastF1 cache overlay, measured as it closes."""
    sizes: list[tuple[int, int]] = []
    real = fastf1_timing._cache_folder

    @contextlib.contextmanager
    def measured(*args: Any) -> Iterator[Path | None]:
        with real(*args) as folder:
            assert folder is not None
            try:
                yield folder
            finally:  # a failed load is measured too
                links = sum(1 for p in folder.rglob("*") if p.is_symlink())
                sizes.append((_written(folder), links))

    monkeypatch.setattr(fastf1_timing, "_cache_folder", measured)
    return sizes


def test_an_offline_load_reads_the_shared_cache_in_place(
    overlay_sizes: list[tuple[int, int]],
) -> None:
    """The shared cache, read-only input, is used where it is: nothing in it changes, and
    only FastF1's HTTP database (seeded from the frozen responses) is written elsewhere."""
    cache = need_shared_data(shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    before = _tree(shared_data.ROOT / "fastf1")
    timing = load_timing(2025, "Australia", "R", cache, shared_data.FASTF1_HTTP_CACHE, offline=True)
    assert len(timing.laps) == 927 and timing.results[0].driver == "NOR"
    with pytest.raises(SessionNotFound, match="does it hold this session"):
        load_timing(2025, "Australia", "Q", cache, shared_data.FASTF1_HTTP_CACHE, offline=True)
    assert _tree(shared_data.ROOT / "fastf1") == before
    pickles = sum(1 for p in cache.rglob("*") if p.is_file())
    frozen = sum(p.stat().st_size for p in shared_data.FASTF1_HTTP_CACHE.glob("*.json"))
    for written, linked in overlay_sizes:
        assert linked == pickles  # every cache file read through a link, none copied
        assert written < frozen  # the seeded HTTP database (the frozen JSON, compacted)
    assert len(overlay_sizes) == 2


def test_a_users_own_http_database_is_read_in_place(
    tmp_path: Path, overlay_sizes: list[tuple[int, int]]
) -> None:
    """A user's FastF1 cache as FastF1 leaves it (pickles + fastf1_http_cache.sqlite), offline
    and without frozen responses: loads, and its database is not changed."""
    cache = need_shared_data(shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    user = tmp_path / "fastf1"
    for pickle in cache.rglob("*.ff1pkl"):  # the pickles by link: only the database is new
        (user / pickle.relative_to(cache)).parent.mkdir(parents=True, exist_ok=True)
        (user / pickle.relative_to(cache)).symlink_to(pickle)
    database = user / fastf1_timing.HTTP_CACHE_FILE
    fastf1_timing._seed_http_cache(shared_data.FASTF1_HTTP_CACHE, database)
    before = _tree(user)
    timing = load_timing(2025, "Australia", "R", user, offline=True)
    assert len(timing.laps) == 927 and timing.results[0].driver == "NOR"
    assert _tree(user) == before
    assert overlay_sizes[0][0] == 0  # nothing written at all


def test_a_fastf1_that_keeps_its_http_cache_elsewhere_is_a_clear_error(tmp_path: Path) -> None:
    """The one FastF1 convention relied on beyond its public API: the database's name."""
    future = type("FastF1", (), {"__version__": "3.99"})
    (tmp_path / fastf1_timing.HTTP_CACHE_FILE).touch()
    fastf1_timing._check_http_cache_name(future, tmp_path)  # only ours: fine
    (tmp_path / "fastf1_requests.sqlite").touch()
    with pytest.raises(SessionNotFound, match=r"FastF1 3\.99 keeps its HTTP cache in fastf1_req"):
        fastf1_timing._check_http_cache_name(future, tmp_path)


def test_fastf1_is_left_on_a_folder_that_exists(tmp_path: Path, monkeypatch: Any) -> None:
    """After an offline load through a temporary overlay, a FastF1 that had no cache
    folder is pointed at its default one (a notebook's next FastF1 call must work), not
    at the deleted overlay."""
    cache = need_shared_data(shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    fastf1 = pytest.importorskip("fastf1", reason="FastF1 is an optional extra")
    monkeypatch.setenv("FASTF1_CACHE", str(tmp_path / "default"))
    monkeypatch.setattr(fastf1.Cache, "_CACHE_DIR", None)  # FastF1 as on its first import
    with fastf1_timing.configured_fastf1(cache, shared_data.FASTF1_HTTP_CACHE, offline=True):
        overlay, _ = fastf1.Cache.get_cache_info()
    after, _ = fastf1.Cache.get_cache_info()
    assert overlay is not None and not Path(overlay).exists()
    assert after == str(tmp_path / "default") and Path(after).is_dir()
