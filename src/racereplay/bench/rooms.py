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
reached everyone) until the next.

Then what rooms cost: a third replica (the same Redis and cache folder) with
`--max-rooms N --room-size 2` takes N viewers watching alone, then each opens a
room, then a second member joins each; its RSS (/proc/PID/status) after each step
gives bytes per viewer, per room and per member. One room beyond N must be refused
(`too_many_rooms`) and a third member of a room (`room_full`). Bounded: about a
minute and a half in all.
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
MEMORY_ROOMS, QUICK_MEMORY_ROOMS = 300, 30  # rooms opened on one replica: its --max-rooms
MEMORY_ROOM_SIZE = 2  # members per room there: its --room-size
MEMORY_SETTLE_SECONDS = 1.5  # after a step, before its RSS is read
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
        self.errors: list[str] = []  # the codes of `error` messages received
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
            elif message["type"] == "error":
                self.errors.append(str(message["code"]))

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


@dataclass
class RoomMemory:
    """What rooms cost on one replica, and whether its bounds held."""

    rooms: int
    rss_mb: tuple[float, float, float, float]  # before, viewers alone, rooms, members
    refused_room: list[str]  # error codes the room beyond --max-rooms got
    refused_member: list[str]  # error codes the member beyond --room-size got

    def per(self, step: int) -> float:
        """Bytes per viewer (step 1), room (2) or member (3)."""
        return (self.rss_mb[step] - self.rss_mb[step - 1]) * (1 << 20) / self.rooms


async def _until(members: list[WsMember], done: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(done(m) for m in members):
        if time.monotonic() > deadline:
            late = [m for m in members if not done(m)]
            errors = sorted({code for m in late for code in m.errors})
            raise RuntimeError(
                f"{len(late)} of {len(members)} viewers not {what} within {timeout:.0f} s "
                f"(errors: {', '.join(errors) or 'none'})"
            )
        await asyncio.sleep(0.05)


async def measure_memory(base: str, pid: int, n: int) -> RoomMemory:
    """The RSS steps of the replica at `base` (process `pid`, `--max-rooms n`,
    `--room-size MEMORY_ROOM_SIZE`) as n viewers join, open n rooms, and a second
    member joins each; then a room and a member past the bounds."""
    import websockets

    from racereplay.bench.server import rss_mb

    address = base.removeprefix("http://")
    readers: list[asyncio.Task[None]] = []

    async def settled() -> float:
        await asyncio.sleep(MEMORY_SETTLE_SECONDS)
        return rss_mb(pid)

    async with contextlib.AsyncExitStack() as stack:

        async def connect(**query: str) -> WsMember:
            url = f"ws://{address}/ws?{urlencode({'session': SESSION, **query})}"
            ws = await stack.enter_async_context(
                websockets.connect(url, max_size=2**22, ping_interval=None)
            )
            member = WsMember(ws)
            readers.append(asyncio.create_task(member.read()))
            return member

        # The session loaded and its first chunks encoded: what every viewer shares.
        warm = [await connect()]
        await _until(warm, lambda m: m.state is not None, "with their state")
        before = await settled()
        alone = [await connect() for _ in range(n)]
        await _until(alone, lambda m: m.state is not None, "with their state")
        viewers = await settled()
        for member in alone:
            await member.ws.send(msgpack.packb({"type": "room_create"}))
        await _until(alone, lambda m: m.room is not None, "in a room of their own")
        rooms = await settled()
        joined = [await connect(room=str(m.room["id"])) for m in alone if m.room is not None]
        await _until(joined, lambda m: m.room is not None, "joined to a room")
        members = await settled()
        # Past the bounds: one room more than --max-rooms, one member more than --room-size.
        extra_room = await connect()
        await _until([extra_room], lambda m: m.state is not None, "with their state")
        await extra_room.ws.send(msgpack.packb({"type": "room_create"}))
        full = alone[0].room["id"] if alone[0].room is not None else ""
        extra_member = await connect(room=str(full))
        extra = [extra_room, extra_member]
        await _until(extra, lambda m: m.errors or m.room is not None, "answered")
        for task in readers:
            task.cancel()
    return RoomMemory(
        n,
        (before, viewers, rooms, members),
        extra_room.errors if extra_room.room is None else [],
        extra_member.errors if extra_member.room is None else [],
    )


def memory_run(scratch: Path, n: int) -> RoomMemory:
    """`measure_memory` on a replica of its own (its own Redis) over the cache folder
    the drift run built the session in."""
    from racereplay.server.process import serve_process
    from racereplay.server.services import redis_server

    folder = scratch / "memory"
    folder.mkdir()
    with redis_server(folder) as redis_url:
        args = ["--cache", str(scratch / "cache"), "--redis", redis_url]
        args += ["--log-level", "warning", "--max-rooms", str(n)]
        args += ["--room-size", str(MEMORY_ROOM_SIZE)]
        with serve_process(args, folder / "replica.log") as (port, pid):
            return asyncio.run(measure_memory(f"http://127.0.0.1:{port}", pid, n))


def _open_session(base: str, name: str, timeout: float = 300) -> None:
    from racereplay.bench.frontend import _open_session as open_session

    open_session(base, name, timeout)


def _summary(drifts: list[float]) -> tuple[float, float, float]:
    ordered = sorted(drifts)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def run(options: BenchOptions) -> BenchResult:
    from racereplay.server.services import redis_missing

    result = BenchResult()
    why = redis_missing()
    if why:
        result.notes.append(f"skipped: {why}")
        return result
    tabs = QUICK_TABS if options.quick else TABS
    members = QUICK_MEMBERS if options.quick else MEMBERS
    n_rooms = QUICK_MEMORY_ROOMS if options.quick else MEMORY_ROOMS
    with tempfile.TemporaryDirectory(prefix="rr-bench-rooms-") as tmp:
        with cluster(Path(tmp)) as (bases, room_id):
            tab_drifts = _tab_drifts(result, bases, room_id, tabs)
            ws_drifts, naive = asyncio.run(measure_ws(bases, bases[1], room_id, members))
        memory = memory_run(Path(tmp), n_rooms)
    _drift_rows(result, tab_drifts, ws_drifts, naive, tabs, members)
    _memory_rows(result, memory)
    return result


def _tab_drifts(result: BenchResult, bases: list[str], room_id: str, tabs: int) -> list[float]:
    from racereplay.bench.frontend import missing as browser_missing

    no_browser = browser_missing()
    if no_browser:
        result.notes.append(f"Chromium tabs skipped: {no_browser}")
        return []
    from playwright.sync_api import sync_playwright

    from racereplay.bench.frontend import launch

    with sync_playwright() as p:
        browser = launch(p)
        try:
            return measure_tabs(browser, bases, bases[0], room_id, tabs)
        finally:
            browser.close()


def _drift_rows(
    result: BenchResult,
    tab_drifts: list[float],
    ws_drifts: list[float],
    naive: list[float],
    tabs: int,
    members: int,
) -> None:
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


def _memory_rows(result: BenchResult, memory: RoomMemory) -> None:
    n = memory.rooms
    before, *_, after = memory.rss_mb
    result.notes.append(
        f"memory: a third replica (--redis, --max-rooms {n}, --room-size {MEMORY_ROOM_SIZE}) "
        f"takes {n} WebSocket viewers watching alone, then each opens a room, then a second "
        f"member joins each; its VmRSS after each step ({before:.1f} MB before, "
        f"{after:.1f} MB after), the difference over {n}"
    )
    result.add("memory per viewer alone", memory.per(1) / 1024, "KB", note="its connection")
    result.add("memory per room", memory.per(2) / 1024, "KB", note="such a viewer opens a room")
    result.add("memory per member", memory.per(3) / 1024, "KB", note="a connection joins a room")
    refused = memory.refused_room == ["too_many_rooms"]
    result.add(
        "rooms on the replica when one more was asked for",
        n if refused else n + 1,
        "rooms",
        target=Target.at_most(n),
        note=f"--max-rooms {n}; the next room_create got: "
        + (", ".join(memory.refused_room) or "a room"),
    )
    refused = memory.refused_member == ["room_full"]
    result.add(
        "members in a room when one more tried to join",
        MEMORY_ROOM_SIZE if refused else MEMORY_ROOM_SIZE + 1,
        "members",
        target=Target.at_most(MEMORY_ROOM_SIZE),
        note=f"--room-size {MEMORY_ROOM_SIZE}; the next member got: "
        + (", ".join(memory.refused_member) or "in"),
    )
