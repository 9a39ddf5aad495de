"""Weather samples every minute: temperatures drifting, one short spell of light rain."""

from __future__ import annotations

import numpy as np

from racereplay.model import WeatherSample


def simulate_weather(rng: np.random.Generator, end: float) -> list[WeatherSample]:
    times = np.arange(0.0, end + 60.0, 60.0)
    n = len(times)
    drift = np.cumsum(rng.normal(0, 0.08, n))  # random walk, °C
    air = 21.0 + rng.uniform(-3, 3) + drift
    rain = np.zeros(n, dtype=bool)
    if n > 20:
        start = int(rng.integers(n // 3, n - 8))
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
