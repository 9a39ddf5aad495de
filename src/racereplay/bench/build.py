"""`racereplay bench build`: cold open, source parse, timeline build, store size, warm
open, memory.

The cold open (issue 14) is timed on the Australian race from the archive's files alone:
load + build + write, the parse pool's workers and chunk size against one process,
the stdlib's lenient JSON path against simdjson, threads against one, and the peak
memory of load + build, with the demo's curve over cars and laps. Baselines marked
"before" are the code before issue 14 (commit 75f6e70) on this machine: the cold open
is that issue's figure; peaks were measured again with VmHWM, since the figures in the
issue came from ru_maxrss, which a forked probe inherits from the bench (50-70 MB more).

The store's baseline is how the seed kept a replay: a list of per-frame dicts holding
every driver's fields, pickled. It is measured in the same run on the same timeline.
Building it for a whole race would take gigabytes, so it is measured on a slice
of frames and scaled by frame count (it is linear: one dict per driver per frame).
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racereplay.bench import shared_data
from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.sources import SessionRef
from racereplay.store.format import read_timeline, write_timeline
from racereplay.timeline.model import Timeline
from racereplay.timeline.threads import default_threads

TITLE = "Build and store"

COLD_OPEN_TARGET = Target.at_most(1.5)
COLD_OPEN_BEFORE = 4.3  # s, issue 14: 3.3 s parsing + 1.0 s building, AUS race, this machine
COLD_OPEN_SPEEDUP_TARGET = Target.at_least(2.8)
PEAK_TARGET = Target.at_most(250.0)
PEAK_BEFORE_ARCHIVE = 546.0  # MB, VmHWM of load + build before issue 14, AUS race, archive
PEAK_BEFORE_TIMING = 620.0  # MB, the same with FastF1 timing
DEMO_PEAK_TARGET = Target.at_most(600.0)  # 80 cars, 50 laps
# The demo's curve: (cars, laps) -> peak MB (VmHWM) before issue 14.
DEMO_CURVE = {(20, 50): 436.0, (40, 50): 821.0, (80, 50): 1605.0, (20, 100): 808.0}
PARSE_POOLS = ((1, 1), (2, 1), (2, 2), (2, 5), (4, 1))  # (workers, drivers per hand-out)
COLD_BUILD_TARGET = Target.at_most(3.0)
WARM_OPEN_TARGET_MS = Target.at_most(50.0)
OPEN_MEMORY_TARGET_MB = Target.at_most(120.0)
OPEN_SPEEDUP_TARGET = Target.at_least(50.0)
NAIVE_SAMPLE_FRAMES = 10_000


def real_race_session() -> str | None:
    """The real race's name, with timing from the shared FastF1 cache (read in place)."""
    race = shared_data.AUS_RACE.path
    if shared_data.missing(race, shared_data.FASTF1_CACHE, shared_data.FASTF1_HTTP_CACHE):
        return None
    return str(
        SessionRef(
            "tracinginsights",
            str(race),
            {
                "fastf1_cache": str(shared_data.FASTF1_CACHE),
                "fastf1_http_cache": str(shared_data.FASTF1_HTTP_CACHE),
            },
        )
    )


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(_timed(fn)[0] for _ in range(repeats))


def run(options: BenchOptions) -> BenchResult:
    result = BenchResult()
    with tempfile.TemporaryDirectory(prefix="racereplay-bench-") as scratch_name:
        scratch = Path(scratch_name)
        session = options.session or real_race_session()
        if session is None:
            result.notes.append(
                f"real race not found at {shared_data.AUS_RACE.path}: measured the demo instead"
            )
            session = "demo"
        whole = options.session is None  # the figures: the default run only
        if whole:
            _cold_open_rows(result, scratch, options)
        else:
            result.notes.append(
                "the cold open, the parse pool and the demo's memory curve are measured "
                "in the default run (without --session)"
            )
        result.notes.append(f"session: `{session}`")
        # The timeline is dropped before the memory probes, so they do not compete with it.
        store_path = _store_rows(result, _build_rows(result, session, options), scratch, options)
        _memory_rows(result, session, store_path, whole)
        for mode in ("thread", "process"):
            _async_rows(result, session, scratch / f"async-{mode}", mode)
    return result


def _build_rows(result: BenchResult, session: str, options: BenchOptions) -> Timeline:
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    parse_runs = [_timed(lambda: load(session)) for _ in range(options.repeats(2))]
    raw = parse_runs[-1][1]
    parse_s = statistics.median(seconds for seconds, _ in parse_runs)
    del parse_runs
    result.add("source parse", parse_s, "s", note=f"median of {options.repeats(2)}")
    cores = os.cpu_count() or 1
    build_s = _median_time(lambda: build_timeline(raw), options.repeats(3))
    one_s = _median_time(lambda: build_timeline(raw, workers=1), options.repeats(3))
    timeline = build_timeline(raw)
    result.notes.append(
        f"{len(timeline.drivers)} drivers, {len(timeline.laps)} laps, "
        f"{timeline.n_frames:,} frames ({timeline.duration / 60:.1f} min at {timeline.fps} fps)"
    )
    result.add(
        "cold build from RawSession",
        build_s,
        "s",
        one_s,
        target=COLD_BUILD_TARGET,
        note=f"{default_threads()} threads ({cores} cores); baseline: one thread",
    )
    return timeline


def _cold_open_rows(result: BenchResult, scratch: Path, options: BenchOptions) -> None:
    """The AUS race from the archive's files to a playable session, and what it is made of."""
    from racereplay.sources import tracinginsights
    from racereplay.store.cache import build_and_write

    folder = shared_data.AUS_RACE.path
    if shared_data.missing(folder):
        result.notes.append(f"cold open not measured: {shared_data.missing(folder)}")
        return
    ref = SessionRef("tracinginsights", str(folder), {})
    repeats = options.repeats(3)

    def cold_open() -> None:
        path = scratch / f"cold-{time.monotonic_ns()}.rrtl"
        build_and_write(ref, path)
        path.unlink()

    cold_s = _median_time(cold_open, repeats)
    result.add(
        "cold open, AUS race from the archive's files (load + build + write)",
        cold_s,
        "s",
        COLD_OPEN_BEFORE,
        COLD_OPEN_TARGET,
        note=f"median of {repeats}; baseline: issue 14",
    )
    result.add("cold open speed-up", COLD_OPEN_BEFORE / cold_s, "x", 1.0, COLD_OPEN_SPEEDUP_TARGET)
    served_s = _median_time(
        lambda: _served_cold_open(ref, scratch / f"served-{time.monotonic_ns()}"), repeats
    )
    result.add(
        "cold open as the server does it (a build process, then the file mapped)",
        served_s,
        "s",
        note=f"median of {repeats}; the same race and work, plus a process and the open",
    )
    _served_rows(result, scratch)
    loads = {
        pool: _median_time(
            lambda pool=pool: tracinginsights.load_folder(  # type: ignore[misc]
                folder, parse_workers=pool[0], parse_chunk=pool[1]
            ),
            repeats,
        )
        for pool in PARSE_POOLS
    }
    single = loads[(1, 1)]
    default = tracinginsights.default_parse_workers(
        len(tracinginsights.open_folder(folder).driver_dirs)
    )
    for (workers, chunk), seconds in loads.items():
        chosen = " (the default)" if (workers, chunk) == (default, 1) else ""
        result.add(
            f"archive load, {workers} parse process(es), {chunk} driver(s) per hand-out{chosen}",
            seconds,
            "s",
            single,
            note="baseline: one process",
        )
    lenient = tracinginsights._decode_lap
    tracinginsights._decode_lap = lambda data, parser: None  # every file through the stdlib's json
    try:
        stdlib_s = _median_time(lambda: tracinginsights.load_folder(folder), repeats)
    finally:
        tracinginsights._decode_lap = lenient
    result.add(
        "archive load with simdjson (default pool)",
        loads[(default, 1)],
        "s",
        stdlib_s,
        note="baseline: the stdlib's json for every file, same pool",
    )


def _served_rows(result: BenchResult, scratch: Path) -> None:
    """The served cold open of every shared session in every source mode, once each: the
    goal is set on one race, and a viewer opens any."""
    for shared in shared_data.SHARED_SESSIONS:
        if shared_data.missing(shared.path):
            result.notes.append(f"{shared.label}: not measured, {shared.path} is missing")
            continue
        for mode, name in shared.refs().items():
            started = time.perf_counter()
            _served_cold_open(SessionRef.parse(name), scratch / "served-all")
            seconds = time.perf_counter() - started
            result.add(f"cold open as the server does it, {shared.label}, {mode}", seconds, "s")


def _served_cold_open(ref: SessionRef, cache_dir: Path) -> None:
    """`racereplay serve`'s path: its build process, the file written, then mapped."""
    import asyncio

    from racereplay.store.cache import open_or_build_async, start_build_processes

    start_build_processes()  # as a server does when it starts
    asyncio.run(open_or_build_async(ref, cache_dir, mode="process"))


def _store_rows(
    result: BenchResult, timeline: Timeline, scratch: Path, options: BenchOptions
) -> Path:
    store_path = scratch / "timeline.rrtl"
    write_s, size = _timed(lambda: write_timeline(timeline, store_path))
    result.add(
        "store write, the timeline kept",
        write_s,
        "s",
        note="a cold open's write hands each channel back as it goes: in the cold open row",
    )
    _naive_rows(result, timeline, scratch, store_path, size, options)
    return store_path


def naive_frames(timeline: Timeline, stop: int) -> list[dict[str, Any]]:
    """The seed's representation: one dict per frame, each driver's fields in its own dict."""
    codes = [d.code for d in timeline.drivers]
    driver_channels = [n for n, a in timeline.frames.items() if a.ndim == 2]
    session_channels = [n for n, a in timeline.frames.items() if a.ndim == 1]
    columns = {n: timeline.frames[n][:stop].tolist() for n in timeline.frames}
    frames = []
    for k in range(min(stop, timeline.n_frames)):
        frame: dict[str, Any] = {"t": timeline.time_of(k)}
        frame.update({n: columns[n][k] for n in session_channels})
        frame["drivers"] = {
            code: {n: columns[n][k][i] for n in driver_channels} for i, code in enumerate(codes)
        }
        frames.append(frame)
    return frames


def _naive_rows(
    result: BenchResult,
    timeline: Timeline,
    scratch: Path,
    store_path: Path,
    store_size: int,
    options: BenchOptions,
) -> None:
    sample = min(NAIVE_SAMPLE_FRAMES, timeline.n_frames)
    scale = timeline.n_frames / sample
    make_s, frames = _timed(lambda: naive_frames(timeline, sample))
    pickle_path = scratch / "frames.pickle"

    def dump() -> None:
        with open(pickle_path, "wb") as f:
            pickle.dump(frames, f, protocol=pickle.HIGHEST_PROTOCOL)

    dump_s, _ = _timed(dump)
    frames.clear()  # free the baseline before timing its unpickle
    naive_size = pickle_path.stat().st_size * scale

    def unpickle() -> None:
        with open(pickle_path, "rb") as f:
            pickle.load(f)

    unpickle_s = _median_time(unpickle, options.repeats(3)) * scale
    open_s = _median_time(lambda: read_timeline(store_path), options.repeats(30, 5))
    scaled = f"per-frame dicts measured on {sample:,} frames, scaled x{scale:.1f}"
    result.notes.append(f"baseline: {scaled}")
    result.add("baseline build (per-frame dicts + pickle)", (make_s + dump_s) * scale, "s")
    result.add("size on disk", store_size / 1e6, "MB", naive_size / 1e6)
    result.add(
        "warm open",
        open_s * 1e3,
        "ms",
        unpickle_s * 1e3,
        WARM_OPEN_TARGET_MS,
        note="baseline: unpickle",
    )
    result.add("warm open speed-up vs unpickle", unpickle_s / open_s, "x", 1.0, OPEN_SPEEDUP_TARGET)


_MEMORY_PROBE = """
import json, resource, sys, time
def rss_mb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
mode, arg = sys.argv[1], sys.argv[2]
if mode == "open":
    from racereplay.store.format import read_timeline
    import numpy as np
    before = rss_mb()
    t = read_timeline(arg)
    k = t.n_frames // 2
    frame = {name: np.array(a[k]) for name, a in t.frames.items()}
    print(json.dumps({"rss_delta_mb": rss_mb() - before}))
else:
    from racereplay.sources import SessionRef
    from racereplay.store.cache import load_and_build
    started = time.perf_counter()
    load_and_build(SessionRef.parse(arg))
    print(json.dumps({"seconds": time.perf_counter() - started,
        # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's peak
        # and survives exec, so it would report the bench's own memory.
        "peak_rss_mb": rss_mb("VmHWM"),
        "peak_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _probe(mode: str, arg: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, mode, arg],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe ({mode}) failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory_rows(result: BenchResult, session: str, store_path: Path, whole: bool) -> None:
    opened = _probe("open", str(store_path))
    result.notes.append(
        "memory: measured in fresh subprocesses (VmRSS, peak VmHWM; workers: ru_maxrss, Linux)"
    )
    result.add(
        "memory of an opened timeline",
        opened["rss_delta_mb"],
        "MB",
        target=OPEN_MEMORY_TARGET_MB,
        note="RSS delta after open + one frame",
    )
    archive = shared_data.AUS_RACE.path
    if whole and not shared_data.missing(archive):
        built = _probe("build", str(SessionRef("tracinginsights", str(archive), {})))
        result.add(
            "peak memory of load + build, AUS race from the archive",
            built["peak_rss_mb"],
            "MB",
            PEAK_BEFORE_ARCHIVE,
            PEAK_TARGET,
            note="includes interpreter and imports; baseline: before issue 14",
        )
        result.add("its parse workers' largest peak", built["peak_child_rss_mb"], "MB")
    built = _probe("build", session)
    with_timing = "fastf1_cache" in session
    result.add(
        "peak memory of load + build, the session above",
        built["peak_rss_mb"],
        "MB",
        PEAK_BEFORE_TIMING if with_timing else None,
        PEAK_TARGET if with_timing else None,
        note="FastF1 timing loads in a parse worker; baseline: before issue 14",
    )
    result.add(
        "its largest worker process (FastF1 timing, parsing)",
        built["peak_child_rss_mb"],
        "MB",
    )
    result.add("load + build in a fresh process", built["seconds"], "s")
    for (cars, laps), before in DEMO_CURVE.items() if whole else ():
        demo = _probe("build", f"demo?cars={cars}&laps={laps}")
        result.add(
            f"peak memory of load + build, demo {cars} cars x {laps} laps",
            demo["peak_rss_mb"],
            "MB",
            before,
            DEMO_PEAK_TARGET if (cars, laps) == (80, 50) else None,
            note=f"{demo['seconds']:.1f} s; baseline: before issue 14",
        )


async def _loop_stall_during(work: Any) -> tuple[float, float]:
    """Run `work` (a coroutine) while a 10 ms ticker measures the loop's worst stall."""
    import asyncio

    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - before - 0.01)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await work
    elapsed = time.perf_counter() - started
    done = True
    await tick
    return elapsed, worst


def _async_rows(result: BenchResult, session: str, cache_dir: Path, mode: str) -> None:
    import asyncio

    from racereplay.store.cache import open_or_build_async, start_build_processes

    if mode == "process":
        start_build_processes()  # as a server does when it starts
    work = open_or_build_async(session, cache_dir, mode=mode)  # type: ignore[arg-type]
    elapsed, stall = asyncio.run(_loop_stall_during(work))
    result.add(f"async cold open_or_build, {mode} worker", elapsed, "s")
    result.add(f"event-loop worst stall during it, {mode} worker", stall * 1e3, "ms")
