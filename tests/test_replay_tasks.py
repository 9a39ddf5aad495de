"""Stopping tasks for sure (replay/tasks.py), including tasks cancelled in the middle of
a command to a real Redis."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import pytest

from racereplay.replay.tasks import cancel_and_wait

WAIT_SECONDS = 10.0  # far more than a cancel needs, even on a busy machine


async def finishes(awaitable: Any) -> bool:
    """True if `awaitable` completes within WAIT_SECONDS (without cancelling it)."""
    job = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({job}, timeout=WAIT_SECONDS)
    return job in done


def test_a_task_that_swallowed_its_cancellation_is_cancelled_again() -> None:
    async def scenario() -> tuple[bool, bool]:
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        forever = asyncio.Event()

        async def reader() -> None:
            await asyncio.wait_for(answer, timeout=60)
            await forever.wait()

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)  # the reader waits in wait_for
        # The reply lands as the cancel does: Python 3.11's wait_for returns the reply.
        answer.set_result(1)
        task.cancel()
        await asyncio.sleep(0.05)
        ran_on = not task.done()
        stopped = await finishes(cancel_and_wait([task]))
        return ran_on, stopped and task.cancelled()

    ran_on, stopped = asyncio.run(scenario())
    if sys.version_info < (3, 12):
        assert ran_on  # the premise: one cancel was not enough
    assert stopped


def test_finished_and_failed_tasks_are_waited_for_quietly() -> None:
    async def scenario() -> list[bool]:
        async def fail() -> None:
            raise RuntimeError("boom")

        done = asyncio.create_task(asyncio.sleep(0))
        failed = asyncio.create_task(fail())
        sleeping = asyncio.create_task(asyncio.sleep(60))
        await asyncio.sleep(0.01)
        await cancel_and_wait([done, failed, sleeping])
        return [done.done(), failed.done(), sleeping.cancelled()]

    assert asyncio.run(scenario()) == [True, True, True]


@pytest.mark.slow
def test_the_lease_publisher_stops_when_cancelled_mid_command(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader's progress publisher, publishing without pause to a real Redis, is
    stopped at random moments: every stop returns (the bug: some never did, and the
    session never became ready on the replica that took a build over)."""
    import redis.asyncio as aioredis

    from racereplay.replay import leases
    from racereplay.sources import SessionRef

    monkeypatch.setattr(leases, "PUBLISH_INTERVAL_SECONDS", 0.0)
    ref = SessionRef.parse("demo?cars=2&laps=1")

    async def scenario() -> int:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
        coordinator = leases.BuildLeases(client, lambda ref, progress: None)  # type: ignore[arg-type, return-value]
        stopped = 0
        rng = random.Random(7)
        for _ in range(300):
            publisher = leases._Publisher(coordinator, ref)
            for step in range(5):
                publisher._update(step / 5, "building")
                await asyncio.sleep(rng.random() * 0.002)
            stopped += await finishes(publisher.stop())
        await client.aclose()
        return stopped

    assert asyncio.run(scenario()) == 300
