"""A playing tab survives its server: the server is killed under it, a new one starts
on the same port with the same cache folder (a restart, or another replica behind the
same address), and the tab reconnects and plays on from the same moment, at the same
speed. Before, the new process did not know the session id and closed with 4404,
which the client treats as final."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from e2e_browser import build_session, open_page, require_browser, rr, running_server

from racereplay.server.process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = "demo?cars=6&laps=3"


def test_a_playing_tab_resumes_on_a_new_server(chromium: Any, tmp_path: Path) -> None:
    require_browser()
    port = free_port()
    with running_server(tmp_path, port=port) as base:
        build_session(base, DEMO, timeout=120)
        page = open_page(chromium, f"{base}/?session={quote(DEMO)}&speed=2&play=1")
        page.wait_for_function("() => window.__rr.playing && window.__rr.frame > 100")
    # The server is gone: the page keeps its moment and retries.
    at_kill = rr(page, ".frame")
    net = "document.querySelector('header .net')"
    page.wait_for_function(f"() => {net}.classList.contains('down')", timeout=20_000)
    time.sleep(1.0)
    with running_server(tmp_path, port=port):
        page.wait_for_function("() => window.__rr.reconnects >= 1", timeout=30_000)
        page.wait_for_function(f"() => !{net}.classList.contains('down')", timeout=30_000)
        time.sleep(0.5)  # the page puts the new server at its moment (seek, speed, play)
        resumed = rr(page, ".frame")
        time.sleep(1.5)
        later = rr(page, ".frame")
        assert rr(page, ".playing") is True
        assert rr(page, ".speed") == 2
    # On from where it was (the local clock ran on meanwhile: at most the outage at 2x),
    # not from the start, and advancing with data from the new server.
    assert resumed >= at_kill - 5 and later > resumed + 25, (at_kill, resumed, later)
    assert rr(page, ".stalls") < 200
    assert page.errors == []
    page.close()
