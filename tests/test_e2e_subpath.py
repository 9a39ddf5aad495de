"""The app under a sub-path behind a real proxy: Debian's nginx serves it at `/f1/`.

nginx strips `/f1` and passes the Host header and WebSocket upgrades on; the server
runs with `--root-path /f1`. Chromium opens http://127.0.0.1:PORT/f1/ and the demo
plays: every request the page makes stays under `/f1/`, the WebSocket included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_browser import browser, build_session, require_browser, rr, running_server, wait_ready

from racereplay.server.services import NginxConfig, nginx_missing, nginx_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PREFIX = "/f1"
DEMO = "demo?cars=6&laps=2"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the app's URL behind nginx, nginx's folder)."""
    require_browser()
    why = nginx_missing()
    if why:
        pytest.skip(why)
    cache = tmp_path_factory.mktemp("subpath-cache")
    prefix = tmp_path_factory.mktemp("nginx")
    with running_server(cache, "--root-path", PREFIX) as upstream:
        config = NginxConfig(upstreams=(int(upstream.rsplit(":", 1)[1]),), path=PREFIX)
        with nginx_server(prefix, config) as base:
            yield base, prefix


def test_server_urls_carry_the_root_path(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    session_id = build_session(base, DEMO)
    meta = httpx.get(f"{base}/api/sessions/{session_id}/metadata", timeout=30).json()
    template = meta["chunk_url"]
    assert template.startswith(f"{PREFIX}/api/sessions/"), template
    origin = base.removesuffix(PREFIX)
    chunk = template.format(codec="compact", rate=25, index=0)
    assert httpx.get(origin + chunk, timeout=30).is_success
    # The OpenAPI page loads its schema through the prefix too.
    assert f"'{PREFIX}/openapi.json'" in httpx.get(f"{base}/docs", timeout=30).text
    assert httpx.get(f"{base}/openapi.json", timeout=30).is_success


def test_the_demo_plays_under_the_sub_path(proxied: tuple[str, Path]) -> None:
    base, prefix = proxied
    build_session(base, DEMO)
    with browser() as chromium:
        page = chromium.new_page()
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?session={quote(DEMO)}")
        _play(page)
        page.close()
    assert errors == []
    outside = [url for url in requested if not url.startswith(f"{base}/")]
    assert outside == [], "requests outside the sub-path"
    assert any("/api/sessions/" in url for url in requested), requested
    access = (prefix / "access.log").read_text()
    assert f'"GET {PREFIX}/ws?session=' in access and '" 101 ' in access, access[-2000:]
    # The worker fetched the chunks beside the page, under the sub-path too.
    fetched = [line for line in access.splitlines() if "/chunks/" in line]
    assert fetched and all(f'"GET {PREFIX}/api/sessions/' in line for line in fetched), fetched


def _play(page: Any) -> None:
    """Press play: frames arrive (fetched beside the page, hinted over the WebSocket)
    and the clock advances."""
    wait_ready(page)
    frame0, time0 = rr(page, ".frame"), rr(page, ".sessionTime")
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.frame > {frame0} + 50", timeout=60_000)
    assert rr(page, ".playing") is True
    assert rr(page, ".sessionTime") > time0 + 1.5
    assert rr(page, ".blocks") > 0 and rr(page, ".bytes") > 0  # frames arrived
