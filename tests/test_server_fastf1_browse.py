"""Browsing FastF1's season schedules from the picker, and opening what it lists.

The schedule comes from the real FastF1 library over the frozen HTTP cache in
../shared/data (which holds the 2025 schedule and nothing else), offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import need_shared_data
from test_server_support import ToyBuilder, running_server

from racereplay.bench import shared_data
from racereplay.server.catalogue import Catalogue, SessionForbidden
from racereplay.server.settings import Settings
from racereplay.sources import SessionNotFound, load
from racereplay.sources.fastf1_schedule import ScheduledEvent, ScheduledSession

BROWSED = "fastf1:2025/Australian Grand Prix/R"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    race = tmp_path / "2025" / "Australian Grand Prix" / "Race"
    race.mkdir(parents=True)
    (race / "drivers.json").write_text('{"drivers": []}')
    return tmp_path


def test_a_browsed_session_gets_the_servers_caches_and_local_telemetry(data_dir: Path) -> None:
    settings = Settings(
        data_dirs=(data_dir,), fastf1_cache=Path("/c"), fastf1_http_cache=Path("/h"), offline=True
    )
    ref = Catalogue(settings).resolve(BROWSED)
    assert ref.options == {
        "cache": "/c",
        "http_cache": "/h",
        "offline": "1",
        "telemetry": str((data_dir / "2025" / "Australian Grand Prix" / "Race").resolve()),
    }
    # Without that session in a data folder, FastF1 brings its own telemetry.
    assert (
        "telemetry"
        not in Catalogue(settings).resolve("fastf1:2025/Australian Grand Prix/Q").options
    )


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("fastf1:1990/Australian Grand Prix/R", SessionNotFound),  # before FastF1's data
        ("fastf1:2025/Australian Grand Prix/XX", SessionNotFound),  # no such session type
        ("fastf1:2025/../R", SessionForbidden),
        ("fastf1:2025/Bad\x00Name/R", SessionForbidden),
        ("fastf1:2025/R", SessionNotFound),  # not YEAR/EVENT/TYPE
    ],
)
def test_bad_browsed_names_are_refused(data_dir: Path, name: str, error: type) -> None:
    with pytest.raises(error):
        Catalogue(Settings(data_dirs=(data_dir,))).resolve(name)


def test_with_browsing_off_only_the_configured_sessions_open() -> None:
    catalogue = Catalogue(Settings(fastf1_browse=False, fastf1_sessions=("2025/Australia/R",)))
    assert catalogue.fastf1_seasons() == []
    assert catalogue.resolve("fastf1:2025/Australia/R").arg == "2025/Australia/R"
    with pytest.raises(SessionForbidden, match="--fastf1"):
        catalogue.resolve(BROWSED)


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    need_shared_data(shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    settings = Settings(
        cache_dir=tmp_path_factory.mktemp("cache"),
        static_dir=tmp_path_factory.mktemp("no-client"),
        fastf1_cache=shared_data.FASTF1_CACHE,
        fastf1_http_cache=shared_data.FASTF1_HTTP_CACHE,
        offline=True,
    )
    with (
        running_server(settings, ToyBuilder()) as address,
        httpx.Client(base_url=f"http://{address}", timeout=30) as http,
    ):
        yield http


@pytest.mark.realdata
def test_offline_the_catalogue_lists_what_the_caches_can_open(offline_server: httpx.Client) -> None:
    # Offline, a season is offered when the caches open some of it: not every season
    # to next year.
    assert offline_server.get("/api/catalogue").json()["fastf1_seasons"] == [2025]
    reply = offline_server.get("/api/fastf1/2025")
    assert reply.status_code == 200, reply.text
    events = reply.json()["events"]
    # Of the season's 24 events, the FastF1 cache holds sessions of the first two.
    assert [(e["round"], e["name"], e["country"]) for e in events] == [
        (1, "Australian Grand Prix", "Australia"),
        (2, "Chinese Grand Prix", "China"),
    ]
    sessions = {s["code"]: s for s in events[0]["sessions"]}
    assert list(sessions) == ["FP1", "R"]
    assert sessions["R"] == {
        "name": "Race",
        "code": "R",
        "start_utc": "2025-03-16T04:00:00Z",
        "session": BROWSED,
        "openable": True,
        "cached": False,
    }
    assert [s["code"] for s in events[1]["sessions"]] == ["R"]


def test_online_sessions_not_run_yet_cannot_be_opened() -> None:
    """Online the whole schedule is listed; a session that has not started says so."""
    future = ScheduledSession("Race", "R", "2999-03-16T04:00:00Z")
    past = ScheduledSession("Practice 1", "FP1", "2025-03-14T01:30:00Z")
    event = ScheduledEvent(1, "Australian Grand Prix", "Australia", "Melbourne", "2025-03-16", ())
    catalogue = Catalogue(Settings())
    now = datetime.now(UTC)
    assert catalogue.describe_scheduled(2025, event, future, set(), now)["openable"] is False
    assert catalogue.describe_scheduled(2025, event, past, set(), now)["openable"] is True


@pytest.mark.realdata
def test_a_season_fastf1_cannot_reach_is_a_clear_503(offline_server: httpx.Client) -> None:
    reply = offline_server.get("/api/fastf1/2024")  # offline, and not in the frozen cache
    assert reply.status_code == 503
    assert "no 2024 schedule" in reply.json()["detail"]
    assert offline_server.get("/api/fastf1/1990").status_code == 404


@pytest.mark.realdata
def test_the_browsed_race_loads_with_local_telemetry(
    ff1_cache_dir: Path, ff1_http_cache_dir: Path
) -> None:
    """What the picker opens: FastF1 timing from the caches, telemetry from the TI folder."""
    settings = Settings(
        data_dirs=(need_shared_data(shared_data.TRACINGINSIGHTS),),
        fastf1_cache=ff1_cache_dir,
        fastf1_http_cache=ff1_http_cache_dir,
        offline=True,
    )
    race = load(Catalogue(settings).resolve(BROWSED))
    assert race.info.event == "Australian Grand Prix" and race.info.total_laps == 57
    assert len(race.telemetry) == 20 and race.problems == []
