"""The demo circuit: a closed spline through designed control points, and its speed profile.

Everything is tabulated on a uniform grid of lap distance `s` (metres from the
start/finish line), so that the simulator can look anything up with `np.interp`.
The circuit is fixed (it does not depend on the seed) so that every demo session
shares one track map.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from racereplay.model import CircuitInfo, Corner, MarshalSector

MARSHAL_SECTORS = 18  # the demo circuit's marshal sectors, equal lengths

GRAVITY = 9.81
TOP_SPEED = 92.0  # m/s, ~330 km/h
PIT_SPEED = 80 / 3.6  # m/s, the pit lane limit
BOX_SPEED = 6.0  # m/s, rolling into / out of the pit box
GRID_STEP = 8.0  # metres between grid slots
LAP_LENGTH = 5_200.0  # metres
STEP = 2.0  # metres between table points
PIT_OFFSET = 22.0  # metres between the pit lane and the track
PIT_ENTRY = 420.0  # metres before the line where the pit lane leaves the track
PIT_EXIT = 380.0  # metres after the line where it joins again
BOX_AT = 120.0  # metres after the line: where the cars stop
PIT_BLEND = 120.0  # metres over which the pit lane moves away from / back to the track

# Designed control points (metres, before scaling). The first points lie on the
# main straight; the line is put on it afterwards.
_CONTROL = np.array(
    [
        (-600, 0), (0, 0), (650, 0), (780, 10), (820, 70), (780, 130), (600, 160),
        (480, 220), (470, 320), (560, 400), (900, 420), (1020, 460), (1040, 560),
        (960, 620), (800, 600), (700, 650), (690, 760), (760, 860), (1100, 900),
        (1400, 880), (1520, 920), (1530, 1040), (1420, 1080), (1100, 1080), (800, 1120),
        (500, 1200), (300, 1150), (250, 1000), (120, 900), (-200, 880), (-450, 800),
        (-560, 720), (-580, 560), (-500, 420), (-560, 300), (-700, 200), (-760, 90),
        (-700, 20),
    ],
    dtype=np.float64,
)  # fmt: skip


@dataclass(frozen=True)
class Track:
    s: np.ndarray  # (n,) lap distance of each table point, 0..length inclusive
    x: np.ndarray  # centre line, metres
    y: np.ndarray
    z: np.ndarray
    heading: np.ndarray  # radians, direction of travel
    curvature: np.ndarray  # 1/m, signed (positive = left turn)
    speed: np.ndarray  # m/s, racing speed profile
    pit_speed: np.ndarray  # m/s, the profile of a lap through the pit lane (stop excluded)
    pit_offset: np.ndarray  # metres to the side of the centre line where the pit lane runs
    straight: np.ndarray  # bool: overtaking (and DRS) zones
    length: float
    sectors: tuple[float, float]  # lap distance where sectors 2 and 3 start
    pit_window: tuple[float, float]  # where a pit lap's profile differs: (before line, after line)
    corners: tuple[Corner, ...]
    rotation: float

    @property
    def lap_time(self) -> float:
        """The ideal lap at full pace on the racing profile, seconds."""
        return float(profile_time(self.s, self.speed)[-1])

    def info(self) -> CircuitInfo:
        return CircuitInfo(
            corners=self.corners, rotation=self.rotation, marshal_sectors=self.marshal_sectors()
        )

    def marshal_sectors(self) -> tuple[MarshalSector, ...]:
        """MARSHAL_SECTORS equal stretches of the lap, numbered from the line."""
        starts = np.arange(MARSHAL_SECTORS) * self.length / MARSHAL_SECTORS
        x, y, _ = self.position(starts)
        return tuple(
            MarshalSector(number=k + 1, x=float(x[k]), y=float(y[k]), distance=float(starts[k]))
            for k in range(MARSHAL_SECTORS)
        )

    def position(
        self, lap_distance: np.ndarray, lateral: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y, z at the given lap distances, `lateral` metres to the left of the centre line."""
        s = np.mod(lap_distance, self.length)
        heading = _interp_angle(s, self.s, self.heading)
        x = np.interp(s, self.s, self.x) - np.sin(heading) * lateral
        y = np.interp(s, self.s, self.y) + np.cos(heading) * lateral
        return x, y, np.interp(s, self.s, self.z)


def profile_time(s: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Cumulative time to reach each table point from s[0] at the given speeds (trapezoid)."""
    dt = np.diff(s) * 0.5 * (1 / speed[:-1] + 1 / speed[1:])
    return np.concatenate(([0.0], np.cumsum(dt)))


def build_track() -> Track:
    x, y = _centre_line(_CONTROL, LAP_LENGTH, STEP)
    s = np.arange(len(x)) * STEP
    # Close the table: the last point repeats the first one at s = length.
    x, y, s = np.append(x, x[0]), np.append(y, y[0]), np.append(s, LAP_LENGTH)
    heading, curvature = _heading_and_curvature(x[:-1], y[:-1], STEP)
    heading, curvature = np.append(heading, heading[0]), np.append(curvature, curvature[0])
    z = 4.0 * np.sin(2 * np.pi * s / LAP_LENGTH + 0.6) + 1.5 * np.sin(6 * np.pi * s / LAP_LENGTH)
    limit = _cornering_limit(curvature)
    speed = _speed_profile(limit, STEP)
    pit_offset = _pit_offset(s)
    pit_speed = _speed_profile(np.minimum(limit, _pit_limit(s)), STEP)
    straight = (speed > 0.8 * TOP_SPEED) & (pit_offset == 0)
    return Track(
        s=s,
        x=x,
        y=y,
        z=z,
        heading=heading,
        curvature=curvature,
        speed=speed,
        pit_speed=pit_speed,
        pit_offset=pit_offset,
        straight=straight,
        length=LAP_LENGTH,
        sectors=_sector_starts(s, speed),
        pit_window=_pit_window(s, speed, pit_speed),
        corners=_find_corners(s, x, y, heading, curvature),
        rotation=62.0,
    )


def _centre_line(control: np.ndarray, length: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed centripetal Catmull-Rom spline through `control`, scaled to `length`,
    resampled every `step` metres, starting at the second control point (the line)."""
    dense = _catmull_rom_closed(control, 200)
    seg = np.hypot(*np.diff(dense, axis=0).T)
    dense *= length / seg.sum()
    cum = np.concatenate(([0.0], np.cumsum(seg * length / seg.sum())))
    start = cum[200]  # the second control point is the start/finish line
    s = np.mod(start + np.arange(0.0, length, step), length)
    return np.interp(s, cum, dense[:, 0]), np.interp(s, cum, dense[:, 1])


def _catmull_rom_closed(points: np.ndarray, per_segment: int) -> np.ndarray:
    p = np.concatenate((points[-1:], points, points[:2]))
    u = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(points) + 1):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        # Centripetal parameterisation: no cusps or self-loops inside a segment.
        t1 = np.hypot(*(p1 - p0)) ** 0.5
        t2 = t1 + np.hypot(*(p2 - p1)) ** 0.5
        t3 = t2 + np.hypot(*(p3 - p2)) ** 0.5
        t = t1 + u * (t2 - t1)
        a1 = (t1 - t) / t1 * p0 + t / t1 * p1
        a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
        a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
        b1 = (t2 - t) / t2 * a1 + t / t2 * a2
        b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
        out.append((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2)
    dense = np.concatenate(out)
    return np.concatenate((dense, dense[:1]))


def _heading_and_curvature(
    x: np.ndarray, y: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    dx = (np.roll(x, -1) - np.roll(x, 1)) / (2 * step)
    dy = (np.roll(y, -1) - np.roll(y, 1)) / (2 * step)
    heading = np.arctan2(dy, dx)
    turn = np.angle(np.exp(1j * (np.roll(heading, -1) - np.roll(heading, 1)))) / (2 * step)
    # Smooth over ~30 m: the spline's curvature is piecewise and a little noisy.
    kernel = np.hanning(17)
    kernel /= kernel.sum()
    padded = np.concatenate((turn[-8:], turn, turn[:8]))
    return heading, np.convolve(padded, kernel, mode="valid")


def _cornering_limit(curvature: np.ndarray) -> np.ndarray:
    """Fastest speed through each point: lateral grip grows with downforce (v^2)."""
    mechanical, aero = 1.6 * GRAVITY, 3.6 * GRAVITY / 85.0**2
    k = np.abs(curvature)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.sqrt(mechanical / (k - aero))
    return np.where(k > aero, np.minimum(v, TOP_SPEED), TOP_SPEED)


def _speed_profile(limit: np.ndarray, step: float) -> np.ndarray:
    """Accelerate and brake between cornering limits (forward and backward passes, closed lap).

    A loop over table points, run once per circuit, not per frame."""
    n = len(limit) - 1  # the last point repeats the first
    lim = limit[:-1]
    start = int(np.argmin(lim))  # the slowest point: no pass needs a previous lap's speed
    order = np.roll(np.arange(n), -start)
    v = lim.copy()
    for i, j in itertools.pairwise(order):
        accel = 14.0 * (1 - (v[i] / (TOP_SPEED + 4)) ** 2)
        v[j] = min(v[j], np.sqrt(v[i] ** 2 + 2 * accel * step))
    for i, j in zip(order[:0:-1], order[-2::-1], strict=True):
        brake = 14.0 + 36.0 * (v[i] / TOP_SPEED) ** 2
        v[j] = min(v[j], np.sqrt(v[i] ** 2 + 2 * brake * step))
    return np.append(v, v[0])


def _pit_offset(s: np.ndarray) -> np.ndarray:
    """Lateral offset of the pit lane: it runs from PIT_ENTRY before the line to PIT_EXIT after."""
    length = s[-1]
    after_entry = np.mod(s - (length - PIT_ENTRY), length)  # metres since the pit entry
    inside = after_entry <= PIT_ENTRY + PIT_EXIT
    ramp_in = np.clip(after_entry / PIT_BLEND, 0, 1)
    ramp_out = np.clip((PIT_ENTRY + PIT_EXIT - after_entry) / PIT_BLEND, 0, 1)
    blend = 0.5 - 0.5 * np.cos(np.pi * np.minimum(ramp_in, ramp_out))
    return np.where(inside, -PIT_OFFSET * blend, 0.0)


def _pit_limit(s: np.ndarray) -> np.ndarray:
    """The pit lane speed limit, with a roll down to the box (the stop itself is separate)."""
    length = s[-1]
    lane = (s >= length - PIT_ENTRY + PIT_BLEND) | (s <= PIT_EXIT - PIT_BLEND)
    to_box = np.abs(s - BOX_AT)
    box = np.sqrt(BOX_SPEED**2 + 2 * 4.0 * to_box)  # 4 m/s^2 in and out of the box
    return np.where(lane, np.minimum(PIT_SPEED, box), np.inf)


def _pit_window(s: np.ndarray, speed: np.ndarray, pit_speed: np.ndarray) -> tuple[float, float]:
    """Metres before and after the line between which a pit lap drives slower than a racing lap."""
    slower = pit_speed < speed - 1e-9
    half = s[-1] / 2
    before = s[-1] - s[slower & (s > half)].min()
    after = s[slower & (s < half)].max()
    return float(before), float(after)


def _sector_starts(s: np.ndarray, speed: np.ndarray) -> tuple[float, float]:
    t = profile_time(s, speed)
    third = t[-1] / 3
    return float(np.interp(third, t, s)), float(np.interp(2 * third, t, s))


def _find_corners(
    s: np.ndarray, x: np.ndarray, y: np.ndarray, heading: np.ndarray, curvature: np.ndarray
) -> tuple[Corner, ...]:
    """Corners are local maxima of |curvature| tighter than a 400 m radius, 120 m apart."""
    k = np.abs(curvature[:-1])
    peak = (k > 1 / 400) & (k >= np.roll(k, 1)) & (k > np.roll(k, -1))
    corners: list[int] = []
    for i in np.flatnonzero(peak):
        if corners and s[i] - s[corners[-1]] < 120:
            if k[i] > k[corners[-1]]:
                corners[-1] = int(i)
            continue
        corners.append(int(i))
    out = []
    for number, apex in enumerate(corners, start=1):
        # FastF1's convention: x/y on the track, the angle points to where the label goes.
        outside = heading[apex] - np.sign(curvature[apex]) * np.pi / 2
        out.append(
            Corner(
                number=number,
                letter="",
                x=float(x[apex]),
                y=float(y[apex]),
                angle=float(np.degrees(outside)),
                distance=float(s[apex]),
            )
        )
    return tuple(out)


def _interp_angle(s: np.ndarray, table_s: np.ndarray, angle: np.ndarray) -> np.ndarray:
    unwrapped = np.unwrap(angle)
    return np.interp(s, table_s, unwrapped)
