"""A watch party end to end: two Chromium tabs on two replicas that share a real Redis and
a cache folder. The host starts a party and shares its link; the guest opens it on the
other replica; the host seeks, plays and pauses, and the guest's clock follows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from e2e_browser import (
    axe_violations,
    build_session,
    describe_violations,
    open_page,
    rr,
    running_server,
    shot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = "demo?cars=6&laps=2"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, redis_service: str) -> Iterator[list[str]]:
    cache: Path = tmp_path_factory.mktemp("party-cache")
    with (
        running_server(cache, "--redis", redis_service) as a,
        running_server(cache, "--redis", redis_service) as b,
    ):
        build_session(a, DEMO)
        yield [a, b]


def frame_now(page: Any) -> float:
    return float(rr(page, ".clockAt().frame"))


def test_a_guest_on_another_replica_follows_the_hosts_clock(
    chromium: Any, replicas: list[str]
) -> None:
    a, b = replicas
    host = open_page(chromium, f"{a}/?session={quote(DEMO)}", axe=True)
    host.click("header .room-btn")
    host.fill("#room-panel .room-name", "Ana")
    host.click("#room-panel .room-create")
    host.wait_for_function("() => window.__rr.room() !== null")
    link = host.input_value("#room-panel .room-link")
    room = rr(host, ".room()")
    assert f"room={room['id']}" in link and "session=" in link
    # The party link on the other replica (same path and query, another server).
    guest = open_page(chromium, f"{b}/?{link.split('?', 1)[1]}")
    guest.wait_for_function("() => window.__rr.room() && window.__rr.room().members.length === 2")
    host.wait_for_function("() => window.__rr.room().members.length === 2")
    members = host.inner_text("#room-panel .room-members")
    assert "Ana (host, you)" in members
    assert rr(guest, ".room().host") == room["you"]
    violations = axe_violations(host)  # the open panel, the host's tools shown
    assert not violations, describe_violations(violations)

    # The host jumps to lap 2: the guest's clock jumps there too.
    host.fill("form.jump input", "2")
    host.click("form.jump button")
    host.wait_for_function("() => window.__rr.leaderLap === 2", timeout=30_000)
    target = frame_now(host)
    guest.wait_for_function(
        f"() => Math.abs(window.__rr.clockAt().frame - {target}) < 2", timeout=30_000
    )

    # Play, then pause: the guest plays and stops at the host's moment.
    host.click("footer .play")
    guest.wait_for_function("() => window.__rr.playing === true", timeout=30_000)
    host.wait_for_timeout(1500)
    host.click("footer .play")
    guest.wait_for_function("() => window.__rr.room().clock.playing === false", timeout=30_000)
    guest.wait_for_function("() => window.__rr.playing === false", timeout=30_000)
    stopped = frame_now(host)
    assert stopped > target
    assert abs(frame_now(guest) - stopped) < 3, (frame_now(guest), stopped)

    # A guest may not move the party's clock: it says so, and stays at the room's moment.
    guest.click("footer .play")
    guest.wait_for_function(
        "() => document.querySelector('#room-panel .room-status').textContent.includes('host')"
    )
    assert rr(guest, ".room().clock.playing") is False
    assert abs(frame_now(guest) - stopped) < 3

    # The guest leaves: it watches alone from there, and can rejoin.
    guest.click("#room-panel .room-leave")
    guest.wait_for_function("() => window.__rr.room() === null")
    assert guest.is_visible("#room-panel .room-rejoin")
    host.wait_for_function("() => window.__rr.room().members.length === 1")
    shot(host, "rooms-host")
    shot(guest, "rooms-guest-left")
    assert not host.errors and not guest.errors, (host.errors, guest.errors)
    host.close()
    guest.close()
