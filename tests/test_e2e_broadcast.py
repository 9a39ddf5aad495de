"""The replay locked to the broadcast, end to end: the real server, the built client,
headless Chromium, and a test video made by Debian's ffmpeg whose frames carry their
own number (src/racereplay/bench/broadcast.py).

The viewer opens the video through the page's file input, says "this video frame is
lights out", and the replay follows the video through play, seeks (the video's and the
replay's own), 2x, pause and resume: every animation frame, the session time the map
shows minus the offset is compared with the time of the video frame on screen, read
from its pixels. The bound here is loose (a busy machine passes); the issue's 100 ms
p99 is `racereplay bench broadcast`'s. Bad input: an undecodable video and a sync point
outside the session each say so, and the replay plays on. Plain mode: "Lights out now"
puts the replay at lights out, playing at 1x on the wall clock; nudges move it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_browser import build_session, open_page, require_browser, rr, running_server, shot

from racereplay.bench.broadcast import (
    LIGHTS_OUT_AT,
    ffmpeg_missing,
    lock_at_lights_out,
    make_test_video,
    open_video,
    run_scenario,
)

pytestmark = pytest.mark.e2e

DEMO = "demo?cars=6&laps=2"
PANEL = "#broadcast-panel"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("e2e-broadcast")) as base:
        session_id = build_session(base, DEMO)
        meta = httpx.get(f"{base}/api/sessions/{session_id}/metadata", timeout=30).json()
        yield base, meta


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = ffmpeg_missing()
    if why:
        pytest.skip(f"no test video: {why}")
    return make_test_video(tmp_path_factory.mktemp("broadcast-video") / "frames.webm")


def _open(chromium: Any, base: str) -> Any:
    return open_page(chromium, f"{base}/?session={quote(DEMO)}")


def _status(page: Any) -> str:
    return str(page.inner_text(f"{PANEL} .bc-status"))


def test_replay_follows_the_video_through_play_seek_speed_and_pause(
    server: tuple[str, dict[str, Any]], video: Path, chromium: Any
) -> None:
    base, meta = server
    page = _open(chromium, base)
    open_video(page, video)
    page.wait_for_function(f"() => !document.querySelector('{PANEL} .bc-frame').disabled")

    # A sync point outside the session is refused, and nothing is locked.
    page.select_option(f"{PANEL} .bc-moment", "clock")
    page.fill(f"{PANEL} .bc-clock", "9:00:00")
    page.click(f"{PANEL} .bc-frame")
    assert "outside this session" in _status(page)
    assert rr(page, ".broadcast()")["problem"] is True
    assert rr(page, ".broadcast().mode") == "off"

    lock_at_lights_out(page)
    lock = rr(page, ".broadcast()")
    start = meta["info"]["start_time"]
    assert lock["offset"] == pytest.approx(start - LIGHTS_OUT_AT, abs=0.021), lock
    assert "lights out" in _status(page)

    errors = run_scenario(page, hold=0.8)
    worst = errors.worst_by_phase()
    # Every step was measured, over many frames; the codes read agree with mediaTime.
    assert {"play 1x", "seek forward", "seek back", "play 2x", "resume"} <= set(worst)
    assert len(errors.errors_ms) > 100, len(errors.errors_ms)
    # The probe reads the codes (a broken one would disagree nearly always); around seeks
    # a loaded machine's Chromium hands out some frames whose mediaTime is not the frame
    # painted (27 of 252 in one full run), which says nothing about the replay.
    assert errors.mismatches <= max(3, errors.frames_read // 4), errors
    p99 = errors.percentile(99)
    print(f"replay vs video: p50 {errors.percentile(50):.1f} ms, p99 {p99:.1f} ms, worst {worst}")
    assert p99 < 500, f"the replay strays from the video: p99 {p99:.0f} ms, worst by step {worst}"
    shot(page, "broadcast-locked")

    # A nudge moves the replay against the video by exactly that much.
    before = rr(page, ".broadcast().offset")
    page.click(f"{PANEL} button.bc-nudge[data-s='0.1']")
    page.click(f"{PANEL} button.bc-nudge[data-s='1']")
    assert rr(page, ".broadcast().offset") == pytest.approx(before + 1.1, abs=1e-9)
    page.click(f"{PANEL} .bc-unlock")
    assert rr(page, ".broadcast().mode") == "off"
    assert page.errors == []


def test_an_undecodable_video_says_so_and_the_replay_plays_on(
    server: tuple[str, dict[str, Any]], chromium: Any, tmp_path: Path
) -> None:
    base, _ = server
    broken = tmp_path / "broken.webm"
    broken.write_text("this is not a video, only text with a video's name\n" * 50)
    page = _open(chromium, base)
    open_video(page, broken)
    page.wait_for_function("() => window.__rr.broadcast().problem", timeout=20_000)
    assert "cannot be played" in _status(page)
    assert page.is_hidden(f"{PANEL} video.bc-video")
    assert rr(page, ".broadcast().mode") == "off"
    before = rr(page, ".sessionTime")
    page.click("footer .play")
    page.wait_for_function(f"() => window.__rr.playing && window.__rr.sessionTime > {before + 1}")
    assert page.errors == []


def test_lights_out_now_plays_from_lights_out_at_1x_on_the_wall_clock(
    server: tuple[str, dict[str, Any]], chromium: Any
) -> None:
    base, meta = server
    fps, start, t0 = meta["fps"], meta["info"]["start_time"], meta["t0"]
    page = _open(chromium, base)
    page.click("header .bc-btn")
    assert page.inner_text(f"{PANEL} .bc-now") == "Lights out now"
    pressed = page.evaluate(
        f"() => {{ document.querySelector('{PANEL} .bc-now').click();"
        " return performance.timeOrigin + performance.now(); }"
    )
    assert rr(page, ".broadcast().mode") == "wall"
    page.wait_for_function("() => window.__rr.playing && window.__rr.speed === 1")

    def at_lights_out_plus_wall_time(nudged: float) -> None:
        now = rr(page, ".clockAt()")
        elapsed = (now["wall"] - pressed) / 1000
        expected = (start + nudged - t0 + elapsed) * fps
        # The clock is read in the same evaluate as its wall time: only rounding differs.
        assert now["frame"] == pytest.approx(expected, abs=0.05 * fps), (now, expected)

    at_lights_out_plus_wall_time(0.0)
    time.sleep(1.0)
    at_lights_out_plus_wall_time(0.0)
    page.click(f"{PANEL} button.bc-nudge[data-s='1']")
    page.click(f"{PANEL} button.bc-nudge[data-s='-0.1']")
    at_lights_out_plus_wall_time(0.9)
    assert "nudged +0.9 s" in page.inner_text(f"{PANEL} .bc-offset")
    # The map shows that moment once its data is there.
    page.wait_for_function(f"() => Math.abs(window.__rr.shownTime - {start}) < 30")

    # The viewer's own controls hand the clock back.
    page.click("footer .play")
    assert rr(page, ".broadcast().mode") == "off"
    assert "took the controls" in _status(page)
    assert page.errors == []
