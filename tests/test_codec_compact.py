"""The compact codec: round trip within the stated quantisation, chunk independence,
boundaries, events, determinism and size."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from factories import circuit_timeline, random_timeline
from test_codec_support import check_lossless, check_round_trip, event_cases

from racereplay.codec import RATES, decode_chunk, get_codec, varint
from racereplay.codec.compact import HEADER, car_ahead, quantise
from racereplay.codec.compact_events import chunk_start_ms, decode_events, encode_events
from racereplay.codec.events import event_to_dict
from racereplay.sources.demo import simulate
from racereplay.timeline.build import build_timeline
from racereplay.timeline.model import Event, Timeline

CODEC = get_codec("compact")


@pytest.fixture(scope="session")
def synthetic() -> Timeline:
    return circuit_timeline()


@pytest.fixture(scope="session")
def demo_timeline() -> Timeline:
    return build_timeline(simulate())


# Every chunk of the whole demo race at every rate: ~35 s, so outside `make test-fast`.
@pytest.fixture(scope="session", params=["synthetic", pytest.param("demo", marks=pytest.mark.slow)])
def timeline(request: pytest.FixtureRequest) -> Timeline:
    return request.getfixturevalue("synthetic" if request.param == "synthetic" else "demo_timeline")


@pytest.mark.parametrize("rate", RATES)
def test_every_chunk_round_trips_within_quantisation(timeline: Timeline, rate: int) -> None:
    for index in range(CODEC.n_chunks(timeline)):
        check_round_trip(timeline, rate, index)


@pytest.mark.parametrize("rate", (25, 2))
def test_every_chunk_decodes_to_the_quantised_timeline_exactly(
    synthetic: Timeline, demo_timeline: Timeline, rate: int
) -> None:
    for timeline in (synthetic, demo_timeline):
        for index in range(0, CODEC.n_chunks(timeline), 3):
            check_lossless(timeline, rate, index)


def test_predictions_stay_lossless_on_hostile_values() -> None:
    """Positions shared or missing, gaps missing, values anywhere in each dtype: the
    interval's prediction from the gaps and the order chosen per chunk must not lose a step."""
    timeline = random_timeline(230, n_drivers=6, seed=3, values="any")
    frames = timeline.frames
    rng = np.random.default_rng(3)
    frames["position"][:] = rng.integers(0, 8, frames["position"].shape)  # ties, 0, gaps
    frames["gap"][rng.random(frames["gap"].shape) < 0.2] = np.nan
    frames["interval"][:] = frames["gap"] - np.roll(frames["gap"], 1, axis=1)
    for rate in RATES:
        for index in range(CODEC.n_chunks(timeline)):
            check_lossless(timeline, rate, index)


def test_one_driver_and_a_one_frame_last_chunk_stay_lossless() -> None:
    timeline = random_timeline(2 * 50 + 1, n_drivers=1, seed=7, values="walk")
    assert len(CODEC.frames_of_chunk(timeline, 25, CODEC.n_chunks(timeline) - 1)) == 1
    for rate in RATES:
        for index in range(CODEC.n_chunks(timeline)):
            check_lossless(timeline, rate, index)


def test_a_driver_with_no_data_stays_lossless(demo_timeline: Timeline) -> None:
    frames = {name: values.copy() for name, values in demo_timeline.frames.items()}
    for name in ("x", "y", "distance", "speed", "gap", "interval"):
        frames[name][:, 3] = np.nan  # every keyframe prediction that reads them falls back
    timeline = dataclasses.replace(demo_timeline, frames=frames)
    for index in (0, 7, CODEC.n_chunks(timeline) - 1):
        check_lossless(timeline, 25, index)


def test_keyframe_predictions_and_pairs_do_their_job(demo_timeline: Timeline) -> None:
    """Would fail if a prediction broke while staying lossless: the speed and gap keys
    closer to their predictions than to the car ahead's, smooth residuals nearly all paired."""
    from racereplay.codec.compact import (
        _ALL_CHANNELS,
        ESCAPE,
        _code_keys,
        _KeyContext,
        encode_values,
        race_order,
    )

    index = CODEC.n_chunks(demo_timeline) // 2
    frames = CODEC.frames_of_chunk(demo_timeline, 25, index)
    q = {
        spec.name: quantise(demo_timeline.frames[spec.name][frames].T, spec)
        for spec in _ALL_CHANNELS[:18]
    }
    ctx = _KeyContext(race_order(q["position"][:, 0]), 1, 25)
    ctx.keys["distance"] = q["distance"][:, 0]
    ctx.velocities["distance"] = q["distance"][:, 1] - q["distance"][:, 0]
    speed = _code_keys("speed", q["speed"][:, 0], ctx)
    speed_ahead = np.diff(q["speed"][:, 0][ctx.order].astype(np.int64))
    assert np.abs(speed).max() <= 10 and np.abs(speed).mean() < np.abs(speed_ahead).mean() / 2
    ctx.keys["speed"] = q["speed"][:, 0]
    gap = _code_keys("gap", q["gap"][:, 0], ctx)
    in_order = q["gap"][:, 0][ctx.order].astype(np.int64)
    known = (in_order[1:] != np.iinfo(np.int32).min) & (in_order[:-1] != np.iinfo(np.int32).min)
    gap_ahead = np.diff(in_order)[known]
    assert known.sum() >= 10 and np.abs(gap[1:][known]).mean() < np.abs(gap_ahead).mean() / 3
    series = [quantise(demo_timeline.frames[s.name][frames].T, s) for s in _ALL_CHANNELS[:18]]
    series += [quantise(demo_timeline.frames[s.name][frames], s)[None] for s in _ALL_CHANNELS[18:]]
    pairs = np.frombuffer(encode_values(series).pairs, np.uint8)
    assert (pairs != ESCAPE).mean() > 0.9


def test_the_car_ahead_is_the_one_a_place_ahead() -> None:
    by_frame = [[2, 1, 0], [1, 3, 2], [2, 2, 3], [4, 2, 1]]  # positions of D0, D1, D2
    ahead = car_ahead(np.array(by_frame, dtype=np.uint8).T)  # (drivers, frames)
    np.testing.assert_array_equal(ahead[:, 0], [1, -1, -1])  # 0: not classified
    np.testing.assert_array_equal(ahead[:, 1], [-1, 2, 0])
    np.testing.assert_array_equal(ahead[:, 2], [-1, -1, 0])  # a tie at 2nd: the lower index
    np.testing.assert_array_equal(ahead[:, 3], [-1, 2, -1])  # nobody 3rd: 4th has none


def test_missing_values_stay_missing(synthetic: Timeline) -> None:
    last = CODEC.n_chunks(synthetic) - 1
    decoded = decode_chunk(CODEC.encode_chunk(synthetic, 25, last)[0])
    assert np.isnan(decoded.channels["x"][:, -1]).all()
    assert np.isnan(decoded.channels["gap"][:, -1]).all()
    assert (decoded.channels["status"][:, -1] == 3).all()
    assert (decoded.channels["position"][:, -1] == 0).all()


def test_a_chunk_does_not_depend_on_the_rest_of_the_timeline(synthetic: Timeline) -> None:
    index = 7
    span = CODEC.chunk_seconds * synthetic.fps
    shorter = dataclasses.replace(
        synthetic,
        frames={name: a[: (index + 2) * span] for name, a in synthetic.frames.items()},
    )
    for rate in RATES:
        assert CODEC.encode_chunk(shorter, rate, index) == CODEC.encode_chunk(
            synthetic, rate, index
        )


def test_the_keyframe_is_exact_in_steps(synthetic: Timeline) -> None:
    decoded = decode_chunk(CODEC.encode_chunk(synthetic, 25, 9)[0])
    first = decoded.frames[0]
    q_original = np.rint(synthetic.frames["x"][first].astype(np.float64) * 10)
    q_decoded = np.rint(decoded.channels["x"][0].astype(np.float64) * 10)
    ok = ~np.isnan(q_original)
    np.testing.assert_array_equal(q_decoded[ok], q_original[ok])


@pytest.mark.parametrize("rate", RATES)
def test_chunks_tile_the_timeline_with_a_partial_last_chunk(synthetic: Timeline, rate: int) -> None:
    n = CODEC.n_chunks(synthetic)
    span = CODEC.chunk_seconds * synthetic.fps
    assert n == -(-synthetic.n_frames // span)
    assert synthetic.n_frames % span != 0, "the synthetic timeline must end mid-chunk"
    all_frames = np.concatenate([CODEC.frames_of_chunk(synthetic, rate, i) for i in range(n)])
    assert np.all(np.diff(all_frames) > 0)
    assert all_frames[0] == 0 and all_frames[-1] < synthetic.n_frames
    if rate == synthetic.fps:
        np.testing.assert_array_equal(all_frames, np.arange(synthetic.n_frames))
    full = CODEC.frames_of_chunk(synthetic, rate, 0)
    assert len(full) == CODEC.chunk_seconds * rate
    last = decode_chunk(CODEC.encode_chunk(synthetic, rate, n - 1)[0])
    assert 0 < len(last.frames) < CODEC.chunk_seconds * rate
    np.testing.assert_array_equal(last.frames, CODEC.frames_of_chunk(synthetic, rate, n - 1))
    assert CODEC.chunk_of_frame(synthetic, synthetic.n_frames - 1) == n - 1


def test_chunk_starts_are_the_same_time_at_every_rate(synthetic: Timeline) -> None:
    for index in (0, 5, CODEC.n_chunks(synthetic) - 1):
        starts = {int(CODEC.frames_of_chunk(synthetic, r, index)[0]) for r in RATES}
        assert starts == {index * CODEC.chunk_seconds * synthetic.fps}


def test_out_of_range_requests_say_what_is_valid(synthetic: Timeline) -> None:
    with pytest.raises(ValueError, match="chunks 0 to"):
        CODEC.encode_chunk(synthetic, 25, CODEC.n_chunks(synthetic))
    with pytest.raises(ValueError, match="rate"):
        CODEC.encode_chunk(synthetic, 30, 0)


def test_every_event_is_in_exactly_one_chunk_at_every_rate(synthetic: Timeline) -> None:
    expected = sorted(round(e.time, 3) for e in synthetic.events)
    for rate in (25, 2):
        seen = []
        for index in range(CODEC.n_chunks(synthetic)):
            seen += [
                e["time"]
                for e in decode_chunk(CODEC.encode_chunk(synthetic, rate, index)[0]).events
            ]
        assert seen == expected
    first = decode_chunk(CODEC.encode_chunk(synthetic, 25, 0)[0]).events
    assert first[0]["kind"] == "message" and first[0]["time"] < synthetic.t0
    assert any(e["data"].get("lap_time", 0) is None for e in first), "NaN must travel as null"


def test_same_input_same_bytes(synthetic: Timeline) -> None:
    again = circuit_timeline()
    for rate in RATES:
        assert CODEC.encode_chunk(synthetic, rate, 3) == CODEC.encode_chunk(again, rate, 3)


def test_header_is_readable_without_inflating(synthetic: Timeline) -> None:
    data = CODEC.encode_chunk(synthetic, 10, 4)[0]
    magic, fps, rate, seconds, n_drivers, n_frames, index, t0 = HEADER.unpack_from(data)
    assert magic == b"RRC4" and HEADER.size == 22
    assert (fps, rate, seconds, n_drivers) == (25, 10, CODEC.chunk_seconds, 20)
    assert (n_frames, index) == (10 * seconds, 4) and t0 == synthetic.t0
    assert decode_chunk(data).first_frame == 4 * seconds * 25


def test_events_come_back_exactly_without_their_keys() -> None:
    """The array form for the known kinds (no data keys on the wire), objects for the rest;
    decoding gives the same dicts, key order included."""
    base = chunk_start_ms(3600.04, 250, 25)
    events = event_cases(3610.04)
    data = encode_events(events, base)
    assert json.dumps(decode_events(data, base)) == json.dumps(events)
    packed = json.loads(data)
    assert [isinstance(item, list) for item in packed] == [True] * 4 + [False] * 5 + [True]
    for key in ("lap_time", "personal_best", "air_temp", "category"):
        assert key.encode() not in data, key
    assert packed[1][:3] == [1, round((3610.041) * 1000) - base, "BBB"]  # kind 1, ms, driver


def test_chunk_events_travel_in_the_new_form(synthetic: Timeline) -> None:
    events = [Event(e["time"], e["kind"], e["driver"], e["data"]) for e in event_cases(3600.0)]
    timeline = dataclasses.replace(synthetic, events=events)
    decoded = decode_chunk(CODEC.encode_chunk(timeline, 25, 0)[0]).events
    assert json.dumps(decoded) == json.dumps([event_to_dict(e) for e in events])


def test_compact_is_small(synthetic: Timeline) -> None:
    """The design target on realistic cars: <= 100 B per frame at 25 fps, >= 60x under JSON."""
    json_codec = get_codec("json")
    compact_bytes = json_bytes = frames = 0
    for index in range(0, CODEC.n_chunks(synthetic), 10):
        compact_bytes += len(CODEC.encode_chunk(synthetic, 25, index)[0])
        json_bytes += sum(len(m) for m in json_codec.encode_chunk(synthetic, 25, index))
        frames += len(CODEC.frames_of_chunk(synthetic, 25, index))
    assert compact_bytes / frames <= 100
    assert json_bytes / compact_bytes >= 60


def test_garbage_is_refused_with_a_clear_error(synthetic: Timeline) -> None:
    with pytest.raises(ValueError, match="not a compact chunk"):
        decode_chunk(json.dumps({"t": 1}).encode())
    data = bytearray(CODEC.encode_chunk(synthetic, 25, 0)[0])
    with pytest.raises(Exception):  # noqa: B017 - zlib.error or ValueError, both say corrupt
        decode_chunk(bytes(data[:-10]))


def test_varints_round_trip_every_magnitude() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [
            np.array([0, 1, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31)], dtype=np.int32),
            rng.integers(-(2**31), 2**31, 5000, dtype=np.int64).astype(np.int32),
            rng.integers(-300, 300, 5000).astype(np.int32),
        ]
    )
    data = varint.encode(values)
    np.testing.assert_array_equal(varint.decode(data, len(values)), values)
    assert len(varint.encode(np.zeros(10, np.int32))) == 10
    assert len(varint.encode(np.array([-(2**31)], np.int32))) == 5
