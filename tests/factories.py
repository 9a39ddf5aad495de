"""Synthetic Timelines for the tests: the one place tests construct a `Timeline`.

Made directly from the contract in `racereplay.timeline.model`, so whatever reads
timelines (codec, store, server) is tested before and independently of the sources
and the timeline build. Three kinds, by what the test needs of the frames:

- `circuit_timeline`: cars on a 5 km circuit with the texture of a real build
  (irregular ~7.5 Hz telemetry interpolated onto the 25 fps clock; a retirement,
  NaN gaps for the leader, lap events). For codecs, whose sizes depend on it.
- `oval_timeline`: cars circling an oval at constant pace, with track geometry,
  lap events and results. For the server: cheap, and what a viewer needs.
- `random_timeline`: random arrays of the contract's dtypes and shapes, NaNs,
  unicode, geometry. For exact round trips (store, decoders).

`timeline_of` assembles any of them and checks every channel against the contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from racereplay.model import Driver, SessionInfo, SessionKind
from racereplay.timeline.model import (
    DRIVER_CHANNELS,
    FPS,
    SESSION_CHANNELS,
    Compound,
    DriverStatus,
    Event,
    EventKind,
    Timeline,
    TrackGeometry,
)

RACE = SessionInfo(2025, "Test Grand Prix", "Race", SessionKind.RACE)


def drivers(n: int, colour: str = "#ffffff") -> list[Driver]:
    """`n` drivers D00, D01, ... numbered from 1, in one team."""
    return [Driver(f"D{i:02d}", str(i + 1), "Team", colour) for i in range(n)]


def timeline_of(
    frames: dict[str, np.ndarray],
    drivers: Sequence[Driver],
    *,
    info: SessionInfo = RACE,
    t0: float = 3600.0,
    events: Sequence[Event] = (),
    laps: Sequence[dict[str, Any]] = (),
    results: Sequence[dict[str, Any]] = (),
    geometry: TrackGeometry | None = None,
    problems: Sequence[str] = (),
) -> Timeline:
    """A Timeline of `frames`, each channel checked against the contract's dtype and shape."""
    n_frames = len(frames["position"])
    expected = {name: (dtype, (n_frames, len(drivers))) for name, dtype in DRIVER_CHANNELS.items()}
    expected |= {name: (dtype, (n_frames,)) for name, dtype in SESSION_CHANNELS.items()}
    assert frames.keys() == expected.keys(), sorted(frames.keys() ^ expected.keys())
    for name, (dtype, shape) in expected.items():
        assert (frames[name].dtype, frames[name].shape) == (dtype, shape), name
    return Timeline(
        info=info,
        drivers=list(drivers),
        t0=t0,
        fps=FPS,
        frames=frames,
        events=list(events),
        laps=list(laps),
        results=list(results),
        geometry=geometry,
        problems=list(problems),
    )


# -- a circuit, with the texture of a real build --------------------------------

LAP_LENGTH = 5000.0  # metres


def _track_xy(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A wobbly closed curve, parameterised (roughly) by distance along the lap."""
    a = 2 * np.pi * (s % LAP_LENGTH) / LAP_LENGTH
    r = 700 + 120 * np.sin(3 * a) + 40 * np.cos(5 * a)
    return (r * np.cos(a)).astype(np.float32), (0.6 * r * np.sin(a) - 150).astype(np.float32)


def circuit_timeline(
    n_frames: int = 3000 + 17, n_drivers: int = 20, seed: int = 0, t0: float = 3600.0
) -> Timeline:
    """Cars on a closed 5 km circuit, speed varying along the lap; the last car retires
    halfway (NaN position channels afterwards); a Safety Car in the second half."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    frames: dict[str, np.ndarray] = {}
    distance = np.empty((n_frames, n_drivers))
    speed = np.empty((n_frames, n_drivers))
    for i in range(n_drivers):
        # Irregular native samples (~7.5 Hz), integrated, then resampled like the real build.
        gaps = rng.uniform(0.08, 0.2, size=int(t[-1] / 0.08) + 10)
        native_t = np.concatenate([[0.0], np.cumsum(gaps)])
        pace = 1 - 0.004 * i
        native_d = np.zeros_like(native_t)
        native_v = np.zeros_like(native_t)
        for j in range(1, len(native_t)):  # test data only: small
            v = pace * (60 + 22 * np.sin(2 * np.pi * native_d[j - 1] / LAP_LENGTH * 4))
            native_v[j] = v
            native_d[j] = native_d[j - 1] + v * gaps[j - 1]
        native_d -= 25.0 * i  # grid slots
        native_v[0] = native_v[1]
        distance[:, i] = np.interp(t, native_t, native_d)
        speed[:, i] = np.round(np.interp(t, native_t, native_v) * 3.6, 2)
    x, y = _track_xy(distance)
    frames["x"], frames["y"] = x, y
    frames["speed"] = speed.astype(np.float32)
    frames["distance"] = distance.astype(np.float32)
    frames["gear"] = np.clip(speed // 45 + 1, 1, 8).astype(np.int8)
    frames["rpm"] = (7000 + (speed % 45) * 180).astype(np.uint16)
    frames["throttle"] = np.where(np.diff(speed, axis=0, prepend=speed[:1]) >= 0, 100, 0).astype(
        np.uint8
    )
    frames["brake"] = np.where(frames["throttle"] == 0, 100, 0).astype(np.uint8)
    frames["drs"] = ((distance % LAP_LENGTH) > 4200).astype(np.uint8) * 2
    frames["lap"] = (np.maximum(distance, 0) // LAP_LENGTH + 1).astype(np.uint16)
    order = np.argsort(-distance, axis=1, kind="stable")
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(1, n_drivers + 1)[None, :], axis=1)
    frames["position"] = position.astype(np.uint8)
    leader = distance.max(axis=1, keepdims=True)
    gap = ((leader - distance) / np.maximum(speed / 3.6, 1)).astype(np.float32)
    gap[position == 1] = np.nan
    frames["gap"] = gap
    ahead = np.take_along_axis(
        distance, np.maximum(np.take_along_axis(order, position - 2, 1), 0), 1
    )
    interval = ((ahead - distance) / np.maximum(speed / 3.6, 1)).astype(np.float32)
    interval[position == 1] = np.nan
    frames["interval"] = interval
    frames["compound"] = np.full((n_frames, n_drivers), Compound.INTERMEDIATE, np.uint8)
    frames["tyre_age"] = (frames["lap"] // 2).astype(np.uint8)
    frames["status"] = np.full((n_frames, n_drivers), DriverStatus.RUNNING, np.uint8)
    frames["gap_laps"] = ((leader - distance) // LAP_LENGTH).astype(np.uint8)
    frames["interval_laps"] = ((ahead - distance) // LAP_LENGTH).clip(0).astype(np.uint8)
    # The last car retires halfway: its position channels become missing.
    out = n_frames // 2
    frames["status"][out:, -1] = DriverStatus.RETIRED
    frames["position"][out:, -1] = 0
    for name in ("x", "y", "speed", "distance", "gap", "interval"):
        frames[name][out:, -1] = np.nan
    frames["leader_lap"] = frames["lap"].max(axis=1).astype(np.uint16)
    frames["track_status"] = np.where(t > t[-1] / 2, 4, 1).astype(np.uint8)
    cars = drivers(n_drivers)
    events = [
        Event(
            t0 + k / FPS, EventKind.LAP, cars[k % n_drivers].code, {"lap": 1, "lap_time": math.nan}
        )
        for k in range(5, n_frames, 97)
    ] + [Event(t0 - 10.0, EventKind.MESSAGE, None, {"message": "GREEN LIGHT"})]
    info = SessionInfo(2025, "Synthetic Grand Prix", "Race", SessionKind.RACE)
    return timeline_of(frames, cars, info=info, t0=t0, events=events)


# -- an oval, for the server ----------------------------------------------------

OVAL_LAP_SECONDS = 20.0


def oval_timeline(cars: int = 4, laps: int = 3) -> Timeline:
    """`cars` cars circling a 500 x 300 m oval, car i 1 % slower than car i - 1, for
    `laps` laps of 20 s plus a second; no timing (gaps NaN); t0 = 1000 s."""
    n = int(laps * OVAL_LAP_SECONDS * FPS) + FPS
    t = np.arange(n) / FPS
    frames: dict[str, np.ndarray] = {}
    for name, dtype in DRIVER_CHANNELS.items():
        frames[name] = np.zeros((n, cars), dtype=dtype)
    pace = 1.0 + 0.01 * np.arange(cars)  # car i is 1 % slower than car i - 1
    angle = 2 * math.pi * t[:, None] / (OVAL_LAP_SECONDS * pace[None, :])
    frames["x"][:] = 500 * np.cos(angle)
    frames["y"][:] = 300 * np.sin(angle)
    frames["speed"][:] = 250.0
    frames["lap"][:] = np.minimum(angle // (2 * math.pi) + 1, laps).astype(np.uint16)
    frames["distance"][:] = angle * 250
    frames["position"][:] = np.arange(1, cars + 1, dtype=np.uint8)
    frames["gap"][:] = np.nan  # no timing in this toy: explicit missing values
    frames["status"][:] = 1
    for name, dtype in SESSION_CHANNELS.items():
        frames[name] = np.zeros(n, dtype=dtype)
    frames["leader_lap"][:] = frames["lap"][:, 0]
    frames["track_status"][:] = 1
    field = drivers(cars, colour="#ff0000")
    t0 = 1000.0
    events = [
        Event(t0 + lap * OVAL_LAP_SECONDS, EventKind.LAP, "D00", {"lap": lap, "lap_time": 20.0})
        for lap in range(1, laps + 1)
    ]
    outline = np.stack(
        [500 * np.cos(np.linspace(0, 6.28, 50)), 300 * np.sin(np.linspace(0, 6.28, 50))], 1
    )
    geometry = TrackGeometry(
        outline.astype(np.float32),
        12.0,
        [1000.0, 2000.0],
        [],
        np.zeros((0, 2), np.float32),
        0.0,
        2550.0,
    )
    return timeline_of(
        frames,
        field,
        info=SessionInfo(2025, "Test Grand Prix", "Race", SessionKind.RACE, total_laps=laps),
        t0=t0,
        events=events,
        laps=[{"driver": "D00", "lap": 1, "lap_time": float("nan")}],
        results=[{"driver": d.code, "position": i + 1} for i, d in enumerate(field)],
        geometry=geometry,
    )


# -- random arrays, for exact round trips -----------------------------------------


def _random_array(
    rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...], values: str
) -> np.ndarray:
    if values == "any":
        if dtype.kind == "f":
            return rng.normal(scale=1000, size=shape).astype(dtype)
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if dtype.kind == "f":  # a random walk around 1000, as positions and distances move
        return (np.cumsum(rng.normal(0, 30, shape), axis=0) + 1000).astype(dtype)
    if len(shape) == 1:  # session channels: small codes
        return rng.integers(1, 8, shape).astype(dtype)
    return rng.integers(0, min(int(np.iinfo(dtype).max), 300) + 1, shape).astype(dtype)


def random_timeline(
    n_frames: int = 500,
    n_drivers: int = 4,
    seed: int = 1,
    *,
    values: Literal["any", "walk"] = "any",
    cars: Sequence[Driver] | None = None,
    t0: float = 3500.04,
) -> Timeline:
    """Random frames of the contract's dtypes (`values="any"`: anything each dtype
    holds; `"walk"`: floats as random walks, integers up to 300, session codes 1-7),
    some gaps NaN, and every other field filled: events with NaN and unicode, a lap
    table, results, geometry with corners, problems. `cars` replaces D00, D01, ..."""
    rng = np.random.default_rng(seed)
    n_drivers = len(cars) if cars is not None else n_drivers
    frames = {
        name: _random_array(rng, dtype, (n_frames, n_drivers), values)
        for name, dtype in DRIVER_CHANNELS.items()
    }
    for name, dtype in SESSION_CHANNELS.items():
        frames[name] = _random_array(rng, dtype, (n_frames,), values)
    frames["gap"][::7, 0] = np.nan  # missing values must survive
    field = (
        list(cars)
        if cars is not None
        else [
            Driver(f"D{i:02d}", str(i + 1), f"Team {i}", "#3671C6", f"Driver {i}")
            for i in range(n_drivers)
        ]
    )
    first = field[0].code
    events = [
        Event(
            10.5,
            EventKind.LAP,
            first,
            {"lap": 1, "lap_time": 91.25, "sectors": [30.1, math.nan, 31.0]},
        ),
        Event(12.0, EventKind.TRACK_STATUS, None, {"status": 4, "label": "Safety Car"}),
        Event(13.0, EventKind.MESSAGE, None, {"message": "CAR 1 (VER) - ünïcode ✓", "lap": None}),
    ]
    geometry = TrackGeometry(
        outline=rng.normal(size=(300, 2)).astype(np.float32),
        width=12.0,
        sector_starts=[1800.5, 3600.25],
        corners=[{"number": 1, "letter": "", "x": 1.0, "y": 2.0, "angle": 90.0, "distance": 300.0}],
        pit_lane=np.empty((0, 2), dtype=np.float32),
        rotation=44.0,
        length=5278.0,
    )
    return timeline_of(
        frames,
        field,
        info=SessionInfo(
            2025, "Test Grand Prix", "Race", SessionKind.RACE, "Nowhere", "2025-03-16", 3600.0, 57
        ),
        t0=t0,
        events=events,
        laps=[
            {"driver": first, "number": 1, "lap_time": 91.25, "compound": None, "pit_in": math.nan}
        ],
        results=[{"driver": first, "position": 1, "status": "Finished"}],
        geometry=geometry,
        problems=["D03 has no telemetry for lap 4"],
    )


# -- a race with pit stops of a known cost, for the pit-exit ghost ---------------

PIT_LAP_LENGTH = 2000.0  # metres
PIT_LAP_SECONDS = 40.0  # the fastest car's lap; car i is 1.5 s a lap slower per place
PIT_LANE_SECONDS = 30.0  # entry to exit; the stop costs `loss` of it


def pit_race_timeline(
    cars: int = 6,
    laps: int = 20,
    loss: float = 20.0,
    stops: bool = True,
    sc_cars: Sequence[int] = (),
    sc_loss: float = 12.0,
) -> Timeline:
    """A race of `cars` cars at constant pace (car i 1.5 s a lap slower than car i - 1),
    each stopping once (car i at the end of lap 2 + 3 i, unless `stops` is False): from
    pit entry, 300 m before the line, to pit exit 30 s later it falls `loss` seconds
    behind its own schedule. The stops of `sc_cars` are under the Safety Car (the track
    status is SC from 5 s before pit entry to 5 s after exit) and cost `sc_loss` (this toy
    field does not slow down behind it). Gaps, positions
    and statuses come from the build's own order functions; lap table and PIT_STOP
    events as a build makes them. t0 = 0, lights out at 0."""
    from racereplay.timeline import order as ordering

    field = drivers(cars)
    t_end = laps * (PIT_LAP_SECONDS + 1.5 * cars) + 2 * loss + 60.0
    t = np.arange(int(t_end * FPS)) / FPS
    pace = PIT_LAP_LENGTH / (PIT_LAP_SECONDS + 1.5 * np.arange(cars))  # m/s
    distance = np.empty((len(t), cars))
    pits: list[tuple[float, float, int]] = []  # pit in, pit out, in-lap
    for i in range(cars):
        lost = np.zeros_like(t)
        stop_lap = 2 + 3 * i
        if stops and stop_lap < laps:
            cost = sc_loss if i in sc_cars else loss
            pit_in = (stop_lap * PIT_LAP_LENGTH - 300.0 + 8.0 * i) / pace[i]
            lost = cost * np.clip((t - pit_in) / PIT_LANE_SECONDS, 0.0, 1.0)
            pits.append((pit_in, pit_in + PIT_LANE_SECONDS, stop_lap))
        else:
            pits.append((math.nan, math.nan, 0))
        distance[:, i] = pace[i] * (t - lost) - 8.0 * i
    status = np.full(distance.shape, DriverStatus.RUNNING, np.uint8)
    for i, (pit_in, pit_out, _) in enumerate(pits):
        status[(t >= pit_in) & (t < pit_out), i] = DriverStatus.PIT_LANE
    no_finish = np.full(cars, np.inf)
    order = ordering.race_order(distance, status, no_finish, np.zeros(cars), np.full(cars, np.nan))
    frames = {name: np.zeros((len(t), cars), dtype=dt) for name, dt in DRIVER_CHANNELS.items()}
    frames["distance"][:] = distance
    frames["status"][:] = status
    frames["position"][:] = ordering.positions_from_order(order)
    gap = ordering.gap_to_leader(t, distance, status, no_finish, 0.0)
    frames["gap"][:] = gap
    frames["interval"][:] = ordering.interval_to_car_ahead(gap, order)
    frames["lap"][:] = np.clip(distance // PIT_LAP_LENGTH + 1, 0, laps).astype(np.uint16)
    frames["speed"][:] = 180.0
    frames["x"][:] = np.nan
    frames["y"][:] = np.nan
    frames["leader_lap"] = frames["lap"].max(axis=1).astype(np.uint16)
    track = np.full(len(t), 1, np.uint8)
    rows: list[dict[str, Any]] = []
    events: list[Event] = []
    for i, code in enumerate(d.code for d in field):
        ends = np.interp(np.arange(1, laps + 1) * PIT_LAP_LENGTH, distance[:, i], t)
        starts = np.concatenate([[0.0], ends[:-1]])
        pit_in, pit_out, in_lap = pits[i]
        for n in range(1, laps + 1):
            rows.append(
                {
                    "driver": code,
                    "lap": n,
                    "start": round(float(starts[n - 1]), 3),
                    "end": round(float(ends[n - 1]), 3),
                    "lap_time": round(float(ends[n - 1] - starts[n - 1]), 3),
                    "pit_in": round(pit_in, 3) if n == in_lap else None,
                    "pit_out": round(pit_out, 3) if in_lap and n == in_lap + 1 else None,
                }
            )
        if in_lap:
            events.append(
                Event(
                    pit_out,
                    EventKind.PIT_STOP,
                    code,
                    {"lap": in_lap, "duration": pit_out - pit_in, "stationary": 2.5},
                )
            )
            if i in sc_cars:
                track[(t >= pit_in - 5.0) & (t <= pit_out + 5.0)] = 4
    frames["track_status"] = track
    events.sort(key=lambda e: e.time)
    info = SessionInfo(
        2025, "Pit Grand Prix", "Race", SessionKind.RACE, start_time=0.0, total_laps=laps
    )
    return timeline_of(frames, field, info=info, t0=0.0, events=events, laps=rows)
