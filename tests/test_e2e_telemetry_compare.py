"""The telemetry panel's comparison end to end: the real server, the built client, Chromium.

A driver followed in the middle of lap 2 of a small demo race, compared with a rival
ahead of them on the road (web/src/telemetry.ts): five channel charts and the time
delta, each y axis labelled with its unit and a fixed scale, stacked on one distance
axis; the current lap drawn only up to where the car is (the car's lap distance read
independently from /api/sessions/{id}/telemetry), growing as the replay plays; the
delta at the cursor equal to one computed here with numpy from the two laps the API
gives. A rival with no such lap (the demo's retired car) falls back to the ghost (the
driver's best lap so far) with a message; before the start there is no lap to chart.
On the shared Australian race (archive mode), where ../shared/data has it, a focused
driver's gear, DRS and delta are drawn from real telemetry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from conftest import need_shared_data
from e2e_browser import (
    REAL_DATA,
    build_session,
    open_page,
    real_data_options,
    require_browser,
    rr,
    running_server,
    shot,
)

from racereplay.bench import shared_data

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=6&laps=4"  # one car retires in lap 1: it has no lap 2
CHARTS = {
    "speed": ("speed (km/h)", 0, 360),
    "throttle": ("throttle (%)", -8, 108),
    "brake": ("brake (on/off)", -12, 112),  # the demo's brake, as most sources': 0 or 100
    "gear": ("gear", -0.5, 8.5),
    "drs": ("DRS", -0.3, 2.3),
}
GRID_M = 10  # the panel's distance grid (telemetry.ts GRID_M)
MINUS = "\u2212"  # the delta's sign when faster: a true minus
DELTA = rf"([+{MINUS}±])(\d+\.\d{{3}}) s vs "  # "+0.312 s vs ", then the reference


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-telemetry"), *real_data_options()) as base:
        yield base


def _lap(base: str, sid: str, code: str, lap: int) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/sessions/{sid}/telemetry/{code}/{lap}", timeout=60)
    r.raise_for_status()
    return dict(r.json())


def _monotone(lap: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lap distance (m from the lap's first frame) and lap time, keeping only samples whose
    distance exceeds every earlier one: the first time each distance is reached."""
    d = np.array([np.nan if v is None else v for v in lap["distance"]], dtype=float)
    t = np.array([np.nan if v is None else v for v in lap["lap_time"]], dtype=float)
    ok = ~np.isnan(d) & ~np.isnan(t)
    d, t = d[ok], t[ok]
    keep = np.concatenate([[True], d[1:] > np.maximum.accumulate(d)[:-1]])
    return d[keep] - d[0], t[keep]


def _delta(current: dict[str, Any], reference: dict[str, Any], at: float) -> float:
    dc, tc = _monotone(current)
    dr, tr = _monotone(reference)
    return float(np.interp(at, dc, tc) - np.interp(at, dr, tr))


def _report(page: Any) -> dict[str, Any]:
    return dict(rr(page, ".telemetry()"))


def _wait_charts(page: Any, reference: str) -> dict[str, Any]:
    """The panel's report once it charts against `reference` ("VER L2", "ghost L1")."""
    code, lap = reference.split(" L")
    kind = "ghost" if code == "ghost" else "rival"
    page.wait_for_function(
        f"""() => {{ const r = window.__rr.telemetry();
            return r.state === 'charts' && r.reference && r.reference.kind === '{kind}' &&
                r.reference.lap === {lap} && Number.isFinite(r.drawnTo) &&
                ('{kind}' === 'ghost' || r.reference.code === '{code}'); }}""",
        timeout=30_000,
    )
    page.wait_for_timeout(500)  # a few more panel refreshes at this moment
    return _report(page)


def _car_lap_distance(lap: dict[str, Any], session_time: float) -> float:
    """Where the lap's data puts the car at `session_time` (m from the lap's first frame)."""
    times = np.array(lap["time"], dtype=float)
    d = np.array([np.nan if v is None else v for v in lap["distance"]], dtype=float)
    i = int(np.argmin(np.abs(times - session_time)))
    assert abs(times[i] - session_time) < 0.03, (times[i], session_time)
    return float(d[i] - d[0])


def test_compare_with_a_rival_cut_at_now(server: str, chromium: Any) -> None:
    sid = build_session(server, DEMO)
    api = f"{server}/api/sessions/{sid}"
    meta = httpx.get(f"{api}/metadata", timeout=30).json()
    laps = httpx.get(f"{api}/laps", timeout=30).json()["laps"]
    codes = [d["code"] for d in meta["drivers"]]
    lap2 = {r["driver"]: r for r in laps if r["lap"] == 2 and r["start"] and r["end"]}
    # The driver second on the road into lap 2, compared with the one ahead.
    order = sorted(lap2, key=lambda c: lap2[c]["start"])
    rival, code = order[0], order[1]
    retired = next(c for c in codes if c not in lap2)  # no lap 2: retired in lap 1
    row = lap2[code]
    middle = row["start"] + 0.45 * (row["end"] - row["start"])

    query = urlencode({"session": DEMO, "t": f"{middle:.1f}", "speed": "1", "focus": code})
    page = open_page(chromium, f"{server}/?{query}")
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {middle}) < 0.2", timeout=30_000
    )
    assert rr(page, ".playing") is False
    # The ghost first: the driver's best lap so far is lap 1.
    report = _wait_charts(page, "ghost L1")
    assert report["driver"] == code and report["lap"] == 2
    page.select_option(".telemetry select.rival", str(codes.index(rival)))
    report = _wait_charts(page, f"{rival} L2")
    shot(page, "telemetry-01-rival")

    # Five channel charts and the delta, each y axis with its unit and fixed scale.
    charts = {c["name"]: c for c in report["charts"]}
    assert list(charts) == [*CHARTS, "delta"]
    for name, (label, lo, hi) in CHARTS.items():
        assert (charts[name]["yLabel"], charts[name]["min"], charts[name]["max"]) == (label, lo, hi)
        assert charts[name]["missing"] == ""
    assert charts["delta"]["yLabel"] == "delta (s)" and charts["delta"]["missing"] == ""
    assert charts["delta"]["min"] == -charts["delta"]["max"] >= -1
    assert report["xLabel"] == "distance (m)"
    drawn = page.eval_on_selector_all(".t-row", "rows => rows.map(r => r.dataset.chart)")
    assert drawn == [*CHARTS, "delta"]
    assert page.locator(".t-row canvas").count() == 6
    assert rr(page, ".telemetrySeries()")[0]["label"] == "Lap 2"

    # The current lap is drawn up to the car and no further; the car's lap distance is
    # the one the API's lap gives for the data frame the page shows.
    current, reference = _lap(server, sid, code, 2), _lap(server, sid, rival, 2)
    values_time = meta["t0"] + report["valuesFrame"] / meta["fps"]
    car = _car_lap_distance(current, values_time)
    assert report["lapStart"] == pytest.approx(current["distance"][0], abs=0.5)
    assert report["carDistance"] == pytest.approx(car, abs=2.0)
    assert report["carDistance"] - GRID_M < report["drawnTo"] <= report["carDistance"]
    assert 500 < car < 5000
    # The rival, ahead on the road, has gone further: its lap is drawn past the car.
    assert report["referenceTo"] > report["drawnTo"]

    # The delta at the cursor: the two laps' times at the car's lap distance, from the API.
    expected = _delta(current, reference, report["carDistance"])
    assert report["delta"] == pytest.approx(expected, abs=1e-6)
    text = page.inner_text(".t-delta")
    assert text == report["deltaText"]
    match = re.fullmatch(DELTA + rival + " L2", text)
    assert match, text
    shown = float(match[2]) * (-1 if match[1] == MINUS else 1)
    assert shown == pytest.approx(expected, abs=0.0006)

    # Playing on: the cut follows the car.
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.telemetry().drawnTo > {report['drawnTo']} + 50")
    page.click("footer .play")
    page.wait_for_function("() => window.__rr.playing === false")
    page.wait_for_timeout(500)
    later = _report(page)
    assert later["carDistance"] > report["carDistance"] + 50
    assert later["carDistance"] - GRID_M < later["drawnTo"] <= later["carDistance"]
    at = meta["t0"] + later["valuesFrame"] / meta["fps"]
    assert later["carDistance"] == pytest.approx(_car_lap_distance(current, at), abs=2.0)
    assert later["delta"] == pytest.approx(
        _delta(current, reference, later["carDistance"]), abs=1e-6
    )
    assert later["drawMs"], "the charts were not redrawn as the car moved"

    # A rival with no lap 2: the message says so, and the ghost takes its place.
    page.select_option(".telemetry select.rival", str(codes.index(retired)))
    report = _wait_charts(page, "ghost L1")
    note = f"no telemetry for {retired} lap 2"
    assert report["deltaText"].startswith(f"{note} · ")
    assert report["deltaText"].endswith(" vs best L1 (ghost)")
    assert page.inner_text(".t-delta").startswith(note)
    ghost = _lap(server, sid, code, 1)
    assert report["delta"] == pytest.approx(_delta(current, ghost, report["carDistance"]), abs=1e-6)
    shot(page, "telemetry-02-no-rival-lap")
    assert page.errors == []
    page.close()


def test_before_the_start_and_without_a_reference(server: str, chromium: Any) -> None:
    """On the grid no lap is under way: a message, no charts. In lap 1 there is no ghost yet:
    the channels are charted, the delta says why it is missing."""
    sid = build_session(server, DEMO)
    meta = httpx.get(f"{server}/api/sessions/{sid}/metadata", timeout=30).json()
    code = meta["drivers"][0]["code"]
    laps = httpx.get(f"{server}/api/sessions/{sid}/laps", timeout=30).json()["laps"]
    lap1 = next(r for r in laps if r["driver"] == code and r["lap"] == 1)
    query = urlencode({"session": DEMO, "t": f"{meta['t0'] + 5:.1f}", "focus": code})
    page = open_page(chromium, f"{server}/?{query}")
    page.wait_for_function("() => window.__rr.telemetry().state === 'message'", timeout=30_000)
    assert page.inner_text(".t-msg") == f"{code}: no lap under way yet"
    assert page.locator(".t-charts").is_hidden()

    middle = (lap1["start"] + lap1["end"]) / 2
    frame = round((middle - meta["t0"]) * meta["fps"])
    page.evaluate(
        """(f) => { const s = document.querySelector('input.seekbar');
                    s.value = String(f); s.dispatchEvent(new Event('input')); }""",
        frame,
    )
    page.wait_for_function(
        "() => { const r = window.__rr.telemetry(); return r.state === 'charts' && r.lap === 1; }",
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    report = _report(page)
    assert report["reference"] is None
    charts = {c["name"]: c for c in report["charts"]}
    assert all(charts[n]["missing"] == "" for n in CHARTS)
    assert charts["delta"]["missing"] == f"no reference lap: {code} has no completed lap yet"
    assert page.locator(".t-row[data-chart=delta] .t-missing").is_visible()
    assert report["carDistance"] - GRID_M < report["drawnTo"] <= report["carDistance"]
    shot(page, "telemetry-03-lap-1")
    assert page.errors == []
    page.close()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_race_draws_gear_drs_and_a_delta(server: str, chromium: Any) -> None:
    """The shared Australian race from its archive: a focused driver mid-race against the
    driver ahead, gear and DRS drawn from the real data, and a delta."""
    need_shared_data(*REAL_DATA)
    name = shared_data.AUS_RACE.name
    sid = build_session(server, name)
    api = f"{server}/api/sessions/{sid}"
    meta = httpx.get(f"{api}/metadata", timeout=30).json()
    laps = httpx.get(f"{api}/laps", timeout=30).json()["laps"]
    codes = [d["code"] for d in meta["drivers"]]
    lap = 20  # green-flag running, every car on track
    rows = {r["driver"]: r for r in laps if r["lap"] == lap and r["start"] and r["end"]}
    order = sorted(rows, key=lambda c: rows[c]["start"])
    rival, code = order[0], order[1]
    row = rows[code]
    middle = row["start"] + 0.5 * (row["end"] - row["start"])
    query = urlencode({"session": name, "t": f"{middle:.1f}", "speed": "1", "focus": code})
    page = open_page(chromium, f"{server}/?{query}")
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {middle}) < 0.2", timeout=60_000
    )
    page.select_option(".telemetry select.rival", str(codes.index(rival)))
    report = _wait_charts(page, f"{rival} L{lap}")
    charts = {c["name"]: c for c in report["charts"]}
    assert charts["gear"]["missing"] == "" and charts["drs"]["missing"] == ""
    assert charts["brake"]["yLabel"] in ("brake (on/off)", "brake (%)")
    current, reference = _lap(server, sid, code, lap), _lap(server, sid, rival, lap)
    gears = {g for g in current["gear"] if g is not None}
    assert gears & set(range(1, 9)), gears
    assert report["carDistance"] - GRID_M < report["drawnTo"] <= report["carDistance"]
    expected = _delta(current, reference, report["carDistance"])
    assert report["delta"] == pytest.approx(expected, abs=1e-6)
    assert re.fullmatch(DELTA + rival + f" L{lap}", report["deltaText"])
    shot(page, "telemetry-04-real-race")
    assert page.errors == []
    page.close()
