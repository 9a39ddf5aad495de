"""Any session FastF1 can load → `RawSession`.

`fastf1:YEAR/EVENT/TYPE?cache=DIR&http_cache=DIR&offline=1&telemetry=PATH`

Timing always comes from FastF1. Telemetry comes from a TracingInsights
session folder when `telemetry=PATH` is given (an offline FastF1 cache often
lacks the car and position streams), else from FastF1's own car and position
data, merged per driver onto one clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from racereplay.model import Corner, RawSession, Telemetry, drs_from_f1_code
from racereplay.sources import Progress, SessionNotFound, SessionRef
from racereplay.sources import tracinginsights as ti
from racereplay.sources.fastf1_timing import (
    assemble,
    check_laps_loaded,
    loaded_session,
    loaded_table,
    timing_from_fastf1,
)

_OPTIONS = ("cache", "http_cache", "offline", "telemetry")


# ---------------------------------------------------------------- FastF1's own telemetry


def _interpolate(t: np.ndarray, src_t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation onto `t`; NaN outside the source's time range (no extrapolation)."""
    out = np.interp(t, src_t, values)
    out[(t < src_t[0]) | (t > src_t[-1])] = np.nan
    return out


def _hold(t: np.ndarray, src_t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The last source value at or before each time (gear, brake, DRS); NaN before the first."""
    index = np.searchsorted(src_t, t, side="right") - 1
    out = values[np.clip(index, 0, None)].astype(np.float64)
    out[index < 0] = np.nan
    return out


def _distance(t: np.ndarray, speed_kmh: np.ndarray) -> np.ndarray:
    """Metres driven since the first sample: trapezoid integral of speed (NaN speed counts 0)."""
    v = np.nan_to_num(speed_kmh, nan=0.0) / 3.6
    steps = (v[1:] + v[:-1]) / 2.0 * np.diff(t)
    return np.concatenate(([0.0], np.cumsum(steps)))


def merge_car_and_position(
    car_time: np.ndarray,
    car: dict[str, np.ndarray],
    pos_time: np.ndarray,
    pos: dict[str, np.ndarray],
) -> Telemetry:
    """One driver's car data (speed, rpm, gear, throttle, brake, drs) and position data
    (x, y, z in 1/10 m) on the union of both clocks, as FastF1's merge does.

    Continuous channels are interpolated, stepped ones (gear, brake, DRS) held.
    """
    car_order, pos_order = np.argsort(car_time, kind="stable"), np.argsort(pos_time, kind="stable")
    car_t, pos_t = car_time[car_order], pos_time[pos_order]
    t = np.union1d(car_t[np.isfinite(car_t)], pos_t[np.isfinite(pos_t)])

    def car_channel(name: str, hold: bool = False) -> np.ndarray:
        values = np.asarray(car[name], dtype=np.float64)[car_order]
        return _hold(t, car_t, values) if hold else _interpolate(t, car_t, values)

    def pos_channel(name: str) -> np.ndarray:
        return _interpolate(t, pos_t, np.asarray(pos[name], dtype=np.float64)[pos_order]) / 10.0

    speed = car_channel("speed")
    return Telemetry(
        time=t,
        x=pos_channel("x").astype(np.float32),
        y=pos_channel("y").astype(np.float32),
        z=pos_channel("z").astype(np.float32),
        speed=speed.astype(np.float32),
        rpm=car_channel("rpm").astype(np.float32),
        gear=np.nan_to_num(car_channel("gear", hold=True), nan=0.0).astype(np.int8),
        throttle=car_channel("throttle").astype(np.float32),
        brake=car_channel("brake", hold=True).astype(np.float32),
        drs=drs_from_f1_code(car_channel("drs", hold=True)),
        distance=_distance(t, speed),
    )


def telemetry_from_fastf1(ff1_session: Any, problems: list[str]) -> dict[str, Telemetry]:
    """Merge FastF1's per-driver car and position streams (loaded with telemetry=True)."""
    car_data = loaded_table(ff1_session, "car_data") or {}  # not loaded: FastF1 raises
    pos_data = loaded_table(ff1_session, "pos_data") or {}
    if not car_data or not pos_data:
        problems.append(
            "FastF1 has no car/position telemetry for this session (offline cache without it?): "
            "add telemetry=PATH, a TracingInsights session folder, to get cars on the map"
        )
        return {}
    code_of = {
        str(row.DriverNumber): str(row.Abbreviation) for row in ff1_session.results.itertuples()
    }
    telemetry: dict[str, Telemetry] = {}
    for number, car in car_data.items():
        code = code_of.get(str(number), str(number))
        pos = pos_data.get(number)
        if pos is None or len(car) < 2 or len(pos) < 2:
            problems.append(f"{code}: FastF1 telemetry incomplete, skipped")
            continue
        telemetry[code] = merge_car_and_position(
            car["SessionTime"].dt.total_seconds().to_numpy(),
            {
                "speed": car["Speed"].to_numpy(np.float64),
                "rpm": car["RPM"].to_numpy(np.float64),
                "gear": car["nGear"].to_numpy(np.float64),
                "throttle": car["Throttle"].to_numpy(np.float64),
                "brake": car["Brake"].to_numpy(np.float64),
                "drs": car["DRS"].to_numpy(np.float64),
            },
            pos["SessionTime"].dt.total_seconds().to_numpy(),
            {axis: pos[axis.upper()].to_numpy(np.float64) for axis in ("x", "y", "z")},
        )
    return telemetry


# ---------------------------------------------------------------- entry points


def load_session(
    year: int,
    event: str | int,
    session: str,
    cache: Path | None = None,
    http_cache: Path | None = None,
    offline: bool = False,
    telemetry: Path | None = None,
    progress: Progress | None = None,
) -> RawSession:
    """Load a session with FastF1 timing; telemetry from `telemetry` (a TI folder) or FastF1."""
    if progress:
        progress(0.0, "loading FastF1 timing")
    if telemetry is not None:
        ti.open_folder(Path(telemetry))  # fail on a bad folder before the slow FastF1 load
    with loaded_session(
        year, event, session, cache, http_cache, offline, telemetry=telemetry is None
    ) as ff1_session:
        return session_from_fastf1(ff1_session, telemetry, progress)


def session_from_fastf1(
    ff1_session: Any, telemetry: Path | None = None, progress: Progress | None = None
) -> RawSession:
    """A FastF1 session that is already loaded, as it is (nothing is fetched or reloaded).

    It needs its laps (`session.load(laps=True)`); cars are on the map when it was
    loaded with `telemetry=True`, or when `telemetry` names a TracingInsights folder
    of the same session. Whatever else it lacks (weather, messages) is a problem line.
    """
    check_laps_loaded(ff1_session)
    timing = timing_from_fastf1(ff1_session)
    problems: list[str] = []
    corners: tuple[Corner, ...] = ()
    if telemetry is None:
        tel = telemetry_from_fastf1(ff1_session, problems)
    else:
        tel, tel_problems = ti.load_telemetry(Path(telemetry), timing.lap_starts(), progress)
        problems += tel_problems
        corners = ti.read_corners(Path(telemetry), problems)
    if progress:
        progress(1.0, "loaded")
    return assemble(timing, tel, problems, corners)


def parse_arg(arg: str) -> tuple[int, str | int, str]:
    """`2025/Australia/R` → (2025, "Australia", "R"); a numeric event is a round number."""
    parts = arg.strip("/").split("/")
    if len(parts) != 3 or not parts[0].isdigit():
        raise SessionNotFound(
            f"fastf1 session {arg!r} should be YEAR/EVENT/TYPE, e.g. 'fastf1:2025/Australia/R'"
        )
    year, event, session = parts
    return int(year), int(event) if event.isdigit() else event, session


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def load(ref: SessionRef, progress: Progress | None = None) -> RawSession:
    """`fastf1:YEAR/EVENT/TYPE?cache=DIR&http_cache=DIR&offline=1&telemetry=PATH`."""
    unknown = set(ref.options) - set(_OPTIONS)
    if unknown:
        raise SessionNotFound(
            f"unknown option(s) {', '.join(sorted(unknown))} in {ref}: use {', '.join(_OPTIONS)}"
        )
    year, event, session = parse_arg(ref.arg)
    return load_session(
        year,
        event,
        session,
        cache=_path(ref.options.get("cache")),
        http_cache=_path(ref.options.get("http_cache")),
        offline=_flag(ref.options.get("offline")),
        telemetry=_path(ref.options.get("telemetry")),
        progress=progress,
    )
