"""The shared chunk cache: one encode for many concurrent requests, LRU eviction by bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from test_codec_support import make_timeline

from racereplay.codec import ChunkCache, ChunkKey, get_codec


def _key(chunk: int, session: str = "s") -> ChunkKey:
    return ChunkKey(session, "compact", 25, chunk)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll for a state change; the generous deadline only turns a hang into a failure."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def test_many_concurrent_requests_encode_once_and_share_the_bytes() -> None:
    cache = ChunkCache(max_bytes=10_000)
    release = threading.Event()
    calls = []

    def encode() -> list[bytes]:
        calls.append(1)
        release.wait()
        return [b"x" * 100]

    results: list[list[bytes]] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(_key(1), encode)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    # Hold the encode until the other seven are waiting on it, then let it finish.
    _wait_until(lambda: cache.stats.waits == 7, "seven waiters")
    release.set()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert cache.get(_key(1), encode) is results[0]
    stats = cache.stats
    assert (stats.misses, stats.waits, stats.hits, stats.bytes) == (1, 7, 1, 100)


def test_a_failed_encode_reaches_every_waiter_and_is_not_cached() -> None:
    cache = ChunkCache(max_bytes=10_000)
    release = threading.Event()

    def failing() -> list[bytes]:
        release.wait()
        raise RuntimeError("source vanished")

    errors: list[BaseException] = []

    def ask() -> None:
        try:
            cache.get(_key(2), failing)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    _wait_until(lambda: cache.stats.waits == 3, "three waiters")
    release.set()
    for t in threads:
        t.join()
    assert len(errors) == 4
    assert cache.get(_key(2), lambda: [b"ok"]) == [b"ok"]


def test_least_recently_used_chunks_are_evicted_by_total_size() -> None:
    cache = ChunkCache(max_bytes=250)
    for chunk in (1, 2):
        cache.get(_key(chunk), lambda: [b"a" * 50, b"b" * 50])
    cache.get(_key(1), lambda: pytest.fail("chunk 1 is cached"))  # 1 is now the most recent
    cache.get(_key(3), lambda: [b"c" * 100])  # 300 bytes > 250: the LRU (chunk 2) goes
    assert cache.stats.evictions == 1 and cache.stats.bytes == 200
    encoded = []
    cache.get(_key(2), lambda: encoded.append(2) or [b"d" * 10])
    assert encoded == [2]
    cache.get(_key(1), lambda: pytest.fail("chunk 1 was not the least recently used"))
    assert cache.stats.bytes <= 250


def test_a_chunk_larger_than_the_cache_is_served_but_not_kept() -> None:
    cache = ChunkCache(max_bytes=10)
    assert cache.get(_key(1), lambda: [b"z" * 11]) == [b"z" * 11]
    assert cache.stats.bytes == 0 and cache.stats.entries == 0


def test_get_chunk_encodes_through_the_codec_and_drop_session_forgets() -> None:
    timeline = make_timeline(n_frames=200, n_drivers=4)
    codec = get_codec("compact")
    cache = ChunkCache()
    first = cache.get_chunk("demo-1", timeline, codec, 10, 1)
    assert first == codec.encode_chunk(timeline, 10, 1)
    assert cache.get_chunk("demo-1", timeline, codec, 10, 1) is first
    cache.drop_session("demo-1")
    assert cache.stats.bytes == 0
    assert cache.get_chunk("demo-1", timeline, codec, 10, 1) is not first


def test_get_chunk_verifies_the_chunks_frames_once_before_encoding() -> None:
    timeline = make_timeline(n_frames=200, n_drivers=4)
    codec = get_codec("compact")
    spans: list[tuple[int, int]] = []
    timeline.verify_frames = lambda first, end: spans.append((first, end))
    cache = ChunkCache()
    span = codec.chunk_seconds * timeline.fps
    first = cache.get_chunk("s", timeline, codec, 25, 1)
    assert spans == [(span, 2 * span)]
    assert cache.get_chunk("s", timeline, codec, 25, 1) is first  # a hit: no second check
    cache.get_chunk("s", timeline, codec, 10, 3)  # at any rate, the span of the chunk
    assert spans == [(span, 2 * span), (3 * span, 4 * span)]


def test_a_damaged_timeline_reaches_the_caller_and_nothing_is_encoded_or_cached() -> None:
    from racereplay.timeline.model import DamagedTimeline

    timeline = make_timeline(n_frames=200, n_drivers=4)
    encoded: list[int] = []

    class Spy:
        def __getattr__(self, name: str) -> object:
            return getattr(get_codec("compact"), name)

        def encode_chunk(self, timeline: object, rate: int, index: int) -> list[bytes]:
            encoded.append(index)
            return [b"never"]

    def damaged(first: int, end: int) -> None:
        raise DamagedTimeline(f"frames {first} to {end - 1} changed: it will be rebuilt")

    timeline.verify_frames = damaged
    cache = ChunkCache()
    with pytest.raises(DamagedTimeline, match="frames 50 to 99"):
        cache.get_chunk("s", timeline, Spy(), 25, 1)  # type: ignore[arg-type]
    assert encoded == [] and cache.stats.entries == 0
