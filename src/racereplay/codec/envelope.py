"""The protocol's envelope around encoded chunks: the messages a viewer is sent.

One path from a timeline's chunk to the wire (docs/protocol.md, "Data payloads by
codec"): the codec encodes the chunk, `chunk_messages` wraps it. Compact chunks
carry their own events; per-frame codecs get the same events, assigned to chunks
the same way (`events_in_span`), in an `events` message before the frames. Each
codec wraps its own frames (`frame_message`), so nothing here asks a codec's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack

from racereplay.codec.events import events_in_span
from racereplay.timeline.model import Timeline

if TYPE_CHECKING:
    from racereplay.codec import Codec

Message = bytes | str  # a binary WebSocket frame | a text frame


def packb(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def chunk_messages(
    codec: Codec, timeline: Timeline, rate: int, index: int, payloads: list[bytes]
) -> tuple[Message, ...]:
    """The messages that carry chunk `index` (encoded as `payloads`) to a viewer."""
    span = codec.chunk_seconds * timeline.fps
    first = index * span
    head = {"type": "data", "codec": codec.name, "rate": rate, "chunk": index}
    if not codec.per_frame:
        frames = min(span, timeline.n_frames - first)
        return (packb({**head, "frame": first, "frames": frames, "payload": payloads[0]}),)
    out: list[Message] = []
    is_last = index == codec.n_chunks(timeline) - 1
    events = events_in_span(timeline, first, first + span, index == 0, is_last)
    if events:
        last = min(first + span, timeline.n_frames) - 1
        out.append(
            packb({"type": "events", "events": events, "from_frame": first, "to_frame": last})
        )
    frames = codec.frames_of_chunk(timeline, rate, index).tolist()
    for k, payload in zip(frames, payloads, strict=True):
        out.append(codec.frame_message({**head, "frame": k, "frames": 1}, payload))
    return tuple(out)
