"""The compact format before issue 14 (magic "RRC1"), kept only as the wire bench's baseline.

Its sizes are what `racereplay bench wire` compares today's compact chunks with, in
the same run on the same timeline. Nothing decodes it any more: the server sends
"RRC4" (racereplay.codec.compact, docs/codec.md). RRC1 coded each (channel, driver)
series as its own keyframe + order 1 or 2 residuals, in the timeline's channel
order, as zigzag varints, then deflate-raw at level 9 with the default strategy.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from racereplay.codec import chunking, varint
from racereplay.codec.compact import (
    COMPACT_DRIVER_CHANNELS,
    COMPACT_SESSION_CHANNELS,
    CompactCodec,
    quantise,
    residuals,
)
from racereplay.codec.events import events_in_span
from racereplay.timeline.model import DRIVER_CHANNELS, Timeline

# RRC1's channel order and prediction order (docs/codec.md of that format).
ORDER_2 = {"x", "y", "speed", "rpm", "distance", "gap", "interval"}
SESSION = ("leader_lap", "track_status")
HEADER_BYTES = 32  # RRC1's header (RRC4's is shorter)


def chunk_bytes(timeline: Timeline, rate: int, index: int) -> int:
    """Bytes of chunk `index` at `rate` as RRC1 encoded it."""
    codec = CompactCodec()
    specs = {spec.name: spec for spec in COMPACT_DRIVER_CHANNELS + COMPACT_SESSION_CHANNELS}
    frames = codec.frames_of_chunk(timeline, rate, index)
    series = [
        residuals(quantise(timeline.frames[name][frames].T, specs[name]), _order(name))
        for name in DRIVER_CHANNELS
    ] + [
        residuals(quantise(timeline.frames[name][frames], specs[name]), _order(name))
        for name in SESSION
    ]
    values = varint.encode(np.concatenate([s.ravel() for s in series]))
    span = chunking.frames_per_chunk(timeline, codec.chunk_seconds)
    first = index * span
    events = events_in_span(
        timeline, first, first + span, index == 0, index == codec.n_chunks(timeline) - 1
    )
    events_json = json.dumps(events, separators=(",", ":"), allow_nan=False).encode()
    payload = struct.pack("<I", len(values)) + values + events_json
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return HEADER_BYTES + len(compressor.compress(payload) + compressor.flush())


def _order(name: str) -> int:
    return 2 if name in ORDER_2 else 1
