"""`racereplay bench broadcast`: how closely the replay follows a video it is locked to.

A test video made here with Debian's ffmpeg (320x180, 25 fps, VP8 WebM) carries each
frame's own number twice: as text for a person, and as 16 black/white blocks of 20x20
pixels along its top (block i is bit i), which the page reads back. The video is opened
through the page's file input (as a viewer's own file: a blob URL, same origin, so a
canvas may read it), "this video frame is lights out" is set, and a scenario runs: play
at 1x, seeks forward and back (by the video, and by the replay's own controls), 2x,
pause, a seek while paused, resume.

In the page, each frame the video presents (requestVideoFrameCallback) is drawn into a
canvas and its blocks read: the frame number, hence the time the frame really shows.
Every animation frame, after the replay's loop has drawn, the session time the map shows
(`window.__rr.shownTime`) minus the lock's offset is compared with it: the error is what
a viewer would see between the video and the map, seeks and data waits included.

The end-to-end test (tests/test_e2e_broadcast.py) runs the same scenario with a loose
bound; the issue's target, p99 at most 100 ms, is checked here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from racereplay.bench.frontend import VIEWPORT, launch, missing, rr, wait_ready
from racereplay.bench.frontend import _open_session as open_session
from racereplay.bench.report import BenchOptions, BenchResult, Target

TITLE = "Locked to the broadcast (headless Chromium)"

FFMPEG = Path("/usr/bin/ffmpeg")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
SESSION = "demo?cars=6&laps=2"
VIDEO_FPS = 25
VIDEO_SECONDS = 40
BLOCK = 20  # px per bit of the frame-number code
BITS = 16
LIGHTS_OUT_AT = 10.0  # s into the test video: the frame the scenario calls lights out


def ffmpeg_missing() -> str | None:
    if not FFMPEG.exists():
        return f"{FFMPEG} is missing (`make ffmpeg` installs Debian's ffmpeg)"
    return None


def make_test_video(path: Path, seconds: int = VIDEO_SECONDS, fps: int = VIDEO_FPS) -> Path:
    """Write a VP8 WebM whose frames show their own number (text, and a 16-bit block code)."""
    # The code is made at 16x2 pixels (one per bit) and scaled up without smoothing: geq
    # on the full picture costs ~1 s per second of video, this a millisecond.
    code = (
        f"[0:v]format=gray,geq=lum='255*mod(floor(N/pow(2,X)),2)',"
        f"scale={BITS * BLOCK}:{BLOCK}:flags=neighbor,format=yuv420p[code]"
    )
    text = (
        f"[1:v]drawtext=fontfile={FONT}:fontsize=28:fontcolor=white:x=10:y=60:"
        r"text='frame %{eif\:n\:d}  %{pts\:hms}'[text]"
        if FONT.exists()
        else "[1:v]null[text]"
    )
    args = [
        str(FFMPEG),
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", f"color=c=black:s={BITS}x2:r={fps}:d={seconds}"),
        *("-f", "lavfi", "-i", f"color=c=0x303030:s={BITS * BLOCK}x160:r={fps}:d={seconds}"),
        *("-filter_complex", f"{code};{text};[code][text]vstack,format=yuv420p"),
        # A keyframe every second: seeks decode at most 25 frames.
        *("-c:v", "libvpx", "-b:v", "800k", "-g", str(fps), "-deadline", "realtime"),
        *("-cpu-used", "8", str(path)),
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return path


# Installed in the page: reads the code of every presented frame, and after each
# animation frame the replay draws, records the error (ms) of the replay's moment.
PROBE_JS = """
([fps, block, bits]) => {
  const v = document.querySelector("video.bc-video");
  const canvas = document.createElement("canvas");
  canvas.width = block * bits;
  canvas.height = block;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const probe = { on: false, phase: "", frame: -1, reads: 0, mismatches: 0, errors: [] };
  window.__bcProbe = probe;
  const onFrame = (_now, md) => {
    v.requestVideoFrameCallback(onFrame);
    ctx.drawImage(v, 0, 0, block * bits, block, 0, 0, block * bits, block);
    const px = ctx.getImageData(0, 0, block * bits, block).data;
    let n = 0;
    for (let i = 0; i < bits; i++)
      if (px[((block >> 1) * block * bits + block * i + (block >> 1)) * 4] > 128) n += 2 ** i;
    probe.frame = n;
    probe.reads++;
    if (Math.abs(md.mediaTime * fps - n) > 0.5) probe.mismatches++;
  };
  v.requestVideoFrameCallback(onFrame);
  // Registered after the replay's loop, so it runs after the loop drew in each frame.
  const tick = () => {
    requestAnimationFrame(tick);
    const lock = window.__rr.broadcast();
    if (!probe.on || probe.frame < 0 || lock.mode !== "video") return;
    const shown = window.__rr.shownTime - lock.offset;
    probe.errors.push([probe.phase, (shown - probe.frame / fps) * 1000]);
  };
  requestAnimationFrame(tick);
}
"""


@dataclass
class SyncErrors:
    """|replay - video| in ms over a scenario, per animation frame."""

    errors_ms: np.ndarray
    phases: list[str]
    frames_read: int
    mismatches: int  # frames whose code disagreed with their mediaTime

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.errors_ms, q))

    @property
    def worst(self) -> float:
        return float(self.errors_ms.max())

    def worst_by_phase(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for phase, e in zip(self.phases, self.errors_ms, strict=True):
            out[phase] = max(out.get(phase, 0.0), float(e))
        return out


def open_video(page: Any, video: Path) -> None:
    """Open the broadcast panel and load `video` through its file input."""
    if page.get_attribute("header .bc-btn", "aria-expanded") != "true":
        page.click("header .bc-btn")
    page.set_input_files("#broadcast-panel .bc-file", str(video))


def seek_video(page: Any, seconds: float) -> None:
    """Seek the video (as its own controls do) and wait until that frame is on screen."""
    page.evaluate(f"() => {{ document.querySelector('video.bc-video').currentTime = {seconds}; }}")
    page.wait_for_function(
        f"() => Math.abs(window.__rr.broadcast().presented - {seconds}) < 0.05", timeout=20_000
    )


def lock_at_lights_out(page: Any, at: float = LIGHTS_OUT_AT) -> None:
    """Put the video at `at` s and say "this video frame is lights out"."""
    page.wait_for_function(
        "() => !document.querySelector('#broadcast-panel .bc-frame').disabled", timeout=20_000
    )
    seek_video(page, at)
    page.select_option("#broadcast-panel .bc-moment", "start")
    page.click("#broadcast-panel .bc-frame")
    page.wait_for_function("() => window.__rr.broadcast().mode === 'video'")


def run_scenario(page: Any, hold: float = 1.0) -> SyncErrors:
    """Play, seek, 2x, pause and resume while locked; `hold`: seconds per step."""
    page.evaluate(PROBE_JS, [VIDEO_FPS, BLOCK, BITS])

    def phase(name: str) -> None:
        page.evaluate(f"() => {{ window.__bcProbe.phase = {name!r}; }}")

    def video(js: str) -> None:
        page.evaluate(f"() => {{ const v = document.querySelector('video.bc-video'); {js}; }}")

    page.evaluate("() => { window.__bcProbe.on = true; }")
    phase("paused")
    time.sleep(hold / 2)
    phase("play 1x")
    page.click("footer .play")  # the replay's own button plays the video
    page.wait_for_function("() => !document.querySelector('video.bc-video').paused")
    time.sleep(2 * hold)
    for name, target in (("seek forward", 30.0), ("seek back", 5.0), ("seek forward", 14.0)):
        phase(name)
        video(f"v.currentTime = {target}")
        time.sleep(hold)
    phase("skip +10 s (replay's button)")
    page.click("footer button.skip[data-s='10']")
    time.sleep(hold)
    phase("play 2x")
    page.select_option("select.speed", "2")  # the replay's speed sets the video's rate
    time.sleep(2 * hold)
    phase("seek back at 2x")
    video("v.currentTime = 12")
    time.sleep(hold)
    phase("pause")
    page.click("footer .play")
    time.sleep(hold / 2)
    phase("seek while paused")
    video("v.currentTime = 20")
    time.sleep(hold / 2)
    phase("resume")
    page.click("footer .play")
    time.sleep(hold)
    video("v.pause()")
    probe = page.evaluate(
        "() => { const p = window.__bcProbe; p.on = false;"
        " return { errors: p.errors, reads: p.reads, mismatches: p.mismatches }; }"
    )
    if not probe["errors"]:
        raise RuntimeError("no frame was measured: the lock or the probe did not run")
    return SyncErrors(
        errors_ms=np.abs(np.array([e for _, e in probe["errors"]], dtype=float)),
        phases=[p for p, _ in probe["errors"]],
        frames_read=int(probe["reads"]),
        mismatches=int(probe["mismatches"]),
    )


def measure(browser: Any, base: str, video: Path, hold: float) -> SyncErrors:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{base}/?session={quote(SESSION)}")
    wait_ready(page)
    open_video(page, video)
    lock_at_lights_out(page)
    errors = run_scenario(page, hold)
    if rr(page, ".broadcast().mode") != "video":
        raise RuntimeError("the lock was lost during the scenario")
    page.close()
    return errors


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    why = missing() or ffmpeg_missing()
    if why:
        result.notes.append(f"skipped: {why}")
        return result
    from playwright.sync_api import sync_playwright

    from racereplay.bench.server import server_process
    from racereplay.server.settings import Settings

    hold = 1.0 if options.quick else 2.0
    runs = options.repeats(3, 1)
    with tempfile.TemporaryDirectory(prefix="rr-bench-broadcast-") as tmp:
        scratch = Path(tmp)
        video = make_test_video(scratch / "frames.webm")
        with server_process(Settings(cache_dir=scratch / "cache"), scratch) as (port, _):
            base = f"http://127.0.0.1:{port}"
            open_session(base, SESSION)
            with sync_playwright() as p:
                browser = launch(p)
                try:
                    measured = [measure(browser, base, video, hold) for _ in range(runs)]
                finally:
                    browser.close()
        shutil.rmtree(scratch / "cache", ignore_errors=True)
    errors = SyncErrors(
        errors_ms=np.concatenate([m.errors_ms for m in measured]),
        phases=[p for m in measured for p in m.phases],
        frames_read=sum(m.frames_read for m in measured),
        mismatches=sum(m.mismatches for m in measured),
    )
    result.notes.append(
        f"`{SESSION}` and a generated {VIDEO_SECONDS} s 320x180 {VIDEO_FPS} fps VP8 video, "
        f"opened through the file input; {runs} run(s) of: lock at lights out, play 1x, "
        "seeks forward and back (the video's and the replay's +10 s), 2x, a seek at 2x, "
        f"pause, a seek while paused, resume ({hold:g} s per step); headless Chromium, "
        "server on 127.0.0.1; error = |session time the map shows - offset - time of the "
        f"video frame on screen (read from its pixels)|, every animation frame "
        f"({len(errors.errors_ms)} frames, {errors.frames_read} video frames read, "
        f"{errors.mismatches} whose code disagreed with their mediaTime)"
    )
    worst = ", ".join(f"{k} {v:.0f}" for k, v in errors.worst_by_phase().items())
    result.notes.append(f"worst error by step (ms): {worst}")
    result.add("replay vs video error p50", errors.percentile(50), "ms")
    result.add("replay vs video error p99", errors.percentile(99), "ms", target=Target.at_most(100))
    result.add("replay vs video error max", errors.worst, "ms")
    return result
