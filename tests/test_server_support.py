"""Shared pieces for the server tests: small real Timelines and a real uvicorn server.

The timelines are made directly from `racereplay.timeline.model` (cars circling an
oval), so the server is tested before and independently of the demo source and the
timeline build; `test_server_ws.py` also runs once through the real cache builder.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np
import uvicorn

from racereplay.model import Driver, SessionInfo, SessionKind
from racereplay.server.app import create_app, uvicorn_config_options
from racereplay.server.process import free_port
from racereplay.server.settings import Settings
from racereplay.sources import Progress, SessionRef
from racereplay.timeline.model import (
    DRIVER_CHANNELS,
    FPS,
    SESSION_CHANNELS,
    Event,
    EventKind,
    Timeline,
    TrackGeometry,
)

LAP_SECONDS = 20.0


def make_timeline(cars: int = 4, laps: int = 3) -> Timeline:
    n = int(laps * LAP_SECONDS * FPS) + FPS
    t = np.arange(n) / FPS
    frames: dict[str, np.ndarray] = {}
    for name, dtype in DRIVER_CHANNELS.items():
        frames[name] = np.zeros((n, cars), dtype=dtype)
    pace = 1.0 + 0.01 * np.arange(cars)  # car i is 1 % slower than car i - 1
    angle = 2 * math.pi * t[:, None] / (LAP_SECONDS * pace[None, :])
    frames["x"][:] = 500 * np.cos(angle)
    frames["y"][:] = 300 * np.sin(angle)
    frames["speed"][:] = 250.0
    frames["lap"][:] = np.minimum(angle // (2 * math.pi) + 1, laps).astype(np.uint16)
    frames["distance"][:] = angle * 250
    frames["position"][:] = np.arange(1, cars + 1, dtype=np.uint8)
    frames["gap"][:] = np.nan  # no timing in this toy: explicit missing values
    frames["status"][:] = 1
    for name, dtype in SESSION_CHANNELS.items():
        frames[name] = np.zeros(n, dtype=dtype)
    frames["leader_lap"][:] = frames["lap"][:, 0]
    frames["track_status"][:] = 1
    drivers = [Driver(f"D{i:02d}", str(i + 1), "Team", "#ff0000") for i in range(cars)]
    events = [
        Event(1000.0 + lap * LAP_SECONDS, EventKind.LAP, "D00", {"lap": lap, "lap_time": 20.0})
        for lap in range(1, laps + 1)
    ]
    outline = np.stack(
        [500 * np.cos(np.linspace(0, 6.28, 50)), 300 * np.sin(np.linspace(0, 6.28, 50))], 1
    )
    geometry = TrackGeometry(
        outline.astype(np.float32),
        12.0,
        [1000.0, 2000.0],
        [],
        np.zeros((0, 2), np.float32),
        0.0,
        2550.0,
    )
    return Timeline(
        info=SessionInfo(2025, "Test Grand Prix", "Race", SessionKind.RACE, total_laps=laps),
        drivers=drivers,
        t0=1000.0,
        fps=FPS,
        frames=frames,
        events=events,
        laps=[{"driver": "D00", "lap": 1, "lap_time": float("nan")}],
        results=[{"driver": d.code, "position": i + 1} for i, d in enumerate(drivers)],
        geometry=geometry,
    )


class ToyBuilder:
    """Toy timelines for `demo?cars=N&laps=L`; `fail=1` fails, `hold=1` waits for release()."""

    def __init__(self) -> None:
        self.builds: list[str] = []
        self._gate = threading.Event()

    def release(self) -> None:
        self._gate.set()

    async def __call__(self, ref: SessionRef, progress: Progress) -> Timeline:
        self.builds.append(str(ref))
        progress(0.25, "simulating")
        if ref.options.get("hold") == "1":
            await asyncio.to_thread(self._gate.wait, 30)
        await asyncio.sleep(0.05)
        progress(0.75, "building")
        if ref.options.get("fail") == "1":
            raise RuntimeError("the toy source was told to fail")
        cars = int(ref.options.get("cars", 4))
        laps = int(ref.options.get("laps", 3))
        return make_timeline(cars, laps)


@contextlib.contextmanager
def running_server(settings: Settings | None = None, builder: Any = None) -> Iterator[str]:
    """A real uvicorn server on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    settings = settings or Settings()
    app = create_app(settings, builder)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_config_options()
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
