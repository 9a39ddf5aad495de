"""Flags on the map end to end: the demo race's yellow sector and Safety Car, in Chromium.

Seek into the yellow flag, then into the Safety Car, out of both, and back: the map's
`data-flags` (trackmap.ts: the sectors it drew yellow, the Safety Car marker's label and
screen position) follows the replay clock both ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_browser import build_session, cars, open_page, require_browser, running_server, shot

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=12&laps=12"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-flags-cache")) as base:
        yield base


def _flags(page: Any) -> dict[str, Any]:
    return json.loads(page.get_attribute("canvas.map", "data-flags") or "{}")


def _seek(page: Any, meta: dict[str, Any], session_time: float) -> dict[str, Any]:
    """Drag the seek bar to `session_time` (paused); the map's flags once drawn there."""
    frame = round((session_time - meta["t0"]) * meta["fps"])
    page.evaluate(
        """(frame) => {
            const bar = document.querySelector('input.seekbar');
            bar.value = String(frame);
            bar.dispatchEvent(new Event('input'));
        }""",
        frame,
    )
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {session_time}) < 0.2", timeout=30_000
    )
    page.wait_for_timeout(400)  # a few more map frames at the new moment
    return _flags(page)


def test_yellow_sector_and_safety_car_follow_the_replay_clock(server: str, chromium: Any) -> None:
    sid = build_session(server, DEMO)
    meta = httpx.get(f"{server}/api/sessions/{sid}/metadata", timeout=30).json()
    flags = meta["flags"]
    (yellow,) = flags["yellow"]
    (sc,) = flags["safety_car"]
    sector = yellow["sector"]
    assert yellow["start"] < sc["start"] < yellow["end"]
    assert any("SC (estimated)" in p for p in meta["problems"])
    page = open_page(chromium, f"{server}/?session={quote(DEMO)}")

    before = _seek(page, meta, yellow["start"] - 20)
    assert before["yellow"] == [] and before["sc"] == "" and not before["scActive"]

    # The car stopped: its marshal sector is yellow; no Safety Car yet.
    shown = _seek(page, meta, (yellow["start"] + sc["start"]) / 2)
    assert shown["yellow"] == [sector] and shown["double"] == []
    assert shown["estimated"] is False  # the demo circuit has marshal sector positions
    assert shown["sc"] == "" and shown["scAt"] is None
    shot(page, "flags-01-yellow")

    # The Safety Car: an estimate ahead of the leader, labelled so; the sector still yellow.
    under_sc = _seek(page, meta, (sc["start"] + sc["in_this_lap"]) / 2)
    assert under_sc["yellow"] == [sector]
    assert under_sc["scActive"] and under_sc["sc"] == "SC (estimated)"
    x, y = under_sc["scAt"]
    width, height = page.evaluate(
        "() => { const r = document.querySelector('canvas.map').getBoundingClientRect();"
        " return [r.width, r.height]; }"
    )
    assert 0 <= x <= width and 0 <= y <= height
    order = page.evaluate("() => window.__rr.order")
    drivers = [d["code"] for d in meta["drivers"]]
    lx, ly = cars(page)[drivers.index(order[0])]
    assert ((x - lx) ** 2 + (y - ly) ** 2) ** 0.5 > 5  # ahead of the leader, not on it
    shot(page, "flags-02-safety-car")
    in_lap = _seek(page, meta, (sc["in_this_lap"] + sc["end"]) / 2)
    assert in_lap["sc"] == "SC (estimated) · in this lap"

    # Track clear: no yellow, no Safety Car.
    after = _seek(page, meta, sc["end"] + 20)
    assert after["yellow"] == [] and after["sc"] == "" and after["scAt"] is None
    shot(page, "flags-03-clear")

    # Seeking back shows them again, and back before the stop clears them.
    again = _seek(page, meta, (sc["start"] + sc["in_this_lap"]) / 2)
    assert again["yellow"] == [sector] and again["sc"] == "SC (estimated)"
    back = _seek(page, meta, yellow["start"] - 20)
    assert back["yellow"] == [] and back["sc"] == "" and not back["scActive"]
    assert page.errors == []
    page.close()
