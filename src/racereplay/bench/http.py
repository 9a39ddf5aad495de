"""`racereplay bench http`: chunks over HTTP through a real nginx cache, against the push.

Three `racereplay serve` replicas share one cache folder and serve the same session;
Debian's nginx sits in front (`services.nginx_server`: one upstream group, chunk
URLs through `proxy_cache` with `proxy_cache_lock`). A few thousand simulated
viewers (asyncio, in this process) each open a WebSocket through nginx, seek to one
of a spread of start positions and play at 1x, for a bounded time:

- `delivery=http`: the socket carries `next` hints; each hinted chunk is fetched
  through nginx over a small pool of keep-alive connections (a minimal HTTP/1.1
  client: httpx would cost the load generator more CPU than the servers it measures);
- `delivery=push` (the baseline, the same viewers in the same run): the chunks come
  over the socket, as before.

Figures: nginx's hit ratio for chunk requests (its `X-Cache-Status`), origin
requests per distinct chunk (nginx's access log), chunk bytes the replicas sent,
and CPU per viewer-second of the replicas together and of nginx (/proc/PID/stat), in
both modes. A chunk misses once, when the first viewer reaches it (viewers sharing a
start position ask for the same URLs, and so do those of positions whose paths
overlap), so the hit ratio grows with viewers per position.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import msgpack
import numpy as np

from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.bench.server import bench_settings, cpu_seconds, playing_viewer, server_args
from racereplay.server.process import serve_process
from racereplay.server.services import (
    NGINX_ACCESS_LOG,
    NginxConfig,
    nginx_missing,
    nginx_server,
)
from racereplay.server.ws import LEAD_WALL_SECONDS

TITLE = "Chunks over HTTP through an nginx cache"

REPLICAS = 3
VIEWERS, QUICK_VIEWERS = 3000, 40
START_POSITIONS, QUICK_START_POSITIONS = 100, 4
WINDOW_SECONDS, QUICK_WINDOW_SECONDS = 20.0, 4.0
HTTP_CONNECTIONS = 64  # keep-alive connections the simulated viewers share
HIT_RATIO_TARGET = Target.at_least(95.0)


# -- a minimal keep-alive HTTP/1.1 client ------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpPool:
    """GET over at most `size` keep-alive connections to one host (HTTP/1.1,
    Content-Length bodies, as nginx answers for chunks); a connection the server
    closed is replaced and the request sent again once."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)

    async def get(self, path: str) -> Reply:
        async with self._slots:
            for attempt in range(2):
                if self._idle:
                    reader, writer = self._idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    reply, keep = await self._exchange(reader, writer, path)
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    if attempt:
                        raise
                    continue
                if keep:
                    self._idle.append((reader, writer))
                else:
                    writer.close()
                return reply
        raise AssertionError("unreachable")

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> tuple[Reply, bool]:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(status, headers, body), headers.get("connection", "") != "close"

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


# -- the viewers --------------------------------------------------------------------


@dataclass
class Load:
    """What the viewers measured while `recording` (one asyncio loop, shared counters)."""

    recording: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    hints: int = 0
    data: int = 0  # pushed data messages
    requests: int = 0
    cache: Counter[str] = field(default_factory=Counter)  # X-Cache-Status -> requests
    fetch_seconds: list[float] = field(default_factory=list)  # hint received -> bytes in
    bytes: int = 0
    origin_bytes: int = 0  # chunk bytes a replica sent (a MISS, or a pushed data message)
    failures: int = 0
    fetches: set[asyncio.Task[None]] = field(default_factory=set)


async def _fetch(http: HttpPool, path: str, hinted: float, load: Load) -> None:
    try:
        reply = await http.get(path)
    except (OSError, asyncio.IncompleteReadError):
        load.failures += 1
        return
    if not load.recording:
        return
    load.requests += 1
    load.cache[reply.headers.get("x-cache-status", "none")] += 1
    load.fetch_seconds.append(time.monotonic() - hinted)
    load.bytes += len(reply.body)
    if reply.headers.get("x-cache-status") != "HIT":
        load.origin_bytes += len(reply.body)
    if reply.status != 200:
        load.failures += 1


async def _viewer(url: str, start: int, http: HttpPool, load: Load, ready: asyncio.Event) -> None:
    try:
        async with playing_viewer(url, start) as ws:
            template = ""
            playing = False  # the join's hints and data (at frame 0) are not this viewer's
            async for raw in ws:
                m = msgpack.unpackb(raw, raw=False) if isinstance(raw, bytes) else {}
                kind = m.get("type")
                if kind == "ready":
                    template = m["metadata"]["chunk_url"]
                elif kind == "state" and m.get("reason") == "play":
                    playing = True
                    ready.set()
                elif kind == "next" and playing:
                    load.hints += load.recording
                    path = template.format(codec=m["codec"], rate=m["rate"], index=m["chunk"])
                    task = asyncio.create_task(_fetch(http, path, time.monotonic(), load))
                    load.fetches.add(task)
                    task.add_done_callback(load.fetches.discard)
                elif kind == "data" and playing and load.recording:
                    load.data += 1
                    load.bytes += len(raw)
                    load.origin_bytes += len(raw)
                if load.stop.is_set():
                    return
    except Exception:
        load.failures += 1
        ready.set()


@dataclass
class Run:
    delivery: str
    viewers: int
    seconds: float
    origin_cpu: float  # CPU seconds of all replicas over the window
    nginx_cpu: float
    client_cpu: float
    load: Load

    def per_viewer(self, cpu: float) -> float:
        """% of a core per viewer (CPU seconds per viewer-second, x100)."""
        return cpu / self.seconds / self.viewers * 100

    @property
    def hit_ratio(self) -> float:
        return 100 * self.load.cache["HIT"] / self.load.requests if self.load.requests else 0.0


async def _load(
    base: str,
    session_id: str,
    delivery: str,
    starts: list[int],
    viewers: int,
    window: float,
    origin_pids: list[int],
    nginx_folder: Path,
) -> Run:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    query = urlencode({"session": session_id, "codec": "compact", "rate": "25"})
    url = f"ws://{parts.netloc}{parts.path}/ws?{query}&delivery={delivery}"
    http = HttpPool(parts.hostname, parts.port, HTTP_CONNECTIONS)
    load = Load()
    tasks: list[asyncio.Task[None]] = []
    try:
        while len(tasks) < viewers:  # in small batches: a burst of handshakes is no steady state
            batch = []
            for _ in range(min(50, viewers - len(tasks))):
                ready = asyncio.Event()
                start = starts[len(tasks) % len(starts)]
                tasks.append(asyncio.create_task(_viewer(url, start, http, load, ready)))
                batch.append(ready.wait())
            await asyncio.wait_for(asyncio.gather(*batch), 120)
        await asyncio.sleep(3.0)  # settle
        origin0 = _cpu(origin_pids)
        nginx0 = _cpu(_nginx_pids(nginx_folder))
        client0, wall0 = cpu_seconds(os.getpid()), time.monotonic()
        load.recording = True
        await asyncio.sleep(window)
        load.recording = False
        elapsed = time.monotonic() - wall0
        return Run(
            delivery=delivery,
            viewers=viewers,
            seconds=elapsed,
            origin_cpu=_cpu_since(origin0),
            nginx_cpu=_cpu_since(nginx0),
            client_cpu=cpu_seconds(os.getpid()) - client0,
            load=load,
        )
    finally:
        load.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *load.fetches, return_exceptions=True)
        http.close()


# -- set-up ---------------------------------------------------------------------------


@contextlib.contextmanager
def _replicas(args: list[str], scratch: Path, count: int) -> Iterator[list[tuple[int, int]]]:
    """`count` replicas of `racereplay serve ARGS` (one shared cache); yields (port, pid)s."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(serve_process(args, scratch / f"replica-{i}.log"))
            for i in range(count)
        ]


def _open_everywhere(ports: list[int], name: str) -> tuple[str, int]:
    """Build the session on the first replica, then open it on the others (from the
    shared cache); returns (session id, its frames)."""
    import httpx

    session_id = ""
    for port in ports:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            session_id = http.post("/api/sessions", json={"name": name}).json()["id"]
            deadline = time.monotonic() + 600
            while http.get(f"/api/sessions/{session_id}").json()["state"] != "ready":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not load on replica :{port} in 600 s")
                time.sleep(0.2)
            n_frames = int(http.get(f"/api/sessions/{session_id}/metadata").json()["n_frames"])
    return session_id, n_frames


def _cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process that is still there."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = cpu_seconds(pid)
    return found


def _cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the processes of `before` spent since, summed over those still there."""
    now = _cpu(list(before))
    return sum(now[pid] - before[pid] for pid in now)


def _nginx_pids(folder: Path) -> list[int]:
    """nginx's master and its children (workers, cache manager; the cache loader
    exits after its first minute)."""
    master = int((folder / "nginx.pid").read_text())
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
    return pids


def _origin_chunk_requests(folder: Path) -> tuple[int, int]:
    """(chunk requests nginx passed to a replica, distinct chunk URLs requested) over the run."""
    passed, distinct = 0, set()
    for line in (folder / NGINX_ACCESS_LOG).read_text().splitlines():
        if "/chunks/" not in line:
            continue
        distinct.add(line.split('"')[1])
        passed += "upstream=-" not in line
    return passed, len(distinct)


# -- the bench ------------------------------------------------------------------------


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    why = nginx_missing()
    if why:
        result.notes.append(f"not measured: {why}")
        return result
    viewers = QUICK_VIEWERS if options.quick else VIEWERS
    positions = QUICK_START_POSITIONS if options.quick else START_POSITIONS
    window = QUICK_WINDOW_SECONDS if options.quick else WINDOW_SECONDS
    with tempfile.TemporaryDirectory(prefix="rr-bench-http-") as tmp:
        scratch = Path(tmp)
        settings, name = bench_settings(scratch, options)
        with _replicas(server_args(settings), scratch, REPLICAS) as replicas:
            ports, pids = [p for p, _ in replicas], [pid for _, pid in replicas]
            session_id, n_frames = _open_everywhere(ports, name)
            folder = scratch / "nginx"
            folder.mkdir()
            config = NginxConfig(upstreams=tuple(ports), cache_chunks=True, connections=4 * viewers)
            with nginx_server(folder, config) as base:
                rng = random.Random(7)
                last = max(n_frames - 30 * 60 * 25, 1)  # each start leaves half an hour to play
                starts = [rng.randrange(0, last) for _ in range(positions)]
                runs = {
                    delivery: asyncio.run(
                        _load(base, session_id, delivery, starts, viewers, window, pids, folder)
                    )
                    for delivery in ("http", "push")
                }
                passed, distinct = _origin_chunk_requests(folder)
    _report(result, runs, name, viewers, positions, passed, distinct)
    return result


def _report(
    result: BenchResult,
    runs: dict[str, Run],
    name: str,
    viewers: int,
    positions: int,
    passed: int,
    distinct: int,
) -> None:
    http, push = runs["http"], runs["push"]
    load = http.load
    result.notes.append(
        f"session: `{name}`; {REPLICAS} `racereplay serve` replicas (one shared cache folder) "
        f"behind Debian's nginx (1 worker, proxy_cache + proxy_cache_lock on chunk URLs); "
        f"{viewers} simulated viewers at 1x from {positions} start positions, "
        f"{http.seconds:.0f} s measured per mode after connecting and 3 s of settling; load "
        f"generator, nginx and replicas share this machine's {os.cpu_count()} cores"
    )
    for run in (http, push):
        result.notes.append(
            f"{run.delivery}: {run.load.hints} hints, {run.load.requests} chunk requests "
            f"({dict(run.load.cache)}), {run.load.data} pushed data messages, "
            f"{run.load.bytes / run.seconds / viewers / 1e3:.2f} kB/s per viewer, "
            f"{run.load.failures} failures; CPU over the window: replicas "
            f"{run.origin_cpu / run.seconds:.0%}, nginx {run.nginx_cpu / run.seconds:.0%}, "
            f"load generator {run.client_cpu / run.seconds:.0%} of a core"
        )
    result.add(
        f"nginx cache hit ratio, chunk requests of {viewers} viewers",
        http.hit_ratio,
        "%",
        target=HIT_RATIO_TARGET,
        note="X-Cache-Status over the window",
    )
    result.add(
        "origin requests per distinct chunk URL (whole run)",
        passed / distinct if distinct else float("nan"),
        "requests",
        note=f"{passed} origin requests for {distinct} chunk URLs: proxy_cache_lock",
    )
    result.add(
        f"origin CPU per viewer, {REPLICAS} replicas together, http delivery",
        http.per_viewer(http.origin_cpu),
        "% of a core",
        push.per_viewer(push.origin_cpu),
        note="baseline: push over the WebSocket, same viewers, same run",
    )
    result.add(
        "nginx CPU per viewer, http delivery",
        http.per_viewer(http.nginx_cpu),
        "% of a core",
        push.per_viewer(push.nginx_cpu),
        note="baseline: nginx passing the pushed WebSockets on",
    )
    result.add(
        "chunk bytes the replicas sent per viewer, http delivery",
        http.load.origin_bytes / http.seconds / viewers,
        "B/s",
        push.load.origin_bytes / push.seconds / viewers,
        note="MISS bodies; baseline: pushed data messages",
    )
    if load.fetch_seconds:
        late = sum(s > LEAD_WALL_SECONDS for s in load.fetch_seconds)
        result.add(
            "chunk fetches slower than the playout lead",
            100 * late / len(load.fetch_seconds),
            "%",
            note=f"{late} of {len(load.fetch_seconds)} took over {LEAD_WALL_SECONDS:g} s: "
            "the hint comes that far ahead of the clock",
        )
        result.add(
            "chunk fetch through nginx, hint to bytes, p99",
            float(np.percentile(load.fetch_seconds, 99)) * 1e3,
            "ms",
            note=f"median {float(np.median(load.fetch_seconds)) * 1e3:.1f} ms; a request "
            "waiting on proxy_cache_lock polls every 500 ms",
        )
