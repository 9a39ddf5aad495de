"""Stopping asyncio tasks for sure.

`task.cancel()` then `await task` is not enough on Python 3.11: `asyncio.wait_for`
returns the awaited result, swallowing the cancellation, when the cancel arrives just
as the awaited operation completes (CPython gh-86296, fixed in 3.12). redis-py reads
every reply under `wait_for`, so a task cancelled in the middle of a Redis command can
run on, and whoever waits for it waits for good: a replica's build lease publisher did,
and its session never became ready. `cancel_and_wait` cancels again until each task
has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

RECANCEL_SECONDS = 0.1  # how long a cancelled task gets before it is cancelled again


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` and return once every one has finished (their results and
    exceptions are dropped). Cancelling the caller stops the wait, not the cancels."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" log
