"""Weather samples every minute: temperatures drifting, one short spell of light rain,
and how wet the track is because of it (the race runs slower while it is wet)."""

from __future__ import annotations

import numpy as np

from racereplay.model import WeatherSample

DRYING_SECONDS = 240.0  # time constant of a drying track once the rain stops


def simulate_weather(
    rng: np.random.Generator, end: float, rain_window: tuple[float, float] | None = None
) -> list[WeatherSample]:
    """Samples from 0 to `end`; the rain starts within `rain_window` (seconds; default:
    the middle third to the last eight minutes), if the session lasts over 20 minutes."""
    times = np.arange(0.0, end + 60.0, 60.0)
    n = len(times)
    drift = np.cumsum(rng.normal(0, 0.08, n))  # random walk, °C
    air = 21.0 + rng.uniform(-3, 3) + drift
    rain = np.zeros(n, dtype=bool)
    if n > 20:
        lo, hi = (n // 3, n - 8) if rain_window is None else (int(w // 60) for w in rain_window)
        start = int(rng.integers(lo, max(hi, lo + 1)))
        rain[start : start + int(rng.integers(4, 8))] = True
    # The track cools under cloud and rain, and warms slowly again.
    cooling = np.convolve(rain.astype(float), np.exp(-np.arange(15) / 5.0))[:n] * 1.5
    track = air + 13.0 - cooling + rng.normal(0, 0.2, n)
    humidity = np.clip(55 + 6 * drift + 30 * rain + rng.normal(0, 1, n), 20, 100)
    pressure = 1013 + np.cumsum(rng.normal(0, 0.05, n))
    wind = np.abs(2.5 + np.cumsum(rng.normal(0, 0.1, n)))
    direction = np.mod(200 + np.cumsum(rng.normal(0, 4, n)), 360)
    return [
        WeatherSample(
            time=float(times[i]),
            air_temp=round(float(air[i]), 1),
            track_temp=round(float(track[i]), 1),
            humidity=round(float(humidity[i]), 1),
            pressure=round(float(pressure[i]), 1),
            rainfall=bool(rain[i]),
            wind_speed=round(float(wind[i]), 1),
            wind_direction=round(float(direction[i])),
        )
        for i in range(n)
    ]


def wetness(weather: list[WeatherSample]) -> tuple[np.ndarray, np.ndarray]:
    """(times, level): 1 while it rains, drying back towards 0 after."""
    times = np.array([w.time for w in weather])
    level = np.zeros(len(weather))
    for i in range(1, len(weather)):
        dried = level[i - 1] * np.exp(-(times[i] - times[i - 1]) / DRYING_SECONDS)
        level[i] = 1.0 if weather[i].rainfall else dried
    return times, level
