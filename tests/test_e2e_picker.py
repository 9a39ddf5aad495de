"""The session picker in Chromium, against `racereplay serve` offline on the shared data.

Real sessions come first, grouped by season and event and titled as people say them;
offline only the season the caches hold is offered; a built session is marked cached;
a refused (429) or failed open shows a readable message and a Retry, and takes its
progress off the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import need_shared_data
from e2e_browser import (
    REAL_DATA,
    VIEWPORT,
    axe_violations,
    build_session,
    describe_violations,
    real_data_options,
    require_browser,
    running_server,
    shot,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.realdata]

BROKEN = "tracinginsights:2025/Broken Grand Prix/Race"  # drivers.json, no lap files
AUS_RACE = "tracinginsights:2025/Australian Grand Prix/Race"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    need_shared_data(*REAL_DATA)
    broken = tmp_path_factory.mktemp("more-data")
    folder = broken / "2025" / "Broken Grand Prix" / "Race"
    folder.mkdir(parents=True)
    (folder / "drivers.json").write_text('{"drivers": [{"driver": "AAA", "team": "Nobody"}]}')
    cache = tmp_path_factory.mktemp("picker-cache")
    with running_server(cache, *real_data_options(), "--data", str(broken)) as base:
        yield base


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    page = chromium.new_page(viewport=VIEWPORT)
    yield page
    page.close()


@pytest.fixture
def axe_page(chromium: Any) -> Iterator[Any]:
    """A page axe-core can be added to (its Content-Security-Policy bypassed)."""
    page = chromium.new_page(viewport=VIEWPORT, bypass_csp=True)
    yield page
    page.close()


def _assert_accessible(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe on {where}:\n{describe_violations(violations)}"


def _texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def _show_picker(page: Any, base: str) -> None:
    page.goto(base + "/")
    page.wait_for_selector("#picker .sessions button[data-session]")


def test_real_sessions_come_first_grouped_by_season_and_event(server: str, axe_page: Any) -> None:
    page = axe_page
    _show_picker(page, server)
    assert _texts(page, "#picker .season-group > h2") == ["2025", "Demos"]
    assert _texts(page, "#picker .event-group > h3") == [
        "Australian Grand Prix",
        "Chinese Grand Prix",
        "Broken Grand Prix",  # no round in the schedule: after the events that have one
    ]
    assert _texts(page, "#picker .event-about") == [
        "Round 1 · Melbourne, Australia",
        "Round 2 · Shanghai, China",
    ]
    titles = _texts(page, "#picker .sessions .s-title")
    assert titles[:5] == [
        "Australian Grand Prix 2025 — Practice 1",
        "Australian Grand Prix 2025 — Qualifying",
        "Australian Grand Prix 2025 — Race",
        "Chinese Grand Prix 2025 — Race",
        "Broken Grand Prix 2025 — Race",
    ]
    assert titles[5:] == [
        "Demo race (simulated)",
        "Demo qualifying (simulated)",
        "Demo practice (simulated)",
    ]
    race = page.locator(f'#picker button[data-session="{AUS_RACE}"]')
    assert race.locator(".s-about").inner_text() == "Race · archive telemetry · 16 Mar 2025"
    assert page.locator("#picker .sessions .cached").count() == 0  # a fresh cache
    # Offline, only the season the FastF1 cache can open is offered (not 2026, 2027).
    seasons = page.eval_on_selector_all("select.season option", "os => os.map(o => o.value)")
    assert seasons == ["", "2025"]
    shot(page, "picker-groups")
    _assert_accessible(page, "the grouped picker")


def test_a_failed_build_says_so_offers_retry_and_clears_its_progress(
    server: str, axe_page: Any
) -> None:
    page = axe_page
    page.goto(f"{server}/?session={quote(BROKEN)}")
    retry = page.locator("#picker .error button.retry")
    retry.wait_for(timeout=60_000)
    _progress_cleared(page)
    error = page.locator("#picker .error")
    assert error.get_attribute("role") == "alert"
    assert error.locator(".problem-message").inner_text() == f"{BROKEN} could not be built."
    assert "no driver folders with lap files" in error.locator(".problem-detail").inner_text()
    assert "{" not in error.inner_text()  # the server's words, not its JSON
    shot(page, "picker-failed-open")
    _assert_accessible(page, "the picker after a failed open")
    retry.click()  # fails again (a failure is not cached): the same message, a new Retry
    page.locator("#picker .error button.retry").wait_for(timeout=60_000)
    _progress_cleared(page)
    assert page.locator("#replay").is_hidden()


def test_a_refused_name_is_explained_without_a_retry(server: str, page: Any) -> None:
    page.goto(f"{server}/?session={quote('demo?cars=lots')}")
    message = page.locator("#picker .error .problem-message")
    message.wait_for(timeout=30_000)
    assert message.inner_text() == "This server does not open demo?cars=lots."
    assert "cars" in page.locator("#picker .error .problem-detail").inner_text()
    assert page.locator("#picker .error button.retry").count() == 0  # retrying cannot help
    _progress_cleared(page)


def test_a_busy_server_asks_to_retry_and_a_built_session_is_marked_cached(
    server: str, page: Any
) -> None:
    """Two builds of this client's (its share: the first takes seconds, the second waits
    for it) make a third a 429; Retry, once they are done, opens it; then the picker
    marks the catalogue's session among them cached."""
    blockers = ["demo?session=qualifying", "demo?cars=6&laps=2"]
    for name in blockers:
        reply = httpx.post(f"{server}/api/sessions", json={"name": name}, timeout=30)
        assert reply.status_code == 202, reply.text
    page.goto(f"{server}/?session={quote('demo?cars=8&laps=2')}")
    message = page.locator("#picker .error .problem-message")
    message.wait_for(timeout=30_000)
    assert message.inner_text() == "The server is busy with other sessions: try again in 10 s."
    assert "at most 2" in page.locator("#picker .error .problem-detail").inner_text()
    _progress_cleared(page)
    for name in blockers:
        build_session(server, name, timeout=300)
    page.locator("#picker .error button.retry").click()
    wait_ready(page, timeout_ms=120_000)
    assert page.locator("#picker").is_hidden()

    _show_picker(page, server)
    cached = page.eval_on_selector_all(
        "#picker .sessions button:has(.cached)", "bs => bs.map(b => b.dataset.session)"
    )
    assert cached == ["demo?session=qualifying"]
    shot(page, "picker-cached")


def _progress_cleared(page: Any) -> None:
    """No "Opening…", no progress bar or line, no Cancel left on the picker."""
    assert "Opening" not in page.locator("#picker .hint").inner_text()
    assert page.locator("#picker .loading").is_hidden()
    assert page.locator("#picker .loading-text").inner_text() == ""
    assert page.locator("#picker .loading .cancel").count() == 0


def test_cancelling_an_open_clears_its_progress(server: str, page: Any) -> None:
    """A long build (a real race) is left to the server; the picker comes back clean."""
    race = "tracinginsights:2025/Chinese Grand Prix/Race"
    page.goto(f"{server}/?session={quote(race)}")
    cancel = page.locator("#picker .loading .cancel")
    cancel.wait_for(timeout=30_000)
    cancel.click()
    page.locator("#picker .sessions button[data-session]").first.wait_for(timeout=30_000)
    _progress_cleared(page)
    assert "Stopped waiting for" in page.locator("#picker .hint").inner_text()
    assert "session=" not in page.url  # a reload shows the picker, not the race again
