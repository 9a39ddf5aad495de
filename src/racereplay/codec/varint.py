"""Zigzag LEB128 varints of signed 32-bit integers, vectorised with numpy.

Small residuals (the common case after delta coding) take one byte; deflate
then squeezes the runs. See docs/codec.md for the exact rules.
"""

from __future__ import annotations

import numpy as np

_MAX_BYTES = 5  # 32 bits in 7-bit groups


def zigzag(values: np.ndarray) -> np.ndarray:
    """int32 -> uint32 so that small magnitudes of either sign become small numbers."""
    v = values.astype(np.int32, copy=False)
    return ((v << 1) ^ (v >> 31)).view(np.uint32)


def unzigzag(values: np.ndarray) -> np.ndarray:
    u = values.astype(np.uint32, copy=False)
    return ((u >> 1) ^ (-(u & 1).astype(np.int64)).astype(np.uint32)).view(np.int32)


def encode(values: np.ndarray) -> bytes:
    """Signed 32-bit integers (any shape, C order) -> zigzag LEB128 bytes."""
    u = zigzag(np.ascontiguousarray(values).ravel()).astype(np.uint64)
    shifts = np.arange(_MAX_BYTES, dtype=np.uint64) * np.uint64(7)
    groups = (u[:, None] >> shifts) & np.uint64(0x7F)
    # Number of bytes per value: 1 + the number of non-empty higher groups.
    n_bytes = 1 + np.sum(u[:, None] >= (np.uint64(1) << shifts[1:]), axis=1)
    index = np.arange(_MAX_BYTES)
    keep = index[None, :] < n_bytes[:, None]
    more = index[None, :] < (n_bytes - 1)[:, None]
    out = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    return out[keep].tobytes()


def decode(data: bytes | memoryview, count: int) -> np.ndarray:
    """Zigzag LEB128 bytes -> `count` signed 32-bit integers (int32)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    if len(ends) != count or (count and ends[-1] != len(raw) - 1):
        raise ValueError(
            f"corrupt chunk: expected {count} varints, found {len(ends)} in {len(raw)} bytes"
        )
    if count == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    value_of_byte = np.repeat(np.arange(count), ends - starts + 1)
    position = np.arange(len(raw)) - starts[value_of_byte]
    if position.max() >= _MAX_BYTES:
        raise ValueError("corrupt chunk: a varint is longer than 5 bytes")
    parts = (raw & 0x7F).astype(np.uint64) << (position.astype(np.uint64) * np.uint64(7))
    u = np.bitwise_or.reduceat(parts, starts)
    return unzigzag((u & np.uint64(0xFFFFFFFF)).astype(np.uint32))
