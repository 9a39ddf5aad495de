"""Traffic-free running for qualifying and practice: the whole field stepped together.

A car sits in its pit box until a run's departure time, then drives an out-lap
(pit lane, then a slow lap), its timed laps and an in-lap that ends on the line
in the pit lane, and rolls into its box again. Cars never interact (no traffic,
no passing), so each car's motion depends only on its own plan; stepping them
together is what keeps the simulator vectorised (one numpy step per tick).

State per car is its total distance `d` as in the race (lap j, 0-based, ends at
d = (j + 1) * L). A car parks at d = j * L + BOX_AT, inside lap j, which is
therefore the out-lap of its next run. Runs are added segment by segment
(`add_run`) and driven with `drive`, so a qualifying segment can be planned
from the lap times of the one before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from racereplay.sources.demo.motion import PIT, RACING, Motion
from racereplay.sources.demo.race import DRS_BOOST, DT, PACE_RATE, reach_times
from racereplay.sources.demo.track import BOX_AT, PIT_ENTRY, PIT_EXIT, STEP, Track

OUT, TIMED, IN = 0, 1, 2  # lap kinds; laps after a car's last run stay OUT (it stays boxed)
PREPARE_FROM = 0.85  # share of the out-lap after which the driver builds up to push pace
PIT_MARGIN = 20.0  # metres beyond the pit window where the profiles switch (equal speeds)
DRS_OPEN = 12  # raw F1 code: outside races DRS may be opened in any zone on a timed lap


@dataclass(frozen=True)
class Estimates:
    """Upper bounds on one car's lap durations, seconds, for planning runs."""

    out_lap: float  # box to the line at `out_pace`
    in_lap: float  # line to line (in the pit lane) at `in_pace`

    @staticmethod
    def of(motion: Motion, track: Track, out_pace: float, in_pace: float) -> Estimates:
        length = motion.length
        switch_out = track.pit_window[1] + PIT_MARGIN
        switch_in = length - track.pit_window[0] - PIT_MARGIN
        out = _profile_span(motion, BOX_AT, switch_out, PIT)
        out += _profile_span(motion, switch_out, length, RACING)
        into = _profile_span(motion, 0.0, switch_in, RACING)
        into += _profile_span(motion, switch_in, length, PIT)
        return Estimates(out_lap=out / out_pace, in_lap=into / in_pace)


def _profile_span(motion: Motion, a: float, b: float, mode: int) -> float:
    ends = motion.to_profile_time(np.array([a, b]), mode)
    return float(ends[1] - ends[0])


class SoloField:
    """Every car's state and its per-tick history (distance, profile, DRS code)."""

    def __init__(self, track: Track, motion: Motion, cars: int, max_laps: int, end: float):
        self.track, self.motion, self.length = track, motion, track.length
        self.idx = np.arange(cars)
        ticks = int(end / DT) + 2
        self.distance = np.empty((ticks, cars))
        self.mode = np.zeros((ticks, cars), dtype=np.uint8)
        self.drs = np.zeros((ticks, cars), dtype=np.uint8)
        self.kind = np.full((cars, max_laps + 2), OUT, dtype=np.uint8)
        self.pace = np.ones((cars, max_laps + 2))
        self.leave: list[list[float]] = [[] for _ in range(cars)]
        self.laps = np.zeros(cars, dtype=np.int64)  # laps planned so far per car
        self.d = np.full(cars, BOX_AT)
        self.current_pace = np.zeros(cars)
        self.parked = np.ones(cars, dtype=bool)
        self.runs_done = np.zeros(cars, dtype=np.int64)
        self.tick = 0

    def add_run(self, car: int, leave: float, paces: np.ndarray, kinds: np.ndarray) -> range:
        """Plan a run for `car`: leave the box at `leave`, drive laps of `kinds` at `paces`
        (out-lap first, in-lap last). Returns the run's lap indices (0-based)."""
        first = int(self.laps[car])
        laps = range(first, first + len(kinds))
        if laps.stop + 2 > self.kind.shape[1]:
            raise RuntimeError("demo session plan exceeds its lap capacity: simulator bug")
        if self.leave[car] and leave <= self.leave[car][-1]:
            raise ValueError("runs must be added in order of departure")
        self.kind[car, laps.start : laps.stop] = kinds
        self.pace[car, laps.start : laps.stop] = paces
        self.leave[car].append(leave)
        self.laps[car] = laps.stop
        return laps

    def drive(self, linger: float = 0.0) -> float:
        """Step until every planned run is over and every car is back in its box, then
        `linger` seconds more; returns the session time reached."""
        leave = self._leave_table()
        planned = np.array([len(times) for times in self.leave])
        last_tick = len(self.distance) - 2
        extra = int(np.ceil(linger / DT))
        while extra > 0 or not (self.parked.all() and (self.runs_done == planned).all()):
            if self.tick >= last_tick:
                raise RuntimeError("demo session ran past its planned end: simulator bug")
            if self.parked.all() and (self.runs_done == planned).all():
                extra -= 1
            self._step(leave)
        self.distance[self.tick] = self.d  # the current state, so columns end where cars are
        return self.tick * DT

    def columns(self, car: int) -> tuple[np.ndarray, np.ndarray]:
        """Distance and profile columns of `car` up to the current tick (inclusive)."""
        end = self.tick + 1
        return self.distance[:end, car], self.mode[:end, car]

    def reach(self, car: int, targets: np.ndarray) -> np.ndarray:
        """Session times at which `car` reached each total distance in `targets`."""
        distance, mode = self.columns(car)
        return reach_times(self.motion, distance, mode, np.asarray(targets, dtype=np.float64))

    def departures(self, car: int, boxes: np.ndarray) -> np.ndarray:
        """Session times at which `car` left each box position in `boxes` (last tick there)."""
        distance, _ = self.columns(car)
        return (np.searchsorted(distance, boxes, side="right") - 1) * DT

    def _leave_table(self) -> np.ndarray:
        width = max(len(times) for times in self.leave) + 1
        table = np.full((len(self.idx), width), np.inf)
        for car, times in enumerate(self.leave):
            table[car, : len(times)] = times
        return table

    def _step(self, leave: np.ndarray) -> None:
        k, d, length = self.tick, self.d, self.length
        t = k * DT
        lap = np.floor(d / length).astype(np.int64)
        within = d - lap * length
        kind = self.kind[self.idx, lap]
        following = self.kind[self.idx, lap + 1]
        go = self.parked & (t >= leave[self.idx, self.runs_done])
        self.runs_done += go
        self.parked &= ~go
        switch_out = self.track.pit_window[1] + PIT_MARGIN
        switch_in = length - self.track.pit_window[0] - PIT_MARGIN
        pit = ((kind == OUT) & (within < switch_out)) | ((kind == IN) & (within > switch_in))
        mode = np.where(pit, PIT, RACING)

        target = self.pace[self.idx, lap]
        prepare = (kind == OUT) & (following == TIMED) & (within > PREPARE_FROM * length)
        target = np.where(prepare, self.pace[self.idx, lap + 1], target)
        # In the pit lane the speed limiter sets the pace, not the driver.
        in_lane = pit & ((within < PIT_EXIT) | (within > length - PIT_ENTRY))
        target = np.where(in_lane, 1.0, target)
        self.current_pace[go] = target[go]  # a car leaves its box at its out-lap pace
        step = PACE_RATE * DT
        self.current_pace += np.clip(target - self.current_pace, -step, step)

        straight = self.track.straight[(within / STEP).astype(np.int64)]
        drs_open = (kind == TIMED) & straight & ~self.parked
        boost = np.where(drs_open, DRS_BOOST, 1.0)
        profile_t = self.motion.to_profile_time(d, mode)
        advance = self.motion.to_distance(profile_t + self.current_pace * boost * DT, mode) - d
        advance[self.parked] = 0.0
        box = lap * length + BOX_AT
        arrive = (kind == OUT) & (d < box) & (d + advance >= box) & ~self.parked
        self.parked |= arrive

        self.distance[k] = d
        self.mode[k] = mode
        self.drs[k] = np.where(drs_open, DRS_OPEN, 0)
        self.d = np.where(arrive, box, d + advance)
        self.tick = k + 1
