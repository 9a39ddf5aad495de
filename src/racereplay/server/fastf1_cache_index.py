"""Which sessions a FastF1 cache folder can open offline, read from its layout.

FastF1 keeps a session's parsed API data under its API path,
`CACHE/YEAR/YYYY-MM-DD_Event_Name/YYYY-MM-DD_Session_Name/*.ff1pkl`. Offline it
loads a session only from there, and racereplay needs its laps, which FastF1
makes from the timing data: a session folder without it cannot be opened.
"""

from __future__ import annotations

import os
from pathlib import Path

# FastF1 3.x writes `_extended_timing_data.ff1pkl`, older versions `timing_data.ff1pkl`.
_TIMING_SUFFIX = "timing_data.ff1pkl"
_DATE_PREFIX = len("2025-03-16_")


def _dated_name(folder: str) -> str | None:
    """ "Australian Grand Prix" from "2025-03-16_Australian_Grand_Prix" (None: not dated)."""
    date, name = folder[: _DATE_PREFIX - 1], folder[_DATE_PREFIX:]
    if len(date) != 10 or not date[:4].isdigit() or folder[_DATE_PREFIX - 1] != "_" or not name:
        return None
    return name.replace("_", " ")


def _subfolders(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(folder) if e.is_dir()]
    except OSError:
        return []


def _holds_timing(folder: str) -> bool:
    try:
        return any(e.name.endswith(_TIMING_SUFFIX) for e in os.scandir(folder))
    except OSError:
        return False


def cached_sessions(cache: Path | None) -> dict[int, set[tuple[str, str]]]:
    """Season → {(event name, session name)}, lower case, of the sessions whose timing
    the cache holds, e.g. {2025: {("australian grand prix", "race")}}."""
    found: dict[int, set[tuple[str, str]]] = {}
    if cache is None:
        return found
    for year in _subfolders(Path(cache).expanduser()):
        if year.name.isdigit():
            for event in _subfolders(Path(year.path)):
                sessions = _timed_sessions(event)
                if sessions:
                    found.setdefault(int(year.name), set()).update(sessions)
    return found


def _timed_sessions(event: os.DirEntry[str]) -> set[tuple[str, str]]:
    event_name = _dated_name(event.name)
    if event_name is None:
        return set()
    return {
        (event_name.lower(), session_name.lower())
        for session in _subfolders(Path(event.path))
        if (session_name := _dated_name(session.name)) and _holds_timing(session.path)
    }
