"""Shared fixtures. Real data is read in place from ../shared/data, never copied here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from racereplay.model import RawSession
from racereplay.timeline.model import Timeline

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
TI_EVENT = SHARED_DATA / "tracinginsights" / "2025" / "Australian Grand Prix"
FF1_CACHE = SHARED_DATA / "fastf1" / "cache"
FF1_HTTP_CACHE = SHARED_DATA / "fastf1" / "http_cache"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def ti_race_dir() -> Path:
    """The 2025 Australian GP race in the TracingInsights layout."""
    return _need(TI_EVENT / "Race")


@pytest.fixture(scope="session")
def ti_quali_dir() -> Path:
    return _need(TI_EVENT / "Qualifying")


@pytest.fixture(scope="session")
def ff1_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the FastF1 cache of the same race (FastF1 writes into its cache)."""
    _need(FF1_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    target = tmp_path_factory.mktemp("ff1cache")
    shutil.copytree(FF1_CACHE, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session")
def ff1_http_cache_dir() -> Path:
    return _need(FF1_HTTP_CACHE)


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
