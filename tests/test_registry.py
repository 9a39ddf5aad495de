"""The registry: single flight, a bounded build queue, failures not cached, eviction."""

from __future__ import annotations

import asyncio

import pytest
from test_server_support import FAIL_SEED, HOLD_SEED, ToyBuilder

from racereplay.replay.registry import BuildFailed, BuildState, Registry
from racereplay.sources import SessionRef


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_one_build_for_a_hundred_simultaneous_requests() -> None:
    async def scenario() -> None:
        builder = ToyBuilder()
        registry = Registry(builder)
        ref = SessionRef.parse("demo?cars=3&laps=1")
        sessions = await asyncio.gather(*(registry.get(ref) for _ in range(100)))
        assert len(builder.builds) == 1
        assert len({id(s) for s in sessions}) == 1
        assert registry.status(ref.key).state is BuildState.READY

    run(scenario())


def test_builds_queue_beyond_the_limit_with_positions_and_progress() -> None:
    async def scenario() -> None:
        builder = ToyBuilder()
        registry = Registry(builder, max_builds=1)
        first = SessionRef.parse(f"demo?seed={HOLD_SEED}")
        second = SessionRef.parse("demo?laps=1")
        third = SessionRef.parse("demo?laps=2")
        seen: list[tuple[str, float, int | None]] = []
        waiting = asyncio.ensure_future(registry.get(first))
        await asyncio.sleep(0.05)
        later = asyncio.ensure_future(
            registry.get(
                third, lambda s: seen.append((s.state.value, s.fraction, s.queue_position))
            )
        )
        await asyncio.sleep(0.01)  # let `later` queue first
        registry.open(second)
        await asyncio.sleep(0.05)
        assert registry.status(first.key).state is BuildState.BUILDING
        try:
            assert registry.status(second.key).queue_position == 2
            assert registry.status(third.key).queue_position == 1
        finally:
            builder.release()
        await asyncio.gather(waiting, later)
        assert ("queued", 0.0, 1) in seen
        assert any(state == "building" and 0 < f < 1 for state, f, _ in seen)
        assert seen[-1][0] == "ready"
        await registry.get(second)
        assert builder.builds == [str(first), str(third), str(second)]

    run(scenario())


def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    async def scenario() -> None:
        builder = ToyBuilder()
        registry = Registry(builder)
        ref = SessionRef.parse(f"demo?seed={FAIL_SEED}")
        results = await asyncio.gather(
            *(registry.get(ref) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, BuildFailed) and "told to fail" in str(r) for r in results)
        assert len(builder.builds) == 1
        assert registry.status(ref.key).state is BuildState.FAILED
        with pytest.raises(BuildFailed):
            await registry.get(ref)
        assert len(builder.builds) == 2  # retried, not served from a cached failure

    run(scenario())


def test_a_waiter_leaving_cancels_nothing_the_others_wait_for() -> None:
    async def scenario() -> None:
        builder = ToyBuilder()
        registry = Registry(builder)
        ref = SessionRef.parse(f"demo?seed={HOLD_SEED}")
        leaver = asyncio.ensure_future(registry.get(ref))
        stayer = asyncio.ensure_future(registry.get(ref))
        await asyncio.sleep(0.05)
        leaver.cancel()
        await asyncio.sleep(0.01)
        builder.release()
        session = await stayer
        assert session.timeline.n_frames > 0
        assert len(builder.builds) == 1

    run(scenario())


def test_settled_waits_for_the_build_to_end_or_the_timeout() -> None:
    async def scenario() -> None:
        builder = ToyBuilder()
        registry = Registry(builder)
        ref = SessionRef.parse(f"demo?seed={HOLD_SEED}")
        registry.open(ref)
        await registry.settled(ref.key, timeout=0.05)  # held: the timeout ends the wait
        assert registry.status(ref.key).state is not BuildState.READY  # type: ignore[union-attr]
        waiter = asyncio.ensure_future(registry.settled(ref.key, timeout=60))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        builder.release()
        await asyncio.wait_for(waiter, 30)  # the build's end, long before the timeout
        assert registry.status(ref.key).state is BuildState.READY  # type: ignore[union-attr]
        await registry.settled(ref.key, timeout=60)  # nothing building: at once

    run(scenario())


def test_eviction_by_idle_time_and_memory_budget_spares_watched_sessions() -> None:
    async def scenario() -> None:
        registry = Registry(ToyBuilder(), idle_seconds=60)
        a = await registry.get(SessionRef.parse("demo?laps=1"))
        b = await registry.get(SessionRef.parse("demo?laps=2"))
        registry.attach(a)
        assert registry.evict(now=a.last_used + 120) == [b.id]  # b idle, a watched
        c = await registry.get(SessionRef.parse("demo?laps=3"))
        registry.memory_budget = a.nbytes + 1  # room for one: c goes, a is watched
        assert registry.evict() == [c.id]
        registry.detach(a)
        registry.memory_budget = 0
        assert registry.evict() == [a.id]
        assert registry.sessions_loaded == 0

    run(scenario())
