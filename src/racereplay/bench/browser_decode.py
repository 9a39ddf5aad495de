"""The web client's chunk decoder (web/src/codec.ts) timed in headless Chromium.

The decoder is transpiled with the client's own TypeScript (web/scripts/
transpile-codec.mjs) and loaded as a module into a blank page served from memory;
each chunk is decoded `repeats` times in a row and the mean time of one decode
(inflate + values + events, `performance.now()`) is kept per chunk. It runs on the page's
main thread: the worker runs the same code, without the page's other work.
"""

from __future__ import annotations

import base64
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parents[3] / "web"
ORIGIN = "http://decoder.bench"
PAGE = '<!doctype html><script type="module">import { decodeChunk } from "./codec.mjs";\
window.decodeChunk = decodeChunk; window.ready = true;</script>'

TIME_DECODES = """async ([chunks, repeats]) => {
  const bytes = chunks.map((b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  for (const b of bytes) await window.decodeChunk(b);  // warm up: compile and optimise
  const perChunk = [];
  for (const b of bytes) {
    // The clock is coarse (0.1 ms in a page that is not cross-origin isolated): time a
    // run of decodes of the same chunk and divide.
    const t = performance.now();
    for (let i = 0; i < repeats; i++) await window.decodeChunk(b);
    perChunk.push((performance.now() - t) / repeats);
  }
  return perChunk;
}"""


def missing() -> str | None:
    """Why the decoder cannot be timed here, or None."""
    from racereplay.bench.frontend import CHROMIUM

    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (`make chromium` installs Debian's chromium)"
    if shutil.which("node") is None or not (WEB / "node_modules" / "typescript").exists():
        return "node or web/node_modules is missing: run `make web` (npm ci)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is missing (a dev extra: pip install -e .[dev])"
    return None


def decode_ms_per_chunk(
    chunks: list[bytes], repeats: int = 20, source: Path | None = None
) -> list[float]:
    """Browser decode time (ms) of each compact chunk, the mean of `repeats` decodes.

    `source`: another copy of web/src (an older decoder, for comparisons)."""
    from playwright.sync_api import sync_playwright

    from racereplay.bench.frontend import launch

    with tempfile.TemporaryDirectory(prefix="racereplay-decoder-") as folder:
        subprocess.run(
            ["node", str(WEB / "scripts" / "transpile-codec.mjs"), folder]
            + ([str(source)] if source else []),
            check=True,
            cwd=WEB,
            timeout=120,
        )
        files = {p.name: p.read_bytes() for p in Path(folder).glob("*.mjs")}
    files["index.html"] = PAGE.encode()

    def serve(route: Any) -> None:
        name = route.request.url.removeprefix(ORIGIN + "/")
        body = files.get(name)
        if body is None:
            route.fulfill(status=404)
        else:
            kind = "text/html" if name.endswith(".html") else "text/javascript"
            route.fulfill(status=200, body=body, content_type=kind)

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.route(ORIGIN + "/**", serve)
            page.goto(ORIGIN + "/index.html")
            page.wait_for_function("() => window.ready === true")
            encoded = [base64.b64encode(c).decode() for c in chunks]
            return [float(x) for x in page.evaluate(TIME_DECODES, [encoded, repeats])]
        finally:
            browser.close()


def median_decode_ms(chunks: list[bytes], repeats: int = 20, source: Path | None = None) -> float:
    return statistics.median(decode_ms_per_chunk(chunks, repeats, source))
