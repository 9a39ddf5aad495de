"""Each attack of issue 10, performed against a real uvicorn server, and what it now gets.

A hostile client floods commands, queues builds, stops reading, sends huge numbers,
sends no headers, posts huge bodies, comes from another origin or host name. The
server answers each with a bounded, explained refusal and stays up for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgpack
import pytest
import websockets
from test_server_support import HOLD_SEED, ToyBuilder, running_server, unpack

from racereplay.codec import get_codec
from racereplay.server.protocol import COMMAND_BURST, COMMANDS_PER_SECOND
from racereplay.server.settings import Settings
from racereplay.server.state import ServerState

FAST = dict(stuck_seconds=1.0, close_wait_seconds=1.0, header_timeout=0.5, keep_alive_seconds=0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ToyBuilder]]:
    builder = ToyBuilder()
    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"), **FAST)  # type: ignore[arg-type]
    with running_server(settings, builder) as address:
        yield address, builder


def connect(address: str, session: str = "demo?cars=6&laps=3", **params: Any) -> Any:
    origin = params.pop("origin", None)
    query = urlencode({"session": session, **params})
    return websockets.connect(f"ws://{address}/ws?{query}", max_size=2**24, origin=origin)


async def collect(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Every message received in the next `seconds`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            out.append(unpack(await asyncio.wait_for(ws.recv(), remaining)))
        except TimeoutError:
            break
    return out


async def until(ws: Any, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = unpack(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


def established(port: int) -> int:
    """Server-side TCP connections of `port` that are still open (from /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                count += local_port == port and fields[3] == "01"  # ESTABLISHED
    return count


# -- 1. commands sent while a session builds -------------------------------------


def test_a_command_flood_while_loading_is_coalesced_and_refused(
    server: tuple[str, ToyBuilder],
) -> None:
    address, builder = server

    async def scenario() -> None:
        async with connect(address, session=f"demo?seed={HOLD_SEED}&cars=4") as ws:
            await until(ws, "progress")
            started = time.monotonic()
            for i in range(3000):
                await ws.send(msgpack.packb({"type": "ping", "t": i, "seq": i}))
                await ws.send(msgpack.packb({"type": "seek", "frame": i % 1500, "seq": 10_000 + i}))
            elapsed = time.monotonic() - started
            builder.release()
            messages = await collect(ws, 2.0)
        pongs = [m for m in messages if m["type"] == "pong"]
        refusals = [m for m in messages if m["type"] == "error" and m["code"] == "too_many"]
        seeks = [m for m in messages if m["type"] == "state" and m["reason"] == "seek"]
        # Pings beyond the bucket are refused, with one answer a second at most.
        assert len(pongs) <= COMMAND_BURST + COMMANDS_PER_SECOND * (elapsed + 2.5)
        assert 1 <= len(refusals) <= elapsed + 3
        # 3000 seeks held while loading are one seek: the last, applied once ready.
        assert [(s["seq"], s["frame"]) for s in seeks] == [(12_999, 1499)]

    asyncio.run(scenario())


# -- 5. commands while watching ---------------------------------------------------


def test_seeks_faster_than_the_bucket_are_coalesced_and_the_last_one_wins(
    server: tuple[str, ToyBuilder],
) -> None:
    async def scenario() -> None:
        async with connect(server[0]) as ws:
            await until(ws, "state", reason="join")
            started = time.monotonic()
            for i in range(500):
                await ws.send(msgpack.packb({"type": "seek", "frame": 2 * i, "seq": i}))
            messages = await collect(ws, 3.0)
            elapsed = time.monotonic() - started
        seeks = [m for m in messages if m["type"] == "state" and m["reason"] == "seek"]
        assert len(seeks) <= COMMAND_BURST + COMMANDS_PER_SECOND * elapsed + 1
        assert (seeks[-1]["seq"], seeks[-1]["frame"]) == (499, 998)

    asyncio.run(scenario())


# -- 8. numbers too large for a frame, a lap or a float ---------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "seek", "frame": 1' + "0" * 400 + "}",
        '{"type": "seek", "lap": 1' + "0" * 30 + "}",
        '{"type": "seek", "time": 1e999}',
        '{"type": "ping", "t": 1' + "0" * 400 + "}",
        '{"type": "play", "seq": 1' + "0" * 30 + "}",
        '{"type": "quality", "rate": 1' + "0" * 30 + "}",
        '{"type": "speed", "value": -1' + "0" * 400 + "}",
    ],
)
def test_huge_numbers_get_bad_value_and_the_connection_carries_on(
    server: tuple[str, ToyBuilder], text: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with connect(server[0]) as ws:
            await until(ws, "state", reason="join")
            await ws.send(text)
            assert (await until(ws, "error"))["code"] == "bad_value"
            await ws.send(msgpack.packb({"type": "ping", "t": 1, "seq": 5}))
            assert (await until(ws, "pong", seq=5))["t"] == 1

    asyncio.run(scenario())
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text


# -- 3. viewers that never read ---------------------------------------------------


def _raw_viewer(address: str, session: str) -> socket.socket:
    """A WebSocket client on a bare socket that asks for everything, then never reads."""
    host, port = address.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    query = urlencode({"session": session, "codec": "json", "rate": "25"})
    sock.sendall(
        f"GET /ws?{query} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    for command in ({"type": "speed", "value": 64}, {"type": "play"}):
        sock.sendall(_client_frame(msgpack.packb(command)))
    return sock


def _client_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + masked


def test_viewers_that_never_read_are_closed_then_aborted(server: tuple[str, ToyBuilder]) -> None:
    address = server[0]
    port = int(address.split(":")[1])
    viewers = [_raw_viewer(address, "demo?cars=20&laps=40") for _ in range(10)]
    try:
        assert established(port) >= 10
        # Stuck after 1 s, the close frame waits 1 s behind unread data, then the
        # transport is aborted: nothing of these viewers stays on the server.
        deadline = time.monotonic() + 20
        while established(port) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert established(port) == 0
        assert httpx.get(f"http://{address}/api/health").json()["viewers"] == 0
    finally:
        for sock in viewers:
            sock.close()


# -- 2. builds: names checked when parsed, queue and clients bounded ---------------


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("demo?seed=abc", "seed"),
        ("demo?session=garbage", "session"),
        ("demo?cars=1", "cars"),
        ("demo?session=practice&minutes=100000", "minutes"),
        ("demo?colour=red", "colour"),
        ("demo?laps=0", "laps"),
        ("demo?seed=99999999999999999999", "seed"),
    ],
)
def test_bad_options_are_refused_when_parsed_without_a_build(
    server: tuple[str, ToyBuilder], name: str, option: str
) -> None:
    base = f"http://{server[0]}"
    before = httpx.get(f"{base}/api/health").json()["builds_started"]
    response = httpx.post(f"{base}/api/sessions", json={"name": name})
    assert response.status_code == 400, response.text
    assert option in response.json()["detail"]
    assert httpx.get(f"{base}/api/health").json()["builds_started"] == before


def test_the_build_queue_and_each_clients_builds_are_bounded(tmp_path: Path) -> None:
    builder = ToyBuilder()  # every seed-14 build holds until released
    settings = Settings(cache_dir=tmp_path, max_builds=1, max_queued_builds=2, builds_per_client=3)
    with running_server(settings, builder) as address:
        base = f"http://{address}"

        def open_(cars: int) -> httpx.Response:
            name = f"demo?seed={HOLD_SEED}&cars={cars}"
            return httpx.post(f"{base}/api/sessions", json={"name": name})

        assert [open_(c).status_code for c in (2, 3, 4)] == [202, 202, 202]
        refused = open_(5)  # one building, two queued: the queue is full
        assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
        assert "busy" in refused.json()["detail"]
        assert open_(2).status_code == 202  # the same session again joins its build
        builder.release()
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/api/health").json()["sessions_loaded"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    settings = Settings(cache_dir=tmp_path, max_builds=1, max_queued_builds=50, builds_per_client=2)
    held = ToyBuilder()
    with running_server(settings, held) as address:
        base = f"http://{address}"
        codes = [
            httpx.post(f"{base}/api/sessions", json={"name": f"demo?seed={HOLD_SEED}&cars={c}"})
            for c in (2, 3, 4)
        ]
        assert [r.status_code for r in codes] == [202, 202, 429]
        assert "at most 2" in codes[2].json()["detail"]
        held.release()


def test_one_lap_demo_builds_through_the_real_cache(tmp_path: Path) -> None:
    with running_server(Settings(cache_dir=tmp_path)) as address:

        async def scenario() -> dict[str, Any]:
            async with connect(address, session="demo?laps=1&cars=4") as ws:
                return await until(ws, "ready", timeout=120)

        meta = asyncio.run(scenario())["metadata"]
        assert meta["info"]["total_laps"] == 1 and meta["geometry"] is not None
        assert meta["problems"] == [] or all("lap length" not in p for p in meta["problems"])


# -- 4. a cache file damaged while it is open ---------------------------------------


def test_a_cache_file_damaged_while_served_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    from racereplay.sources import SessionRef
    from racereplay.store.cache import cache_path

    name = "demo?cars=4&laps=2"
    with running_server(Settings(cache_dir=tmp_path)) as address:
        base = f"http://{address}"

        async def watch_then_seek(last_frame: int | None) -> tuple[dict[str, Any], int]:
            async with connect(address, session=name) as ws:
                ready = await until(ws, "ready", timeout=120)
                await until(ws, "data")
                if last_frame is None:
                    return ready, 0
                path = cache_path(SessionRef.parse(name), tmp_path)
                os.truncate(path, path.stat().st_size // 2)  # under the server's map
                await ws.send(msgpack.packb({"type": "seek", "frame": last_frame}))
                error = await until(ws, "error", timeout=10)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                return error, closed.value.rcvd.code

        ready, _ = asyncio.run(watch_then_seek(None))
        meta = ready["metadata"]
        error, code = asyncio.run(watch_then_seek(meta["n_frames"] - 1))
        assert (error["code"], code) == ("session_damaged", 1013)
        assert httpx.get(f"{base}/api/health").json()["sessions_loaded"] == 0
        again, _ = asyncio.run(watch_then_seek(None))  # rebuilt: the same session, whole
        assert again["metadata"]["n_frames"] == meta["n_frames"]
        assert httpx.get(f"{base}/api/health").json()["builds_started"] == 2


def test_a_file_replaced_before_a_viewer_joins_is_an_error_not_a_dropped_socket(
    tmp_path: Path,
) -> None:
    """The server holds a session whose file another process replaced: the next viewer's
    `ready` (whole columns of the mapped file) finds it, and the viewer is told."""
    from racereplay.sources import SessionRef
    from racereplay.store.cache import cache_path

    name = "demo?cars=4&laps=2"
    with running_server(Settings(cache_dir=tmp_path)) as address:
        base = f"http://{address}"
        session_id = httpx.post(f"{base}/api/sessions", json={"name": name}).json()["id"]
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/api/sessions/{session_id}").json()["state"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        path = cache_path(SessionRef.parse(name), tmp_path)
        copy = path.with_name("copy")
        copy.write_bytes(path.read_bytes())
        os.replace(copy, path)  # another file under the name the server mapped

        async def join() -> tuple[dict[str, Any], int]:
            async with connect(address, session=name) as ws:
                error = await until(ws, "error", timeout=30)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                return error, closed.value.rcvd.code

        error, code = asyncio.run(join())
        assert (error["code"], code) == ("session_damaged", 1013)


def test_a_killed_builds_partial_file_is_removed_at_start_up(tmp_path: Path) -> None:
    partial = tmp_path / ".demo-x.f2b5.rrtl.999999999.abcd.tmp"  # no such writer pid
    partial.write_bytes(b"half a timeline")
    with running_server(Settings(cache_dir=tmp_path)):
        assert not partial.exists()


def test_the_disk_cache_keeps_to_its_budget(tmp_path: Path) -> None:
    from racereplay.sources import SessionRef
    from racereplay.store.cache import cache_path

    # No room at all: only the files of sessions held survive a build; unwatched
    # sessions unload at once (idle 0 s), so each build removes the one before.
    settings = Settings(cache_dir=tmp_path, cache_budget_mb=0, idle_seconds=0.0)
    names = [f"demo?cars={cars}&laps=2" for cars in (2, 3, 4)]
    with running_server(settings) as address:

        async def open_(name: str) -> None:
            async with connect(address, session=name) as ws:
                await until(ws, "ready", timeout=120)

        for name in names:
            asyncio.run(open_(name))
            deadline = time.monotonic() + 5
            while httpx.get(f"http://{address}/api/health").json()["sessions_loaded"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert sorted(tmp_path.glob("*.rrtl")) == [
            cache_path(SessionRef.parse(names[-1]), tmp_path)
        ]


# -- 6. HTTP limits ---------------------------------------------------------------


def test_request_bodies_are_capped(server: tuple[str, ToyBuilder]) -> None:
    url = f"http://{server[0]}/api/sessions"
    big = json.dumps({"name": "demo", "pad": "x" * (1 << 20)})
    sized = httpx.post(url, content=big, headers={"content-type": "application/json"})
    assert sized.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "demo", "pad": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}'

    streamed = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_slow_headers_and_idle_connections_are_dropped(server: tuple[str, ToyBuilder]) -> None:
    host, port = server[0].split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127")  # and never the rest
    idle = socket.create_connection((host, int(port)))
    idle.sendall(f"GET /api/health HTTP/1.1\r\nHost: {server[0]}\r\n\r\n".encode())
    try:
        slow.settimeout(5)
        idle.settimeout(5)
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):  # aborted: reset, or plain EOF
            while slow.recv(1024):
                pass
        assert time.monotonic() - started < 3
        answer = idle.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        while chunk := idle.recv(65536):  # then kept alive 0.5 s, no longer
            answer += chunk
        assert time.monotonic() - started < 4
    finally:
        slow.close()
        idle.close()


# -- 7. origins, hosts and the client's headers -------------------------------------


def test_other_origins_and_hosts_are_refused(server: tuple[str, ToyBuilder]) -> None:
    address = server[0]

    async def scenario(origin: str) -> tuple[dict[str, Any], int]:
        async with connect(address, origin=origin) as ws:
            first = unpack(await asyncio.wait_for(ws.recv(), 5))
            if first["type"] != "error":
                return first, 0
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return first, closed.value.rcvd.code

    error, code = asyncio.run(scenario("http://evil.example"))
    assert (error["code"], code) == ("forbidden", 4403)
    hello, _ = asyncio.run(scenario(f"http://{address}"))  # the page's own origin
    assert hello["type"] == "hello"
    base = f"http://{address}"
    post = httpx.post(
        f"{base}/api/sessions", json={"name": "demo"}, headers={"Origin": "http://evil.example"}
    )
    assert post.status_code == 403
    rebound = httpx.get(f"{base}/api/health", headers={"Host": "evil.example"})
    assert rebound.status_code == 421
    assert httpx.get(f"{base}/api/health", headers={"Host": "localhost:1234"}).status_code == 200


def test_the_client_page_has_security_headers(server: tuple[str, ToyBuilder]) -> None:
    base = f"http://{server[0]}"
    page = httpx.get(f"{base}/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    api = httpx.get(f"{base}/api/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in httpx.get(f"{base}/docs").headers


# -- 9. eviction lets go everywhere ------------------------------------------------


def test_an_evicted_session_leaves_no_cache_holding_it(tmp_path: Path) -> None:
    state = ServerState(Settings(cache_dir=tmp_path), ToyBuilder())
    from racereplay.sources import SessionRef

    async def scenario() -> None:
        ref = SessionRef.parse("demo?cars=4&laps=2")
        session = await state.registry.get(ref)
        for codec in ("json", "msgpack", "compact"):
            await state.wire.messages(session, get_codec(codec), 25, 0)
        state.metadata(session)
        assert state.chunks.stats.entries and state.wire._entries
        timeline, held = weakref.ref(session.timeline), weakref.ref(session)
        del session
        assert state.registry.evict(now=time.monotonic() + 10_000) == [ref.key]
        assert state.chunks.stats.entries == 0
        assert not state.wire._entries
        gc.collect()
        assert timeline() is None  # nothing holds the session's arrays (or their map)
        assert held() is None  # nor the session, with what was made of it (`derived`)

    asyncio.run(scenario())


def test_what_the_registry_remembers_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racereplay.replay import registry
    from racereplay.sources import SessionRef

    REMEMBERED = 40
    monkeypatch.setattr(registry, "REMEMBERED", REMEMBERED)  # the bound, small enough to pass

    state = ServerState(Settings(cache_dir=tmp_path, idle_seconds=0.0), ToyBuilder())

    async def scenario() -> None:
        for seed in range(REMEMBERED + 200):
            await state.registry.get(SessionRef.parse(f"demo?seed={seed + 100}&cars=2&laps=1"))
            state.registry.evict(now=time.monotonic() + 1)
        assert len(state.registry._refs) <= REMEMBERED
        assert state.registry.sessions_loaded == 0

    asyncio.run(scenario())


# -- 10. names without the server's folders ---------------------------------------


def test_names_ids_and_messages_are_relative_to_the_data_folders(tmp_path: Path) -> None:
    data = tmp_path / "private" / "data"
    folder = data / "2025" / "Test Grand Prix" / "Race"
    folder.mkdir(parents=True)
    (folder / "drivers.json").write_text("{}")
    ff1 = tmp_path / "private" / "ff1cache"
    settings = Settings(cache_dir=tmp_path / "cache", data_dirs=(data,), fastf1_cache=ff1)
    with running_server(settings, ToyBuilder()) as address:
        name = "tracinginsights:2025/Test Grand Prix/Race"
        status = httpx.post(f"http://{address}/api/sessions", json={"name": name}).json()
        assert status["name"] == name
        assert "private" not in status["id"] and "tmp" not in status["id"]

        async def scenario() -> dict[str, Any]:
            async with connect(address, session=name) as ws:
                return await until(ws, "ready")

        meta = asyncio.run(scenario())["metadata"]
        assert meta["name"] == name and str(tmp_path) not in json.dumps(meta)
        catalogue = httpx.get(f"http://{address}/api/catalogue").text
        assert str(tmp_path) not in catalogue
    from racereplay.server.catalogue import Catalogue

    redacted = Catalogue(settings).redact(f"cannot read {folder}/laps.json (cache {ff1})")
    assert redacted == "cannot read 2025/Test Grand Prix/Race/laps.json (cache <FastF1 cache>)"
