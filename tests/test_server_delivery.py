"""How chunk bytes reach a viewer (docs/protocol.md §2, "Delivery"), and how the web
client's files are cached and compressed: a real uvicorn server, real clients.

- `delivery=http`: the WebSocket carries `next` hints on the push schedule and no
  `data`; the hinted chunk's URL (the metadata's template) serves that chunk;
- the `delivery` command falls back to push (data from the clock's position);
- hashed client assets are immutable, the page is revalidated, text is gzipped and
  compact chunks never are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import msgpack
import pytest
import websockets
from test_server_support import ToyBuilder, running_server, unpack

from racereplay.codec import decode_chunk
from racereplay.server.settings import Settings

NAME = "demo?cars=6&laps=2"
LONG = "demo?cars=6&laps=20"  # toy timelines: built at once; long enough for 1.5 s at 64x
ASSET = "assets/index-0a1b2c3d.js"  # as Vite names a built script: by its content's hash


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    client = tmp_path_factory.mktemp("client")
    (client / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/index-0a1b2c3d.js"></script>'
        + "<!-- a page -->" * 100
    )
    (client / "assets").mkdir()
    (client / ASSET).write_text("export const lap = 1;\n" * 200)
    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"), static_dir=client)
    with running_server(settings, ToyBuilder()) as address:
        yield address


def connect(address: str, **params: str) -> Any:
    query = urlencode({"session": NAME, "codec": "compact", "rate": "25", **params})
    return websockets.connect(f"ws://{address}/ws?{query}", max_size=2**22)


async def messages(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Every message the server sends within `seconds`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(unpack(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return out


async def first(ws: Any, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} message {match} in {timeout} s"
        message = unpack(await asyncio.wait_for(ws.recv(), left))
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


def test_http_delivery_sends_hints_and_no_data(server: str) -> None:
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with connect(server, delivery="http", session=LONG) as ws:
            meta = (await first(ws, "ready"))["metadata"]
            join = await first(ws, "state", reason="join")
            assert join["delivery"] == "http"
            await ws.send(msgpack.packb({"type": "seek", "frame": 500, "seq": 1}))
            await first(ws, "state", seq=1)  # the hints for the join's position come before
            await ws.send(msgpack.packb({"type": "speed", "value": 64}))
            await ws.send(msgpack.packb({"type": "play"}))
            return meta, await messages(ws, 1.5)

    meta, received = asyncio.run(scenario())
    kinds = {m["type"] for m in received}
    assert "data" not in kinds and "events" not in kinds, kinds
    hints = [m for m in received if m["type"] == "next"]
    chunks = [h["chunk"] for h in hints]
    # From the seek's chunk on, every one in order, ahead of the clock: the push's
    # schedule; even at 64x none is skipped (hints do not wait behind each other).
    assert chunks[0] == 500 // 50 and len(chunks) >= 10, chunks
    assert chunks == list(range(chunks[0], chunks[0] + len(chunks))), chunks
    assert not [m for m in received if m.get("reason") == "skip"]
    assert all((h["codec"], h["rate"]) == ("compact", 25) for h in hints)
    hint = hints[1]
    path = meta["chunk_url"].format(codec=hint["codec"], rate=hint["rate"], index=hint["chunk"])
    reply = httpx.get(f"http://{server}{path}", headers={"Accept-Encoding": "gzip"})
    assert reply.status_code == 200 and "immutable" in reply.headers["cache-control"]
    assert "content-encoding" not in reply.headers  # deflated already: never gzipped again
    chunk = decode_chunk(reply.content)
    assert (chunk.rate, chunk.first_frame) == (25, hint["chunk"] * 50)


def test_the_delivery_command_falls_back_to_push(server: str) -> None:
    async def scenario() -> None:
        async with connect(server, delivery="http") as ws:
            await first(ws, "state", reason="join")
            await ws.send(msgpack.packb({"type": "seek", "frame": 300, "seq": 1}))
            await first(ws, "next", chunk=300 // 50)
            await ws.send(msgpack.packb({"type": "delivery", "mode": "push", "seq": 2}))
            state = await first(ws, "state", seq=2)
            assert state["delivery"] == "push" and state["reason"] == "delivery"
            data = await first(ws, "data")  # the chunk at the clock, pushed at once
            assert data["chunk"] == 300 // 50
            assert decode_chunk(data["payload"]).first_frame == 300 // 50 * 50
            later = await messages(ws, 0.5)
            assert "next" not in {m["type"] for m in later}
            await ws.send(msgpack.packb({"type": "delivery", "mode": "carrier pigeon", "seq": 3}))
            error = await first(ws, "error")  # refused as it is read: no seq
            assert error["code"] == "bad_value" and "http" in error["message"]

    asyncio.run(scenario())


def test_push_stays_the_default_and_bad_deliveries_are_refused(server: str) -> None:
    async def scenario() -> None:
        async with connect(server) as ws:
            assert (await first(ws, "state", reason="join"))["delivery"] == "push"
            assert (await first(ws, "data"))["chunk"] == 0
        for params in ({"delivery": "smoke"}, {"delivery": "http", "codec": "json"}):
            async with connect(server, **params) as ws:
                error = await first(ws, "error")
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd.code == 4400 and "push" in error["message"], error

    asyncio.run(scenario())


def test_client_files_are_cached_by_their_names_and_gzipped(server: str) -> None:
    base = f"http://{server}"
    gzip = {"Accept-Encoding": "gzip"}
    asset = httpx.get(f"{base}/{ASSET}", headers=gzip)
    assert asset.status_code == 200 and asset.text.startswith("export const lap")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in asset.headers["vary"].lower()
    for path in ("/", "/index.html"):
        page = httpx.get(base + path, headers=gzip)
        assert page.status_code == 200 and "<script" in page.text
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["content-encoding"] == "gzip"
        # Revalidated, not refetched: the ETag answers 304 with the same Cache-Control.
        again = httpx.get(base + path, headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    plain = httpx.get(f"{base}/{ASSET}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == asset.text
    catalogue = httpx.get(f"{base}/api/catalogue", headers=gzip)
    assert catalogue.headers["content-encoding"] == "gzip"  # JSON is text too
