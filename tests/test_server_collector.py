"""The collector at scale: what a loaded session and its viewers hold is frozen out of
the collector's full passes while they are there, and thawed and collected once no
viewer is connected (server/collector.py)."""

from __future__ import annotations

import asyncio
import gc
import time
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


def test_joins_in_a_burst_cost_one_freeze_and_idle_thaws(thawed: None) -> None:
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
        freezer.idle()
        assert freezer.frozen() == 0 and freezer.thaws == 1

    asyncio.run(scenario())


def test_idle_before_the_freeze_cancels_it(thawed: None) -> None:
    async def scenario() -> None:
        freezer = Freezer(delay=0.05)
        freezer.settle()
        freezer.idle()
        await asyncio.sleep(0.2)
        assert freezer.freezes == 0 and freezer.frozen() == 0

    asyncio.run(scenario())


def test_a_server_freezes_while_watched_and_thaws_when_left(tmp_path: Path) -> None:
    with running_server(tmp_path) as base:
        session_id = build_session(base, NAME, timeout=120)

        def frozen() -> int:
            return int(httpx.get(f"{base}/api/health", timeout=30).json()["gc_frozen"])

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
