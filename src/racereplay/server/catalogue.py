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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from racereplay.server.settings import Settings
from racereplay.sources import BadOption, SessionNotFound, SessionRef
from racereplay.sources.fastf1_timing import session_long_name

MAX_SCAN_DEPTH = 4  # data/YEAR/EVENT/SESSION


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


class Catalogue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._roots = tuple(Path(d).expanduser().resolve() for d in settings.data_dirs)
        self._seasons: dict[int, list[dict[str, Any]]] = {}  # schedules fetched (not failures)

    # -- listing ----------------------------------------------------------

    def names(self) -> list[tuple[str, str, str]]:
        """(client name, title, source) of every offered session."""
        entries = [
            ("demo", "Demo race (simulated)", "demo"),
            ("demo?session=qualifying", "Demo qualifying (simulated)", "demo"),
            ("demo?session=practice", "Demo practice (simulated)", "demo"),
        ]
        entries += [(name, f"Demo: {name}", "demo") for name in self.settings.extra_demo]
        for root in self._roots:
            for folder in _scan(root):
                rel = folder.relative_to(root).as_posix()
                title = " ".join(reversed(folder.parts[-3:])) if rel != "." else folder.name
                entries.append((f"tracinginsights:{rel}", title, "tracinginsights"))
        for spec in self.settings.fastf1_sessions:
            entries.append((f"fastf1:{spec}", f"FastF1 {spec}", "fastf1"))
        return entries

    def entries(self) -> list[dict[str, Any]]:
        from racereplay.store.cache import cache_path

        result = []
        for name, title, source in self.names():
            ref = self.resolve(name)
            cached = cache_path(ref, self.settings.cache_dir).exists()
            result.append(
                {"name": name, "id": ref.key, "title": title, "source": source, "cached": cached}
            )
        return result

    def fastf1_seasons(self) -> list[int]:
        """The seasons whose FastF1 schedule clients may browse (none when browsing is off)."""
        from racereplay.sources.fastf1_schedule import seasons

        return list(reversed(seasons())) if self.settings.fastf1_browse else []

    def fastf1_season(self, year: int) -> list[dict[str, Any]]:
        """FastF1's schedule of `year`, each session named as the client opens it (blocking).

        Raises SessionForbidden when browsing is off, SessionNotFound when FastF1
        has no schedule for the year here (offline and not cached, no network).
        """
        from racereplay.sources.fastf1_schedule import season_schedule

        if not self.settings.fastf1_browse:
            raise SessionForbidden("this server does not offer FastF1's schedules")
        if year in self._seasons:
            return self._seasons[year]
        s = self.settings
        events = season_schedule(year, s.fastf1_cache, s.fastf1_http_cache, s.offline)
        self._seasons[year] = [
            {
                **asdict(e),
                "sessions": [{**asdict(x), "session": e.session_name(year, x)} for x in e.sessions],
            }
            for e in events
        ]
        return self._seasons[year]

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
