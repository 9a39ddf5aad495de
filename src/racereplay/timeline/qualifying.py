"""Order outside races: by best lap time in the current segment (Q1, Q2, Q3).

Segments come from race control where it speaks (each part ends with the chequered
flag; the next starts with the green light after it), else from the breaks in
running. A segment's leaderboard ranks its participants first; the cars eliminated
earlier keep their final places behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racereplay.model import RaceControlMessage, RawSession, SessionKind
from racereplay.timeline.laptable import DriverLaps
from racereplay.timeline.results import valid_lap_times

SEGMENT_BREAK = 240.0  # seconds with no car on a lap: a break between segments
QUALIFYING_SEGMENTS = 3
QUALIFYING_KINDS = (SessionKind.QUALIFYING, SessionKind.SPRINT_QUALIFYING)


@dataclass(frozen=True)
class Segment:
    name: str  # Q1, SQ2, ... or the session's name when it is one segment
    start: float  # session time: the green light, else the first lap's start
    end: float  # the chequered flag, else the last lap's end; nan while unknown


def find_segments(raw: RawSession, laps: dict[str, DriverLaps]) -> list[Segment]:
    """The parts of a qualifying session; none for other sessions."""
    if raw.info.kind not in QUALIFYING_KINDS:
        return []
    prefix = "SQ" if raw.info.kind == SessionKind.SPRINT_QUALIFYING else "Q"
    spans = flag_spans(raw.messages) or break_spans(laps)
    if len(spans) == 1:
        return [Segment(raw.info.name or "Qualifying", *spans[0])]
    return [Segment(f"{prefix}{k + 1}", start, end) for k, (start, end) in enumerate(spans)]


def flag_spans(messages: list[RaceControlMessage]) -> list[tuple[float, float]]:
    """(green light, chequered flag) of each part. A green light after a red flag
    restarts the same part: only a chequered flag ends one."""
    timed = sorted((m for m in messages if math.isfinite(m.time)), key=lambda m: m.time)
    chequered = [m.time for m in timed if _is_chequered(m)]
    greens = np.array([m.time for m in timed if _is_green_light(m)])
    spans: list[tuple[float, float]] = []
    previous_end = -math.inf
    for end in [*chequered, math.inf]:
        opened = greens[(greens > previous_end) & (greens < end)]
        if len(opened):
            spans.append((float(opened[0]), end if math.isfinite(end) else math.nan))
        previous_end = end
    return spans if chequered else []


def _is_chequered(message: RaceControlMessage) -> bool:
    return (message.flag or "").upper() == "CHEQUERED" or message.message.upper().startswith(
        "CHEQUERED FLAG"
    )


def _is_green_light(message: RaceControlMessage) -> bool:
    return message.message.upper().startswith("GREEN LIGHT")


def _running_breaks(laps: dict[str, DriverLaps]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lap starts in time order, when running last stopped before each, and the idle
    time in between (one shorter than the starts)."""
    spans = [(s, e) for dl in laps.values() for s, e in zip(dl.start, dl.end, strict=True)]
    spans = sorted((s, e) for s, e in spans if np.isfinite(s) and np.isfinite(e))
    starts = np.array([s for s, _ in spans])
    busy_until = np.maximum.accumulate(np.array([e for _, e in spans]))
    return starts, busy_until, starts[1:] - busy_until[:-1]


def _longest_breaks(idle: np.ndarray) -> np.ndarray:
    """Indices of the (up to two) longest breaks over SEGMENT_BREAK, in time order."""
    breaks = np.flatnonzero(idle > SEGMENT_BREAK)
    return np.sort(breaks[np.argsort(idle[breaks])[::-1][: QUALIFYING_SEGMENTS - 1]])


def segment_starts(raw: RawSession, laps: dict[str, DriverLaps]) -> np.ndarray:
    """Session times where Q2 and Q3 begin by the breaks rule: the longest breaks in running."""
    if raw.info.kind not in QUALIFYING_KINDS:
        return np.empty(0)
    starts, _, idle = _running_breaks(laps)
    if len(starts) == 0:
        return np.empty(0)
    return starts[1:][_longest_breaks(idle)]


def break_spans(laps: dict[str, DriverLaps]) -> list[tuple[float, float]]:
    """(first lap start, last lap end) of each part, split at the longest breaks."""
    starts, busy_until, idle = _running_breaks(laps)
    if len(starts) == 0:
        return []
    cut = _longest_breaks(idle)
    opens = [float(starts[0]), *starts[1:][cut].tolist()]
    closes = [*busy_until[:-1][cut].tolist(), float(busy_until[-1])]
    return list(zip(opens, closes, strict=True))


def qualifying_order(
    laps: dict[str, DriverLaps], codes: list[str], times: np.ndarray, segments: list[Segment]
) -> tuple[np.ndarray, np.ndarray]:
    """Order (F, D) and gap to the fastest of the current segment (F, D) float32.

    In each segment its participants (cars with a lap in it or later) rank first, by
    their best time in it, then by their standing in the segment before (so before
    anyone has set a time the order is the previous segment's). Eliminated cars follow
    in their final order: by their last segment, then their best time in it. Drivers
    with no time at all at the back in driver order.
    """
    bounds = np.array([-np.inf, *(s.start for s in segments[1:])])
    n_segments = len(bounds)
    segment_of_frame = np.searchsorted(bounds, times, side="right") - 1
    best = _best_so_far(laps, codes, times, bounds)  # (S, F, D)
    last_segment = np.array([_last_segment(laps[c], bounds) for c in codes], dtype=np.int64)
    level = np.minimum(last_segment[None, :], segment_of_frame[:, None])  # (F, D)
    by_segment = np.moveaxis(best, 0, -1)  # (F, D, S)
    keys = []
    for back in range(n_segments):
        which = level - back
        key = np.take_along_axis(by_segment, np.clip(which, 0, None)[..., None], axis=-1)[..., 0]
        keys.append(np.where(which >= 0, key, np.inf))
    order = np.lexsort((*keys[::-1], -level), axis=-1)
    in_segment = (level == segment_of_frame[:, None]) & np.isfinite(keys[0])
    fastest = np.where(in_segment, keys[0], np.inf).min(axis=1)
    gap = np.full(level.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf where nobody has a time yet
        gap[in_segment] = (keys[0] - fastest[:, None])[in_segment]
    return order, gap


def _best_so_far(
    laps: dict[str, DriverLaps], codes: list[str], times: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Best valid lap time set by each frame in each segment (S, F, D); inf for none.
    A lap belongs to the segment it ends in (a lap begun before the flag still counts).
    An out-lap is not timed: it began at the pit exit, not on the line."""
    best = np.full((len(bounds), len(times), len(codes)), np.inf, dtype=np.float32)
    for j, code in enumerate(codes):
        dl = laps[code]
        valid = np.where(np.isfinite(dl.pit_out), np.nan, valid_lap_times(dl))[: dl.completed]
        ends = dl.end[: dl.completed]
        ok = np.isfinite(valid) & np.isfinite(ends)
        ends, valid = ends[ok], valid[ok]
        lap_segment = np.searchsorted(bounds, ends, side="right") - 1
        for seg in np.unique(lap_segment):
            mine = lap_segment == seg
            seg_ends, seg_best = ends[mine], np.minimum.accumulate(valid[mine])
            done = np.searchsorted(seg_ends, times, side="right") - 1
            has = done >= 0
            best[seg, has, j] = seg_best[done[has]]
    return best


def _last_segment(dl: DriverLaps, bounds: np.ndarray) -> int:
    """The last segment the driver took part in (-1 if none): where their last lap began."""
    started = dl.start[np.isfinite(dl.start)]
    if len(started) == 0:
        return -1
    return int(np.searchsorted(bounds, started.max(), side="right") - 1)
