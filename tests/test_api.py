"""The Python API: racereplay.open → Timeline, one frame as a table, pandas/polars exports,
and a FastF1 session handed over as it is loaded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import racereplay
from racereplay.bench import shared_data
from racereplay.sources import SessionNotFound
from racereplay.store.cache import cache_path
from racereplay.timeline.model import CHANNELS, DRIVER_CHANNELS, SESSION_CHANNELS, Timeline
from racereplay.timeline.table import FRAME_COLUMNS

DEMO = "demo?cars=4&laps=2"


@pytest.fixture(scope="module")
def timelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The timeline cache folder of this module's tests."""
    return tmp_path_factory.mktemp("timelines")


@pytest.fixture(scope="module")
def demo(timelines: Path) -> Timeline:
    return racereplay.open(DEMO, cache_dir=timelines)


def test_import_racereplay_is_light_and_exports_the_api() -> None:
    code = (
        "import json, sys, racereplay; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pandas', 'fastf1', 'fastapi', 'racereplay'))))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert loaded == ["racereplay"]
    assert sorted(racereplay.__all__) == ["Timeline", "__version__", "open"]
    from racereplay.api import open as api_open

    assert racereplay.open is api_open and racereplay.Timeline is Timeline
    with pytest.raises(AttributeError, match="no attribute 'opne'"):
        racereplay.opne  # noqa: B018


def test_a_named_session_goes_through_the_timeline_cache(demo: Timeline, timelines: Path) -> None:
    assert demo.verify_frames is not None  # memory-mapped from its store file
    assert cache_path(DEMO, timelines).exists()
    again = racereplay.open(DEMO, cache_dir=timelines)  # opened from that file
    np.testing.assert_array_equal(again.frames["distance"], demo.frames["distance"])
    assert [d.code for d in again.drivers] == [d.code for d in demo.drivers]


def test_at_gives_one_row_per_driver_in_running_order(demo: Timeline) -> None:
    when = demo.info.start_time + 45.0
    table = demo.at(when)
    k = demo.frame_at(when)
    assert table.frame == k and table.time == pytest.approx(demo.time_of(k))
    assert len(table) == len(demo.drivers) and table.columns == FRAME_COLUMNS
    assert set(FRAME_COLUMNS) == set(DRIVER_CHANNELS) | {"driver"}
    assert [row["position"] for row in table] == sorted(row["position"] for row in table)
    for j, driver in enumerate(demo.drivers):
        row = table[driver.code]
        assert row["position"] == demo.frames["position"][k, j]
        assert row["speed"] == pytest.approx(float(demo.frames["speed"][k, j]))
        assert row["status"] == "RUNNING" and row["compound"] in ("SOFT", "MEDIUM", "HARD")
    assert table.track_status == "GREEN" and table.units["speed"] == "km/h"
    assert demo.at(timedelta(seconds=when)).frame == k  # FastF1's SessionTime type
    assert "km/h" in repr(table) and "<table>" in table._repr_html_()
    with pytest.raises(KeyError, match="the drivers are"):
        table["XXX"]


def test_to_pandas_has_every_channel_with_its_unit(demo: Timeline) -> None:
    pytest.importorskip("pandas")
    start = demo.info.start_time
    frame = demo.to_pandas(start=start, end=start + 10.0, fps=5)
    assert list(frame.columns) == ["time", "frame", "driver", *DRIVER_CHANNELS, *SESSION_CHANNELS]
    frames = np.arange(demo.frame_at(start), demo.frame_at(start + 10.0) + 1, 5)
    assert len(frame) == len(frames) * len(demo.drivers)
    assert frame.attrs["units"]["time"] == "s"
    units = frame.attrs["units"]
    assert {k: units[k] for k in CHANNELS} == {k: unit for k, (unit, _) in CHANNELS.items()}
    j = 1
    own = frame[frame["driver"] == demo.drivers[j].code]
    np.testing.assert_array_equal(own["frame"], frames)
    np.testing.assert_array_equal(own["distance"], demo.frames["distance"][frames, j])
    np.testing.assert_allclose(own["time"], demo.t0 + frames / demo.fps)
    assert set(own["status"].astype(str)) == {"RUNNING"}
    one = demo.to_pandas(drivers=[demo.drivers[0].code], fps=1)
    assert set(one["driver"].astype(str)) == {demo.drivers[0].code}
    with pytest.raises(KeyError, match="unknown driver"):
        demo.to_pandas(drivers=["XXX"])


def test_to_polars_matches_to_pandas(demo: Timeline) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("polars")
    by_pandas = demo.to_pandas(fps=2)
    by_polars = demo.to_polars(fps=2)
    assert by_polars.columns == list(by_pandas.columns)
    for name in by_pandas.columns:
        left, right = by_pandas[name], by_polars[name]
        if isinstance(left.dtype, pd.CategoricalDtype):
            assert left.astype(str).tolist() == right.cast(str).to_list(), name
        else:
            np.testing.assert_array_equal(left.to_numpy(), right.to_numpy(), err_msg=name)


def test_a_missing_extra_says_how_to_install_it(
    demo: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match=r"pip install 'racereplay\[pandas\]'"):
        demo.to_pandas()
    with pytest.raises(ImportError, match=r"pip install 'racereplay\[polars\]'"):
        demo.at(demo.t0).to_polars()


def test_open_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match="session name"):
        racereplay.open(42)
    with pytest.raises(TypeError, match=r"\?telemetry=PATH"):
        racereplay.open("demo", telemetry="/somewhere")
    with pytest.raises(SessionNotFound, match="unknown source"):
        racereplay.open("nope:x")


# ---------------------------------------------------------------- a loaded FastF1 session


@pytest.fixture(scope="module")
def loaded_fastf1_race() -> Any:
    """The shared Australian race, loaded by FastF1 itself, offline (no telemetry in it)."""
    from conftest import need_shared_data

    need_shared_data(shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE)
    pytest.importorskip("fastf1", reason="FastF1 is an optional extra: pip install -e .[fastf1]")
    from racereplay.sources.fastf1_timing import configured_fastf1

    cache, frozen = shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE
    with configured_fastf1(cache, frozen, offline=True) as fastf1:
        session = fastf1.get_session(2025, "Australia", "R")
        session.load(laps=True, telemetry=False, weather=True, messages=True)
        unloaded = fastf1.get_session(2025, "Australia", "R")
    return session, unloaded


@pytest.mark.realdata
def test_a_loaded_fastf1_session_is_used_as_it_is(
    loaded_fastf1_race: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastf1.core

    session, unloaded = loaded_fastf1_race

    def no_load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("racereplay loaded the FastF1 session again")

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("racereplay used the network")

    monkeypatch.setattr(fastf1.core.Session, "load", no_load)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    timeline = racereplay.open(session)
    assert sorted(d.code for d in timeline.drivers) == sorted(session.results["Abbreviation"])
    assert len(timeline.drivers) == 20 and len(timeline.laps) == 927
    assert [r["driver"] for r in timeline.results[:3]] == ["NOR", "VER", "RUS"]
    assert timeline.info.total_laps == 57 and timeline.at(timeline.t0 + 6000)["NOR"]["lap"] > 0
    assert any("telemetry=PATH" in p for p in timeline.problems)  # loaded without telemetry
    assert sum(e.kind == "track_status" for e in timeline.events) >= 3
    with pytest.raises(SessionNotFound, match=r"session\.load\(laps=True\)"):
        racereplay.open(unloaded)
