"""The frame frame_grid: which span of session time a timeline covers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racereplay.model import RawSession

PRE_START = 60.0  # seconds shown before lights out: the grid, before anything moves
# With telemetry of cars moving before lights out, the replay opens earlier, on the
# formation lap (it leaves the grid about 5 minutes before the start, more after a delay).
FORMATION_LAP_LEAD = 600.0
POST_FINISH = 30.0  # seconds after the last car crosses the line or stops


@dataclass(frozen=True)
class FrameGrid:
    t0: float  # session time of frame 0
    fps: int
    n_frames: int

    @property
    def times(self) -> np.ndarray:
        """Session time of every frame (float64)."""
        return self.t0 + np.arange(self.n_frames, dtype=np.float64) / self.fps

    def frame_of(self, session_time: np.ndarray | float) -> np.ndarray:
        """Nearest frame of each time, clamped to the frame_grid."""
        k = np.rint((np.asarray(session_time, dtype=np.float64) - self.t0) * self.fps)
        return np.clip(np.nan_to_num(k, nan=0.0), 0, self.n_frames - 1).astype(np.int64)


FORMATION_MOVING_KMH = 10.0


def _formation_lap_start(raw: RawSession, start: float) -> float:
    """When the first car moved off the grid before lights out (within
    `FORMATION_LAP_LEAD`); `start` when no telemetry shows a car moving before it."""
    earliest = start
    for tel in raw.telemetry.values():
        window = (tel.time >= start - FORMATION_LAP_LEAD) & (tel.time < start)
        moving = window & (np.asarray(tel.speed) > FORMATION_MOVING_KMH)
        if moving.any():
            earliest = min(earliest, float(tel.time[np.argmax(moving)]))
    return earliest


def make_frame_grid(raw: RawSession, fps: int) -> FrameGrid:
    """Races: from shortly before the start (the formation lap, where telemetry has it) to
    shortly after the last car finishes.
    Other sessions: the span of the laps (and telemetry), with the same margins."""
    starts = [lap.start for lap in raw.laps if math.isfinite(lap.start)]
    ends = [lap.end for lap in raw.laps if math.isfinite(lap.end)]
    tel_first = [float(t.time[0]) for t in raw.telemetry.values() if len(t)]
    tel_last = [float(t.time[-1]) for t in raw.telemetry.values() if len(t)]
    first_candidates = starts or tel_first
    last_candidates = ends + tel_last
    if not first_candidates or not last_candidates:
        raise ValueError(
            f"{raw.info.event} {raw.info.name}: no lap times and no telemetry, nothing to replay"
        )
    if raw.info.kind.is_race and math.isfinite(raw.info.start_time):
        start = raw.info.start_time
        begin = start - PRE_START
        begin = min(begin, _formation_lap_start(raw, start) - PRE_START)
    else:
        begin = min(first_candidates) - PRE_START
    end = max(last_candidates) + POST_FINISH
    n_frames = math.ceil((end - begin) * fps) + 1
    return FrameGrid(t0=begin, fps=fps, n_frames=n_frames)
