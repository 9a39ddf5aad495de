"""The collector at scale: what a loaded session and its viewers hold is frozen out of
the collector's full passes while they are there, and thawed and collected once no
viewer is connected, or after many departures (server/collector.py)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgpack
import pytest
import websockets
from e2e_browser import build_session, running_server

from racereplay.server.collector import Freezer

NAME = "demo?cars=6&laps=2"


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test process as it was


def test_joins_in_a_burst_cost_one_freeze_and_the_last_to_leave_thaws(thawed: None) -> None:
    async def scenario() -> None:
        freezer = Freezer(delay=0.05)
        kept = [[i] for i in range(1000)]  # long-lived containers, tracked by the collector
        for _ in range(50):
            freezer.settle()
        await asyncio.sleep(0.2)
        assert freezer.freezes == 1
        assert freezer.frozen() >= len(kept)
        walked = {id(o) for o in gc.get_objects()}  # what a collection would walk
        assert not any(id(k) in walked for k in kept)
        freezer.left(remaining=0)
        assert freezer.frozen() == 0 and freezer.thaws == 1

    asyncio.run(scenario())


def test_the_last_leaving_before_the_freeze_cancels_it(thawed: None) -> None:
    async def scenario() -> None:
        freezer = Freezer(delay=0.05)
        freezer.watch()
        freezer.left(remaining=0)
        await asyncio.sleep(0.2)
        assert freezer.freezes == 0 and freezer.frozen() == 0

    asyncio.run(scenario())


def test_while_watched_what_viewers_churn_through_is_frozen_every_period(thawed: None) -> None:
    async def scenario() -> None:
        freezer = Freezer(delay=0.02, period=0.05)
        freezer.watch()
        await asyncio.sleep(0.03)
        assert freezer.freezes == 1
        churned = [[i] for i in range(1000)]  # made after the first freeze, kept a while
        await asyncio.sleep(0.1)
        assert freezer.freezes >= 2
        walked = {id(o) for o in gc.get_objects()}
        assert not any(id(c) in walked for c in churned)
        freezer.left(remaining=0)
        freezes = freezer.freezes
        await asyncio.sleep(0.15)
        assert freezer.freezes == freezes  # no one watches: no more freezes

    asyncio.run(scenario())


def test_a_server_never_without_viewers_still_collects_after_many_departures(
    thawed: None,
) -> None:
    async def scenario() -> None:
        freezer = Freezer(delay=0.01, period=0.01, collect_after=3)
        freezer.watch()
        await asyncio.sleep(0.03)
        cycle = _Cycle()  # becomes garbage that only a collection frees
        freed = weakref.ref(cycle)
        await asyncio.sleep(0.03)  # frozen now
        del cycle
        gc.collect()  # a pass, as the collector runs them: frozen objects are out of reach
        freezer.left(remaining=5)
        freezer.left(remaining=4)
        assert freezer.thaws == 0 and freed() is not None
        freezer.left(remaining=3)
        assert freezer.thaws == 1 and freezer.departures == 0
        assert freed() is None
        await asyncio.sleep(0.03)
        assert freezer.frozen() > 0  # still watched: freezing goes on
        freezer.left(remaining=0)

    asyncio.run(scenario())


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_server_freezes_while_watched_and_thaws_when_left(tmp_path: Path) -> None:
    with running_server(tmp_path) as base:
        session_id = build_session(base, NAME, timeout=120)

        def frozen() -> int:
            health = httpx.get(f"{base}/api/health?count_frozen=1", timeout=30).json()
            return int(health["gc_frozen"])

        async def watch() -> int:
            url = base.replace("http://", "ws://") + f"/ws?session={session_id}"
            async with websockets.connect(url, max_size=2**22) as ws:
                while msgpack.unpackb(await ws.recv())["type"] != "ready":
                    pass
                await ws.send(msgpack.packb({"type": "play"}))
                return await asyncio.to_thread(_until, frozen, lambda n: n > 10_000)

        assert asyncio.run(watch()) > 10_000  # the session's and the viewer's objects
        assert _until(frozen, lambda n: n == 0) == 0


def _until(read: Callable[[], int], ok: Callable[[int], bool], timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while not ok(value := read()):
        assert time.monotonic() < deadline, f"still {value} after {timeout} s"
        time.sleep(0.1)
    return value
