"""Shared pieces of the codec tests: the round-trip check against the stated quantisation.

The synthetic timelines are in tests/factories.py (`circuit_timeline`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from factories import circuit_timeline

from racereplay.codec import decode_chunk, get_codec
from racereplay.codec.compact import COMPACT_DRIVER_CHANNELS, COMPACT_SESSION_CHANNELS, quantise
from racereplay.timeline.model import Timeline

# The old name, for tests/test_codec_cache.py until it imports factories.circuit_timeline.
make_timeline = circuit_timeline

SPECS = {spec.name: spec for spec in COMPACT_DRIVER_CHANNELS + COMPACT_SESSION_CHANNELS}


def check_round_trip(timeline: Timeline, rate: int, index: int) -> None:
    """Decode one compact chunk and compare it to the timeline within the stated quantisation."""
    codec = get_codec("compact")
    decoded = decode_chunk(codec.encode_chunk(timeline, rate, index)[0])
    frames = codec.frames_of_chunk(timeline, rate, index)
    np.testing.assert_array_equal(decoded.frames, frames)
    np.testing.assert_allclose(decoded.times, timeline.t0 + frames / timeline.fps)
    assert (decoded.index, decoded.rate) == (index, rate)
    for name, spec in SPECS.items():
        original = timeline.frames[name][frames]
        got = decoded.channels[name]
        assert got.shape == original.shape and got.dtype == original.dtype, name
        if spec.is_float:
            np.testing.assert_array_equal(np.isnan(got), np.isnan(original), err_msg=name)
            ok = ~np.isnan(original)
            step = 1 / spec.scale
            error = np.abs(got[ok].astype(np.float64) - original[ok].astype(np.float64))
            # Half a step, plus float32 rounding of values in the thousands of metres.
            tolerance = step / 2 + 1e-3 + 1e-6 * np.abs(original[ok])
            assert np.all(error <= tolerance), f"{name}: max error {error.max()}"
        elif spec.scale == 1:
            np.testing.assert_array_equal(got, original, err_msg=name)
        else:
            assert np.all(np.abs(got.astype(np.int64) - original) <= 0.5 / spec.scale), name


def check_lossless(timeline: Timeline, rate: int, index: int) -> None:
    """The decoded chunk is the timeline's quantised values exactly (step for step, NaN
    for NaN): any prediction the decoder does not mirror exactly breaks this."""
    codec = get_codec("compact")
    decoded = decode_chunk(codec.encode_chunk(timeline, rate, index)[0])
    frames = codec.frames_of_chunk(timeline, rate, index)
    for name, spec in SPECS.items():
        want = quantise(timeline.frames[name][frames], spec)
        got = quantise(decoded.channels[name], spec)
        np.testing.assert_array_equal(got, want, err_msg=f"chunk {index} at {rate} fps: {name}")


def event_cases(t0: float) -> list[dict[str, Any]]:
    """Events of every form the events section must carry back exactly."""
    lap = {"lap": 3, "lap_time": None, "sectors": [30.1, None, 31.0], "personal_best": True,
           "overall_best": False, "position": None}  # fmt: skip
    return [
        {"time": t0 - 50.0, "kind": "lap", "driver": "AAA", "data": lap},  # before the chunk
        {
            "time": t0 + 0.001,
            "kind": "sector",
            "driver": "BBB",
            "data": {
                "lap": 3,
                "sector": 2,
                "time": 29.607,
                "personal_best": False,
                "overall_best": False,
            },
        },
        {
            "time": t0 + 0.5,
            "kind": "message",
            "driver": None,
            "data": {
                "category": "Flag",
                "message": 'CAR 1 (VER) · ünïcode ✓ "q" 🏁',
                "flag": None,
                "scope": "Track",
                "sector": None,
                "driver": None,
                "lap": 4,
            },
        },
        {
            "time": t0 + 0.75,
            "kind": "weather",
            "driver": None,
            "data": {
                "air_temp": 21.5,
                "track_temp": None,
                "humidity": 50.0,
                "pressure": 1012.0,
                "rainfall": None,
                "wind_speed": 1.2,
                "wind_direction": 270.0,
            },
        },
        # Forms the fixed key lists do not cover: they go as objects, unchanged.
        {
            "time": t0 + 1.0,
            "kind": "retirement",
            "driver": "AAA",
            "data": {"lap": 0, "reason": "did not start"},
        },
        {
            "time": t0 + 1.1,
            "kind": "pit_out",
            "driver": "AAA",
            "data": {"compound": "SOFT", "lap": 5},
        },
        {"time": t0 + 1.2, "kind": "new_kind", "driver": "BBB", "data": {"x": [1, None]}},
        {"time": t0 + 1.2345, "kind": "pit_in", "driver": "BBB", "data": {"lap": 5}},
        {"time": t0 + 1.3, "kind": "pit_in", "driver": "BBB", "data": {}},
        {"time": t0 + 1.4, "kind": "finish", "driver": "BBB", "data": {"position": 1, "lap": 56}},
    ]
