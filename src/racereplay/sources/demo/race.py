"""The race simulator: the whole field stepped together, one numpy step per tick.

State per car is its total distance `d` (metres from the line, negative on the
grid; lap k ends at d = k * L). Each tick a car advances along its speed profile
at its pace factor (see motion.py), then is held behind the car ahead unless it
may pass (on a straight, faster, no Safety Car; or lapping a backmarker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from racereplay.sources.demo.motion import PIT, RACING, Motion
from racereplay.sources.demo.track import BOX_AT, GRID_STEP, PIT_ENTRY, PIT_EXIT, STEP, Track

DT = 0.5  # seconds per tick; motion is exact between ticks, so this only sets reaction time
MIN_GAP = 12.0  # metres kept behind the car ahead unless passing, at speed
# Slower, a car may follow closer (standstill gap plus a time headway): the grid slots are
# GRID_STEP apart, so at the lights every car may launch at once rather than in a wave.
STANDSTILL_GAP = GRID_STEP - 2.0
HEADWAY = 0.12  # seconds; reaches MIN_GAP at 50 m/s
EASE_FLOOR = 0.5  # a car too close keeps at least this share of the advance of the car ahead
SC_GAP = 25.0  # metres kept behind the car ahead under the Safety Car
SC_PACE = 0.62  # pace factor of the leader behind the Safety Car
SC_CHASE = 0.85  # the others catch up with the queue at this pace factor
SC_DELAY = 12.0  # seconds of yellow flag between the stop and the Safety Car
COOL_DOWN_PACE = 0.55
COOL_DOWN_TIME = 20.0  # seconds of telemetry after the flag (or after a car stops)
PACE_RATE = 0.08  # how fast a car's pace factor can change, per second
LAUNCH_ACCEL = 10.0  # m/s^2 off the line
# Above the profile's own best (14 at rest), so only a car regaining speed after being held
# meets it: it accelerates back rather than jumping to the profile's speed in one tick.
TRACTION_ACCEL = 16.0  # m/s^2
DRS_BOOST = 1.035
RETIRE_LIMP = 600.0  # metres the retiring car limps before it stops
WET_PACE_LOSS = 0.05  # pace lost on a fully wet track (light rain on slicks: ~5 s a lap)

COMPOUNDS = ("SOFT", "MEDIUM", "HARD")
COMPOUND_PACE = np.array([1.0, 0.996, 0.992])
COMPOUND_WEAR = np.array([0.0009, 0.0005, 0.0003])  # pace lost per lap of tyre age


@dataclass(frozen=True)
class RacePlan:
    """Everything decided before the start (drawn from the seed)."""

    laps: int
    start_time: float
    pace: np.ndarray  # (n,) pace factor
    grid_slot: np.ndarray  # (n,) 0 = pole
    lap_noise: np.ndarray  # (n, laps + 2) pace multiplier per lap
    compounds: np.ndarray  # (n, 2) index into COMPOUNDS, first and second stint
    pit_lap: np.ndarray  # (n,) lap at whose end the car pits; 0 = no stop
    stop_time: np.ndarray  # (n,) seconds stationary in the box
    reaction: np.ndarray  # (n,) seconds after lights out before the car moves
    retire_car: int  # -1: nobody retires
    retire_distance: float  # total distance where the retiring car stops
    safety_car: bool  # the retirement brings out the Safety Car
    # How wet the track is over time (weather.wetness); dry throughout by default.
    wet: tuple[np.ndarray, np.ndarray] = (np.zeros(1), np.zeros(1))

    @property
    def cars(self) -> int:
        return len(self.pace)

    def grid_distance(self) -> np.ndarray:
        return -(5.0 + GRID_STEP * self.grid_slot)


@dataclass
class RaceRun:
    """What happened: per-tick distance, profile and DRS code per car, and the race's events."""

    distance: np.ndarray  # (ticks, n) float64, at t = k * DT
    mode: np.ndarray  # (ticks, n) uint8, profile used from tick k to k + 1
    drs: np.ndarray  # (ticks, n) uint8, raw F1 DRS code from tick k to k + 1
    finish_time: np.ndarray  # (n,) NaN for a car that did not finish
    chequered: float = math.nan
    retire_time: float = math.nan
    sc_start: float = math.nan
    sc_in_this_lap: float = math.nan
    sc_end: float = math.nan
    drs_enabled: list[float] = field(default_factory=list)
    drs_disabled: list[float] = field(default_factory=list)

    @property
    def end_time(self) -> float:
        return (len(self.distance) - 1) * DT


def plan_race(
    rng: np.random.Generator, track: Track, pace: np.ndarray, laps: int, start_time: float
) -> RacePlan:
    n = len(pace)
    qualifying = pace * (1 + rng.normal(0, 0.002, n))
    grid_slot = np.empty(n, dtype=np.int64)
    grid_slot[np.argsort(-qualifying)] = np.arange(n)
    retire_lap = max(2, round(0.2 * laps))
    retires = laps >= 4 and n >= 3
    safety_car = retires and laps >= retire_lap + 5
    # Pit stops in the second half of the window after the Safety Car, so none is under it.
    lo = min(laps - 1, retire_lap + 6) if safety_car else max(1, round(0.3 * laps))
    hi = max(lo, round(0.75 * laps))
    pit_lap = rng.integers(lo, hi + 1, n) if laps >= 3 else np.zeros(n, dtype=np.int64)
    first = rng.choice([0, 1], n, p=[0.6, 0.4])
    second = np.where(first == 0, rng.choice([1, 2], n), 2)
    retire_car = int(rng.integers(n // 3, n)) if retires else -1
    corner = track.corners[int(rng.integers(len(track.corners)))].distance if retires else 0.0
    return RacePlan(
        laps=laps,
        start_time=start_time,
        pace=pace,
        grid_slot=grid_slot,
        lap_noise=1 + rng.normal(0, 0.002, (n, laps + 2)),
        compounds=np.stack([first, second], axis=1),
        pit_lap=pit_lap,
        stop_time=rng.uniform(2.1, 2.9, n),
        reaction=rng.uniform(0.15, 0.45, n),
        retire_car=retire_car,
        retire_distance=(retire_lap - 1) * track.length + corner + 40.0,
        safety_car=safety_car,
    )


def stint_state(
    pit_lap: np.ndarray, compounds: np.ndarray, lap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compound index, tyre age at the start of `lap` (laps on the set) and stint (1-based).

    `pit_lap` (0: no stop) and `compounds` (..., 2) broadcast against `lap`."""
    second = (pit_lap > 0) & (lap > pit_lap)
    compound = np.where(second, compounds[..., 1], compounds[..., 0])
    age = np.where(second, lap - pit_lap - 1, lap - 1)
    return compound, np.maximum(age, 0), 1 + second.astype(np.int64)


def _lap_pace(plan: RacePlan) -> np.ndarray:
    """(n, laps + 2) pace factor per car per lap: tyres, wear, fuel, the day's form."""
    lap = np.arange(plan.laps + 2)[None, :]
    compound, age, _ = stint_state(plan.pit_lap[:, None], plan.compounds[:, None, :], lap)
    fuel = 1 + 0.02 * lap / plan.laps
    wear = 1 - COMPOUND_WEAR[compound] * np.minimum(age, 40)
    return plan.pace[:, None] * COMPOUND_PACE[compound] * wear * fuel * plan.lap_noise


class _Field:
    """The per-tick state of every car, stepped together."""

    def __init__(self, track: Track, motion: Motion, plan: RacePlan) -> None:
        n, length = plan.cars, track.length
        self.track, self.motion, self.plan, self.length = track, motion, plan, length
        self.idx = np.arange(n)
        self.d = plan.grid_distance()
        self.pace = plan.pace.copy()
        self.speed = np.zeros(n)
        pits = plan.pit_lap > 0
        lap_end = np.where(pits, plan.pit_lap * length, np.nan)
        self.pit_window = (lap_end - track.pit_window[0] - 20, lap_end + track.pit_window[1] + 20)
        self.pit_lane = (lap_end - PIT_ENTRY, lap_end + PIT_EXIT)
        self.box = lap_end + BOX_AT
        self.boxed = ~pits
        self.stop_until = np.full(n, -np.inf)
        self.retired = np.zeros(n, dtype=bool)
        self.finished = np.zeros(n, dtype=bool)
        self.drs_open = np.zeros(n, dtype=bool)
        self.in_zone = np.zeros(n, dtype=bool)
        self.lap_pace = _lap_pace(plan)

    def modes(self) -> np.ndarray:
        lo, hi = self.pit_window
        return np.where((self.d >= lo) & (self.d <= hi) & ~self.finished, PIT, RACING)

    def target_pace(self, t: float, sc_active: bool, leader: int) -> np.ndarray:
        lap = np.floor(self.d / self.length).astype(np.int64) + 1
        target = self.lap_pace[self.idx, np.minimum(np.maximum(lap, 1), self.plan.laps + 1)]
        target = target * (1 - WET_PACE_LOSS * float(np.interp(t, *self.plan.wet)))
        if sc_active:
            target = np.minimum(target, SC_CHASE)
            target[leader] = SC_PACE
        rc = self.plan.retire_car
        if rc >= 0 and self.d[rc] > self.plan.retire_distance - RETIRE_LIMP:
            target[rc] = 0.35
        target[self.finished] = COOL_DOWN_PACE
        return target

    def leader(self) -> int:
        return int(np.argmax(np.where(self.retired, -np.inf, self.d)))

    def car_ahead(self, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each car, the next car on track, the gap to it (m) and whether it is racing."""
        lane_lo, lane_hi = self.pit_lane
        in_lane = (mode == PIT) & (self.d >= lane_lo) & (self.d <= lane_hi)
        racing = ~self.retired & ~self.finished & ~in_lane
        p = np.mod(self.d, self.length)
        order = np.argsort(np.where(racing, p, np.inf), kind="stable")
        count = int(racing.sum())
        ahead = self.idx.copy()
        if count >= 2:
            on_track = order[:count]
            ahead[on_track[:-1]] = on_track[1:]
            ahead[on_track[-1]] = on_track[0]
        has_ahead = racing & (ahead != self.idx)
        gap = np.where(has_ahead, np.mod(p[ahead] - p, self.length), np.inf)
        return ahead, gap, has_ahead

    def on_straight(self) -> np.ndarray:
        index = (np.mod(self.d, self.length) / STEP).astype(np.int64)
        return self.track.straight[index]


def run_race(track: Track, motion: Motion, plan: RacePlan) -> RaceRun:
    """Step the field from the grid to the flag (plus a cool-down); see the module docstring."""
    n, length = plan.cars, track.length
    max_ticks = int((plan.start_time + plan.laps * motion.lap_time[RACING] * 2 + 600) / DT)
    dist = np.empty((max_ticks, n))
    modes = np.zeros((max_ticks, n), dtype=np.uint8)
    drs_codes = np.zeros((max_ticks, n), dtype=np.uint8)
    run = RaceRun(dist, modes, drs_codes, np.full(n, np.nan))
    car = _Field(track, motion, plan)
    sc_active, sc_in_lap, drs_on = False, 0, False
    retire_limit = np.full(n, np.inf)
    if plan.retire_car >= 0:
        retire_limit[plan.retire_car] = plan.retire_distance
    k = 0
    while True:
        t = k * DT
        dist[k] = car.d
        if k + 1 >= max_ticks:
            raise RuntimeError("the demo race did not finish: simulator bug, please report it")
        if _all_done(run, car, t):
            break
        mode = car.modes()
        modes[k] = mode
        if t < plan.start_time:
            k += 1
            continue
        leader = car.leader()
        leader_lap = int(car.d[leader] // length) + 1
        drs_allowed = (
            leader_lap >= 3
            and not sc_active
            and (math.isnan(run.sc_end) or leader_lap >= sc_in_lap + 3)
        )
        if drs_allowed != drs_on:
            (run.drs_enabled if drs_allowed else run.drs_disabled).append(t)
            drs_on = drs_allowed
        target = car.target_pace(t, sc_active, leader)
        step = PACE_RATE * DT
        car.pace += np.minimum(np.maximum(target - car.pace, -step), step)

        ahead, gap, has_ahead = car.car_ahead(mode)
        straight = car.on_straight()
        zone = straight & has_ahead
        close = gap / np.maximum(car.speed, 10.0) < 1.0
        car.drs_open = zone & drs_allowed & (car.drs_open | (~car.in_zone & close))
        car.in_zone = zone
        drs_codes[k] = np.where(car.drs_open, 12, np.where(drs_allowed & close, 8, 0))

        boost = np.where(car.drs_open, DRS_BOOST, 1.0)
        profile_t = motion.to_profile_time(car.d, mode)
        free = motion.to_distance(profile_t + car.pace * boost * DT, mode) - car.d
        since = np.maximum(t - plan.start_time - plan.reaction, 0.0)
        launch = LAUNCH_ACCEL * (since + 0.5 * DT) * DT * (since > 0)
        free = np.minimum(free, np.where(since < 12, launch, np.inf))
        free = np.minimum(free, car.speed * DT + TRACTION_ACCEL * DT * DT)

        lapping = car.d[ahead] < car.d - length / 2
        faster = straight & (free > free[ahead])
        may_pass = ~sc_active & (lapping | faster)
        # A pass takes one car per tick: the passing car is still held behind the next one,
        # so a fast car cannot jump through a queue and land on top of it.
        target = np.where(may_pass, ahead[ahead], ahead)
        target_gap = np.where(may_pass, gap + gap[ahead], gap)
        held = has_ahead & (target != car.idx)
        needed = _needed_gap(car.speed, sc_active)
        advance = _hold_behind(free, target, target_gap, held, needed)
        advance[t < car.stop_until] = 0.0
        advance = _stop_at(car.box, car.d, advance, ~car.boxed & (mode == PIT))
        reach_box = ~car.boxed & (car.d + advance >= car.box)
        car.boxed |= reach_box
        car.stop_until[reach_box] = t + DT + plan.stop_time[reach_box]
        advance = np.minimum(advance, retire_limit - car.d)
        advance[car.retired] = 0.0

        new_d = car.d + advance
        crossing, t_cross = _line_crossings(motion, car.d, new_d, mode, t, length)
        stops = ~car.retired & (new_d >= retire_limit)
        if stops.any():
            car.retired |= stops
            run.retire_time = t + DT
        if math.isnan(run.chequered):
            winners = crossing & (np.floor(new_d / length) >= plan.laps)
            if winners.any():
                run.chequered = float(t_cross[winners].min())
        flag = crossing & ~car.finished & ~car.retired & (t_cross >= run.chequered)
        run.finish_time[flag] = t_cross[flag]
        car.finished |= flag

        leader = car.leader()
        sc_active, sc_in_lap = _safety_car(
            run, plan, sc_active, sc_in_lap, t, leader_lap, crossing[leader], t_cross[leader]
        )
        car.speed = advance / DT
        car.d = new_d
        k += 1
    run.distance, run.mode, run.drs = dist[: k + 1], modes[: k + 1], drs_codes[: k + 1]
    return run


def _all_done(run: RaceRun, car: _Field, t: float) -> bool:
    done = car.finished | car.retired
    if not done.all():
        return False
    last = np.nanmax(np.append(run.finish_time, run.retire_time))
    return t >= last + COOL_DOWN_TIME


def _needed_gap(speed: np.ndarray, sc_active: bool) -> np.ndarray:
    """Metres each car keeps behind the car ahead at its current speed (m/s)."""
    if sc_active:
        return np.full_like(speed, SC_GAP)
    return np.minimum(MIN_GAP, STANDSTILL_GAP + HEADWAY * speed)


def _hold_behind(
    free: np.ndarray, ahead: np.ndarray, gap: np.ndarray, held: np.ndarray, needed: np.ndarray
) -> np.ndarray:
    """Advance of each car, kept `needed` metres behind the car ahead where it may not pass.

    A car closer than that (just passed, or bunched) eases off, but keeps at least
    EASE_FLOOR of the advance of the car ahead: the gap still opens, and a queue never
    stands still behind a moving car. Solved by a fixed-point iteration from a
    conservative start (the cars that depend on the car ahead standing still): every
    iterate is safe, iterates only grow, and each round settles one more car down a
    queue, so it runs until nothing changes (as many rounds as the longest queue; the
    whole field behind the Safety Car), not a fixed count that would leave the back of a
    long queue standing. Only the cars whose room is short of their free advance take part."""
    slack = gap - needed
    too_close = held & (slack < 0)
    # Gaps open from the front of a bunched queue: behind a car that is itself opening its
    # gap, a car only matches it, so the slowing does not add up down a long queue.
    room = np.where(~too_close, slack, np.where(too_close[ahead], 0.0, 0.25 * slack))
    advance = free.copy()
    queued = np.flatnonzero(held & (room < free))
    if queued.size == 0:
        return advance
    queued_ahead, queued_room, queued_free = ahead[queued], room[queued], free[queued]
    advance[queued] = 0.0
    for _ in range(len(queued)):
        ahead_advance = advance[queued_ahead]
        follow = np.maximum(ahead_advance + queued_room, EASE_FLOOR * ahead_advance)
        settled = np.minimum(follow, queued_free)
        if np.array_equal(settled, advance[queued]):
            break
        advance[queued] = settled
    return advance


def _stop_at(point: np.ndarray, d: np.ndarray, advance: np.ndarray, mask: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(mask & (d + advance >= point), point - d, advance)


def _line_crossings(
    motion: Motion, d: np.ndarray, new_d: np.ndarray, mode: np.ndarray, t: float, length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which cars crossed the line this tick, and when (exact on the profile, as telemetry)."""
    line = np.floor(new_d / length) * length
    crossing = line > np.floor(d / length) * length
    t_cross = np.full(len(d), np.nan)
    if crossing.any():
        t_cross[crossing] = crossing_time(
            motion, d[crossing], new_d[crossing], mode[crossing], line[crossing], t
        )
    return crossing, t_cross


def crossing_time(
    motion: Motion,
    d0: np.ndarray,
    d1: np.ndarray,
    mode: np.ndarray,
    target: np.ndarray,
    t0: np.ndarray | float,
) -> np.ndarray:
    """Session time at which a car moving from d0 (at t0) to d1 (at t0 + DT) reaches `target`."""
    a = motion.to_profile_time(d0, mode)
    b = motion.to_profile_time(d1, mode)
    at = motion.to_profile_time(target, mode)
    return t0 + DT * (at - a) / (b - a)


def reach_times(
    motion: Motion, distance: np.ndarray, mode: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Session times at which one car (its per-tick `distance` and `mode` columns) first
    reaches each total distance in `targets` (all of them reached)."""
    k = np.clip(np.searchsorted(distance, targets, side="left") - 1, 0, len(distance) - 2)
    return crossing_time(
        motion, distance[k], distance[k + 1], mode[k].astype(np.int64), targets, k * DT
    )


def _safety_car(
    run: RaceRun,
    plan: RacePlan,
    active: bool,
    in_lap: int,
    t: float,
    leader_lap: int,
    leader_crossed: bool,
    leader_cross_time: float,
) -> tuple[bool, int]:
    """Deploy after the retirement's yellow; in at the end of the leader's third lap behind it."""
    if not plan.safety_car or math.isnan(run.retire_time):
        return active, in_lap
    if math.isnan(run.sc_start) and t + DT >= run.retire_time + SC_DELAY:
        run.sc_start = t + DT
        return True, leader_lap + 2
    if active and leader_crossed:
        if leader_lap + 1 == in_lap:
            run.sc_in_this_lap = float(leader_cross_time)
        elif leader_lap + 1 > in_lap:
            run.sc_end = float(leader_cross_time)
            return False, in_lap
    return active, in_lap
