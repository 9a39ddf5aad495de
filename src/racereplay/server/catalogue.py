"""Which sessions this server offers, and how a client's session name becomes a `SessionRef`.

Clients name sessions as in the catalogue. They never choose server folders:
options that point at files (FastF1 caches) are the server's own and are added
here; a TracingInsights path must lie inside one of the `--data` folders once
resolved (symlinks and `..` included), and a FastF1 session must be configured.
Every option is checked here, when the name is parsed, so a bad name costs a 400
rather than a build.

Clients never see the server's folders either: `public_name` is a ref's name
relative to the data folders, `redact` takes the folders out of any message.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from racereplay.server.catalogue_listing import (
    Listed,
    ordered,
    real_session,
    with_schedule,
)
from racereplay.server.fastf1_cache_index import cached_sessions
from racereplay.server.settings import Settings
from racereplay.sources import BadOption, SessionNotFound, SessionRef
from racereplay.sources.fastf1_schedule import ScheduledEvent, ScheduledSession
from racereplay.sources.fastf1_timing import SESSION_TYPES, session_long_name

MAX_SCAN_DEPTH = 4  # data/YEAR/EVENT/SESSION
SCHEDULE_RETRY_SECONDS = 600.0  # a schedule FastF1 could not give, for listing
DEMOS = (  # name, title, session type
    ("demo", "Demo race (simulated)", "Race"),
    ("demo?session=qualifying", "Demo qualifying (simulated)", "Qualifying"),
    ("demo?session=practice", "Demo practice (simulated)", "Practice"),
)


class SessionForbidden(ValueError):
    """A session name the server refuses (outside its data folders, disallowed options)."""


def _scan(root: Path) -> list[Path]:
    """Session folders (holding drivers.json) at most MAX_SCAN_DEPTH levels under root."""
    found = []
    root_depth = len(root.parts)
    for folder, subdirs, files in os.walk(root):
        depth = len(Path(folder).parts) - root_depth
        if "drivers.json" in files:
            found.append(Path(folder))
            subdirs[:] = []  # a session folder holds driver folders, not sessions
        elif depth >= MAX_SCAN_DEPTH:
            subdirs[:] = []
        subdirs.sort()
    return found


def _data_folder_session(folder: Path, root: Path) -> Listed:
    """A data folder's session: YEAR/EVENT/SESSION where the folders say so."""
    rel = folder.relative_to(root)
    name = f"tracinginsights:{rel.as_posix()}"
    parts = rel.parts
    if len(parts) >= 3 and parts[-3].isdigit() and parts[-1] in SESSION_TYPES.values():
        return real_session(name, "tracinginsights", int(parts[-3]), parts[-2], parts[-1])
    return Listed(name, "tracinginsights", "real", " / ".join(parts) or folder.name)


class Catalogue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._roots = tuple(Path(d).expanduser().resolve() for d in settings.data_dirs)
        self._schedules: dict[int, list[ScheduledEvent]] = {}  # fetched (not failures)
        self._schedule_failed: dict[int, tuple[float, str]] = {}  # when, why

    # -- listing ----------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """Every offered session, described and ordered for the picker (blocking: it
        scans the data folders and may read FastF1's schedules)."""
        from racereplay.store.cache import cache_path

        real = [with_schedule(x, self._schedule_at_hand(x.season)) for x in self._real()]
        if self.settings.offline:
            real = [x for x in real if x.source != "fastf1" or self._opens_offline(x)]
        result = []
        for listed in ordered(real + self._demos()):
            ref = self.resolve(listed.name)
            cached = cache_path(ref, self.settings.cache_dir).exists()
            result.append({**listed.fields(), "id": ref.key, "cached": cached})
        return result

    def _demos(self) -> list[Listed]:
        from racereplay.sources.demo import parse_options

        demos = [Listed(n, "demo", "demo", title, session_type=t) for n, title, t in DEMOS]
        for name in self.settings.extra_demo:
            kind = parse_options(SessionRef.parse(name).options).kind.value
            session_type = kind.replace("_", " ").title()
            demos.append(Listed(name, "demo", "demo", f"Demo: {name}", session_type=session_type))
        return demos

    def _real(self) -> list[Listed]:
        """The data folders' sessions and the configured FastF1 sessions, undescribed."""
        from racereplay.sources.fastf1 import parse_arg

        listed = []
        for root in self._roots:
            for folder in _scan(root):
                listed.append(_data_folder_session(folder, root))
        for spec in self.settings.fastf1_sessions:
            year, event, session = parse_arg(spec)
            listed.append(
                real_session(f"fastf1:{spec}", "fastf1", year, event, session_long_name(session))
            )
        return listed

    def _opens_offline(self, listed: Listed) -> bool:
        """Offline, a FastF1 session opens only from the FastF1 cache."""
        held = cached_sessions(self.settings.fastf1_cache).get(listed.season or 0, set())
        return (str(listed.event).lower(), str(listed.session_type).lower()) in held

    def fastf1_years(self) -> list[int]:
        """The seasons whose FastF1 schedule may be asked for here, newest first: every
        season FastF1 has up to this year (none when browsing is off)."""
        from racereplay.sources.fastf1_schedule import seasons

        if not self.settings.fastf1_browse:
            return []
        return [y for y in reversed(seasons()) if y <= date.today().year]

    def fastf1_seasons(self) -> list[int]:
        """The seasons the picker offers, newest first (blocking): online, every one of
        `fastf1_years`; offline, those with at least one session the caches can open."""
        years = self.fastf1_years()
        if not self.settings.offline:
            return years
        held = set(cached_sessions(self.settings.fastf1_cache))
        held |= {x.season for x in self._real() if x.source == "tracinginsights" and x.season}
        return [y for y in years if y in held and self._offers_sessions(y)]

    def _offers_sessions(self, year: int) -> bool:
        if self._schedule_at_hand(year) is None:
            return False
        return any(e["sessions"] for e in self.fastf1_season(year))

    def fastf1_season(self, year: int) -> list[dict[str, Any]]:
        """FastF1's schedule of `year`, each session named as the client opens it (blocking).

        Each session says whether it can be opened here (`openable`: online, it has
        started; offline, the caches hold it) and whether its timeline is `cached`.
        Offline, only the sessions that open are listed: from the FastF1 cache, or
        else, under its `tracinginsights:` name, from a data folder.

        Raises SessionForbidden when browsing is off, SessionNotFound when FastF1
        has no schedule for the year here (offline and not cached, no network).
        """
        if not self.settings.fastf1_browse:
            raise SessionForbidden("this server does not offer FastF1's schedules")
        events = self._schedule(year)
        held = cached_sessions(self.settings.fastf1_cache).get(year, set())
        now = datetime.now(UTC)
        listed = []
        for event in events:
            sessions = [self.describe_scheduled(year, event, s, held, now) for s in event.sessions]
            sessions = [s for s in sessions if s is not None]
            if sessions or not self.settings.offline:
                listed.append({**asdict(event), "sessions": sessions})
        return listed

    def describe_scheduled(
        self,
        year: int,
        event: ScheduledEvent,
        session: ScheduledSession,
        held: set[tuple[str, str]],
        now: datetime,
    ) -> dict[str, Any] | None:
        """One session of the schedule as the picker offers it; None when it cannot
        open here (offline). `held`: what the FastF1 cache holds (`cached_sessions`)."""
        name = event.session_name(year, session)
        if self.settings.offline:
            if (event.name.lower(), session.name.lower()) not in held:
                folder = self._local_telemetry(f"{year}/{event.name}/{session.code}")
                if folder is None:
                    return None
                name = self.public_name(SessionRef("tracinginsights", str(folder)))
            openable = True
        else:
            start = session.start_utc
            openable = start is None or datetime.fromisoformat(start.replace("Z", "+00:00")) <= now
        cached = self._cached(name)
        return {**asdict(session), "session": name, "openable": openable, "cached": cached}

    def _cached(self, name: str) -> bool:
        from racereplay.store.cache import cache_path

        try:
            return cache_path(self.resolve(name), self.settings.cache_dir).exists()
        except (SessionNotFound, SessionForbidden, BadOption):
            return False

    def _schedule(self, year: int) -> list[ScheduledEvent]:
        """FastF1's schedule of `year`, fetched once (raises SessionNotFound)."""
        from racereplay.sources.fastf1_schedule import season_schedule

        if year not in self._schedules:
            s = self.settings
            try:
                events = season_schedule(year, s.fastf1_cache, s.fastf1_http_cache, s.offline)
            except SessionNotFound as exc:
                self._schedule_failed[year] = (time.monotonic(), str(exc))
                raise
            self._schedules[year] = events
        return self._schedules[year]

    def _schedule_at_hand(self, year: int | None) -> list[ScheduledEvent] | None:
        """The schedule for describing sessions: None when FastF1 cannot give it. A
        failure is not asked again for a while: listing must stay fast without a network."""
        if year is None:
            return None
        failed = self._schedule_failed.get(year)
        if failed is not None and time.monotonic() - failed[0] < SCHEDULE_RETRY_SECONDS:
            return None
        try:
            return self._schedule(year)
        except SessionNotFound:
            return None

    # -- resolving a client's name ---------------------------------------

    def resolve(self, name: str) -> SessionRef:
        """The server-side ref for a client's session name.

        Raises SessionNotFound (no such session) or SessionForbidden (not allowed here).
        """
        if len(name) > 500:
            raise SessionForbidden("session name too long (500 characters at most)")
        ref = SessionRef.parse(name)
        if ref.source == "demo":
            return self._demo(ref)
        if ref.source == "tracinginsights":
            return self._tracinginsights(ref)
        return self._fastf1(ref)

    def _demo(self, ref: SessionRef) -> SessionRef:
        from racereplay.sources.demo import parse_options

        options = parse_options(ref.options)  # raises BadOption naming the option
        limits = {"cars": self.settings.max_demo_cars, "laps": self.settings.max_demo_laps}
        for option, limit in limits.items():
            value = getattr(options, option)
            if option in ref.options and value > limit:
                raise BadOption(f"demo option {option}={value} is over this server's {limit}")
        return ref

    # -- what clients see --------------------------------------------------

    def public_name(self, ref: SessionRef) -> str:
        """The name a client opens `ref` by: no server folders, no server-set options."""
        if ref.source == "tracinginsights":
            folder = Path(ref.arg)
            for root in self._roots:
                if folder.is_relative_to(root):
                    return f"tracinginsights:{folder.relative_to(root).as_posix()}"
            return f"tracinginsights:{'/'.join(folder.parts[-3:])}"
        if ref.source == "fastf1":
            return f"fastf1:{ref.arg}"
        return str(ref)

    def redact(self, text: str) -> str:
        """`text` without the server's folders: data folders become relative paths,
        FastF1 caches and the build cache are named, not located."""
        s = self.settings
        named = [
            (s.fastf1_http_cache, "<FastF1 HTTP cache>"),
            (s.fastf1_cache, "<FastF1 cache>"),
            (s.cache_dir, "<cache>"),
        ]
        for folder, label in named:
            if folder is not None:
                for form in {str(Path(folder).expanduser().resolve()), str(folder)}:
                    text = text.replace(form, label)
        for root in self._roots:
            text = text.replace(str(root) + os.sep, "").replace(str(root), ".")
        return text

    def _server_options(self, *names: str) -> dict[str, str]:
        s = self.settings
        values = {
            "fastf1_cache": s.fastf1_cache,
            "fastf1_http_cache": s.fastf1_http_cache,
            "cache": s.fastf1_cache,
            "http_cache": s.fastf1_http_cache,
            "offline": "1" if s.offline else None,
        }
        return {n: str(values[n]) for n in names if values.get(n) is not None}

    def _tracinginsights(self, ref: SessionRef) -> SessionRef:
        if ref.options:
            raise SessionForbidden(
                "options on a tracinginsights session are set by the server, not the client: "
                f"drop {', '.join(sorted(ref.options))}"
            )
        if not self._roots:
            raise SessionForbidden(
                "this server has no data folders: start it with --data DIR to serve "
                "TracingInsights sessions"
            )
        folder = self._inside_roots(ref.arg)
        if not (folder / "drivers.json").is_file():
            raise SessionNotFound(
                f"no TracingInsights session at {ref.arg!r} (no drivers.json): "
                "see GET /api/catalogue for the sessions this server has"
            )
        options = self._server_options("fastf1_cache", "fastf1_http_cache", "offline")
        return SessionRef("tracinginsights", str(folder), options)

    def _inside_roots(self, arg: str) -> Path:
        candidate = Path(arg)
        inside_a_root = False
        for root in self._roots:
            resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
            if resolved.is_relative_to(root):
                inside_a_root = True
                if resolved.exists():
                    return resolved
        if not inside_a_root:
            raise SessionForbidden(
                f"session path {arg!r} is outside this server's data folders: "
                "name a session from GET /api/catalogue"
            )
        raise SessionNotFound(
            f"no TracingInsights session at {arg!r}: "
            "see GET /api/catalogue for the sessions this server has"
        )

    def _fastf1(self, ref: SessionRef) -> SessionRef:
        if ref.options:
            raise SessionForbidden(
                "options on a fastf1 session are set by the server, not the client: "
                f"drop {', '.join(sorted(ref.options))}"
            )
        if ref.arg not in self.settings.fastf1_sessions:
            self._check_browsable(ref.arg)
        options = self._server_options("cache", "http_cache", "offline")
        telemetry = self._local_telemetry(ref.arg)
        if telemetry is not None:
            options["telemetry"] = str(telemetry)
        return SessionRef("fastf1", ref.arg, options)

    def _check_browsable(self, arg: str) -> None:
        """A session from FastF1's schedules: a season FastF1 covers, a known session type."""
        from racereplay.sources.fastf1 import parse_arg
        from racereplay.sources.fastf1_schedule import check_season

        if not self.settings.fastf1_browse:
            raise SessionForbidden(
                f"FastF1 session {arg!r} is not offered by this server: start it with "
                f"--fastf1 {arg} (see GET /api/catalogue)"
            )
        year, event, session = parse_arg(arg)
        check_season(year)
        session_long_name(session)
        if isinstance(event, str) and (
            len(event) > 100 or not event.isprintable() or not event.strip(". ")
        ):
            raise SessionForbidden(f"FastF1 event name {event!r} is not one FastF1 has")

    def _local_telemetry(self, arg: str) -> Path | None:
        """The same session in a data folder (DATA/YEAR/EVENT/SESSION): its telemetry is
        local and complete, where FastF1's is a long download (and absent offline)."""
        from racereplay.sources.fastf1 import parse_arg

        year, event, session = parse_arg(arg)
        if not isinstance(event, str):
            return None
        for root in self._roots:
            folder = (root / str(year) / event / session_long_name(session)).resolve()
            if folder.is_relative_to(root) and (folder / "drivers.json").is_file():
                return folder
        return None
