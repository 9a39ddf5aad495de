"""Any replica serves any session: an id resolves on a process that never opened it,
from the shared cache folder (the store file's header names its session), after the
name passes the catalogue's checks as a client's would. And one replica's disk budget
never deletes the file of a session another replica holds."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgpack
import pytest
import websockets
from e2e_browser import build_session, running_server
from factories import oval_timeline, random_timeline

from racereplay.server.settings import Settings
from racereplay.server.state import ServerState, SessionRejected
from racereplay.sources import SessionRef
from racereplay.store.cache import cache_path, cached_session_name
from racereplay.store.format import write_timeline

NAME = "demo?cars=6&laps=2"


def _store(cache: Path, name: str) -> SessionRef:
    ref = SessionRef.parse(name)
    write_timeline(oval_timeline(), cache_path(ref, cache), session=ref.key, session_name=str(ref))
    return ref


def test_a_cached_file_names_its_session(tmp_path: Path) -> None:
    ref = _store(tmp_path, NAME)
    assert cached_session_name(ref.key, tmp_path) == str(ref)
    assert cached_session_name("demo-nothing-0123456789abcdef", tmp_path) is None
    for hostile in ("../etc/passwd", ".hidden", "a/b", "", "x" * 300):
        assert cached_session_name(hostile, tmp_path) is None


def test_a_cached_id_resolves_where_the_catalogue_allows_it(tmp_path: Path) -> None:
    ref = _store(tmp_path, NAME)
    assert ServerState(Settings(cache_dir=tmp_path)).resolve(ref.key) == ref
    # A replica that would refuse the name itself (fewer demo cars allowed) refuses its id.
    strict = ServerState(Settings(cache_dir=tmp_path, max_demo_cars=4))
    with pytest.raises(SessionRejected) as refused:
        strict.resolve(ref.key)
    assert refused.value.status == 404


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two `racereplay serve` processes sharing one cache folder, as replicas do."""
    cache = tmp_path_factory.mktemp("shared-cache")
    with running_server(cache) as first, running_server(cache) as second:
        yield first, second


def test_an_id_opened_on_one_replica_serves_on_another(replicas: tuple[str, str]) -> None:
    first, second = replicas
    session_id = build_session(first, NAME, timeout=120)
    # The second replica never saw a POST for it: status, metadata and chunks all answer.
    status = httpx.get(f"{second}/api/sessions/{session_id}", timeout=30).json()
    assert status["state"] == "ready", status
    meta = httpx.get(f"{second}/api/sessions/{session_id}/metadata", timeout=30)
    assert meta.status_code == 200, meta.text
    chunk = meta.json()["chunk_url"].format(codec="compact", rate=25, index=0)
    assert httpx.get(second + chunk, timeout=30).status_code == 200
    assert _ready_over_websocket(second, session_id)["metadata"]["id"] == session_id


def test_an_unknown_id_is_still_not_found(replicas: tuple[str, str]) -> None:
    _, second = replicas
    reply = httpx.get(f"{second}/api/sessions/demo-cars-6-0123456789abcdef/metadata", timeout=30)
    assert reply.status_code == 404, reply.text
    assert "open it first" in reply.json()["detail"]
    for hostile in ("..%2F..%2Fetc", ".hidden", "a%00b"):
        assert httpx.get(f"{second}/api/sessions/{hostile}", timeout=30).status_code == 404


def test_a_replicas_prune_spares_the_file_another_replica_holds(tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    held_name, other_name = "demo?cars=4&laps=2", "demo?cars=5&laps=2"
    # A file nobody holds, over the pruner's 1 MB budget on its own.
    unheld = cache / "demo-unheld.f2b1.rrtl"
    write_timeline(random_timeline(n_frames=20_000, n_drivers=20), unheld)
    assert unheld.stat().st_size > 1 << 20
    day_ago = time.time() - 86_400
    os.utime(unheld, (day_ago, day_ago))
    with running_server(cache) as holder, running_server(cache, "--cache-mb", "1") as pruner:
        held_id = build_session(holder, held_name, timeout=120)
        held = cache_path(SessionRef.parse(held_name), cache)
        # The least recently used of all: the first the prune would delete.
        os.utime(held, (day_ago - 1, day_ago - 1))
        # The pruner opens another session: its prune runs, over budget.
        build_session(pruner, other_name, timeout=120)
        assert not unheld.exists()  # the prune ran, and deleted what nobody holds
        assert held.exists()  # but not the file the other replica serves
        status = httpx.get(f"{holder}/api/sessions/{held_id}", timeout=30).json()
        assert status["state"] == "ready", status


def _ready_over_websocket(base: str, session: str) -> dict[str, object]:
    async def scenario() -> dict[str, object]:
        url = base.replace("http://", "ws://") + f"/ws?session={session}"
        async with websockets.connect(url, max_size=2**22) as ws:
            while True:
                message = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 30))
                assert message["type"] != "error", message
                if message["type"] == "ready":
                    return dict(message)

    return asyncio.run(scenario())
