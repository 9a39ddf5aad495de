"""How the catalogue describes its sessions to the picker, and in which order.

A real session is told by its season, event and session type, and titled as people
say it: "Australian Grand Prix 2025 — Race". FastF1's schedule of the season, when
the server has it, adds the round, the circuit, the country and the date. Real
sessions come first, newest season first, events in calendar order and sessions in
the order a weekend runs them; sessions not named YEAR/EVENT/SESSION follow; the
demos come last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from racereplay.sources.fastf1_schedule import ScheduledEvent

# A weekend's order, sprint weekends included (FP1, SQ, S, Q, R).
_WEEKEND_ORDER = {
    "practice 1": 0,
    "practice 2": 1,
    "practice 3": 2,
    "sprint qualifying": 3,
    "sprint shootout": 3,
    "sprint": 4,
    "qualifying": 5,
    "race": 6,
}


@dataclass(frozen=True)
class Listed:
    """One session as the catalogue lists it (GET /api/catalogue, docs/protocol.md)."""

    name: str  # what the client opens it by
    source: str  # "tracinginsights", "fastf1", "demo"
    kind: Literal["real", "demo"]
    title: str
    season: int | None = None
    event: str | None = None  # "Australian Grand Prix"
    session_type: str | None = None  # "Race", "Practice 1"; "Qualifying" for a demo too
    round: int | None = None
    circuit: str | None = None  # FastF1's location: "Melbourne"
    country: str | None = None
    date: str | None = None  # ISO date the session ran (UTC), else its event's date

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def real_title(event: str, season: int, session_type: str) -> str:
    return f"{event} {season} — {session_type}"


def real_session(
    name: str, source: str, season: int, event: str | int, session_type: str
) -> Listed:
    """A real session named by season, event (a name, or a round number) and type."""
    label = f"Round {event}" if isinstance(event, int) else event
    return Listed(
        name=name,
        source=source,
        kind="real",
        title=real_title(label, season, session_type),
        season=season,
        event=label,
        session_type=session_type,
        round=event if isinstance(event, int) else None,
    )


def find_event(events: Sequence[ScheduledEvent], event: str | int) -> ScheduledEvent | None:
    """The schedule's event named `event`: its name, country or location (as FastF1's
    own names go, "Australia" for the Australian Grand Prix), or its round number."""
    if isinstance(event, int):
        return next((e for e in events if e.round == event), None)
    wanted = event.strip().lower()
    for field in ("name", "country", "location"):
        match = next((e for e in events if getattr(e, field).lower() == wanted), None)
        if match is not None:
            return match
    return None


def with_schedule(listed: Listed, events: Sequence[ScheduledEvent] | None) -> Listed:
    """`listed` with the round, circuit, country and date from the season's schedule."""
    match = find_event(events or (), listed.round or listed.event or "")
    if match is None or listed.season is None or listed.session_type is None:
        return listed
    session = next(
        (s for s in match.sessions if s.name.lower() == listed.session_type.lower()), None
    )
    start = session.start_utc if session is not None else None
    return replace(
        listed,
        title=real_title(match.name, listed.season, listed.session_type),
        event=match.name,
        round=match.round,
        circuit=match.location,
        country=match.country,
        date=start[:10] if start else match.date or None,
    )


def ordered(listed: Sequence[Listed]) -> list[Listed]:
    """Real sessions grouped by season (newest first) and event (calendar order), each
    event's sessions in weekend order; then real sessions without a season; then demos
    as the server lists them."""
    dated = [x for x in listed if x.kind == "real" and x.season is not None]
    undated = [x for x in listed if x.kind == "real" and x.season is None]
    demos = [x for x in listed if x.kind == "demo"]
    return sorted(dated, key=_session_key) + sorted(undated, key=lambda x: x.title) + demos


def _session_key(x: Listed) -> tuple[Any, ...]:
    no_round = x.round is None
    return (
        -(x.season or 0),
        no_round,
        x.round or 0,
        (x.date or "") if no_round else "",  # events without a round: by date, then name
        x.event or "",
        _WEEKEND_ORDER.get((x.session_type or "").lower(), len(_WEEKEND_ORDER)),
        x.title,
    )
