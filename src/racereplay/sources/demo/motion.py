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
        # Stacked tables: RACING on [0, L], PIT on [L, 2L] (and time offset by a racing lap).
        self._s = np.concatenate((track.s, track.length + track.s[1:]))
        self._t = np.concatenate((race_t, race_t[-1] + pit_t[1:]))
        self._v = np.concatenate((track.speed, track.pit_speed[1:]))

    def to_profile_time(self, distance: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        """Profile time (monotonic across laps) of a total distance, on profile `mode`."""
        laps = np.floor(distance / self.length)
        within = distance - laps * self.length + mode * self.length
        return (
            laps * self.lap_time[mode]
            + np.interp(within, self._s, self._t)
            - (mode * self.lap_time[RACING])
        )

    def to_distance(self, profile_t: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        lap_time = self.lap_time[mode]
        laps = np.floor(profile_t / lap_time)
        within = profile_t - laps * lap_time + mode * self.lap_time[RACING]
        return laps * self.length + np.interp(within, self._t, self._s) - mode * self.length

    def profile_speed(self, distance: np.ndarray, mode: np.ndarray | int) -> np.ndarray:
        """m/s of the profile at these distances (a car at pace f drives f times this)."""
        within = np.mod(distance, self.length) + mode * self.length
        return np.interp(within, self._s, self._v)
