"""Qualifying and practice as a `RawSession`: runs from the box, timed laps, no traffic.

Qualifying is driven segment by segment: who takes part in Q2 (and Q3) is
decided from the lap times actually set in Q1 (Q2), as the timing does.

Between runs a car is in its garage and has no telemetry (the timeline holds it
at its last position, the pit box). Laps are numbered per driver through the
session; every lap has a time, the out- and in-laps too (they are slow), as in
FastF1's qualifying laps. The `position` of a lap is the qualifying position at
its end: by best timed lap in the current segment; cars without a time yet in
it by their standing in the previous segment; eliminated cars below, in their
final order. Race control publishes what F1 publishes for a session: "GREEN
LIGHT - PIT EXIT OPEN" when a segment starts and "CHEQUERED FLAG" when it ends
(F1's session status stream, Started/Finished, is not part of the raw model);
the track status stays green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
from racereplay.sources.demo.race import COMPOUNDS, DT
from racereplay.sources.demo.race_session import CIRCUIT, EVENT
from racereplay.sources.demo.schedule import (
    IN_PACE,
    OUT_PACE,
    QUALIFYING_BREAKS,
    Run,
    practice_runs,
    qualifying_lengths,
    qualifying_runs,
)
from racereplay.sources.demo.solo import IN, OUT, TIMED, Estimates, SoloField
from racereplay.sources.demo.telemetry import sample_car, sample_times
from racereplay.sources.demo.track import BOX_AT, PIT_ENTRY, PIT_EXIT, Track, build_track
from racereplay.sources.demo.weather import simulate_weather

SEGMENT_NAMES = ("Q1", "Q2", "Q3")
BOX_IDLE = (2.0, 8.0)  # seconds of telemetry standing in the box before and after a run
NO_TIME = 1e4  # score offsets in the standings: after every lap time
ELIMINATED = 2e4


@dataclass(frozen=True)
class Format:
    kind: SessionKind
    name: str
    lengths: np.ndarray  # seconds of running in each segment
    breaks: tuple[float, ...]  # seconds between segments
    eliminated: int  # cars out after each segment but the last
    date: str  # Saturday for qualifying, Friday for practice (the race is on Sunday)

    def times(self, start: float) -> tuple[np.ndarray, np.ndarray]:
        """Session times of each segment's green light and chequered flag."""
        starts, flags = [start], [start + self.lengths[0]]
        for length, pause in zip(self.lengths[1:], self.breaks, strict=True):
            starts.append(flags[-1] + pause)
            flags.append(starts[-1] + length)
        return np.array(starts), np.array(flags)


@dataclass
class CarTiming:
    """One car's laps (0-based lap index = lap number - 1), all as arrays."""

    kind: np.ndarray  # OUT, TIMED, IN
    start: np.ndarray
    end: np.ndarray
    s1: np.ndarray  # session time of the sector 1 / 2 lines
    s2: np.ndarray
    pit_out: np.ndarray  # NaN but on out-laps
    pit_in: np.ndarray  # NaN but on in-laps
    boxed: np.ndarray  # arrival in the box after an in-lap, NaN on other laps
    segment: np.ndarray
    stint: np.ndarray
    compound: np.ndarray
    age: np.ndarray  # laps on the set at the end of the lap

    @property
    def lap_time(self) -> np.ndarray:
        return self.end - self.start


class _Record:
    """What was planned per lap (segment, stint, tyres), filled as runs are added."""

    def __init__(self, cars: int) -> None:
        self.segment: list[list[int]] = [[] for _ in range(cars)]
        self.stint: list[list[int]] = [[] for _ in range(cars)]
        self.compound: list[list[int]] = [[] for _ in range(cars)]
        self.age: list[list[int]] = [[] for _ in range(cars)]

    def add(self, car: int, laps: range, segment: int, compound: int) -> None:
        stint = (self.stint[car][-1] if self.stint[car] else 0) + 1
        self.segment[car] += [segment] * len(laps)
        self.stint[car] += [stint] * len(laps)
        self.compound[car] += [compound] * len(laps)
        self.age[car] += list(range(1, len(laps) + 1))


def simulate_qualifying(
    seed: int, cars: int, minutes: float, progress: Progress | None = None
) -> RawSession:
    fmt = Format(
        SessionKind.QUALIFYING,
        "Qualifying",
        qualifying_lengths(minutes),
        QUALIFYING_BREAKS,
        cars // 4,
        "2025-03-15",
    )
    return _simulate(fmt, seed, cars, progress)


def simulate_practice(
    seed: int, cars: int, minutes: float, progress: Progress | None = None
) -> RawSession:
    fmt = Format(
        SessionKind.PRACTICE, "Practice 1", np.array([minutes * 60.0]), (), 0, "2025-03-14"
    )
    return _simulate(fmt, seed, cars, progress)


def _simulate(fmt: Format, seed: int, cars: int, progress: Progress | None) -> RawSession:
    report = progress or (lambda fraction, what: None)
    rng = np.random.default_rng(seed)
    track = build_track()
    motion = Motion(track)
    drivers = make_drivers(cars)
    pace = make_pace(rng, cars)
    start = 120.0 + DT * int(rng.integers(0, 60))
    starts, flags = fmt.times(start)
    estimates = Estimates.of(motion, track, OUT_PACE, IN_PACE)
    lap_time = float(motion.lap_time[RACING])
    max_laps = int((flags[-1] - start) / (0.9 * lap_time)) + 8
    field = SoloField(track, motion, cars, max_laps, flags[-1] + 900.0)
    record = _Record(cars)
    participants = np.arange(cars)
    orders: list[np.ndarray] = []
    for segment in range(len(fmt.lengths)):
        report(0.05 + 0.5 * segment / len(fmt.lengths), f"simulating {_label(fmt, segment)}")
        for car in participants:
            for run in _runs(fmt, rng, pace[car], segment, starts, flags, estimates, lap_time):
                kinds = np.array([OUT] + [TIMED] * run.timed_laps + [IN])
                paces = np.concatenate(([OUT_PACE], run.paces, [IN_PACE]))
                laps = field.add_run(int(car), run.leave, paces, kinds)
                record.add(int(car), laps, segment, run.compound)
        field.drive(linger=BOX_IDLE[1] + DT)
        order = _segment_order(field, record, participants, segment)
        orders.append(order)
        out = fmt.eliminated if segment < len(fmt.lengths) - 1 else 0
        participants = np.sort(order[: len(order) - out])
    report(0.6, "timing")
    timings = [_timing(field, record, car) for car in range(cars)]
    final = _final_order(orders)
    positions = _positions(timings, starts, orders, final)
    report(0.7, "sampling telemetry")
    end = field.tick * DT
    telemetry = _telemetry(np.random.default_rng([seed, 1]), track, field, timings, drivers)
    session = RawSession(
        info=SessionInfo(
            year=2025,
            event=EVENT,
            name=fmt.name,
            kind=fmt.kind,
            circuit=CIRCUIT,
            date=fmt.date,
            start_time=float(start),
            total_laps=None,
        ),
        drivers=drivers,
        telemetry=telemetry,
        laps=_laps(drivers, timings, positions),
        track_status=[TrackStatusInterval(0.0, math.nan, TrackStatusCode.GREEN)],
        messages=_messages(starts, flags),
        weather=simulate_weather(np.random.default_rng([seed, 2]), end),
        results=_results(drivers, timings, final),
        circuit=track.info(),
    )
    report(1.0, "done")
    return session


def _label(fmt: Format, segment: int) -> str:
    return SEGMENT_NAMES[segment] if len(fmt.lengths) > 1 else fmt.name.lower()


def _runs(
    fmt: Format,
    rng: np.random.Generator,
    pace: float,
    segment: int,
    starts: np.ndarray,
    flags: np.ndarray,
    estimates: Estimates,
    lap_time: float,
) -> list[Run]:
    start, flag = float(starts[segment]), float(flags[segment])
    out_lap, in_lap = estimates.out_lap, estimates.in_lap
    if fmt.kind == SessionKind.PRACTICE:
        return practice_runs(rng, pace, start, flag, out_lap, in_lap, lap_time)
    return qualifying_runs(rng, pace, segment, start, flag, out_lap, in_lap, lap_time)


def _timing(field: SoloField, record: _Record, car: int) -> CarTiming:
    count = int(field.laps[car])
    length, track = field.length, field.track
    index = np.arange(count)
    base = index * length
    kind = field.kind[car, :count].astype(np.int64)
    end = field.reach(car, base + length)
    start = np.concatenate(([math.nan], end[:-1]))
    out = kind == OUT
    start[out] = field.departures(car, base[out] + BOX_AT)
    sectors = field.reach(car, np.concatenate((base + track.sectors[0], base + track.sectors[1])))
    pit_out = np.full(count, math.nan)
    pit_out[out] = field.reach(car, base[out] + PIT_EXIT)
    into = kind == IN
    pit_in = np.full(count, math.nan)
    pit_in[into] = field.reach(car, base[into] + length - PIT_ENTRY)
    boxed = np.full(count, math.nan)
    boxed[into] = field.reach(car, base[into] + length + BOX_AT)
    return CarTiming(
        kind=kind,
        start=start,
        end=end,
        s1=sectors[:count],
        s2=sectors[count:],
        pit_out=pit_out,
        pit_in=pit_in,
        boxed=boxed,
        segment=np.array(record.segment[car], dtype=np.int64),
        stint=np.array(record.stint[car], dtype=np.int64),
        compound=np.array(record.compound[car], dtype=np.int64),
        age=np.array(record.age[car], dtype=np.int64),
    )


def _best_in_segment(timing: CarTiming, segment: int) -> float:
    mine = (timing.kind == TIMED) & (timing.segment == segment)
    return float(timing.lap_time[mine].min()) if mine.any() else math.inf


def _segment_order(
    field: SoloField, record: _Record, participants: np.ndarray, segment: int
) -> np.ndarray:
    """Participants by best timed lap in the segment (every one of them set a time)."""
    best = np.array(
        [_best_in_segment(_timing(field, record, int(c)), segment) for c in participants]
    )
    if not np.isfinite(best).all():
        raise RuntimeError("a car set no time in its qualifying segment: simulator bug")
    return participants[np.argsort(best, kind="stable")]


def _final_order(orders: list[np.ndarray]) -> np.ndarray:
    """The classification: the last segment's order, then each earlier segment's eliminated."""
    final = list(orders[-1])
    for order in reversed(orders[:-1]):
        final += [car for car in order if car not in final]
    return np.array(final, dtype=np.int64)


def _positions(
    timings: list[CarTiming], starts: np.ndarray, orders: list[np.ndarray], final: np.ndarray
) -> list[np.ndarray]:
    """Each car's qualifying position at the end of each of its laps (see module docstring)."""
    cars = len(timings)
    queries = np.concatenate([t.end for t in timings])
    segment_of = np.searchsorted(starts, queries, side="right") - 1
    final_place = np.empty(cars)
    final_place[final] = np.arange(cars)
    score = np.full((len(queries), cars), math.nan)
    for segment, order in enumerate(orders):
        now = segment_of == segment
        previous = orders[segment - 1] if segment else np.arange(cars)
        standing = np.empty(cars)
        standing[previous] = np.arange(len(previous))
        score[now] = ELIMINATED + final_place  # overwritten below for the participants
        for car in order:
            best = _best_so_far(timings[car], segment, queries[now])
            score[now, car] = np.where(np.isfinite(best), best, NO_TIME + standing[car])
    place = np.argsort(np.argsort(score, axis=1, kind="stable"), axis=1, kind="stable") + 1
    bounds = np.cumsum([0] + [len(t.end) for t in timings])
    return [place[bounds[car] : bounds[car + 1], car] for car in range(cars)]


def _best_so_far(timing: CarTiming, segment: int, at: np.ndarray) -> np.ndarray:
    """The car's best timed lap in `segment` among laps ended by each time in `at`."""
    mine = (timing.kind == TIMED) & (timing.segment == segment)
    if not mine.any():
        return np.full(len(at), math.inf)
    ends, best = timing.end[mine], np.minimum.accumulate(timing.lap_time[mine])
    done = np.searchsorted(ends, at, side="right") - 1
    return np.where(done >= 0, best[np.maximum(done, 0)], math.inf)


def _laps(
    drivers: list[Driver], timings: list[CarTiming], positions: list[np.ndarray]
) -> list[Lap]:
    out: list[Lap] = []
    for driver, t, position in zip(drivers, timings, positions, strict=True):
        for j in range(len(t.end)):
            out.append(
                Lap(
                    driver=driver.code,
                    number=j + 1,
                    start=float(t.start[j]),
                    end=float(t.end[j]),
                    lap_time=float(t.end[j] - t.start[j]),
                    sector_times=(
                        float(t.s1[j] - t.start[j]),
                        float(t.s2[j] - t.s1[j]),
                        float(t.end[j] - t.s2[j]),
                    ),
                    compound=COMPOUNDS[int(t.compound[j])],
                    tyre_age=int(t.age[j]),
                    stint=int(t.stint[j]),
                    pit_in=float(t.pit_in[j]),
                    pit_out=float(t.pit_out[j]),
                    position=int(position[j]),
                )
            )
    return out


def _telemetry(
    rng: np.random.Generator,
    track: Track,
    field: SoloField,
    timings: list[CarTiming],
    drivers: list[Driver],
) -> dict[str, Telemetry]:
    """Samples while a car is out (plus a few seconds standing in the box each side)."""
    out: dict[str, Telemetry] = {}
    for car, (driver, timing) in enumerate(zip(drivers, timings, strict=True)):
        leaves = timing.start[timing.kind == OUT]
        boxed = timing.boxed[timing.kind == IN]
        windows = [
            sample_times(rng, a - rng.uniform(*BOX_IDLE), b + rng.uniform(*BOX_IDLE))
            for a, b in zip(leaves, boxed, strict=True)
        ]
        times = np.concatenate(windows)
        distance, mode = field.columns(car)
        drs = field.drs[: field.tick + 1, car]
        out[driver.code], _ = sample_car(track, field.motion, DT, distance, mode, drs, times)
    return out


def _messages(starts: np.ndarray, flags: np.ndarray) -> list[RaceControlMessage]:
    out = [RaceControlMessage(float(starts[0]) - 30.0, "Drs", "DRS ENABLED")]
    for start, flag in zip(starts, flags, strict=True):
        out.append(
            RaceControlMessage(
                float(start), "Flag", "GREEN LIGHT - PIT EXIT OPEN", flag="GREEN", scope="Track"
            )
        )
        out.append(
            RaceControlMessage(
                float(flag), "Flag", "CHEQUERED FLAG", flag="CHEQUERED", scope="Track"
            )
        )
    return out


def _results(drivers: list[Driver], timings: list[CarTiming], final: np.ndarray) -> list[Result]:
    return [
        Result(
            driver=drivers[car].code,
            grid=None,
            position=place,
            classified=str(place),
            status="Finished",
            laps=len(timings[car].end),
        )
        for place, car in enumerate(final, start=1)
    ]
