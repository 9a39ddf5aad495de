"""A timeline's frames as tables, for notebooks: one frame (`FrameTable`), or every frame
of a span as columns ready for pandas or polars.

Numbers are exported as the timeline keeps them (units: `timeline.model.CHANNELS`);
the coded channels (`status`, `compound`, `drs`, `track_status`) become their names
("RUNNING", "SOFT", ...). pandas and polars are optional extras, imported only by the
functions that return their frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from racereplay.model import DrsState, TrackStatusCode
from racereplay.timeline.model import (
    CHANNELS,
    DRIVER_CHANNELS,
    SESSION_CHANNELS,
    Compound,
    DriverStatus,
)

if TYPE_CHECKING:
    import pandas
    import polars

    from racereplay.timeline.model import Timeline

# The coded channels and the enum whose member names they export as.
CODED: dict[str, type[IntEnum]] = {
    "status": DriverStatus,
    "compound": Compound,
    "drs": DrsState,
    "track_status": TrackStatusCode,
}

# A frame's table reads like a leaderboard: who, where in the order, then the car.
FRAME_COLUMNS = (
    "position",
    "driver",
    "status",
    "lap",
    "gap",
    "interval",
    "gap_laps",
    "interval_laps",
    "compound",
    "tyre_age",
    "speed",
    "gear",
    "rpm",
    "throttle",
    "brake",
    "drs",
    "distance",
    "x",
    "y",
)


def _extra_missing(extra: str, what: str) -> ImportError:
    return ImportError(
        f"{what} needs {extra}, an optional extra: pip install 'racereplay[{extra}]' "
        f"(or pip install {extra})"
    )


def _categories(enum: type[IntEnum]) -> tuple[list[str], np.ndarray]:
    """The enum's member names and a lookup from every uint8 code to its index in them
    (-1 for a code the enum lacks)."""
    names = [member.name for member in enum]
    lookup = np.full(256, -1, dtype=np.int16)
    for index, member in enumerate(enum):
        lookup[int(member)] = index
    return names, lookup


def _names(enum: type[IntEnum], codes: np.ndarray) -> np.ndarray:
    """Each code's member name (object array; None for an unknown code)."""
    names, lookup = _categories(enum)
    table = np.array([*names, None], dtype=object)  # index -1: None
    return table[lookup[codes.astype(np.int64)]]


def _verify(timeline: Timeline, first: int, end: int) -> None:
    # A store-backed timeline checks its file before rows are read (see timeline.model).
    if timeline.verify_frames is not None:
        timeline.verify_frames(first, end)


# ---------------------------------------------------------------- one frame


@dataclass(frozen=True)
class FrameTable:
    """One frame of a timeline as a small table: one row per driver, leader first.

    Attributes:
        time: session time of the frame, seconds.
        frame: the frame's index in the timeline.
        track_status: the track status name ("GREEN", "SAFETY_CAR", ...).
        leader_lap: the lap the leader is on (0 before the start).
        rows: one dict per driver, keys `FRAME_COLUMNS`, ordered by position
            (unplaced drivers, position 0, last).

    `table["VER"]` is one driver's row; `units` gives each column's unit. In a notebook
    it shows as an HTML table; `to_pandas()` / `to_polars()` give it as a data frame.
    """

    time: float
    frame: int
    track_status: str | None
    leader_lap: int
    rows: tuple[dict[str, Any], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return FRAME_COLUMNS

    @property
    def units(self) -> dict[str, str]:
        """Unit of each column ("" for names and counts without one)."""
        return {name: CHANNELS[name][0] if name in CHANNELS else "" for name in FRAME_COLUMNS}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, driver: str) -> dict[str, Any]:
        for row in self.rows:
            if row["driver"] == driver:
                return row
        codes = ", ".join(row["driver"] for row in self.rows)
        raise KeyError(f"no driver {driver!r} in this frame: the drivers are {codes}")

    def to_pandas(self) -> pandas.DataFrame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise _extra_missing("pandas", "FrameTable.to_pandas()") from exc
        frame = pd.DataFrame(list(self.rows), columns=list(FRAME_COLUMNS))
        frame.attrs["units"] = self.units
        return frame

    def to_polars(self) -> polars.DataFrame:
        try:
            import polars as pl
        except ImportError as exc:
            raise _extra_missing("polars", "FrameTable.to_polars()") from exc
        return pl.DataFrame(list(self.rows), orient="row")

    def _heading(self) -> str:
        t = self.time
        clock = f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"
        return f"session time {clock} (frame {self.frame}), lap {self.leader_lap}, " + str(
            self.track_status
        )

    def _cells(self) -> list[list[str]]:
        # Physical units in the heading; the coded channels' "units" are enum names.
        header = [f"{c} ({u})" if u and c not in CODED else c for c, u in self.units.items()]
        return [header] + [[_cell(row[c]) for c in FRAME_COLUMNS] for row in self.rows]

    def __repr__(self) -> str:
        cells = self._cells()
        widths = [max(len(row[i]) for row in cells) for i in range(len(FRAME_COLUMNS))]
        lines = ["  ".join(t.rjust(w) for t, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join([self._heading(), *lines])

    def _repr_html_(self) -> str:
        head, *body = self._cells()
        row_html = ["".join(f"<th>{text}</th>" for text in head)]
        row_html += ["".join(f"<td>{text}</td>" for text in row) for row in body]
        rows = "".join(f"<tr>{row}</tr>" for row in row_html)
        return f"<p>{self._heading()}</p><table>{rows}</table>"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def frame_table(timeline: Timeline, frame: int) -> FrameTable:
    """Frame `frame` of `timeline` as a `FrameTable`."""
    _verify(timeline, frame, frame + 1)
    codes = [driver.code for driver in timeline.drivers]
    values: dict[str, list[Any]] = {"driver": codes}
    for name in DRIVER_CHANNELS:
        row = np.asarray(timeline.frames[name][frame])
        values[name] = list(_names(CODED[name], row)) if name in CODED else row.tolist()
    rows = [{c: values[c][j] for c in FRAME_COLUMNS} for j in range(len(codes))]
    rows.sort(key=lambda row: (row["position"] == 0, row["position"], row["driver"]))
    status = _names(TrackStatusCode, np.asarray(timeline.frames["track_status"][frame : frame + 1]))
    return FrameTable(
        time=timeline.time_of(frame),
        frame=frame,
        track_status=status[0],
        leader_lap=int(timeline.frames["leader_lap"][frame]),
        rows=tuple(rows),
    )


# ---------------------------------------------------------------- many frames


@dataclass(frozen=True)
class FrameSpan:
    """Which frames and drivers an export covers."""

    frames: np.ndarray  # frame indices
    drivers: np.ndarray  # driver indices into timeline.drivers


def frame_span(
    timeline: Timeline,
    drivers: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
) -> FrameSpan:
    """The frames from session time `start` to `end` (inclusive; default: all), every
    frame or `fps` of them per second, of `drivers` (codes; default: all)."""
    first = 0 if start is None else timeline.frame_at(start)
    last = timeline.n_frames - 1 if end is None else timeline.frame_at(end)
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, not {fps}")
    step = 1 if fps is None else max(1, round(timeline.fps / fps))
    codes = [driver.code for driver in timeline.drivers]
    if drivers is None:
        chosen = list(range(len(codes)))
    else:
        unknown = [code for code in drivers if code not in codes]
        if unknown:
            raise KeyError(
                f"unknown driver(s) {', '.join(unknown)}: the drivers are {', '.join(codes)}"
            )
        chosen = [codes.index(code) for code in drivers]
    return FrameSpan(np.arange(first, last + 1, step), np.asarray(chosen, dtype=np.int64))


def span_columns(timeline: Timeline, span: FrameSpan) -> dict[str, np.ndarray]:
    """One row per (frame, driver), frame by frame: `time` (session time, s), `frame`,
    `driver` (code), every driver channel, then the session channels. A coded channel
    holds, vectorised, each value's index into its enum's member names (`CODED`;
    -1 for a code the enum lacks): the data frames make categories of them."""
    if len(span.frames):
        _verify(timeline, int(span.frames[0]), int(span.frames[-1]) + 1)
    n_frames, n_drivers = len(span.frames), len(span.drivers)
    codes = np.array([d.code for d in timeline.drivers], dtype=object)[span.drivers]
    columns: dict[str, np.ndarray] = {
        "time": np.repeat(timeline.t0 + span.frames / timeline.fps, n_drivers),
        "frame": np.repeat(span.frames, n_drivers),
        "driver": np.tile(codes, n_frames),
    }
    for name in DRIVER_CHANNELS:
        columns[name] = np.asarray(timeline.frames[name])[
            np.ix_(span.frames, span.drivers)
        ].reshape(-1)
    for name in SESSION_CHANNELS:
        columns[name] = np.repeat(np.asarray(timeline.frames[name])[span.frames], n_drivers)
    for name, enum in CODED.items():
        columns[name] = _categories(enum)[1][columns[name].astype(np.int64)]
    return columns


def span_units() -> dict[str, str]:
    """Unit of each exported column."""
    units = {name: unit for name, (unit, _) in CHANNELS.items()}
    return {"time": "s", "frame": "", "driver": ""} | units


def to_pandas(timeline: Timeline, span: FrameSpan) -> pandas.DataFrame:
    """`span_columns` as a pandas DataFrame; coded channels and `driver` as categoricals,
    the units in `frame.attrs["units"]`."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise _extra_missing("pandas", "Timeline.to_pandas()") from exc
    data: dict[str, Any] = {}
    for name, values in span_columns(timeline, span).items():
        if name in CODED:
            names = _categories(CODED[name])[0]
            data[name] = pd.Categorical.from_codes(values, categories=names)
        elif name == "driver":
            data[name] = pd.Categorical(values, categories=[d.code for d in timeline.drivers])
        else:
            data[name] = values
    frame = pd.DataFrame(data)
    frame.attrs["units"] = span_units()
    return frame


def to_polars(timeline: Timeline, span: FrameSpan) -> polars.DataFrame:
    """`span_columns` as a polars DataFrame; coded channels and `driver` as `pl.Enum`."""
    try:
        import polars as pl
    except ImportError as exc:
        raise _extra_missing("polars", "Timeline.to_polars()") from exc
    series = []
    for name, values in span_columns(timeline, span).items():
        if name in CODED:
            names = _categories(CODED[name])[0]
            text = np.array([*names, None], dtype=object)[values]  # index -1: None
            series.append(pl.Series(name, text.tolist(), dtype=pl.Enum(names)))
        elif name == "driver":
            dtype = pl.Enum([d.code for d in timeline.drivers])
            series.append(pl.Series(name, values.tolist(), dtype=dtype))
        else:
            series.append(pl.Series(name, values))
    return pl.DataFrame(series)
