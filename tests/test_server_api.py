"""The REST API against a real uvicorn server on a loopback port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_server_support import FAIL_SEED, HOLD_SEED, ToyBuilder, running_server

from racereplay.codec import decode_chunk
from racereplay.server.settings import Settings

NAME = "demo?cars=6&laps=3"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    session = root / "2025" / "Test Grand Prix" / "Race"
    session.mkdir(parents=True)
    (session / "drivers.json").write_text('{"drivers": []}')
    (root.parent / "secret").mkdir(exist_ok=True)
    (root.parent / "secret" / "drivers.json").write_text('{"drivers": []}')
    return root


@pytest.fixture(scope="module")
def client(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(
        data_dirs=(data_dir,),
        cache_dir=tmp_path_factory.mktemp("cache"),
        static_dir=tmp_path_factory.mktemp("no-client"),
    )
    with (
        running_server(settings, ToyBuilder()) as address,
        httpx.Client(base_url=f"http://{address}", timeout=10) as http,
    ):
        yield http


def open_ready(client: httpx.Client, name: str = NAME) -> str:
    reply = client.post("/api/sessions", json={"name": name})
    assert reply.status_code in (200, 202), reply.text
    session_id = reply.json()["id"]
    deadline = time.monotonic() + 20
    while client.get(f"/api/sessions/{session_id}").json()["state"] != "ready":
        assert time.monotonic() < deadline, "session never became ready"
        time.sleep(0.02)
    return session_id


def test_health_docs_and_the_page_without_a_built_client(client: httpx.Client) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    assert "/api/sessions" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "npm run build" in page.text


def test_health_counts_frozen_objects_only_when_asked(client: httpx.Client) -> None:
    # Counting walks every frozen object: a pause at thousands of viewers, so a load
    # balancer's polling must not pay it.
    assert client.get("/api/health").json()["gc_frozen"] is None
    assert isinstance(client.get("/api/health?count_frozen=1").json()["gc_frozen"], int)
    lag = client.get("/api/health?lag_seconds=0.000001").json()["loop_lag_ms"]
    assert set(lag) == {"p50", "p99", "max"}


def test_a_status_asked_with_wait_comes_when_the_build_ends(tmp_path: Path) -> None:
    import concurrent.futures

    builder = ToyBuilder()
    settings = Settings(cache_dir=tmp_path / "cache", static_dir=tmp_path / "no-client")
    with (
        running_server(settings, builder) as address,
        httpx.Client(base_url=f"http://{address}", timeout=60) as http,
    ):
        session_id = http.post("/api/sessions", json={"name": f"demo?seed={HOLD_SEED}"}).json()[
            "id"
        ]
        held = http.get(f"/api/sessions/{session_id}?wait=0.05").json()
        assert held["state"] in ("queued", "building")  # the wait ran out first
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.get, f"/api/sessions/{session_id}?wait=5")
            time.sleep(0.2)
            assert not waiting.done()
            released = time.monotonic()
            builder.release()
            assert waiting.result().json()["state"] == "ready"
            assert time.monotonic() - released < 4.5  # the build's end, not the 5 s
        assert http.get(f"/api/sessions/{session_id}?wait=nan").json()["state"] == "ready"


def test_a_sessions_documents_are_made_once_for_every_viewer(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racereplay.server import api

    made: list[object] = []
    original = api.jsonable

    def counting(value: object) -> object:
        made.append(value)
        return original(value)

    monkeypatch.setattr(api, "jsonable", counting)
    session_id = open_ready(client, "demo?cars=5&laps=2")
    paths = ("laps", "results", "events", "metadata", "minisectors")
    first = {p: client.get(f"/api/sessions/{session_id}/{p}").content for p in paths}
    made_once = len(made)
    assert made_once >= 2  # laps and results, made for the first viewer
    for _ in range(3):  # more viewers join: the same bytes, nothing made again
        assert {p: client.get(f"/api/sessions/{session_id}/{p}").content for p in paths} == first
    assert len(made) == made_once


def test_catalogue_lists_data_folder_sessions_then_the_demos(client: httpx.Client) -> None:
    sessions = client.get("/api/catalogue").json()["sessions"]
    assert [s["name"] for s in sessions] == [
        "tracinginsights:2025/Test Grand Prix/Race",
        "demo",
        "demo?session=qualifying",
        "demo?session=practice",
    ]
    real = sessions[0]
    assert real["title"] == "Test Grand Prix 2025 — Race"
    assert (real["kind"], real["season"], real["event"], real["session_type"]) == (
        "real",
        2025,
        "Test Grand Prix",
        "Race",
    )
    assert real["cached"] is False and real["id"].startswith("tracinginsights-")
    assert {s["kind"] for s in sessions[1:]} == {"demo"}


def test_open_status_metadata_laps_results_events(client: httpx.Client) -> None:
    session_id = open_ready(client)
    meta = client.get(f"/api/sessions/{session_id}/metadata").json()
    assert len(meta["drivers"]) == 6 and meta["fps"] == 25 and meta["info"]["total_laps"] == 3
    assert {c["name"] for c in meta["codecs"]} == {"json", "msgpack", "compact"}
    assert meta["geometry"]["outline"][0][0] == pytest.approx(500.0)
    laps = client.get(f"/api/sessions/{session_id}/laps").json()["laps"]
    assert laps[0]["lap_time"] is None  # NaN travels as null, never as invalid JSON
    assert len(client.get(f"/api/sessions/{session_id}/results").json()["results"]) == 6
    assert [
        e["kind"] for e in client.get(f"/api/sessions/{session_id}/events").json()["events"]
    ] == ["lap"] * 3
    telemetry = client.get(f"/api/sessions/{session_id}/telemetry/D01/2").json()
    assert len(telemetry["speed"]) == len(telemetry["time"]) > 400
    assert client.get(f"/api/sessions/{session_id}/telemetry/XXX/2").status_code == 404


def test_minisectors_are_served_and_computed_once(client: httpx.Client) -> None:
    # The toy timeline has no timed lap (tests/test_timeline_minisectors.py has the
    # figures; tests/test_e2e_minisectors.py what a page makes of them).
    session_id = open_ready(client)
    first = client.get(f"/api/sessions/{session_id}/minisectors")
    assert first.json() == {"count": 25, "notes": [], "laps": []}
    assert client.get(f"/api/sessions/{session_id}/minisectors").content == first.content
    assert client.get("/api/sessions/nope/minisectors").status_code == 404


def test_chunks_are_immutable_with_strong_etags_and_304(client: httpx.Client) -> None:
    session_id = open_ready(client)
    template = client.get(f"/api/sessions/{session_id}/metadata").json()["chunk_url"]

    def url(codec: str, rate: int, index: int) -> str:
        return template.format(codec=codec, rate=rate, index=index)

    first = client.get(url("compact", 10, 1))
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    chunk = decode_chunk(first.content)
    assert chunk.index == 1 and chunk.rate == 10
    again = client.get(url("compact", 10, 1), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url("compact", 10, 1)).headers["etag"] == etag
    assert client.get(url("compact", 7, 1)).status_code == 404
    assert client.get(url("nope", 10, 1)).status_code == 404
    assert client.get(url("compact", 10, 99999)).status_code == 404
    ndjson = client.get(url("json", 25, 0))
    assert len(ndjson.text.splitlines()) == 50
    # The URL names what the bytes depend on: another build's chunks are not served here.
    assert "/chunks/v" in template
    stale = client.get(f"/api/sessions/{session_id}/chunks/v0.0.0/compact/10/1")
    assert stale.status_code == 404 and "chunk_url" in stale.json()["detail"]


def test_unknown_sessions_and_failures_are_clear(client: httpx.Client) -> None:
    reply = client.get("/api/sessions/nope/metadata")
    assert reply.status_code == 404 and "POST /api/sessions" in reply.json()["detail"]
    assert client.post("/api/sessions", json={"name": "nosuch:thing"}).status_code == 404
    failing = client.post("/api/sessions", json={"name": f"demo?seed={FAIL_SEED}"}).json()["id"]
    deadline = time.monotonic() + 10
    while (status := client.get(f"/api/sessions/{failing}").json())["state"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert "told to fail" in status["error"]
    assert client.get(f"/api/sessions/{failing}/metadata").status_code == 409


@pytest.mark.parametrize(
    "name",
    [
        "tracinginsights:../secret",
        "tracinginsights:2025/../../secret",
        "tracinginsights:/etc",
        "tracinginsights:2025/Test Grand Prix/Race?fastf1_cache=/tmp",
        "fastf1:2025/Australia/R?cache=/etc",
        "demo?cars=100000",
    ],
)
def test_names_escaping_the_data_folders_are_rejected(client: httpx.Client, name: str) -> None:
    reply = client.post("/api/sessions", json={"name": name})
    assert reply.status_code == 400, reply.text
    assert reply.json()["detail"]
