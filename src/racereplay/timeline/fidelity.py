"""How faithful a timeline is to what it replays, from its own frames.

These are the figures a viewer would notice, measured on exactly what the
server sends (`racereplay inspect --json`'s `fidelity`, and the bench report):

- motion: a running car's speed on the map (frame-to-frame displacement x fps)
  over its recorded speed; the share of frames within `MOTION_BAND`;
- track line: how far running cars are drawn from the track's centre line, and
  cars standing (before the start, retired, finished) from the track or pit lane;
- pit lane: the share of racing car-time shown in the pit lane;
- official order: where the laps carry an official position (FastF1 timing, or
  the archive's newer lap files), the share of lap ends whose running order agrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from racereplay.timeline.model import DriverStatus, Timeline

MOTION_BAND = (0.8, 1.25)
MOTION_MIN_SPEED = 20.0  # m/s: below this, noise in a few centimetres dominates the ratio
TRACK_LINE_SAMPLE_HZ = 1  # frames per second checked against the track line
_CHUNK = 2048  # points per block in the nearest-point search
_COARSE = 8  # outline points per step of the first, coarse pass of that search


def motion_ratio(timeline: Timeline) -> np.ndarray:
    """Map speed over recorded speed for every running car and frame pair above 20 m/s."""
    x = timeline.frames["x"].astype(np.float64)
    y = timeline.frames["y"].astype(np.float64)
    speed = timeline.frames["speed"].astype(np.float64) / 3.6
    status = timeline.frames["status"]
    shown = np.hypot(np.diff(x, axis=0), np.diff(y, axis=0)) * timeline.fps
    recorded = (speed[1:] + speed[:-1]) / 2.0
    running = (status[1:] == DriverStatus.RUNNING) & (status[:-1] == DriverStatus.RUNNING)
    valid = running & (recorded > MOTION_MIN_SPEED) & np.isfinite(shown)
    return shown[valid] / recorded[valid]


def track_line_distance(timeline: Timeline) -> np.ndarray:
    """Metres from each running car (sampled at 1 Hz) to the nearest outline point."""
    geometry = timeline.geometry
    if geometry is None or len(geometry.outline) < 2:
        return np.empty(0)
    step = max(1, timeline.fps // TRACK_LINE_SAMPLE_HZ)
    xy = np.stack([timeline.frames["x"][::step], timeline.frames["y"][::step]], axis=-1)
    running = timeline.frames["status"][::step] == DriverStatus.RUNNING
    points = xy[running & np.isfinite(xy).all(axis=-1)].astype(np.float64)
    return _nearest_distance(points, geometry.outline.astype(np.float64))


def standing_car_distance(timeline: Timeline) -> np.ndarray:
    """Metres from each car that is not racing (waiting for the start, retired, finished;
    sampled at 1 Hz) to the nearest point of the track line or the pit lane."""
    geometry = timeline.geometry
    if geometry is None or len(geometry.outline) < 2:
        return np.empty(0)
    step = max(1, timeline.fps // TRACK_LINE_SAMPLE_HZ)
    xy = np.stack([timeline.frames["x"][::step], timeline.frames["y"][::step]], axis=-1)
    standing = np.isin(
        timeline.frames["status"][::step],
        (DriverStatus.NOT_STARTED, DriverStatus.RETIRED, DriverStatus.FINISHED),
    )
    points = xy[standing & np.isfinite(xy).all(axis=-1)].astype(np.float64)
    places = np.concatenate([geometry.outline, geometry.pit_lane]).astype(np.float64)
    return _nearest_distance(points, places)


def _nearest_distance(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Distance to the nearest outline point: first among every `_COARSE`-th point, then
    among the points around the coarse winner (the outline is dense and smooth)."""
    coarse = np.arange(0, len(outline), _COARSE)
    around = np.arange(-_COARSE, _COARSE + 1)
    nearest = np.empty(len(points))
    for lo in range(0, len(points), _CHUNK):
        block = points[lo : lo + _CHUNK]
        d2 = ((block[:, None, :] - outline[coarse][None, :, :]) ** 2).sum(axis=-1)
        window = (coarse[d2.argmin(axis=1)][:, None] + around) % len(outline)
        d2 = ((block[:, None, :] - outline[window]) ** 2).sum(axis=-1)
        nearest[lo : lo + _CHUNK] = np.sqrt(d2.min(axis=1))
    return nearest


def pit_lane_share(timeline: Timeline) -> float:
    """Share of racing car-time (running or in the pit lane) shown in the pit lane."""
    status = timeline.frames["status"]
    racing = np.isin(status, (DriverStatus.RUNNING, DriverStatus.PIT_LANE)).sum()
    return float((status == DriverStatus.PIT_LANE).sum() / racing) if racing else 0.0


def official_order_agreement(timeline: Timeline) -> float | None:
    """Share of lap ends with an official position where the frames show that position."""
    codes = {d.code: j for j, d in enumerate(timeline.drivers)}
    frames = []
    cars = []
    official = []
    for row in timeline.laps:
        if row.get("position") and row["end"] is not None and row["driver"] in codes:
            frames.append(timeline.frame_at(row["end"] + 0.5))
            cars.append(codes[row["driver"]])
            official.append(row["position"])
    if not official:
        return None
    shown = timeline.frames["position"][np.asarray(frames), np.asarray(cars)]
    return float(np.mean(shown == np.asarray(official)))


def fidelity(timeline: Timeline) -> dict[str, Any]:
    """The figures above, rounded for a report; None where the data cannot give one."""
    ratio = motion_ratio(timeline)
    line = track_line_distance(timeline)
    standing = standing_car_distance(timeline)
    in_band = (ratio >= MOTION_BAND[0]) & (ratio <= MOTION_BAND[1])
    agreement = official_order_agreement(timeline)
    return {
        "motion_in_band": round(float(in_band.mean()), 4) if len(ratio) else None,
        "motion_frames": len(ratio),
        "track_line_p99_m": round(float(np.percentile(line, 99)), 2) if len(line) else None,
        "standing_cars_max_m": round(float(standing.max()), 2) if len(standing) else None,
        "pit_lane_share": round(pit_lane_share(timeline), 4),
        "official_order_agreement": None if agreement is None else round(agreement, 4),
    }
