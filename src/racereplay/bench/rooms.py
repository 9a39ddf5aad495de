"""`racereplay bench rooms`: how far apart a watch party's members are.

Two `racereplay serve` replicas share a real Redis (Debian's `redis-server`) and a
cache folder. A host (a WebSocket client on replica A) starts a party, then plays
a script: seek, play at 1x, speed 4x, a lap jump, pause. Members on both replicas
follow it, and every member's position is compared with the room's own clock
(its anchor from `GET /api/rooms/{id}`, which every replica computes the same):

- in real headless Chromium tabs (the web client: `window.__rr.clockAt()` gives
  the page clock's frame at a Unix instant), spread over the two replicas;
- in many WebSocket members (a bench client) that advance each `state`
  message's frame at `speed` x fps from its `server_time`, as the web client
  does (sync.ts); and, for comparison, from the moment it arrived (a client
  without that correction: it lags by the message's time in queues).

Drift = |member position - room position| at the same instant, in milliseconds
of replay, sampled from half a second after each command (when the change has
reached everyone) until the next. Bounded: about a minute in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import msgpack

from racereplay.bench.report import BenchOptions, BenchResult, Target

TITLE = "Watch parties (2 replicas, Redis)"

SESSION = "demo?cars=6&laps=10"
DRIFT_TARGET = Target.at_most(100.0)
TABS = 4  # Chromium tabs, half on each replica
MEMBERS = 200  # WebSocket members, half on each replica
QUICK_TABS, QUICK_MEMBERS = 2, 20
SETTLE_SECONDS = 0.5  # samples start this long after a command
SAMPLE_EVERY = 0.25
# The host's script: (command, seconds sampled after it).
SCRIPT: tuple[tuple[dict[str, Any], float], ...] = (
    ({"type": "seek", "frame": 2000}, 1.0),
    ({"type": "play"}, 6.0),
    ({"type": "speed", "value": 4}, 3.0),
    ({"type": "seek", "lap": 4}, 3.0),
    ({"type": "speed", "value": 1}, 3.0),
    ({"type": "pause"}, 1.5),
)


@dataclass
class RoomClock:
    """The room's clock as `GET /api/rooms/{id}` gives it (Unix seconds)."""

    frame: float
    wall: float
    playing: bool
    speed: float
    fps: int
    n_frames: int
    version: int

    def position(self, unix: float) -> float:
        if not self.playing:
            return self.frame
        return min(self.frame + (unix - self.wall) * self.speed * self.fps, self.n_frames - 1)


def room_clock(base: str, room_id: str) -> RoomClock:
    body = httpx.get(f"{base}/api/rooms/{room_id}", timeout=10).json()
    c = body["clock"]
    return RoomClock(
        c["frame"], c["wall"], c["playing"], c["speed"], body["fps"], body["n_frames"],
        body["version"],
    )  # fmt: skip


class WsMember:
    """A WebSocket member: its position from the last `state` it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.state: dict[str, Any] | None = None
        self.arrived = 0.0  # Unix time the last `state` arrived
        self.room: dict[str, Any] | None = None
        self.fps = 25

    async def read(self) -> None:
        async for raw in self.ws:
            if not isinstance(raw, bytes):
                continue
            message = msgpack.unpackb(raw)
            if message["type"] == "state":
                self.state, self.arrived = message, time.time()
            elif message["type"] == "room":
                self.room = message
                self.fps = message["fps"]

    def position(self, unix: float, dated: bool = True) -> float | None:
        """The frame at `unix`, advanced from the `state`'s `server_time` (`dated`) or
        from its arrival."""
        s = self.state
        if s is None:
            return None
        if not s["playing"]:
            return float(s["frame"])
        since = unix - (s["server_time"] if dated else self.arrived)
        return float(s["frame"] + since * s["speed"] * self.fps)


def _drift_ms(frames: float, fps: int) -> float:
    return abs(frames) / fps * 1000.0


async def _script(host: Any, sample: Any) -> None:
    """Send the host's commands; between them, call `sample()` every SAMPLE_EVERY."""
    for command, seconds in SCRIPT:
        await host.send(msgpack.packb(command))
        await asyncio.sleep(SETTLE_SECONDS)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await sample()
            await asyncio.sleep(SAMPLE_EVERY)


async def _drain(ws: Any) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def measure_ws(
    bases: list[str], host_base: str, room_id: str, n: int
) -> tuple[list[float], list[float]]:
    """Drift samples (ms) of `n` WebSocket members spread over `bases`: dated by each
    `state`'s `server_time`, and by its arrival."""
    import websockets

    drifts: list[float] = []
    naive: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        members: list[WsMember] = []
        readers: list[asyncio.Task[None]] = []
        for i in range(n):
            address = bases[i % len(bases)].removeprefix("http://")
            query = urlencode({"session": SESSION, "room": room_id, "name": f"m{i}"})
            # No keepalive pings: this one process reads for every member, and a busy
            # moment must not count as a dead link.
            ws = await stack.enter_async_context(
                websockets.connect(f"ws://{address}/ws?{query}", max_size=2**22, ping_interval=None)
            )
            members.append(WsMember(ws))
            readers.append(asyncio.create_task(members[-1].read()))
            if i % 20 == 19:
                await asyncio.sleep(0.2)  # joining in steps, as a party fills up
        host_address = host_base.removeprefix("http://")
        host = await stack.enter_async_context(
            websockets.connect(f"ws://{host_address}/ws?session={quote(SESSION)}&room={room_id}")
        )
        drain = asyncio.create_task(_drain(host))
        deadline = time.monotonic() + 60
        while not all(m.room is not None for m in members):
            if time.monotonic() > deadline:
                raise RuntimeError("the WebSocket members did not all join the party in 60 s")
            await asyncio.sleep(0.1)

        async def sample() -> None:
            clock = await asyncio.to_thread(room_clock, host_base, room_id)
            now = time.time()
            truth = clock.position(now)
            last = clock.n_frames - 1
            for m in members:
                pos, arrived = m.position(now), m.position(now, dated=False)
                if pos is not None and arrived is not None:
                    drifts.append(_drift_ms(min(pos, last) - truth, clock.fps))
                    naive.append(_drift_ms(min(arrived, last) - truth, clock.fps))

        await _script(host, sample)
        for task in [*readers, drain]:
            task.cancel()
    return drifts, naive


def measure_tabs(
    browser: Any, bases: list[str], host_base: str, room_id: str, n: int
) -> list[float]:
    """Drift samples (ms) of `n` Chromium tabs spread over `bases`; the host is a WebSocket."""
    from racereplay.bench.frontend import VIEWPORT, wait_ready

    pages = []
    for i in range(n):
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{bases[i % len(bases)]}/?session={quote(SESSION)}&room={room_id}")
        wait_ready(page)
        page.wait_for_function("() => window.__rr.room() !== null", timeout=30_000)
        pages.append(page)
    drifts: list[float] = []
    # Playwright's sync API belongs to this thread: the host's script runs in another,
    # and says (`phase`) when samples count.
    failure: list[BaseException] = []
    phase: list[str] = []

    def host_thread() -> None:
        try:
            asyncio.run(_host_only(host_base, room_id, phase))
        except BaseException as exc:  # raised below, in this thread
            failure.append(exc)

    thread = threading.Thread(target=host_thread, daemon=True)
    thread.start()
    while thread.is_alive():
        if phase and phase[-1] == "sample":
            clock = room_clock(host_base, room_id)
            reads = [page.evaluate("() => window.__rr.clockAt()") for page in pages]
            if room_clock(host_base, room_id).version != clock.version:
                continue  # the next command came meanwhile: these reads straddle it
            for at in reads:
                truth = clock.position(at["wall"] / 1000.0)
                drifts.append(_drift_ms(at["frame"] - truth, clock.fps))
        time.sleep(SAMPLE_EVERY)
    if failure:
        raise failure[0]
    for page in pages:
        page.close()
    return drifts


async def _host_only(host_base: str, room_id: str, phase: list[str]) -> None:
    """The host's script for the tabs: `phase` ends with "sample" while samples count."""
    import websockets

    address = host_base.removeprefix("http://")
    url = f"ws://{address}/ws?session={quote(SESSION)}&room={room_id}"
    async with websockets.connect(url, max_size=2**22) as host:
        drain = asyncio.create_task(_drain(host))
        for command, seconds in SCRIPT:
            phase.append("settle")
            await host.send(msgpack.packb(command))
            await asyncio.sleep(SETTLE_SECONDS)
            phase.append("sample")
            await asyncio.sleep(seconds)
        phase.append("done")
        drain.cancel()


@contextlib.contextmanager
def cluster(scratch: Path) -> Iterator[tuple[list[str], str]]:
    """Redis and two replicas sharing it and a cache folder; yields (bases, room id)."""
    from racereplay.server.process import serve_process
    from racereplay.server.services import redis_server

    cache = scratch / "cache"
    cache.mkdir()
    with redis_server(scratch) as redis_url:
        args = ["--cache", str(cache), "--redis", redis_url, "--log-level", "warning"]
        args += ["--room-size", str(MEMBERS + TABS + 8)]
        with (
            serve_process(args, scratch / "a.log") as (port_a, _),
            serve_process(args, scratch / "b.log") as (port_b, _),
        ):
            bases = [f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]
            _open_session(bases[0], SESSION)
            with party(bases[0]) as room_id:
                yield bases, room_id


@contextlib.contextmanager
def party(base: str) -> Iterator[str]:
    """A party whose first member (in a thread of its own, reading everything it is
    sent) stays for the whole run, so the room lives on between the phases."""
    ready: list[str] = []
    stop = threading.Event()
    failure: list[BaseException] = []

    async def keeper() -> None:
        import websockets

        address = base.removeprefix("http://")
        async with websockets.connect(
            f"ws://{address}/ws?session={quote(SESSION)}", max_size=2**22
        ) as ws:
            await ws.send(msgpack.packb({"type": "room_create", "name": "bench"}))
            # Everyone may control: the script's host is another member.
            await ws.send(msgpack.packb({"type": "room_policy", "policy": "everyone"}))
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    raw = await asyncio.wait_for(ws.recv(), 0.2)
                    if isinstance(raw, bytes) and len(raw) < 4096 and not ready:
                        message = msgpack.unpackb(raw)
                        if message["type"] == "room" and message["policy"] == "everyone":
                            ready.append(str(message["id"]))

    def main() -> None:
        try:
            asyncio.run(keeper())
        except BaseException as exc:  # raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not ready:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the bench could not start a watch party: {failure}")
        time.sleep(0.05)
    try:
        yield ready[0]
    finally:
        stop.set()
        thread.join(10)


def _open_session(base: str, name: str, timeout: float = 300) -> None:
    from racereplay.bench.frontend import _open_session as open_session

    open_session(base, name, timeout)


def _summary(drifts: list[float]) -> tuple[float, float, float]:
    ordered = sorted(drifts)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def run(options: BenchOptions) -> BenchResult:
    from racereplay.bench.frontend import missing as browser_missing
    from racereplay.server.services import redis_missing

    result = BenchResult()
    why = redis_missing()
    if why:
        result.notes.append(f"skipped: {why}")
        return result
    tabs = QUICK_TABS if options.quick else TABS
    members = QUICK_MEMBERS if options.quick else MEMBERS
    with (
        tempfile.TemporaryDirectory(prefix="rr-bench-rooms-") as tmp,
        cluster(Path(tmp)) as (bases, room_id),
    ):
        no_browser = browser_missing()
        tab_drifts: list[float] = []
        if no_browser:
            result.notes.append(f"Chromium tabs skipped: {no_browser}")
        else:
            from playwright.sync_api import sync_playwright

            from racereplay.bench.frontend import launch

            with sync_playwright() as p:
                browser = launch(p)
                try:
                    tab_drifts = measure_tabs(browser, bases, bases[0], room_id, tabs)
                finally:
                    browser.close()
        ws_drifts, naive = asyncio.run(measure_ws(bases, bases[1], room_id, members))
    script = ", ".join(
        f"{c['type']} {c.get('frame', c.get('lap', c.get('value', '')))}".strip() for c, _ in SCRIPT
    )
    result.notes.append(
        f"`{SESSION}`; two replicas sharing one Redis and one cache folder on this machine; "
        f"the host's script: {script}; drift = |member position - the room's clock| in ms of "
        f"replay, sampled every {SAMPLE_EVERY} s from {SETTLE_SECONDS} s after each command"
    )
    if tab_drifts:
        p50, p99, worst = _summary(tab_drifts)
        note = f"{tabs} tabs over 2 replicas, {len(tab_drifts)} samples, worst {worst:.1f} ms"
        result.add("drift p50, Chromium tabs", p50, "ms", note=note)
        result.add("drift p99, Chromium tabs", p99, "ms", target=DRIFT_TARGET, note=note)
    p50, p99, worst = _summary(ws_drifts)
    note = (
        f"{members} WebSocket members over 2 replicas (the host on the other), "
        f"{len(ws_drifts)} samples, worst {worst:.1f} ms"
    )
    result.add("drift p50, WebSocket members", p50, "ms", note=note)
    result.add("drift p99, WebSocket members", p99, "ms", target=DRIFT_TARGET, note=note)
    p50, p99, worst = _summary(naive)
    note = f"the same members' positions advanced from each state's arrival, worst {worst:.1f} ms"
    result.add("drift p99, WebSocket members, undated", p99, "ms", note=note)
    return result
