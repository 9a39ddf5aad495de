"""The per-frame baselines: one dict per frame, as JSON text or as msgpack.

Kept to measure the compact codec against (and as the simplest thing a client can
read). Floats are rounded to 3 decimals so the baseline is not inflated by float
noise; NaN is null.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from racereplay.codec import chunking
from racereplay.timeline.model import DRIVER_CHANNELS, SESSION_CHANNELS, Timeline

_DECIMALS = 3


def column_values(values: np.ndarray) -> list[Any]:
    """A channel's values as Python scalars; floats rounded to 3 decimals, NaN -> None."""
    if values.dtype.kind != "f":
        return values.tolist()
    rounded = np.round(values.astype(np.float64), _DECIMALS)
    as_objects = rounded.astype(object)
    as_objects[np.isnan(rounded)] = None
    return as_objects.tolist()


def frame_dicts(timeline: Timeline, frames: np.ndarray) -> list[dict[str, Any]]:
    """The baseline frame objects (see docs/codec.md) for the given timeline frames."""
    codes = [d.code for d in timeline.drivers]
    # Columns are converted once per channel (vectorised); only the dict assembly is per frame.
    driver_columns = {
        name: [column_values(row) for row in timeline.frames[name][frames]]
        for name in DRIVER_CHANNELS
    }
    session_columns = {
        name: column_values(timeline.frames[name][frames]) for name in SESSION_CHANNELS
    }
    out = []
    for j, k in enumerate(frames.tolist()):
        drivers = {
            code: {name: driver_columns[name][j][i] for name in DRIVER_CHANNELS}
            for i, code in enumerate(codes)
        }
        out.append(
            {
                "t": round(timeline.time_of(k), _DECIMALS),
                "frame": k,
                **{name: session_columns[name][j] for name in SESSION_CHANNELS},
                "drivers": drivers,
            }
        )
    return out


def _json_bytes(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), allow_nan=False).encode()


def _json_message(head: dict[str, Any], payload: bytes) -> str:
    # The frame's JSON goes in as it is: one text message, never re-parsed.
    return json.dumps(head, separators=(",", ":"))[:-1] + ',"payload":' + payload.decode() + "}"


def _msgpack_message(head: dict[str, Any], payload: bytes) -> bytes:
    return msgpack.packb({**head, "payload": payload}, use_bin_type=True)  # type: ignore[no-any-return]


def _msgpack_bytes(frame: dict[str, Any]) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


class PerFrameCodec(chunking.Chunked):
    """One message per frame; the chunk is only the unit of caching."""

    per_frame = True

    def __init__(
        self,
        name: str,
        media_type: str,
        serialise: Callable[[dict[str, Any]], bytes],
        message: Callable[[dict[str, Any], bytes], bytes | str],
        stream: tuple[str, bytes],
        chunk_seconds: int = chunking.CHUNK_SECONDS,
        rates: tuple[int, ...] = chunking.RATES,
    ) -> None:
        super().__init__(chunk_seconds, rates)
        self.name = name
        self.media_type = media_type
        self._serialise = serialise
        self._message = message
        self._stream_type, self._separator = stream

    def frame_message(self, head: dict[str, Any], payload: bytes) -> bytes | str:
        """One frame's WebSocket message: the envelope `head` around `payload`."""
        return self._message(head, payload)

    def http_body(self, payloads: list[bytes]) -> tuple[bytes, str]:
        """A chunk over HTTP: its frames as one stream (NDJSON, or msgpack maps back to back)."""
        return b"".join(p + self._separator for p in payloads), self._stream_type

    def encode_chunk(self, timeline: Timeline, rate: int, index: int) -> list[bytes]:
        frames = self.frames_of_chunk(timeline, rate, index)
        return [self._serialise(f) for f in frame_dicts(timeline, frames)]


def json_codec() -> PerFrameCodec:
    return PerFrameCodec(
        "json", "application/json", _json_bytes, _json_message, ("application/x-ndjson", b"\n")
    )


def msgpack_codec() -> PerFrameCodec:
    return PerFrameCodec(
        "msgpack",
        "application/msgpack",
        _msgpack_bytes,
        _msgpack_message,
        ("application/msgpack", b""),
    )
