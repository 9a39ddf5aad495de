"""Mini-sectors and speed traps end to end: the real server, the built client, Chromium.

A driver followed in the middle of lap 4 of a small demo race: the panel's current strip
(web/src/minisectors.ts) shows the marks /api/sessions/{id}/minisectors gives lap 4, up to
the parts the page's clock has reached (a part's `ends` ≤ now) and nothing after; the strip
under it shows lap 3's, whole; the speed trap line stands in the sector top speeds, so
labelled, as the demo has no official trap; the map (`data-minisectors` on the canvas,
web/src/trackmap.ts) colours exactly the current strip's parts. Seeking on through the lap
adds parts; following nobody clears the map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from e2e_browser import build_session, open_page, require_browser, rr, running_server, shot

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=6&laps=8"  # drivers with laps 3 and 4 both timed line to line


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-minisectors")) as base:
        yield base


def _strip(page: Any, which: str) -> dict[str, Any]:
    """The strip `which` ("current" or "previous") as the page shows it."""
    return dict(
        page.eval_on_selector(
            f".ms-{which} .ms-strip",
            """el => ({
                lap: Number(el.dataset.lap),
                timed: el.dataset.timed === '1',
                done: Number(el.dataset.done),
                marks: el.dataset.marks ? el.dataset.marks.split(',').map(Number) : [],
                label: el.getAttribute('aria-label'),
                role: el.getAttribute('role'),
                filled: el.querySelectorAll('.ms-normal, .ms-pb, .ms-ob').length,
                empty: [...el.children].filter(c => c.className === 'ms-cell').length,
            })""",
        )
    )


def _map(page: Any) -> dict[str, Any]:
    return json.loads(page.get_attribute("canvas.map", "data-minisectors") or "{}")


def _done(row: dict[str, Any], session_time: float) -> int:
    """Parts of `row` completed at `session_time` (s): parts complete in order."""
    n = 0
    for end in row["ends"]:
        if end is None or end > session_time * 1000:
            break
        n += 1
    return n


def _settle(page: Any, session_time: float, lap: int) -> float:
    """Wait until the page shows `session_time` and lap `lap`'s strip; the page's clock then."""
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {session_time}) < 0.2", timeout=30_000
    )
    page.wait_for_function(
        f"() => document.querySelector('.ms-current .ms-strip')?.dataset.lap === '{lap}'",
        timeout=30_000,
    )
    page.wait_for_timeout(500)  # a few more panel refreshes and map frames at this moment
    return float(rr(page, ".sessionTime"))


def _label(lap: int, marks: list[int], count: int) -> str:
    parts = [f"{len(marks)} of {count} done"]
    for mark, colour in ((3, "purple"), (2, "green"), (1, "yellow"), (0, "unknown")):
        if marks.count(mark):
            parts.append(f"{marks.count(mark)} {colour}")
    return f"mini-sectors lap {lap}: " + ", ".join(parts)


def test_strips_and_map_follow_the_replay_clock(server: str, chromium: Any) -> None:
    sid = build_session(server, DEMO)
    api = f"{server}/api/sessions/{sid}"
    meta = httpx.get(f"{api}/metadata", timeout=30).json()
    laps = httpx.get(f"{api}/laps", timeout=30).json()["laps"]
    table = httpx.get(f"{api}/minisectors", timeout=60).json()
    count = table["count"]
    assert count == 25
    rows = {(r["driver"], r["lap"]): r for r in table["laps"]}
    both = [d["code"] for d in meta["drivers"] if (d["code"], 3) in rows and (d["code"], 4) in rows]
    # The demo's laps 3 and 4 run behind the Safety Car (mostly yellow): the driver with the
    # most green and purple parts in them.
    code = max(both, key=lambda c: sum(m > 1 for lap in (3, 4) for m in rows[(c, lap)]["marks"]))
    lap3, lap4 = rows[(code, 3)], rows[(code, 4)]
    lap_row = next(r for r in laps if r["driver"] == code and r["lap"] == 4)
    middle = (lap_row["start"] + lap_row["end"]) / 2

    query = urlencode({"session": DEMO, "t": f"{middle:.1f}", "speed": "1", "focus": code})
    page = open_page(chromium, f"{server}/?{query}")
    now = _settle(page, middle, 4)
    assert rr(page, ".playing") is False
    done = _done(lap4, now)
    assert 0 < done < count, (done, now)
    current = _strip(page, "current")
    shot(page, "minisectors-01-mid-lap")
    # The current lap: the API's marks up to the parts the clock has reached, the rest empty.
    assert current["lap"] == 4 and current["timed"]
    assert current["done"] == done
    assert current["marks"] == lap4["marks"][:done]
    assert current["filled"] == sum(1 for m in lap4["marks"][:done] if m > 0)
    assert current["empty"] == count - done
    assert current["role"] == "img" and current["label"] == _label(4, lap4["marks"][:done], count)
    # The previous lap, whole.
    previous = _strip(page, "previous")
    assert previous["lap"] == 3 and previous["timed"] and previous["done"] == count
    assert previous["marks"] == lap3["marks"]
    assert previous["label"] == _label(3, lap3["marks"], count)
    # The speed trap: the demo has none, so lap 3's top speed per sector, labelled as such.
    assert lap3["speed_trap"] is None
    trap = page.inner_text(".ms-trap")
    tops = " · ".join(f"S{i + 1} {v:.1f}" for i, v in enumerate(lap3["sector_top_speed"]))
    assert trap == f"L3 top speed {tops} km/h", trap
    note = page.inner_text(".ms-note")
    assert table["notes"] and note == " · ".join(table["notes"]), note
    # The map: exactly the current strip's parts.
    assert _map(page) == {"driver": code, "lap": 4, "marks": lap4["marks"][:done]}

    # On through the lap: more parts, never one the clock has not reached.
    later = lap_row["start"] + 0.85 * (lap_row["end"] - lap_row["start"])
    frame = round((later - meta["t0"]) * meta["fps"])
    page.evaluate(
        """(f) => { const s = document.querySelector('input.seekbar');
                    s.value = String(f); s.dispatchEvent(new Event('input')); }""",
        frame,
    )
    now = _settle(page, meta["t0"] + frame / meta["fps"], 4)
    more = _done(lap4, now)
    assert done < more < count
    current = _strip(page, "current")
    assert current["marks"] == lap4["marks"][:more] and current["empty"] == count - more
    assert _map(page) == {"driver": code, "lap": 4, "marks": lap4["marks"][:more]}
    # Each mark in its timing-screen colour (style.css: --yellow, --green, --purple).
    colours = page.eval_on_selector_all(
        ".ms-current .ms-cell",
        "cells => cells.map(c => getComputedStyle(c).backgroundColor)",
    )
    rgb = {1: "rgb(232, 197, 71)", 2: "rgb(47, 209, 90)", 3: "rgb(179, 107, 255)"}
    assert colours[:more] == [rgb[m] for m in lap4["marks"][:more]]
    assert set(colours[more:]) == {"rgba(0, 0, 0, 0)"}
    assert any(m > 1 for m in lap3["marks"] + lap4["marks"][:more])  # not all yellow
    shot(page, "minisectors-02-later")

    # Following nobody: the map colours no mini-sectors.
    page.locator(".lb-row.focused").click()
    page.wait_for_function(
        "() => !document.querySelector('canvas.map').dataset.minisectors", timeout=10_000
    )
    assert page.errors == []
    page.close()
