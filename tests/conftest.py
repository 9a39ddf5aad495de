"""Shared fixtures. Real data is read in place from ../shared/data, never copied here
(its paths: racereplay.bench.shared_data); synthetic timelines: tests/factories.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from racereplay.bench import shared_data
from racereplay.model import RawSession
from racereplay.timeline.model import Timeline


@pytest.fixture(scope="session", autouse=True)
def own_fastf1_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FastF1's default cache folder for the whole run (servers started by the tests
    inherit it): an online schedule lookup must never write to the user's ~/.cache/fastf1."""
    folder = tmp_path_factory.mktemp("fastf1-default")
    patch = pytest.MonkeyPatch()
    patch.setenv("FASTF1_CACHE", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium for the end-to-end tests of one module (tests/e2e_browser.py);
    they skip with a message where it cannot start."""
    from e2e_browser import browser, require_browser

    require_browser()
    with browser() as b:
        yield b


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the run (server/services.py); skips with a message
    where Debian's redis-server or the redis client is missing."""
    from racereplay.server.services import redis_missing, redis_server

    why = redis_missing()
    if why:
        pytest.skip(why)
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_service: str) -> str:
    """The run's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_service)
    client.flushall()
    client.close()
    return redis_service


def need_shared_data(path: Path, *more: Path) -> Path:
    """`path`, once it and `more` (under `shared_data.ROOT`) are there; else skip the
    test with a message naming the missing path and ../shared/data/README.md."""
    why = shared_data.missing(path, *more)
    if why:
        pytest.skip(why)
    return path


Built = dict[tuple[str, str], tuple[Timeline, dict[str, Any]]]


@pytest.fixture(scope="session")
def built() -> Built:
    """Shared sessions built (and summarised) so far, by (label, mode): each session of
    ../shared/data is built once per run in each source mode, for every test that needs it."""
    return {}


def build_shared(
    cache: Built, session: shared_data.SharedSession, mode: str
) -> tuple[Timeline, dict[str, Any]]:
    """`session` built from source mode `mode` (archive, archive+fastf1, fastf1) and its
    summary (`racereplay inspect --json`), once per run; skips without the data or FastF1."""
    need_shared_data(session.path)
    if mode != "archive":
        pytest.importorskip(
            "fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]"
        )
    key = (session.label, mode)
    if key not in cache:
        from racereplay.sources import load
        from racereplay.timeline.build import build_timeline
        from racereplay.timeline.summary import summarize

        timeline = build_timeline(load(session.refs()[mode]))
        cache[key] = (timeline, summarize(timeline))
    return cache[key]


@pytest.fixture(scope="session")
def ti_race_dir() -> Path:
    """The 2025 Australian GP race in the TracingInsights layout."""
    return need_shared_data(shared_data.AUS_RACE.path)


@pytest.fixture(scope="session")
def ti_quali_dir() -> Path:
    return need_shared_data(shared_data.AUS_QUALIFYING.path)


@pytest.fixture(scope="session")
def ff1_cache_dir() -> Path:
    """The FastF1 cache of the same race, in place: offline loads only read it (FastF1's
    writes go to a temporary overlay, see sources/fastf1_timing.py `_cache_folder`)."""
    need_shared_data(shared_data.FASTF1_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    return shared_data.FASTF1_CACHE


@pytest.fixture(scope="session")
def ff1_http_cache_dir() -> Path:
    return need_shared_data(shared_data.FASTF1_HTTP_CACHE)


@pytest.fixture(scope="session")
def real_race(ti_race_dir: Path, ff1_cache_dir: Path, ff1_http_cache_dir: Path) -> RawSession:
    """The real race: TracingInsights telemetry with FastF1 timing from the frozen caches.

    Parsed once per test run: every module that needs it shares this one.
    """
    from racereplay.sources.tracinginsights import load_folder

    return load_folder(
        ti_race_dir, fastf1_cache=ff1_cache_dir, fastf1_http_cache=ff1_http_cache_dir, offline=True
    )


@pytest.fixture(scope="session")
def real_race_timeline(real_race: RawSession) -> Timeline:
    from racereplay.timeline.build import build_timeline

    return build_timeline(real_race)
