"""A realistic synthetic Timeline for the codec tests (no source or build needed).

Cars run laps of a closed 5 km circuit with a speed profile that varies along the
lap; telemetry is made at an irregular ~7.5 Hz, as the real feed is, and linearly
interpolated onto the 25 fps clock, so the x/y/distance series have the same
piecewise-linear texture as a real timeline. One car retires (NaN position
channels afterwards), gaps are NaN for the leader, and there are lap events.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from typing import Any

import numpy as np
import pytest

from racereplay.codec import decode_chunk, get_codec
from racereplay.codec.compact import COMPACT_DRIVER_CHANNELS, COMPACT_SESSION_CHANNELS
from racereplay.model import Driver, SessionInfo, SessionKind
from racereplay.timeline.model import (
    DRIVER_CHANNELS,
    FPS,
    Compound,
    DriverStatus,
    Event,
    EventKind,
    Timeline,
)

LAP_LENGTH = 5000.0


def _track_xy(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A wobbly closed curve, parameterised (roughly) by distance along the lap."""
    a = 2 * np.pi * (s % LAP_LENGTH) / LAP_LENGTH
    r = 700 + 120 * np.sin(3 * a) + 40 * np.cos(5 * a)
    return (r * np.cos(a)).astype(np.float32), (0.6 * r * np.sin(a) - 150).astype(np.float32)


def make_timeline(
    n_frames: int = 3000 + 17, n_drivers: int = 20, seed: int = 0, t0: float = 3600.0
) -> Timeline:
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
    lap_len = 5000.0
    frames["gap_laps"] = ((leader - distance) // lap_len).astype(np.uint8)
    frames["interval_laps"] = ((ahead - distance) // lap_len).clip(0).astype(np.uint8)
    # The last car retires halfway: its position channels become missing.
    out = n_frames // 2
    frames["status"][out:, -1] = DriverStatus.RETIRED
    frames["position"][out:, -1] = 0
    for name in ("x", "y", "speed", "distance", "gap", "interval"):
        frames[name][out:, -1] = np.nan
    frames["leader_lap"] = frames["lap"].max(axis=1).astype(np.uint16)
    frames["track_status"] = np.where(t > t[-1] / 2, 4, 1).astype(np.uint8)
    for name, dtype in DRIVER_CHANNELS.items():
        assert frames[name].dtype == dtype, name
    codes = [f"D{i:02d}" for i in range(n_drivers)]
    events = [
        Event(t0 + k / FPS, EventKind.LAP, codes[k % n_drivers], {"lap": 1, "lap_time": math.nan})
        for k in range(5, n_frames, 97)
    ] + [Event(t0 - 10.0, EventKind.MESSAGE, None, {"message": "GREEN LIGHT"})]
    return Timeline(
        info=SessionInfo(2025, "Synthetic Grand Prix", "Race", SessionKind.RACE),
        drivers=[Driver(c, str(i + 1), "Team", "#ffffff") for i, c in enumerate(codes)],
        t0=t0,
        fps=FPS,
        frames=frames,
        events=events,
        laps=[],
        results=[],
        geometry=None,
    )


SPECS = {spec.name: spec for spec in COMPACT_DRIVER_CHANNELS + COMPACT_SESSION_CHANNELS}


def check_round_trip(timeline: Timeline, rate: int, index: int) -> None:
    """Decode one compact chunk and compare it to the timeline within the stated quantisation."""
    codec = get_codec("compact")
    decoded = decode_chunk(codec.encode_chunk(timeline, rate, index)[0])
    frames = codec.frames_of_chunk(timeline, rate, index)
    np.testing.assert_array_equal(decoded.frames, frames)
    np.testing.assert_allclose(decoded.times, timeline.t0 + frames / timeline.fps)
    assert (decoded.index, decoded.rate) == (index, rate)
    for name, spec in SPECS.items():
        original = timeline.frames[name][frames]
        got = decoded.channels[name]
        assert got.shape == original.shape and got.dtype == original.dtype, name
        if spec.is_float:
            np.testing.assert_array_equal(np.isnan(got), np.isnan(original), err_msg=name)
            ok = ~np.isnan(original)
            step = 1 / spec.scale
            error = np.abs(got[ok].astype(np.float64) - original[ok].astype(np.float64))
            # Half a step, plus float32 rounding of values in the thousands of metres.
            tolerance = step / 2 + 1e-3 + 1e-6 * np.abs(original[ok])
            assert np.all(error <= tolerance), f"{name}: max error {error.max()}"
        elif spec.scale == 1:
            np.testing.assert_array_equal(got, original, err_msg=name)
        else:
            assert np.all(np.abs(got.astype(np.int64) - original) <= 0.5 / spec.scale), name


def landed(module: str, name: str) -> Any:
    """`module.name` from another engineer's work, or a skip while it has not landed.

    Unlike importorskip, an import that fails inside an existing module is an error.
    """
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} has not landed yet")
    found = getattr(importlib.import_module(module), name, None)
    if found is None:
        pytest.skip(f"{module}.{name} has not landed yet")
    return found
