"""Shared pieces of the end-to-end tests: a real server on a free port, Debian's
chromium driven by Playwright, screenshots under artifacts/e2e/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from racereplay.bench import shared_data
from racereplay.bench.frontend import (  # noqa: F401 (re-exported for the tests)
    CHROMIUM,
    STATIC_INDEX,
    launch,
    play_from_lap,
    rr,
    wait_ready,
)
from racereplay.server.process import serve_process

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = PROJECT_ROOT / "artifacts" / "e2e"
VIEWPORT = {"width": 1400, "height": 860}
AXE_SCRIPT = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
AXE_BLOCKING = ("serious", "critical")


def require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium (as root)")
    pytest.importorskip("playwright", reason="playwright is a dev extra: pip install -e .[dev]")
    if not STATIC_INDEX.exists():
        pytest.skip(f"the web client is not built ({STATIC_INDEX} missing): run `make web`")


# What `real_data_options()` serves; `need_shared_data(*REAL_DATA)` skips without it.
REAL_DATA = (shared_data.TRACINGINSIGHTS, shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)


def real_data_options() -> list[str]:
    """`serve` options for the real data in ../shared/data ([] when it is absent)."""
    if shared_data.missing(*REAL_DATA):
        return []
    return [
        *("--data", str(shared_data.TRACINGINSIGHTS)),
        *("--fastf1-cache", str(shared_data.FASTF1_CACHE)),
        *("--fastf1-http-cache", str(shared_data.FASTF1_HTTP_CACHE), "--offline"),
    ]


@contextmanager
def running_server(cache: Path, *extra: str, port: int | None = None) -> Iterator[str]:
    """`racereplay serve` on `port` (default: a free loopback port); yields its base URL."""
    args = ["--cache", str(cache), "--log-level", "warning", *extra]
    with serve_process(args, cache / "server.log", port=port) as (port, _):
        yield f"http://127.0.0.1:{port}"


def build_session(base: str, name: str, timeout: float = 600) -> str:
    """Open a session over REST and wait for its build; returns its id."""
    status = httpx.post(f"{base}/api/sessions", json={"name": name}, timeout=30).json()
    deadline = time.monotonic() + timeout
    while status["state"] != "ready":
        assert status["state"] != "failed", status
        assert time.monotonic() < deadline, f"{name} not built in {timeout} s: {status}"
        time.sleep(0.5)
        status = httpx.get(f"{base}/api/sessions/{status['id']}", timeout=30).json()
    return str(status["id"])


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


def open_page(
    chromium: Any, url: str, viewport: dict[str, int] | None = None, axe: bool = False
) -> Any:
    """A new page at `url`, ready to play; page errors are collected in `page.errors`.

    `axe`: the page's Content-Security-Policy is bypassed, so `axe_violations` can add
    axe-core's script (keep it off otherwise: the CSP is part of what the tests check)."""
    page = chromium.new_page(viewport=viewport or VIEWPORT, bypass_csp=axe)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_ready(page)
    page.errors = errors
    return page


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def cars(page: Any) -> list[tuple[float, float]]:
    return [(c["x"], c["y"]) for c in page.evaluate("() => window.__rr.cars()")]


def moved(before: list[tuple[float, float]], after: list[tuple[float, float]], px: float) -> int:
    """How many cars moved more than `px` pixels on the map."""
    count = 0
    for (x0, y0), (x1, y1) in zip(before, after, strict=True):
        if x0 == x0 and x1 == x1 and ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 > px:
            count += 1
    return count


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (its default rules:
    WCAG 2.0 and 2.1 A and AA, and best practices).

    axe.min.js comes from web/node_modules (a dev dependency: `make web` installs it)."""
    if not AXE_SCRIPT.exists():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `npm install` in web/ (or `make web`)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The page's CSP allows only its own scripts: a page from `open_page(..., axe=True)`
        # bypasses it, so that the script tag may go in.
        page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate("() => axe.run()")
    return [v for v in result["violations"] if v["impact"] in AXE_BLOCKING]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """axe's violations readably: each rule, then its offending elements and why."""
    lines: list[str] = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(
                f"    {' '.join(node['target'])}: {node['failureSummary'].splitlines()[-1].strip()}"
            )
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)
