"""The shared chunk cache: every viewer of a session gets the same bytes objects.

A thread-safe LRU bounded by total bytes. A miss is encoded exactly once however
many threads ask at the same moment (the others wait for that one encode); a
failed encode reaches every waiter and is not cached.

Before a chunk's first encode, `get_chunk` calls the timeline's `verify_frames`
hook (set by the store on memory-mapped timelines) for the chunk's frame span.
It raises `DamagedTimeline` when the file behind the timeline was truncated,
replaced or changed: that reaches the caller (and every waiter) uncached, and
the caller should `drop_session` and reopen the session, which rebuilds the file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from racereplay.codec import chunking
from racereplay.timeline.model import Timeline

if TYPE_CHECKING:
    from racereplay.codec import Codec


class ChunkKey(NamedTuple):
    session: str  # SessionRef.key (plus a build id if a session can be rebuilt)
    codec: str
    rate: int
    chunk: int


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # one per encode
    waits: int = 0  # requests that waited for another thread's encode
    evictions: int = 0
    bytes: int = 0
    entries: int = 0


def _size(messages: list[bytes]) -> int:
    return sum(len(m) for m in messages)


class ChunkCache:
    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[ChunkKey, list[bytes]] = OrderedDict()
        self._pending: dict[ChunkKey, Future[list[bytes]]] = {}
        self._stats = CacheStats()

    def get(self, key: ChunkKey, encode: Callable[[], list[bytes]]) -> list[bytes]:
        """The cached messages for `key`, calling `encode()` on a miss (once per key)."""
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self._stats.hits += 1
                return cached
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = Future()
                self._stats.misses += 1
                owner = True
            else:
                self._stats.waits += 1
                owner = False
        if not owner:
            return pending.result()
        try:
            messages = encode()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._store(key, messages)
        pending.set_result(messages)
        return messages

    def get_chunk(
        self, session: str, timeline: Timeline, codec: Codec, rate: int, index: int
    ) -> list[bytes]:
        """Chunk `index` of `timeline` at `rate` in `codec`, encoded at most once.

        On a miss, the chunk's frame rows are verified first (`Timeline.verify_frames`,
        when set): raises `racereplay.timeline.model.DamagedTimeline` if the file behind
        them is damaged, without reading them.
        """
        key = ChunkKey(session, codec.name, rate, index)

        def encode() -> list[bytes]:
            if timeline.verify_frames is not None:
                span = chunking.frames_per_chunk(timeline, codec.chunk_seconds)
                timeline.verify_frames(index * span, (index + 1) * span)
            return codec.encode_chunk(timeline, rate, index)

        return self.get(key, encode)

    def drop_session(self, session: str) -> None:
        """Forget a session's chunks (e.g. after a rebuild)."""
        with self._lock:
            for key in [k for k in self._entries if k.session == session]:
                self._stats.bytes -= _size(self._entries.pop(key))

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(**{**vars(self._stats), "entries": len(self._entries)})

    def _store(self, key: ChunkKey, messages: list[bytes]) -> None:
        size = _size(messages)
        if size > self.max_bytes:
            return  # larger than the whole cache: serve it, don't keep it
        self._entries[key] = messages
        self._stats.bytes += size
        while self._stats.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._stats.bytes -= _size(evicted)
            self._stats.evictions += 1
