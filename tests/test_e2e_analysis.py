"""The race analysis views end to end: the real server, the built client, Chromium.

On a small demo race the four views (lap chart, race trace, tyre strategy, lap times)
draw one series per driver, exactly what the server's lap table and events say, and
nothing after the replay's clock; a click on a point (or Enter on one chosen with the
arrow keys) seeks the replay to that point's moment. In practice and qualifying the
best laps per part and the long runs agree with the lap table too.

What the page drew is read from `window.__rr.analysis()` (web/src/analysis.ts); the
expected values are computed here from /api/sessions/{id}/laps and /events, with the
rules web/src/analysis/data.ts documents.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_browser import build_session, open_page, require_browser, rr, running_server, shot

pytestmark = pytest.mark.e2e

# 8 laps: a retirement on lap 2, then the Safety Car, then pit stops
# (src/racereplay/sources/demo/race.py, plan_race).
RACE = "demo?cars=6&laps=8"
PRACTICE = "demo?session=practice&cars=6&minutes=30"
QUALIFYING = "demo?session=qualifying&cars=6&minutes=18"
RACE_VIEWS = ["lapchart", "racetrace", "tyres", "laptimes"]
TIMED_VIEWS = ["bestlaps", "longruns"]
LONG_RUN_LAPS = 5
LONG_RUN_SLOW = 1.07


class Session:
    def __init__(self, base: str, name: str) -> None:
        self.name = name
        self.id = build_session(base, name)
        api = f"{base}/api/sessions/{self.id}"
        self.meta = httpx.get(f"{api}/metadata", timeout=30).json()
        self.laps: list[dict[str, Any]] = httpx.get(f"{api}/laps", timeout=30).json()["laps"]
        self.events: list[dict[str, Any]] = httpx.get(f"{api}/events", timeout=30).json()["events"]
        self.url = f"{base}/?session={quote(name)}"
        self.codes = [d["code"] for d in self.meta["drivers"]]

    def by_driver(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.laps:
            out[row["driver"]].append(row)
        for rows in out.values():
            rows.sort(key=lambda r: r["lap"])
        return out

    def last_end(self) -> float:
        return max(r["end"] for r in self.laps if r["end"] is not None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("analysis-cache")) as base:
        yield base


@pytest.fixture(scope="module")
def race(server: str) -> Session:
    return Session(server, RACE)


def _report(page: Any) -> dict[str, Any]:
    return dict(rr(page, ".analysis()"))


def _seek(page: Any, session: Session, t: float) -> None:
    """Seek with the seek bar to session time `t`; wait until the panels show it."""
    fps = session.meta["fps"]
    frame = min(round((t - session.meta["t0"]) * fps), session.meta["n_frames"] - 1)
    t = session.meta["t0"] + frame / fps
    page.evaluate(
        """(f) => { const s = document.querySelector('.seekbar');
                    s.value = String(f); s.dispatchEvent(new Event('input')); }""",
        frame,
    )
    _wait_time(page, t)


def _wait_time(page: Any, t: float, tolerance: float = 0.1) -> None:
    page.wait_for_function(
        f"""() => Math.abs(window.__rr.sessionTime - {t}) < {tolerance}
                  && Math.abs(window.__rr.analysis().time - {t}) < {tolerance}""",
        timeout=20_000,
    )


def _show(page: Any, view: str) -> dict[str, Any]:
    """Select the view's tab; its report once it has drawn points."""
    page.locator(".analysis").scroll_into_view_if_needed()
    page.click(f".an-tabs button[data-view={view}]")
    page.wait_for_function(
        f"""() => window.__rr.analysis().view === '{view}'
                  && window.__rr.analysis().points.length > 0""",
        timeout=20_000,
    )
    report = _report(page)
    assert report["view"] == view
    return report


def _click_point(page: Any, point: dict[str, Any]) -> None:
    page.locator("canvas.an-chart").click(position={"x": point["x"], "y": point["y"]})


def _series(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["driver"]: s for s in report["series"]}


# --- what the lap table says (the same rules as web/src/analysis/data.ts) --------------


def _gaps(session: Session) -> dict[str, dict[int, float]]:
    first: dict[int, float] = {}
    for r in session.laps:
        if r["end"] is not None:
            first[r["lap"]] = min(first.get(r["lap"], r["end"]), r["end"])
    return {
        code: {r["lap"]: r["end"] - first[r["lap"]] for r in rows if r["end"] is not None}
        for code, rows in session.by_driver().items()
    }


def _stints(rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(first lap, last lap, compound) of each stint of the completed laps."""
    out: list[list[Any]] = []
    for r in rows:
        if r["end"] is None:
            continue
        if out and r["stint"] == out[-1][3]:
            out[-1][1] = r["lap"]
        else:
            out.append([r["lap"], r["lap"], (r["compound"] or "").upper(), r["stint"]])
    return [(a, b, c) for a, b, c, _ in out]


def _run_lap(r: dict[str, Any]) -> bool:
    return (
        r["lap_time"] is not None
        and r["end"] is not None
        and not r.get("deleted")
        and r["pit_in"] is None
        and r["pit_out"] is None
    )


def _long_runs(rows: list[dict[str, Any]]) -> list[tuple[int, int, float]]:
    """(first lap, last lap, average) of each run of LONG_RUN_LAPS or more laps."""
    runs: list[list[dict[str, Any]]] = [[]]
    for r in rows:
        if not _run_lap(r) or (runs[-1] and r["lap"] != runs[-1][-1]["lap"] + 1):
            runs.append([])
        if _run_lap(r):
            runs[-1].append(r)
    out = []
    for run in runs:
        if len(run) >= LONG_RUN_LAPS:
            times = [r["lap_time"] for r in run]
            kept = [t for t in times if t <= statistics.median(times) * LONG_RUN_SLOW]
            out.append((run[0]["lap"], run[-1]["lap"], sum(kept) / len(kept)))
    return out


def _parts(session: Session) -> list[tuple[str, float]]:
    parts = [
        (str(e["data"]["name"]), float(e["data"].get("start") or e["time"]))
        for e in session.events
        if e["kind"] == "segment"
    ]
    return parts or [("Session", session.meta["t0"])]


def _best_in_parts(session: Session) -> dict[str, dict[str, tuple[int, float]]]:
    """Part name → driver → (lap, time) of the best flying lap completed in it."""
    parts = _parts(session)
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for k, (name, start) in enumerate(parts):
        until = parts[k + 1][1] if k + 1 < len(parts) else float("inf")
        best: dict[str, tuple[int, float]] = {}
        for r in session.laps:
            if not (_run_lap(r) and start < r["end"] <= until):
                continue
            if r["driver"] not in best or r["lap_time"] < best[r["driver"]][1]:
                best[r["driver"]] = (r["lap"], r["lap_time"])
        out[name] = best
    return out


# --- races ----------------------------------------------------------------------------


def test_race_views_draw_the_lap_table(race: Session, chromium: Any) -> None:
    page = open_page(chromium, race.url)
    assert _report(page)["views"] == RACE_VIEWS
    end = race.last_end() + 1
    _seek(page, race, end)
    laps = race.by_driver()
    n = len(race.codes)

    # Lap chart: each driver's official position at every lap end; stops and the retirement.
    report = _show(page, "lapchart")
    series = _series(report)
    assert sorted(series) == sorted(race.codes) and len(report["series"]) == n
    for code, rows in laps.items():
        drawn = {lap: pos for lap, pos in series[code]["points"] if lap > 0}
        assert drawn == {r["lap"]: r["position"] for r in rows if r["end"] is not None}, code
    stops = {(e["driver"], e["data"]["lap"]) for e in race.events if e["kind"] == "pit_stop"}
    assert stops, "the demo race has pit stops"
    marked = {(c, int(m.split("@")[1])) for c, s in series.items() for m in s["marks"]}
    assert stops <= marked
    retired = [e["driver"] for e in race.events if e["kind"] == "retirement"]
    assert retired and all(
        any(m.startswith("retired@") for m in series[c]["marks"]) for c in retired
    )
    shot(page, "analysis-lapchart")

    # Race trace: cumulative time behind the first car at each lap end; the Safety Car band.
    report = _show(page, "racetrace")
    series = _series(report)
    assert len(report["series"]) == n
    for code, gaps in _gaps(race).items():
        drawn = dict(series[code]["points"])
        assert drawn.keys() == gaps.keys(), code
        assert all(abs(drawn[lap] - g) < 0.002 for lap, g in gaps.items()), code
    assert any(e["kind"] == "track_status" and e["data"]["status"] == 4 for e in race.events)
    assert any(m.startswith("sc@") for m in report["series"][0]["marks"])
    shot(page, "analysis-racetrace")

    # Tyres: one row per driver, the stints of the lap table.
    report = _show(page, "tyres")
    series = _series(report)
    assert len(report["series"]) == n
    for code, rows in laps.items():
        drawn = [(s["firstLap"], s["lastLap"], s["compound"]) for s in series[code]["extra"]]
        assert drawn == _stints(rows), code
        assert len(report["points"]) >= n
    assert any(len(s["extra"]) >= 2 for s in series.values()), "nobody changed tyres"
    shot(page, "analysis-tyres")

    # Lap times: every timed lap; out- and in-laps and Safety Car laps marked.
    report = _show(page, "laptimes")
    series = _series(report)
    assert len(report["series"]) == n
    for code, rows in laps.items():
        timed = [(r["lap"], r["lap_time"]) for r in rows if r["end"] is not None]
        timed = [(lap, t) for lap, t in timed if t is not None]
        assert [tuple(p) for p in series[code]["points"]] == timed, code
        ins = {f"in@{r['lap']}" for r in rows if r["pit_in"] is not None and r["end"] is not None}
        assert ins <= set(series[code]["marks"]), code
    assert any(m.startswith("sc@") for s in series.values() for m in s["marks"])
    shot(page, "analysis-laptimes")
    assert not page.errors, page.errors
    page.close()


def test_nothing_after_the_clock_is_drawn(race: Session, chromium: Any) -> None:
    page = open_page(chromium, race.url)
    # Halfway through lap 4 of the first car.
    ends = sorted(r["end"] for r in race.laps if r["lap"] == 4 and r["end"] is not None)
    starts = [r["start"] for r in race.laps if r["lap"] == 4]
    now = (min(starts) + ends[0]) / 2
    _seek(page, race, now)
    lap_end = {(r["driver"], r["lap"]): r["end"] for r in race.laps}
    for view in RACE_VIEWS:
        report = _show(page, view)
        for s in report["series"]:
            if view == "tyres":
                last = [st["lastLap"] for st in s["extra"]]
            else:
                last = [int(p[0]) for p in s["points"] if p[0] > 0]
            assert all(lap_end[(s["driver"], lap)] <= report["time"] for lap in last), (view, s)
            # … and everything before it is.
            done = [lap for (d, lap), e in lap_end.items() if d == s["driver"] and e and e <= now]
            assert max(last, default=0) == max(done, default=0), (view, s["driver"])
    # The cursor sits at the clock: inside the plot, somewhere in lap 4.
    assert page.is_visible(".an-cursor")
    assert not page.errors, page.errors
    page.close()


def test_a_click_on_a_point_seeks_the_replay(race: Session, chromium: Any) -> None:
    page = open_page(chromium, race.url)
    _seek(page, race, race.last_end() + 1)

    # Lap chart: the leader's point at lap 3 replays from that lap's end.
    report = _show(page, "lapchart")
    point = next(p for p in report["points"] if " lap 3: P1" in p["label"])
    code = point["label"].split()[0]
    end = next(r["end"] for r in race.laps if r["driver"] == code and r["lap"] == 3)
    assert end < point["time"] < end + 0.1  # just past the end: the point stays drawn
    _click_point(page, point)
    _wait_time(page, point["time"], 0.05)
    header = page.inner_text("header.top .lap")
    assert header.startswith(("Lap 3", "Lap 4")), header
    assert page.inner_text(".analysis .an-status") == point["label"]
    # What is drawn now stops at the clock.
    report = _report(page)
    assert max(p[0] for p in _series(report)[code]["points"]) == 3
    shot(page, "analysis-seeked")

    # Lap times: a point replays that lap from its start.
    report = _show(page, "laptimes")
    point = next(p for p in report["points"] if " lap 2: " in p["label"])
    code = point["label"].split()[0]
    start = next(r["start"] for r in race.laps if r["driver"] == code and r["lap"] == 2)
    _click_point(page, point)
    _wait_time(page, start, 0.05)
    assert page.inner_text("header.top .lap").startswith(("Lap 1", "Lap 2"))

    # Tyres, from the keyboard: Tab to the chart, → picks the first stint, Enter seeks.
    _seek(page, race, race.last_end() + 1)
    report = _show(page, "tyres")
    page.focus("canvas.an-chart")
    page.keyboard.press("Home")
    first = min(report["points"], key=lambda p: (p["x"], p["y"]))
    assert page.inner_text(".analysis .an-status") == first["label"]
    frame = rr(page, ".frame")
    page.keyboard.press("Enter")
    _wait_time(page, first["time"], 0.05)
    assert rr(page, ".frame") != frame
    assert not page.errors, page.errors
    page.close()


def test_tabs_and_chart_from_the_keyboard(race: Session, chromium: Any) -> None:
    page = open_page(chromium, race.url)
    page.focus(".an-tabs button[data-view=lapchart]")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.dataset.view") == "racetrace"
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__rr.analysis().view === 'racetrace'")
    selected = page.get_attribute(".an-tabs button[data-view=racetrace]", "aria-selected")
    assert selected == "true"
    label = page.get_attribute("canvas.an-chart", "aria-label") or ""
    assert label.startswith("Race trace")
    # The arrow keys on the chart stay there: the replay does not skip 10 s.
    frame = rr(page, ".frame")
    page.focus("canvas.an-chart")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(400)
    assert abs(rr(page, ".frame") - frame) < 1
    assert not page.errors, page.errors
    page.close()


# --- practice and qualifying ------------------------------------------------------------


def test_practice_long_runs_and_best_laps(server: str, chromium: Any) -> None:
    session = Session(server, PRACTICE)
    page = open_page(chromium, session.url)
    assert _report(page)["views"] == TIMED_VIEWS
    _seek(page, session, session.last_end() + 1)

    report = _show(page, "longruns")
    assert len(report["series"]) == len(session.codes)
    expected = {code: _long_runs(rows) for code, rows in session.by_driver().items()}
    assert sum(len(v) for v in expected.values()) >= 1, "the demo practice has no long run"
    for s in report["series"]:
        drawn = [(r["firstLap"], r["lastLap"], r["average"]) for r in s["extra"]]
        want = expected.get(s["driver"], [])
        assert [(a, b) for a, b, _ in drawn] == [(a, b) for a, b, _ in want], s["driver"]
        assert all(abs(x[2] - y[2]) < 1e-6 for x, y in zip(drawn, want, strict=True))
    # A run's row replays the run from its first lap.
    point = report["points"][0]
    code = point["label"].split()[0]
    runs = [(s["driver"], r) for s in report["series"] for r in s["extra"]]
    run = next(r for d, r in runs if d == code and r["start"] == point["time"])
    assert run["average"] == min(r["average"] for _, r in runs)  # the top row: the fastest
    start = next(
        r["start"] for r in session.laps if r["driver"] == code and r["lap"] == run["firstLap"]
    )
    assert point["time"] == pytest.approx(start, abs=1e-3)
    shot(page, "analysis-longruns")
    _click_point(page, point)
    _wait_time(page, start, 0.05)

    _seek(page, session, session.last_end() + 1)
    report = _show(page, "bestlaps")
    best = _best_in_parts(session)["Session"]
    for s in report["series"]:
        drawn = [(x["lap"], x["time"]) for x in s["extra"]]
        assert drawn == ([best[s["driver"]]] if s["driver"] in best else []), s["driver"]
    assert not page.errors, page.errors
    page.close()


def test_qualifying_best_laps_per_part(server: str, chromium: Any) -> None:
    session = Session(server, QUALIFYING)
    parts = _parts(session)
    assert [name for name, _ in parts] == ["Q1", "Q2", "Q3"]
    page = open_page(chromium, session.url)
    _seek(page, session, session.last_end() + 1)
    report = _show(page, "bestlaps")
    assert len(report["series"]) == len(session.codes)
    best = _best_in_parts(session)
    for s in report["series"]:
        drawn = {x["part"]: (x["lap"], x["time"]) for x in s["extra"]}
        want = {part: b[s["driver"]] for part, b in best.items() if s["driver"] in b}
        assert drawn == want, s["driver"]
    # In Q2 nothing of Q3 shows, and Q2's bests are those completed by the clock.
    q2_start = parts[1][1]
    _seek(page, session, q2_start + 300)
    report = _report(page)
    parts_drawn = {x["part"] for s in report["series"] for x in s["extra"]}
    assert "Q3" not in parts_drawn
    assert all(x["end"] <= report["time"] for s in report["series"] for x in s["extra"])
    assert "now in Q2" in (page.get_attribute("canvas.an-chart", "aria-label") or "")
    shot(page, "analysis-bestlaps")
    assert not page.errors, page.errors
    page.close()
