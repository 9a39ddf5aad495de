"""The compact chunk codec: quantised, columnar, keyframe + deltas, deflate-raw.

One message per chunk. The byte layout is specified in docs/codec.md (the
TypeScript decoder is written from it); keep the two in step.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racereplay.codec import chunking, varint
from racereplay.codec.events import events_in_span
from racereplay.timeline.model import DRIVER_CHANNELS, SESSION_CHANNELS, Timeline

MAGIC = b"RRC1"
HEADER = struct.Struct("<4sBBBBHBBIIdI")  # 32 bytes, see docs/codec.md
MISSING = np.int32(np.iinfo(np.int32).min)  # sentinel for NaN in float channels
_Q_MIN, _Q_MAX = int(MISSING) + 1, int(np.iinfo(np.int32).max)


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    scale: float  # q = round(value * scale)
    order: int  # 1: predict the previous value; 2: predict from velocity
    dtype: np.dtype  # the timeline's dtype, restored on decode

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"


def _spec(name: str, scale: float = 1, order: int = 1) -> ChannelSpec:
    dtype = DRIVER_CHANNELS.get(name, SESSION_CHANNELS.get(name))
    assert dtype is not None, name
    return ChannelSpec(name, scale, order, dtype)


COMPACT_DRIVER_CHANNELS: tuple[ChannelSpec, ...] = (
    _spec("x", 10, 2),
    _spec("y", 10, 2),
    _spec("speed", 1, 2),
    _spec("gear"),
    _spec("throttle"),
    _spec("brake"),
    _spec("drs"),
    _spec("rpm", 0.1, 2),
    _spec("lap"),
    _spec("distance", 10, 2),
    _spec("position"),
    _spec("gap", 1000, 2),
    _spec("interval", 1000, 2),
    _spec("compound"),
    _spec("tyre_age"),
    _spec("status"),
    _spec("gap_laps"),
    _spec("interval_laps"),
)
COMPACT_SESSION_CHANNELS: tuple[ChannelSpec, ...] = (_spec("leader_lap"), _spec("track_status"))
assert {c.name for c in COMPACT_DRIVER_CHANNELS} == set(DRIVER_CHANNELS)
assert {c.name for c in COMPACT_SESSION_CHANNELS} == set(SESSION_CHANNELS)


def quantise(values: np.ndarray, spec: ChannelSpec) -> np.ndarray:
    """Values -> int32 steps; NaN -> MISSING."""
    scaled = np.rint(values.astype(np.float64) * spec.scale)
    missing = np.isnan(scaled)
    q = np.clip(np.nan_to_num(scaled), _Q_MIN, _Q_MAX).astype(np.int32)
    q[missing] = MISSING
    return q


def dequantise(q: np.ndarray, spec: ChannelSpec) -> np.ndarray:
    if spec.is_float:
        values = (q.astype(np.float64) / spec.scale).astype(spec.dtype)
        values[q == MISSING] = np.nan
        return values
    return np.rint(q.astype(np.float64) / spec.scale).astype(spec.dtype)


def residuals(q: np.ndarray, order: int) -> np.ndarray:
    """Series along the last axis -> prediction residuals, wrapping 32-bit arithmetic."""
    q64 = q.astype(np.int64)
    prediction = np.zeros_like(q64)
    prediction[..., 1:] = q64[..., :-1]
    if order == 2:
        prediction[..., 2:] = 2 * q64[..., 1:-1] - q64[..., :-2]
    return (q64 - prediction).astype(np.int32)  # wraps modulo 2**32, as the decoder does


def integrate(r: np.ndarray, order: int) -> np.ndarray:
    """Inverse of `residuals`."""
    r64 = r.astype(np.int64)
    if order == 2 and r64.shape[-1] > 1:
        velocity = np.cumsum(r64[..., 1:], axis=-1)
        r64 = np.concatenate([r64[..., :1], velocity], axis=-1)
    return np.cumsum(r64, axis=-1).astype(np.int32)


def _driver_series(timeline: Timeline, frames: np.ndarray, spec: ChannelSpec) -> np.ndarray:
    """(n_drivers, n_frames) quantised series of one channel: a driver's series is contiguous."""
    return quantise(timeline.frames[spec.name][frames].T, spec)


class CompactCodec(chunking.Chunked):
    name = "compact"
    per_frame = False
    media_type = "application/octet-stream"

    def __init__(
        self,
        chunk_seconds: int = chunking.CHUNK_SECONDS,
        rates: tuple[int, ...] = chunking.RATES,
        level: int = 9,
    ) -> None:
        super().__init__(chunk_seconds, rates)
        self.level = level

    def frame_message(self, head: dict[str, Any], payload: bytes) -> bytes | str:
        raise TypeError("compact chunks are sent whole: see envelope.chunk_messages")

    def http_body(self, payloads: list[bytes]) -> tuple[bytes, str]:
        return payloads[0], self.media_type

    def encode_chunk(self, timeline: Timeline, rate: int, index: int) -> list[bytes]:
        frames = self.frames_of_chunk(timeline, rate, index)
        series = [
            residuals(_driver_series(timeline, frames, spec), spec.order)
            for spec in COMPACT_DRIVER_CHANNELS
        ] + [
            residuals(quantise(timeline.frames[spec.name][frames], spec), spec.order)
            for spec in COMPACT_SESSION_CHANNELS
        ]
        values = varint.encode(np.concatenate([s.ravel() for s in series]))
        span = chunking.frames_per_chunk(timeline, self.chunk_seconds)
        first = index * span
        events = events_in_span(
            timeline, first, first + span, index == 0, index == self.n_chunks(timeline) - 1
        )
        events_json = json.dumps(events, separators=(",", ":"), allow_nan=False).encode()
        payload = struct.pack("<I", len(values)) + values + events_json
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        body = compressor.compress(payload) + compressor.flush()
        header = HEADER.pack(
            MAGIC,
            timeline.fps,
            rate,
            self.chunk_seconds,
            len(timeline.drivers),
            len(frames),
            len(COMPACT_DRIVER_CHANNELS),
            len(COMPACT_SESSION_CHANNELS),
            index,
            first,
            timeline.t0,
            len(body),
        )
        return [header + body]


@dataclass
class DecodedChunk:
    index: int
    rate: int
    fps: int
    chunk_seconds: int
    first_frame: int
    t0: float
    frames: np.ndarray  # timeline frame of each chunk frame (int64)
    times: np.ndarray  # session time of each chunk frame (float64)
    channels: dict[str, np.ndarray]  # (n, n_drivers) per driver; (n,) session-wide
    events: list[dict[str, Any]] = field(default_factory=list)


def decode_chunk(data: bytes) -> DecodedChunk:
    """A compact chunk -> its frames, channels and events (for tests, the bench and tools)."""
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise ValueError(f"not a compact chunk (magic {bytes(data[:4])!r}, expected {MAGIC!r})")
    (_, fps, rate, chunk_seconds, n_drivers, n_frames, n_dch, n_sch, index, first, t0, length) = (
        HEADER.unpack_from(data)
    )
    if (n_dch, n_sch) != (len(COMPACT_DRIVER_CHANNELS), len(COMPACT_SESSION_CHANNELS)):
        raise ValueError(f"chunk has {n_dch}+{n_sch} channels; this decoder knows format RRC1 only")
    payload = zlib.decompress(data[HEADER.size : HEADER.size + length], -15)
    (values_length,) = struct.unpack_from("<I", payload)
    per_driver = n_dch * n_drivers * n_frames
    r = varint.decode(payload[4 : 4 + values_length], per_driver + n_sch * n_frames)
    channels: dict[str, np.ndarray] = {}
    driver_r = r[:per_driver].reshape(n_dch, n_drivers, n_frames)
    for spec, series in zip(COMPACT_DRIVER_CHANNELS, driver_r, strict=True):
        channels[spec.name] = dequantise(integrate(series, spec.order), spec).T
    session_r = r[per_driver:].reshape(n_sch, n_frames)
    for spec, series in zip(COMPACT_SESSION_CHANNELS, session_r, strict=True):
        channels[spec.name] = dequantise(integrate(series, spec.order), spec)
    frames = first + (np.arange(n_frames, dtype=np.int64) * fps) // rate
    return DecodedChunk(
        index=index,
        rate=rate,
        fps=fps,
        chunk_seconds=chunk_seconds,
        first_frame=first,
        t0=t0,
        frames=frames,
        times=t0 + frames / fps,
        channels=channels,
        events=json.loads(payload[4 + values_length :]),
    )
