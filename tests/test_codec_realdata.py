"""The compact codec on the real 2025 races (skipped without the data or the build)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Built, build_shared
from test_codec_support import check_lossless, check_round_trip

from racereplay.bench import shared_data
from racereplay.bench.wire import sample_chunks
from racereplay.codec import RATES, get_codec
from racereplay.timeline.model import Timeline

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("rate", RATES)
def test_real_race_round_trips(real_race_timeline: Timeline, rate: int) -> None:
    codec = get_codec("compact")
    for index in sample_chunks(codec.n_chunks(real_race_timeline), 25):
        check_round_trip(real_race_timeline, rate, index)


def test_real_race_meets_the_size_target(real_race_timeline: Timeline) -> None:
    compact, as_json = get_codec("compact"), get_codec("json")
    chunks = sample_chunks(compact.n_chunks(real_race_timeline), 30)
    compact_bytes = sum(len(compact.encode_chunk(real_race_timeline, 25, i)[0]) for i in chunks)
    frames = sum(len(compact.frames_of_chunk(real_race_timeline, 25, i)) for i in chunks)
    json_bytes = sum(
        len(m) for i in chunks[::5] for m in as_json.encode_chunk(real_race_timeline, 25, i)
    )
    json_frames = sum(len(as_json.frames_of_chunk(real_race_timeline, 25, i)) for i in chunks[::5])
    per_frame = compact_bytes / frames
    assert per_frame <= 100, f"{per_frame:.1f} B/frame"
    assert (json_bytes / json_frames) / per_frame >= 60
    assert len(real_race_timeline.drivers) == 20 and np.isfinite(per_frame)


def test_real_race_decodes_to_its_quantised_values_exactly(real_race_timeline: Timeline) -> None:
    codec = get_codec("compact")
    for index in sample_chunks(codec.n_chunks(real_race_timeline), 40):
        check_lossless(real_race_timeline, 25, index)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["archive", "fastf1"])
def test_chinese_race_decodes_to_its_quantised_values_exactly(built: Built, mode: str) -> None:
    """The other shared race, in the source modes the Australian test above does not use."""
    timeline, _ = build_shared(built, shared_data.CHN_RACE, mode)
    codec = get_codec("compact")
    for index in sample_chunks(codec.n_chunks(timeline), 30):
        check_lossless(timeline, 25, index)
