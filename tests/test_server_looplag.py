"""The event-loop lag monitor: how late short sleeps wake, over all kept samples or
the last seconds only."""

from __future__ import annotations

import asyncio
import time

from racereplay.server.looplag import LoopLagMonitor


def test_the_last_seconds_leave_out_an_older_stall() -> None:
    async def scenario() -> tuple[dict[str, float | None], dict[str, float | None]]:
        monitor = LoopLagMonitor(period=0.005)
        monitor.start()
        await asyncio.sleep(0.05)
        time.sleep(0.5)  # a stall the monitor's next wake-up sees
        await asyncio.sleep(0.5)
        await monitor.stop()
        return monitor.percentiles_ms(), monitor.percentiles_ms(last_seconds=0.2)

    everything, recent = asyncio.run(scenario())
    assert everything["max"] is not None and everything["max"] >= 400
    assert recent["max"] is not None and recent["max"] < 400


def test_no_samples_yet_gives_none() -> None:
    monitor = LoopLagMonitor()
    assert monitor.percentiles_ms() == {"p50": None, "p99": None, "max": None}
    assert monitor.percentiles_ms(last_seconds=1.0)["p99"] is None
