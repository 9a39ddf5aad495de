"""The WebSocket protocol against a real uvicorn server, with real `websockets` clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import msgpack
import pytest
import websockets
from test_server_support import FAIL_SEED, ToyBuilder, running_server, unpack

from racereplay.codec import decode_chunk
from racereplay.server.settings import Settings

NAME = "demo?cars=6&laps=3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ToyBuilder]]:
    builder = ToyBuilder()
    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"), stuck_seconds=1.0)
    with running_server(settings, builder) as address:
        yield address, builder


class Viewer:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = 0

    async def send(self, command: dict[str, Any]) -> int:
        self.seq += 1
        await self.ws.send(msgpack.packb({**command, "seq": self.seq}))
        return self.seq

    async def next(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} message {match} in {timeout} s"
            message = unpack(await asyncio.wait_for(self.ws.recv(), remaining))
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message


def connect(address: str, session: str = NAME, **params: str) -> Any:
    query = urlencode({"session": session, **params})
    return websockets.connect(f"ws://{address}/ws?{query}", max_size=2**22)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_join_gets_ready_state_and_data_at_once(server: tuple[str, ToyBuilder]) -> None:
    async def scenario() -> None:
        async with connect(server[0], rate="10") as ws:
            # The client offers permessage-deflate; the server declines (chunks are compressed).
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            v = Viewer(ws)
            hello = await v.next("hello")
            assert hello["protocol"] == 1
            ready = await v.next("ready")
            assert len(ready["metadata"]["drivers"]) == 6
            state = await v.next("state", reason="join")
            assert state["playing"] is False and state["codec"] == "compact" and state["rate"] == 10
            data = await v.next("data")
            chunk = decode_chunk(data["payload"])
            assert (data["chunk"], chunk.rate, chunk.first_frame) == (0, 10, 0)

    run(scenario())


def test_play_advances_with_the_wall_clock_and_data_leads_it(
    server: tuple[str, ToyBuilder],
) -> None:
    async def scenario() -> None:
        async with connect(server[0]) as ws:
            v = Viewer(ws)
            await v.next("state", reason="join")
            seq = await v.send({"type": "speed", "value": 8})
            assert (await v.next("state", seq=seq))["speed"] == 8
            seq = await v.send({"type": "play"})
            started = await v.next("state", seq=seq)
            t0 = time.monotonic()
            chunks = []
            while time.monotonic() - t0 < 1.5:
                message = unpack(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] == "data":
                    chunks.append(message["chunk"])
            seq = await v.send({"type": "pause"})
            paused = await v.next("state", seq=seq)
            elapsed = time.monotonic() - t0
            advanced = paused["frame"] - started["frame"]
            assert advanced == pytest.approx(elapsed * 8 * 25, rel=0.25)
            # Data ahead of the clock: the last chunk sent starts beyond the position.
            assert max(chunks) * 50 > paused["frame"]
            heartbeat = await v.next("state", reason="heartbeat", timeout=3)
            assert heartbeat["frame"] == paused["frame"]  # paused: heartbeats, no movement

    run(scenario())


def test_seek_by_time_frame_and_lap_answers_with_data_there(server: tuple[str, ToyBuilder]) -> None:
    async def scenario() -> None:
        async with connect(server[0]) as ws:
            v = Viewer(ws)
            await v.next("state", reason="join")
            seq = await v.send({"type": "seek", "frame": 1000})
            state = await v.next("state", seq=seq)
            assert state["frame"] == 1000
            data = await v.next("data")
            assert data["chunk"] == 1000 // 50
            seq = await v.send({"type": "seek", "time": 1010.0})
            assert (await v.next("state", seq=seq))["frame"] == 250
            assert (await v.next("data"))["chunk"] == 5
            seq = await v.send({"type": "seek", "lap": 2})
            frame = (await v.next("state", seq=seq))["frame"]
            assert frame == pytest.approx(20 * 25, abs=1)
            seq = await v.send({"type": "seek", "lap": 99})
            assert "no lap 99" in (await v.next("error", seq=seq))["message"]

    run(scenario())


def test_quality_switch_and_per_frame_json_codec(server: tuple[str, ToyBuilder]) -> None:
    async def scenario() -> None:
        async with connect(server[0], codec="json", rate="25") as ws:
            v = Viewer(ws)
            await v.next("state", reason="join")
            text = await asyncio.wait_for(ws.recv(), 5)
            while not isinstance(text, str):
                text = await asyncio.wait_for(ws.recv(), 5)
            frame = json.loads(text)
            assert frame["type"] == "data" and frame["codec"] == "json"
            assert set(frame["payload"]["drivers"]) == {f"D{i:02d}" for i in range(6)}
            seq = await v.send({"type": "quality", "codec": "compact", "rate": 5})
            state = await v.next("state", seq=seq)
            assert (state["codec"], state["rate"]) == ("compact", 5)
            assert decode_chunk((await v.next("data", codec="compact"))["payload"]).rate == 5
            seq = await v.send({"type": "quality", "codec": "compact", "rate": 7})
            assert (await v.next("error", seq=seq))["code"] == "bad_value"

    run(scenario())


def test_bad_messages_get_errors_and_the_connection_carries_on(
    server: tuple[str, ToyBuilder],
) -> None:
    async def scenario() -> None:
        async with connect(server[0]) as ws, connect(server[0]) as other:
            v, w = Viewer(ws), Viewer(other)
            await v.next("state", reason="join")
            await w.next("state", reason="join")
            await ws.send(b"\xc1 not msgpack")
            assert (await v.next("error"))["code"] == "bad_message"
            await ws.send("{not json")
            assert (await v.next("error"))["code"] == "bad_message"
            await ws.send(msgpack.packb({"type": "x" * 10_000}))
            assert (await v.next("error"))["code"] == "too_large"
            await ws.send(json.dumps({"type": "fly"}))
            assert (await v.next("error"))["code"] == "unknown_command"
            seq = await v.send({"type": "speed", "value": 1000})
            assert "0.25 to 64" in (await v.next("error", seq=seq))["message"]
            seq = await v.send({"type": "ping", "t": 42})
            assert (await v.next("pong", seq=seq))["t"] == 42
            seq = await w.send({"type": "ping", "t": 7})
            assert (await w.next("pong", seq=seq))["t"] == 7

    run(scenario())


def test_late_joiners_reconnects_and_many_viewers_share_one_build(
    server: tuple[str, ToyBuilder],
) -> None:
    name = "demo?cars=6&laps=2"

    async def one_viewer() -> dict[str, Any]:
        async with connect(server[0], session=name) as ws:
            v = Viewer(ws)
            await v.next("ready", timeout=20)
            state = await v.next("state", reason="join")
            await v.next("data")
            return state

    async def scenario() -> None:
        states = await asyncio.gather(*(one_viewer() for _ in range(40)))
        assert all(s["frame"] == 0 for s in states)
        again = await one_viewer()  # reconnect: loaded already, answered at once
        assert again["reason"] == "join"

    before = server[1].builds.count(name)
    run(scenario())
    assert server[1].builds.count(name) - before == 1


def test_build_progress_and_failure_reach_every_waiter(server: tuple[str, ToyBuilder]) -> None:
    async def waiter() -> tuple[dict[str, Any], Any]:
        async with connect(server[0], session=f"demo?seed={FAIL_SEED}&cars=2") as ws:
            v = Viewer(ws)
            progress = await v.next("progress")
            error = await v.next("error", code="session_failed")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return {**progress, "error": error["message"]}, closed.value.rcvd.code

    async def scenario() -> None:
        results = await asyncio.gather(*(waiter() for _ in range(3)))
        for progress, code in results:
            assert "told to fail" in progress["error"]
            assert code == 1011

    run(scenario())


def test_unknown_and_escaping_sessions_are_refused(server: tuple[str, ToyBuilder]) -> None:
    async def refused(session: str) -> tuple[str, int]:
        async with connect(server[0], session=session) as ws:
            error = await Viewer(ws).next("error")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            return error["message"], closed.value.rcvd.code

    message, code = run(refused("nosuch:place"))
    assert code == 4404 and "unknown source" in message
    message, code = run(refused("tracinginsights:../../etc"))
    assert code == 4400 and "data folders" in message


def test_a_viewer_that_never_reads_is_skipped_then_closed_without_slowing_others(
    server: tuple[str, ToyBuilder],
) -> None:
    async def scenario() -> None:
        # A long session at 64x in per-frame JSON: tens of MB, more than socket buffers hold.
        long = "demo?cars=20&laps=40"
        async with (
            connect(server[0], session=long, codec="json", rate="25") as stuck,
            connect(server[0]) as ok,
        ):
            stuck.transport.pause_reading()
            s, v = Viewer(stuck), Viewer(ok)
            await s.send({"type": "speed", "value": 64})
            await s.send({"type": "play"})
            await v.next("state", reason="join")
            await v.send({"type": "play"})
            t0 = time.monotonic()
            received = 0
            while time.monotonic() - t0 < 4:
                message = unpack(await asyncio.wait_for(ok.recv(), 5))
                received += message["type"] == "data"
            assert received >= 1  # the healthy viewer kept getting data
            stuck.transport.resume_reading()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(stuck.recv(), 10)
            assert closed.value.rcvd.code == 4008 and "too slow" in closed.value.rcvd.reason

    run(scenario())


def test_the_real_demo_through_the_store_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The production path: the demo source, the timeline build in a process, the cache."""
    pytest.importorskip("racereplay.timeline.build", reason="the timeline build has not landed")
    settings = Settings(cache_dir=tmp_path_factory.mktemp("real-cache"))

    async def scenario(address: str) -> None:
        async with connect(address) as ws:
            v = Viewer(ws)
            progress = await v.next("progress", timeout=60)
            assert progress["state"] in ("queued", "building")
            ready = await v.next("ready", timeout=120)
            meta = ready["metadata"]
            assert len(meta["drivers"]) == 6 and meta["info"]["total_laps"] == 3
            seq = await v.send({"type": "seek", "lap": 2})
            frame = (await v.next("state", seq=seq))["frame"]
            data = await v.next("data")
            chunk = decode_chunk(data["payload"])
            assert chunk.first_frame <= frame < chunk.first_frame + data["frames"]
            assert chunk.channels["leader_lap"][-1] >= 2
        async with connect(address) as again:  # cached now: ready without a build
            assert (await Viewer(again).next("ready", timeout=10))["metadata"]["n_frames"] > 0

    with running_server(settings) as address:
        run(scenario(address))
