"""The compact chunk codec: quantised, columnar, keyframe + deltas, deflate-raw.

One message per chunk. The byte layout is specified in docs/codec.md (the
TypeScript decoder is written from it); keep the two in step.

What is left after prediction is mostly the rounding of smooth channels to their
step, which no predictor inside a 2 s chunk removes; so the gains come from what
is redundant: the interval is predicted from the gaps (it is a car's gap minus the
gap of the car one place ahead), the keyframes (the chunk's first values, which
every chunk must carry to decode alone) are kept apart from the small residuals and
coded as differences between drivers, and each chunk picks order 1 or 2 per channel.

Format RRC3 (issue 14) codes the same residuals tighter: the keyframes go in race
order (each against the car one place ahead; the speed from the distance's velocity,
the gap from the distance to the car ahead), the smooth channels' residuals go in
pairs (one byte for two small residuals, so deflate's Huffman code sees the pair's
joint distribution), and deflate gets a block, so a Huffman table, for each kind of
section. RRC4 sends the events without their repeated keys (compact_events.py) and
drops what the header repeated (the first frame, the channel counts, the length).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racereplay.codec import chunking, varint
from racereplay.codec.compact_events import chunk_start_ms, decode_events, encode_events
from racereplay.codec.events import events_in_span
from racereplay.timeline.model import DRIVER_CHANNELS, SESSION_CHANNELS, Timeline

MAGIC = b"RRC4"  # the digit is the format version: docs/codec.md
HEADER = struct.Struct("<4sBBBBHId")  # 22 bytes, see docs/codec.md
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
    # True: the body's residuals go in pairs (docs/codec.md "Pairs"); the smooth channels.
    paired: bool = False

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"


def _spec(
    name: str, scale: float = 1, from_gaps: bool = False, paired: bool = False
) -> ChannelSpec:
    dtype = DRIVER_CHANNELS.get(name, SESSION_CHANNELS.get(name))
    assert dtype is not None, name
    return ChannelSpec(name, scale, dtype, from_gaps, paired)


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
    _spec("throttle", paired=True),
    _spec("speed", 1, paired=True),
    _spec("distance", 10, paired=True),
    _spec("x", 10, paired=True),
    _spec("y", 10, paired=True),
    _spec("gap", 1000, paired=True),
    _spec("interval", 1000, from_gaps=True, paired=True),
    _spec("rpm", 0.1, paired=True),
)
COMPACT_SESSION_CHANNELS: tuple[ChannelSpec, ...] = (_spec("leader_lap"), _spec("track_status"))
assert {c.name for c in COMPACT_DRIVER_CHANNELS} == set(DRIVER_CHANNELS)
assert {c.name for c in COMPACT_SESSION_CHANNELS} == set(SESSION_CHANNELS)
_ALL_CHANNELS = COMPACT_DRIVER_CHANNELS + COMPACT_SESSION_CHANNELS
_NAMES = [c.name for c in COMPACT_DRIVER_CHANNELS]
assert _NAMES.index("position") < _NAMES.index("gap") < _NAMES.index("interval")
# Pairs: two residuals a, b in [-PAIR_LIMIT, PAIR_LIMIT] are one byte 7 * (a + 3) + (b + 3);
# any other pair is the byte ESCAPE, its residuals go to the escape section.
PAIR_LIMIT = 3
_PAIR_BASE = 2 * PAIR_LIMIT + 1
ESCAPE = _PAIR_BASE * _PAIR_BASE  # 49
# The speed keyframe from the distance's velocity: km/h per 0.1 m per frame at 25 fps.
_SPEED_PER_DISTANCE_STEP = 9  # 0.1 m * 25 / s * 3.6 (km/h)/(m/s); other fps: no prediction
# The gap keyframe from the distance to the car ahead: ms per (0.1 m / (km/h)).
_MS_PER_DISTANCE_OVER_SPEED = 360  # 0.1 m / (1 km/h) = 0.36 s
_MIN_SPEED_FOR_GAP = 20  # km/h: slower, the distance says little about the time


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


def race_order(position_keyframes: np.ndarray) -> np.ndarray:
    """Driver indices by position in the chunk's first frame (ties: the lower index first)."""
    return np.argsort(position_keyframes.astype(np.int64), kind="stable")


def _wrap(values: np.ndarray) -> np.ndarray:
    """int64 -> int32 modulo 2**32, as the decoder's `| 0`."""
    return values.astype(np.int64).astype(np.uint32).view(np.int32)


@dataclass
class _KeyContext:
    """What the keyframe predictions read, all decoded before the keys they predict."""

    order: np.ndarray  # race order (driver indices)
    step: int  # timeline frames between the chunk's first two frames
    fps: int
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # channel -> keyframes (D,)
    velocities: dict[str, np.ndarray] = field(default_factory=dict)  # order 2 only


def _key_predictions(name: str, ctx: _KeyContext) -> tuple[np.ndarray, np.ndarray, bool]:
    """(where a channel's own prediction replaces the car ahead's key, that value, additive).

    In race order. Not additive: the key is the prediction + the residual where `known`,
    else the car ahead's key + the residual. Additive (the gap): the car ahead's key +
    the prediction + the residual where `known`, else without the prediction."""
    n_drivers = len(ctx.order)
    none = np.zeros(n_drivers, dtype=bool), np.zeros(n_drivers, dtype=np.int64), False
    if name not in ("speed", "gap"):
        return none
    distance = ctx.keys["distance"][ctx.order].astype(np.int64)
    d_known = distance != MISSING
    if name == "speed" and "distance" in ctx.velocities:
        v = ctx.velocities["distance"][ctx.order].astype(np.int64)
        known = d_known & (_wrap(distance + v) != MISSING)
        # km/h from 0.1 m per `step` frames at `fps`, rounded half up.
        per_frame = 100 * ctx.step
        speed = (v * 36 * ctx.fps + 50 * ctx.step) // per_frame
        return known, np.where(known, speed, 0), False
    if name == "gap":
        speed = ctx.keys["speed"][ctx.order].astype(np.int64)
        known = np.zeros(n_drivers, dtype=bool)
        known[1:] = d_known[1:] & d_known[:-1] & (speed[1:] != MISSING)
        known[1:] &= speed[1:] > _MIN_SPEED_FOR_GAP
        behind = np.zeros(n_drivers, dtype=np.int64)
        behind[1:] = distance[:-1] - distance[1:]
        safe_speed = np.where(known, speed, 1)
        return known, np.where(known, behind * _MS_PER_DISTANCE_OVER_SPEED // safe_speed, 0), True
    return none


# Keyframes coded as differences in driver order: the positions (the race order is not
# known before them) and the session channels (one series).
_UNORDERED_KEYS = {"position"} | {spec.name for spec in COMPACT_SESSION_CHANNELS}


def _code_keys(name: str, keys: np.ndarray, ctx: _KeyContext) -> np.ndarray:
    """A channel's keyframes (D,) -> residuals in race order (docs/codec.md "Keyframes")."""
    if name in _UNORDERED_KEYS:
        k = keys.astype(np.int64)
        k[1:] -= keys[:-1]
        return _wrap(k)
    ordered = keys[ctx.order].astype(np.int64)
    ahead = np.zeros_like(ordered)
    ahead[1:] = ordered[:-1]
    known, value, additive = _key_predictions(name, ctx)
    prediction = (
        np.where(known, ahead + value, ahead) if additive else np.where(known, value, ahead)
    )
    return _wrap(ordered - prediction)


def _decode_keys(name: str, r: np.ndarray, ctx: _KeyContext) -> np.ndarray:
    """Inverse of `_code_keys`."""
    if name in _UNORDERED_KEYS:
        return _wrap(np.cumsum(r.astype(np.int64)))
    known, value, additive = _key_predictions(name, ctx)
    ordered = np.zeros(len(r), dtype=np.int64)
    ahead = 0
    for i, residual in enumerate(r.tolist()):
        if additive:
            ahead = ahead + int(value[i]) if known[i] else ahead
        elif known[i]:
            ahead = int(value[i])
        ahead = (ahead + residual + 2**31) % 2**32 - 2**31
        ordered[i] = ahead
    keys = np.zeros(len(r), dtype=np.int32)
    keys[ctx.order] = ordered
    return keys


# Heads are resolved in this order: the race order first, then what the predictions read.
_KEY_ORDER = sorted(
    range(len(_ALL_CHANNELS)),
    key=lambda c: {"position": 0, "speed": 2, "gap": 3}.get(_ALL_CHANNELS[c].name, 1),
)


def pair_tokens(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, m) residuals -> (one byte per pair, D * ceil(m / 2)), (the escaped pairs, flat).

    An odd series gets a 0 after its last residual."""
    if r.shape[1] % 2:
        r = np.concatenate([r, np.zeros((r.shape[0], 1), dtype=r.dtype)], axis=1)
    first, second = r[:, 0::2].ravel(), r[:, 1::2].ravel()
    small = (np.abs(first.astype(np.int64)) <= PAIR_LIMIT) & (
        np.abs(second.astype(np.int64)) <= PAIR_LIMIT
    )
    tokens = np.where(
        small, _PAIR_BASE * (first + PAIR_LIMIT) + second + PAIR_LIMIT, ESCAPE
    ).astype(np.uint8)
    escaped = np.stack([first[~small], second[~small]], axis=1).ravel().astype(np.int32)
    return tokens, escaped


def unpair(tokens: np.ndarray, escaped: np.ndarray, n_series: int, m: int) -> np.ndarray:
    """Inverse of `pair_tokens`: `escaped` holds the escaped pairs of these tokens, in order."""
    t = tokens.astype(np.int64)
    first = t // _PAIR_BASE - PAIR_LIMIT
    second = t % _PAIR_BASE - PAIR_LIMIT
    escape = t == ESCAPE
    first[escape] = escaped[0::2]
    second[escape] = escaped[1::2]
    pairs = np.stack([first, second], axis=1).reshape(n_series, -1)
    return pairs[:, :m].astype(np.int32)


@dataclass
class ValueSections:
    """The value section's parts, in order; deflate gets a block for each (see encode_chunk)."""

    heads: bytes  # the orders and the heads
    bodies: bytes  # the unpaired channels' residuals
    pairs: bytes  # the paired channels' pair bytes
    escapes: bytes  # the escaped pairs' residuals

    def joined(self) -> bytes:
        return self.heads + self.bodies + self.pairs + self.escapes


def _chunk_step(fps: int, rate: int) -> int:
    return max(fps // rate, 1)


def encode_values(series: list[np.ndarray], fps: int = 25, rate: int = 25) -> ValueSections:
    """The value section (docs/codec.md): the orders, the heads, the bodies, pairs, escapes.

    `series`: the quantised (D, N) array of every channel in `_ALL_CHANNELS` order
    (session channels as (1, N))."""
    named = {spec.name: q for spec, q in zip(_ALL_CHANNELS, series, strict=True)}
    n = series[0].shape[1]
    orders = 0
    head_of: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    body_of: dict[int, np.ndarray] = {}
    for bit, (spec, q) in enumerate(zip(_ALL_CHANNELS, series, strict=True)):
        if spec.from_gaps:
            body_of[bit] = interval_residuals(q, named["gap"], named["position"])
            continue
        order = choose_order(q)
        orders |= (order == 2) << bit
        r = residuals(q, order)
        head_of[bit] = (r[:, 0], r[:, 1] if order == 2 and n > 1 else None)
        body_of[bit] = r[:, order:]
    ctx = _KeyContext(race_order(named["position"][:, 0]), _chunk_step(fps, rate), fps)
    coded: dict[int, np.ndarray] = {}
    for c in _KEY_ORDER:
        spec = _ALL_CHANNELS[c]
        if c not in head_of:
            continue
        keys, velocity = head_of[c]
        coded[c] = _code_keys(spec.name, keys, ctx)
        ctx.keys[spec.name] = keys
        if velocity is not None:
            ctx.velocities[spec.name] = velocity
    heads: list[np.ndarray] = [np.array([orders], np.int32)]
    for c in sorted(head_of):
        heads.append(coded[c])
        velocity = head_of[c][1]
        if velocity is not None:
            heads.append(velocity)
    unpaired = [body_of[c].ravel() for c, s in enumerate(_ALL_CHANNELS) if not s.paired]
    paired = [pair_tokens(body_of[c]) for c, s in enumerate(_ALL_CHANNELS) if s.paired]
    tokens = [t for t, _ in paired]
    escaped = [e for _, e in paired]
    return ValueSections(
        varint.encode(np.concatenate(heads)),
        varint.encode(np.concatenate(unpaired)),
        np.concatenate(tokens).tobytes(),
        varint.encode(np.concatenate(escaped)),
    )


def decode_values(
    data: bytes | memoryview, n_drivers: int, n: int, fps: int = 25, rate: int = 25
) -> list[np.ndarray]:
    """Inverse of `encode_values`: the quantised series of every channel."""
    raw = np.frombuffer(data, dtype=np.uint8)
    sizes = [1 if spec in COMPACT_SESSION_CHANNELS else n_drivers for spec in _ALL_CHANNELS]
    ends = np.flatnonzero(raw < 0x80)
    orders = int(varint.decode(raw[: ends[0] + 1].tobytes(), 1)[0]) & 0xFFFFFFFF
    heads_of = [
        0 if spec.from_gaps else min(1 + (orders >> bit & 1), n)
        for bit, spec in enumerate(_ALL_CHANNELS)
    ]
    n_heads = sum(d * h for d, h in zip(sizes, heads_of, strict=True))
    bodies_of = [n - h for h in heads_of]
    n_unpaired = sum(
        d * m for d, m, s in zip(sizes, bodies_of, _ALL_CHANNELS, strict=True) if not s.paired
    )
    n_varints = 1 + n_heads + n_unpaired
    if len(ends) < n_varints:
        raise ValueError(f"corrupt chunk: expected at least {n_varints} varints")
    prefix_end = int(ends[n_varints - 1]) + 1
    r = varint.decode(raw[:prefix_end].tobytes(), n_varints)
    pair_counts = [
        d * ((m + 1) // 2)
        for d, m, s in zip(sizes, bodies_of, _ALL_CHANNELS, strict=True)
        if s.paired
    ]
    tokens = raw[prefix_end : prefix_end + sum(pair_counts)]
    if len(tokens) < sum(pair_counts) or tokens.max(initial=0) > ESCAPE:
        raise ValueError("corrupt chunk: the pairs are short or hold an unknown byte")
    n_escaped = int(np.count_nonzero(tokens == ESCAPE))
    escaped = varint.decode(raw[prefix_end + len(tokens) :].tobytes(), 2 * n_escaped)
    # The heads, read in wire order, resolved in _KEY_ORDER.
    at = 1
    key_residuals: dict[int, np.ndarray] = {}
    velocities: dict[int, np.ndarray] = {}
    for c, (d, h) in enumerate(zip(sizes, heads_of, strict=True)):
        if h:
            key_residuals[c] = r[at : at + d]
        if h == 2:
            velocities[c] = r[at + d : at + 2 * d]
        at += h * d
    position_keys = _wrap(np.cumsum(key_residuals[_NAMES.index("position")].astype(np.int64)))
    ctx = _KeyContext(race_order(position_keys), _chunk_step(fps, rate), fps)
    keys: dict[int, np.ndarray] = {}
    for c in _KEY_ORDER:
        if c in key_residuals:
            name = _ALL_CHANNELS[c].name
            keys[c] = _decode_keys(name, key_residuals[c], ctx)
            ctx.keys[name] = keys[c]
            if c in velocities:
                ctx.velocities[name] = velocities[c]
    # The bodies: the unpaired ones in wire order, then the pairs.
    body_of: dict[int, np.ndarray] = {}
    for c, (d, m, spec) in enumerate(zip(sizes, bodies_of, _ALL_CHANNELS, strict=True)):
        if not spec.paired:
            body_of[c] = r[at : at + d * m].reshape(d, m)
            at += d * m
    at_token = at_escape = 0
    for c, (d, m, spec) in enumerate(zip(sizes, bodies_of, _ALL_CHANNELS, strict=True)):
        if spec.paired:
            t = tokens[at_token : at_token + d * ((m + 1) // 2)]
            at_token += len(t)
            k = 2 * int(np.count_nonzero(t == ESCAPE))
            body_of[c] = unpair(t, escaped[at_escape : at_escape + k], d, m)
            at_escape += k
    out: list[np.ndarray] = []
    named: dict[str, np.ndarray] = {}
    for c, (spec, h) in enumerate(zip(_ALL_CHANNELS, heads_of, strict=True)):
        if spec.from_gaps:
            q = integrate_interval(body_of[c], named["gap"], named["position"])
        else:  # h is the order, or 1 when a one-frame chunk has no velocity to carry
            head = [keys[c]] + ([velocities[c]] if h == 2 else [])
            q = integrate(np.concatenate([np.stack(head, axis=1), body_of[c]], axis=1), max(h, 1))
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
        values = encode_values(series, timeline.fps, rate)
        span = chunking.frames_per_chunk(timeline, self.chunk_seconds)
        first = index * span
        events = events_in_span(
            timeline, first, first + span, index == 0, index == self.n_chunks(timeline) - 1
        )
        events_json = encode_events(events, chunk_start_ms(timeline.t0, first, timeline.fps))
        # Z_FILTERED: the residuals are small numbers with little to match, so Huffman
        # coding with short matches beats the default's search for long ones (~2 %).
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15, strategy=zlib.Z_FILTERED)
        # A deflate block (its own Huffman table) per kind of section: the keyframes, the
        # residuals that are mostly 0, the pairs, the events. The inflater sees one stream.
        parts = [
            struct.pack("<I", len(values.joined())) + values.heads,
            values.bodies,
            values.pairs + values.escapes,
        ]
        body = b"".join(
            compressor.compress(part) + compressor.flush(zlib.Z_BLOCK) for part in parts
        )
        body += compressor.compress(events_json) + compressor.flush()
        header = HEADER.pack(
            MAGIC,
            timeline.fps,
            rate,
            self.chunk_seconds,
            len(timeline.drivers),
            len(frames),
            index,
            timeline.t0,
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
    (_, fps, rate, chunk_seconds, n_drivers, n_frames, index, t0) = HEADER.unpack_from(data)
    first = index * chunk_seconds * fps
    inflater = zlib.decompressobj(-15)
    payload = inflater.decompress(data[HEADER.size :])  # the message is the chunk, whole
    if not inflater.eof or inflater.unused_data:
        raise ValueError("corrupt chunk: its deflate stream is truncated or followed by junk")
    (values_length,) = struct.unpack_from("<I", payload)
    series = decode_values(payload[4 : 4 + values_length], n_drivers, n_frames, fps, rate)
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
        events=decode_events(payload[4 + values_length :], chunk_start_ms(t0, first, fps)),
    )
