"""`racereplay bench server`: viewers per process, CPU per viewer, loop lag, seeks, single flight.

The server runs in its own process (uvicorn, exactly as `racereplay serve`), the
load comes from this process over 127.0.0.1: real WebSocket clients that seek to
a spread of positions, play at 1x and time every data message against the
server's schedule. Viewer counts grow in steps until p99 lateness passes 100 ms
(or the step list ends), so the run is bounded in count and in time. The
baseline is the seed's wire: one JSON message per frame per viewer.

Lateness of a data message = its arrival minus the wall time the server's own
schedule says it should be sent (the clock reaches the chunk start minus the
playout lead; docs/protocol.md). Both processes share the machine's 2 cores,
so the client's own CPU is reported beside the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgpack
import numpy as np

from racereplay.bench import shared_data
from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.server.app import allow_open_files
from racereplay.server.collector import FREEZE_DELAY_SECONDS
from racereplay.server.looplag import LoopLagMonitor
from racereplay.server.process import serve_process
from racereplay.server.settings import Settings
from racereplay.server.ws import LEAD_WALL_SECONDS

TITLE = "Replay server"

DEMO_RACE = "demo?cars=20&laps=57"

VIEWERS_TARGET = Target.at_least(20_000)
GC_TARGET = Target.at_most(100.0)
GC_STEP = 10_000  # the step whose longest full collection is the figure
LATENESS_LIMIT_MS = 100.0
LOOP_LAG_TARGET = Target.at_most(10.0)
SEEK_TARGET = Target.at_most(50.0)
SINGLE_FLIGHT_TARGET = Target.at_most(1)
COMPACT_STEPS = (500, 1000, 2000, 4000, 6000, 8000, 10_000, 12_000, 15_000, 19_000, 25_000)
OPEN_FILES_SPARE = 300  # descriptors a process needs besides its viewers' sockets
JSON_STEPS = (25, 50, 100, 200, 400, 800)
QUICK_STEPS = (20, 50)
START_POSITIONS = 100  # viewers start at this many distinct moments of the race


# -- set-up -------------------------------------------------------------------


def bench_settings(scratch: Path, options: BenchOptions) -> tuple[Settings, str]:
    """Server settings and the session name clients use (the real race when present)."""
    cache = options.cache_dir or scratch / "cache"
    if options.session:
        return Settings(cache_dir=cache, max_demo_laps=1000), options.session
    needs = (shared_data.TRACINGINSIGHTS, shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    if not shared_data.missing(*needs):
        settings = Settings(
            cache_dir=cache,
            data_dirs=(shared_data.TRACINGINSIGHTS,),
            fastf1_cache=shared_data.FASTF1_CACHE,
            fastf1_http_cache=shared_data.FASTF1_HTTP_CACHE,
            offline=True,
        )
        return settings, shared_data.AUS_RACE.name
    return Settings(cache_dir=cache), DEMO_RACE


def server_args(settings: Settings) -> list[str]:
    args = ["--cache", str(settings.cache_dir), "--log-level", "warning"]
    for folder in settings.data_dirs:
        args += ["--data", str(folder)]
    if settings.fastf1_cache:
        args += ["--fastf1-cache", str(settings.fastf1_cache)]
    if settings.fastf1_http_cache:
        args += ["--fastf1-http-cache", str(settings.fastf1_http_cache)]
    if settings.offline:
        args.append("--offline")
    return args


def server_process(
    settings: Settings, scratch: Path
) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """The bench's server, configured by `settings`; yields (port, pid)."""
    return serve_process(server_args(settings), scratch / "server.log")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- event-loop lag during a build --------------------------------------------


async def _lag_during(work: Awaitable[Any], period: float = 0.005) -> list[float]:
    """Overshoot of a short sleep, sampled until `work` ends: how long the loop stalls."""
    task = asyncio.ensure_future(work)
    lags = []
    while not task.done():
        started = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - started - period)
    await task
    return lags


def _loop_lag_rows(result: BenchResult, settings: Settings, name: str, scratch: Path) -> None:
    from racereplay.replay.registry import Registry, cache_builder
    from racereplay.server.catalogue import Catalogue
    from racereplay.store.cache import start_build_processes

    ref = Catalogue(settings).resolve(name)
    start_build_processes()  # as a server does when it starts
    p99 = {}
    for mode in ("thread", "process"):
        folder = settings.cache_dir if mode == "process" else scratch / "cache-thread"
        registry = Registry(cache_builder(folder, mode))
        started = time.perf_counter()
        lags = asyncio.run(_lag_during(registry.get(ref)))
        p99[mode] = float(np.percentile(lags, 99)) * 1e3
        result.notes.append(
            f"cold build of `{name}` through the registry, {mode} worker: "
            f"{time.perf_counter() - started:.1f} s, worst loop stall {max(lags) * 1e3:.0f} ms"
        )
    result.add(
        "event-loop lag p99 during a cold build and cache write",
        p99["process"],
        "ms",
        p99["thread"],
        LOOP_LAG_TARGET,
        note="baseline: build in a thread of the server process",
    )


# -- single flight --------------------------------------------------------------


def _single_flight_rows(result: BenchResult, port: int) -> None:
    import httpx

    name = f"demo?cars=20&laps=3&seed={random.randrange(1 << 30)}"  # surely not cached yet

    async def scenario() -> int:
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
            before = (await http.get("/api/health")).json()["builds_started"]
            replies = await asyncio.gather(
                *(http.post("/api/sessions", json={"name": name}) for _ in range(100))
            )
            ids = {r.json()["id"] for r in replies}
            session_id = ids.pop()
            while (await http.get(f"/api/sessions/{session_id}")).json()["state"] != "ready":
                await asyncio.sleep(0.05)
            after = (await http.get("/api/health")).json()["builds_started"]
            return int(after - before) if not ids else -1

    builds = asyncio.run(scenario())
    result.add(
        "builds for 100 simultaneous requests of one session",
        builds,
        "builds",
        100,
        SINGLE_FLIGHT_TARGET,
        note="baseline: one build per request",
    )


# -- viewers --------------------------------------------------------------------


@dataclass
class Load:
    """What the simulated viewers measured (one asyncio loop, shared counters)."""

    lateness: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    recording: bool = False
    messages: int = 0
    bytes: int = 0
    failures: int = 0
    stop: asyncio.Event | None = None


def _message_fields(raw: bytes | str) -> dict[str, Any]:
    if isinstance(raw, str):
        # The JSON baseline: only the envelope's head matters here, skip parsing the frame.
        head = raw[: raw.index(',"payload"')] + "}"
        return json.loads(head)  # type: ignore[no-any-return]
    return msgpack.unpackb(raw, raw=False)  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def playing_viewer(url: str, start: int) -> AsyncIterator[Any]:
    """A WebSocket viewer (`url` names session, codec, rate, delivery) that seeks to
    frame `start` and plays: one unit of the benches' load."""
    import websockets

    async with websockets.connect(
        url, compression=None, max_size=1 << 22, open_timeout=120, ping_interval=None
    ) as ws:
        await ws.send(msgpack.packb({"type": "seek", "frame": start}))
        await ws.send(msgpack.packb({"type": "play"}))
        yield ws


async def _viewer(url: str, start: int, span: int, load: Load, ready: asyncio.Event) -> None:
    try:
        async with playing_viewer(url, start) as ws:
            anchor: tuple[float, float, float] | None = None  # frame, server time, speed
            fps = 25
            async for raw in ws:
                now = time.time()
                m = _message_fields(raw)
                kind = m.get("type")
                if kind == "ready":
                    fps = m["metadata"]["fps"]
                elif kind == "state" and m.get("reason") == "play":
                    anchor = (m["frame"], m["server_time"], m["speed"])
                    ready.set()
                elif kind == "data" and anchor is not None:
                    load.messages += 1
                    load.bytes += len(raw)
                    if load.recording:
                        frame, wall, speed = anchor
                        lead = max(LEAD_WALL_SECONDS * speed * fps, span)
                        due = wall + (m["chunk"] * span - lead - frame) / (speed * fps)
                        load.lateness.append(max(now - max(due, wall), 0.0))
                        load.arrivals.append(now)
                assert load.stop is not None
                if load.stop.is_set():
                    return
    except Exception:
        load.failures += 1
        ready.set()


@dataclass
class Step:
    viewers: int
    p99_ms: float
    max_ms: float  # the latest data message of the window
    server_cpu: float  # fraction of one core
    client_cpu: float
    kbps_per_viewer: float
    failures: int
    rss_mb: float
    server_lag_p99_ms: float  # the server's own event-loop lag over the window
    client_lag_p99_ms: float  # the load generator's, over the window: its share of lateness
    server_gc_ms: dict[str, float]  # the server's longest recent collector pass per generation
    full_gc_ms: float  # the server's longest full collection while this step connected and ran
    objects_per_viewer: float  # objects the server tracks per viewer (frozen: all, settled)


async def _server_lag(
    port: int, lag_seconds: float | None = None, count_frozen: bool = False
) -> dict[str, Any]:
    import httpx

    params: dict[str, Any] = {"count_frozen": int(count_frozen)}
    if lag_seconds is not None:
        params["lag_seconds"] = lag_seconds
    async with httpx.AsyncClient(timeout=30) as http:
        health = (await http.get(f"http://127.0.0.1:{port}/api/health", params=params)).json()
    return health  # type: ignore[no-any-return]


async def _caught_up(timeout: float = 30.0) -> None:
    """Until this loop's own short sleeps wake on time again: after a pause (its
    collection) the load generator reads a backlog from thousands of sockets, and
    what it reads then would count as the server's lateness."""
    on_time, deadline = 0, time.monotonic() + timeout
    while on_time < 5 and time.monotonic() < deadline:
        started = time.perf_counter()
        await asyncio.sleep(0.02)
        on_time = on_time + 1 if time.perf_counter() - started < 0.025 else 0


async def _ramp(
    port: int, pid: int, name: str, codec: str, steps: tuple[int, ...], window: float
) -> list[Step]:
    from racereplay.codec import get_codec

    query = urlencode({"session": name, "codec": codec, "rate": "25"})
    url = f"ws://127.0.0.1:{port}/ws?{query}"
    span = get_codec(codec).chunk_seconds * 25
    stop = asyncio.Event()
    load = Load(stop=stop)
    tasks: list[asyncio.Task[None]] = []
    results: list[Step] = []
    rng = random.Random(7)
    n_frames = await _n_frames(port, name)
    starts = [rng.randrange(0, max(n_frames - 30 * 60 * 25, 1)) for _ in range(START_POSITIONS)]
    await asyncio.sleep(FREEZE_DELAY_SECONDS + 0.5)  # the loaded session is frozen by now
    frozen_before = (await _server_lag(port, count_frozen=True))["gc_frozen"]
    gc.disable()
    try:
        for target in steps:
            step_began = time.time()
            while len(tasks) < target:  # connect in small batches: a burst of handshakes
                batch = []
                for _ in range(min(50, target - len(tasks))):
                    ready = asyncio.Event()
                    start = starts[len(tasks) % len(starts)]
                    tasks.append(asyncio.create_task(_viewer(url, start, span, load, ready)))
                    batch.append(ready.wait())
                await asyncio.wait_for(asyncio.gather(*batch), 120)
            await asyncio.sleep(2.0)  # settle: the connection burst is not steady state
            gc.collect()  # the load generator's own pauses must not count as server lateness
            await _caught_up()  # ... nor the backlog it reads after that collection
            load.lateness.clear()
            load.arrivals.clear()
            load.bytes = 0
            failures = load.failures
            server0, client0, wall0 = cpu_seconds(pid), cpu_seconds(os.getpid()), time.monotonic()
            client_lag = LoopLagMonitor(keep=100_000)
            client_lag.start()
            load.recording = True
            await asyncio.sleep(window)
            load.recording = False
            await client_lag.stop()
            elapsed = time.monotonic() - wall0
            server_cpu = (cpu_seconds(pid) - server0) / elapsed
            client_cpu = (cpu_seconds(os.getpid()) - client0) / elapsed
            # Read after the CPU: counting the frozen objects is work of its own.
            server_lag = await _server_lag(port, lag_seconds=elapsed, count_frozen=True)
            step = Step(
                viewers=target,
                p99_ms=float(np.percentile(load.lateness, 99)) * 1e3 if load.lateness else 1e9,
                max_ms=max(load.lateness, default=1e9) * 1e3,
                server_cpu=server_cpu,
                client_cpu=client_cpu,
                kbps_per_viewer=load.bytes / elapsed / target / 1e3,
                failures=load.failures - failures,
                rss_mb=rss_mb(pid),
                server_lag_p99_ms=server_lag["loop_lag_ms"].get("p99") or float("nan"),
                server_gc_ms=server_lag["gc_pause_ms"],
                full_gc_ms=max(
                    (ms for ended, ms in server_lag["gc_full_passes"] if ended >= step_began),
                    default=0.0,
                ),
                client_lag_p99_ms=client_lag.percentiles_ms()["p99"] or float("nan"),
                # While viewers watch, everything tracked is refrozen every half second.
                objects_per_viewer=(server_lag["gc_frozen"] - frozen_before) / target,
            )
            results.append(step)
            if os.environ.get("RR_BENCH_DUMP"):  # arrival and lateness of every message, to study
                dump = np.array([load.arrivals, load.lateness])
                np.save(os.environ["RR_BENCH_DUMP"] + f"-{target}.npy", dump)
            if step.p99_ms > LATENESS_LIMIT_MS or step.failures:
                break
    finally:
        gc.enable()
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


async def _n_frames(port: int, name: str) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:
        session_id = (await http.post("/api/sessions", json={"name": name})).json()["id"]
        while (await http.get(f"/api/sessions/{session_id}")).json()["state"] != "ready":
            await asyncio.sleep(0.1)
        meta = (await http.get(f"/api/sessions/{session_id}/metadata")).json()
        return int(meta["n_frames"])


def _best(steps: list[Step]) -> Step | None:
    passing = [s for s in steps if s.p99_ms <= LATENESS_LIMIT_MS and not s.failures]
    return passing[-1] if passing else None


def _viewer_rows(
    result: BenchResult, port: int, pid: int, name: str, options: BenchOptions
) -> None:
    window = 3.0 if options.quick else 8.0
    limit = allow_open_files() - OPEN_FILES_SPARE
    planned = QUICK_STEPS if options.quick else COMPACT_STEPS
    compact_steps = tuple(n for n in planned if n <= limit)
    if len(compact_steps) < len(planned):
        compact_steps += (limit,)  # as many as this machine allows
        result.notes.append(
            f"steps over {limit} viewers left out: a process here may open at most "
            f"{limit + OPEN_FILES_SPARE} files (RLIMIT_NOFILE's hard limit), one per viewer"
        )
    compact = asyncio.run(_ramp(port, pid, name, "compact", compact_steps, window))
    baseline = asyncio.run(
        _ramp(port, pid, name, "json", QUICK_STEPS if options.quick else JSON_STEPS, window)
    )
    for label, steps in (("compact", compact), ("json", baseline)):
        result.notes.append(
            f"{label} steps: "
            + "; ".join(
                f"{s.viewers} viewers p99 {s.p99_ms:.0f} ms (latest {s.max_ms:.0f} ms), "
                f"server {s.server_cpu:.0%} "
                f"client {s.client_cpu:.0%} of a core, {s.rss_mb:.0f} MB, "
                f"{s.kbps_per_viewer:.1f} kB/s each, {s.failures} failed, loop lag p99 "
                f"server {s.server_lag_p99_ms:.0f} ms, client {s.client_lag_p99_ms:.0f} ms, "
                f"server's longest full GC in the step {s.full_gc_ms:.0f} ms, "
                f"{s.objects_per_viewer:.0f} objects per viewer"
                for s in steps
            )
        )
    best, base = _best(compact), _best(baseline)
    note = "baseline: one JSON message per frame"
    if best and best.viewers == compact_steps[-1]:
        note += f"; lower bound: the step list ends at {compact_steps[-1]}"
    result.add(
        "viewers at 1x with p99 lateness < 100 ms (compact, 25 fps)",
        best.viewers if best else 0,
        "viewers",
        base.viewers if base else 0,
        VIEWERS_TARGET,
        note=note,
    )
    if best:
        result.add(
            f"server CPU per viewer at {best.viewers} viewers",
            best.server_cpu / best.viewers * 100,
            "% of a core",
            base.server_cpu / base.viewers * 100 if base else None,
            note="baseline: per-frame JSON at its best step",
        )
        result.add(f"p99 lateness at {best.viewers} viewers", best.p99_ms, "ms")
    at_gc_step = next((s for s in compact if s.viewers == GC_STEP), None)
    if at_gc_step:
        result.add(
            f"longest full collection at {GC_STEP} viewers",
            at_gc_step.full_gc_ms,
            "ms",
            target=GC_TARGET,
            note="while the step connected its viewers and played (server/collector.py); "
            "0: none ran",
        )
        result.add(
            f"objects the server keeps per viewer at {GC_STEP} viewers",
            at_gc_step.objects_per_viewer,
            "objects",
            note="tracked by the collector, all frozen while viewers watch (gc_frozen in "
            "/api/health), less those before the first viewer",
        )


# -- seeks ----------------------------------------------------------------------


def _seek_rows(result: BenchResult, port: int, name: str, options: BenchOptions) -> None:
    import websockets

    async def scenario() -> list[float]:
        query = urlencode({"session": name, "codec": "compact", "rate": "25"})
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws?{query}", compression=None, max_size=1 << 22
        ) as ws:
            meta: dict[str, Any] = {}
            while "n_frames" not in meta:
                m = msgpack.unpackb(await ws.recv(), raw=False)
                if m["type"] == "ready":
                    meta = m["metadata"]
            await ws.send(msgpack.packb({"type": "play"}))
            rng = random.Random(3)
            span = next(c for c in meta["codecs"] if c["name"] == "compact")["chunk_frames"]
            times = []
            for _ in range(options.repeats(40, 10)):
                target = rng.randrange(meta["n_frames"])
                sent = time.perf_counter()
                await ws.send(msgpack.packb({"type": "seek", "frame": target}))
                while True:
                    m = msgpack.unpackb(await ws.recv(), raw=False)
                    if m["type"] == "data" and m["chunk"] == target // span:
                        times.append(time.perf_counter() - sent)
                        break
                await asyncio.sleep(0.1)
            return times

    times = asyncio.run(scenario())
    result.add(
        "seek to new data, p99",
        float(np.percentile(times, 99)) * 1e3,
        "ms",
        target=SEEK_TARGET,
        note=f"median {statistics.median(times) * 1e3:.1f} ms, "
        f"{len(times)} random seeks, uncached chunks",
    )


# -- the bench ------------------------------------------------------------------


def _step(result: BenchResult, label: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # one failing measurement must not hide the others
        result.notes.append(f"{label} could not be measured: {type(exc).__name__}: {exc}")


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    with tempfile.TemporaryDirectory(prefix="rr-bench-server-") as tmp:
        scratch = Path(tmp)
        settings, name = bench_settings(scratch, options)
        result.notes.append(f"session: `{name}`; server and load in separate processes")
        _step(result, "loop lag", lambda: _loop_lag_rows(result, settings, name, scratch))
        with server_process(settings, scratch) as (port, pid):
            _step(result, "single flight", lambda: _single_flight_rows(result, port))
            _step(result, "seek latency", lambda: _seek_rows(result, port, name, options))
            _step(result, "viewers", lambda: _viewer_rows(result, port, pid, name, options))
    return result
