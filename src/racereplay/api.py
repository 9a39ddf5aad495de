"""The Python API: a session's replay timeline in a notebook or a script.

    import racereplay
    tl = racereplay.open("fastf1:2025/Australia/R")   # any session name
    tl = racereplay.open(session)                      # a FastF1 session already loaded
    tl.at(3600).to_pandas()                            # one frame, one row per driver

`racereplay.open` is this module's `open`; the package imports it only when used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import Timeline


def open(  # racereplay.open: the package's entry point, so the builtin's name
    session: str | SessionRef | Any,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    telemetry: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Timeline:
    """The replay timeline of `session`: a session name, or a loaded FastF1 session.

    Args:
        session: a session name as everywhere in racereplay: `"demo"`,
            `"demo?cars=40&laps=30"`, `"tracinginsights:PATH"`,
            `"fastf1:2025/Australia/R?cache=DIR&offline=1"` (see
            `racereplay.sources`); it is built once and kept in the timeline cache,
            so opening it again takes milliseconds. Or a `fastf1.core.Session` on
            which `load()` has run: used as it is, nothing is downloaded again, and
            the timeline is built in memory (a few seconds, not cached).
        cache_dir: the timeline cache folder for named sessions (default:
            `$RACEREPLAY_CACHE`, else `~/.cache/racereplay`).
        telemetry: with a FastF1 session only: a TracingInsights session folder of
            the same session whose per-lap telemetry puts the cars on the map (for a
            session loaded without `telemetry=True`). A named session takes it as
            an option instead: `fastf1:...?telemetry=PATH`.
        progress: called with (fraction done 0..1, what is happening) while building.

    Returns:
        The session's `Timeline`: `drivers`, `laps`, `events`, `results`,
        `at(time)`, `to_pandas()`, `to_polars()`; `problems` says what the data
        could not give (e.g. no telemetry: cars not on the map).

    Raises:
        SessionNotFound: the name is wrong, its data cannot be read, or the FastF1
            session has no laps loaded; the message says what to do.
    """
    if isinstance(session, str | SessionRef):
        if telemetry is not None:
            raise TypeError(
                "telemetry= is for a loaded FastF1 session; with a session name, "
                "give it as an option: 'fastf1:2025/Australia/R?telemetry=PATH'"
            )
        from racereplay.store.cache import open_or_build

        return open_or_build(session, cache_dir, progress)
    if _is_fastf1_session(session):
        return _from_fastf1(session, telemetry, progress)
    raise TypeError(
        f"racereplay.open takes a session name (e.g. 'demo', 'fastf1:2025/Australia/R') "
        f"or a loaded fastf1.core.Session, not {type(session).__name__}"
    )


def _is_fastf1_session(value: Any) -> bool:
    # A FastF1 session exists only once FastF1 is imported: no need to import it here.
    core = sys.modules.get("fastf1.core")
    return core is not None and isinstance(value, core.Session)


def _from_fastf1(
    ff1_session: Any, telemetry: str | os.PathLike[str] | None, progress: Progress | None
) -> Timeline:
    from racereplay.sources.fastf1 import session_from_fastf1
    from racereplay.timeline.build import build_timeline

    folder = Path(telemetry) if telemetry is not None else None
    return build_timeline(session_from_fastf1(ff1_session, folder, progress), progress=progress)
