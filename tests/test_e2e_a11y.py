"""Keyboard and screen reader, end to end: the real server, the built client, Chromium.

axe-core (web/node_modules/axe-core) finds no serious or critical WCAG violation on
the picker, on a playing race or in qualifying; the leaderboard, the seek bar's marks and the help
dialog work from the keyboard alone; the polite live region announces what happens
during playback; reduced motion turns the board's slides off.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from e2e_browser import (
    VIEWPORT,
    axe_violations,
    build_session,
    describe_violations,
    open_page,
    require_browser,
    rr,
    running_server,
)

pytestmark = pytest.mark.e2e

# A short race with an incident: a retirement on lap 2 (yellow flag, race control
# messages), then the Safety Car (src/racereplay/sources/demo/race.py, plan_race).
DEMO = "demo?cars=10&laps=8"
MAX_TABS = 80  # more Tab presses than the page has stops


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("a11y-cache")) as base:
        build_session(base, DEMO)
        yield base


@pytest.fixture
def race(server: str, chromium: Any) -> Iterator[Any]:
    page = open_page(chromium, f"{server}/?session={quote(DEMO)}", axe=True)
    yield page
    assert not page.errors, page.errors
    page.close()


def _assert_no_serious_violations(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe on {where}:\n{describe_violations(violations)}"


def _active(page: Any, expr: str) -> Any:
    """`expr` of the focused element (`el`), e.g. "el.dataset.driver"."""
    return page.evaluate(f"() => {{ const el = document.activeElement; return {expr}; }}")


def _tab_to(page: Any, selector: str) -> None:
    """Press Tab until the focus is on an element matching `selector`."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if _active(page, f"el.matches({selector!r})"):
            return
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {selector}")


def _play_to_lap(page: Any, lap: int, speed: str) -> None:
    page.fill("form.jump input", str(lap))
    page.press("form.jump input", "Enter")
    page.wait_for_function(f"() => window.__rr.leaderLap === {lap}", timeout=30_000)
    page.select_option("select.speed", speed)
    page.click("footer .play")
    page.wait_for_function("() => window.__rr.playing === true")


def test_picker_has_no_serious_axe_violations(server: str, chromium: Any) -> None:
    page = chromium.new_page(viewport=VIEWPORT, bypass_csp=True)
    page.goto(f"{server}/")
    page.wait_for_selector("#picker .sessions button")
    _assert_no_serious_violations(page, "the picker")
    page.close()


def test_playing_race_has_no_serious_axe_violations(race: Any) -> None:
    # Past the retirement, a driver followed (telemetry, laps), sector colours shown.
    race.click(".lb-row")
    _play_to_lap(race, 4, "4")
    race.wait_for_selector(".lb-row.retired")
    race.wait_for_selector(".g-laps tr")
    _assert_no_serious_violations(race, "a playing race")
    race.keyboard.press("?")
    assert race.evaluate("() => document.querySelector('dialog.help').open")
    _assert_no_serious_violations(race, "the help dialog")


@pytest.mark.slow
def test_qualifying_has_no_serious_axe_violations(server: str, chromium: Any) -> None:
    # Q2: the active tab, the knocked-out greyed, purple (overall best) sectors.
    name = "demo?session=qualifying&cars=16&minutes=30"
    build_session(server, name)
    page = open_page(chromium, f"{server}/?session={quote(name)}", axe=True)
    page.click(".segments button[data-segment=Q2]")
    page.wait_for_function("() => window.__rr.segment === 'Q2'", timeout=20_000)
    page.select_option("select.speed", "64")
    page.click("footer .play")
    page.wait_for_selector(".lb-row.out")
    page.wait_for_selector(".lb-row .ob")
    # Paused, with no row mid-move: at 64x rows reorder constantly, and a row sliding
    # over another's green sector cell reads to axe as text on that green.
    page.click("footer .play")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.lb-row')]"
        ".every((row) => row.getAnimations().length === 0)"
    )
    _assert_no_serious_violations(page, "qualifying")
    assert not page.errors, page.errors
    page.close()


def test_leaderboard_marks_and_help_from_the_keyboard(race: Any) -> None:
    # Tab reaches the leaderboard; Enter follows the driver of the focused row.
    _tab_to(race, ".lb-row")
    code = _active(race, "el.dataset.driver")
    assert race.locator(".lb-row.focused").count() == 0
    race.keyboard.press("Enter")
    race.wait_for_function(
        f"() => document.querySelector('.t-driver').textContent.startsWith('{code}')"
    )
    race.wait_for_selector(f".lb-row.focused[data-driver={code}][aria-selected=true]")
    # ↓ moves to the next row of the running order shown.
    order = race.evaluate("() => window.__rr.order")
    at = order.index(code)
    down = at + 1 < len(order)
    race.keyboard.press("ArrowDown" if down else "ArrowUp")
    nxt = order[at + 1 if down else at - 1]
    assert _active(race, "el.dataset.driver") == nxt
    # Space stays play / pause with a row focused (the media player's convention), and
    # the keyboard's place stays on the row.
    playing = race.evaluate("() => window.__rr.playing")
    race.keyboard.press("Space")
    race.wait_for_function(f"() => window.__rr.playing === {str(not playing).lower()}")
    race.keyboard.press("Space")
    race.wait_for_function(f"() => window.__rr.playing === {str(playing).lower()}")
    assert _active(race, "el.dataset.driver") == nxt

    # ? opens the help as a modal dialog; Escape closes it and the focus comes back.
    row = _active(race, "el.dataset.driver")
    race.keyboard.press("?")
    assert race.evaluate("() => document.querySelector('dialog.help').open")
    assert _active(race, "!!el.closest('dialog.help')")
    race.keyboard.press("Escape")
    assert race.evaluate("() => !document.querySelector('dialog.help').open")
    assert _active(race, "el.dataset.driver") == row

    # The seek bar's marks: Tab reaches them, Enter jumps 5 s before the mark.
    _tab_to(race, ".marks .mark")
    mark = float(_active(race, "el.dataset.time"))
    assert _active(race, "el.getAttribute('aria-label')")
    race.keyboard.press("Enter")
    race.wait_for_function(f"() => Math.abs(window.__rr.sessionTime - {mark - 5}) < 0.05")


def test_live_region_announces_the_incident_during_playback(race: Any) -> None:
    race.click(".lb-row")
    # N: 5 s before the first incident (the retirement); then play through it.
    now = rr(race, ".sessionTime")
    marks = race.eval_on_selector_all(".marks .mark", "els => els.map(e => +e.dataset.time)")
    first = min(t for t in marks if t - 5 > now + 1)
    race.keyboard.press("n")
    race.wait_for_function(f"() => Math.abs(window.__rr.sessionTime - {first - 5}) < 0.05")
    race.select_option("select.speed", "2")
    race.click("footer .play")
    race.wait_for_function(
        """() => window.__rr.announcements().some(
            (a) => a.startsWith('Track status:') || a.startsWith('Race control:'))""",
        timeout=60_000,
    )
    said = rr(race, ".announcements()")
    region = race.locator(".announcer")
    assert region.get_attribute("aria-live") == "polite"
    assert region.text_content().strip() == said[-1].strip(), said
    # The followed driver was announced, and the map's text summary tells the moment.
    assert any(a.startswith("Following ") for a in said), said
    summary = race.text_content("#map-summary")
    assert summary.startswith("Lap ") and "Track status:" in summary and "Following" in summary


def test_reduced_motion_stops_the_leaderboard_slides(server: str, chromium: Any) -> None:
    page = chromium.new_page(viewport=VIEWPORT, reduced_motion="reduce")
    page.goto(f"{server}/?session={quote(DEMO)}")
    page.wait_for_function("() => document.querySelector('.leaderboard.animated')")
    slide = page.evaluate(
        "() => getComputedStyle(document.querySelector('.lb-row')).transitionDuration"
    )
    assert slide == "0s", slide
    page.close()
