"""Pit-lane visits found in a car's telemetry, for sources whose timing has none.

The TracingInsights archive has lap times but no pit entry or exit times. A pit
stop is unmistakable in the speed trace, though: the car brakes to the pit speed
limit (80 km/h on most circuits), holds it, stands still in its box for a couple
of seconds, and holds the limit again to the pit exit. So each standstill during
the session that the car drives away from is a visit: it entered where the speed
last dropped below the limit before the standstill, and left where it first rose
above it after. The final standstill of a car is where it retired, not a visit.

A drive-through (no standstill) cannot be told apart from a slow lap this way;
the source says so in its problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from racereplay.model import Lap, Telemetry

STANDSTILL_KMH = 5.0
MIN_STANDSTILL_S = 1.0  # shorter: a car stalling for a moment, or a data glitch
STANDSTILL_BLIP_S = 1.0  # a creep forward in the box this short does not end the standstill
PIT_LIMIT_KMH = 85.0  # a little above the usual 80 km/h limit, for the limiter's ripple
MAX_PIT_ROAD_S = 40.0  # entry or exit road longer than this: not a pit lane


@dataclass(frozen=True)
class PitVisit:
    entry: float  # session time the car slowed to the pit limit
    exit: float  # session time it rose above the limit leaving
    standstill: float  # seconds standing still


def _standstills(time: np.ndarray, speed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last sample of each standstill, blips of creeping forward merged."""
    edges = np.diff(np.concatenate([[0], (speed < STANDSTILL_KMH).astype(np.int8), [0]]))
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if len(first) < 2:
        return first, last
    joined = time[first[1:]] - time[last[:-1]] < STANDSTILL_BLIP_S
    return first[np.concatenate([[True], ~joined])], last[np.concatenate([~joined, [True]])]


def pit_visits(tel: Telemetry, after: float) -> list[PitVisit]:
    """Every standstill after session time `after` that the car drives away from."""
    time = np.asarray(tel.time, dtype=np.float64)
    speed = np.nan_to_num(np.asarray(tel.speed, dtype=np.float64), nan=0.0)
    first, last = _standstills(time, speed)
    fast = np.flatnonzero(speed > PIT_LIMIT_KMH)
    visits: list[PitVisit] = []
    for a, b in zip(first, last, strict=True):
        standing = time[b] - time[a]
        if time[a] < after or standing < MIN_STANDSTILL_S or b + 1 >= len(time):
            continue
        before = fast[fast < a]
        later = fast[fast > b]
        if len(before) == 0 or len(later) == 0:
            continue  # never fast again: it retired here
        entry, exit_ = time[before[-1]], time[later[0]]
        if time[a] - entry > MAX_PIT_ROAD_S or exit_ - time[b] > MAX_PIT_ROAD_S:
            continue  # a long crawl to a stop: a car in trouble on track, not the pit lane
        if visits and entry <= visits[-1].exit:
            continue
        visits.append(PitVisit(float(entry), float(exit_), float(standing)))
    return visits


def mark_pit_visits(laps: list[Lap], visits: list[PitVisit]) -> None:
    """Set each visit's entry on the lap it began in and its exit on the lap it ended in."""
    by_number = sorted(laps, key=lambda lap: lap.number)
    ends = np.array([lap.end for lap in by_number], dtype=np.float64)
    for visit in visits:
        i_in = int(np.searchsorted(ends, visit.entry))
        i_out = int(np.searchsorted(ends, visit.exit))
        if i_in < len(by_number):
            by_number[i_in].pit_in = visit.entry
        if i_out < len(by_number):
            by_number[i_out].pit_out = visit.exit
