"""A season's events and sessions from FastF1's schedule, named as `fastf1:` sessions.

The schedule is what the session picker browses: each session it lists opens
as `fastf1:YEAR/EVENT NAME/CODE`, e.g. `fastf1:2025/Australian Grand Prix/R`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from racereplay.sources import SessionNotFound
from racereplay.sources.fastf1_timing import SESSION_TYPES, configured_fastf1

FIRST_SEASON = 2018  # FastF1 has timing and telemetry from 2018 on
_CODE_BY_LONG_NAME = {long.lower(): code for code, long in SESSION_TYPES.items()}


@dataclass(frozen=True)
class ScheduledSession:
    name: str  # FastF1's long name: "Race", "Sprint Qualifying"
    code: str  # "R", "SQ"
    start_utc: str | None  # ISO 8601, None when the schedule does not say


@dataclass(frozen=True)
class ScheduledEvent:
    round: int
    name: str  # "Australian Grand Prix"
    country: str
    location: str
    date: str  # ISO date of the event (its last day)
    sessions: tuple[ScheduledSession, ...]

    def session_name(self, year: int, session: ScheduledSession) -> str:
        return f"fastf1:{year}/{self.name}/{session.code}"


def seasons() -> range:
    """The years FastF1 has (or will have, next year) sessions for."""
    return range(FIRST_SEASON, date.today().year + 2)


def check_season(year: int) -> None:
    """Raise SessionNotFound for a year FastF1 has no data for."""
    if year not in seasons():
        years = seasons()
        raise SessionNotFound(f"FastF1 has sessions from {years[0]} to {years[-1]}, not {year}")


def season_schedule(
    year: int, cache: Path | None = None, http_cache: Path | None = None, offline: bool = False
) -> list[ScheduledEvent]:
    """The season's events (testing excluded) with their sessions, in round order."""
    check_season(year)
    with configured_fastf1(cache, http_cache, offline) as fastf1:
        try:
            schedule = fastf1.get_event_schedule(year, include_testing=False)
        except ValueError as exc:  # FastF1: "Failed to load any schedule data."
            where = "the caches do not hold it" if offline else "check the internet connection"
            raise SessionNotFound(f"FastF1 has no {year} schedule here ({where}): {exc}") from exc
    return [_event(row) for _, row in schedule.iterrows()]


def _event(row: Any) -> ScheduledEvent:
    sessions = []
    for i in range(1, 6):
        name = str(row.get(f"Session{i}") or "").strip()
        code = _CODE_BY_LONG_NAME.get(name.lower())
        if code is None:  # empty slot, or a session FastF1 cannot load (none known today)
            continue
        start = _iso(row.get(f"Session{i}DateUtc"))
        sessions.append(ScheduledSession(name, code, start and f"{start}Z"))
    return ScheduledEvent(
        round=int(row["RoundNumber"]),
        name=str(row["EventName"]),
        country=str(row["Country"]),
        location=str(row["Location"]),
        date=_iso(row["EventDate"], date_only=True) or "",
        sessions=tuple(sessions),
    )


def _iso(value: Any, date_only: bool = False) -> str | None:
    """A pandas timestamp as ISO text; None for NaT or a missing value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    try:
        text = value.isoformat()
    except (AttributeError, ValueError):
        return None
    if text == "NaT":
        return None
    return text[:10] if date_only else text
