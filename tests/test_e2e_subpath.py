"""The app under a sub-path behind a real proxy: Debian's nginx serves it at `/f1/`.

nginx strips `/f1` and passes the Host header and WebSocket upgrades on; the server
runs with `--root-path /f1`. Chromium opens http://127.0.0.1:PORT/f1/ and the demo
plays: every request the page makes stays under `/f1/`, the WebSocket included.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_browser import browser, build_session, require_browser, rr, running_server, wait_ready

from racereplay.server.process import free_port, healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NGINX = Path("/usr/sbin/nginx")
PREFIX = "/f1"
DEMO = "demo?cars=6&laps=2"
STARTUP_SECONDS = 30

NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location {path}/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(upstream: int, prefix: Path) -> Iterator[str]:
    """nginx on a free loopback port proxying `PREFIX/` to `upstream`; yields its base URL."""
    if not NGINX.exists():
        pytest.skip(f"{NGINX} is missing: `make nginx` installs Debian's nginx (as root)")
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers need the temp prefix
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(user=user, prefix=prefix, port=port, path=PREFIX, upstream=upstream)
    )
    proc = subprocess.Popen(
        [str(NGINX), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}{PREFIX}"
    error_log = prefix / "error.log"

    def log_tail() -> str:
        return error_log.read_text()[-2000:] if error_log.exists() else ""

    with healthy(proc, f"{base}/api/health", STARTUP_SECONDS, log_tail):
        yield base


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the app's URL behind nginx, nginx's folder)."""
    require_browser()
    cache = tmp_path_factory.mktemp("subpath-cache")
    prefix = tmp_path_factory.mktemp("nginx")
    with (
        running_server(cache, "--root-path", PREFIX) as upstream,
        nginx(int(upstream.rsplit(":", 1)[1]), prefix) as base,
    ):
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


def _play(page: Any) -> None:
    """Press play: frames arrive over the WebSocket and the clock advances."""
    wait_ready(page)
    frame0, time0 = rr(page, ".frame"), rr(page, ".sessionTime")
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.frame > {frame0} + 50", timeout=60_000)
    assert rr(page, ".playing") is True
    assert rr(page, ".sessionTime") > time0 + 1.5
    assert rr(page, ".blocks") > 0 and rr(page, ".bytes") > 0  # frames came over the socket
