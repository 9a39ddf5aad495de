"""Telemetry onto the frame grid, one driver at a time.

The build runs drivers on threads (timeline/build.py): the work is numpy's
interpolation and searches, which release the GIL, and the results go straight into
the frames without the pickling a process pool would need.
"""

from __future__ import annotations

import numpy as np

from racereplay.model import Telemetry

# Continuous channels are interpolated linearly between samples (x and y: see _on_path).
INTERPOLATED = ("speed", "rpm", "throttle", "distance")
POSITION = ("x", "y")
# Discrete channels keep the previous sample's value (a gear is never 3.5).
HELD = ("gear", "brake", "drs")
# Channels that mean "the car is moving": zero outside the driver's data.
ZERO_OUTSIDE = ("speed", "rpm", "throttle", "gear", "brake", "drs")

# Metres over which the path's arc length is matched to the driven distance: long
# enough to average out position jitter (a sample every ~10 m), short enough to
# follow a real difference (a wider line through a corner).
PATH_SMOOTHING = 200.0
PATH_SMOOTHING_STEP = 5.0

# A break in the samples longer than this is no data, not a car moving slowly.
NO_DATA_GAP_S = 5.0

Arrays = dict[str, np.ndarray]


def resample_driver(time: np.ndarray, channels: Arrays, frame_times: np.ndarray) -> Arrays:
    """Every channel of one driver at the frame times (float64 / native dtypes).

    Outside the driver's samples, and in breaks of more than `NO_DATA_GAP_S`, the
    position holds (first / last sample) and the car is shown stopped: speed, rpm,
    throttle, gear, brake and DRS are 0.
    """
    out: Arrays = {}
    for name in INTERPOLATED:
        out[name] = np.interp(frame_times, time, channels[name].astype(np.float64))
    previous = np.clip(np.searchsorted(time, frame_times, side="right") - 1, 0, len(time) - 1)
    following = np.clip(previous + 1, 0, len(time) - 1)
    # Inside a long break in the samples (in the garage between runs) the car is parked.
    parked = time[following] - time[previous] > NO_DATA_GAP_S
    where = np.where(parked, channels["distance"][previous], out["distance"])
    out["x"], out["y"] = _on_path(
        channels["x"].astype(np.float64),
        channels["y"].astype(np.float64),
        channels["distance"].astype(np.float64),
        where,
    )
    for name in HELD:
        out[name] = channels[name][previous]
    outside = parked | (frame_times < time[0]) | (frame_times > time[-1])
    if outside.any():
        for name in ZERO_OUTSIDE:
            out[name][outside] = 0
    return out


def _on_path(
    x: np.ndarray, y: np.ndarray, distance: np.ndarray, frame_distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frame positions: the car's distance mapped onto its own recorded path.

    Position samples carry timestamp jitter, so interpolating x/y in time makes a
    car surge and brake between samples (a step can be half or 1.8 times the
    distance actually driven). The distance channel, integrated from speed, is
    smooth. So each frame's distance is turned into arc length along the car's
    own polyline, through the (slowly varying) difference between the two,
    smoothed over `PATH_SMOOTHING` metres.
    """
    known = np.isfinite(x) & np.isfinite(y) & np.isfinite(distance)
    if known.sum() < 2:
        return np.full(len(frame_distance), np.nan), np.full(len(frame_distance), np.nan)
    x, y, distance = x[known], y[known], distance[known]
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    excess = _smooth_along(distance, arc - distance, PATH_SMOOTHING)
    # Several samples at one distance (a standing car): the first one places it.
    unique_d, first = np.unique(distance, return_index=True)
    frame_arc = frame_distance + np.interp(frame_distance, unique_d, excess[first])
    return np.interp(frame_arc, arc, x), np.interp(frame_arc, arc, y)


def _smooth_along(distance: np.ndarray, values: np.ndarray, window: float) -> np.ndarray:
    """A moving average of `values` over `window` metres of `distance` (monotonic)."""
    step = PATH_SMOOTHING_STEP
    grid = np.arange(distance[0], distance[-1] + step, step)
    on_grid = np.interp(grid, distance, values)
    width = max(1, int(window / step)) | 1
    padded = np.pad(on_grid, width // 2, mode="edge")
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    averaged = (sums[width:] - sums[:-width]) / width
    return np.interp(distance, grid, averaged)


def resample_telemetry(tel: Telemetry, frame_times: np.ndarray) -> Arrays:
    """One driver's telemetry at the frame times (see `resample_driver`)."""
    time = np.asarray(tel.time, dtype=np.float64)
    channels = {name: np.asarray(getattr(tel, name)) for name in INTERPOLATED + POSITION + HELD}
    return resample_driver(time, channels, frame_times)
