"""Watch parties against real `racereplay serve` processes: two replicas sharing a real
Redis and a cache folder (members on both), and one process alone (the embedded rooms)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgpack
import pytest
import websockets

from racereplay.server.process import serve_process

NAME = "demo?cars=6&laps=2"
FPS = 25


@contextlib.contextmanager
def server(cache: Path, log: str, *extra: str) -> Iterator[str]:
    args = ["--cache", str(cache), "--log-level", "warning", *extra]
    with serve_process(args, cache / log) as (port, _):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_service: str
) -> Iterator[tuple[str, str]]:
    """Two replicas: one Redis, one cache folder."""
    cache = tmp_path_factory.mktemp("rooms-cache")
    redis = ("--redis", redis_service)
    with server(cache, "a.log", *redis) as a, server(cache, "b.log", *redis) as b:
        yield a, b


class Member:
    """A WebSocket viewer that reads the messages it cares about, skipping the rest."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = 0
        self.room: dict[str, Any] | None = None  # the last `room` message

    async def send(self, command: dict[str, Any]) -> int:
        self.seq += 1
        await self.ws.send(msgpack.packb({**command, "seq": self.seq}))
        return self.seq

    async def next(self, kind: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} message {match} in {timeout} s"
            message = msgpack.unpackb(await asyncio.wait_for(self.ws.recv(), remaining))
            if message["type"] == "room":
                self.room = message
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message

    async def room_where(self, check: Any, timeout: float = 20) -> dict[str, Any]:
        """The first `room` message (or the last one seen) for which `check` holds."""
        if self.room is not None and check(self.room):
            return self.room
        deadline = time.monotonic() + timeout
        while True:
            room = await self.next("room", timeout=max(deadline - time.monotonic(), 0.01))
            if check(room):
                return room


@contextlib.asynccontextmanager
async def member(address: str, **params: str) -> AsyncIterator[Member]:
    query = urlencode({"session": NAME, **params})
    async with websockets.connect(f"ws://{address}/ws?{query}", max_size=2**22) as ws:
        m = Member(ws)
        await m.next("state", timeout=120, reason="join")  # the session is built by now
        yield m


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def create_room(host: Member, name: str = "Ana") -> dict[str, Any]:
    seq = await host.send({"type": "room_create", "name": name})
    room = await host.next("room")
    assert room["members"] == [{"id": room["you"], "name": name}]
    assert room["host"] == room["you"] and room["policy"] == "host" and seq
    return room


def test_members_on_two_replicas_follow_the_hosts_clock(replicas: tuple[str, str]) -> None:
    a, b = replicas

    async def scenario() -> None:
        async with member(a) as host:
            room = await create_room(host)
            assert len(room["id"]) == 8
            async with member(b, room=room["id"], name="Ben") as guest:
                joined = await guest.room_where(lambda r: len(r["members"]) == 2)
                assert [m["name"] for m in joined["members"]] == ["Ana", "Ben"]
                assert joined["host"] == room["you"] != joined["you"]
                seen = await host.room_where(lambda r: len(r["members"]) == 2)
                assert seen["version"] == joined["version"]

                # The host seeks: the guest's clock jumps there and its data restarts there.
                await host.send({"type": "seek", "frame": 1500})
                moved = await guest.next("state", reason="seek")
                assert moved["frame"] == pytest.approx(1500, abs=1)
                data = await guest.next("data")
                assert data["frame"] <= 1500 < data["frame"] + data["frames"]

                # A lap jump (the host's server finds the lap), play, speed, pause.
                await host.send({"type": "seek", "lap": 2})
                lap = await guest.next("state", reason="seek")
                assert lap["frame"] > 0
                await host.send({"type": "speed", "value": 4})
                assert (await guest.next("state", reason="speed"))["speed"] == 4
                await host.send({"type": "play"})
                playing = await guest.next("state", reason="play")
                assert playing["playing"] is True
                await asyncio.sleep(0.5)
                await host.send({"type": "pause"})
                paused_host = await host.next("state", reason="pause")
                paused_guest = await guest.next("state", reason="pause")
                assert paused_guest["playing"] is False
                # Both stopped at the same moment: the room's one clock.
                assert paused_guest["frame"] == pytest.approx(paused_host["frame"], abs=0.01)
                assert paused_guest["frame"] > lap["frame"]

                # The page reads the room over REST from either replica.
                for address in (a, b):
                    rest = httpx.get(f"http://{address}/api/rooms/{room['id']}").json()
                    assert rest["host"] == room["you"] and len(rest["members"]) == 2
                    assert rest["position"] == pytest.approx(paused_host["frame"], abs=0.01)
                    assert rest["clock"]["playing"] is False

    run(scenario())


def test_only_the_host_controls_until_it_hands_over_or_allows_everyone(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas

    async def scenario() -> None:
        async with member(a) as host:
            room = await create_room(host)
            async with member(b, room=room["id"]) as guest:
                joined = await guest.room_where(lambda r: len(r["members"]) == 2)
                seq = await guest.send({"type": "seek", "frame": 900})
                refused = await guest.next("error", seq=seq)
                assert refused["code"] == "not_host" and "host" in refused["message"]
                back = await guest.next("state", reason="seek", seq=seq)  # put back
                assert back["frame"] == pytest.approx(0, abs=1)
                seq = await guest.send({"type": "room_policy", "policy": "everyone"})
                assert (await guest.next("error", seq=seq))["code"] == "not_host"

                await host.send({"type": "room_policy", "policy": "everyone"})
                await guest.room_where(lambda r: r["policy"] == "everyone")
                await guest.send({"type": "seek", "frame": 900})
                followed = await host.next("state", reason="seek")
                assert followed["frame"] == pytest.approx(900, abs=1)

                await host.send({"type": "room_policy", "policy": "host"})
                await host.send({"type": "room_host", "member": joined["you"]})
                handed = await guest.room_where(lambda r: r["host"] == joined["you"])
                assert handed["policy"] == "host"
                seq = await host.send({"type": "play"})
                assert (await host.next("error", seq=seq))["code"] == "not_host"
                await guest.send({"type": "play"})
                assert (await host.next("state", reason="play"))["playing"] is True

    run(scenario())


def test_leave_keeps_the_moment_and_rejoin_takes_the_rooms(replicas: tuple[str, str]) -> None:
    a, b = replicas

    async def scenario() -> None:
        async with member(a) as host:
            room = await create_room(host)
            async with member(b, room=room["id"]) as guest:
                await guest.room_where(lambda r: len(r["members"]) == 2)
                await host.send({"type": "seek", "frame": 600})
                await guest.next("state", reason="seek")
                seq = await guest.send({"type": "room_leave"})
                assert (await guest.next("room_left", seq=seq))["id"] == room["id"]
                alone = await host.room_where(lambda r: len(r["members"]) == 1)
                assert alone["host"] == room["you"]

                # Alone, the guest's clock is its own: the room does not move it...
                await guest.send({"type": "seek", "frame": 100})
                assert (await guest.next("state", reason="seek"))["frame"] == 100
                await host.send({"type": "seek", "frame": 2000})
                await host.next("state", reason="seek")
                await asyncio.sleep(0.3)
                rest = httpx.get(f"http://{b}/api/rooms/{room['id']}").json()
                assert rest["position"] == pytest.approx(2000, abs=1)

                # ...until it joins again, at the room's moment.
                await guest.send({"type": "room_join", "room": room["id"]})
                rejoined = await guest.next("state", reason="seek")
                assert rejoined["frame"] == pytest.approx(2000, abs=1)
                back = await guest.room_where(lambda r: len(r["members"]) == 2)
                assert back["version"] > alone["version"]

            # The guest went away: the room forgets it.
            await host.room_where(lambda r: len(r["members"]) == 1)

    run(scenario())


def test_an_unknown_room_is_a_clear_error_and_the_viewer_watches_alone(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas

    async def scenario() -> None:
        async with member(b, room="nosuch00") as viewer:
            error = await viewer.next("error")
            assert error["code"] == "room_not_found" and "nosuch00" in error["message"]
            await viewer.send({"type": "seek", "frame": 50})
            assert (await viewer.next("state", reason="seek"))["frame"] == 50
            seq = await viewer.send({"type": "room_join", "room": "../../etc"})
            assert (await viewer.next("error", seq=seq))["code"] == "room_not_found"
            seq = await viewer.send({"type": "room_leave"})
            assert (await viewer.next("error", seq=seq))["code"] == "not_member"

    run(scenario())
    missing = httpx.get(f"http://{a}/api/rooms/nosuch00")
    assert missing.status_code == 404 and "nosuch00" in missing.json()["detail"]
    assert httpx.get(f"http://{a}/api/rooms/bad").status_code == 404


def test_rooms_without_redis_are_bounded_in_size_and_number(tmp_path: Path) -> None:
    async def scenario(address: str) -> None:
        async with member(address) as host, member(address) as second:
            room = await create_room(host)
            # One room per process: a second is refused, clearly.
            seq = await second.send({"type": "room_create"})
            too_many = await second.next("error", seq=seq)
            assert too_many["code"] == "too_many_rooms" and "limit of 1" in too_many["message"]
            await second.send({"type": "room_join", "room": room["id"], "name": "Ben"})
            await host.room_where(lambda r: len(r["members"]) == 2)
            async with member(address, room=room["id"]) as third:
                full = await third.next("error")
                assert full["code"] == "room_full" and "2 members" in full["message"]
            # The embedded room follows its host as the shared one does.
            await host.send({"type": "seek", "frame": 700})
            assert (await second.next("state", reason="seek"))["frame"] == pytest.approx(700)

    with server(tmp_path, "alone.log", "--room-size", "2", "--max-rooms", "1") as address:
        run(scenario(address))


def test_redis_lost_members_play_on_their_own_clocks(tmp_path: Path) -> None:
    from racereplay.server.services import redis_missing, redis_server

    why = redis_missing()
    if why:
        pytest.skip(why)

    async def scenario(address: str, stop_redis: Any) -> None:
        async with member(address) as host:
            room = await create_room(host)
            async with member(address, room=room["id"]) as guest:
                await guest.room_where(lambda r: len(r["members"]) == 2)
                await host.send({"type": "play"})
                await guest.next("state", reason="play")
                await asyncio.to_thread(stop_redis)
                seq = await host.send({"type": "seek", "frame": 3000})
                lost = await host.next("error", seq=seq)
                assert lost["code"] == "rooms_unavailable" and "own clock" in lost["message"]
                # Both keep playing where the room was: their heartbeats still advance.
                first = await guest.next("state", reason="heartbeat", timeout=10)
                second = await guest.next("state", reason="heartbeat", timeout=10)
                assert first["playing"] and second["frame"] > first["frame"] > 0
                assert second["frame"] < 3000

    with contextlib.ExitStack() as redis:
        url = redis.enter_context(redis_server(tmp_path))
        with server(tmp_path, "lost.log", "--redis", url) as address:
            run(scenario(address, redis.close))
    assert "watch parties lost Redis" in (tmp_path / "lost.log").read_text()
