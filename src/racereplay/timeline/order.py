"""Running order, gap to the leader and interval, for every frame.

Races rank by race distance; qualifying and practice by best lap time. Either
way the order is then de-flickered (timeline.flicker), so no swap can revert
within a second.

Each frame's answer depends on that frame alone (the gap also on the leader's
path, found first), so the work runs in blocks of frames, on threads: the float64
temporaries of a whole race would be several times the timeline itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from racereplay.timeline.model import DriverStatus
from racereplay.timeline.threads import run_on_threads

ON_TRACK = (DriverStatus.RUNNING, DriverStatus.PIT_LANE)
LAP_TOLERANCE = 1e-3  # of a lap
BLOCK_FRAMES = 4096  # frames per block: a few MB of temporaries per thread for 20 cars


def frame_blocks(n_frames: int) -> Iterator[slice]:
    """Consecutive slices of at most BLOCK_FRAMES frames covering `n_frames`."""
    for start in range(0, n_frames, BLOCK_FRAMES):
        yield slice(start, min(start + BLOCK_FRAMES, n_frames))


def order_dtype(n_drivers: int) -> np.dtype:
    """The smallest unsigned integer holding a driver index."""
    return np.min_scalar_type(max(n_drivers - 1, 0))


def rank_by_keys(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Driver indices in running order per frame, (F, D); the last key is the primary,
    smaller first (np.lexsort's convention), ties keep driver order."""
    return np.lexsort(keys, axis=-1)


def race_order(
    distance: np.ndarray,
    status: np.ndarray,
    finish_time: np.ndarray,
    retired_distance: np.ndarray,
    retired_rank: np.ndarray,
    threads: int = 1,
) -> np.ndarray:
    """Order (F, D), `order_dtype`, for a race, as the classification ranks cars: by laps covered.

    distance (F, D) race metres; status (F, D) DriverStatus; finish_time (D,) the final
    line crossing (inf if none); retired_distance (D,) where a retired car ranks: just
    short of the line after its last completed lap (cars that have not completed more
    laps stay behind it); retired_rank (D,) official position of retired
    cars, nan if none, to order retired cars with equal laps. Ties between finishers
    (same lap) go by finish time; cars not started at the back in grid order (their
    distance is their grid offset).
    """
    order = np.empty(distance.shape, dtype=order_dtype(distance.shape[1]))
    retired_rank = np.nan_to_num(retired_rank, nan=0.0)

    def block(b: slice) -> None:
        not_started = np.isin(status[b], (DriverStatus.NOT_STARTED, DriverStatus.DID_NOT_START))
        retired = status[b] == DriverStatus.RETIRED
        value = np.where(retired, retired_distance[None, :], distance[b])
        rank = np.where(retired, retired_rank[None, :], 0.0)
        finish = np.where(status[b] == DriverStatus.FINISHED, finish_time[None, :], np.inf)
        order[b] = rank_by_keys((rank, finish, -value, not_started))

    run_on_threads(block, frame_blocks(len(distance)), threads)
    return order


def positions_from_order(order: np.ndarray) -> np.ndarray:
    """1-based position of each driver (F, D) from the order (F, D)."""
    positions = np.empty(order.shape, dtype=np.uint8)
    places = np.broadcast_to(np.arange(1, order.shape[1] + 1, dtype=np.uint8), order.shape)
    np.put_along_axis(positions, order, places, axis=1)
    return positions


def gap_to_leader(
    frame_times: np.ndarray,
    distance: np.ndarray,
    status: np.ndarray,
    finish_time: np.ndarray,
    start_time: float,
    threads: int = 1,
) -> np.ndarray:
    """Seconds since the leader was where this car is (F, D) float32; NaN for cars not
    racing. The leader's path is the envelope of all racing cars' distances."""
    racing_states = (*ON_TRACK, DriverStatus.FINISHED)
    furthest = np.empty(len(distance))  # of the racing cars, each frame

    def furthest_block(b: slice) -> None:
        racing = np.isin(status[b], racing_states)
        furthest[b] = np.where(racing, distance[b], -np.inf).max(axis=1)

    run_on_threads(furthest_block, frame_blocks(len(distance)), threads)
    valid = frame_times >= start_time
    times = frame_times[valid]
    envelope = np.maximum.accumulate(furthest[valid])
    # Only the frames where the leader gains ground: inverting a plateau must give
    # the time it was first reached.
    keep = np.isfinite(envelope)
    keep[1:] &= np.diff(envelope) > 0
    times, envelope = times[keep], envelope[keep]
    gap = np.full(distance.shape, np.nan, dtype=np.float32)
    if len(times) == 0:
        return gap
    # Cars behind the leader's starting slot are timed from lights out.
    floor = min(float(distance.min()), float(envelope[0])) - 1.0
    times = np.concatenate([[start_time], times])
    envelope = np.concatenate([[floor], envelope])

    def gap_block(b: slice) -> None:
        # Car by car (.T): each car's distances rise with time, so every search starts
        # from the one before; frame by frame they jump about the track (3x slower).
        when_leader_was_here = np.interp(distance[b].T, envelope, times).T
        # A finished car's gap is frozen at the line.
        now = np.minimum(frame_times[b, None], finish_time[None, :])
        racing = np.isin(status[b], racing_states)
        gap[b][racing] = (now - when_leader_was_here)[racing]

    run_on_threads(gap_block, frame_blocks(len(distance)), threads)
    return gap


def interval_to_car_ahead(gap: np.ndarray, order: np.ndarray, threads: int = 1) -> np.ndarray:
    """Gap minus the gap of the car one place ahead (NaN for the leader)."""
    interval = np.empty(gap.shape, dtype=np.float32)

    def block(b: slice) -> None:
        gap_in_order = np.take_along_axis(gap[b], order[b], axis=1)
        interval_in_order = np.full(gap_in_order.shape, np.nan, dtype=np.float32)
        interval_in_order[:, 1:] = gap_in_order[:, 1:] - gap_in_order[:, :-1]
        np.put_along_axis(interval[b], order[b], interval_in_order, axis=1)

    run_on_threads(block, frame_blocks(len(gap)), threads)
    return interval


def laps_behind(
    distance: np.ndarray,
    order: np.ndarray,
    status: np.ndarray,
    lap_len: float,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole laps (F, D) uint8 each car is behind the leader and behind the car ahead.

    Timing screens show these as "+1 L" in place of seconds. Cars out of the race
    (retired, not started) are 0: their gap is not shown at all.
    """
    behind_leader = np.zeros(order.shape, dtype=np.uint8)
    behind_ahead = np.zeros(order.shape, dtype=np.uint8)

    def block(b: slice) -> None:
        behind_leader[b], behind_ahead[b] = _laps_behind(distance[b], order[b], status[b], lap_len)

    run_on_threads(block, frame_blocks(len(order)), threads)
    return behind_leader, behind_ahead


def _laps_behind(
    distance: np.ndarray, order: np.ndarray, status: np.ndarray, lap_len: float
) -> tuple[np.ndarray, np.ndarray]:
    racing = np.isin(status, (*ON_TRACK, DriverStatus.FINISHED))
    covered = (distance / lap_len).astype(np.float32)  # laps; float32 keeps this light
    covered[~racing] = np.nan
    in_order = np.take_along_axis(covered, order, axis=1)
    del covered
    with np.errstate(invalid="ignore"):
        behind_leader = np.fmax.accumulate(in_order, axis=1)
        behind_leader -= in_order
        behind_ahead = np.zeros_like(in_order)
        np.subtract(in_order[:, :-1], in_order[:, 1:], out=behind_ahead[:, 1:])
    laps = []
    for behind in (behind_leader, behind_ahead):
        # A car a whole lap down at the line is exactly one lap behind: allow for rounding.
        behind += LAP_TOLERANCE
        np.floor(behind, out=behind)
        np.nan_to_num(behind, copy=False, nan=0.0)
        np.clip(behind, 0, 255, out=behind)
        out = np.zeros(order.shape, dtype=np.uint8)
        np.put_along_axis(out, order, behind.astype(np.uint8), axis=1)
        out[~racing] = 0
        laps.append(out)
    return laps[0], laps[1]
