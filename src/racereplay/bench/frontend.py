"""`racereplay bench frontend`: the web client's cost in a real headless Chromium.

Main-thread time per animation frame and dropped frames while 20 cars replay at
8x, first with the map and leaderboard alone, then with every panel open (a focused
driver's telemetry, mini-sectors and pit-exit ghost, the race trace, the laps box),
on the demo and on the shared Australian race where ../shared/data has it; and
bytes received per minute of replay at each data rate. Needs what the end-to-end
tests need (Debian's chromium, the `playwright` dev extra, the built web client);
without them the section says so and measures nothing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from racereplay.bench.report import BenchOptions, BenchResult, Target

TITLE = "Web client (headless Chromium)"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIC_INDEX = Path(__file__).resolve().parents[1] / "server" / "static" / "index.html"
SESSION = "demo?cars=20&laps=10"
VIEWPORT = {"width": 1400, "height": 860}
RATES = (25, 10, 5, 2)
REAL_LAP = 20  # mid-race on the shared Australian race: every car on track, stints under way


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (`make chromium` installs Debian's chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is missing (a dev extra: pip install -e .[dev])"
    if not STATIC_INDEX.exists():
        return f"the web client is not built ({STATIC_INDEX}): run `make web`"
    return None


def rr(page: Any, expr: str = "") -> Any:
    """Read the client's exposed state (`window.__rr`)."""
    return page.evaluate(f"() => window.__rr{expr}")


def wait_ready(page: Any, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "() => window.__rr && window.__rr.ready && window.__rr.drawn > 2", timeout=timeout_ms
    )


def play_from_lap(page: Any, lap: int, speed: str) -> None:
    page.fill("form.jump input", str(lap))
    page.click("form.jump button")
    page.wait_for_function(f"() => window.__rr.leaderLap === {lap}", timeout=30_000)
    page.select_option("select.speed", speed)
    page.click("footer .play")
    page.wait_for_function("() => window.__rr.playing === true")


def open_every_panel(page: Any) -> None:
    """Focus the leader (telemetry, mini-sectors, pit-exit ghost) and show the race trace."""
    page.locator(".lb-row").first.click()
    page.wait_for_function("() => !document.querySelector('.telemetry').hidden")
    page.locator(".analysis").scroll_into_view_if_needed()
    page.click(".an-tabs button[data-view=racetrace]")
    page.wait_for_function("() => window.__rr.analysis().view === 'racetrace'")


def measure_frames(
    browser: Any, url: str, seconds: float = 6.0, lap: int = 1, panels: bool = False
) -> dict[str, float]:
    """Animation-frame cost at 8x from `lap`: rAF callback time, task time, fps, drops."""
    page = browser.new_page(viewport=VIEWPORT)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url)
    wait_ready(page)
    play_from_lap(page, lap, "8")
    if panels:
        open_every_panel(page)
    time.sleep(1.5)

    def metrics() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    m0 = metrics()
    page.evaluate("() => { window.__rr.frameWork.length = 0; window.__rr.frameGaps.length = 0; }")
    time.sleep(seconds)
    m1 = metrics()
    work, gaps = sorted(rr(page, ".frameWork")), rr(page, ".frameGaps")
    stalls = rr(page, ".stalls")
    page.close()
    if not work or not gaps:
        raise RuntimeError("the client drew no frames while playing")
    vsync = statistics.median(gaps)
    frames = len(gaps)

    def per_frame(*names: str) -> float:
        return sum(m1[n] - m0[n] for n in names) * 1000 / frames

    return {
        "frames": frames,
        "fps": 1000 / statistics.mean(gaps),
        "dropped_frames": sum(round(g / vsync) - 1 for g in gaps if g > 1.5 * vsync),
        "raf_callback_ms_p50": work[len(work) // 2],
        "raf_callback_ms_p95": work[int(len(work) * 0.95)],
        "main_thread_task_ms_per_frame": per_frame("TaskDuration"),
        "script_ms_per_frame": per_frame("ScriptDuration"),
        "layout_style_ms_per_frame": per_frame("LayoutDuration", "RecalcStyleDuration"),
        "stalled_frames": stalls,
    }


def measure_open(browser: Any, url: str) -> float:
    """Seconds from navigating to `url` to the third frame drawn with the session's cars:
    what a viewer waits for, the session's build included when it is not cached."""
    page = browser.new_page(viewport=VIEWPORT)
    started = time.perf_counter()
    page.goto(url)
    wait_ready(page)
    seconds = time.perf_counter() - started
    page.close()
    return seconds


def measure_bytes_per_minute(browser: Any, url: str, rate: int, seconds: float = 4.0) -> float:
    """Bytes the client receives per minute of replay at a fixed data rate (8x)."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{url}&rate={rate}")
    wait_ready(page)
    play_from_lap(page, 1, "8")
    time.sleep(1.0)
    b0, f0 = rr(page, ".bytes"), rr(page, ".frame")
    time.sleep(seconds)
    b1, f1 = rr(page, ".bytes"), rr(page, ".frame")
    shown_rate = rr(page, ".rate")
    page.close()
    if shown_rate != rate:
        raise RuntimeError(f"asked for {rate} fps, the client plays {shown_rate}")
    return float((b1 - b0) / ((f1 - f0) / 25 / 60))


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    why = missing()
    if why:
        result.notes.append(f"skipped: {why}")
        return result
    from playwright.sync_api import sync_playwright

    from racereplay.bench import shared_data
    from racereplay.bench.server import server_process
    from racereplay.server.settings import Settings

    seconds = 3.0 if options.quick else 6.0
    real = shared_data.AUS_RACE if shared_data.AUS_RACE in shared_data.available() else None
    data_dirs = (shared_data.TRACINGINSIGHTS,) if real else ()
    with tempfile.TemporaryDirectory(prefix="rr-bench-web-") as tmp:
        scratch = Path(tmp)
        settings = Settings(cache_dir=scratch / "cache", data_dirs=data_dirs)
        with server_process(settings, scratch) as (port, _):
            base = f"http://127.0.0.1:{port}"
            _open_session(base, SESSION)
            url = f"{base}/?session={quote(SESSION)}"
            with sync_playwright() as p:
                browser = launch(p)
                try:
                    frames = measure_frames(browser, url, seconds)
                    panels = measure_frames(browser, url, seconds, panels=True)
                    real_panels, opens = None, None
                    if real:
                        real_url = f"{base}/?session={quote(real.name)}"
                        opens = (measure_open(browser, real_url), measure_open(browser, real_url))
                        real_panels = measure_frames(
                            browser, real_url, seconds, lap=REAL_LAP, panels=True
                        )
                    rates = RATES[:1] if options.quick else RATES
                    per_minute = {r: measure_bytes_per_minute(browser, url, r) for r in rates}
                finally:
                    browser.close()
    result.notes.append(
        f"`{SESSION}` at 8x in headless Chromium (software rendering, {VIEWPORT['width']}x"
        f"{VIEWPORT['height']}), server on 127.0.0.1; {frames['frames']} animation frames"
    )
    _add_frames(result, frames, "")
    _add_frames(result, panels, ", every panel open")
    if real is not None and real_panels is not None and opens is not None:
        _add_frames(result, real_panels, f", every panel open, {real.label} from lap {REAL_LAP}")
        cold, warm = opens
        result.add(
            f"page to first frames drawn, {real.label} from the archive's files, not built yet",
            cold,
            "s",
            warm,
            note="baseline: the same page again, the session built; the server's build "
            "process included",
        )
    else:
        why_not = shared_data.missing(shared_data.AUS_RACE.path)
        result.notes.append(f"the Australian race is not measured: {why_not}")
    for rate, value in per_minute.items():
        result.add(f"bytes received per minute of replay at {rate} fps", value / 1e3, "kB")
    return result


def _add_frames(result: BenchResult, frames: dict[str, float], where: str) -> None:
    fps = frames["fps"]
    result.add(f"animation frames per second at 8x{where}", fps, "fps", target=Target.at_least(59))
    result.add(f"dropped animation frames at 8x{where}", frames["dropped_frames"], "frames")
    result.add(
        f"rAF callback p95 at 8x{where}",
        frames["raf_callback_ms_p95"],
        "ms",
        target=Target.at_most(4.0),
    )
    result.add(f"rAF callback p50 at 8x{where}", frames["raf_callback_ms_p50"], "ms")
    result.add(
        f"main-thread task time per frame at 8x{where}",
        frames["main_thread_task_ms_per_frame"],
        "ms",
    )
    result.add(f"stalled frames at 8x{where}", frames["stalled_frames"], "frames")


def _open_session(base: str, name: str, timeout: float = 600) -> None:
    status = httpx.post(f"{base}/api/sessions", json={"name": name}, timeout=30).json()
    deadline = time.monotonic() + timeout
    while status["state"] != "ready":
        if status["state"] == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not build: {status}")
        time.sleep(0.5)
        status = httpx.get(f"{base}/api/sessions/{status['id']}", timeout=30).json()
