"""`racereplay bench cluster`: replicas sharing a cache folder and a Redis (replay/leases.py).

Three `racereplay serve --redis` processes share one cache folder and a fresh
redis-server, all on this machine:

- One build for the cluster: 100 viewers open the same unbuilt session at once,
  spread over the three replicas (WebSocket clients, each waiting for its "ready"):
  the builds the replicas ran (the sum of /api/health `builds_started`, goal 1)
  and the time until all 100 have "ready". The baseline is the same three
  replicas without Redis, each building for itself.
- Takeover: a replica building a session is killed (SIGKILL, with its build
  process); the time until another replica that was waiting for it takes the
  lease over, and until the session is ready there, beside the lease length.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgpack

from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.bench.server import DEMO_RACE
from racereplay.server.process import serve_process

TITLE = "Replicas"

REPLICAS = 3
VIEWERS = 100
LEASE_SECONDS = 3
TAKEOVER_SESSION = "demo?cars=20&laps=57&seed=1"
QUICK_SESSION = "demo?cars=6&laps=2"
QUICK_TAKEOVER_SESSION = "demo?cars=10&laps=60&seed=1"
BUILDS_TARGET = Target.at_most(1)
# The lease must run out (at most its length), then a follower sees it gone (a third of it).
TAKEOVER_TARGET = Target.at_most(LEASE_SECONDS * 4 / 3 + 1.0)
TIMEOUT_SECONDS = 300.0


def run(options: BenchOptions) -> BenchResult:
    from racereplay.server.services import redis_missing, redis_server

    result = BenchResult()
    why = redis_missing()
    if why:
        result.notes.append(f"not measured: {why}")
        return result
    session = options.session or (QUICK_SESSION if options.quick else DEMO_RACE)
    takeover_session = QUICK_TAKEOVER_SESSION if options.quick else TAKEOVER_SESSION
    viewers = 30 if options.quick else VIEWERS
    result.notes += [
        f"{REPLICAS} replicas (`racereplay serve`, each its own process) on this machine's "
        f"{os.cpu_count()} cores, one shared cache folder, one redis-server; "
        f"--lease-seconds {LEASE_SECONDS}",
        f"one build: {viewers} WebSocket viewers open `{session}` (not yet built) at once, "
        f"spread evenly over the replicas; baseline: the same replicas without --redis",
        f"takeover: `{takeover_session}`, its builder killed (SIGKILL, with its build "
        "process) once another replica waits for it",
    ]
    with tempfile.TemporaryDirectory(prefix="racereplay-bench-cluster-") as tmp:
        scratch = Path(tmp)
        (scratch / "redis").mkdir()
        with redis_server(scratch / "redis") as url:  # first: any cold start costs it
            shared = _open_all(scratch / "shared", url, session, viewers)
            taken_over, ready_again = _takeover(scratch / "takeover", url, takeover_session)
        alone = _open_all(scratch / "alone", None, session, viewers)
    result.add(
        f"builds for {viewers} opens over {REPLICAS} replicas",
        shared.builds,
        "builds",
        alone.builds,
        BUILDS_TARGET,
        note="baseline: without Redis",
    )
    result.add(
        f"time until all {viewers} viewers have ready",
        shared.seconds,
        "s",
        alone.seconds,
        note="baseline: without Redis",
    )
    result.add("lease length", LEASE_SECONDS, "s")
    result.add(
        "takeover: kill to another replica holding the lease",
        taken_over,
        "s",
        target=TAKEOVER_TARGET,
    )
    result.add("takeover: kill to the session ready on another replica", ready_again, "s")
    return result


class _Opened:
    def __init__(self, builds: int, seconds: float) -> None:
        self.builds = builds
        self.seconds = seconds


@contextlib.contextmanager
def _replicas(folder: Path, redis_url: str | None, n: int = REPLICAS) -> Iterator[list[Any]]:
    """`n` replicas sharing `folder`/cache; yields [(base URL, pid)]."""
    args = ["--cache", str(folder / "cache"), "--log-level", "warning"]
    if redis_url is not None:
        args += ["--redis", redis_url, "--lease-seconds", str(LEASE_SECONDS)]
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        started = [
            stack.enter_context(serve_process(args, folder / f"replica{i}.log")) for i in range(n)
        ]
        yield [(f"http://127.0.0.1:{port}", pid) for port, pid in started]


def _health(base: str) -> dict[str, Any]:
    return httpx.get(f"{base}/api/health", timeout=30).json()  # type: ignore[no-any-return]


def _open_all(folder: Path, redis_url: str | None, session: str, viewers: int) -> _Opened:
    with _replicas(folder, redis_url) as replicas:
        bases = [base for base, _ in replicas]

        async def everyone() -> float:
            started = time.perf_counter()
            await asyncio.gather(*(_viewer(bases[i % len(bases)], session) for i in range(viewers)))
            return time.perf_counter() - started

        seconds = asyncio.run(everyone())
        builds = sum(_health(base)["builds_started"] for base in bases)
    return _Opened(builds, seconds)


async def _viewer(base: str, session: str) -> None:
    """Open `session` over a WebSocket and wait for its "ready"."""
    import websockets

    url = base.replace("http://", "ws://") + "/ws?" + urlencode({"session": session})
    async with websockets.connect(url, max_size=1 << 22, open_timeout=60) as ws:
        while True:
            message = await asyncio.wait_for(ws.recv(), TIMEOUT_SECONDS)
            if isinstance(message, bytes):
                with contextlib.suppress(ValueError, msgpack.ExtraData):
                    decoded = msgpack.unpackb(message)
                    if isinstance(decoded, dict) and decoded.get("type") in ("ready", "error"):
                        if decoded["type"] == "error":
                            raise RuntimeError(f"{session} on {base}: {decoded}")
                        return


def _takeover(folder: Path, redis_url: str, session: str) -> tuple[float, float]:
    """(kill to another replica holding the lease, kill to ready there), in seconds."""
    with _replicas(folder, redis_url, n=2) as [(builder, builder_pid), (waiter, _)]:
        opened = httpx.post(f"{builder}/api/sessions", json={"name": session}, timeout=30).json()
        session_id = opened["id"]
        _wait(lambda: _health(builder)["builds_started"] > 0)
        httpx.post(f"{waiter}/api/sessions", json={"name": session}, timeout=30)
        _wait(lambda: _status(waiter, session_id)["message"] != "starting")
        killed = time.perf_counter()
        kill_with_children(builder_pid)
        _wait(lambda: _health(waiter)["builds_started"] > 0, period=0.02)
        taken_over = time.perf_counter() - killed
        _wait(lambda: _status(waiter, session_id)["state"] in ("ready", "failed"), period=0.02)
        ready_again = time.perf_counter() - killed
        state = _status(waiter, session_id)
        if state["state"] != "ready":
            raise RuntimeError(f"{session} after the takeover: {state}")
    return taken_over, ready_again


def _status(base: str, session_id: str) -> dict[str, Any]:
    return httpx.get(f"{base}/api/sessions/{session_id}", timeout=30).json()  # type: ignore[no-any-return]


def _wait(check: Callable[[], bool], period: float = 0.05) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {TIMEOUT_SECONDS} s")
        time.sleep(period)


def kill_with_children(pid: int) -> None:
    """SIGKILL a replica and every process below it (its fork server, the build
    process forked from that, its parse workers): it dies mid-build."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(proc.name)] = int(fields[1])
    family = [pid]
    for member in family:  # grows as it goes: children, then theirs
        family += [child for child, parent in parents.items() if parent == member]
    for member in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
