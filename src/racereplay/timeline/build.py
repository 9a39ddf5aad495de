"""RawSession -> Timeline: one frame grid, every channel on it, order, gaps, status, events."""

from __future__ import annotations

import math
import time as wallclock
from collections.abc import Callable

import numpy as np

from racereplay.model import RawSession, Telemetry
from racereplay.timeline import order as ordering
from racereplay.timeline.distance import grid_offset, race_distance
from racereplay.timeline.events import build_events
from racereplay.timeline.flicker import deflicker
from racereplay.timeline.framegrid import FrameGrid, make_frame_grid
from racereplay.timeline.geometry import build_geometry
from racereplay.timeline.laptable import (
    NOMINAL_LAP_LENGTH,
    DriverLaps,
    all_driver_laps,
    lap_length,
)
from racereplay.timeline.model import (
    DRIVER_CHANNELS,
    FPS,
    SESSION_CHANNELS,
    Timeline,
)
from racereplay.timeline.qualifying import Segment, find_segments, qualifying_order
from racereplay.timeline.resample import resample_telemetry
from racereplay.timeline.results import lap_table, results_table
from racereplay.timeline.status import lap_index, per_lap_channel, status_of
from racereplay.timeline.threads import default_threads, on_threads, run_on_threads

Progress = Callable[[float, str], None]

# The version of what a build produces: bump it whenever the output changes, so that
# timelines cached by an older build are rebuilt rather than served.
BUILD_VERSION = 6

NO_FLICKER_SECONDS = 1.0
# Metres short of the line where a retired car ranks: a car reaching the line passes
# it even in the frame before the crossing (a frame is up to 4 m at racing speed).
LINE_MARGIN = 5.0


def build_timeline(
    raw: RawSession, progress: Progress | None = None, workers: int | None = None
) -> Timeline:
    """Build the replay timeline of a session. Pure: the same input gives the same output.

    `workers`: threads for the per-driver work (default `default_threads()`; 1: none).
    """
    report = progress or (lambda fraction, what: None)
    started = wallclock.perf_counter()
    problems = list(raw.problems)
    frame_grid = make_frame_grid(raw, FPS)
    times = frame_grid.times
    codes = [d.code for d in raw.drivers]
    n_frames, n_drivers = frame_grid.n_frames, len(codes)
    before_start = [t.time[0] < raw.info.start_time - 1.0 for t in raw.telemetry.values() if len(t)]
    if raw.info.kind.is_race and math.isfinite(raw.info.start_time) and not any(before_start):
        problems.append("no telemetry before lights out: the formation lap is not shown")
    report(0.02, "laps")
    laps = all_driver_laps(raw)

    missing = [c for c in codes if c not in raw.telemetry or len(raw.telemetry[c]) < 2]
    for code in missing:
        problems.append(f"{code}: no telemetry; position on the map unknown, timing from laps")
    telemetry = {c: t for c, t in raw.telemetry.items() if c in codes and c not in missing}
    frames = _empty_frames(n_frames, n_drivers)
    threads = default_threads() if workers is None else max(1, workers)
    with_data = [j for j, code in enumerate(codes) if code in telemetry]

    def resample(j: int) -> str:
        _store_telemetry(frames, j, resample_telemetry(telemetry[codes[j]], times))
        return codes[j]

    for done, code in enumerate(on_threads(resample, with_data, threads), 1):
        report(0.05 + 0.5 * done / max(1, len(with_data)), f"resampled {code}")

    report(0.6, "race distance and status")
    lap_len = lap_length(raw, laps)
    if lap_len is None:
        problems.append("no complete lap has telemetry: lap length unknown, no track map")
        lap_len = NOMINAL_LAP_LENGTH
    grid = {r.driver: r.grid for r in raw.results}
    distance = _place_drivers(frames, laps, codes, telemetry, times, lap_len, grid, threads)
    frames["distance"][:] = distance
    for j, code in enumerate(codes):
        if not laps[code].started:
            # Its recorded position is wherever the transponder was left: not on the map.
            frames["x"][:, j] = frames["y"][:, j] = np.nan
            problems.append(f"{code}: did not take the start (never moved after lights out)")

    report(0.75, "running order and gaps")
    segments = find_segments(raw, laps)
    if raw.info.kind.is_race:
        order = _race_order(frames, raw, laps, codes, frame_grid, distance, lap_len, threads)
    else:
        problems += _segment_problems(raw, segments)
        order, gap = qualifying_order(laps, codes, times, segments)
        order = deflicker(order, round(NO_FLICKER_SECONDS * frame_grid.fps) + 1)
        frames["position"] = ordering.positions_from_order(order)
        frames["gap"] = gap
    del distance  # float64 for the order alone: 8 bytes a frame a car, freed first
    frames["interval"] = ordering.interval_to_car_ahead(frames["gap"], order, threads)
    _unknown_drivers_unplaced(frames, laps, codes, raw)
    _session_channels(frames, raw, codes, frame_grid)

    report(0.85, "events, laps, geometry")
    events = build_events(raw, laps, codes, frame_grid, frames, segments)
    geometry = build_geometry(raw, laps, lap_len)
    if geometry is None:
        problems.append("no reference lap with telemetry: track map unavailable")
    timeline = Timeline(
        info=raw.info,
        drivers=list(raw.drivers),
        t0=frame_grid.t0,
        fps=frame_grid.fps,
        frames=frames,
        events=events,
        laps=lap_table(raw, laps),
        results=results_table(raw, laps),
        geometry=geometry,
        problems=problems,
    )
    report(1.0, f"built in {wallclock.perf_counter() - started:.2f} s")
    return timeline


def _place_drivers(
    frames: dict[str, np.ndarray],
    laps: dict[str, DriverLaps],
    codes: list[str],
    telemetry: dict[str, Telemetry],
    times: np.ndarray,
    lap_len: float,
    grid: dict[str, int | None],
    threads: int,
) -> np.ndarray:
    """Each driver's status, lap channels and race distance (F, D) float64, returned."""
    status = frames["status"]
    distance = np.empty(status.shape, dtype=np.float64)

    def place(j: int) -> None:
        dl, tel = laps[codes[j]], telemetry.get(codes[j])
        lap_idx = lap_index(times, dl)
        status[:, j] = status_of(times, dl, lap_idx)
        distance[:, j] = race_distance(
            times,
            dl,
            None if tel is None else tel.time,
            None if tel is None else tel.distance,
            lap_len,
            grid_offset(grid.get(codes[j]), len(codes)),
        )
        _store_lap_channels(frames, j, dl, lap_idx)

    run_on_threads(place, range(len(codes)), threads)
    return distance


def _empty_frames(n_frames: int, n_drivers: int) -> dict[str, np.ndarray]:
    frames = {
        name: np.zeros((n_frames, n_drivers), dtype=dtype)
        for name, dtype in DRIVER_CHANNELS.items()
    }
    for name in ("x", "y", "speed"):
        frames[name].fill(np.nan)  # position unknown, for a driver with no telemetry
    frames.update(
        {name: np.zeros(n_frames, dtype=dtype) for name, dtype in SESSION_CHANNELS.items()}
    )
    return frames


def _store_telemetry(
    frames: dict[str, np.ndarray], j: int, channels: dict[str, np.ndarray]
) -> None:
    """Driver `j`'s resampled channels into the frames (a driver without stays NaN / 0)."""
    for name in ("x", "y", "speed", "gear", "drs"):
        frames[name][:, j] = channels[name]
    frames["throttle"][:, j] = np.clip(np.rint(channels["throttle"]), 0, 100)
    # Brake is 0-1 in the raw data, a percentage on the timeline.
    frames["brake"][:, j] = np.clip(np.rint(channels["brake"] * 100), 0, 100)
    frames["rpm"][:, j] = np.clip(np.rint(channels["rpm"]), 0, 65535)


def _store_lap_channels(
    frames: dict[str, np.ndarray], j: int, dl: DriverLaps, lap_idx: np.ndarray
) -> None:
    frames["lap"][:, j] = np.where(lap_idx >= 0, per_lap_channel(dl.number, lap_idx), 0)
    frames["compound"][:, j] = per_lap_channel(dl.compound, lap_idx)
    age = per_lap_channel(dl.tyre_age, lap_idx)
    frames["tyre_age"][:, j] = np.clip(age, 0, 255)


def _race_order(
    frames: dict[str, np.ndarray],
    raw: RawSession,
    laps: dict[str, DriverLaps],
    codes: list[str],
    frame_grid: FrameGrid,
    distance: np.ndarray,
    lap_len: float,
    threads: int,
) -> np.ndarray:
    """Position, gap and laps behind into the frames; returns the order shown (F, D)."""
    status = frames["status"]
    finish_time = np.array(
        [laps[c].stop_time if laps[c].finished else np.inf for c in codes], dtype=np.float64
    )
    finish_time[~np.isfinite(finish_time)] = np.inf
    official = {r.driver: r.position for r in raw.results}
    retired_rank = np.array(
        [official.get(c) or np.nan if laps[c].retired else np.nan for c in codes],
        dtype=np.float64,
    )
    # Classification ranks by laps completed, then by when: a retired car stays ahead
    # of every car that has not completed more laps than it did.
    retired_distance = np.array([(laps[c].completed + 1) * lap_len - LINE_MARGIN for c in codes])
    order = ordering.race_order(
        distance, status, finish_time, retired_distance, retired_rank, threads
    )
    order = deflicker(order, round(NO_FLICKER_SECONDS * frame_grid.fps) + 1)
    frames["position"] = ordering.positions_from_order(order)
    start = raw.info.start_time
    if not math.isfinite(start):
        firsts = [dl.start[0] for dl in laps.values() if len(dl.start)]
        start = min(firsts) if firsts else frame_grid.t0
    frames["gap"] = ordering.gap_to_leader(
        frame_grid.times, distance, status, finish_time, start, threads
    )
    frames["gap_laps"], frames["interval_laps"] = ordering.laps_behind(
        distance, order, status, lap_len, threads
    )
    return order


def _segment_problems(raw: RawSession, segments: list[Segment]) -> list[str]:
    """A qualifying session found to be one part: say so, its order is by best lap overall."""
    if len(segments) != 1:
        return []
    return [
        "qualifying parts not found (no chequered flags in race control, no breaks in "
        "running): shown as one part, ordered by best lap"
    ]


def _unknown_drivers_unplaced(
    frames: dict[str, np.ndarray], laps: dict[str, DriverLaps], codes: list[str], raw: RawSession
) -> None:
    """Position 0 only where nothing is known: no laps and no result."""
    results = {r.driver for r in raw.results if r.position is not None}
    for j, code in enumerate(codes):
        if len(laps[code].number) == 0 and code not in results:
            frames["position"][:, j] = 0


def _session_channels(
    frames: dict[str, np.ndarray], raw: RawSession, codes: list[str], frame_grid: FrameGrid
) -> None:
    times = frame_grid.times
    leader = np.argmax(frames["position"] == 1, axis=1)
    frames["leader_lap"][:] = frames["lap"][np.arange(frame_grid.n_frames), leader]
    track = np.full(frame_grid.n_frames, 1, dtype=np.uint8)  # GREEN when nothing says otherwise
    for interval in sorted(raw.track_status, key=lambda i: i.start):
        end = interval.end if math.isfinite(interval.end) else np.inf
        track[(times >= interval.start) & (times < end)] = int(interval.status)
    frames["track_status"][:] = track
