"""Event-loop lag: how late a short sleep wakes up, the delay every viewer then suffers."""

from __future__ import annotations

import asyncio
import collections
import time

import numpy as np

from racereplay.replay.tasks import cancel_and_wait


class LoopLagMonitor:
    def __init__(self, period: float = 0.01, keep: int = 2000) -> None:
        self.period = period
        self.samples: collections.deque[float] = collections.deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            self.samples.append(time.perf_counter() - started - self.period)

    def percentiles_ms(self) -> dict[str, float | None]:
        """p50, p99 and max of the recent samples, in ms (None before any sample)."""
        if not self.samples:
            return {"p50": None, "p99": None, "max": None}
        values = np.array(self.samples) * 1e3
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
