"""Exact kinematics on the speed profiles, through "profile time".

A car at pace factor `f` that follows a profile covers, in `dt` seconds, the
distance the profile covers in `f * dt` profile seconds. So the simulator steps
the field in profile time and maps back to distance with a table look-up: the
speed inside a tick follows the profile exactly however coarse the tick is, and
telemetry sampled between ticks is consistent with the lap crossings.

Two profiles: RACING (0) and PIT (1, a lap through the pit lane). They are
stacked in one table so that one `np.interp` serves a mixed field.
"""

from __future__ import annotations

import numpy as np

from racereplay.sources.demo.track import Track, profile_time

RACING, PIT = 0, 1


class Motion:
    def __init__(self, track: Track) -> None:
        self.length = track.length
        race_t = profile_time(track.s, track.speed)
        pit_t = profile_time(track.s, track.pit_speed)
        self.lap_time = np.array([race_t[-1], pit_t[-1]])
        # Stacked tables: RACING on s in [0, L], PIT on [2L, 3L] (times after a one-second
        # gap). The gaps keep every look-up inside its own table, even at the line.
        self._s_offset = np.array([0.0, 2 * track.length])
        self._t_offset = np.array([0.0, race_t[-1] + 1.0])
        self._s = np.concatenate((track.s, self._s_offset[PIT] + track.s))
        self._t = np.concatenate((race_t, self._t_offset[PIT] + pit_t))
        self._v = np.concatenate((track.speed, track.pit_speed))

    def to_profile_time(self, distance: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        """Profile time (monotonic across laps) of a total distance, on profile `mode`."""
        laps = np.floor(distance / self.length)
        within = distance - laps * self.length + self._s_offset[mode]
        return (
            laps * self.lap_time[mode] + np.interp(within, self._s, self._t) - self._t_offset[mode]
        )

    def to_distance(self, profile_t: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        lap_time = self.lap_time[mode]
        laps = np.floor(profile_t / lap_time)
        within = profile_t - laps * lap_time + self._t_offset[mode]
        return laps * self.length + np.interp(within, self._t, self._s) - self._s_offset[mode]

    def profile_speed(self, distance: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        """m/s of the profile at these distances (a car at pace f drives f times this)."""
        within = np.mod(distance, self.length) + self._s_offset[mode]
        return np.interp(within, self._s, self._v)
