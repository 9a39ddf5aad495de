"""`racereplay serve` settings: flags, then `RACEREPLAY_*` variables, then defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from racereplay.server.options import SERVE_OPTIONS, SettingsError, add_arguments
from racereplay.server.options import settings_from_args as _settings
from racereplay.server.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def settings(*flags: str, **environ: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return _settings(parser.parse_args(flags), environ)


def test_defaults_without_flags_or_variables() -> None:
    got = settings()
    assert (got.host, got.port, got.root_path, got.log_level) == ("127.0.0.1", 8000, "", "info")
    assert got.fastf1_browse and not got.offline


def test_every_option_reads_its_variable(tmp_path: Path) -> None:
    got = settings(
        RACEREPLAY_HOST="0.0.0.0",
        RACEREPLAY_PORT="9001",
        RACEREPLAY_DATA=f"{tmp_path}:{tmp_path}",
        RACEREPLAY_FASTF1="2025/Australia/R, 2025/China/R",
        RACEREPLAY_FASTF1_BROWSE="0",
        RACEREPLAY_FASTF1_CACHE=str(tmp_path / "ff1"),
        RACEREPLAY_FASTF1_HTTP_CACHE=str(tmp_path / "http"),
        RACEREPLAY_OFFLINE="yes",
        RACEREPLAY_MAX_BUILDS="2",
        RACEREPLAY_MEMORY_MB="512",
        RACEREPLAY_CACHE_MB="1024",
        RACEREPLAY_ALLOW_HOST="f1.example.org,replay.example.org",
        RACEREPLAY_ALLOW_ORIGIN="https://f1.example.org",
        RACEREPLAY_ROOT_PATH="/f1/",
        RACEREPLAY_LOG_LEVEL="WARNING",
    )
    assert (got.host, got.port) == ("0.0.0.0", 9001)
    assert got.data_dirs == (tmp_path, tmp_path)
    assert got.fastf1_sessions == ("2025/Australia/R", "2025/China/R")
    assert not got.fastf1_browse and got.offline
    assert (got.fastf1_cache, got.fastf1_http_cache) == (tmp_path / "ff1", tmp_path / "http")
    assert (got.max_builds, got.memory_budget_mb, got.cache_budget_mb) == (2, 512, 1024)
    assert got.allowed_hosts[-2:] == ("f1.example.org", "replay.example.org")  # 0.0.0.0: no name
    assert got.allowed_origins == ("https://f1.example.org",)
    assert (got.root_path, got.log_level) == ("/f1", "warning")


def test_a_flag_beats_its_variable() -> None:
    got = settings(
        "--port",
        "9002",
        "--allow-host",
        "a.example",
        "--log-level",
        "debug",
        RACEREPLAY_PORT="9001",
        RACEREPLAY_ALLOW_HOST="b.example",
        RACEREPLAY_LOG_LEVEL="error",
    )
    assert got.port == 9002 and got.log_level == "debug"
    assert "a.example" in got.allowed_hosts and "b.example" not in got.allowed_hosts


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RACEREPLAY_PORT", "eighty", "a whole number"),
        ("RACEREPLAY_MAX_BUILDS", "0", "at least 1"),
        ("RACEREPLAY_OFFLINE", "maybe", "one of 1, true"),
        ("RACEREPLAY_LOG_LEVEL", "loud", "one of critical"),
        ("RACEREPLAY_ROOT_PATH", "f1", "must start with '/'"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=variable) as error:
        settings(**{variable: value})
    assert expected in str(error.value)


def test_a_data_folder_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RACEREPLAY_DATA"):
        settings(RACEREPLAY_DATA=str(tmp_path / "absent"))


def test_the_readme_table_names_every_variable() -> None:
    readme = README.read_text()
    for option in SERVE_OPTIONS:
        assert f"`{option.env}" in readme and f"| `{option.flag}" in readme, option.flag
