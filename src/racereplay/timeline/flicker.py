"""De-flickering the running order: no swap between two cars reverts within the window.

The filter is pairwise. For every pair of cars, a change of which one is ahead that
does not last `min_frames` is suppressed (the pair keeps its last lasting relation);
every other change shows at once, even when the next change (another car through
the pit lane a moment later) follows within the window. The order shown is then
rebuilt from the filtered pairs.

The order only changes at a few hundred frames in a race, so all the work is done
per stretch of constant order ("segment"), and per pair only where it changes.
"""

from __future__ import annotations

import numpy as np


def deflicker(order: np.ndarray, min_frames: int) -> np.ndarray:
    """Order (F, D) with every pairwise swap that lasts fewer than `min_frames` suppressed.

    Guarantees that no pair of cars changes places twice within `min_frames`. Should the
    filtered pairs ever be cyclic (A ahead of B ahead of C ahead of A) in a way that
    would break that guarantee, whole orders are held instead (`hold_lasting_orders`).
    """
    n_frames, n_drivers = order.shape
    if n_frames == 0 or n_drivers < 2:
        return order
    segment_start, segment_of_frame = _segments(order)
    positions = _positions(order[segment_start])
    first, second = np.triu_indices(n_drivers, 1)
    ahead = positions[:, first] < positions[:, second]  # (segments, pairs)
    flip_segment, flip_pair = _flips(ahead)
    lasting = _lasting(flip_segment, flip_pair, segment_start, n_frames, min_frames)
    shown_segment, shown_pair, shown_ahead = _shown_flips(
        flip_segment[lasting], flip_pair[lasting], ahead
    )
    score = _scores(ahead[0], first, second, shown_segment, shown_pair, shown_ahead, len(ahead))
    # The number of cars each car is shown ahead of; ties (only where the pairs are
    # cyclic) go to the recorded order.
    segment_order = np.lexsort((positions, -score), axis=-1)
    if _reverts_within(segment_order, segment_start, n_frames, min_frames):
        return hold_lasting_orders(order, min_frames)
    return segment_order.astype(order.dtype)[segment_of_frame]


def hold_lasting_orders(order: np.ndarray, min_frames: int) -> np.ndarray:
    """Replace every whole order that lasts fewer than `min_frames` by the last one that
    lasted. Cruder than `deflicker` (a genuine change followed quickly by another is
    delayed until an order lasts), but it cannot fail: kept as its fallback."""
    n = len(order)
    if n == 0:
        return order
    changed = np.ones(n, dtype=bool)
    changed[1:] = (order[1:] != order[:-1]).any(axis=1)
    run_start = np.flatnonzero(changed)
    run_len = np.diff(np.append(run_start, n))
    run_of_frame = np.cumsum(changed) - 1
    lasting = run_len[run_of_frame] >= min_frames
    lasting[0] = True  # the first frame has nothing earlier to fall back on
    source = np.where(lasting, np.arange(n), 0)
    np.maximum.accumulate(source, out=source)
    return order[source]


def _segments(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First frame of each stretch of constant order, and each frame's stretch."""
    changed = np.ones(len(order), dtype=bool)
    changed[1:] = (order[1:] != order[:-1]).any(axis=1)
    return np.flatnonzero(changed), np.cumsum(changed) - 1


def _positions(order: np.ndarray) -> np.ndarray:
    """0-based place of each driver (K, D) from orders (K, D)."""
    positions = np.empty(order.shape, dtype=np.int16)
    places = np.broadcast_to(np.arange(order.shape[1], dtype=np.int16), order.shape)
    np.put_along_axis(positions, order, places, axis=1)
    return positions


def _flips(ahead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a pair's relation changes: (segment, pair), sorted by pair then segment."""
    segment, pair = np.nonzero(ahead[1:] != ahead[:-1])
    segment += 1
    by_pair = np.lexsort((segment, pair))
    return segment[by_pair], pair[by_pair]


def _lasting(
    segment: np.ndarray,
    pair: np.ndarray,
    segment_start: np.ndarray,
    n_frames: int,
    min_frames: int,
) -> np.ndarray:
    """Whether each flip lasts `min_frames` before the same pair flips again (or the end)."""
    frame = segment_start[segment]
    next_frame = np.full(len(frame), n_frames, dtype=np.int64)
    same_pair_next = pair[1:] == pair[:-1]
    next_frame[:-1][same_pair_next] = frame[1:][same_pair_next]
    return (next_frame - frame) >= min_frames


def _shown_flips(
    segment: np.ndarray, pair: np.ndarray, ahead: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lasting flips that change what is shown: a lasting run after suppressed ones
    may restore the relation already on screen."""
    value = ahead[segment, pair]
    new_pair = np.ones(len(pair), dtype=bool)
    new_pair[1:] = pair[1:] != pair[:-1]
    previous = np.empty(len(pair), dtype=bool)
    previous[new_pair] = ahead[0, pair[new_pair]]
    previous[~new_pair] = value[:-1][~new_pair[1:]]
    changes = value != previous
    return segment[changes], pair[changes], value[changes]


def _scores(
    initial: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    segment: np.ndarray,
    pair: np.ndarray,
    ahead: np.ndarray,
    n_segments: int,
) -> np.ndarray:
    """How many cars each car is shown ahead of, per segment (K, D)."""
    n_drivers = int(max(first.max(), second.max())) + 1
    score0 = np.bincount(first, weights=initial, minlength=n_drivers) + np.bincount(
        second, weights=~initial, minlength=n_drivers
    )
    delta = np.zeros((n_segments, n_drivers), dtype=np.int64)
    sign = np.where(ahead, 1, -1)
    np.add.at(delta, (segment, first[pair]), sign)
    np.add.at(delta, (segment, second[pair]), -sign)
    return score0[None, :].astype(np.int64) + np.cumsum(delta, axis=0)


def _reverts_within(
    segment_order: np.ndarray, segment_start: np.ndarray, n_frames: int, min_frames: int
) -> bool:
    """Whether any pair changes places twice within `min_frames` in these orders."""
    positions = _positions(segment_order)
    first, second = np.triu_indices(segment_order.shape[1], 1)
    segment, pair = _flips(positions[:, first] < positions[:, second])
    frame = segment_start[segment]
    same_pair = pair[1:] == pair[:-1]
    return bool(((frame[1:] - frame[:-1])[same_pair] < min_frames).any())
