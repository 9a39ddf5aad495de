"""Wire messages built once per chunk and shared by every viewer.

The codec's `ChunkCache` holds encoded chunks and the codec's envelope
(`codec.chunk_messages`) wraps them; this keeps the wrapped messages, once per
chunk, so a viewer's data costs the server a dictionary lookup and a socket
write, never an encode.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from racereplay.codec import ChunkCache, Codec, Message, chunk_messages
from racereplay.replay.registry import LoadedSession

log = logging.getLogger(__name__)

WireKey = tuple[str, str, int, int]  # session id, codec, rate, chunk


class WireChunks:
    """Envelope-wrapped chunk messages: (session, codec, rate, chunk) -> messages, LRU by bytes."""

    def __init__(self, chunk_cache: ChunkCache, max_bytes: int = 128 << 20) -> None:
        self.chunk_cache = chunk_cache
        self.max_bytes = max_bytes
        self._entries: OrderedDict[WireKey, tuple[Message, ...]] = OrderedDict()
        self._bytes = 0
        self._pending: dict[WireKey, asyncio.Future[tuple[Message, ...]]] = {}
        self._prefetching: set[asyncio.Task[tuple[Message, ...]]] = set()

    def cached(
        self, session_id: str, codec: str, rate: int, index: int
    ) -> tuple[Message, ...] | None:
        key = (session_id, codec, rate, index)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    async def messages(
        self, session: LoadedSession, codec: Codec, rate: int, index: int
    ) -> tuple[Message, ...]:
        key = (session.id, codec.name, rate, index)
        found = self.cached(*key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[Message, ...]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            # Encoding is CPU work: off the event loop, shared through the codec's cache.
            payloads = await asyncio.to_thread(
                self.chunk_cache.get_chunk, session.id, session.timeline, codec, rate, index
            )
            built = chunk_messages(codec, session.timeline, rate, index, payloads)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._pending[key]
        future.set_result(built)
        self._store(key, built)
        return built

    def prefetch(self, session: LoadedSession, codec: Codec, rate: int, index: int) -> None:
        """Start encoding a chunk that will soon be due, so the viewer never waits for it."""
        key = (session.id, codec.name, rate, index)
        if key in self._entries or key in self._pending:
            return
        if not 0 <= index < codec.n_chunks(session.timeline):
            return
        task = asyncio.get_running_loop().create_task(self.messages(session, codec, rate, index))
        self._prefetching.add(task)
        task.add_done_callback(self._prefetch_done)

    def _prefetch_done(self, task: asyncio.Task[tuple[Message, ...]]) -> None:
        self._prefetching.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("prefetch failed: %s", task.exception())  # the viewer will retry

    def _store(self, key: WireKey, messages: tuple[Message, ...]) -> None:
        size = sum(len(m) for m in messages)
        if size > self.max_bytes:
            return
        self._entries[key] = messages
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= sum(len(m) for m in evicted)

    def drop_session(self, session_id: str) -> None:
        for key in [k for k in self._entries if k[0] == session_id]:
            self._bytes -= sum(len(m) for m in self._entries.pop(key))
