"""One build per session across replicas (replay/leases.py): real `racereplay serve`
processes sharing one cache folder and one real Redis.

Sessions are demos sized for what each test needs: tiny where only the count of
builds matters, a few seconds long where another replica must join (or a kill must
land) while the build runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import websockets

from racereplay.bench.cluster import kill_with_children
from racereplay.server.process import free_port, serve_process
from racereplay.sources import SessionRef
from racereplay.store.cache import cache_path

TINY = "demo?cars=6&laps=2"
# A few seconds to build on this machine (longer when it is busy, which only helps).
SLOW = "demo?cars=10&laps=60"
SLOWER = "demo?cars=10&laps=100"
TIMEOUT = 180.0


# -- two replicas' registries in one process, on a real Redis -----------------


class SharedFolder:
    """Builders of several replicas over one cache folder (here, a dict): a build
    waits for `release`; opening a session already built is immediate."""

    def __init__(self) -> None:
        from factories import oval_timeline

        self.files: dict[str, Any] = {}
        self.started: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}
        self.timeline = oval_timeline()

    def cached(self, ref: SessionRef) -> bool:
        return ref.key in self.files

    async def build(self, ref: SessionRef, progress: Any) -> Any:
        if ref.key in self.files:
            return self.files[ref.key]  # an open
        progress(0.5, "halfway there")
        self.started.setdefault(ref.key, asyncio.Event()).set()
        await self.release.setdefault(ref.key, asyncio.Event()).wait()
        self.files[ref.key] = self.timeline
        return self.timeline


def replica_registry(client: Any, folder: SharedFolder) -> Any:
    """One replica's registry (one build at a time) coordinated through `client`."""
    from racereplay.replay.leases import BuildLeases
    from racereplay.replay.registry import Registry

    registry = Registry(folder.build, max_builds=1)
    registry.coordinator = BuildLeases(client, folder.build, cached=folder.cached)
    return registry


async def until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


def test_a_follower_relays_the_leaders_progress_then_opens_its_result(redis_url: str) -> None:
    import redis.asyncio as aioredis

    ref = SessionRef.parse(TINY)
    folder = SharedFolder()

    async def scenario() -> tuple[list[tuple[str, float, str]], list[Any], list[int]]:
        client = aioredis.Redis.from_url(redis_url)
        leader, follower = replica_registry(client, folder), replica_registry(client, folder)
        heard: list[tuple[str, float, str]] = []
        leading = asyncio.create_task(leader.get(ref))
        await folder.started.setdefault(ref.key, asyncio.Event()).wait()
        following = asyncio.create_task(
            follower.get(ref, lambda s: heard.append((s.state.value, s.fraction, s.message)))
        )
        await until(lambda: ("building", 0.5, "halfway there") in heard or following.done())
        folder.release[ref.key].set()
        results = await asyncio.gather(leading, following)
        held = await client.exists(f"racereplay:build:{ref.key}:lease")
        followed = follower.coordinator.builds_followed
        await client.aclose()
        return heard, results, [leader.builds_started, follower.builds_started, followed, held]

    heard, (led, followed), counts = asyncio.run(scenario())
    assert ("building", 0.5, "halfway there") in heard
    assert heard[-1][0] == "ready"
    assert led.timeline is folder.timeline and followed.timeline is folder.timeline
    assert counts == [1, 0, 1, 0]  # one build; the lease released


def test_the_leaders_queue_position_reaches_a_waiter_on_another_replica(redis_url: str) -> None:
    """Replica A builds one session and has another queued behind it: a waiter for the
    queued one on replica B sees A's queue position, then the build, and B's own
    build slot stays free for other sessions meanwhile."""
    import redis.asyncio as aioredis

    first, second, other = (SessionRef.parse(f"demo?cars=6&laps=2&seed={i}") for i in (1, 2, 3))
    folder = SharedFolder()

    async def scenario() -> tuple[list[tuple[str, Any]], bool]:
        client = aioredis.Redis.from_url(redis_url)
        a, b = replica_registry(client, folder), replica_registry(client, folder)
        building_first = asyncio.create_task(a.get(first))
        await folder.started.setdefault(first.key, asyncio.Event()).wait()
        queued_on_a = asyncio.create_task(a.get(second))
        await until(lambda: getattr(a.status(second.key), "queue_position", None) == 1)
        while not await client.exists(f"racereplay:build:{second.key}:status"):
            await asyncio.sleep(0.01)  # A has published its queue
        heard: list[tuple[str, Any]] = []
        on_b = asyncio.create_task(
            b.get(second, lambda s: heard.append((s.state.value, s.queue_position)))
        )
        await until(lambda: ("queued", 1) in heard)
        # B is only watching A's queue: its own slot builds another session now.
        building_other = asyncio.create_task(b.get(other))
        await folder.started.setdefault(other.key, asyncio.Event()).wait()
        b_built_meanwhile = b.builds_started == 1
        for ref in (first, other):
            folder.release[ref.key].set()
        # A's slot passes to the queued session: B's waiter hears it start.
        await until(lambda: ("building", None) in heard)
        folder.release.setdefault(second.key, asyncio.Event()).set()
        await asyncio.gather(building_first, queued_on_a, on_b, building_other)
        await client.aclose()
        return heard, b_built_meanwhile

    heard, b_built_meanwhile = asyncio.run(scenario())
    states = [state for state, _ in heard]
    assert ("queued", 1) in heard
    assert states.index("building") > states.index("queued")  # then A started it
    assert states[-1] == "ready"
    assert b_built_meanwhile


def test_the_lease_length_is_a_setting() -> None:
    from racereplay.cli import _parser
    from racereplay.server.options import settings_from_args

    def lease(argv: list[str], environ: dict[str, str]) -> float:
        return settings_from_args(_parser().parse_args(["serve", *argv]), environ).lease_seconds

    assert lease([], {}) == 10.0
    assert lease([], {"RACEREPLAY_LEASE_SECONDS": "4"}) == 4.0
    assert lease(["--lease-seconds", "2"], {"RACEREPLAY_LEASE_SECONDS": "4"}) == 2.0


# -- real replicas ---------------------------------------------------------------


@contextlib.contextmanager
def replica(cache: Path, redis_url: str, log: Path, *extra: str) -> Iterator[tuple[str, int]]:
    """A `racereplay serve --redis` replica on `cache`; yields (base URL, pid)."""
    args = ["--cache", str(cache), "--redis", redis_url, "--log-level", "info", *extra]
    with serve_process(args, log) as (port, pid):
        yield f"http://127.0.0.1:{port}", pid


@pytest.fixture(scope="module")
def cluster(
    redis_service: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, list[str]]]:
    """Three replicas sharing a cache folder and a Redis: (the folder, their base URLs)."""
    folder = tmp_path_factory.mktemp("cluster")
    cache = folder / "cache"
    with contextlib.ExitStack() as stack:
        bases = [
            stack.enter_context(replica(cache, redis_service, folder / f"replica{i}.log"))[0]
            for i in range(3)
        ]
        yield cache, bases


def health(base: str) -> dict[str, Any]:
    return httpx.get(f"{base}/api/health", timeout=30).json()  # type: ignore[no-any-return]


def open_session(base: str, name: str) -> dict[str, Any]:
    reply = httpx.post(f"{base}/api/sessions", json={"name": name}, timeout=30)
    assert reply.status_code in (200, 202), reply.text
    return reply.json()  # type: ignore[no-any-return]


def status(base: str, session_id: str) -> dict[str, Any]:
    return httpx.get(f"{base}/api/sessions/{session_id}", timeout=30).json()  # type: ignore[no-any-return]


def wait_for(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """`check()`'s first truthy value, polled; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def wait_settled(base: str, session_id: str, seen: list[dict[str, Any]] | None = None) -> dict:
    """The session's status on `base` once ready or failed; every status polled goes to `seen`."""

    def settled() -> dict[str, Any] | None:
        now = status(base, session_id)
        if seen is not None:
            seen.append(now)
        return now if now["state"] in ("ready", "failed") else None

    return wait_for(f"{session_id} on {base}", settled)  # type: ignore[no-any-return]


def leads(base: str, builds_before: int) -> Callable[[], bool]:
    """True once `base` took a build lease (its count of builds rose)."""
    return lambda: health(base)["builds_started"] > builds_before


@pytest.mark.slow
def test_many_opens_over_three_replicas_build_the_session_once(
    cluster: tuple[Path, list[str]],
) -> None:
    _, bases = cluster
    before = sum(health(b)["builds_started"] for b in bases)

    async def open_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as http:
            replies = await asyncio.gather(
                *(http.post(f"{bases[i % 3]}/api/sessions", json={"name": TINY}) for i in range(30))
            )
        return [r.json() for r in replies]

    opened = asyncio.run(open_all())
    session_id = opened[0]["id"]
    assert {s["id"] for s in opened} == {session_id}
    for base in bases:
        assert wait_settled(base, session_id)["state"] == "ready"
    assert sum(health(b)["builds_started"] for b in bases) - before == 1
    for base in bases:
        assert health(base)["redis"]["connected"] is True


@pytest.mark.slow
def test_progress_reaches_a_waiter_on_another_replica(cluster: tuple[Path, list[str]]) -> None:
    _, (builder, waiter, _) = cluster
    builds = health(builder)["builds_started"], health(waiter)["builds_started"]
    followed = health(waiter)["redis"]["builds_followed"]
    session_id = open_session(builder, SLOW)["id"]
    wait_for("the first replica takes the lease", leads(builder, builds[0]))
    open_session(waiter, SLOW)
    seen: list[dict[str, Any]] = []
    assert wait_settled(waiter, session_id, seen)["state"] == "ready"
    # The builder's own progress messages, relayed: neither the waiter's "starting" nor
    # its "building on another replica".
    relayed = [
        s
        for s in seen
        if s["state"] == "building"
        and s["fraction"] > 0
        and s["message"] not in ("starting", "building on another replica")
    ]
    assert relayed, seen
    assert health(waiter)["builds_started"] == builds[1]  # it built nothing itself
    assert health(waiter)["redis"]["builds_followed"] == followed + 1


@pytest.mark.slow
def test_a_failed_build_reaches_every_replica_and_the_next_request_retries(
    cluster: tuple[Path, list[str]],
) -> None:
    cache, (builder, *waiters) = cluster
    name = SLOW + "&seed=3"
    before = [health(b)["builds_started"] for b in (builder, *waiters)]
    session_id = open_session(builder, name)["id"]
    wait_for("the first replica takes the lease", leads(builder, before[0]))
    # The build's last step renames its file into place: a folder there makes it fail.
    blocker = cache_path(SessionRef.parse(name), cache)
    blocker.mkdir(parents=True)
    try:
        for base in waiters:
            open_session(base, name)
        outcomes = [wait_settled(base, session_id) for base in (builder, *waiters)]
    finally:
        blocker.rmdir()
    assert [o["state"] for o in outcomes] == ["failed"] * 3, outcomes
    assert "Is a directory" in outcomes[0]["error"], outcomes[0]
    assert all(o["error"] == outcomes[0]["error"] for o in outcomes), outcomes
    after = [health(b)["builds_started"] for b in (builder, *waiters)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 0, 0]
    # Not cached: the next request builds again, and succeeds.
    open_session(waiters[0], name)
    assert wait_settled(waiters[0], session_id)["state"] == "ready"
    assert health(waiters[0])["builds_started"] == before[1] + 1


@pytest.mark.slow
def test_a_killed_builders_session_is_taken_over_once_its_lease_expires(
    redis_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    lease = ("--lease-seconds", "2")
    with (
        replica(cache, redis_url, tmp_path / "builder.log", *lease) as (builder, builder_pid),
        replica(cache, redis_url, tmp_path / "waiter.log", *lease) as (waiter, _),
    ):
        session_id = open_session(builder, SLOWER)["id"]
        wait_for("the first replica takes the lease", leads(builder, 0))
        open_session(waiter, SLOWER)
        wait_for(
            "the waiter follows the build",
            lambda: status(waiter, session_id)["message"] != "starting",
        )
        kill_with_children(builder_pid)
        assert wait_settled(waiter, session_id)["state"] == "ready"
        after = health(waiter)
        assert after["builds_started"] == 1
        assert after["redis"]["lease_takeovers"] == 1
        reply = httpx.get(f"{waiter}/api/sessions/{session_id}/metadata", timeout=30)
        assert reply.status_code == 200, reply.text


def test_redis_down_at_start_up_is_one_clear_line(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    command = [sys.executable, "-m", "racereplay", "serve", "--port", str(free_port())]
    done = subprocess.run(
        [*command, "--cache", str(tmp_path), "--redis", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "Redis" in lines[0], done.stderr


@pytest.mark.slow
def test_with_redis_stopped_viewers_play_on_and_builds_go_on_locally(tmp_path: Path) -> None:
    from racereplay.server.services import redis_missing, redis_server

    why = redis_missing()
    if why:
        pytest.skip(why)
    (tmp_path / "redis").mkdir()
    log = tmp_path / "replica.log"
    with contextlib.ExitStack() as redis_running:
        url = redis_running.enter_context(redis_server(tmp_path / "redis"))
        with replica(tmp_path / "cache", url, log, "--lease-seconds", "1") as (base, _):
            ws_url = base.replace("http://", "ws://") + "/ws?" + f"session={TINY}"

            async def scenario() -> int:
                async with websockets.connect(ws_url, max_size=1 << 22) as ws:
                    await _until(ws, "ready")
                    await _messages(ws, 3)
                    # Redis stops under the running server; in a thread, so this client
                    # keeps answering the server's pings while it waits for the stop.
                    await asyncio.to_thread(redis_running.close)
                    await asyncio.to_thread(
                        wait_for,
                        "health shows Redis gone",
                        lambda: health(base)["redis"]["connected"] is False,
                    )
                    return await _messages(ws, 10)  # the viewer plays on

            try:
                assert asyncio.run(scenario()) == 10
            except (TimeoutError, websockets.ConnectionClosed) as exc:
                raise AssertionError(f"{exc!r}; the replica's log:\n{log.read_text()}") from exc
            other = open_session(base, "demo?cars=4&laps=2")
            assert wait_settled(base, other["id"])["state"] == "ready"
            assert health(base)["builds_started"] == 2
    lost = [line for line in log.read_text().splitlines() if "is unreachable" in line]
    assert len(lost) == 1, lost


async def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.recv(), 60)
        decoded = _decoded(message)
        assert decoded.get("type") != "error", decoded
        if decoded.get("type") == kind:
            return decoded


def _decoded(message: str | bytes) -> dict[str, Any]:
    """A control message as a map; {} for data (compact chunks are not msgpack maps)."""
    if isinstance(message, str):
        return {}
    try:
        decoded = msgpack.unpackb(message)
    except (ValueError, msgpack.ExtraData):
        return {}
    return decoded if isinstance(decoded, dict) else {}


async def _messages(ws: Any, count: int) -> int:
    """Receive `count` messages, none an error; returns how many came."""
    for _ in range(count):
        decoded = _decoded(await asyncio.wait_for(ws.recv(), 60))
        assert decoded.get("type") != "error", decoded
    return count
