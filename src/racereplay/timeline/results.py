"""The lap table and the final classification, as JSON-able dicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racereplay.model import RawSession
from racereplay.timeline.laptable import DriverLaps


def _num(value: float) -> float | None:
    """JSON has no NaN: missing is None."""
    return None if value is None or not math.isfinite(value) else round(float(value), 3)


def personal_best_flags(laps: dict[str, DriverLaps]) -> dict[str, np.ndarray]:
    """True for each lap that improved its driver's best valid lap time when it was set."""
    flags: dict[str, np.ndarray] = {}
    for code, dl in laps.items():
        valid = valid_lap_times(dl)
        best_so_far = np.minimum.accumulate(np.where(np.isfinite(valid), valid, np.inf))
        best_before = np.concatenate([[np.inf], best_so_far[:-1]])
        flags[code] = np.isfinite(valid) & (valid < best_before)
    return flags


def valid_lap_times(dl: DriverLaps) -> np.ndarray:
    """Lap times that count (NaN for deleted or missing), in lap order."""
    return np.where(dl.deleted, np.nan, dl.lap_time)


def lap_table(raw: RawSession, laps: dict[str, DriverLaps]) -> list[dict[str, Any]]:
    pbs = personal_best_flags(laps)
    rows: list[dict[str, Any]] = []
    for d in raw.drivers:
        dl = laps[d.code]
        raw_laps = {lap.number: lap for lap in raw.laps_of(d.code)}
        for i, number in enumerate(dl.number):
            raw_lap = raw_laps[int(number)]
            rows.append(
                {
                    "driver": d.code,
                    "lap": int(number),
                    "start": _num(dl.start[i]),
                    "end": _num(dl.end[i]) if i < dl.completed else None,
                    "lap_time": _num(dl.lap_time[i]),
                    "sectors": [_num(s) for s in dl.sectors[i]],
                    "compound": raw_lap.compound,
                    "tyre_age": raw_lap.tyre_age,
                    "stint": raw_lap.stint,
                    "pit_in": _num(dl.pit_in[i]),
                    "pit_out": _num(dl.pit_out[i]),
                    "position": raw_lap.position,
                    "personal_best": bool(pbs[d.code][i]),
                    "deleted": raw_lap.deleted,
                    "speed_trap": _num(raw_lap.speed_trap),
                }
            )
    rows.sort(key=lambda r: (r["lap"], r["end"] if r["end"] is not None else math.inf))
    return rows


def results_table(raw: RawSession, laps: dict[str, DriverLaps]) -> list[dict[str, Any]]:
    """Final classification. Official results when the source has them; otherwise the
    order in which cars finished (laps, then time)."""
    by_code = {r.driver: r for r in raw.results}
    finish = {c: dl.stop_time for c, dl in laps.items() if dl.finished}
    winner_time = min(finish.values(), default=math.nan)
    winner_laps = max((dl.completed for dl in laps.values()), default=0)

    def sort_key(code: str) -> tuple[float, float, float]:
        r = by_code.get(code)
        if r is not None and r.position is not None:
            return (0, r.position, 0)
        dl = laps[code]
        return (1, -dl.completed, finish.get(code, math.inf))

    rows = []
    for place, code in enumerate(sorted(laps, key=sort_key), start=1):
        r = by_code.get(code)
        dl = laps[code]
        behind = winner_laps - dl.completed
        gap: float | None = None
        if dl.finished and behind == 0 and code in finish:
            gap = _num(finish[code] - winner_time)
        rows.append(
            {
                "position": r.position if r is not None and r.position is not None else place,
                "driver": code,
                "grid": r.grid if r is not None else None,
                "status": r.status if r is not None and r.status else _status_text(dl, behind),
                "classified": r.classified if r is not None else None,
                "laps": dl.completed,
                "time": _num(finish.get(code, math.nan)),
                "gap": gap,
                "laps_behind": behind if dl.finished else None,
            }
        )
    return rows


def _status_text(dl: DriverLaps, behind: int) -> str:
    if dl.retired:
        return "Retired"
    if behind > 0:
        return f"+{behind} Lap" + ("s" if behind > 1 else "")
    return "Finished"
