"""Where the shared real data is: ../shared/data beside the project's checkout.

The one definition of those paths, for the benches and the tests (tests/conftest.py
skips with `missing()`'s message). Nothing else in the package reads them: the
server and the CLI are told their data folders on the command line, and a
checkout-relative path means nothing in an installed package, so this lives with
the benchmarks, the only package code that measures the shared sessions.

../shared/data/README.md says what each folder holds. It is read-only input, read
in place: an offline FastF1 load writes only to a temporary overlay
(sources/fastf1_timing.py), never into the cache it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racereplay.sources import SessionRef

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ROOT = PROJECT_ROOT.parent / "shared" / "data"
README = "../shared/data/README.md"  # as the messages name it: relative to the project

TRACINGINSIGHTS = ROOT / "tracinginsights"  # the archive's layout: YEAR/EVENT/SESSION/
FASTF1_CACHE = ROOT / "fastf1" / "cache"
FASTF1_HTTP_CACHE = ROOT / "fastf1" / "http_cache"


@dataclass(frozen=True)
class SharedSession:
    label: str  # "aus-race"
    folder: str  # under tracinginsights/
    fastf1: str | None  # "2025/Australia/R"; None: no FastF1 cache of it
    race: bool

    @property
    def path(self) -> Path:
        """The session's archive folder."""
        return TRACINGINSIGHTS / self.folder

    @property
    def name(self) -> str:
        """Its session name in the server's data folder (`--data TRACINGINSIGHTS`)."""
        return f"tracinginsights:{self.folder}"

    def refs(self) -> dict[str, str]:
        """Session name of each source mode this session allows (offline FastF1)."""
        folder = str(self.path)
        refs = {"archive": str(SessionRef("tracinginsights", folder, {}))}
        if self.fastf1 is not None:
            caches = {"cache": str(FASTF1_CACHE), "http_cache": str(FASTF1_HTTP_CACHE)}
            with_timing = {f"fastf1_{k}": v for k, v in caches.items()} | {"offline": "1"}
            refs["archive+fastf1"] = str(SessionRef("tracinginsights", folder, with_timing))
            refs["fastf1"] = str(SessionRef("fastf1", self.fastf1, caches | {"offline": "1"}))
        return refs


AUS_RACE = SharedSession(
    "aus-race", "2025/Australian Grand Prix/Race", "2025/Australia/R", race=True
)
AUS_QUALIFYING = SharedSession(
    "aus-qualifying", "2025/Australian Grand Prix/Qualifying", None, race=False
)
AUS_PRACTICE_1 = SharedSession(
    "aus-practice-1", "2025/Australian Grand Prix/Practice 1", "2025/Australia/FP1", race=False
)
CHN_RACE = SharedSession("chn-race", "2025/Chinese Grand Prix/Race", "2025/China/R", race=True)
SHARED_SESSIONS = (AUS_RACE, AUS_QUALIFYING, AUS_PRACTICE_1, CHN_RACE)


def missing(*paths: Path) -> str | None:
    """Why the shared data cannot be used (the first of `paths` not there), or None."""
    for path in paths:
        if not path.exists():
            return f"real data not found at {path} (see {README})"
    return None


def available() -> list[SharedSession]:
    """The shared sessions whose archive folder is there."""
    return [s for s in SHARED_SESSIONS if s.path.is_dir()]
