"""The `racereplay` command, run as a user runs it: a subprocess with its own cache folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from racereplay import __version__
from racereplay.server.process import serve_process

TINY_DEMO = "demo?cars=4&laps=2"
RACEREPLAY = Path(sys.executable).with_name("racereplay")


def racereplay(
    *args: str, cache: Path | None = None, **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environ}
    if cache is not None:
        env["RACEREPLAY_CACHE"] = str(cache)
    command = [str(RACEREPLAY)] if RACEREPLAY.exists() else [sys.executable, "-m", "racereplay.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def _one_clear_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("racereplay: error:")
    return lines[0]


def test_unknown_session_is_one_clear_error(tmp_path: Path) -> None:
    line = _one_clear_line(racereplay("build", "nonsense:thing", cache=tmp_path))
    assert "unknown source 'nonsense'" in line


def test_inspect_of_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    done = racereplay("inspect", f"tracinginsights:{tmp_path / 'absent'}", cache=tmp_path)
    assert str(tmp_path / "absent") in _one_clear_line(done)


def test_a_cache_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    line = _one_clear_line(racereplay("build", TINY_DEMO, "--cache", str(not_a_folder)))
    assert "--cache" in line


def test_serve_has_the_servers_options(tmp_path: Path) -> None:
    done = racereplay("serve", "--help", cache=tmp_path)
    assert done.returncode == 0
    assert "--cache" in done.stdout


@pytest.fixture(scope="module")
def built_cache(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cache = tmp_path_factory.mktemp("cache")
    return cache, racereplay("build", TINY_DEMO, cache=cache)


def test_build_writes_one_store_file_and_summarises(
    built_cache: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    cache, done = built_cache
    assert done.returncode == 0, done.stderr
    files = list(cache.glob("*.rrtl"))
    assert len(files) == 1
    summary = done.stdout.strip().splitlines()[0]
    assert summary.startswith("demo?cars=4&laps=2: 4 drivers")
    assert "frames" in summary and "MB" in summary and str(files[0]) in summary


def test_inspect_json_reads_the_cache(
    built_cache: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    cache, _ = built_cache
    before = {p: p.stat().st_mtime_ns for p in cache.glob("*.rrtl")}
    done = racereplay("inspect", TINY_DEMO, "--json", cache=cache)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for key in ("classification", "lap_end_order", "pit_stops", "retirements", "laps", "frames"):
        assert key in summary, key
    assert len(summary["classification"]) == 4
    assert summary["frames"] > 0
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.rrtl")} == before  # not rebuilt


def test_inspect_readable(built_cache: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cache, _ = built_cache
    done = racereplay("inspect", TINY_DEMO, cache=cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "4 drivers" in lines[0]
    assert lines[1].startswith("classification: 1.")
    assert "retirements:" in done.stdout


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path) -> None:
    assert racereplay("build", TINY_DEMO, cache=tmp_path).returncode == 0
    (path,) = tmp_path.glob("*.rrtl")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    done = racereplay("inspect", TINY_DEMO, "--json", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == good  # rebuilt, deterministically the same


def test_build_without_argument_builds_the_demo() -> None:
    from racereplay.cli import _parser

    assert _parser().parse_args(["build"]).sessions == ["demo"]


def test_version() -> None:
    done = racereplay("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"racereplay {__version__}"


def test_python_m_racereplay_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "racereplay", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"racereplay {__version__}"


def test_a_bad_log_level_is_a_usage_error(tmp_path: Path) -> None:
    done = racereplay("serve", "--log-level", "loud", cache=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "argument --log-level: invalid choice: 'loud'" in done.stderr


def test_a_bad_environment_variable_is_one_clear_error(tmp_path: Path) -> None:
    line = _one_clear_line(racereplay("serve", cache=tmp_path, RACEREPLAY_PORT="eighty"))
    assert "$RACEREPLAY_PORT='eighty' is not a whole number" in line


@pytest.mark.parametrize(("level", "shown"), [("info", True), ("warning", False)])
def test_racereplay_info_lines_follow_the_log_level(
    tmp_path: Path, level: str, shown: bool
) -> None:
    log = tmp_path / "server.log"
    with serve_process(["--cache", str(tmp_path), "--log-level", level], log) as (port, _):
        assert httpx.get(f"http://127.0.0.1:{port}/api/catalogue", timeout=30).is_success
    text = log.read_text()
    # The start-up line of racereplay's own logger, and uvicorn's access line.
    assert ("racereplay.server.app: racereplay" in text) is shown, text
    assert ('"GET /api/catalogue HTTP/1.1" 200' in text) is shown, text
