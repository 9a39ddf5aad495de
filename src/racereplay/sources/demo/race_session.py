"""A simulated race as a `RawSession`: telemetry, laps, results, track status, messages."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from racereplay.model import (
    Driver,
    Lap,
    RaceControlMessage,
    RawSession,
    Result,
    SessionInfo,
    SessionKind,
    Telemetry,
    TrackStatusCode,
    TrackStatusInterval,
)
from racereplay.sources import Progress
from racereplay.sources.demo.field import make_drivers, make_pace
from racereplay.sources.demo.motion import RACING, Motion
from racereplay.sources.demo.race import (
    COMPOUNDS,
    COOL_DOWN_TIME,
    DT,
    RacePlan,
    RaceRun,
    plan_race,
    reach_times,
    run_race,
    stint_state,
)
from racereplay.sources.demo.telemetry import sample_car, sample_times
from racereplay.sources.demo.track import (
    MARSHAL_SECTORS,
    PIT_ENTRY,
    PIT_EXIT,
    Track,
    build_track,
)
from racereplay.sources.demo.weather import simulate_weather, wetness

EVENT = "Demo Grand Prix"
CIRCUIT = "Demo Park"
YELLOW_ONLY_TIME = 40.0  # seconds of yellow flag for a stop that brings no Safety Car


def simulate_race(seed: int, cars: int, laps: int, progress: Progress | None = None) -> RawSession:
    report = progress or (lambda fraction, what: None)
    rng = np.random.default_rng(seed)
    track = build_track()
    motion = Motion(track)
    drivers = make_drivers(cars)
    start_time = 120.0 + DT * int(rng.integers(0, 60))
    plan = plan_race(rng, track, make_pace(rng, cars), laps, start_time)
    # The weather is drawn first, so that the rain slows the race it falls on: it starts
    # between a third of the nominal race and ten minutes before its end.
    nominal = laps * float(motion.lap_time[RACING])
    rain_window = (start_time + nominal / 3, start_time + nominal - 600)
    weather = simulate_weather(
        np.random.default_rng([seed, 2]), start_time + 2 * nominal, rain_window
    )
    plan = dataclasses.replace(plan, wet=wetness(weather))
    report(0.05, "simulating the race")
    run = run_race(track, motion, plan)
    weather = [w for w in weather if w.time <= run.end_time + 60]
    report(0.6, "sampling telemetry")
    telemetry = _telemetry(np.random.default_rng([seed, 1]), track, motion, plan, run, drivers)
    report(0.9, "timing")
    lap_ends = _lap_end_times(motion, plan, run, track.length)
    lap_list = _laps(motion, track, plan, run, drivers, lap_ends)
    session = RawSession(
        info=SessionInfo(
            year=2025,
            event=EVENT,
            name="Race",
            kind=SessionKind.RACE,
            circuit=CIRCUIT,
            date="2025-03-16",
            start_time=start_time,
            total_laps=laps,
        ),
        drivers=drivers,
        telemetry=telemetry,
        laps=lap_list,
        track_status=_track_status(run),
        messages=_messages(track, plan, run, drivers, lap_ends),
        weather=weather,
        results=_results(plan, run, drivers, lap_ends),
        circuit=track.info(),
    )
    report(1.0, "done")
    return session


def _telemetry(
    rng: np.random.Generator,
    track: Track,
    motion: Motion,
    plan: RacePlan,
    run: RaceRun,
    drivers: list[Driver],
) -> dict[str, Telemetry]:
    grid = plan.grid_distance()
    # Grid slots are staggered left and right; the cars merge onto the line in 80 m.
    stagger = np.where(plan.grid_slot % 2 == 0, 2.0, -2.0)
    out: dict[str, Telemetry] = {}
    for i, driver in enumerate(drivers):  # a loop per car; each car's samples are vectorised
        end = _last_data_time(plan, run, i)
        times = sample_times(rng, rng.uniform(0.0, 0.2), end)
        lateral = _lateral(plan, i, grid[i], stagger[i])
        tel, _ = sample_car(
            track, motion, DT, run.distance[:, i], run.mode[:, i], run.drs[:, i], times, lateral
        )
        out[driver.code] = tel
    return out


def _lateral(
    plan: RacePlan, car: int, grid: float, stagger: float
) -> Callable[[np.ndarray], np.ndarray]:
    def offset(d: np.ndarray) -> np.ndarray:
        side = stagger * np.clip(1 - (d - grid) / 80.0, 0.0, 1.0)
        if car == plan.retire_car:  # pull off the racing line before stopping
            side -= 10.0 * np.clip(1 - (plan.retire_distance - d) / 60.0, 0.0, 1.0)
        return side

    return offset


def _last_data_time(plan: RacePlan, run: RaceRun, car: int) -> float:
    if car == plan.retire_car and not math.isnan(run.retire_time):
        return min(run.retire_time + 10.0, run.end_time)
    if not math.isnan(run.finish_time[car]):
        return min(run.finish_time[car] + COOL_DOWN_TIME, run.end_time)
    return run.end_time


def _times_at(motion: Motion, run: RaceRun, car: int, targets: np.ndarray) -> np.ndarray:
    """Session times at which `car` reaches each total distance in `targets` (all reached)."""
    return reach_times(motion, run.distance[:, car], run.mode[:, car], targets)


def _lap_end_times(motion: Motion, plan: RacePlan, run: RaceRun, length: float) -> np.ndarray:
    """(cars, laps) session time each car completed each lap; NaN for laps not completed."""
    ends = np.full((plan.cars, plan.laps), np.nan)
    for car in range(plan.cars):
        done = min(int(np.floor(run.distance[-1, car] / length)), plan.laps)
        times = _times_at(motion, run, car, np.arange(1, done + 1) * length)
        if not math.isnan(run.finish_time[car]):
            times = times[times <= run.finish_time[car] + 1e-6]
        ends[car, : len(times)] = times
    return ends


def _laps(
    motion: Motion,
    track: Track,
    plan: RacePlan,
    run: RaceRun,
    drivers: list[Driver],
    ends: np.ndarray,
) -> list[Lap]:
    length = track.length
    # Official position at each lap end: the order in which the cars completed that lap.
    position = np.argsort(np.argsort(ends, axis=0, kind="stable"), axis=0) + 1
    out: list[Lap] = []
    for car, driver in enumerate(drivers):
        done = int(np.count_nonzero(~np.isnan(ends[car])))
        if done == 0:
            continue
        number = np.arange(1, done + 1)
        end = ends[car, :done]
        start = np.concatenate(([plan.start_time], end[:-1]))
        base = (number - 1) * length
        s1 = _times_at(motion, run, car, base + track.sectors[0])
        s2 = _times_at(motion, run, car, base + track.sectors[1])
        compound, age, stint = stint_state(plan.pit_lap[car], plan.compounds[car], number)
        pit_lap = int(plan.pit_lap[car])
        pit_in = pit_out = math.nan
        if 0 < pit_lap < done:
            lane = np.array([pit_lap * length - PIT_ENTRY, pit_lap * length + PIT_EXIT])
            pit_in, pit_out = _times_at(motion, run, car, lane)
        for j in range(done):
            lap_no = j + 1
            out.append(
                Lap(
                    driver=driver.code,
                    number=lap_no,
                    start=float(start[j]),
                    end=float(end[j]),
                    lap_time=float(end[j] - start[j]),
                    sector_times=(
                        float(s1[j] - start[j]),
                        float(s2[j] - s1[j]),
                        float(end[j] - s2[j]),
                    ),
                    compound=COMPOUNDS[int(compound[j])],
                    tyre_age=int(age[j]) + 1,
                    stint=int(stint[j]),
                    pit_in=float(pit_in) if lap_no == pit_lap else math.nan,
                    pit_out=float(pit_out) if lap_no == pit_lap + 1 else math.nan,
                    position=int(position[car, j]),
                )
            )
    return out


def _classification(plan: RacePlan, run: RaceRun, ends: np.ndarray) -> list[int]:
    """Car indices in final order: finishers by laps then flag time, then the others by laps."""
    laps_done = np.count_nonzero(~np.isnan(ends), axis=1)
    last = np.array(
        [row[~np.isnan(row)].max() if n else np.inf for row, n in zip(ends, laps_done, strict=True)]
    )
    finished = ~np.isnan(run.finish_time)
    return list(np.lexsort((last, -laps_done, ~finished)))


def _results(plan: RacePlan, run: RaceRun, drivers: list[Driver], ends: np.ndarray) -> list[Result]:
    laps_done = np.count_nonzero(~np.isnan(ends), axis=1)
    order = _classification(plan, run, ends)
    winner_laps = int(laps_done[order[0]])
    out = []
    for position, car in enumerate(order, start=1):
        finished = not math.isnan(run.finish_time[car])
        behind = winner_laps - int(laps_done[car])
        if not finished:
            status, classified = "Retired", "R"
        elif behind == 0:
            status, classified = "Finished", str(position)
        else:
            status, classified = f"+{behind} Lap{'s' if behind > 1 else ''}", str(position)
        out.append(
            Result(
                driver=drivers[car].code,
                grid=int(plan.grid_slot[car]) + 1,
                position=position,
                classified=classified,
                status=status,
                laps=int(laps_done[car]),
            )
        )
    return out


def _track_status(run: RaceRun) -> list[TrackStatusInterval]:
    green = TrackStatusCode.GREEN
    if math.isnan(run.retire_time):
        return [TrackStatusInterval(0.0, math.nan, green)]
    yellow_end = (
        run.sc_start if not math.isnan(run.sc_start) else run.retire_time + YELLOW_ONLY_TIME
    )
    out = [
        TrackStatusInterval(0.0, run.retire_time, green),
        TrackStatusInterval(run.retire_time, yellow_end, TrackStatusCode.YELLOW),
    ]
    if not math.isnan(run.sc_start):
        out.append(TrackStatusInterval(run.sc_start, run.sc_end, TrackStatusCode.SAFETY_CAR))
        if not math.isnan(run.sc_end):
            out.append(TrackStatusInterval(run.sc_end, math.nan, green))
    else:
        out.append(TrackStatusInterval(yellow_end, math.nan, green))
    return out


def _messages(
    track: Track,
    plan: RacePlan,
    run: RaceRun,
    drivers: list[Driver],
    ends: np.ndarray,
) -> list[RaceControlMessage]:
    leader_ends = np.sort(np.nanmin(np.where(np.isnan(ends), np.inf, ends), axis=0))

    def lap_at(t: float) -> int:
        return min(int(np.searchsorted(leader_ends, t)) + 1, plan.laps)

    def msg(t: float, category: str, text: str, **extra: object) -> RaceControlMessage:
        return RaceControlMessage(time=t, category=category, message=text, lap=lap_at(t), **extra)  # type: ignore[arg-type]

    out = [
        msg(
            max(plan.start_time - 90.0, 1.0),
            "Flag",
            "GREEN LIGHT - PIT EXIT OPEN",
            flag="GREEN",
            scope="Track",
        )
    ]
    out += [msg(t, "Drs", "DRS ENABLED") for t in run.drs_enabled]
    out += [msg(t, "Drs", "DRS DISABLED") for t in run.drs_disabled]
    if not math.isnan(run.retire_time):
        car = drivers[plan.retire_car]
        where = plan.retire_distance % track.length
        sector = 1 + int(where / track.length * MARSHAL_SECTORS)
        corner = min(track.corners, key=lambda c: abs(c.distance - where))
        out.append(
            msg(
                run.retire_time,
                "Flag",
                f"YELLOW IN TRACK SECTOR {sector}",
                flag="YELLOW",
                scope="Sector",
                sector=sector,
            )
        )
        out.append(
            msg(
                run.retire_time + 2.0,
                "Other",
                f"CAR {car.number} ({car.code}) STOPPED AT TURN {corner.number}",
                driver=car.code,
            )
        )
        if math.isnan(run.sc_start):
            out.append(
                msg(
                    run.retire_time + YELLOW_ONLY_TIME,
                    "Flag",
                    f"CLEAR IN TRACK SECTOR {sector}",
                    flag="CLEAR",
                    scope="Sector",
                    sector=sector,
                )
            )
    if not math.isnan(run.sc_start):
        out.append(msg(run.sc_start, "SafetyCar", "SAFETY CAR DEPLOYED", scope="Track"))
    if not math.isnan(run.sc_in_this_lap):
        out.append(msg(run.sc_in_this_lap, "SafetyCar", "SAFETY CAR IN THIS LAP", scope="Track"))
    if not math.isnan(run.sc_end):
        out.append(msg(run.sc_end, "Flag", "TRACK CLEAR", flag="CLEAR", scope="Track"))
    if not math.isnan(run.chequered):
        out.append(msg(run.chequered, "Flag", "CHEQUERED FLAG", flag="CHEQUERED", scope="Track"))
    return sorted(out, key=lambda m: m.time)
