"""The pit-exit ghost end to end: the real server, the built client, headless Chromium.

A demo race whose cars stop (every car pits once, "demo?cars=6&laps=6"): follow a
driver, and the leaderboard's ghost row and the map's ghost marker appear; just
before a real stop, the place the page predicts is the place the server's
`timeline/pitloss.py` predicts for the frame the page shows (or within one of the
place really taken); after the stop, the row says how the prediction compared.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from e2e_browser import (
    build_session,
    open_page,
    require_browser,
    rr,
    running_server,
    shot,
)

from racereplay.sources import load
from racereplay.timeline.build import build_timeline
from racereplay.timeline.model import Timeline
from racereplay.timeline.pitloss import pit_loss, predicted_rejoin

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=6&laps=6"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-pitexit")) as base:
        build_session(base, DEMO)
        yield base


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    """The same session built here: the build is deterministic."""
    return build_timeline(load(DEMO))


def _open_at(chromium: Any, server: str, code: str, session_time: float) -> Any:
    query = urlencode({"session": DEMO, "t": f"{session_time:.1f}", "speed": "1", "focus": code})
    page = open_page(chromium, f"{server}/?{query}")
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {session_time}) < 0.2", timeout=30_000
    )
    time.sleep(0.6)  # a few more panel refreshes (five a second)
    return page


def test_ghost_row_and_marker_predict_the_rejoin_place(
    server: str, timeline: Timeline, chromium: Any
) -> None:
    session_id = httpx.post(f"{server}/api/sessions", json={"name": DEMO}, timeout=30).json()["id"]
    meta = httpx.get(f"{server}/api/sessions/{session_id}/metadata", timeout=30).json()
    pit = meta["pit_loss"]
    assert pit is not None and pit["source"] == "measured", pit
    # The demo's cars do stop, and the server's figure is the one built here.
    loss = pit_loss(timeline)
    assert loss is not None and pit["seconds"] == round(loss.seconds, 3)
    stop = next(s for s in pit["stops"] if s["condition"] == "green" and s["predicted"] > 0)
    code = stop["driver"]
    before = stop["pit_in"] - 3.0

    page = _open_at(chromium, server, code, before)
    probe = rr(page, ".pitExit()")
    row = page.inner_text(".lb-ghost")
    shot(page, "40-pitexit-before-stop")
    assert probe["position"] > 0, probe
    assert re.fullmatch(
        rf"{code} rejoins P{probe['position']}, \d+\.\d s behind [A-Z]{{3}}", row
    ) or (probe["position"] == 1 and row.startswith(f"{code} rejoins P1")), row
    assert probe["row"] == row
    # The map marker: drawn, on the canvas.
    marker = probe["marker"]
    box = page.eval_on_selector(
        "canvas.map", "c => { const r = c.getBoundingClientRect(); return [r.width, r.height]; }"
    )
    assert marker is not None and 0 <= marker["x"] <= box[0] and 0 <= marker["y"] <= box[1]

    # The server's prediction for the very frame the page shows.
    codes = [d.code for d in timeline.drivers]
    k = int(probe["valuesFrame"])
    track = timeline.frames["track_status"][k : k + 1]
    expected = predicted_rejoin(
        timeline.frames["gap"][k],
        timeline.frames["status"][k],
        codes.index(code),
        loss.per_frame(track),
    )
    python_place = int(expected.position[0])
    print(code, "page", probe, "python", python_place, "real", stop["actual"])
    assert probe["position"] == python_place or abs(probe["position"] - stop["actual"]) <= 1
    assert probe["loss"] == pytest.approx(float(loss.per_frame(track)[0]), abs=1e-3)
    ahead = int(expected.ahead[0])
    if probe["position"] == python_place and ahead >= 0:
        assert probe["ahead"] == codes[ahead]

    # After the real stop: how the prediction compared.
    page.close()
    page = _open_at(chromium, server, code, stop["pit_out"] + 2.0)
    row = page.inner_text(".lb-ghost")
    shot(page, "41-pitexit-after-stop")
    assert row == f"{code} predicted P{stop['predicted']}, rejoined P{stop['actual']}", row
    assert not page.errors, page.errors
    page.close()


def test_no_ghost_without_a_focused_driver(server: str, chromium: Any) -> None:
    query = urlencode({"session": DEMO, "t": "300", "speed": "1"})
    page = open_page(chromium, f"{server}/?{query}")
    time.sleep(0.6)
    assert page.locator(".lb-ghost").is_hidden()
    assert rr(page, ".pitExit()")["marker"] is None
    # Following a driver from the board shows it; following nobody hides it again.
    page.locator(".lb-row").first.click()
    page.wait_for_selector(".lb-ghost:not([hidden])", timeout=5_000)
    assert np.isfinite(rr(page, ".pitExit()")["loss"])
    page.locator(".lb-row.focused").click()  # a second click follows nobody
    page.wait_for_selector(".lb-ghost", state="hidden", timeout=5_000)
    page.close()
