"""The web client end to end: the real server, the built client, headless Chromium.

Open the demo, play, and check that cars move on the map, the lap counter
advances and the leaderboard updates; seek to a lap; change speed; pause; reload
the shareable URL; survive a dropped connection. A screenshot of each state is
saved under artifacts/e2e/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import need_shared_data
from e2e_browser import (
    REAL_DATA,
    VIEWPORT,
    build_session,
    cars,
    moved,
    open_page,
    play_from_lap,
    real_data_options,
    require_browser,
    rr,
    running_server,
    shot,
    wait_ready,
)

from racereplay.bench import shared_data

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=20&laps=3"
REAL_RACE = shared_data.AUS_RACE.name
# Official classification of the 2025 Australian GP (../shared/data/README.md).
OFFICIAL_TOP10 = ["NOR", "VER", "RUS", "ANT", "ALB", "STR", "HUL", "LEC", "PIA", "HAM"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-cache"), *real_data_options()) as base:
        yield base


@pytest.fixture(scope="module")
def demo(server: str) -> str:
    build_session(server, DEMO)
    return f"{server}/?session={quote(DEMO)}"


@pytest.fixture(scope="module")
def real_race(server: str) -> str:
    need_shared_data(*REAL_DATA)
    return build_session(server, REAL_RACE)


def _labels_apart(page: Any) -> int:
    """How many car labels the map drew, after checking that none covers another."""
    boxes = rr(page, ".labels()")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or abs(a["y"] - b["y"]) >= (a["h"] + b["h"]) / 2
            )
            assert apart, f"car labels overlap: {a} {b}"
    return len(boxes)


def _header_lap(page: Any) -> str:
    return str(page.inner_text("header.top .lap"))


def test_picker_lists_the_demo(server: str, chromium: Any) -> None:
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(server + "/")
    page.wait_for_selector("#picker button[data-session]")
    names = page.eval_on_selector_all(
        "#picker button[data-session]", "els => els.map(e => e.dataset.session)"
    )
    assert any(n.startswith("demo") for n in names), names
    shot(page, "00-picker")
    page.close()


@pytest.mark.realdata
def test_picker_browses_a_fastf1_season_and_opens_a_race(server: str, chromium: Any) -> None:
    """The FastF1 schedule (real FastF1, offline from ../shared/data) lists the season;
    its Race opens with FastF1 timing and the data folder's telemetry."""
    need_shared_data(*REAL_DATA)
    page = chromium.new_page(viewport=VIEWPORT)
    page.goto(server)
    page.wait_for_selector("#picker .fastf1:not([hidden])")
    page.select_option("select.season", "2025")
    race = page.locator(
        '#picker .events button[data-session="fastf1:2025/Australian Grand Prix/R"]'
    )
    race.wait_for(timeout=30_000)
    assert page.locator("#picker .events li").count() == 2  # offline: the events the caches hold
    shot(page, "00-picker-fastf1")
    race.click()
    wait_ready(page, timeout_ms=180_000)
    assert rr(page, ".order.length") == 20
    assert "Australian Grand Prix" in page.inner_text("header.top .title")
    page.close()


def test_play_seek_speed_pause_reload(demo: str, chromium: Any) -> None:
    page = open_page(chromium, demo)
    shot(page, "01-opened")
    assert rr(page, ".order.length") == 20
    # On the grid the cars stand metres apart: the labels that fit are drawn, none covered.
    assert _labels_apart(page) >= 4
    assert "Lap" in _header_lap(page)

    # Jump to lap 2: the header and the exposed state say lap 2.
    page.fill("form.jump input", "2")
    page.click("form.jump button")
    page.wait_for_function("() => window.__rr.leaderLap === 2", timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('header.top .lap').textContent.startsWith('Lap 2')"
    )
    shot(page, "02-lap2")

    # Play at 1x: the cars move on the map and the clock advances.
    before, frame0 = cars(page), rr(page, ".frame")
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.frame > {frame0} + 25")
    time.sleep(1.0)
    assert rr(page, ".playing") is True
    assert moved(before, cars(page), 3) >= 10, "cars did not move on the map while playing"
    board_before = page.inner_text(".lb-body")
    shot(page, "03-playing")

    # 64x: the lap counter advances and the leaderboard changes.
    page.select_option("select.speed", "64")
    page.wait_for_function("() => window.__rr.speed === 64")
    page.wait_for_function("() => window.__rr.leaderLap >= 3", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('header.top .lap').textContent.startsWith('Lap 3')"
    )
    assert page.inner_text(".lb-body") != board_before, "the leaderboard did not update"
    shot(page, "04-fast")

    # Back to lap 1 at 4x: the clock runs at least well above 1x.
    page.fill("form.jump input", "1")
    page.click("form.jump button")
    page.wait_for_function("() => window.__rr.leaderLap === 1", timeout=20_000)
    page.select_option("select.speed", "4")
    page.wait_for_function("() => window.__rr.speed === 4")
    f1, t1 = rr(page, ".frame"), time.monotonic()
    time.sleep(2.0)
    f2, t2 = rr(page, ".frame"), time.monotonic()
    assert f2 - f1 >= 1.5 * 25 * (t2 - t1), (f1, f2, t2 - t1)

    # Pause: the clock stops.
    page.keyboard.press("Space")
    page.wait_for_function("() => window.__rr.playing === false")
    time.sleep(0.5)
    paused = rr(page, ".frame")
    time.sleep(1.0)
    assert abs(rr(page, ".frame") - paused) < 1
    shot(page, "05-paused")

    # Keyboard: → skips 10 s, ← comes back, ? shows the help.
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => Math.abs(window.__rr.frame - {paused + 250}) < 2")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => Math.abs(window.__rr.frame - {paused}) < 2")
    page.keyboard.press("?")
    assert page.is_visible(".help")
    shot(page, "05-help")
    page.keyboard.press("Escape")
    assert page.is_hidden(".help")

    # N jumps to 5 s before the next incident marked on the seek bar; P, from 30 s
    # later, back to the same place.
    now = rr(page, ".sessionTime")
    marks = page.eval_on_selector_all(".marks .mark", "els => els.map(e => +e.dataset.time)")
    ahead = sorted(t for t in marks if t - 5 > now + 1)
    assert ahead, f"no incident marked after {now} s: {marks}"
    at_incident = f"() => Math.abs(window.__rr.sessionTime - {ahead[0] - 5}) < 0.05"
    page.keyboard.press("n")
    page.wait_for_function(at_incident)
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function(f"() => window.__rr.sessionTime > {ahead[0] + 20}")
    page.keyboard.press("p")
    page.wait_for_function(at_incident)
    # A race control message replays from its time on a click.
    message = page.locator(".feed li").first
    message_time = float(message.get_attribute("data-time") or "nan")
    message.click()
    page.wait_for_function(f"() => Math.abs(window.__rr.sessionTime - {message_time}) < 0.05")
    paused = rr(page, ".frame")  # still paused: the moment the URL below must reopen

    # The shareable URL reopens the same session at the same moment, speed and state.
    page.wait_for_function("() => location.search.includes('t=')")
    time.sleep(1.2)  # the URL is refreshed once a second
    url = page.evaluate("() => location.href")  # page.url misses history.replaceState
    again = open_page(chromium, url)
    page.wait_for_timeout(500)
    assert again.evaluate("() => window.__rr.playing") is False
    assert again.evaluate("() => window.__rr.speed") == 4
    assert abs(again.evaluate("() => window.__rr.frame") - paused) <= 5, url
    shot(again, "06-reloaded")
    assert not page.errors and not again.errors, page.errors + again.errors
    again.close()
    page.close()


def test_reconnect_resumes_at_the_same_moment(demo: str, chromium: Any) -> None:
    page = open_page(chromium, demo)
    page.click("footer .play")
    page.wait_for_function("() => window.__rr.frame > 50")
    page.evaluate("() => window.__rr.drop()")
    page.wait_for_function("() => window.__rr.reconnects >= 1", timeout=20_000)
    at_reconnect = rr(page, ".frame")
    time.sleep(1.5)
    after = rr(page, ".frame")
    # Still playing from where it was, not restarted from the beginning.
    assert after > at_reconnect > 50
    assert rr(page, ".playing") is True
    shot(page, "07-reconnected")

    # Switching the data rate while playing: the new rate arrives, the picture never waits.
    time.sleep(1.0)
    stalls = rr(page, ".stalls")
    for rate in ("5", "25"):
        page.select_option("select.rate", rate)
        page.wait_for_function(f"() => window.__rr.rate === {rate}", timeout=20_000)
        time.sleep(1.0)
    assert rr(page, ".stalls") == stalls, "switching the data rate stalled the picture"
    page.close()


def test_phone_sized_screen(demo: str, chromium: Any, tmp_path: Path) -> None:
    page = chromium.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(demo)
    wait_ready(page)
    # Nothing wider than the screen: the map and the leaderboard fit.
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
    assert page.is_visible("canvas.map") and page.is_visible(".lb-body")
    shot(page, "08-phone")
    page.close()


def _seek_time(page: Any, session_time: float) -> None:
    """Seek through the shareable URL's own mechanism: reopen at `t`, paused."""
    url = page.evaluate("() => location.href")
    page.goto(url.split("&t=")[0].split("?")[0] + "?" + _with_t(url, session_time))
    wait_ready(page)
    page.wait_for_function(
        f"() => Math.abs(window.__rr.sessionTime - {session_time}) < 0.2", timeout=30_000
    )
    time.sleep(0.5)  # one more leaderboard refresh (it runs five times a second)


def _with_t(url: str, session_time: float) -> str:
    from urllib.parse import parse_qs, urlencode, urlparse

    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    query.update(t=f"{session_time:.1f}", speed="1")
    query.pop("play", None)
    return urlencode(query)


@pytest.mark.realdata
def test_real_race_leaderboard_matches_official_order(
    server: str, real_race: str, chromium: Any
) -> None:
    laps = httpx.get(f"{server}/api/sessions/{real_race}/laps", timeout=60).json()["laps"]
    page = open_page(chromium, f"{server}/?session={quote(REAL_RACE)}")
    assert len(rr(page, ".order")) == 20

    # Lap 20 (green flag): once the top ten have all crossed the line, and before the
    # leader completes lap 21, the top ten show the official lap-end order.
    lap20 = sorted(
        (x for x in laps if x["lap"] == 20 and x["position"]), key=lambda x: x["position"]
    )
    top10 = lap20[:10]
    leader_next = next(x for x in laps if x["lap"] == 21 and x["driver"] == top10[0]["driver"])
    moment = max(x["end"] for x in top10) + 0.5
    assert moment < leader_next["end"]
    _seek_time(page, moment)
    assert rr(page, ".order")[:10] == [x["driver"] for x in top10]
    assert _header_lap(page).startswith("Lap 21"), _header_lap(page)
    assert _labels_apart(page) >= 12  # most of the field, spread round the lap
    shot(page, "10-real-lap20")

    # ALO crashed on lap 33: on the screen he is retired at his stop, not at the end of
    # the lap; HAD (formation-lap crash) never started.
    events = httpx.get(f"{server}/api/sessions/{real_race}/events", timeout=60).json()["events"]
    alo = next(e for e in events if e["kind"] == "retirement" and e["driver"] == "ALO")
    alo_lap_end = next(x["end"] for x in laps if x["driver"] == "ALO" and x["lap"] == 33)
    assert alo_lap_end is None or alo["time"] < alo_lap_end - 10
    _seek_time(page, alo["time"] + 2.0)
    assert page.inner_text('.lb-row[data-driver="ALO"] .status') == "RET"
    assert page.inner_text('.lb-row[data-driver="HAD"] .status') == "DNS"
    shot(page, "10b-real-alo-retired")
    _seek_time(page, alo["time"] - 3.0)
    assert page.inner_text('.lb-row[data-driver="ALO"] .status') != "RET"

    # The finish: the classification.
    last_end = max(x["end"] for x in laps if x["end"] is not None)
    _seek_time(page, last_end + 5)
    assert rr(page, ".order")[:10] == OFFICIAL_TOP10
    board = page.inner_text(".lb-body")
    assert "FIN" in board
    shot(page, "11-real-finish")
    page.close()


def test_throttled_link_plays_at_1x_without_a_stall(demo: str, chromium: Any) -> None:
    """256 kbit/s with 150 ms latency (DevTools network emulation, WebSocket included)."""
    page = chromium.new_page(viewport=VIEWPORT)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 150,
            "downloadThroughput": 256_000 / 8,
            "uploadThroughput": 256_000 / 8,
        },
    )
    page.goto(demo)
    wait_ready(page)
    play_from_lap(page, 2, "1")
    time.sleep(2.0)  # the first chunks after the seek arrive
    stalls, frame0, t0 = rr(page, ".stalls"), rr(page, ".frame"), time.monotonic()
    time.sleep(8.0)
    frame1, t1 = rr(page, ".frame"), time.monotonic()
    assert rr(page, ".stalls") == stalls, "the picture stalled waiting for data"
    assert frame1 - frame0 >= 0.8 * 25 * (t1 - t0)  # it really played at 1x
    assert page.is_hidden(".buffering")
    shot(page, "09-throttled")
    page.close()


def test_frontend_benchmark_report(demo: str, chromium: Any) -> None:
    """The front-end bench (`racereplay bench frontend`) runs on the real client: frames are
    drawn at 8x and each data rate plays as asked. Figures go to artifacts/e2e/frontend-bench.json;
    they are a report, not a pass mark (speed is judged by the benchmark, not by tests)."""
    import json

    from e2e_browser import ARTIFACTS

    from racereplay.bench.frontend import measure_bytes_per_minute, measure_frames

    report: dict[str, Any] = {"8x_20_cars": measure_frames(chromium, demo)}
    assert report["8x_20_cars"]["frames"] > 30
    for rate in (25, 10, 5, 2):
        per_minute = measure_bytes_per_minute(chromium, demo, rate)
        assert per_minute > 0
        report[f"bytes_per_replay_minute_at_{rate}fps"] = round(per_minute)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "frontend-bench.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


QUALIFYING = "demo?session=qualifying"
BEST_LAPS_SHOWN = (
    "() => [...document.querySelectorAll('.lb-row .best')].filter(e => e.textContent).length >= 5"
)


@pytest.fixture(scope="module")
def qualifying(server: str) -> str:
    build_session(server, QUALIFYING)
    return f"{server}/?session={quote(QUALIFYING)}"


def _board_rows(page: Any) -> list[dict[str, str]]:
    """The leaderboard top to bottom: driver, gap and best cells."""
    rows = page.eval_on_selector_all(
        ".lb-row",
        """els => els.map(e => ({y: new DOMMatrix(getComputedStyle(e).transform).m42,
            drv: e.querySelector('.drv').textContent, gap: e.querySelector('.gap').textContent,
            best: e.querySelector('.best').textContent}))""",
    )
    return sorted(rows, key=lambda r: r["y"])


def _lap_seconds(text: str) -> float:
    minutes, _, seconds = text.rpartition(":")
    return (int(minutes) * 60 if minutes else 0) + float(seconds)


def test_qualifying_segments_best_laps_and_ghosts(qualifying: str, chromium: Any) -> None:
    page = open_page(chromium, qualifying)
    tabs = page.eval_on_selector_all(".segments button", "els => els.map(e => e.textContent)")
    assert tabs == ["Q1", "Q2", "Q3"]
    assert rr(page, ".segment") == "Q1"

    # Q2: the tab jumps to its green light; once times are set, the board ranks by best lap
    # in Q2 with the gap to the fastest.
    page.click(".segments button[data-segment=Q2]")
    page.wait_for_function("() => window.__rr.segment === 'Q2'", timeout=20_000)
    assert "active" in page.get_attribute(".segments button[data-segment=Q2]", "class")
    page.select_option("select.speed", "16")
    page.click("footer .play")
    page.wait_for_function(BEST_LAPS_SHOWN, timeout=60_000)
    page.keyboard.press("Space")
    page.wait_for_function("() => window.__rr.playing === false")
    time.sleep(0.5)
    rows = _board_rows(page)
    timed = [r for r in rows if r["best"]]
    assert rows[0]["gap"] == "Fastest", rows[:3]
    bests = [_lap_seconds(r["best"]) for r in timed]
    assert bests == sorted(bests), timed  # ranked by best lap in the segment
    for r in timed[1:]:
        assert abs(float(r["gap"].lstrip("+")) - (_lap_seconds(r["best"]) - bests[0])) < 0.002
    shot(page, "12-qualifying-q2")

    # The fastest driver's laps, and a ghost comparison of two of them.
    page.click(f".lb-row[data-driver={rows[0]['drv']}]")
    page.wait_for_function("() => document.querySelectorAll('.g-laps tr').length >= 2")
    # The list marks the best flying lap: the one on the board.
    assert page.inner_text(".g-laps tr.pb td:nth-child(2)") == rows[0]["best"]
    page.click(".g-laps tr:nth-child(1) button")
    page.click(".g-laps tr.pb button")
    page.wait_for_selector(".g-compare:not([hidden])", timeout=20_000)
    page.wait_for_function("() => window.__rr.ghosts().filter(g => g.x === g.x).length === 2")
    assert page.eval_on_selector_all(".g-compare .uplot", "els => els.length") == 3
    before = page.evaluate("() => window.__rr.ghosts()")
    time.sleep(1.5)
    after = page.evaluate("() => window.__rr.ghosts()")
    both_moved = [
        ((a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2) ** 0.5 > 3
        for a, b in zip(before, after, strict=True)
    ]
    assert all(both_moved), (before, after)
    shot(page, "13-qualifying-ghosts")

    # Q3 tab: the board follows.
    page.click(".segments button[data-segment=Q3]")
    page.wait_for_function("() => window.__rr.segment === 'Q3'", timeout=20_000)

    # At phone width nothing is wider than the screen, tabs and comparison included.
    page.set_viewport_size({"width": 390, "height": 844})
    time.sleep(0.5)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.locator(".g-compare").scroll_into_view_if_needed()
    shot(page, "16-qualifying-phone")
    assert not page.errors, page.errors
    page.close()


def test_practice_ranks_by_best_lap(server: str, chromium: Any) -> None:
    name = "demo?session=practice"
    build_session(server, name)
    page = open_page(chromium, f"{server}/?session={quote(name)}")
    assert page.is_hidden(".segments")  # one session, no tabs
    page.select_option("select.speed", "64")
    page.click("footer .play")
    page.wait_for_function(BEST_LAPS_SHOWN, timeout=60_000)
    page.keyboard.press("Space")
    time.sleep(0.5)
    rows = [r for r in _board_rows(page) if r["best"]]
    assert rows[0]["gap"] == "Fastest"
    bests = [_lap_seconds(r["best"]) for r in rows]
    assert bests == sorted(bests), rows
    shot(page, "14-practice")
    page.close()


def _emulate(cdp: Any, kbit_s: float | None) -> None:
    """DevTools network emulation (None: off)."""
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 40 if kbit_s else 0,
            "downloadThroughput": kbit_s * 1000 / 8 if kbit_s else -1,
            "uploadThroughput": kbit_s * 1000 / 8 if kbit_s else -1,
        },
    )


def test_adaptive_rate_follows_the_measured_link(demo: str, chromium: Any) -> None:
    """16 kbit/s cannot carry 25 fps at 2x (about 27 kbit/s): auto steps down, and back
    up to 25 fps once the link is fast again. DevTools emulation throttles WebSocket
    frames too: the measured link falls to about 16 kbit/s."""
    page = chromium.new_page(viewport=VIEWPORT)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    page.goto(demo)
    wait_ready(page)
    play_from_lap(page, 2, "2")
    page.wait_for_function("() => window.__rr.rate === 25", timeout=20_000)
    time.sleep(3.0)
    assert rr(page, ".rate") == 25

    _emulate(cdp, 16)
    page.wait_for_function("() => window.__rr.rate <= 5", timeout=90_000)
    link = page.inner_text("header .net")
    assert "(auto)" in link
    shot(page, "15-adaptive-throttled")

    _emulate(cdp, None)
    page.wait_for_function("() => window.__rr.rate === 25", timeout=60_000)
    switches = rr(page, ".rateSwitches")
    assert any("→ 25" in s for s in switches), switches
    print(link, switches)
    page.close()
