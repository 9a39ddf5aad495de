"""FastF1 timing → the pieces of a `RawSession` (everything except telemetry).

Shared by the `fastf1` and `tracinginsights` sources. FastF1 is an optional
extra, so it is imported only inside the functions that need it; the session
name helpers at the top work without it.

FastF1 configures its cache globally, so opening a session holds a lock:
two loads with different caches in one process must not interleave. Only
FastF1's public cache API is used (`Cache.configure`, `Cache.offline_mode`); an
offline load reads the user's cache in place, through a temporary overlay that
takes whatever FastF1 writes (`_cache_folder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from racereplay.model import (
    CircuitInfo,
    Corner,
    Driver,
    Lap,
    MarshalSector,
    RaceControlMessage,
    RawSession,
    Result,
    SessionInfo,
    SessionKind,
    Telemetry,
    TrackStatusCode,
    TrackStatusInterval,
    WeatherSample,
)
from racereplay.sources import SessionNotFound

# ---------------------------------------------------------------- session names

_KIND_BY_NAME = {
    "race": SessionKind.RACE,
    "sprint": SessionKind.SPRINT,
    "qualifying": SessionKind.QUALIFYING,
    "sprint qualifying": SessionKind.SPRINT_QUALIFYING,
    "sprint shootout": SessionKind.SPRINT_QUALIFYING,
    "practice 1": SessionKind.PRACTICE,
    "practice 2": SessionKind.PRACTICE,
    "practice 3": SessionKind.PRACTICE,
}

# Short names accepted in `fastf1:YEAR/EVENT/TYPE`, mapped to FastF1's long names.
SESSION_TYPES = {
    "R": "Race",
    "S": "Sprint",
    "Q": "Qualifying",
    "SQ": "Sprint Qualifying",
    "SS": "Sprint Shootout",
    "FP1": "Practice 1",
    "FP2": "Practice 2",
    "FP3": "Practice 3",
}


def session_kind(name: str) -> SessionKind:
    """The kind of a session from its long name ("Race", "Practice 2", ...)."""
    try:
        return _KIND_BY_NAME[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted({n.title() for n in _KIND_BY_NAME}))
        raise SessionNotFound(f"unknown session {name!r}: expected one of {known}") from None


def session_long_name(session: str) -> str:
    """Normalise a session type ("R", "fp2", "Race", "sprint qualifying") to FastF1's long name."""
    text = session.strip()
    if text.upper() in SESSION_TYPES:
        return SESSION_TYPES[text.upper()]
    for long_name in SESSION_TYPES.values():
        if text.lower() == long_name.lower():
            return long_name
    raise SessionNotFound(
        f"unknown session type {session!r}: use one of "
        f"{', '.join(SESSION_TYPES)} or their long names ({', '.join(SESSION_TYPES.values())})"
    )


# ---------------------------------------------------------------- team colours

# Used when FastF1 gives no colour (no FastF1 timing, or an empty TeamColor).
TEAM_COLOURS = {
    "mclaren": "#FF8000",
    "red bull racing": "#3671C6",
    "mercedes": "#27F4D2",
    "ferrari": "#E80020",
    "williams": "#64C4FF",
    "aston martin": "#229971",
    "kick sauber": "#52E252",
    "sauber": "#52E252",
    "alpine": "#0093CC",
    "racing bulls": "#6692FF",
    "rb": "#6692FF",
    "haas f1 team": "#B6BABD",
    "haas": "#B6BABD",
}

_HEX_COLOUR = re.compile(r"^#?([0-9A-Fa-f]{6})$")


def team_colour(team: str, fastf1_colour: str | None = None) -> str:
    """`#RRGGBB` for a team: FastF1's colour, else the table, else one derived from the name.

    The derived colour is stable across runs (a hash, not Python's salted `hash`).
    """
    if fastf1_colour and (match := _HEX_COLOUR.match(str(fastf1_colour).strip())):
        return "#" + match.group(1).upper()
    known = TEAM_COLOURS.get(team.strip().lower())
    if known:
        return known
    digest = hashlib.sha1(team.encode()).digest()
    r, g, b = (80 + digest[i] % 160 for i in range(3))  # mid-range: readable on dark and light
    return f"#{r:02X}{g:02X}{b:02X}"


# ---------------------------------------------------------------- opening a session

_FASTF1_LOCK = threading.Lock()


# FastF1 keeps its requests-cache database here, inside its cache folder. FastF1 3.x
# names it so (its `Cache.clear_cache` deletes this file); nothing public says so, so
# `_check_http_cache_name` fails loudly if a FastF1 release ever puts it elsewhere.
HTTP_CACHE_FILE = "fastf1_http_cache.sqlite"


def _mirror(cache: Path, overlay: Path, skip: frozenset[str]) -> None:
    """`cache`'s folders recreated under `overlay`, each file a symlink to the original.

    FastF1 then reads every file in place, and whatever it writes (a pickle a load
    had to parse, the folder of a session the cache lacks) lands in the overlay,
    never in `cache`. The one exception is a pickle FastF1 cannot read at all: it
    rewrites that file, through its link.
    """
    for folder, _, files in os.walk(cache):
        relative = Path(folder).relative_to(cache)
        (overlay / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if relative == Path(".") and name in skip:
                continue
            (overlay / relative / name).symlink_to(Path(folder, name).resolve())


def _seed_http_cache(frozen: Path, database: Path) -> None:
    """Copy the frozen responses of a requests-cache *filesystem* folder into a new SQLite
    requests-cache database (FastF1's own kind).

    Each response is filed under the key the SQLite cache computes for its request
    (requests-cache keys include the serializer, so the folder's own keys would not
    match); its expiry is kept. The folder is read with requests-cache's `FileDict`
    alone: a whole `FileCache` would create `redirects.sqlite` in the frozen folder.
    """
    from requests_cache import SQLiteCache
    from requests_cache.backends.filesystem import FileDict

    responses = FileDict(frozen)
    target = SQLiteCache(str(database))
    try:
        for key in responses:
            try:
                response = responses[key]
                target.responses[target.create_key(response.request)] = response
            except (KeyError, ValueError, TypeError) as exc:
                raise SessionNotFound(
                    f"frozen HTTP response {key} in {frozen} cannot be read ({exc}): "
                    "give http_cache a requests-cache filesystem folder of JSON responses"
                ) from exc
    finally:
        target.close()


def _check_http_cache_name(fastf1: Any, overlay: Path) -> None:
    """Raise if FastF1 opened another HTTP cache database than `HTTP_CACHE_FILE`."""
    others = sorted(p.name for p in overlay.glob("*.sqlite") if p.name != HTTP_CACHE_FILE)
    if others:
        raise SessionNotFound(
            f"FastF1 {fastf1.__version__} keeps its HTTP cache in {others[0]}, not "
            f"{HTTP_CACHE_FILE}: this racereplay cannot give it the frozen responses; "
            "install the FastF1 version racereplay supports (pip install 'fastf1>=3.9,<4')"
        )


@contextlib.contextmanager
def _cache_folder(
    cache: Path | None, http_cache: Path | None, offline: bool
) -> Iterator[Path | None]:
    """The folder to configure FastF1's cache with, for as long as the load lasts.

    Online with no frozen responses: the user's cache itself, which FastF1 reads and
    fills as it always does. Offline, or with frozen responses (`http_cache`): a
    temporary overlay that reads the user's cache in place (`_mirror`: symlinks, no
    copy) and holds FastF1's HTTP database, seeded from `http_cache` when given, else
    a link to the user's own (an offline load only reads it). What FastF1 writes
    there is thrown away with the overlay.
    """
    if cache is not None and not cache.is_dir():
        raise SessionNotFound(f"FastF1 cache {cache} is not a directory")
    if not offline and http_cache is None:
        yield cache
        return
    with tempfile.TemporaryDirectory(prefix="racereplay-ff1-") as tmp:
        overlay = Path(tmp)
        skip = frozenset({HTTP_CACHE_FILE}) if http_cache is not None else frozenset()
        if cache is not None:
            _mirror(cache, overlay, skip)
        if http_cache is not None:
            _seed_http_cache(http_cache, overlay / HTTP_CACHE_FILE)
        yield overlay


@contextlib.contextmanager
def configured_fastf1(
    cache: Path | None = None, http_cache: Path | None = None, offline: bool = False
) -> Iterator[Any]:
    """FastF1 (the module) set up with these caches, held under the lock while in use.

    `http_cache` is a frozen requests-cache filesystem folder (FastF1's test-data
    format); offline, only cached responses are used, nothing is fetched and neither
    cache is written to (see `_cache_folder`). Afterwards FastF1 is pointed back at
    the cache folder it had before (with its default options: online), or, when it had
    none, at its default folder, as on its own first use: never at a deleted overlay.
    """
    try:
        import fastf1
    except ImportError as exc:
        raise SessionNotFound(
            "FastF1 timing needs the optional extra: pip install 'racereplay[fastf1]'"
        ) from exc
    if offline and cache is None and http_cache is None:
        raise SessionNotFound("offline FastF1 loading needs cache=DIR (and usually http_cache=DIR)")
    if http_cache is not None and not http_cache.is_dir():
        raise SessionNotFound(f"FastF1 HTTP cache {http_cache} is not a directory")
    fastf1.set_log_level("WARNING")  # its INFO lines would drown our progress bar
    with _FASTF1_LOCK, _cache_folder(cache, http_cache, offline) as cache_dir:
        previous, _ = fastf1.Cache.get_cache_info()
        fastf1.Cache.configure(cache_dir=str(cache_dir) if cache_dir else None, ignore_version=True)
        fastf1.Cache.offline_mode(offline)
        if cache_dir is not None and cache_dir != cache:
            _check_http_cache_name(fastf1, cache_dir)
        try:
            yield fastf1
        finally:
            if previous is not None and Path(previous).is_dir() and previous != str(cache_dir):
                fastf1.Cache.configure(cache_dir=previous)  # FastF1's defaults, online
            elif previous is None and cache_dir is not None and cache_dir != cache:
                fastf1.Cache.configure()  # $FASTF1_CACHE or FastF1's default folder


@contextlib.contextmanager
def loaded_session(
    year: int,
    event: str | int,
    session: str,
    cache: Path | None = None,
    http_cache: Path | None = None,
    offline: bool = False,
    telemetry: bool = False,
) -> Iterator[Any]:
    """A loaded FastF1 session (laps, weather, messages; telemetry when asked), with FastF1
    still configured with these caches: convert it inside the block, where FastF1's
    lazy look-ups (the circuit's corners) still find the caches."""
    long_name = session_long_name(session)
    with configured_fastf1(cache, http_cache, offline) as fastf1:
        try:
            ff1_session = fastf1.get_session(year, event, long_name)
            ff1_session.load(laps=True, telemetry=telemetry, weather=True, messages=True)
        except (ValueError, KeyError, fastf1.req.RateLimitExceededError) as exc:
            raise SessionNotFound(
                f"FastF1 could not load {year} {event} {long_name}: {exc} "
                "(check the event name; offline, check that the caches hold this session)"
            ) from exc
        if not laps_loaded(ff1_session):  # FastF1 logged why (offline: the caches lack it)
            raise SessionNotFound(
                f"FastF1 found no laps for {year} {event} {long_name}"
                + (" in the given cache: does it hold this session?" if offline else "")
            )
        yield ff1_session


def laps_loaded(ff1_session: Any) -> bool:
    """Whether a FastF1 session has laps (FastF1 raises DataNotLoadedError before a load)."""
    try:
        laps = ff1_session.laps
    except Exception:  # DataNotLoadedError, or an object that is no FastF1 session
        return False
    return laps is not None and len(laps) > 0


def check_laps_loaded(ff1_session: Any) -> None:
    """Raise SessionNotFound, saying what to do, for a FastF1 session without laps."""
    if not laps_loaded(ff1_session):
        raise SessionNotFound(
            f"the FastF1 session {getattr(ff1_session, 'name', ff1_session)!r} has no laps: "
            "load them first with session.load(laps=True) (telemetry=True puts cars on the map)"
        )


# ---------------------------------------------------------------- conversion


@dataclass
class Timing:
    """Everything FastF1 timing gives, in RawSession form."""

    info: SessionInfo
    drivers: list[Driver]
    laps: list[Lap]
    track_status: list[TrackStatusInterval]
    messages: list[RaceControlMessage]
    weather: list[WeatherSample]
    results: list[Result]
    circuit: CircuitInfo | None  # None when FastF1's circuit info did not load
    t0_date: datetime | None  # UTC datetime of session time 0
    problems: list[str] = field(default_factory=list)

    def lap_starts(self) -> dict[str, dict[int, float]]:
        """Session time each lap started, by driver and lap number (for placing telemetry).

        FastF1 sometimes lacks a `LapStartTime`; the previous lap's end is the same instant.
        """
        starts: dict[str, dict[int, float]] = {}
        ends = {(lap.driver, lap.number): lap.end for lap in self.laps}
        for lap in self.laps:
            start = lap.start
            if math.isnan(start):
                start = ends.get((lap.driver, lap.number - 1), math.nan)
            starts.setdefault(lap.driver, {})[lap.number] = start
        return starts


# FastF1 session attributes that a partial cache may lack, and what they are to a user.
OPTIONAL_TABLES = {
    "track_status": "track status",
    "session_status": "session status",
    "race_control_messages": "race control messages",
    "weather_data": "weather",
}


def loaded_table(ff1_session: Any, name: str) -> Any:
    """One of FastF1's tables, or None when this load lacks it (FastF1 raises
    DataNotLoadedError for a piece its cache does not hold)."""
    try:
        table = getattr(ff1_session, name)
    except Exception:  # DataNotLoadedError; FastF1 may not even be importable here
        return None
    return None if table is None or len(table) == 0 else table


def missing_pieces(ff1_session: Any) -> list[str]:
    """One problem line for each piece of timing this FastF1 load does not have."""
    problems = [
        f"FastF1 has no {what} for this session: shown without them"
        for name, what in OPTIONAL_TABLES.items()
        if loaded_table(ff1_session, name) is None
    ]
    results = loaded_table(ff1_session, "results")
    if results is None or "Status" not in results or not results["Status"].map(_str_or_none).any():
        problems.append(
            "FastF1 has no official results for this session: classification and "
            "retirements from the laps and the cars' telemetry"
        )
    return problems


def _seconds(series: Any) -> np.ndarray:
    """A timedelta column as float seconds, NaT → NaN."""
    return series.dt.total_seconds().to_numpy(dtype=np.float64)


def _int_or_none(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else int(number)


def _str_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text if text and text.lower() not in ("nan", "none", "unknown", "nat") else None


def drivers_from_fastf1(ff1_session: Any) -> list[Driver]:
    results = ff1_session.results
    return [
        Driver(
            code=str(row.Abbreviation),
            number=str(row.DriverNumber),
            team=str(row.TeamName),
            colour=team_colour(str(row.TeamName), _str_or_none(row.TeamColor)),
            name=_str_or_none(row.FullName) or "",
        )
        for row in results.itertuples()
    ]


def laps_from_fastf1(ff1_session: Any) -> list[Lap]:
    laps = ff1_session.laps
    start = _seconds(laps["LapStartTime"])
    end = _seconds(laps["Time"])
    lap_time = _seconds(laps["LapTime"])
    sectors = [_seconds(laps[f"Sector{i}Time"]) for i in (1, 2, 3)]
    pit_in = _seconds(laps["PitInTime"])
    pit_out = _seconds(laps["PitOutTime"])
    # True only where FastF1 says so: a missing flag (None, NaN) is a lap not deleted.
    deleted = laps["Deleted"].eq(True).to_numpy()
    trap = laps["SpeedST"].to_numpy(dtype=float, na_value=math.nan) if "SpeedST" in laps else None
    return [
        Lap(
            driver=str(row.Driver),
            number=int(row.LapNumber),
            start=float(start[i]),
            end=float(end[i]),
            lap_time=float(lap_time[i]),
            sector_times=(float(sectors[0][i]), float(sectors[1][i]), float(sectors[2][i])),
            compound=_str_or_none(row.Compound),
            tyre_age=_int_or_none(row.TyreLife),
            stint=_int_or_none(row.Stint),
            pit_in=float(pit_in[i]),
            pit_out=float(pit_out[i]),
            position=_int_or_none(row.Position),
            deleted=bool(deleted[i]),
            speed_trap=math.nan if trap is None else float(trap[i]),
        )
        for i, row in enumerate(laps.itertuples())
        if not math.isnan(row.LapNumber)
    ]


def track_status_from_fastf1(ff1_session: Any, problems: list[str]) -> list[TrackStatusInterval]:
    """Intervals from FastF1's status changes: each lasts until the next change."""
    table = loaded_table(ff1_session, "track_status")
    if table is None:
        return []
    times = _seconds(table["Time"])
    codes = [_int_or_none(code) for code in table["Status"]]
    intervals: list[TrackStatusInterval] = []
    for i, (time, code) in enumerate(zip(times, codes, strict=True)):
        if code is None or code not in TrackStatusCode._value2member_map_:
            problems.append(f"track status {table['Status'].iloc[i]!r} at {time:.1f} s unknown")
            continue
        end = float(times[i + 1]) if i + 1 < len(times) else math.nan
        if intervals and intervals[-1].status == code:  # a repeated status extends the last one
            intervals[-1] = TrackStatusInterval(intervals[-1].start, end, intervals[-1].status)
            continue
        intervals.append(TrackStatusInterval(float(time), end, TrackStatusCode(code)))
    return intervals


def race_start_time(ff1_session: Any) -> float:
    """Session time of the start: the 'Started' status, else the first lap's start."""
    status = loaded_table(ff1_session, "session_status")
    if status is not None:
        started = status[status["Status"] == "Started"]
        if len(started):
            return float(started["Time"].iloc[0].total_seconds())
    first = _seconds(ff1_session.laps["LapStartTime"])
    return float(np.nanmin(first)) if np.isfinite(first).any() else math.nan


# Race control messages that coincide with a track status change (or the win).
_MESSAGE_STATUS = {
    "SAFETY CAR DEPLOYED": TrackStatusCode.SAFETY_CAR,
    "VIRTUAL SAFETY CAR DEPLOYED": TrackStatusCode.VSC,
    "RED FLAG": TrackStatusCode.RED,
}
_AGREEMENT_S = 2.0  # messages carry whole seconds: pairs within 2 s agree


def _t0_candidates(ff1_session: Any) -> list[float]:
    """Each pairing of an anchoring message with a matching event proposes a t0 (UTC epoch s)."""
    messages = loaded_table(ff1_session, "race_control_messages")
    if messages is None:
        return []
    status = loaded_table(ff1_session, "track_status")
    change_times: dict[int, list[float]] = {}
    if status is not None:
        for time, code in zip(_seconds(status["Time"]), status["Status"], strict=True):
            if (number := _int_or_none(code)) is not None:
                change_times.setdefault(number, []).append(float(time))
    finish = _winner_finish(ff1_session)
    candidates: list[float] = []
    for when, text in zip(messages["Time"], messages["Message"], strict=True):
        epoch = when.timestamp() if hasattr(when, "timestamp") else math.nan
        text = str(text).strip().upper()
        if text == "CHEQUERED FLAG" and not math.isnan(finish):
            candidates.append(epoch - finish)
        elif text in _MESSAGE_STATUS:
            candidates += [epoch - t for t in change_times.get(int(_MESSAGE_STATUS[text]), [])]
    return [c for c in candidates if not math.isnan(c)]


def _winner_finish(ff1_session: Any) -> float:
    """Session time the winner crossed the line for the last time (NaN outside races)."""
    results = ff1_session.results
    if results is None or len(results) == 0 or "Position" not in results:
        return math.nan
    winners = results[results["Position"] == 1]
    if not len(winners):
        return math.nan
    laps = ff1_session.laps
    own = laps[laps["Driver"] == winners["Abbreviation"].iloc[0]]
    ends = _seconds(own["Time"])
    return float(np.nanmax(ends)) if np.isfinite(ends).any() else math.nan


def estimate_t0_date(ff1_session: Any, problems: list[str]) -> datetime | None:
    """The UTC datetime of session time 0.

    FastF1 knows it only after loading telemetry. Otherwise the race control
    messages that mark a track status change (SC, VSC, red flag) or the
    chequered flag are matched to those changes: the offset most pairs agree
    on wins. Last resort: the scheduled start against the 'Started' status,
    which is off by any delay to the start.
    """
    with contextlib.suppress(Exception):  # DataNotLoadedError without telemetry
        t0 = ff1_session.t0_date
        if t0 is not None:
            return t0.to_pydatetime() if hasattr(t0, "to_pydatetime") else t0
    candidates = np.array(_t0_candidates(ff1_session))
    if len(candidates):
        agreeing = np.abs(candidates[:, None] - candidates[None, :]) <= _AGREEMENT_S
        support = agreeing.sum(axis=1)
        best = int(np.argmax(support))
        if support[best] >= 2 or len(candidates) == 1:
            utc = datetime.fromtimestamp(float(np.median(candidates[agreeing[best]])), tz=UTC)
            return utc.replace(tzinfo=None)  # FastF1 times are naive UTC
    scheduled = _scheduled_start_utc(ff1_session)
    started = race_start_time(ff1_session)
    if scheduled is None or math.isnan(started):
        problems.append("session clock unknown: race control messages have no time")
        return None
    problems.append(
        "race control message times estimated from the scheduled start "
        "(no safety car, red flag or chequered flag to anchor them): off by any start delay"
    )
    return scheduled - timedelta(seconds=started)


def _scheduled_start_utc(ff1_session: Any) -> datetime | None:
    info = getattr(ff1_session, "session_info", None) or {}
    start, offset = info.get("StartDate"), info.get("GmtOffset")
    if start is None or offset is None:
        return None
    return start - offset


def messages_from_fastf1(
    ff1_session: Any, t0_date: datetime | None, drivers: list[Driver]
) -> list[RaceControlMessage]:
    table = loaded_table(ff1_session, "race_control_messages")
    if table is None or t0_date is None:
        return []
    code_by_number = {d.number: d.code for d in drivers}
    messages = []
    for row in table.itertuples():
        number = _str_or_none(row.RacingNumber)
        messages.append(
            RaceControlMessage(
                time=(row.Time.to_pydatetime() - t0_date).total_seconds(),
                category=str(row.Category),
                message=str(row.Message),
                flag=_str_or_none(row.Flag),
                scope=_str_or_none(row.Scope),
                sector=_int_or_none(row.Sector),
                driver=code_by_number.get(number) if number else None,
                lap=_int_or_none(row.Lap),
            )
        )
    return messages


def weather_from_fastf1(ff1_session: Any) -> list[WeatherSample]:
    table = loaded_table(ff1_session, "weather_data")
    if table is None:
        return []
    times = _seconds(table["Time"])
    return [
        WeatherSample(
            time=float(times[i]),
            air_temp=float(row.AirTemp),
            track_temp=float(row.TrackTemp),
            humidity=float(row.Humidity),
            pressure=float(row.Pressure),
            rainfall=None if row.Rainfall is None else bool(row.Rainfall),
            wind_speed=float(row.WindSpeed),
            wind_direction=float(row.WindDirection),
        )
        for i, row in enumerate(table.itertuples())
    ]


def results_from_fastf1(ff1_session: Any) -> list[Result]:
    return [
        Result(
            driver=str(row.Abbreviation),
            grid=_int_or_none(row.GridPosition) or None,  # 0 means a pit-lane start
            position=_int_or_none(row.Position),
            classified=_str_or_none(row.ClassifiedPosition),
            status=_str_or_none(row.Status) or "",
            laps=_int_or_none(row.Laps),
        )
        for row in ff1_session.results.itertuples()
    ]


def circuit_from_fastf1(ff1_session: Any) -> CircuitInfo | None:
    """Corners and map rotation, or None when FastF1 cannot get them (e.g. offline)."""
    try:
        info = ff1_session.get_circuit_info()
    except Exception:  # FastF1 raises assorted errors when the circuit API is unreachable
        return None
    if info is None:
        return None
    corners = tuple(
        Corner(
            number=int(row.Number),
            letter=_str_or_none(row.Letter) or "",
            x=float(row.X) / 10.0,
            y=float(row.Y) / 10.0,
            angle=float(row.Angle),
            distance=float(row.Distance),
        )
        for row in info.corners.itertuples()
    )
    return CircuitInfo(
        corners=corners, rotation=float(info.rotation), marshal_sectors=marshal_sectors(info)
    )


def marshal_sectors(info: Any) -> tuple[MarshalSector, ...]:
    """FastF1's marshal sectors (X/Y in 1/10 m, like the corners'), where it has them."""
    table = getattr(info, "marshal_sectors", None)
    if table is None or not hasattr(table, "itertuples"):
        return ()
    return tuple(
        MarshalSector(
            number=int(row.Number),
            x=float(row.X) / 10.0,
            y=float(row.Y) / 10.0,
            distance=float(row.Distance),
        )
        for row in table.itertuples()
        if math.isfinite(float(row.X)) and math.isfinite(float(row.Y))
    )


def session_info_from_fastf1(ff1_session: Any) -> SessionInfo:
    event = ff1_session.event
    kind = session_kind(ff1_session.name)
    date = getattr(ff1_session, "date", None)
    return SessionInfo(
        year=int(event["EventDate"].year),
        event=str(event["EventName"]),
        name=str(ff1_session.name),
        kind=kind,
        circuit=str(event.get("Location", "")),
        date=date.date().isoformat() if date is not None and not isinstance(date, float) else "",
        start_time=race_start_time(ff1_session),
        total_laps=_int_or_none(getattr(ff1_session, "total_laps", None)) if kind.is_race else None,
    )


def timing_from_fastf1(ff1_session: Any) -> Timing:
    """Convert a loaded FastF1 session into RawSession pieces."""
    problems = missing_pieces(ff1_session)
    drivers = drivers_from_fastf1(ff1_session)
    has_messages = loaded_table(ff1_session, "race_control_messages") is not None
    # The session clock's date only places race control messages: no messages, no need.
    t0_date = estimate_t0_date(ff1_session, problems) if has_messages else None
    return Timing(
        info=session_info_from_fastf1(ff1_session),
        drivers=drivers,
        laps=laps_from_fastf1(ff1_session),
        track_status=track_status_from_fastf1(ff1_session, problems),
        messages=messages_from_fastf1(ff1_session, t0_date, drivers),
        weather=weather_from_fastf1(ff1_session),
        results=results_from_fastf1(ff1_session),
        circuit=circuit_from_fastf1(ff1_session),
        t0_date=t0_date,
        problems=problems,
    )


def load_timing(
    year: int,
    event: str | int,
    session: str,
    cache: Path | None = None,
    http_cache: Path | None = None,
    offline: bool = False,
) -> Timing:
    """Open a FastF1 session (without telemetry) and convert its timing."""
    with loaded_session(year, event, session, cache, http_cache, offline) as ff1_session:
        return timing_from_fastf1(ff1_session)


def assemble(
    timing: Timing,
    telemetry: dict[str, Telemetry],
    problems: list[str],
    fallback_corners: tuple[Corner, ...] = (),
) -> RawSession:
    """The RawSession from timing plus telemetry; corners from FastF1 when it has them."""
    circuit = timing.circuit or CircuitInfo(corners=fallback_corners)
    return RawSession(
        info=timing.info,
        drivers=timing.drivers,
        telemetry=telemetry,
        laps=timing.laps,
        track_status=timing.track_status,
        messages=timing.messages,
        weather=timing.weather,
        results=timing.results,
        circuit=circuit,
        problems=timing.problems + problems,
    )
