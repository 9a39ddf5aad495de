"""What a fan expects to see, end to end (the real server, the built client, Chromium).

The data notes panel lists every problem the metadata reports and stays closed once
dismissed; team-mates are told apart on the board, the map and in every chart; lapped
cars read "+1 L"; before lights out the header counts down and earlier messages show
negative times; the animation clock reads requestAnimationFrame's timestamp;
qualifying shows the elimination zone and greys the knocked-out; data that cannot
split qualifying says so; practice red flags are bands on the seek bar.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
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

DEMO = "demo?cars=20&laps=3"
# This seed's 60-lap race laps its backmarkers from about lap 35 (found by building it).
LAPPED_DEMO = "demo?seed=3&cars=20&laps=60"
QUALIFYING = "demo?session=qualifying"
CHINA = shared_data.CHN_RACE.name
AUS_QUALIFYING = shared_data.AUS_QUALIFYING.name
AUS_FP1 = shared_data.AUS_PRACTICE_1.name
ROW_PX = 26  # leaderboard.ts
MINUS = "\N{MINUS SIGN}"  # the sign of times before the start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-fidelity"), *real_data_options()) as base:
        yield base


def _session(server: str, name: str) -> tuple[str, dict[str, Any]]:
    """Build `name`; its id and metadata."""
    sid = build_session(server, name)
    return sid, httpx.get(f"{server}/api/sessions/{sid}/metadata", timeout=30).json()


def _url(server: str, name: str, **params: Any) -> str:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"{server}/?session={quote(name)}{extra}"


def _open_at(chromium: Any, server: str, name: str, t: float) -> Any:
    """The session opened paused at session time `t`, panels refreshed."""
    page = open_page(chromium, _url(server, name, t=f"{t:.1f}"))
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {t:.1f}) < 0.2", timeout=30_000
    )
    time.sleep(0.6)  # a leaderboard refresh or two (five a second)
    return page


def _rgb(hex_colour: str) -> str:
    v = int(hex_colour.lstrip("#"), 16)
    return f"rgb({v >> 16}, {(v >> 8) & 255}, {v & 255})"


def _board(page: Any) -> list[dict[str, Any]]:
    """The leaderboard's rows top to bottom: driver, gap text, classes, filter."""
    rows = page.eval_on_selector_all(
        ".lb-row",
        """els => els.map(e => ({y: new DOMMatrix(getComputedStyle(e).transform).m42,
            drv: e.dataset.driver, gap: e.querySelector('.gap').textContent,
            cls: [...e.classList], filter: getComputedStyle(e).filter}))""",
    )
    return sorted(rows, key=lambda r: r["y"])


# --- 1. data notes -----------------------------------------------------------------


@pytest.mark.realdata
def test_data_notes_list_every_problem_and_stay_dismissed(server: str, chromium: Any) -> None:
    need_shared_data(*REAL_DATA)
    _, meta = _session(server, CHINA)
    problems = meta["problems"]
    assert problems, "the Chinese race (partial FastF1 cache) should report what it lacks"
    page = open_page(chromium, _url(server, CHINA))
    assert page.is_visible(".notes")
    assert page.inner_text(".notes .notes-title") == f"Data notes ({len(problems)})"
    shown = page.eval_on_selector_all(".notes-list li", "els => els.map(e => e.textContent)")
    assert shown == problems
    for line in problems:
        assert page.get_by_text(line, exact=True).is_visible(), line
    shot(page, "20-data-notes")

    page.click(".notes-close")
    assert page.is_hidden(".notes")
    assert page.is_visible("header.top .notes-btn")
    # Closed stays closed for this session, across a reload.
    page.reload()
    page.wait_for_function("() => window.__rr && window.__rr.ready")
    time.sleep(0.3)
    assert page.is_hidden(".notes")
    # The header button opens the notes again.
    page.click("header.top .notes-btn")
    assert page.is_visible(".notes")
    assert not page.errors, page.errors
    page.close()

    # A session without problems (the demo qualifying) shows neither the panel nor the button.
    _, quiet = _session(server, QUALIFYING)
    assert quiet["problems"] == []
    demo = open_page(chromium, _url(server, QUALIFYING))
    assert demo.is_hidden(".notes") and demo.is_hidden("header.top .notes-btn")
    demo.close()


# --- 2. team-mates -----------------------------------------------------------------


def test_team_mates_are_told_apart(server: str, chromium: Any) -> None:
    _, meta = _session(server, DEMO)
    drivers = meta["drivers"]
    page = open_page(chromium, _url(server, DEMO))
    styles = {s["code"]: s for s in rr(page, ".styles()")}
    teams: dict[str, list[str]] = {}
    for d in drivers:
        teams.setdefault(d["team"], []).append(d["code"])
    pairs = [codes for codes in teams.values() if len(codes) == 2]
    assert len(pairs) == 10, teams
    for first, second in pairs:
        a, b = styles[first], styles[second]
        colour = next(d["colour"] for d in drivers if d["code"] == first).upper()
        assert (a["second"], b["second"]) == (False, True)
        assert a["colour"].upper() == colour and b["team"].upper() == colour
        assert a["colour"] != b["colour"] and a["dash"] == [] and b["dash"], (a, b)

    # Leaderboard colour bar: the shade and a dashed bar for the second driver.
    bars = page.eval_on_selector_all(
        ".lb-row",
        """els => Object.fromEntries(els.map(e => [e.dataset.driver,
            [getComputedStyle(e).borderLeftColor, getComputedStyle(e).borderLeftStyle]]))""",
    )
    for first, second in pairs:
        assert bars[first] == [_rgb(styles[first]["colour"]), "solid"], bars[first]
        assert bars[second] == [_rgb(styles[second]["colour"]), "dashed"], bars[second]

    # Map: each car drawn in its style; the second driver carries its mark (a centre dot).
    page.fill("form.jump input", "2")
    page.click("form.jump button")
    page.wait_for_function("() => window.__rr.leaderLap === 2", timeout=20_000)
    at = rr(page, ".sessionTime")
    page.keyboard.press("Shift+ArrowRight")  # 30 s on: every car has done lap 1
    page.wait_for_function(f"() => window.__rr.sessionTime > {at + 29}")
    time.sleep(0.5)
    drawn = rr(page, ".carStyles()")
    index = {d["code"]: i for i, d in enumerate(drivers)}
    for first, second in pairs:
        assert drawn[index[first]] == {"colour": styles[first]["colour"], "second": False}
        assert drawn[index[second]] == {"colour": styles[second]["colour"], "second": True}

    # The focused driver's chart: the team-mate's line is the other shade, dashed.
    first, second = pairs[0]
    charted = {}
    for code in (first, second):
        page.click(f".lb-row[data-driver={code}]")
        page.wait_for_function(
            f"""() => {{ const s = window.__rr.telemetrySeries();
                return s.length && s[0].label.startsWith('Lap') &&
                    document.querySelector('.t-driver').textContent.startsWith('{code}'); }}""",
            timeout=20_000,
        )
        time.sleep(0.5)  # the chart for this driver (loaded after the focus change)
        charted[code] = rr(page, ".telemetrySeries()")[0]
    assert charted[first]["stroke"] == styles[first]["colour"] and charted[first]["dash"] == []
    assert charted[second]["stroke"] == styles[second]["colour"]
    assert charted[second]["dash"] == styles[second]["dash"] != []

    # Ghost comparison of the two team-mates' first laps: both charts and both ghosts differ.
    for code in (first, second):
        page.click(f".lb-row[data-driver={code}]")
        page.wait_for_function(
            f"""() => document.querySelector('.t-driver').textContent.startsWith('{code}') &&
                document.querySelectorAll('.g-laps tr').length >= 1"""
        )
        page.click(".g-laps tr[data-lap='1'] button")
    page.wait_for_selector(".g-compare:not([hidden])", timeout=20_000)
    page.wait_for_function("() => window.__rr.ghostSeries().length === 3")
    speed = rr(page, ".ghostSeries()")[0]
    assert [s["stroke"] for s in speed] == [styles[first]["colour"], styles[second]["colour"]]
    assert speed[0]["dash"] == [] and speed[1]["dash"] == styles[second]["dash"]
    shot(page, "21-team-mates")
    assert not page.errors, page.errors
    page.close()


# --- 3. laps down ------------------------------------------------------------------


def _steady(channel: Any, frames: int) -> tuple[int, int, int]:
    """(frame, driver, laps) in the middle of the first run of `frames` frames over
    which one driver stays at the same whole number (>= 1) of laps behind."""
    import numpy as np

    lapped = np.argwhere(channel >= 1)
    for k, d in lapped[:: max(1, len(lapped) // 2000)]:
        window = channel[k : k + frames, d]
        if len(window) == frames and (window == window[0]).all():
            return int(k + frames // 2), int(d), int(window[0])
    raise AssertionError("no steady lapped car")


def test_lapped_cars_read_laps_down(server: str, chromium: Any) -> None:
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    tl = build_timeline(load(LAPPED_DEMO))
    codes = [d.code for d in tl.drivers]
    _session(server, LAPPED_DEMO)
    # Gap mode: a car a whole lap behind the leader reads "+1 L", not seconds.
    k, d, laps = _steady(tl.frames["gap_laps"], 10 * tl.fps)
    page = _open_at(chromium, server, LAPPED_DEMO, tl.time_of(k))
    rows = {r["drv"]: r["gap"] for r in _board(page)}
    assert rows[codes[d]] == f"+{laps} L", rows
    lapped = [c for c, text in rows.items() if re.fullmatch(r"\+\d+ L", text)]
    expected = [codes[i] for i in range(len(codes)) if tl.frames["gap_laps"][k, i] >= 1]
    assert sorted(lapped) == sorted(expected)
    shot(page, "22-laps-down-gap")
    page.close()

    # Interval mode: "+1 L" only for a car a lap behind the car ahead of it.
    k, d, laps = _steady(tl.frames["interval_laps"], 5 * tl.fps)
    page = _open_at(chromium, server, LAPPED_DEMO, tl.time_of(k))
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelector('.gap-toggle').textContent === 'Int'")
    time.sleep(0.5)
    rows = {r["drv"]: r["gap"] for r in _board(page)}
    assert rows[codes[d]] == f"+{laps} L", rows
    for i, code in enumerate(codes):
        behind_ahead = int(tl.frames["interval_laps"][k, i])
        if tl.frames["gap_laps"][k, i] >= 1 and behind_ahead == 0 and tl.frames["position"][k, i]:
            # Lapped, but less than a lap behind the car ahead: seconds in Interval mode.
            assert re.fullmatch(r"\+\d+\.\d{3}", rows[code]), (code, rows[code])
    shot(page, "23-laps-down-interval")
    assert not page.errors, page.errors
    page.close()


# --- 4. countdown and times before the start ---------------------------------------


def _countdown(page: Any) -> int:
    text = page.inner_text("header.top .clock")
    m = re.fullmatch(r"Start in (\d+):(\d\d)", text)
    assert m, text
    return int(m[1]) * 60 + int(m[2])


def test_countdown_to_lights_out_then_race_clock(server: str, chromium: Any) -> None:
    sid, meta = _session(server, DEMO)
    start, t0 = meta["info"]["start_time"], meta["t0"]
    assert start - t0 >= 30, "the demo's timeline should begin before lights out"
    events = httpx.get(f"{server}/api/sessions/{sid}/events", timeout=30).json()["events"]
    early = [e["time"] for e in events if e["kind"] == "message" and e["time"] < start - 20]
    assert early, "the demo's race control speaks before lights out"
    # Open before the start, once the first message is out (and no earlier than frame 0).
    t_open = round(max(t0, early[0] + 1.0), 1)
    page = _open_at(chromium, server, DEMO, t_open)
    assert _countdown(page) == math.ceil(start - t_open)
    # Race control before the start reads its real (negative) time from lights out.
    feed = page.eval_on_selector_all(
        ".feed li", "els => els.map(e => [+e.dataset.time, e.querySelector('time').textContent])"
    )
    for t, text in feed:
        if t < start:
            s = math.ceil(start - t - 1e-6)
            assert text == f"{MINUS}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}", (t, text)
    assert feed and feed[0][0] < start
    shot(page, "24-countdown")

    # Playing, the countdown goes down.
    before = _countdown(page)
    page.click("footer .play")
    time.sleep(2.5)
    assert before - 4 <= _countdown(page) <= before - 1
    # From lights out the clock reads the race time.
    page.select_option("select.speed", "16")
    page.wait_for_function(
        "() => /^0:00:[0-9]{2}$/.test(document.querySelector('header.top .clock').textContent)",
        timeout=20_000,
    )
    assert "countdown" not in (page.get_attribute("header.top .clock", "class") or "")
    assert not page.errors, page.errors
    page.close()


# --- 6. the animation clock --------------------------------------------------------

# Each animation frame's callback runs 0-4 ms late (random), as behind other work: the
# frame's timestamp stays the frame's, performance.now() inside the callback does not.
LATE_CALLBACKS = """
const raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (cb) => raf((ts) => {
  const until = performance.now() + Math.random() * 4;
  while (performance.now() < until) {}
  cb(ts);
});
"""


def test_clock_reads_the_animation_frame_timestamp(server: str, chromium: Any) -> None:
    build_session(server, DEMO)
    context = chromium.new_context(viewport={"width": 1400, "height": 860})
    context.add_init_script(LATE_CALLBACKS)
    page = context.new_page()
    page.goto(_url(server, DEMO))
    page.wait_for_function("() => window.__rr && window.__rr.ready && window.__rr.drawn > 2")
    page.select_option("select.speed", "4")
    page.wait_for_function("() => window.__rr.speed === 4")
    page.click("footer .play")
    wall0, frame0 = time.monotonic(), rr(page, ".frame")
    time.sleep(3.0)
    trace = rr(page, ".clockTrace")[5:]
    wall1, frame1 = time.monotonic(), rr(page, ".frame")
    assert len(trace) > 60, len(trace)
    per_ms = 25 * 4 / 1000
    off = [
        (b[1] - a[1]) - (b[0] - a[0]) * per_ms for a, b in itertools.pairwise(trace) if b[0] > a[0]
    ]
    # Each frame's position follows its timestamp exactly (the callbacks' lateness,
    # up to 0.4 frames at 4x, never shows).
    assert max(abs(x) for x in off) < 1e-3, sorted(off, key=abs)[-5:]
    # And the clock keeps to the wall clock.
    assert abs((frame1 - frame0) - (wall1 - wall0) * 100) < 0.1 * (wall1 - wall0) * 100
    context.close()


# --- 5. qualifying and practice ----------------------------------------------------


def test_qualifying_elimination_zone_and_knocked_out(server: str, chromium: Any) -> None:
    sid, _ = _session(server, QUALIFYING)
    events = httpx.get(f"{server}/api/sessions/{sid}/events", timeout=30).json()["events"]
    results = httpx.get(f"{server}/api/sessions/{sid}/results", timeout=30).json()["results"]
    seg = {e["data"]["name"]: e["data"] for e in events if e["kind"] == "segment"}
    assert list(seg) == ["Q1", "Q2", "Q3"]
    place = {r["driver"]: r["position"] for r in results}
    out_q1 = {c for c, p in place.items() if p > 15}  # the official classification
    out_q2 = {c for c, p in place.items() if 10 < p <= 15}
    assert len(out_q1) == len(out_q2) == 5

    # Late in Q1: a line under P15, the five below it in the zone, nobody greyed.
    page = _open_at(chromium, server, QUALIFYING, seg["Q1"]["end"] - 20)
    assert rr(page, ".segment") == "Q1"
    assert page.is_visible(".lb-cut")
    assert page.get_attribute(".lb-cut", "data-safe") == "15"
    cut_y = page.eval_on_selector(
        ".lb-cut", "e => new DOMMatrix(getComputedStyle(e).transform).m42"
    )
    assert cut_y == 15 * ROW_PX - 1
    rows = _board(page)
    assert [i for i, r in enumerate(rows) if "danger" in r["cls"]] == list(range(15, 20))
    assert not any("out" in r["cls"] for r in rows)
    tint = page.eval_on_selector(".lb-row.danger", "e => getComputedStyle(e).backgroundColor")
    assert tint != "rgba(0, 0, 0, 0)", tint
    shot(page, "25-qualifying-q1-zone")
    page.close()

    # Q2: the five knocked out in Q1 greyed at the bottom; the zone is now P11-P15.
    page = _open_at(chromium, server, QUALIFYING, seg["Q2"]["start"] + 400)
    assert rr(page, ".segment") == "Q2"
    rows = _board(page)
    greyed = [r for r in rows if "out" in r["cls"]]
    assert {r["drv"] for r in greyed} == out_q1
    assert rows[-5:] == greyed
    # Greyed by colour, not by opacity, which would take their text below AA contrast.
    assert all(r["filter"] == "grayscale(1)" for r in greyed)
    assert all(r["filter"] == "none" for r in rows[:15])
    assert page.get_attribute(".lb-cut", "data-safe") == "10"
    assert [i for i, r in enumerate(rows) if "danger" in r["cls"]] == list(range(10, 15))
    shot(page, "26-qualifying-q2-knocked-out")
    page.close()

    # Q3: all ten knocked out greyed, no zone.
    page = _open_at(chromium, server, QUALIFYING, seg["Q3"]["start"] + 300)
    rows = _board(page)
    assert {r["drv"] for r in rows if "out" in r["cls"]} == out_q1 | out_q2
    assert page.is_hidden(".lb-cut")
    assert not page.errors, page.errors
    page.close()


@pytest.mark.realdata
def test_unsplit_qualifying_says_so(server: str, chromium: Any) -> None:
    need_shared_data(*REAL_DATA)
    _, meta = _session(server, AUS_QUALIFYING)
    assert meta["info"]["kind"] == "qualifying"
    page = open_page(chromium, _url(server, AUS_QUALIFYING))
    assert page.is_visible(".segments .seg-note")
    assert page.inner_text(".segments .seg-note") == "Q1/Q2/Q3 not available from this data"
    assert page.locator(".segments button").count() == 0  # one part: no tabs
    assert page.is_hidden(".lb-cut")  # no zone without the parts
    shot(page, "27-qualifying-unsplit")
    page.close()

    # The demo's split qualifying has tabs and no such note.
    build_session(server, QUALIFYING)
    demo = open_page(chromium, _url(server, QUALIFYING))
    assert demo.locator(".segments .seg-note").count() == 0
    demo.close()


@pytest.mark.realdata
def test_practice_red_flags_are_bands_on_the_seek_bar(server: str, chromium: Any) -> None:
    need_shared_data(*REAL_DATA)
    sid, meta = _session(server, AUS_FP1)
    events = httpx.get(f"{server}/api/sessions/{sid}/events", timeout=30).json()["events"]
    status = sorted((e for e in events if e["kind"] == "track_status"), key=lambda e: e["time"])
    reds = [
        (e["time"], status[i + 1]["time"])
        for i, e in enumerate(status)
        if e["data"]["status"] == 5 and i + 1 < len(status)
    ]
    assert len(reds) == 2, reds  # 0:33-0:38 and 0:51-1:02 (../shared/data/README.md)
    page = open_page(chromium, _url(server, AUS_FP1))
    bar = page.eval_on_selector(".marks", "e => e.getBoundingClientRect().toJSON()")
    bands = page.eval_on_selector_all(
        ".marks .mark.red",
        """els => els.map(e => ({t: +e.dataset.time, box: e.getBoundingClientRect().toJSON(),
            band: getComputedStyle(e, '::after').height,
            fill: getComputedStyle(e, '::after').backgroundColor}))""",
    )
    assert [b["t"] for b in bands] == [start for start, _ in reds]
    span = meta["n_frames"] / meta["fps"]
    for b, (start, end) in zip(bands, reds, strict=True):
        left = bar["x"] + (start - meta["t0"]) / span * bar["width"]
        width = (end - start) / span * bar["width"]
        assert abs(b["box"]["x"] - left) < 2 and abs(b["box"]["width"] - width) < 2, (b, left)
        assert b["band"] == "26px" and b["fill"] != "rgba(0, 0, 0, 0)", b
    shot(page, "28-practice-red-flags")
    page.close()
