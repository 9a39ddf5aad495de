"""The viewer clock: anchored to the wall clock, so position is exact at any wake-up time."""

from __future__ import annotations

import math

import pytest

from racereplay.replay.player import ClockError, PlaybackClock


class WallClock:
    """A wall clock the test moves by hand: the clock takes its time source as a parameter."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_position_follows_wall_clock_times_speed_without_drift() -> None:
    wall = WallClock()
    clock = PlaybackClock(n_frames=100_000, fps=25, now=wall)
    clock.play()
    for _ in range(10_000):  # many irregular wake-ups must not accumulate error
        wall.t += 0.0137
    assert clock.position() == pytest.approx(10_000 * 0.0137 * 25, abs=1e-6)
    clock.set_speed(4)
    wall.t += 2.0
    assert clock.position() == pytest.approx(10_000 * 0.0137 * 25 + 2.0 * 4 * 25, abs=1e-6)


def test_pause_freezes_and_play_resumes_from_there() -> None:
    wall = WallClock()
    clock = PlaybackClock(1000, 25, now=wall)
    clock.play()
    wall.t += 1.0
    clock.pause()
    wall.t += 5.0
    assert clock.position() == pytest.approx(25.0)
    assert clock.seconds_until(100) == math.inf
    clock.play()
    wall.t += 1.0
    assert clock.position() == pytest.approx(50.0)
    assert clock.seconds_until(100) == pytest.approx(2.0)


def test_seek_is_clamped_and_stops_at_the_end() -> None:
    wall = WallClock()
    clock = PlaybackClock(250, 25, now=wall)
    clock.seek(-50)
    assert clock.position() == 0
    clock.seek(240)
    clock.play()
    wall.t += 10
    assert clock.position() == 249
    assert clock.stop_if_ended()
    assert not clock.playing
    clock.play()  # nothing left: stays paused
    assert not clock.playing


def test_speed_out_of_range_is_refused_with_the_valid_range() -> None:
    clock = PlaybackClock(10, 25)
    with pytest.raises(ClockError, match=r"0.25 to 64"):
        clock.set_speed(100)
    with pytest.raises(ClockError):
        clock.set_speed(0.1)
    clock.set_speed(0.25)
    assert clock.speed == 0.25
