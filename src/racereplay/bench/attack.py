"""`racereplay bench attack`: good viewers' lateness while hostile clients flood, and a soak.

The server runs in its own process, as `racereplay serve`. Good viewers are the
server bench's (compact, 25 fps, 1x, lateness against the server's own schedule).

- Seek flood: 16 clients each seeking 25 times a second. The same good viewers
  are measured without and with them (the baseline is without).
- Command flood while a session builds: one client sends 2000 pings a second
  to a session that is still building; the server's memory growth and the good
  viewers' lateness are measured over the build.
- Soak: several hundred viewers at mixed speeds (1x to 16x), a tenth of them
  seeking every 20 s, for 10 minutes (30 s with --quick): errors, gaps in the
  chunks a viewer receives, and the server's RSS over time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgpack
import numpy as np

from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.bench.server import (
    DEMO_RACE,
    Load,
    _n_frames,
    _viewer,
    cpu_seconds,
    rss_mb,
    server_process,
)
from racereplay.server.settings import Settings

TITLE = "Under attack"

GOOD_VIEWERS = 100
FLOODERS = 16
FLOOD_SEEKS_PER_SECOND = 25
LATENESS_TARGET = Target.at_most(100.0)
SOAK_GROWTH_TARGET = Target.at_most(100.0)
SPEEDS = (1, 2, 4, 8, 16)
PINGS_PER_BATCH = 200


def _url(port: int, name: str) -> str:
    return f"ws://127.0.0.1:{port}/ws?" + urlencode({"session": name, "codec": "compact"})


async def _drain(ws: Any, stop: asyncio.Event) -> None:
    with contextlib.suppress(Exception):
        while not stop.is_set():
            await ws.recv()


async def _seek_flooder(url: str, n_frames: int, stop: asyncio.Event, seed: int) -> int:
    import websockets

    rng = random.Random(seed)
    sent = 0
    async with websockets.connect(url, compression=None, max_size=1 << 22) as ws:
        reader = asyncio.create_task(_drain(ws, stop))
        while not stop.is_set():
            await ws.send(msgpack.packb({"type": "seek", "frame": rng.randrange(n_frames)}))
            sent += 1
            await asyncio.sleep(1 / FLOOD_SEEKS_PER_SECOND)
        reader.cancel()
    return sent


async def _ping_flooder(url: str, stop: asyncio.Event) -> int:
    import websockets

    sent = 0
    async with websockets.connect(url, compression=None, max_size=1 << 22) as ws:
        reader = asyncio.create_task(_drain(ws, stop))
        while not stop.is_set():
            await ws.send(msgpack.packb({"type": "ping", "t": sent}))
            sent += 1
            if sent % PINGS_PER_BATCH == 0:
                await asyncio.sleep(0.1)  # 2000 a second: 200x the bucket, yet it leaves
                # this process's loop free to time the good viewers fairly
        reader.cancel()
    return sent


async def _window(load: Load, pid: int, seconds: float) -> tuple[float, float]:
    """p99 lateness (ms) of the good viewers and the server's CPU (cores) over `seconds`."""
    load.lateness.clear()
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    load.recording = True
    await asyncio.sleep(seconds)
    load.recording = False
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    p99 = float(np.percentile(load.lateness, 99)) * 1e3 if load.lateness else float("nan")
    return p99, cpu


async def _floods(port: int, pid: int, name: str, window: float) -> dict[str, Any]:
    n_frames = await _n_frames(port, name)
    stop = asyncio.Event()
    load = Load(stop=stop)
    rng = random.Random(5)
    readies = [asyncio.Event() for _ in range(GOOD_VIEWERS)]
    span = 50
    good = [
        asyncio.create_task(
            _viewer(_url(port, name), rng.randrange(n_frames - 60 * 25 * 30), span, load, r)
        )
        for r in readies
    ]
    out: dict[str, Any] = {}
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        await _window(load, pid, window)  # warm-up: every viewer's first chunks encode now
        out["quiet"] = await _window(load, pid, window)
        flood_stop = asyncio.Event()
        flooders = [
            asyncio.create_task(_seek_flooder(_url(port, name), n_frames, flood_stop, k))
            for k in range(FLOODERS)
        ]
        await asyncio.sleep(1.0)
        out["seek_flood"] = await _window(load, pid, window)
        flood_stop.set()
        out["seeks_sent"] = sum(await asyncio.gather(*flooders))
        await asyncio.sleep(1.0)
        # A ping flood at a session still building (a fresh seed: nothing cached).
        building = _url(port, f"{DEMO_RACE}&seed={int(time.time()) % 100_000 + 1}")
        flood_stop = asyncio.Event()
        rss0 = rss_mb(pid)
        pinger = asyncio.create_task(_ping_flooder(building, flood_stop))
        out["ping_flood"] = await _window(load, pid, window)
        out["ping_rss_growth"] = rss_mb(pid) - rss0
        flood_stop.set()
        out["pings_sent"] = await pinger
        out["failures"] = load.failures
    finally:
        stop.set()
        for task in good:
            task.cancel()
        await asyncio.gather(*good, return_exceptions=True)
    return out


@dataclass
class Soak:
    errors: int = 0
    gaps: int = 0
    chunks: int = 0
    rss: list[tuple[float, float]] = field(default_factory=list)


async def _soak_viewer(url: str, speed: int, seeks: bool, n_frames: int, soak: Soak) -> None:
    import websockets

    rng = random.Random(speed * 1000 + seeks)
    try:
        async with websockets.connect(url, compression=None, max_size=1 << 22) as ws:
            await ws.send(msgpack.packb({"type": "seek", "frame": rng.randrange(n_frames // 2)}))
            await ws.send(msgpack.packb({"type": "speed", "value": speed}))
            await ws.send(msgpack.packb({"type": "play"}))
            last: int | None = None
            next_seek = time.monotonic() + 20
            async for raw in ws:
                m = msgpack.unpackb(raw, raw=False)
                kind = m["type"]
                if kind == "error":
                    soak.errors += 1
                elif kind == "state" and m["reason"] in ("seek", "skip", "quality", "join"):
                    last = None
                elif kind == "state" and m["reason"] == "end":
                    await ws.send(msgpack.packb({"type": "seek", "frame": 0}))
                    await ws.send(msgpack.packb({"type": "play"}))
                elif kind == "data":
                    soak.chunks += 1
                    if last is not None and m["chunk"] != last + 1:
                        soak.gaps += 1
                    last = m["chunk"]
                if seeks and time.monotonic() > next_seek:
                    next_seek += 20
                    await ws.send(msgpack.packb({"type": "seek", "frame": rng.randrange(n_frames)}))
    except asyncio.CancelledError:
        raise
    except Exception:
        soak.errors += 1


async def _soak(port: int, pid: int, name: str, viewers: int, seconds: float) -> Soak:
    n_frames = await _n_frames(port, name)
    soak = Soak()
    tasks = [
        asyncio.create_task(
            _soak_viewer(_url(port, name), SPEEDS[k % len(SPEEDS)], k % 10 == 0, n_frames, soak)
        )
        for k in range(viewers)
    ]
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            soak.rss.append((elapsed, rss_mb(pid)))
            await asyncio.sleep(min(10.0, seconds / 10))
        soak.rss.append((time.monotonic() - started, rss_mb(pid)))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return soak


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    window = 3.0 if options.quick else 6.0
    viewers, seconds = (60, 30.0) if options.quick else (300, 600.0)
    with tempfile.TemporaryDirectory(prefix="rr-bench-attack-") as tmp:
        scratch = Path(tmp)
        settings = Settings(cache_dir=scratch / "cache")
        name = options.session or DEMO_RACE
        with server_process(settings, scratch) as (port, pid):
            floods = asyncio.run(_floods(port, pid, name, window))
            quiet, cpu_quiet = floods["quiet"]
            for key, label in (
                ("seek_flood", f"{FLOODERS} clients seeking {FLOOD_SEEKS_PER_SECOND}x a second"),
                ("ping_flood", "one client flooding pings at a session still building"),
            ):
                p99, cpu = floods[key]
                result.add(
                    f"good viewers' p99 lateness, {label}",
                    p99,
                    "ms",
                    quiet,
                    LATENESS_TARGET,
                    note=f"{GOOD_VIEWERS} viewers at 1x; baseline: the same without the flood; "
                    f"server CPU {cpu:.0%} of a core (quiet {cpu_quiet:.0%})",
                )
            result.add(
                "server memory growth during the ping flood",
                floods["ping_rss_growth"],
                "MB",
                note=f"{floods['pings_sent']} pings sent; includes the session's build",
            )
            result.notes.append(
                f"seek flood: {floods['seeks_sent']} seeks sent; "
                f"good viewers failed: {floods['failures']}"
            )
            soak = asyncio.run(_soak(port, pid, name, viewers, seconds))
        rss = [mb for _, mb in soak.rss]
        result.add(
            f"soak: RSS growth over {seconds / 60:.1f} min, {viewers} viewers at 1x-16x",
            rss[-1] - rss[1 if len(rss) > 2 else 0],
            "MB",
            target=SOAK_GROWTH_TARGET,
            note=f"from the first sample after connecting; max {max(rss):.0f} MB",
        )
        result.add("soak: errors", soak.errors, "errors", target=Target.at_most(0))
        result.add(
            "soak: gaps in the chunks received",
            soak.gaps,
            "gaps",
            target=Target.at_most(0),
            note=f"{soak.chunks} chunks received; a skip or seek is not a gap",
        )
        result.notes.append(
            "soak RSS over time (s: MB): " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in soak.rss)
        )
    return result
