"""Telemetry samples at irregular times (4-8 Hz), interpolated from the simulator's ticks.

Between two ticks a car moves linearly in profile time (motion.py), so distance,
speed and position at any sample time are exact on the profile, and the lap
crossings (computed the same way) agree with the samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from racereplay.model import Telemetry, drs_from_f1_code
from racereplay.sources.demo.motion import PIT, Motion
from racereplay.sources.demo.track import TOP_SPEED, Track

MIN_GAP, MAX_GAP = 0.12, 0.25  # seconds between samples: 4-8 Hz, 5.4 Hz on average
# Upper speed of each gear, km/h (gear 8 tops out at the top speed).
GEAR_TOP = np.array([0, 95, 130, 165, 200, 235, 270, 300, TOP_SPEED * 3.6 + 5])
IDLE_RPM = 4_000.0


def sample_times(rng: np.random.Generator, start: float, end: float) -> np.ndarray:
    """Irregular sample times from `start` to `end` (inclusive of neither bound exactly)."""
    count = int((end - start) / MIN_GAP) + 2
    times = start + np.cumsum(rng.uniform(MIN_GAP, MAX_GAP, count))
    return times[times < end]


def sample_car(
    track: Track,
    motion: Motion,
    dt: float,
    distance: np.ndarray,
    mode: np.ndarray,
    drs_code: np.ndarray,
    times: np.ndarray,
    lateral: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[Telemetry, np.ndarray]:
    """One car's telemetry at `times` from its per-tick columns (tick k at k * dt).

    `lateral(d)` moves the car sideways (metres left of the centre line) as a function of
    its total distance `d`: grid slots, pulling off to retire. Returns the telemetry and
    `d` at each sample."""
    tick = np.minimum((times / dt).astype(np.int64), len(distance) - 2)
    frac = times / dt - tick
    m = mode[tick].astype(np.int64)
    a = motion.to_profile_time(distance[tick], m)
    b = motion.to_profile_time(distance[tick + 1], m)
    d = motion.to_distance(a + frac * (b - a), m)
    speed = motion.profile_speed(d, m) * (b - a) / dt  # m/s
    side = np.where(m == PIT, np.interp(np.mod(d, track.length), track.s, track.pit_offset), 0.0)
    if lateral is not None:
        side = side + lateral(d)
    x, y, z = track.position(d, side)
    kmh = speed * 3.6
    gear, rpm = _gear_and_rpm(kmh)
    throttle, brake = _pedals(speed, times)
    telemetry = Telemetry(
        time=times.astype(np.float64),
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        z=z.astype(np.float32),
        speed=kmh.astype(np.float32),
        rpm=rpm.astype(np.float32),
        gear=gear.astype(np.int8),
        throttle=throttle.astype(np.float32),
        brake=brake.astype(np.float32),
        drs=drs_from_f1_code(drs_code[tick]),
        distance=np.maximum.accumulate(d - d[0]),
    )
    return telemetry, d


def _gear_and_rpm(kmh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gear = np.clip(np.searchsorted(GEAR_TOP, kmh), 1, 8)
    low, high = GEAR_TOP[gear - 1], GEAR_TOP[gear]
    rpm = 9_800 + 2_000 * (kmh - low) / (high - low)
    stationary = kmh < 1.0
    return np.where(stationary, 0, gear), np.where(stationary, IDLE_RPM, np.clip(rpm, 0, 12_500))


def _pedals(speed: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Throttle % and brake (0/1, as F1 data) from the longitudinal acceleration."""
    accel = np.gradient(speed, times) if len(times) > 1 else np.zeros_like(speed)
    brake = accel < -4.0
    cruise = np.clip(30 + 70 * speed / TOP_SPEED, 0, 100)
    throttle = np.where(brake, 0.0, np.where(accel > 0.5, 100.0, cruise))
    throttle[speed < 0.3] = 0.0
    return throttle, brake.astype(np.float64)
