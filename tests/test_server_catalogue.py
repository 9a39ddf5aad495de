"""What the picker is offered: each session described (season, event, circuit, date,
type, cached), titled as people say it, grouped and ordered; and, offline, only
what the FastF1 cache and the data folders can open."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import need_shared_data
from factories import oval_timeline

from racereplay.bench import shared_data
from racereplay.server.catalogue import Catalogue
from racereplay.server.catalogue_listing import Listed, ordered, real_session, with_schedule
from racereplay.server.fastf1_cache_index import cached_sessions
from racereplay.server.settings import Settings
from racereplay.sources.fastf1_schedule import ScheduledEvent, ScheduledSession
from racereplay.store.cache import cache_path
from racereplay.store.format import write_timeline

MELBOURNE = ScheduledEvent(
    round=1,
    name="Australian Grand Prix",
    country="Australia",
    location="Melbourne",
    date="2025-03-16",
    sessions=(
        ScheduledSession("Practice 1", "FP1", "2025-03-14T01:30:00Z"),
        ScheduledSession("Race", "R", "2025-03-16T04:00:00Z"),
    ),
)
SHANGHAI = ScheduledEvent(2, "Chinese Grand Prix", "China", "Shanghai", "2025-03-23", ())


def _real(name: str, season: int, event: str | int, session_type: str) -> Listed:
    return real_session(name, "tracinginsights", season, event, session_type)


def test_a_real_session_is_titled_event_season_then_type() -> None:
    race = _real("a", 2025, "Australian Grand Prix", "Race")
    assert race.title == "Australian Grand Prix 2025 — Race"
    assert (race.season, race.event, race.session_type) == (2025, "Australian Grand Prix", "Race")


def test_the_schedule_gives_round_circuit_country_and_the_sessions_date() -> None:
    # FastF1's short names ("Australia") find their event, which renames the session.
    race = with_schedule(real_session("f", "fastf1", 2025, "Australia", "Race"), [MELBOURNE])
    assert race.title == "Australian Grand Prix 2025 — Race"
    assert (race.round, race.circuit, race.country, race.date) == (
        1,
        "Melbourne",
        "Australia",
        "2025-03-16",
    )
    fp1 = with_schedule(_real("p", 2025, "Australian Grand Prix", "Practice 1"), [MELBOURNE])
    assert fp1.date == "2025-03-14"  # the session's own day, not the event's
    by_round = with_schedule(real_session("r", "fastf1", 2025, 2, "Race"), [MELBOURNE, SHANGHAI])
    assert by_round.title == "Chinese Grand Prix 2025 — Race" and by_round.circuit == "Shanghai"
    unknown = _real("u", 2025, "Test Grand Prix", "Race")
    assert with_schedule(unknown, [MELBOURNE]) == unknown == with_schedule(unknown, None)


def test_real_sessions_come_first_by_season_event_and_weekend_order() -> None:
    demo = Listed("demo", "demo", "demo", "Demo race (simulated)", session_type="Race")
    loose = Listed("tracinginsights:misc", "tracinginsights", "real", "misc")
    sessions = [
        demo,
        with_schedule(_real("cn-r", 2025, "Chinese Grand Prix", "Race"), [SHANGHAI]),
        loose,
        _real("2024-r", 2024, "Bahrain Grand Prix", "Race"),
        with_schedule(_real("au-r", 2025, "Australian Grand Prix", "Race"), [MELBOURNE]),
        with_schedule(_real("au-q", 2025, "Australian Grand Prix", "Qualifying"), [MELBOURNE]),
        with_schedule(_real("au-fp1", 2025, "Australian Grand Prix", "Practice 1"), [MELBOURNE]),
        _real("cn-sq", 2025, "Chinese Grand Prix", "Sprint Qualifying"),  # no schedule: no round
    ]
    assert [x.name for x in ordered(sessions)] == [
        "au-fp1",
        "au-q",
        "au-r",
        "cn-r",  # round 2
        "cn-sq",  # an event without a round follows those with one
        "2024-r",
        "tracinginsights:misc",
        "demo",
    ]


def _fastf1_cache(root: Path) -> Path:
    """A FastF1 cache laid out as FastF1 writes it: two sessions with timing, one without."""
    event = root / "2025" / "2025-03-16_Australian_Grand_Prix"
    for session, files in [
        ("2025-03-16_Race", ["_extended_timing_data.ff1pkl", "session_info.ff1pkl"]),
        ("2025-03-15_Qualifying", ["session_info.ff1pkl"]),  # no laps can be made
        ("2025-03-14_Practice_1", ["timing_data.ff1pkl"]),  # an older FastF1's name
    ]:
        (event / session).mkdir(parents=True)
        for name in files:
            (event / session / name).write_bytes(b"")
    (root / "2025" / "not-an-event").mkdir()
    (root / "fastf1_http_cache.sqlite").write_bytes(b"")
    return root


def test_the_fastf1_cache_index_lists_the_sessions_with_timing(tmp_path: Path) -> None:
    assert cached_sessions(_fastf1_cache(tmp_path)) == {
        2025: {("australian grand prix", "race"), ("australian grand prix", "practice 1")}
    }
    assert cached_sessions(tmp_path / "missing") == {} == cached_sessions(None)


def test_a_session_with_a_timeline_in_the_store_cache_is_cached(tmp_path: Path) -> None:
    catalogue = Catalogue(Settings(cache_dir=tmp_path, fastf1_browse=False))
    ref = catalogue.resolve("demo?session=qualifying")
    write_timeline(oval_timeline(), cache_path(ref, tmp_path), session=ref.key)
    cached = {e["name"]: e["cached"] for e in catalogue.entries()}
    assert cached == {
        "demo": False,
        "demo?session=qualifying": True,
        "demo?session=practice": False,
    }


def test_online_the_seasons_stop_at_this_year() -> None:
    years = Catalogue(Settings()).fastf1_seasons()
    assert years[0] == date.today().year and years[-1] == 2018
    assert years == sorted(years, reverse=True)
    assert Catalogue(Settings(fastf1_browse=False)).fastf1_seasons() == []


def test_offline_with_nothing_cached_offers_no_season(tmp_path: Path) -> None:
    catalogue = Catalogue(Settings(fastf1_cache=tmp_path, offline=True))
    assert catalogue.fastf1_seasons() == []
    assert 2025 in catalogue.fastf1_years()  # still asked for by name: a clear 503 then


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """The shared data as `serve --data … --fastf1-cache … --offline` sees it, with one
    configured FastF1 session the cache holds and one it does not."""
    need_shared_data(shared_data.TRACINGINSIGHTS, shared_data.FASTF1_CACHE)
    need_shared_data(shared_data.FASTF1_HTTP_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    settings = Settings(
        data_dirs=(shared_data.TRACINGINSIGHTS,),
        fastf1_cache=shared_data.FASTF1_CACHE,
        fastf1_http_cache=shared_data.FASTF1_HTTP_CACHE,
        fastf1_sessions=("2025/China/R", "2025/China/Q"),
        offline=True,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )
    return Catalogue(settings)


@pytest.mark.realdata
def test_offline_the_catalogue_is_grouped_and_described(offline: Catalogue) -> None:
    entries = offline.entries()
    assert [(e["title"], e["source"]) for e in entries] == [
        ("Australian Grand Prix 2025 — Practice 1", "tracinginsights"),
        ("Australian Grand Prix 2025 — Qualifying", "tracinginsights"),
        ("Australian Grand Prix 2025 — Race", "tracinginsights"),
        ("Chinese Grand Prix 2025 — Race", "tracinginsights"),
        ("Chinese Grand Prix 2025 — Race", "fastf1"),  # the cache holds it; not China Q
        ("Demo race (simulated)", "demo"),
        ("Demo qualifying (simulated)", "demo"),
        ("Demo practice (simulated)", "demo"),
    ]
    race = entries[2]
    assert race == {
        "name": "tracinginsights:2025/Australian Grand Prix/Race",
        "id": race["id"],
        "title": "Australian Grand Prix 2025 — Race",
        "source": "tracinginsights",
        "kind": "real",
        "season": 2025,
        "event": "Australian Grand Prix",
        "session_type": "Race",
        "round": 1,
        "circuit": "Melbourne",
        "country": "Australia",
        "date": "2025-03-16",
        "cached": False,
    }
    assert entries[-1]["kind"] == "demo" and entries[-1]["season"] is None
    assert entries[-1]["session_type"] == "Practice"


@pytest.mark.realdata
def test_offline_only_the_seasons_and_sessions_that_open_are_offered(offline: Catalogue) -> None:
    assert offline.fastf1_seasons() == [2025]  # not every season to next year
    events = {e["name"]: e for e in offline.fastf1_season(2025)}
    assert list(events) == ["Australian Grand Prix", "Chinese Grand Prix"]
    melbourne = {s["code"]: s for s in events["Australian Grand Prix"]["sessions"]}
    assert list(melbourne) == ["FP1", "Q", "R"]  # FP2 and FP3 are in neither cache
    assert melbourne["R"]["session"] == "fastf1:2025/Australian Grand Prix/R"
    # Qualifying has no FastF1 timing here, but a data folder has it.
    assert melbourne["Q"]["session"] == "tracinginsights:2025/Australian Grand Prix/Qualifying"
    assert all(s["openable"] and s["cached"] is False for s in melbourne.values())
