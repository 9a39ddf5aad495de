"""Event-loop lag: how late a short sleep wakes up, the delay every viewer then suffers."""

from __future__ import annotations

import asyncio
import collections
import math
import time

import numpy as np

from racereplay.replay.tasks import cancel_and_wait


class LoopLagMonitor:
    def __init__(self, period: float = 0.01, keep: int = 2000) -> None:
        self.period = period
        # (monotonic time of the wake-up, seconds late)
        self.samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            woke = time.perf_counter()
            self.samples.append((woke, woke - started - self.period))

    def percentiles_ms(self, last_seconds: float | None = None) -> dict[str, float | None]:
        """p50, p99 and max of the kept samples, or of those of the last `last_seconds`,
        in ms (None before any sample)."""
        since = -math.inf if last_seconds is None else time.perf_counter() - last_seconds
        values = np.array([lag for woke, lag in self.samples if woke >= since]) * 1e3
        if not values.size:
            return {"p50": None, "p99": None, "max": None}
        p50, p99 = np.percentile(values, [50, 99])
        return {
            "p50": round(float(p50), 2),
            "p99": round(float(p99), 2),
            "max": round(float(values.max()), 2),
        }

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
