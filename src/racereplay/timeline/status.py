"""Per-frame lap, tyre and status of one driver, from the lap table."""

from __future__ import annotations

import math

import numpy as np

from racereplay.timeline.laptable import DriverLaps
from racereplay.timeline.model import DriverStatus


def lap_index(frame_times: np.ndarray, laps: DriverLaps) -> np.ndarray:
    """Index into the driver's laps of the lap being driven; -1 before their first lap."""
    return np.searchsorted(laps.start, frame_times, side="right") - 1


def pit_lane_mask(frame_times: np.ndarray, laps: DriverLaps) -> np.ndarray:
    """True between each pit entry and the following pit exit (or the end, if none)."""
    ins = np.sort(laps.pit_in[np.isfinite(laps.pit_in)])
    outs = np.sort(laps.pit_out[np.isfinite(laps.pit_out)])
    # Each exit closes the latest entry before it; an exit with no entry (a pit-lane
    # start, or leaving the garage) opens at the start of that lap.
    opens = ins
    unmatched = outs[np.searchsorted(ins, outs) == 0] if len(ins) else outs
    if len(unmatched):
        lap_starts = laps.start[np.searchsorted(laps.start, unmatched, side="right") - 1]
        opens = np.sort(np.concatenate([ins, lap_starts]))
    depth = np.searchsorted(opens, frame_times, side="right")
    closes = np.searchsorted(outs, frame_times, side="right")
    # Entries after the last exit stay open (a car that retired in the pit lane).
    return depth > closes


def status_of(frame_times: np.ndarray, laps: DriverLaps, lap_idx: np.ndarray) -> np.ndarray:
    status = np.full(len(frame_times), DriverStatus.NOT_STARTED, dtype=np.uint8)
    if len(laps.number) == 0:
        return status
    if not laps.started:
        status[lap_idx >= 0] = DriverStatus.DID_NOT_START
        return status
    status[lap_idx >= 0] = DriverStatus.RUNNING
    status[pit_lane_mask(frame_times, laps) & (lap_idx >= 0)] = DriverStatus.PIT_LANE
    if math.isfinite(laps.out_time):
        done = frame_times >= laps.out_time
        status[done] = DriverStatus.FINISHED if laps.finished else DriverStatus.RETIRED
    return status


def per_lap_channel(values: np.ndarray, lap_idx: np.ndarray, before: int = 0) -> np.ndarray:
    """A lap-table column spread over frames (the first lap's value before the start)."""
    if len(values) == 0:
        return np.full(len(lap_idx), before, dtype=values.dtype)
    return values[np.clip(lap_idx, 0, len(values) - 1)]
