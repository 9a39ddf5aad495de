"""The benchmark report framework, and `racereplay bench build` on a tiny demo session."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from racereplay.bench.report import (
    BenchOptions,
    BenchResult,
    Report,
    Row,
    Section,
    Target,
    run_benches,
)

TINY_DEMO = "demo?cars=4&laps=2"


def test_targets_decide_pass_and_fail() -> None:
    assert Row("open", 20.0, "ms", target=Target.at_most(50)).passed is True
    assert Row("open", 80.0, "ms", target=Target.at_most(50)).passed is False
    assert Row("speed-up", 60.0, "x", target=Target.at_least(50)).passed is True
    assert Row("speed-up", 10.0, "x", target=Target.at_least(50)).passed is False
    assert Row("size", 3.0, "MB").passed is None
    assert Row("open", math.nan, "ms", target=Target.at_most(50)).passed is None


def _report() -> Report:
    result = BenchResult(notes=["measured on the demo"])
    result.add("warm open", 12.5, "ms", 900.0, Target.at_most(50), note="baseline: unpickle")
    result.add("cold build", 4.0, "s", target=Target.at_most(3))
    result.add("not measurable", math.nan, "s")
    return Report([Section("build", "Build and store", result, 1.0)])


def test_markdown_shows_every_row_with_its_verdict() -> None:
    text = _report().markdown()
    assert "## Build and store" in text
    assert "- measured on the demo" in text
    lines = [line for line in text.splitlines() if line.startswith("| warm open")]
    assert lines == ["| warm open (baseline: unpickle) | 12.5 | ms | 900 | ≤ 50 | ✅ |"]
    assert "| cold build | 4 | s | — | ≤ 3 | ❌ |" in text


def test_json_and_markdown_are_written_side_by_side(tmp_path: Path) -> None:
    md_path, json_path = _report().write(tmp_path / "out" / "report.md")
    assert (md_path.name, json_path.name) == ("report.md", "report.json")
    data = json.loads(json_path.read_text())  # strict JSON: NaN became null
    rows = data["sections"][0]["rows"]
    assert rows[0] == {
        "metric": "warm open",
        "value": 12.5,
        "unit": "ms",
        "baseline": 900.0,
        "target": {"op": "<=", "value": 50},
        "passed": True,
        "note": "baseline: unpickle",
    }
    assert rows[1]["passed"] is False
    assert rows[2]["value"] is None
    assert md_path.read_text() == _report().markdown().replace(_report().created, data["created"])


def test_unknown_bench_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown bench"):
        run_benches(["nonsense"], BenchOptions())


@pytest.fixture(scope="session")
def tiny_bench_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`racereplay bench build` run once on a tiny demo, as a user would run it."""
    out = tmp_path_factory.mktemp("bench") / "report"
    command = ["bench", "build", "--quick", "--session", TINY_DEMO, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "racereplay.cli", *command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "# racereplay benchmark report" in done.stdout
    assert out.with_suffix(".md").read_text() in done.stdout
    return json.loads(out.with_suffix(".json").read_text())


def test_bench_build_report_has_every_figure(tiny_bench_report: dict) -> None:
    (section,) = tiny_bench_report["sections"]
    assert section["name"] == "build"
    rows = {row["metric"]: row for row in section["rows"]}
    expected = {
        "source parse",
        "cold build from RawSession",
        "store write, the timeline kept",
        "baseline build (per-frame dicts + pickle)",
        "size on disk",
        "warm open",
        "warm open speed-up vs unpickle",
        "memory of an opened timeline",
        "peak memory of load + build, the session above",
        "its largest worker process (FastF1 timing, parsing)",
        "load + build in a fresh process",
        "async cold open_or_build, thread worker",
        "event-loop worst stall during it, thread worker",
        "async cold open_or_build, process worker",
        "event-loop worst stall during it, process worker",
    }
    assert set(rows) == expected
    for row in rows.values():
        assert set(row) == {"metric", "value", "unit", "baseline", "target", "passed", "note"}
        assert row["value"] is not None and row["value"] >= 0, row
    for metric in ("cold build from RawSession", "warm open", "memory of an opened timeline"):
        assert rows[metric]["target"] is not None
        assert rows[metric]["passed"] in (True, False)
    # The store must be smaller than the pickled per-frame dicts it replaces.
    assert rows["size on disk"]["value"] < rows["size on disk"]["baseline"]
    assert any(TINY_DEMO in note or "cars=4" in note for note in section["notes"])


def test_bench_rooms_measures_memory_and_enforces_the_bounds(tmp_path: Path) -> None:
    """`racereplay bench rooms`' memory part on a few rooms: every row, the bounds held."""
    from racereplay.bench import rooms
    from racereplay.server.services import redis_missing

    why = redis_missing()
    if why:
        pytest.skip(why)
    (tmp_path / "cache").mkdir()
    memory = rooms.memory_run(tmp_path, 5)
    assert memory.refused_room == ["too_many_rooms"]
    assert memory.refused_member == ["room_full"]
    assert 0 < memory.rss_mb[0] <= memory.rss_mb[-1]  # read from the replica's /proc
    result = BenchResult()
    rooms._memory_rows(result, memory)
    rows = {row.metric: row for row in result.rows}
    assert set(rows) == {
        "memory per viewer alone",
        "memory per room",
        "memory per member",
        "rooms on the replica when one more was asked for",
        "members in a room when one more tried to join",
    }
    assert rows["rooms on the replica when one more was asked for"].value == 5
    assert rows["rooms on the replica when one more was asked for"].passed is True
    assert rows["members in a room when one more tried to join"].value == rooms.MEMORY_ROOM_SIZE
    assert rows["members in a room when one more tried to join"].passed is True
