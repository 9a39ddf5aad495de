"""The track map from a reference lap: outline, sectors, corners, pit lane."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from racereplay.model import MarshalSector, RawSession, Telemetry
from racereplay.timeline.laptable import DriverLaps
from racereplay.timeline.model import TrackGeometry

OUTLINE_STEP = 1.5  # metres between outline points
TRACK_WIDTH = 14.0  # metres, for drawing
MIN_SAMPLES_PER_SECOND = 3.0  # a lap with fewer has gaps too large for a map


def reference_lap(raw: RawSession, laps: dict[str, DriverLaps]) -> tuple[str, int] | None:
    """(driver, lap index) of the fastest clean lap with dense telemetry."""
    best: tuple[bool, float, str, int] | None = None
    for code, dl in laps.items():
        tel = raw.telemetry.get(code)
        if tel is None or len(tel) < 2:
            continue
        n = dl.completed
        clean = np.isfinite(dl.lap_time[:n]) & ~dl.deleted[:n]
        clean &= ~(np.isfinite(dl.pit_in[:n]) | np.isfinite(dl.pit_out[:n]))
        has_sectors = np.isfinite(dl.sectors[:n]).all(axis=1)
        for i in np.flatnonzero(clean):
            samples = np.searchsorted(tel.time, [dl.start[i], dl.end[i]])
            if samples[1] - samples[0] < MIN_SAMPLES_PER_SECOND * dl.lap_time[i]:
                continue
            # A lap with sector times is preferred: it places the sector boundaries.
            candidate = (not has_sectors[i], float(dl.lap_time[i]), code, int(i))
            if best is None or candidate < best:
                best = candidate
    return None if best is None else (best[2], best[3])


def _along_distance(tel: Telemetry, t_from: float, t_to: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples between two times: metres from the first, and (n, 2) x/y."""
    lo, hi = np.searchsorted(tel.time, [t_from, t_to])
    d = np.asarray(tel.distance[lo:hi], dtype=np.float64)
    xy = np.column_stack([tel.x[lo:hi], tel.y[lo:hi]]).astype(np.float64)
    return d - (d[0] if len(d) else 0.0), xy


def _resample_path(d: np.ndarray, xy: np.ndarray, step: float) -> np.ndarray:
    d, first = np.unique(d, return_index=True)
    xy = xy[first]
    if len(d) < 2:
        return np.empty((0, 2), dtype=np.float32)
    grid = np.arange(0.0, d[-1], step)
    return np.column_stack([np.interp(grid, d, xy[:, 0]), np.interp(grid, d, xy[:, 1])]).astype(
        np.float32
    )


def pit_lane(raw: RawSession, laps: dict[str, DriverLaps]) -> np.ndarray:
    """The path of the first pit stop with telemetry, entry to exit."""
    for code, dl in laps.items():
        tel = raw.telemetry.get(code)
        if tel is None or len(tel) < 2:
            continue
        ins = np.sort(dl.pit_in[np.isfinite(dl.pit_in)])
        outs = np.sort(dl.pit_out[np.isfinite(dl.pit_out)])
        for t_in in ins:
            later = outs[outs > t_in]
            if len(later) and later[0] - t_in < 120:  # longer: a garage stop, not a lane pass
                d, xy = _along_distance(tel, float(t_in), float(later[0]))
                if len(d) > 10:
                    return _resample_path(d, xy, OUTLINE_STEP * 2)
    return np.empty((0, 2), dtype=np.float32)


def build_geometry(
    raw: RawSession, laps: dict[str, DriverLaps], lap_len: float
) -> TrackGeometry | None:
    ref = reference_lap(raw, laps)
    if ref is None:
        return None
    code, i = ref
    dl, tel = laps[code], raw.telemetry[code]
    start, end = float(dl.start[i]), float(dl.end[i])
    d, xy = _along_distance(tel, start, end)
    # Scale the reference lap's metres to the timeline's lap length, so that race
    # distance modulo the lap maps straight onto the outline.
    scale = lap_len / d[-1] if len(d) and d[-1] > 0 else 1.0
    sector_times = start + np.cumsum(dl.sectors[i][:2])
    sector_times = sector_times[np.isfinite(sector_times)]
    sector_d = (
        np.interp(sector_times, tel.time, tel.distance) - np.interp(start, tel.time, tel.distance)
    ) * scale
    outline = _resample_path(d * scale, xy, OUTLINE_STEP)
    return TrackGeometry(
        outline=outline,
        width=TRACK_WIDTH,
        sector_starts=[round(float(s), 1) for s in sector_d],
        corners=[
            {
                k: (round(v, 2) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in asdict(c).items()
            }
            for c in raw.circuit.corners
        ],
        pit_lane=pit_lane(raw, laps),
        rotation=float(raw.circuit.rotation),
        length=float(lap_len),
        marshal_sectors=marshal_sectors_on(outline, raw.circuit.marshal_sectors),
    )


def marshal_sectors_on(
    outline: np.ndarray, sectors: tuple[MarshalSector, ...]
) -> list[dict[str, float | int]]:
    """Each marshal sector's start placed on the outline: its nearest outline point.

    The source's own `distance` is measured on another lap than ours, so the start is
    found from its x/y, and its distance is that point's along the outline
    (OUTLINE_STEP apart, scaled to the timeline's lap).
    """
    if len(outline) < 2 or not sectors:
        return []
    xy = np.array([[m.x, m.y] for m in sectors], dtype=np.float64)
    d2 = ((outline[None, :, :].astype(np.float64) - xy[:, None, :]) ** 2).sum(axis=2)
    nearest = np.argmin(d2, axis=1)
    return [
        {
            "number": int(m.number),
            "x": round(float(outline[k, 0]), 2),
            "y": round(float(outline[k, 1]), 2),
            "distance": round(float(k) * OUTLINE_STEP, 1),
        }
        for m, k in sorted(zip(sectors, nearest, strict=True), key=lambda p: p[0].number)
    ]
