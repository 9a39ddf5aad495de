"""The web client's TypeScript decoder (web/src/codec.ts) against the Python encoder.

A small synthetic timeline (drivers with missing positions, big gaps, wrapping
residuals) is encoded with `racereplay.codec`; Node decodes the bytes with the
client's own decoder, and every value must match the Python decoder's. Then chunks
of hostile values, of the demo and of the real race must decode in Node to the
timeline's quantised values exactly, step for step.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from factories import random_timeline
from test_codec_support import SPECS, event_cases

from racereplay.bench.wire import sample_chunks
from racereplay.codec.compact import quantise
from racereplay.codec.events import event_to_dict, events_in_span
from racereplay.model import Driver
from racereplay.timeline.model import Event, Timeline

WEB = Path(__file__).resolve().parents[1] / "web"
N_FRAMES = 137  # not a multiple of a chunk: the last chunk is partial
DRIVERS = [Driver("AAA", "1", "Team A", "#ff0000"), Driver("BBB", "2", "Team B", "#00ff00")]


def _timeline() -> Timeline:
    timeline = random_timeline(N_FRAMES, seed=5, values="walk", cars=DRIVERS, t0=3600.0)
    frames = timeline.frames
    frames["x"][10:20, 0] = np.nan  # a car with no position for a while
    frames["y"][10:20, 0] = np.nan
    frames["gap"][:, 0] = np.nan  # the leader has no gap
    frames["x"][40, 1] = -190_000.0  # a jump big enough to wrap the order-2 residuals
    events = [
        Event(
            3601.0, "lap", "AAA", {"lap": 1, "lap_time": 91.5, "sectors": [30.1, float("nan"), 31]}
        ),
        Event(3604.2, "message", None, {"message": "GREEN LIGHT"}),
    ]
    # Every form of the events section: known kinds without their keys, unknown kinds
    # and fields, null for NaN, unicode text, times before the chunk and not on a ms.
    events += [Event(e["time"], e["kind"], e["driver"], e["data"]) for e in event_cases(3600.0)]
    return dataclasses.replace(timeline, events=events)


def _sorted(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.time)


def _ordered(value: object) -> object:
    """Dicts as lists of (key, value): equal only if the keys come in the same order."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed: the web client's decoder cannot be run")
    if not (WEB / "node_modules" / "typescript").exists():
        pytest.skip("web/node_modules is missing: run `make web` (npm ci) first")
    return exe


def test_typescript_decoder_matches_python(node: str, tmp_path: Path) -> None:
    from racereplay.codec import decode_chunk, get_codec

    codec = get_codec("compact")
    timeline = _timeline()
    files, expected = [], []
    for rate in codec.rates:
        for index in range(codec.n_chunks(timeline)):
            (data,) = codec.encode_chunk(timeline, rate, index)
            path = tmp_path / f"chunk-{rate}-{index}.bin"
            path.write_bytes(data)
            files.append(str(path))
            expected.append(decode_chunk(data))
    out = subprocess.run(
        [node, str(WEB / "scripts" / "decode-chunk.mjs"), *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=WEB,
    )
    decoded = json.loads(out.stdout)
    assert len(decoded) == len(expected) > 4
    for got, want in zip(decoded, expected, strict=True):
        assert got["header"]["index"] == want.index
        assert got["header"]["rate"] == want.rate
        assert got["frames"] == want.frames.tolist()
        for name, values in want.channels.items():
            ts = np.array([np.nan if v is None else v for v in got["channels"][name]], np.float64)
            py = values.astype(np.float64).reshape(len(want.frames), -1).reshape(ts.shape)
            np.testing.assert_allclose(ts, py, rtol=0, atol=1e-3, err_msg=name, equal_nan=True)
        # The same event dicts, key order included, as the Python decoder's (JSON from
        # JavaScript has no 31.0, only 31: == compares the numbers).
        assert _ordered(got["events"]) == _ordered(want.events)
    sent = [e for chunk in decoded[: codec.n_chunks(timeline)] for e in chunk["events"]]
    assert _ordered(sent) == _ordered([event_to_dict(e) for e in _sorted(timeline.events)])
    # The missing stretch really decodes as missing, and values round-trip the timeline.
    first = decoded[0]
    assert first["channels"]["x"][10 * 2] is None
    k = np.array(first["frames"])
    np.testing.assert_allclose(
        np.array(first["channels"]["speed"], np.float64).reshape(-1, 2),
        np.rint(timeline.frames["speed"][k]),
    )


def _decode_in_node(node: str, chunks: list[bytes], folder: Path) -> list[dict]:
    files = []
    for i, data in enumerate(chunks):
        path = folder / f"chunk-{i}.bin"
        path.write_bytes(data)
        files.append(str(path))
    out = subprocess.run(
        [node, str(WEB / "scripts" / "decode-chunk.mjs"), *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=WEB,
    )
    return json.loads(out.stdout)


def _hostile_timeline() -> Timeline:
    timeline = random_timeline(180, n_drivers=5, seed=11, values="any")
    rng = np.random.default_rng(11)
    frames = timeline.frames
    frames["position"][:] = rng.integers(0, 7, frames["position"].shape)  # ties, 0, holes
    frames["gap"][rng.random(frames["gap"].shape) < 0.2] = np.nan
    frames["interval"][:] = frames["gap"] - np.roll(frames["gap"], 1, axis=1)
    return timeline


@pytest.fixture(
    scope="module",
    params=["hostile", "single", "demo", pytest.param("real", marks=pytest.mark.realdata)],
)
def exact_case(request: pytest.FixtureRequest) -> tuple[Timeline, list[tuple[int, int]]]:
    from racereplay.codec import get_codec

    codec = get_codec("compact")
    if request.param == "hostile":
        timeline = _hostile_timeline()
        return timeline, [(r, i) for r in codec.rates for i in range(codec.n_chunks(timeline))]
    if request.param == "single":  # one driver; the last chunk holds one frame
        timeline = random_timeline(2 * 50 + 1, n_drivers=1, seed=7, values="walk")
        return timeline, [(r, i) for r in codec.rates for i in range(codec.n_chunks(timeline))]
    if request.param == "demo":
        from racereplay.sources.demo import simulate
        from racereplay.timeline.build import build_timeline

        timeline = build_timeline(simulate(cars=20, laps=2))
    else:
        timeline = request.getfixturevalue("real_race_timeline")
    chunks = sample_chunks(codec.n_chunks(timeline), 12)
    return timeline, [(25, i) for i in chunks] + [(2, i) for i in chunks[::4]]


def test_typescript_decoder_gives_the_quantised_timeline_exactly(
    node: str, tmp_path: Path, exact_case: tuple[Timeline, list[tuple[int, int]]]
) -> None:
    from racereplay.codec import decode_chunk, get_codec

    codec = get_codec("compact")
    timeline, wanted = exact_case
    chunks = [codec.encode_chunk(timeline, rate, index)[0] for rate, index in wanted]
    decoded = _decode_in_node(node, chunks, tmp_path)
    span = codec.chunk_seconds * timeline.fps
    last = codec.n_chunks(timeline) - 1
    for (rate, index), got, data in zip(wanted, decoded, chunks, strict=True):
        frames = codec.frames_of_chunk(timeline, rate, index)
        assert got["frames"] == frames.tolist()
        # The events: the timeline's, as the Python decoder gives them, key order included.
        want = events_in_span(timeline, index * span, (index + 1) * span, index == 0, index == last)
        assert _ordered(decode_chunk(data).events) == _ordered(want)
        assert _ordered(got["events"]) == _ordered(want), f"events of chunk {index} at {rate}"
        for name, spec in SPECS.items():
            values = np.array([np.nan if v is None else v for v in got["channels"][name]])
            shape = timeline.frames[name][frames].shape
            # float32 from the client, quantised again: the same steps as the timeline's.
            got_q = quantise(values.astype(np.float32).reshape(shape), spec)
            want_q = quantise(timeline.frames[name][frames], spec)
            np.testing.assert_array_equal(got_q, want_q, err_msg=f"{name}, chunk {index} at {rate}")
