"""The TracingInsights archive layout → `RawSession`.

A session folder is `.../YEAR/EVENT/SESSION/` (e.g. `2025/Australian Grand Prix/Race`)
holding `drivers.json`, `corners.json` and one folder per driver with per-lap
telemetry `N_tel.json[.gz]` (FastF1's merged car + position data of lap N, its
`time` restarting at 0 each lap) and `laptimes.json`.

Absolute session times are not in these files: they come from FastF1 timing
when a FastF1 cache is given, else from chaining lap durations from the start.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import simdjson
from isal import isal_zlib

from racereplay.model import (
    Corner,
    Driver,
    Lap,
    RawSession,
    SessionInfo,
    SessionKind,
    Telemetry,
    drs_from_f1_code,
)
from racereplay.sources import Progress, SessionNotFound, SessionRef
from racereplay.sources.fastf1_timing import (
    Timing,
    assemble,
    load_timing,
    session_kind,
    team_colour,
)
from racereplay.sources.pit_detection import mark_pit_visits, pit_visits

_LAP_FILE = re.compile(r"^(\d+)_tel\.json(\.gz)?$")
# Raw channels read from each lap file, in FastF1 units (x/y/z in 1/10 m).
_RAW_CHANNELS = (
    "time",
    "x",
    "y",
    "z",
    "speed",
    "rpm",
    "gear",
    "throttle",
    "brake",
    "drs",
    "distance",
)
_EXPECTED_LAYOUT = (
    "expected a TracingInsights session folder .../YEAR/EVENT/SESSION "
    "(e.g. '2025/Australian Grand Prix/Race') with drivers.json and one folder per driver "
    "holding N_tel.json[.gz] lap files and laptimes.json"
)
# Below this many lap files a process pool costs more than it saves.
_POOL_MIN_FILES = 200

T = TypeVar("T")


# ---------------------------------------------------------------- reading files


def _floats(values: Any) -> np.ndarray:
    """A JSON array as float64; `None`, "None", "NaN" and other non-numbers become NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, value in enumerate(values):  # slow path, only for arrays with strings in them
            with contextlib.suppress(TypeError, ValueError):
                out[i] = float(value)
        return out


def read_json(path: Path) -> Any:
    """Parse a JSON or gzip JSON file (the stdlib parser accepts bare NaN literals)."""
    return json.loads(_read_bytes(path))


# A corrupt gzip stream (isal's stubs type the class as an instance).
_INFLATE_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, inflated when it is gzip; a corrupt stream is a ValueError."""
    data = path.read_bytes()
    if not path.name.endswith(".gz"):
        return data
    try:
        # ISA-L's inflate: the same bytes as zlib's, in a third of the time.
        return isal_zlib.decompress(data, wbits=31)
    except _INFLATE_ERROR as exc:
        raise ValueError(f"not a valid gzip file ({exc})") from None


def _decode_lap(data: bytes, parser: simdjson.Parser) -> dict[str, np.ndarray] | None:
    """The fast path: simdjson reads each channel straight into doubles, with no Python
    object per sample (None: a quirk of the archive it refuses).

    Strict JSON refuses the archive's quirks: a bare NaN or Infinity, a null, a string
    where a number belongs ("None"); a missing channel too. Those laps (one file in
    2,600 of the shared sessions) take the lenient path.
    """
    try:
        doc = parser.parse(data)
        tel = doc.get("tel") if isinstance(doc, simdjson.Object) else None
        if not isinstance(tel, simdjson.Object):
            return None
        channels = {}
        for name in _RAW_CHANNELS:
            values = tel.get(name)
            if not isinstance(values, simdjson.Array):
                return None
            channel = np.frombuffer(values.as_buffer(of_type="d"), dtype=np.float64)
            # as_buffer flattens a nested array: one that changes the channel's length
            # would shift its samples (the lenient path refuses the file).
            if len(channel) != len(values):
                return None
            channels[name] = channel
        return channels
    except (ValueError, TypeError):
        return None


def read_lap_file(path: Path, parser: simdjson.Parser | None = None) -> dict[str, np.ndarray]:
    """The raw channels of one lap file as equal-length float64 arrays (null → NaN).

    `parser`: one to reuse across files (its buffers are kept); not shared by threads.
    """
    data = _read_bytes(path)
    arrays = _decode_lap(data, parser or simdjson.Parser())
    if arrays is None:  # the stdlib's lenient parser, value by value: same result, slower
        tel = json.loads(data)["tel"]
        arrays = {name: _floats(tel[name]) for name in _RAW_CHANNELS}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"channels have different lengths {sorted(lengths)}")
    return arrays


def lap_files(driver_dir: Path) -> dict[int, Path]:
    """Lap number → telemetry file; the compressed file wins if both forms exist."""
    found: dict[int, Path] = {}
    for path in sorted(driver_dir.iterdir()):
        match = _LAP_FILE.match(path.name)
        if match and (int(match.group(1)) not in found or match.group(2)):
            found[int(match.group(1))] = path
    return found


@dataclass
class DriverLapData:
    """One driver's lap files, concatenated: lap-relative times, in `Telemetry`'s units
    and types already (a parse worker sends back half the bytes of the raw float64)."""

    code: str
    numbers: np.ndarray  # int, lap number of each lap read, ascending
    counts: np.ndarray  # int, samples per lap
    channels: dict[str, np.ndarray]  # concatenated channels (see _telemetry_units)
    problems: list[str]

    def _lap_offsets(self) -> np.ndarray:
        return np.cumsum(self.counts) - self.counts

    def durations(self) -> np.ndarray:
        """Each lap file's duration (last minus first sample time), which equals its lap time."""
        if len(self.counts) == 0:
            return np.empty(0)
        time, first = self.channels["time"], self._lap_offsets()
        return np.fmax.reduceat(time, first) - np.fmin.reduceat(time, first)

    def final_distances(self) -> np.ndarray:
        """Distance at the end of each lap, metres (0 for a lap with no distance at all)."""
        if len(self.counts) == 0:
            return np.empty(0)
        final = np.fmax.reduceat(self.channels["distance"], self._lap_offsets())
        return np.nan_to_num(np.maximum(final, 0.0), nan=0.0)


def read_driver_laps(driver_dir: Path) -> DriverLapData:
    """Read every lap file of one driver; unreadable files are skipped with a problem line."""
    code = driver_dir.name
    problems: list[str] = []
    numbers, laps = [], []
    parser = simdjson.Parser()
    for number, path in sorted(lap_files(driver_dir).items()):
        try:
            arrays = read_lap_file(path, parser)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{code}: lap {number} skipped, cannot read {path.name} ({exc})")
            continue
        if len(arrays["time"]) == 0:
            problems.append(f"{code}: lap {number} skipped, {path.name} has no samples")
            continue
        numbers.append(number)
        laps.append(arrays)
    raw = {
        name: np.concatenate([lap[name] for lap in laps]) if laps else np.empty(0)
        for name in _RAW_CHANNELS
    }
    counts = np.array([len(lap["time"]) for lap in laps], dtype=np.int64)
    numbers_read = np.array(numbers, dtype=np.int64)
    return DriverLapData(code, numbers_read, counts, _telemetry_units(raw), problems)


def _telemetry_units(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw float64 channels in `Telemetry`'s units and types: metres for x/y/z, float32
    values, an int8 gear and `DrsState` codes; time and lap distance stay float64."""
    out = {"time": raw["time"], "distance": raw["distance"]}
    for name in ("x", "y", "z"):
        out[name] = (raw[name] / 10.0).astype(np.float32)
    for name in ("speed", "rpm", "throttle", "brake"):
        out[name] = raw[name].astype(np.float32)
    out["gear"] = np.nan_to_num(raw["gear"], nan=0.0).astype(np.int8)
    out["drs"] = drs_from_f1_code(raw["drs"])
    return out


def default_parse_workers(n_drivers: int) -> int:
    """Parse processes: one per core, at most 4 (docs/benchmarks.md has the table)."""
    return min(os.cpu_count() or 1, 4, n_drivers)


def _read_all_drivers(
    driver_dirs: list[Path],
    progress: Progress | None,
    meanwhile: Callable[[], T] | None = None,
    workers: int | None = None,
    chunk: int = 1,
) -> tuple[list[DriverLapData], T | None]:
    """Parse every driver's lap files; JSON parsing dominates, so a process pool helps.

    `meanwhile` (loading FastF1 timing; picklable) runs as one more job of the pool,
    started first as the longest, so its pandas tables never live in this process.
    `chunk`: drivers handed to a worker at a time.
    """
    total_files = sum(len(lap_files(d)) for d in driver_dirs)
    workers = default_parse_workers(len(driver_dirs)) if workers is None else workers
    results: list[DriverLapData] = []
    if workers > 1 and total_files >= _POOL_MIN_FILES:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            other = pool.submit(meanwhile) if meanwhile else None
            parsed = pool.map(read_driver_laps, driver_dirs, chunksize=chunk)
            for i, data in enumerate(parsed):
                results.append(data)
                _report(progress, 0.1 + 0.8 * (i + 1) / len(driver_dirs), f"read {data.code}")
            return results, other.result() if other else None
    other_result = meanwhile() if meanwhile else None
    for i, driver_dir in enumerate(driver_dirs):
        results.append(read_driver_laps(driver_dir))
        _report(progress, 0.1 + 0.8 * (i + 1) / len(driver_dirs), f"read {driver_dir.name}")
    return results, other_result


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe, a process with one thread (a server's build process, a
    script): its workers start at once, with everything imported. Elsewhere (a server
    building in a thread) the fork server: the inherited default would be spawn or
    forkserver in a build process, whose workers would each import numpy again."""
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")


def _report(progress: Progress | None, fraction: float, what: str) -> None:
    if progress is not None:
        progress(fraction, what)


# ---------------------------------------------------------------- telemetry


def telemetry_from_laps(data: DriverLapData, lap_starts: Mapping[int, float]) -> Telemetry | None:
    """Place one driver's lap files in session time and chain their distances.

    A lap with no known start is dropped (and reported). Distance restarts at 0
    each lap in the files: each lap is offset by the previous laps' final
    distances, a missing lap counting as a median lap, so the result is monotonic.
    """
    starts = np.array([lap_starts.get(int(n), math.nan) for n in data.numbers], dtype=np.float64)
    unplaced = data.numbers[~np.isfinite(starts)]
    if len(unplaced):
        laps = ", ".join(str(n) for n in unplaced)
        data.problems.append(f"{data.code}: telemetry of lap(s) {laps} skipped, no lap start time")
    if not np.isfinite(starts).any():
        return None
    final = data.final_distances()
    skipped_laps = np.diff(data.numbers, append=data.numbers[-1] + 1) - 1
    step = final + skipped_laps * np.median(final)
    offsets = np.concatenate(([0.0], np.cumsum(step)[:-1]))

    ch = data.channels
    time = ch["time"] + np.repeat(starts, data.counts)
    distance = np.maximum(ch["distance"], 0.0) + np.repeat(offsets, data.counts)
    order = np.argsort(time, kind="stable")
    time = time[order]
    keep = np.isfinite(time)
    keep[1:] &= np.diff(time) > 0  # duplicate times at lap boundaries: keep the first
    index = order[keep]
    distance = distance[index]
    # Lap files overlap by a sample or two; forbid the tiny steps back that causes.
    finite = np.isfinite(distance)
    distance[finite] = np.maximum.accumulate(distance[finite])
    picked = {name: ch[name][index] for name in ("x", "y", "z", "speed", "rpm", "gear")}
    picked |= {name: ch[name][index] for name in ("throttle", "brake", "drs")}
    return Telemetry(time=time[keep], distance=distance, **picked)


# ---------------------------------------------------------------- the folder


@dataclass(frozen=True)
class SessionFolder:
    path: Path
    year: int
    event: str
    name: str
    kind: SessionKind
    driver_dirs: dict[str, Path]  # code → folder with at least one lap file or laptimes.json


def open_folder(folder: Path) -> SessionFolder:
    """Check the layout and find the driver folders; `SessionNotFound` says what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SessionNotFound(f"{folder} is not a folder: {_EXPECTED_LAYOUT}")
    try:
        year = int(folder.parent.parent.name)
    except ValueError:
        raise SessionNotFound(
            f"{folder}: no year in the path ({folder.parent.parent.name!r}): {_EXPECTED_LAYOUT}"
        ) from None
    try:
        kind = session_kind(folder.name)
    except SessionNotFound as exc:
        raise SessionNotFound(f"{folder}: {exc}; {_EXPECTED_LAYOUT}") from None
    driver_dirs = {
        d.name: d
        for d in sorted(folder.iterdir())
        if d.is_dir() and ((d / "laptimes.json").exists() or lap_files(d))
    }
    if not driver_dirs:
        raise SessionNotFound(
            f"{folder} holds no driver folders with lap files: {_EXPECTED_LAYOUT}"
        )
    return SessionFolder(folder, year, folder.parent.name, folder.name, kind, driver_dirs)


def _read_optional_json(path: Path, problems: list[str]) -> Any:
    if not path.exists():
        problems.append(f"{path.name} missing")
        return None
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} unreadable ({exc}): ignored")
        return None


def read_teams(folder: Path, problems: list[str]) -> dict[str, str]:
    """Driver code → team, from drivers.json (empty when the file is missing)."""
    doc = _read_optional_json(folder / "drivers.json", problems)
    if not isinstance(doc, dict):
        return {}
    return {
        str(d["driver"]): str(d.get("team", "")) for d in doc.get("drivers", []) if "driver" in d
    }


def read_corners(folder: Path, problems: list[str]) -> tuple[Corner, ...]:
    """Corners from corners.json (X/Y in 1/10 m → metres)."""
    doc = _read_optional_json(folder / "corners.json", problems)
    if not isinstance(doc, dict) or "CornerNumber" not in doc:
        return ()
    numbers = doc["CornerNumber"]
    letters = doc.get("Letter") or [""] * len(numbers)
    x, y = _floats(doc["X"]) / 10.0, _floats(doc["Y"]) / 10.0
    angle = _floats(doc.get("Angle", [math.nan] * len(numbers)))
    distance = _floats(doc.get("Distance", [math.nan] * len(numbers)))
    return tuple(
        Corner(
            int(numbers[i]),
            str(letters[i] or ""),
            float(x[i]),
            float(y[i]),
            float(angle[i]),
            float(distance[i]),
        )
        for i in range(len(numbers))
    )


def load_telemetry(
    folder: Path,
    lap_starts: Mapping[str, Mapping[int, float]],
    progress: Progress | None = None,
) -> tuple[dict[str, Telemetry], list[str]]:
    """Telemetry of every driver in a TracingInsights folder, placed at the given lap starts."""
    session = open_folder(folder)
    data, _ = _read_all_drivers(list(session.driver_dirs.values()), progress)
    return _place_all(data, lap_starts)


def _place_all(
    data: list[DriverLapData], lap_starts: Mapping[str, Mapping[int, float]]
) -> tuple[dict[str, Telemetry], list[str]]:
    telemetry: dict[str, Telemetry] = {}
    problems: list[str] = []
    for driver in data:
        if len(driver.numbers) == 0:
            driver.problems.append(f"{driver.code}: no readable lap files, no telemetry")
        elif driver.code not in lap_starts:
            driver.problems.append(f"{driver.code}: not in the timing, telemetry skipped")
        elif (tel := telemetry_from_laps(driver, lap_starts[driver.code])) is not None:
            telemetry[driver.code] = tel
        problems += driver.problems
    return telemetry, problems


# ---------------------------------------------------------------- timing without FastF1


def _laptimes_table(path: Path, code: str, problems: list[str]) -> dict[str, np.ndarray | list]:
    """laptimes.json as columns; missing or unreadable → empty (lap files still give durations)."""
    if not path.exists():
        problems.append(f"{code}: no laptimes.json, lap times from telemetry files, no tyres")
        return {}
    try:
        doc = read_json(path)
    except (OSError, ValueError) as exc:
        problems.append(f"{code}: laptimes.json unreadable ({exc}), lap times from telemetry files")
        return {}
    table: dict[str, np.ndarray | list] = {}
    for name, values in doc.items():
        table[name] = list(values) if name in ("compound", "status") else _floats(values)
    return table


def _column(table: Mapping[str, Any], name: str, row: int | None) -> Any:
    if row is None or name not in table or row >= len(table[name]):
        return None
    return table[name][row]


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None or not math.isfinite(value) else int(value)


def _compound(value: Any) -> str | None:
    text = str(value).strip().upper() if value is not None else ""
    return text if text and text not in ("NONE", "NAN", "UNKNOWN", "TEST_UNKNOWN") else None


def laps_from_laptimes(
    code: str,
    table: Mapping[str, Any],
    lap_data: DriverLapData,
    session_start: float,
    field_durations: Mapping[int, float] | None = None,
) -> tuple[list[Lap], list[str]]:
    """Laps by chaining durations from the session start (no FastF1 timing).

    Each lap lasts its official time, or its telemetry file's duration when the
    time is missing (behind the safety car, in/out laps). A lap with neither
    breaks the chain: later laps cannot be placed. A lap missing from the files
    altogether (some start at lap 2) lasts the field's median for that lap, given
    in `field_durations`, and says so. Pit visits come later, from the telemetry
    (`mark_archive_pits`); stints from the file where it has them.
    """
    problems: list[str] = []
    row_of = {int(n): i for i, n in enumerate(table.get("lap", [])) if math.isfinite(n)}
    file_duration = dict(zip(lap_data.numbers.tolist(), lap_data.durations().tolist(), strict=True))
    numbers = sorted(set(row_of) | set(file_duration))
    if field_durations is not None and numbers:
        absent = sorted(set(range(1, numbers[-1])) - set(numbers))
        if absent:
            numbers = sorted([*numbers, *absent])
            listed = ", ".join(str(n) for n in absent)
            problems.append(
                f"{code}: lap(s) {listed} missing from the archive: timed as the field's median"
            )
    laps: list[Lap] = []
    start = session_start
    for number in numbers:
        row = row_of.get(number)
        lap_time = _num(_column(table, "time", row))
        duration = lap_time if math.isfinite(lap_time) else file_duration.get(number, math.nan)
        if number not in row_of and number not in file_duration and field_durations:
            duration = field_durations.get(number, math.nan)
        if not math.isfinite(duration) and math.isfinite(start):
            problems.append(f"{code}: lap {number} has no time, later laps cannot be placed")
        laps.append(
            Lap(
                driver=code,
                number=number,
                start=start,
                end=start + duration,
                lap_time=lap_time,
                sector_times=(
                    _num(_column(table, "s1", row)),
                    _num(_column(table, "s2", row)),
                    _num(_column(table, "s3", row)),
                ),
                compound=_compound(_column(table, "compound", row)),
                tyre_age=_int(_column(table, "life", row)),
                stint=_int(_column(table, "stint", row)),
                position=_int(_column(table, "pos", row)),
            )
        )
        start += duration
    return laps, problems


def _visit_at_each_new_stint(own: list[Lap]) -> None:
    """The files number the stints: a new stint that no visit explains is a stop at the
    line between the two laps (its pit times unknown, its lap certain)."""
    for lap, following in itertools.pairwise(own):
        new_stint = lap.stint is not None and following.stint is not None
        new_stint = new_stint and following.stint > lap.stint  # type: ignore[operator]
        explained = math.isfinite(lap.pit_in) or math.isfinite(following.pit_in)
        if new_stint and not explained:
            lap.pit_in, following.pit_out = lap.end, following.start


def mark_archive_pits(
    laps: list[Lap], telemetry: Mapping[str, Telemetry], kind: SessionKind, problems: list[str]
) -> None:
    """Pit entries and exits from each car's telemetry (the archive has no pit times),
    and stints from the stops where the files do not number them."""
    by_driver: dict[str, list[Lap]] = {}
    for lap in laps:
        by_driver.setdefault(lap.driver, []).append(lap)
    for code, own in by_driver.items():
        own.sort(key=lambda lap: lap.number)
        tel = telemetry.get(code)
        if tel is None or not own:
            continue
        # The start itself is a standstill the car drives away from: begin after it.
        visits = pit_visits(tel, after=own[0].start + 5.0)
        mark_pit_visits(own, visits)
        if any(lap.stint is not None for lap in own):
            _visit_at_each_new_stint(own)
        else:
            stint = 1
            for lap in own:
                lap.stint = stint
                if math.isfinite(lap.pit_in) and kind.is_race:
                    stint += 1
    problems.append(
        "no FastF1 timing: pit stops found in the telemetry (the car standing in its box); "
        "drive-throughs and pit times are not known"
    )


def _median_lap_durations(per_driver: Iterable[list[Lap]]) -> dict[int, float]:
    """Each lap number's median duration over the drivers that have it."""
    durations: dict[int, list[float]] = {}
    for laps in per_driver:
        for lap in laps:
            if math.isfinite(lap.end - lap.start):
                durations.setdefault(lap.number, []).append(lap.end - lap.start)
    return {number: float(np.median(values)) for number, values in durations.items()}


def _timing_from_archive(
    session: SessionFolder, data: list[DriverLapData], problems: list[str]
) -> Timing:
    """Timing from laptimes.json alone, starting every driver's first lap at session time 0."""
    teams = read_teams(session.path, problems)
    codes = list(teams) + [code for code in session.driver_dirs if code not in teams]
    drivers = [
        Driver(code, "", teams.get(code, ""), team_colour(teams.get(code, ""))) for code in codes
    ]
    by_code = {d.code: d for d in data}
    for code in codes:
        if code not in by_code:
            problems.append(f"{code}: listed in drivers.json but has no folder with lap data")
    present = [code for code in codes if code in by_code]
    tables = {
        code: _laptimes_table(session.driver_dirs[code] / "laptimes.json", code, problems)
        for code in present
    }
    # Chained once without help, for the field's lap times; then again, filling the laps
    # a driver's files lack with the field's median (a race only: elsewhere laps differ).
    chained = {
        code: laps_from_laptimes(code, tables[code], by_code[code], 0.0)[0] for code in present
    }
    field = _median_lap_durations(chained.values()) if session.kind.is_race else None
    laps: list[Lap] = []
    for code in present:
        driver_laps, lap_problems = laps_from_laptimes(
            code, tables[code], by_code[code], 0.0, field
        )
        laps += driver_laps
        problems += lap_problems
    if not session.kind.is_race:
        problems.append(
            "no FastF1 timing: lap starts chain lap durations from session time 0, "
            "so time spent in the garage between runs is missing"
        )
    max_lap = max((lap.number for lap in laps), default=None)
    info = SessionInfo(
        year=session.year,
        event=session.event,
        name=session.name,
        kind=session.kind,
        start_time=0.0,
        total_laps=max_lap if session.kind.is_race else None,
    )
    return Timing(info, drivers, laps, [], [], [], [], None, None)


# ---------------------------------------------------------------- entry points


def load_folder(
    folder: Path,
    fastf1_cache: Path | None = None,
    fastf1_http_cache: Path | None = None,
    offline: bool = False,
    progress: Progress | None = None,
    parse_workers: int | None = None,
    parse_chunk: int = 1,
) -> RawSession:
    """Load a TracingInsights session folder, with FastF1 timing when a FastF1 cache is given.

    `parse_workers` (default `default_parse_workers`) and `parse_chunk` tune the parse
    pool (the build bench measures them; 1 worker parses in this process).
    """
    session = open_folder(Path(folder))
    problems: list[str] = []
    fastf1_timing = None
    if fastf1_cache is not None or fastf1_http_cache is not None:
        fastf1_timing = functools.partial(
            _optional_fastf1_timing,
            session,
            Path(fastf1_cache) if fastf1_cache else None,
            Path(fastf1_http_cache) if fastf1_http_cache else None,
            offline,
        )
    _report(progress, 0.05, "reading lap files")
    driver_dirs = list(session.driver_dirs.values())
    data, loaded = _read_all_drivers(
        driver_dirs, progress, fastf1_timing, parse_workers, parse_chunk
    )
    timing, timing_problems = loaded or (None, [])
    problems += timing_problems
    from_fastf1 = timing is not None
    if timing is None:
        timing = _timing_from_archive(session, data, problems)
    else:
        _check_against_timing(session, data, timing, problems)
    telemetry, tel_problems = _place_all(data, timing.lap_starts())
    problems += tel_problems
    if not from_fastf1:
        mark_archive_pits(timing.laps, telemetry, session.kind, problems)
    corners = read_corners(session.path, problems)
    _report(progress, 1.0, "loaded")
    return assemble(timing, telemetry, problems, corners)


def _optional_fastf1_timing(
    session: SessionFolder,
    cache: Path | None,
    http_cache: Path | None,
    offline: bool,
) -> tuple[Timing | None, list[str]]:
    """FastF1 timing if it loads; otherwise None and why, so the archive alone serves."""
    try:
        timing = load_timing(session.year, session.event, session.name, cache, http_cache, offline)
    except SessionNotFound as exc:
        return None, [f"FastF1 timing unavailable ({exc}); lap times chained from the archive"]
    return timing, []


def _check_against_timing(
    session: SessionFolder, data: list[DriverLapData], timing: Timing, problems: list[str]
) -> None:
    """Say when the folder and FastF1 disagree on who drove."""
    timed = {d.code for d in timing.drivers}
    for code in sorted(timed - set(session.driver_dirs)):
        problems.append(f"{code}: no folder in {session.path}, no telemetry")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load(ref: SessionRef, progress: Progress | None = None) -> RawSession:
    """`tracinginsights:PATH?fastf1_cache=DIR&fastf1_http_cache=DIR&offline=1`."""
    unknown = set(ref.options) - {"fastf1_cache", "fastf1_http_cache", "offline"}
    if unknown:
        raise SessionNotFound(
            f"unknown option(s) {', '.join(sorted(unknown))} in {ref}: "
            "use fastf1_cache, fastf1_http_cache, offline"
        )
    cache = ref.options.get("fastf1_cache")
    http_cache = ref.options.get("fastf1_http_cache")
    return load_folder(
        Path(ref.arg),
        fastf1_cache=Path(cache) if cache else None,
        fastf1_http_cache=Path(http_cache) if http_cache else None,
        offline=_flag(ref.options.get("offline")),
        progress=progress,
    )
