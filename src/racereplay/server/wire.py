"""Wire messages built once per chunk and shared by every viewer.

The codec's `ChunkCache` holds encoded chunks; this adds the protocol envelope
(docs/protocol.md) around them, once, so a viewer's data costs the server a
dictionary lookup and a socket write, never an encode.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from typing import Any

import msgpack
import numpy as np

from racereplay.codec import ChunkCache, Codec
from racereplay.replay.registry import LoadedSession
from racereplay.timeline.model import Event, Timeline

log = logging.getLogger(__name__)

Message = bytes | str  # binary frame | text frame
WireKey = tuple[str, str, int, int]  # session id, codec, rate, chunk


def packb(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def event_json(event: Event) -> dict[str, Any]:
    return {"time": event.time, "kind": event.kind, "driver": event.driver, "data": event.data}


def jsonable(value: Any) -> Any:
    """Plain JSON data: NaN becomes None, numpy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class EventIndex:
    """A session's events by chunk, as the codec assigns them (docs/codec.md, Events)."""

    def __init__(self, timeline: Timeline, chunk_seconds: int) -> None:
        self.events = sorted(timeline.events, key=lambda e: e.time)
        self.times = np.array([e.time for e in self.events], dtype=np.float64)
        self.timeline = timeline
        self.span = chunk_seconds * timeline.fps

    def of_chunk(self, index: int, n_chunks: int) -> list[Event]:
        tl = self.timeline
        start = tl.t0 + index * self.span / tl.fps
        end = tl.t0 + (index + 1) * self.span / tl.fps
        lo = 0 if index == 0 else int(np.searchsorted(self.times, start, side="left"))
        hi = len(self.events) if index >= n_chunks - 1 else int(np.searchsorted(self.times, end))
        return self.events[lo:hi]


class WireChunks:
    """Envelope-wrapped chunk messages: (session, codec, rate, chunk) -> messages, LRU by bytes."""

    def __init__(self, chunk_cache: ChunkCache, max_bytes: int = 128 << 20) -> None:
        self.chunk_cache = chunk_cache
        self.max_bytes = max_bytes
        self._entries: OrderedDict[WireKey, tuple[Message, ...]] = OrderedDict()
        self._bytes = 0
        self._pending: dict[WireKey, asyncio.Future[tuple[Message, ...]]] = {}
        self._events: dict[tuple[str, int], EventIndex] = {}
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
            built = self._wrap(session, codec, rate, index, payloads)
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

    def _event_index(self, session: LoadedSession, codec: Codec) -> EventIndex:
        key = (session.id, codec.chunk_seconds)
        index = self._events.get(key)
        if index is None or index.timeline is not session.timeline:
            index = self._events[key] = EventIndex(session.timeline, codec.chunk_seconds)
        return index

    def _wrap(
        self, session: LoadedSession, codec: Codec, rate: int, index: int, payloads: list[bytes]
    ) -> tuple[Message, ...]:
        tl = session.timeline
        span = codec.chunk_seconds * tl.fps
        first = index * span
        if not codec.per_frame:
            frames = min(span, tl.n_frames - first)
            head = {"type": "data", "codec": codec.name, "rate": rate, "chunk": index}
            return (packb({**head, "frame": first, "frames": frames, "payload": payloads[0]}),)
        out: list[Message] = []
        events = self._event_index(session, codec).of_chunk(index, codec.n_chunks(tl))
        if events:
            last = min(first + span, tl.n_frames) - 1
            out.append(
                packb(
                    {
                        "type": "events",
                        "events": jsonable([event_json(e) for e in events]),
                        "from_frame": first,
                        "to_frame": last,
                    }
                )
            )
        frame_numbers = codec.frames_of_chunk(tl, rate, index).tolist()
        for k, payload in zip(frame_numbers, payloads, strict=True):
            if codec.name == "json":
                out.append(
                    f'{{"type":"data","codec":"json","rate":{rate},"chunk":{index},'
                    f'"frame":{k},"frames":1,"payload":{payload.decode()}}}'
                )
            else:
                out.append(
                    packb(
                        {
                            "type": "data",
                            "codec": codec.name,
                            "rate": rate,
                            "chunk": index,
                            "frame": k,
                            "frames": 1,
                            "payload": payload,
                        }
                    )
                )
        return tuple(out)

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
        for event_key in [k for k in self._events if k[0] == session_id]:
            del self._events[event_key]
