"""Race distance: metres since lights out, monotonic, anchored to official lap ends.

At the end of lap n every car is at exactly n x L. Within a lap the telemetry
distance is rescaled to the lap (so its drift never accumulates, pit lane
included); a lap without telemetry falls back to the fraction of the lap's time.
On lap 1 cars start behind the line by their grid slot, so that the order at
lights out is the grid order.
"""

from __future__ import annotations

import math

import numpy as np

from racereplay.timeline.laptable import DriverLaps

GRID_SLOT = 8.0  # metres between consecutive grid positions
PARTIAL_LAP_CAP = 0.999  # a lap not completed never reaches the line


def grid_offset(grid: int | None, n_drivers: int) -> float:
    """Metres behind the line at lights out; pit-lane starters behind the whole grid."""
    slot = grid if grid is not None and grid > 0 else n_drivers + 1
    return (slot - 1) * GRID_SLOT


def race_distance(
    frame_times: np.ndarray,
    laps: DriverLaps,
    tel_time: np.ndarray | None,
    tel_distance: np.ndarray | None,
    lap_len: float,
    offset: float,
) -> np.ndarray:
    """Race distance (float64 metres) of one driver at every frame."""
    bounds = laps.boundaries
    if len(bounds) == 0:
        return np.full(len(frame_times), -offset)
    anchors = np.arange(len(bounds), dtype=np.float64) * lap_len
    anchors[0] = -offset
    have_tel = tel_time is not None and tel_distance is not None and len(tel_time) > 1
    if tel_time is None or tel_distance is None or not have_tel:
        tel_time = tel_distance = np.zeros(1)  # unused: laps are timed by their clock
    if have_tel:
        tel_at_bounds = np.interp(bounds, tel_time, tel_distance)
        tel_now = np.interp(frame_times, tel_time, tel_distance)
    segment = np.searchsorted(bounds, frame_times, side="right") - 1
    out = np.full(len(frame_times), -offset)

    inside = (segment >= 0) & (segment < len(bounds) - 1)
    i = segment[inside]
    t = frame_times[inside]
    time_fraction = (t - bounds[i]) / (bounds[i + 1] - bounds[i])
    fraction = time_fraction
    if have_tel:
        span = tel_at_bounds[i + 1] - tel_at_bounds[i]
        tel_fraction = (tel_now[inside] - tel_at_bounds[i]) / np.where(span > 0, span, 1.0)
        # A lap whose telemetry barely moves is a data gap: use the lap's time instead.
        fraction = np.where(span > 0.5 * lap_len, tel_fraction, time_fraction)
    out[inside] = anchors[i] + np.clip(fraction, 0.0, 1.0) * (anchors[i + 1] - anchors[i])

    after = segment == len(bounds) - 1
    out[after] = anchors[-1]
    if not laps.finished and have_tel and laps.completed < len(laps.number):
        # The lap the car did not complete: telemetry metres, stopped where the car stopped.
        t_after = frame_times[after]
        if math.isfinite(laps.stop_time):
            t_after = np.minimum(t_after, laps.stop_time)
        moved = np.interp(t_after, tel_time, tel_distance) - tel_at_bounds[-1]
        lap_span = lap_len + (offset if len(bounds) == 1 else 0.0)
        out[after] += np.clip(moved, 0.0, PARTIAL_LAP_CAP * lap_span)
    return np.maximum.accumulate(out)
