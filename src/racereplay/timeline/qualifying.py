"""Order outside races: by best lap time so far in the current segment (Q1, Q2, Q3)."""

from __future__ import annotations

import numpy as np

from racereplay.model import RawSession, SessionKind
from racereplay.timeline.laptable import DriverLaps
from racereplay.timeline.results import valid_lap_times

SEGMENT_BREAK = 240.0  # seconds with no car on a lap: a break between segments
QUALIFYING_SEGMENTS = 3


def segment_starts(raw: RawSession, laps: dict[str, DriverLaps]) -> np.ndarray:
    """Session times where Q2 and Q3 begin: the longest breaks in running."""
    if raw.info.kind not in (SessionKind.QUALIFYING, SessionKind.SPRINT_QUALIFYING):
        return np.empty(0)
    spans = [(s, e) for dl in laps.values() for s, e in zip(dl.start, dl.end, strict=True)]
    spans = sorted((s, e) for s, e in spans if np.isfinite(s) and np.isfinite(e))
    if not spans:
        return np.empty(0)
    starts = np.array([s for s, _ in spans])
    busy_until = np.maximum.accumulate(np.array([e for _, e in spans]))
    idle = starts[1:] - busy_until[:-1]
    breaks = np.flatnonzero(idle > SEGMENT_BREAK)
    longest = breaks[np.argsort(idle[breaks])[::-1][: QUALIFYING_SEGMENTS - 1]]
    return np.sort(starts[1:][longest])


def qualifying_order(
    raw: RawSession, laps: dict[str, DriverLaps], codes: list[str], times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order (F, D) and gap to the fastest (F, D) float32.

    A driver ranks by the latest segment they set a time in (later first), then by
    their best time in it; drivers without a time at the back in driver order.
    """
    bounds = np.concatenate([[-np.inf], segment_starts(raw, laps)])
    segment_of_frame = np.searchsorted(bounds, times, side="right") - 1
    n_frames, n_drivers = len(times), len(codes)
    best = np.full((n_frames, n_drivers), np.inf)
    reached = np.full((n_frames, n_drivers), -1, dtype=np.int64)
    for j, code in enumerate(codes):
        dl = laps[code]
        valid = valid_lap_times(dl)[: dl.completed]
        ends = dl.end[: dl.completed]
        ok = np.isfinite(valid) & np.isfinite(ends)
        ends, valid = ends[ok], valid[ok]
        lap_segment = np.searchsorted(bounds, ends, side="right") - 1
        for seg in np.unique(lap_segment):
            mine = lap_segment == seg
            seg_ends, seg_best = ends[mine], np.minimum.accumulate(valid[mine])
            done = np.searchsorted(seg_ends, times, side="right") - 1
            has = done >= 0
            # Entering a later segment resets the driver's standing to that segment.
            best[has, j] = seg_best[done[has]]
            reached[has, j] = seg
    order = np.lexsort((best, -reached), axis=-1)
    fastest = np.where(reached == segment_of_frame[:, None], best, np.inf).min(axis=1)
    in_segment = (reached == segment_of_frame[:, None]) & np.isfinite(best)
    gap = np.full(best.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf where nobody has a time yet
        gap[in_segment] = (best - fastest[:, None])[in_segment]
    return order, gap
