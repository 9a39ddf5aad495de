"""When each car goes out, for how many timed laps, on which tyres and at what pace.

Qualifying (the 2025 sporting regulations, article 39.2): Q1, Q2 and Q3 of 18,
15 and 12 minutes, separated by breaks of 7 and 8 minutes, the slowest quarter
of the field out after Q1 and again after Q2. Runs are planned backwards from
the chequered flag, as teams do: the last run crosses the line for its last
timed lap a few seconds before the flag, earlier runs fit in before it.

Two timing rules follow from how segments are told apart downstream (a break is
at least 240 s with no car on a lap, timeline/qualifying.py), and they hold by
construction:
- inside a segment no car spends more than GARAGE[1] s (< 240 s) in the garage
  between two runs, and every car's last run ends after the flag, so the track
  is never empty that long mid-segment;
- the breaks are not scaled with `minutes`: after the flag the last cars need
  about 4 minutes to finish their laps and come in, and nobody leaves before
  FIRST_WAIT s into the next segment, which leaves more than 240 s idle.

Practice is one session of free running: runs of 1 to 3 timed laps (low fuel)
or 5 to 10 (high fuel, long runs) on any compound, with longer garage spells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from racereplay.sources.demo.race import COMPOUND_PACE, COMPOUND_WEAR

QUALIFYING_SHARES = np.array([18.0, 15.0, 12.0]) / 45.0  # of the running time
QUALIFYING_BREAKS = (7 * 60.0, 8 * 60.0)
QUALIFYING_MINUTES = 45  # Q1 + Q2 + Q3 running time at full scale
PRACTICE_MINUTES = 60
FIRST_WAIT = 90.0  # seconds after a segment's green light before the first car leaves
FLAG_MARGIN = (5.0, 40.0)  # seconds before the flag the last timed lap starts
GARAGE = (60.0, 170.0)  # seconds in the garage between two qualifying runs
PRACTICE_GARAGE = (120.0, 480.0)
OUT_PACE = 0.75  # pace factor of an out-lap (tyre warm-up, gap to the car ahead)
IN_PACE = 0.72
QUALIFYING_PACE = 1.018  # low fuel, new soft tyres: faster than the race pace
TRACK_EVOLUTION = 0.0012  # pace gained per qualifying segment as rubber goes down
LAP_NOISE = 0.0015


@dataclass(frozen=True)
class Run:
    leave: float  # session time the car leaves its box
    timed_laps: int
    compound: int  # index into COMPOUNDS
    paces: np.ndarray  # pace factor of each timed lap


def qualifying_lengths(minutes: float) -> np.ndarray:
    """Q1, Q2, Q3 lengths in seconds for a running time of `minutes`."""
    return minutes * 60.0 * QUALIFYING_SHARES


def qualifying_runs(
    rng: np.random.Generator,
    pace: float,
    segment: int,
    start: float,
    flag: float,
    out_lap: float,
    in_lap: float,
    lap_time: float,
) -> list[Run]:
    """One car's runs in one qualifying segment (`lap_time`: ideal lap at pace 1)."""
    push = pace * QUALIFYING_PACE * (1 + TRACK_EVOLUTION * segment)
    timed = lap_time / push  # upper bound on a timed lap (DRS only helps)
    count = 2 if rng.random() < 0.35 else 1
    margin = rng.uniform(*FLAG_MARGIN)
    leave = flag - margin - out_lap - (count - 1) * timed
    if leave < start + FIRST_WAIT:
        count, leave = 1, max(start + FIRST_WAIT, flag - margin - out_lap)
    if leave + out_lap > flag:
        raise ValueError("qualifying segment too short for one run: use more minutes")
    plan = [(leave, count)]
    while True:
        count = 2 if rng.random() < 0.35 else 1
        earlier = plan[-1][0] - rng.uniform(*GARAGE) - (out_lap + count * timed + in_lap)
        if earlier < start + FIRST_WAIT:
            break
        plan.append((earlier, count))
    runs = []
    for leave, count in reversed(plan):
        noise = 1 + rng.normal(0.0, LAP_NOISE, count)
        tyre = np.array([1.0, 0.999])[:count]  # a second lap on the set is a little slower
        runs.append(Run(leave, count, 0, push * noise * tyre))
    return runs


def practice_runs(
    rng: np.random.Generator,
    pace: float,
    start: float,
    flag: float,
    out_lap: float,
    in_lap: float,
    lap_time: float,
) -> list[Run]:
    """One car's runs in a practice session, planned forwards from the green light."""
    runs: list[Run] = []
    leave = start + rng.uniform(FIRST_WAIT, 420.0)
    while leave + out_lap < flag:
        long_run = rng.random() < 0.4
        wanted = int(rng.integers(5, 11)) if long_run else int(rng.integers(1, 4))
        compound = int(rng.choice(3, p=[0.4, 0.4, 0.2]))
        fuel = 0.992 if long_run else 1.012
        base = pace * fuel * COMPOUND_PACE[compound]
        first_timed = leave + out_lap
        slowest = lap_time / (base * 0.99)  # wear and noise: an upper bound on a lap
        fits = 1 + int((flag - first_timed) / slowest)
        count = min(wanted, fits)
        age = np.arange(count)
        paces = base * (1 - COMPOUND_WEAR[compound] * age) * (1 + rng.normal(0, LAP_NOISE, count))
        runs.append(Run(leave, count, compound, paces))
        leave += out_lap + count * lap_time / paces.min() + in_lap
        leave += rng.uniform(*PRACTICE_GARAGE)
    return runs
