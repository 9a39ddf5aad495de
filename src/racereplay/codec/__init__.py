"""Wire formats: pure functions from timeline slices to bytes, and the shared chunk cache.

See docs/codec.md for the API and the compact byte layout.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from racereplay.codec.baseline import json_codec, msgpack_codec
from racereplay.codec.cache import ChunkCache, ChunkKey
from racereplay.codec.chunking import CHUNK_SECONDS, RATES
from racereplay.codec.compact import CompactCodec, DecodedChunk, decode_chunk
from racereplay.codec.envelope import Message, chunk_messages, packb
from racereplay.codec.events import event_to_dict, jsonable
from racereplay.timeline.model import Timeline

# Bump when any codec's bytes change for the same timeline: chunk URLs carry it, so an
# HTTP cache that keeps a chunk "immutable" for a year never serves an outdated encoding.
WIRE_VERSION = 6  # 6: compact format RRC4; 5: RRC3 (issue 14, goal 3); 4: RRC2


class Codec(Protocol):
    name: str
    rates: tuple[int, ...]
    chunk_seconds: int
    per_frame: bool
    media_type: str

    def n_chunks(self, timeline: Timeline) -> int: ...
    def chunk_of_frame(self, timeline: Timeline, frame: int) -> int: ...
    def frames_of_chunk(self, timeline: Timeline, rate: int, index: int) -> np.ndarray: ...
    def encode_chunk(self, timeline: Timeline, rate: int, index: int) -> list[bytes]: ...
    def frame_message(self, head: dict[str, Any], payload: bytes) -> bytes | str: ...
    def http_body(self, payloads: list[bytes]) -> tuple[bytes, str]: ...


class UnknownCodec(ValueError):
    """No codec by that name; the message lists the valid names."""


_CODECS: dict[str, Codec] = {
    "json": json_codec(),
    "msgpack": msgpack_codec(),
    "compact": CompactCodec(),
}
CODEC_NAMES: tuple[str, ...] = tuple(_CODECS)


def get_codec(name: str) -> Codec:
    try:
        return _CODECS[name]
    except KeyError:
        raise UnknownCodec(f"unknown codec {name!r}: use one of {', '.join(CODEC_NAMES)}") from None


__all__ = [
    "CHUNK_SECONDS",
    "CODEC_NAMES",
    "RATES",
    "ChunkCache",
    "ChunkKey",
    "Codec",
    "CompactCodec",
    "DecodedChunk",
    "Message",
    "UnknownCodec",
    "chunk_messages",
    "decode_chunk",
    "event_to_dict",
    "get_codec",
    "jsonable",
    "packb",
]
