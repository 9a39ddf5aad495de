"""The per-frame baselines: the documented object per frame, as JSON and as msgpack."""

from __future__ import annotations

import json
import math

import msgpack
import numpy as np
import pytest
from factories import circuit_timeline

from racereplay.codec import CODEC_NAMES, UnknownCodec, get_codec
from racereplay.timeline.model import DRIVER_CHANNELS, Timeline


@pytest.fixture(scope="session")
def synthetic() -> Timeline:
    return circuit_timeline(n_frames=400)


def test_codecs_are_found_by_name() -> None:
    assert set(CODEC_NAMES) == {"json", "msgpack", "compact"}
    assert all(get_codec(n).name == n for n in CODEC_NAMES)
    with pytest.raises(UnknownCodec, match="json, msgpack, compact"):
        get_codec("protobuf")


@pytest.mark.parametrize("rate", [25, 5])
def test_json_frames_carry_every_channel_of_the_timeline(synthetic: Timeline, rate: int) -> None:
    codec = get_codec("json")
    index = codec.n_chunks(synthetic) - 1  # the partial last chunk
    frames = codec.frames_of_chunk(synthetic, rate, index)
    messages = codec.encode_chunk(synthetic, rate, index)
    assert len(messages) == len(frames) > 0
    for k, message in zip(frames.tolist(), messages, strict=True):
        obj = json.loads(message)
        assert obj["frame"] == k and obj["t"] == pytest.approx(synthetic.time_of(k), abs=1e-3)
        assert obj["track_status"] == synthetic.frames["track_status"][k]
        assert list(obj["drivers"]) == [d.code for d in synthetic.drivers]
        for i, code in enumerate(obj["drivers"]):
            fields = obj["drivers"][code]
            assert list(fields) == list(DRIVER_CHANNELS)
            for name, value in fields.items():
                original = synthetic.frames[name][k, i]
                if isinstance(original, np.floating) and math.isnan(original):
                    assert value is None, (name, code)
                else:
                    assert value == pytest.approx(float(original), abs=1e-3), (name, code)


def test_msgpack_carries_the_same_objects_as_json(synthetic: Timeline) -> None:
    as_json = [json.loads(m) for m in get_codec("json").encode_chunk(synthetic, 25, 3)]
    as_msgpack = [msgpack.unpackb(m) for m in get_codec("msgpack").encode_chunk(synthetic, 25, 3)]
    assert as_msgpack == as_json


def test_baselines_are_deterministic(synthetic: Timeline) -> None:
    for name in ("json", "msgpack"):
        codec = get_codec(name)
        assert codec.encode_chunk(synthetic, 10, 2) == codec.encode_chunk(
            circuit_timeline(400), 10, 2
        )
