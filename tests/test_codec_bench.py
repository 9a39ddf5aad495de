"""The wire bench runs end to end (quick) and reports compact against the JSON baseline."""

from __future__ import annotations

from factories import circuit_timeline

from racereplay.bench.report import BenchOptions
from racereplay.bench.wire import run, sample_chunks


def test_sample_chunks_spread_over_the_session() -> None:
    assert sample_chunks(100, 5) == [0, 24, 49, 74, 99]
    assert sample_chunks(3, 10) == [0, 1, 2]


def test_wire_bench_reports_every_codec_and_rate() -> None:
    result = run(BenchOptions(quick=True), timeline=circuit_timeline(n_frames=1000))
    rows = {row.metric: row for row in result.rows}
    for rate in (25, 10, 5, 2):
        assert rows[f"compact bytes per frame, {rate} fps"].value > 0
        assert (
            rows[f"compact at 1x, {rate} fps"].baseline > rows[f"compact at 1x, {rate} fps"].value
        )
    json_row = rows["json bytes per frame"]
    compact_row = rows["compact bytes per frame, 25 fps"]
    ratio = rows["compact size vs json, 25 fps"]
    assert abs(ratio.value - json_row.value / compact_row.value) < 1e-9
    assert rows["msgpack bytes per frame"].value < json_row.value
    assert compact_row.passed and ratio.passed
