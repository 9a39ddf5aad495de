"""Shared pieces for the server tests: a toy builder and a real uvicorn server.

The builder's timelines are `factories.oval_timeline` (cars circling an oval, made
directly from `racereplay.timeline.model`), so the server is tested before and
independently of the demo source and the timeline build; `test_server_ws.py` also
runs once through the real cache builder.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import uvicorn
from factories import oval_timeline

from racereplay.server.app import create_app, uvicorn_config_options
from racereplay.server.process import free_port
from racereplay.server.settings import Settings
from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import Timeline

FAIL_SEED = 13  # `demo?seed=13` fails to build
HOLD_SEED = 14  # `demo?seed=14` waits for release()


class ToyBuilder:
    """Toy timelines for `demo?cars=N&laps=L` (names the real catalogue accepts);
    seed FAIL_SEED fails, seed HOLD_SEED waits for release()."""

    def __init__(self) -> None:
        self.builds: list[str] = []
        self._gate = threading.Event()

    def release(self) -> None:
        self._gate.set()

    async def __call__(self, ref: SessionRef, progress: Progress) -> Timeline:
        self.builds.append(str(ref))
        progress(0.25, "simulating")
        if ref.options.get("seed") == str(HOLD_SEED):
            await asyncio.to_thread(self._gate.wait, 30)
        await asyncio.sleep(0.05)
        progress(0.75, "building")
        if ref.options.get("seed") == str(FAIL_SEED):
            raise RuntimeError("the toy source was told to fail")
        cars = int(ref.options.get("cars", 4))
        laps = int(ref.options.get("laps", 3))
        return oval_timeline(cars, laps)


@contextlib.contextmanager
def running_server(settings: Settings | None = None, builder: Any = None) -> Iterator[str]:
    """A real uvicorn server on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    settings = settings or Settings()
    app = create_app(settings, builder)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_config_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def unpack(message: bytes | str) -> dict[str, Any]:
    if isinstance(message, str):
        import json

        return json.loads(message)  # type: ignore[no-any-return]
    return msgpack.unpackb(message, raw=False)  # type: ignore[no-any-return]
