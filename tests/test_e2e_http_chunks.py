"""Playback from chunks fetched over HTTP through a real nginx cache (Debian's nginx,
`services.nginx_server` with `cache_chunks`), in Chromium.

The page connects with `delivery=http`: the WebSocket carries the clock and `next`
hints, the connection worker fetches each chunk from its immutable URL. A first tab
fills nginx's cache; a second tab (its own browser cache, empty) is served by nginx
from that cache: its chunk requests are HITs in nginx's access log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from e2e_browser import build_session, open_page, rr, running_server

from racereplay.server.services import NGINX_ACCESS_LOG, NginxConfig, nginx_missing, nginx_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = "demo?cars=6&laps=2"


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the app's URL behind a caching nginx, nginx's folder)."""
    why = nginx_missing()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("nginx-cache")
    with running_server(tmp_path_factory.mktemp("http-chunks-cache")) as upstream:
        config = NginxConfig(upstreams=(int(upstream.rsplit(":", 1)[1]),), cache_chunks=True)
        with nginx_server(folder, config) as base:
            build_session(base, DEMO)
            yield base, folder


def _chunk_lines(folder: Path) -> list[str]:
    return [
        line for line in (folder / NGINX_ACCESS_LOG).read_text().splitlines() if "/chunks/" in line
    ]


def _play_a_while(page: Any) -> None:
    frame0 = rr(page, ".frame")
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.frame > {frame0} + 75", timeout=60_000)
    assert rr(page, ".playing") is True
    assert rr(page, ".blocks") > 0 and rr(page, ".bytes") > 0  # decoded chunks arrived


def test_playback_from_http_chunks_through_the_nginx_cache(
    chromium: Any, cached: tuple[str, Path]
) -> None:
    base, folder = cached
    url = f"{base}/?session={quote(DEMO)}"
    requested: list[str] = []

    first = open_page(chromium, url)  # a page of its own browser context: its own HTTP cache
    first.context.on("request", lambda request: requested.append(request.url))
    _play_a_while(first)
    assert first.errors == []
    fetched = [u for u in requested if "/chunks/" in u]
    assert fetched and all(u.startswith(f"{base}/api/sessions/") for u in fetched), requested
    misses = _chunk_lines(folder)
    assert any("cache=MISS" in line for line in misses), misses
    first.close()

    second = open_page(chromium, url)
    _play_a_while(second)
    assert second.errors == []
    second.close()
    later = _chunk_lines(folder)[len(misses) :]
    hits = [line for line in later if "cache=HIT" in line]
    # The second tab's chunks came out of nginx's cache: no replica was asked for them.
    assert hits and all("upstream=-" in line for line in hits), later
    assert "delivery=http" in "".join(_ws_lines(folder)), _ws_lines(folder)


def _ws_lines(folder: Path) -> list[str]:
    return [line for line in (folder / NGINX_ACCESS_LOG).read_text().splitlines() if "/ws?" in line]
