"""Sources: adapters that turn recorded (or simulated) data into a `RawSession`.

A session is named the same way everywhere (CLI, server, cache keys):

    demo                                   the built-in simulator, default options
    demo?seed=7&cars=40&laps=30            ... with options
    tracinginsights:PATH                   a session folder in the TracingInsights layout
    tracinginsights:PATH?fastf1_cache=DIR  ... with FastF1 timing from a FastF1 cache
    fastf1:2025/Australia/R                any session FastF1 can load (year/event/type)
    fastf1:2025/Australia/R?cache=DIR&offline=1&telemetry=PATH

Each source module is imported only when used, so FastF1 stays an optional extra.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from urllib.parse import parse_qsl, urlencode

from racereplay.model import RawSession

SOURCES = ("demo", "tracinginsights", "fastf1")

Progress = Callable[[float, str], None]  # fraction done 0..1, what is happening


class SessionNotFound(LookupError):
    """The named session does not exist or cannot be read; the message says why."""


class BadOption(SessionNotFound):
    """A session name with an option its source does not take, or a value out of range."""


@dataclass(frozen=True)
class SessionRef:
    source: str
    arg: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str) -> SessionRef:
        name = name.strip()
        head, _, query = name.partition("?")
        source, _, arg = head.partition(":")
        if source not in SOURCES:
            raise SessionNotFound(
                f"unknown source {source!r} in session name {name!r}: "
                f"use one of {', '.join(SOURCES)} (e.g. 'demo', 'fastf1:2025/Australia/R')"
            )
        if source != "demo" and not arg:
            raise SessionNotFound(f"session name {name!r} needs an argument after '{source}:'")
        try:
            options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
        except ValueError as exc:
            raise SessionNotFound(f"malformed options in session name {name!r}: {exc}") from exc
        return cls(source, arg, options)

    def __str__(self) -> str:
        text = self.source + (f":{self.arg}" if self.arg else "")
        if self.options:
            text += "?" + urlencode(sorted(self.options.items()))
        return text

    @property
    def key(self) -> str:
        """A stable, filesystem-safe key for caches: readable prefix + hash of the full name.

        The readable part of a folder is its last three parts (YEAR/EVENT/SESSION), so
        a session id never shows where the server keeps its data."""
        arg = (
            "/".join(PurePath(self.arg).parts[-3:])
            if self.source == "tracinginsights"
            else self.arg
        )
        readable = re.sub(r"[^A-Za-z0-9]+", "-", f"{self.source}-{arg}")[-60:].strip("-")
        digest = hashlib.sha256(str(self).encode()).hexdigest()[:16]
        return f"{readable}-{digest}"


def load(ref: SessionRef | str, progress: Progress | None = None) -> RawSession:
    """Load the named session from its source."""
    if isinstance(ref, str):
        ref = SessionRef.parse(ref)
    if ref.source == "demo":
        from racereplay.sources import demo

        return demo.load(ref, progress)
    if ref.source == "tracinginsights":
        from racereplay.sources import tracinginsights

        return tracinginsights.load(ref, progress)
    from racereplay.sources import fastf1 as fastf1_source

    return fastf1_source.load(ref, progress)
