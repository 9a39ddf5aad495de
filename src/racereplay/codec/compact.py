"""The compact chunk codec: quantised, columnar, keyframe + deltas, deflate-raw.

One message per chunk. The byte layout is specified in docs/codec.md (the
TypeScript decoder is written from it); keep the two in step.

What is left after prediction is mostly the rounding of smooth channels to their
step, which no predictor inside a 2 s chunk removes; so the gains come from what
is redundant: the interval is predicted from the gaps (it is a car's gap minus the
gap of the car one place ahead), the keyframes (the chunk's first values, which
every chunk must carry to decode alone) are kept apart from the small residuals and
coded as differences between drivers, and each chunk picks order 1 or 2 per channel.
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

MAGIC = b"RRC2"  # the digit is the format version: docs/codec.md
HEADER = struct.Struct("<4sBBBBHBBIIdI")  # 32 bytes, see docs/codec.md
MISSING = np.int32(np.iinfo(np.int32).min)  # sentinel for NaN in float channels
_Q_MIN, _Q_MAX = int(MISSING) + 1, int(np.iinfo(np.int32).max)


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    scale: float  # q = round(value * scale)
    dtype: np.dtype  # the timeline's dtype, restored on decode
    # False: predicted from its own past, order 1 or 2 chosen per chunk. True (the
    # interval): predicted as the car's gap minus the gap of the car one place ahead.
    from_gaps: bool = False

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"


def _spec(name: str, scale: float = 1, from_gaps: bool = False) -> ChannelSpec:
    dtype = DRIVER_CHANNELS.get(name, SESSION_CHANNELS.get(name))
    assert dtype is not None, name
    return ChannelSpec(name, scale, dtype, from_gaps)


# The wire order (docs/codec.md): the channels that change only at lap ends or
# rarely first, the smooth ones after, so that deflate sees like with like (~2 %
# smaller than the timeline's order). The position and the gap come before the
# interval, which is predicted from them.
COMPACT_DRIVER_CHANNELS: tuple[ChannelSpec, ...] = (
    _spec("gear"),
    _spec("brake"),
    _spec("drs"),
    _spec("lap"),
    _spec("position"),
    _spec("compound"),
    _spec("tyre_age"),
    _spec("status"),
    _spec("gap_laps"),
    _spec("interval_laps"),
    _spec("throttle"),
    _spec("speed", 1),
    _spec("distance", 10),
    _spec("x", 10),
    _spec("y", 10),
    _spec("gap", 1000),
    _spec("interval", 1000, from_gaps=True),
    _spec("rpm", 0.1),
)
COMPACT_SESSION_CHANNELS: tuple[ChannelSpec, ...] = (_spec("leader_lap"), _spec("track_status"))
assert {c.name for c in COMPACT_DRIVER_CHANNELS} == set(DRIVER_CHANNELS)
assert {c.name for c in COMPACT_SESSION_CHANNELS} == set(SESSION_CHANNELS)
_ALL_CHANNELS = COMPACT_DRIVER_CHANNELS + COMPACT_SESSION_CHANNELS
_NAMES = [c.name for c in COMPACT_DRIVER_CHANNELS]
assert _NAMES.index("position") < _NAMES.index("gap") < _NAMES.index("interval")


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


def choose_order(q: np.ndarray) -> int:
    """2 if predicting from velocity leaves smaller residuals in this chunk, else 1.

    Compared on the residuals both orders have (from the third frame): the encoder's
    choice, sent as one bit; the decoder only reads it."""
    if q.shape[-1] < 3:
        return 1
    first = np.abs(residuals(q, 1)[..., 2:].astype(np.int64)).sum()
    second = np.abs(residuals(q, 2)[..., 2:].astype(np.int64)).sum()
    return 2 if second < first else 1


def car_ahead(position: np.ndarray) -> np.ndarray:
    """(D, N) index of the driver one place ahead in each frame, -1 if none.

    Position p >= 2 looks for position p - 1 in the same frame; if two drivers share
    it (positions are unique in a well-built timeline) the lower index is taken."""
    n_drivers, n = position.shape
    p = position.astype(np.int64)
    by_place = np.full((n, 258), n_drivers, dtype=np.int64)  # frame, place -> driver
    frame = np.broadcast_to(np.arange(n), p.shape)
    driver = np.broadcast_to(np.arange(n_drivers)[:, None], p.shape)
    np.minimum.at(by_place, (frame.ravel(), np.clip(p, 0, 257).ravel()), driver.ravel())
    ahead = by_place[frame, np.clip(p - 1, 0, 257)]
    return np.where((p >= 2) & (ahead < n_drivers), ahead, -1)


def _interval_from_gaps(gap: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where the gaps predict the interval, that prediction), both (D, N)."""
    ahead = car_ahead(position)
    gap_ahead = np.take_along_axis(gap, np.maximum(ahead, 0), axis=0)
    known = (ahead >= 0) & (gap != MISSING) & (gap_ahead != MISSING)
    return known, gap.astype(np.int64) - gap_ahead


def interval_residuals(q: np.ndarray, gap: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Residuals of the interval: against gap - gap of the car ahead where both are known,
    else against the previous frame's interval (0 before the first)."""
    known, from_gaps = _interval_from_gaps(gap, position)
    previous = np.zeros(q.shape, dtype=np.int64)
    previous[:, 1:] = q[:, :-1]
    return (q.astype(np.int64) - np.where(known, from_gaps, previous)).astype(np.int32)


def integrate_interval(r: np.ndarray, gap: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Inverse of `interval_residuals`, given the decoded gaps and positions.

    Where the gaps predict, q = prediction + r; elsewhere q carries on from the previous
    frame: a cumulative sum restarted at each predicted frame (wrapping 32-bit)."""
    known, from_gaps = _interval_from_gaps(gap, position)
    terms = r.astype(np.int64) + np.where(known, from_gaps, 0)
    total = np.cumsum(terms, axis=1)
    frame = np.broadcast_to(np.arange(r.shape[1]), r.shape)
    restart = np.maximum.accumulate(np.where(known, frame, 0), axis=1)  # last predicted frame
    before = np.where(restart > 0, np.take_along_axis(total, np.maximum(restart - 1, 0), 1), 0)
    return (total - before).astype(np.int32)


def _driver_series(timeline: Timeline, frames: np.ndarray, spec: ChannelSpec) -> np.ndarray:
    """(n_drivers, n_frames) quantised series of one channel: a driver's series is contiguous."""
    return quantise(timeline.frames[spec.name][frames].T, spec)


def _across_drivers(keyframes: np.ndarray) -> np.ndarray:
    """Keyframes -> the first, then differences between consecutive drivers (wrapping)."""
    k = keyframes.astype(np.int64)
    k[1:] -= keyframes[:-1]
    return k.astype(np.int32)


def encode_values(series: list[np.ndarray]) -> bytes:
    """The value section (docs/codec.md): the orders, the keyframes, then the residuals.

    `series`: the quantised (D, N) array of every channel in `_ALL_CHANNELS` order
    (session channels as (1, N))."""
    named = {spec.name: q for spec, q in zip(_ALL_CHANNELS, series, strict=True)}
    orders = 0
    heads: list[np.ndarray] = []
    bodies: list[np.ndarray] = []
    for bit, (spec, q) in enumerate(zip(_ALL_CHANNELS, series, strict=True)):
        if spec.from_gaps:
            bodies.append(interval_residuals(q, named["gap"], named["position"]).ravel())
            continue
        order = choose_order(q)
        orders |= (order == 2) << bit
        r = residuals(q, order)
        head = r[:, :order].T.copy()  # (order or less, D): keyframes, then velocities
        head[0] = _across_drivers(head[0])
        heads.append(head.ravel())
        bodies.append(r[:, order:].ravel())
    return varint.encode(np.concatenate([np.array([orders], np.int32), *heads, *bodies]))


def decode_values(data: bytes | memoryview, n_drivers: int, n: int) -> list[np.ndarray]:
    """Inverse of `encode_values`: the quantised series of every channel."""
    sizes = [1 if spec in COMPACT_SESSION_CHANNELS else n_drivers for spec in _ALL_CHANNELS]
    r = varint.decode(data, 1 + sum(sizes) * n)
    orders = int(r[0]) & 0xFFFFFFFF
    heads_of = [
        0 if spec.from_gaps else min(1 + (orders >> bit & 1), n)
        for bit, spec in enumerate(_ALL_CHANNELS)
    ]
    at = 1
    heads = []
    for d, h in zip(sizes, heads_of, strict=True):
        head64 = r[at : at + h * d].reshape(h, d).astype(np.int64)
        at += h * d
        if h:
            head64[0] = np.cumsum(head64[0])  # undo the differences between drivers
        heads.append(head64.astype(np.int32))  # wraps modulo 2**32
    out: list[np.ndarray] = []
    named: dict[str, np.ndarray] = {}
    for spec, d, h, head in zip(_ALL_CHANNELS, sizes, heads_of, heads, strict=True):
        body = r[at : at + d * (n - h)].reshape(d, n - h)
        at += d * (n - h)
        if spec.from_gaps:
            q = integrate_interval(body, named["gap"], named["position"])
        else:  # h is the order, or 1 when a one-frame chunk has no velocity to carry
            q = integrate(np.concatenate([head.T, body], axis=1), max(h, 1))
        named[spec.name] = q
        out.append(q)
    return out


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
        series = [_driver_series(timeline, frames, spec) for spec in COMPACT_DRIVER_CHANNELS] + [
            quantise(timeline.frames[spec.name][frames], spec)[None, :]
            for spec in COMPACT_SESSION_CHANNELS
        ]
        values = encode_values(series)
        span = chunking.frames_per_chunk(timeline, self.chunk_seconds)
        first = index * span
        events = events_in_span(
            timeline, first, first + span, index == 0, index == self.n_chunks(timeline) - 1
        )
        events_json = json.dumps(events, separators=(",", ":"), allow_nan=False).encode()
        payload = struct.pack("<I", len(values)) + values + events_json
        # Z_FILTERED: the residuals are small numbers with little to match, so Huffman
        # coding with short matches beats the default's search for long ones (~2 %).
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15, strategy=zlib.Z_FILTERED)
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
        raise ValueError(f"chunk has {n_dch}+{n_sch} channels; this decoder knows {MAGIC!r} only")
    payload = zlib.decompress(data[HEADER.size : HEADER.size + length], -15)
    (values_length,) = struct.unpack_from("<I", payload)
    series = decode_values(payload[4 : 4 + values_length], n_drivers, n_frames)
    channels: dict[str, np.ndarray] = {}
    for spec, q in zip(_ALL_CHANNELS, series, strict=True):
        values = dequantise(q, spec)
        channels[spec.name] = values[0] if spec in COMPACT_SESSION_CHANNELS else values.T
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
