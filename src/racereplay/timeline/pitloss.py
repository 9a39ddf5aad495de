"""The pit-exit ghost: what a pit stop costs at this circuit, and where a car would rejoin.

`pit_loss(timeline)` measures the time a stop costs from the session's own stops: for
each stop, its in-lap and out-lap against the same two laps of each car that ran them
without stopping, under the same track status, less the driver's usual margin to that
car on two clean green laps nearby (see `real_stops`). The loss is the median over the
green-flag stops. Under the Safety Car and the Virtual Safety Car the field is slow,
so a stop costs less: the factor is measured from the stops under them where the
session has enough that agree (their loss over the green loss), else a documented
default (x0.6 SC, x0.75 VSC). A race without any measurable stop uses a circuit
default (22 s). Every default used is one line of `problems`.

`predicted_rejoin(...)` is vectorised over rows (frames, or the moments of stops): a
car that pitted now would come out `loss` seconds further behind the leader, so it
would rejoin in place 1 + the number of other racing cars whose gap to the leader is
smaller than its own gap plus the loss, between the car with the largest such gap and
the car with the smallest gap above it.

`evaluate(timeline, loss)` compares, for every real stop, the prediction at pit entry
with the place really taken (see there). Pure functions of the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racereplay.model import TrackStatusCode
from racereplay.timeline.model import DriverStatus, EventKind, Timeline

DEFAULT_LOSS_S = 22.0  # a typical circuit's green-flag pit loss, when the session has no stop
DEFAULT_SC_FACTOR = 0.6  # a stop under the Safety Car costs about 60 % of a green one
DEFAULT_VSC_FACTOR = 0.75  # ... under the Virtual Safety Car about 75 %
# A measured loss outside this band is no ordinary stop (a long repair, a penalty served,
# a data gap): it is left out of the median.
PLAUSIBLE_LOSS_S = (5.0, 60.0)
FACTOR_RANGE = (0.2, 1.0)  # a measured SC/VSC factor is clipped to this
MIN_FACTOR_STOPS = 3  # stops under SC (or VSC) needed to measure its factor
REJOIN_SETTLE_S = 5.0  # the real rejoin place is read this long after pit exit

RACING = (DriverStatus.RUNNING, DriverStatus.PIT_LANE, DriverStatus.FINISHED)
VSC_CODES = (TrackStatusCode.VSC, TrackStatusCode.VSC_ENDING)

GREEN, SC, VSC, RED = "green", "sc", "vsc", "red"


@dataclass(frozen=True)
class Stop:
    """One real pit stop: its laps, times, the track's state then and what it cost."""

    driver: str
    lap: int  # the in-lap
    pit_in: float  # session time, s
    pit_out: float
    start: float  # the in-lap's start (NaN unknown)
    end: float  # the out-lap's end (NaN unknown)
    condition: str  # green, sc, vsc or red (the worst the in-lap and out-lap saw)
    loss: float  # s lost over the in-lap and out-lap against the field; NaN unknown


@dataclass(frozen=True)
class PitLoss:
    """What a stop costs here: `seconds` under green flags, x `sc_factor` under the
    Safety Car and x `vsc_factor` under the VSC."""

    seconds: float
    source: str  # "measured" (median of green-flag stops), "scaled" (from SC/VSC stops), "default"
    stops_used: int  # stops the green-flag loss comes from
    sc_factor: float
    sc_source: str  # "measured" or "default"
    sc_stops: int
    vsc_factor: float
    vsc_source: str
    vsc_stops: int
    stops: list[Stop] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def per_frame(self, track_status: np.ndarray) -> np.ndarray:
        """The loss (s, float64) at each frame of a track-status channel."""
        status = np.asarray(track_status)
        factor = np.where(
            status == TrackStatusCode.SAFETY_CAR,
            self.sc_factor,
            np.where(np.isin(status, VSC_CODES), self.vsc_factor, 1.0),
        )
        return self.seconds * factor

    def describe(self) -> str:
        """How the figure was derived, in a phrase."""
        plural = "s" * (self.stops_used != 1)
        if self.source == "measured":
            return (
                f"median of {self.stops_used} green-flag stop{plural}: in-lap + out-lap "
                "against the same laps of the cars that did not stop, less the usual margin"
            )
        if self.source == "scaled":
            return f"from {self.stops_used} stop{plural} under SC/VSC, divided by their factor"
        return f"circuit default ({DEFAULT_LOSS_S:g} s): no measurable stop in this session"


def _frames_of(timeline: Timeline, times: np.ndarray) -> np.ndarray:
    k = np.rint((np.asarray(times, dtype=np.float64) - timeline.t0) * timeline.fps)
    return np.clip(np.nan_to_num(k, nan=0.0), 0, timeline.n_frames - 1).astype(np.int64)


class _StatusSpans:
    """Whether spans of session time saw a track status, with one cumulative count each."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        track = np.asarray(timeline.frames["track_status"])
        self.counts = {
            name: np.concatenate([[0], np.cumsum(np.isin(track, codes))])
            for name, codes in (
                (SC, (TrackStatusCode.SAFETY_CAR,)),
                (VSC, VSC_CODES),
                (RED, (TrackStatusCode.RED,)),
            )
        }

    def saw(self, name: str, start: float, end: float) -> bool:
        first, last = _frames_of(self.timeline, np.array([start, end]))
        count = self.counts[name]
        return bool(count[last + 1] - count[first] > 0)

    def condition(self, start: float, end: float) -> str:
        for name in (RED, SC, VSC):
            if self.saw(name, start, end):
                return name
        return GREEN


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _stopping(stops: list[Stop], codes: list[str], d: int, start: float, end: float) -> np.ndarray:
    """(D,) True for the cars other than `d` whose own stop overlaps [start, end]."""
    mask = np.zeros(len(codes), dtype=bool)
    for other in stops:
        if other.pit_out >= start and other.pit_in <= end:
            mask[codes.index(other.driver)] = True
    mask[d] = False
    return mask


def real_stops(timeline: Timeline) -> list[Stop]:
    """Every pit stop of the timeline's events, with its laps' track state and its loss.

    The loss is read off the lap table (lap ends: official timing, in every source mode),
    car by car: the driver's in-lap and out-lap against the same two laps of each other
    car that ran them without a pit visit under the same track status, less the driver's
    usual margin to that car (the same comparison on two clean green laps near the stop:
    the two before the in-lap, else the two after the out-lap). The loss is the median
    over those cars of these paired differences."""
    events = [e for e in timeline.events if e.kind == EventKind.PIT_STOP and e.driver]
    codes = [d.code for d in timeline.drivers]
    events = [e for e in events if e.driver in codes]
    if not events:
        return []
    spans = _StatusSpans(timeline)
    table = _LapTimes(timeline, spans)
    stops: list[Stop] = []
    for e in events:
        code, lap_in = str(e.driver), int(e.data["lap"])
        duration = e.data.get("duration")
        pit_out = float(e.time)
        pit_in = pit_out - float(duration) if duration is not None else pit_out
        start = table.start(code, lap_in)
        end = table.end(code, lap_in + 1)
        span = (start if math.isfinite(start) else pit_in, end if math.isfinite(end) else pit_out)
        condition = spans.condition(*span)
        loss = table.stop_loss(code, lap_in)
        stops.append(Stop(code, lap_in, pit_in, pit_out, start, end, condition, loss))
    return stops


class _LapTimes:
    """The lap table as (driver, lap) -> time, clean (no pit visit, not lap 1) and track
    status of each lap."""

    def __init__(self, timeline: Timeline, spans: _StatusSpans) -> None:
        self.rows = {(row["driver"], int(row["lap"])): row for row in timeline.laps}
        self.time: dict[tuple[str, int], float] = {}
        self.clean: dict[tuple[str, int], bool] = {}
        self.status: dict[tuple[str, int], str] = {}
        self.drivers = sorted({code for code, _ in self.rows})
        for key, row in self.rows.items():
            start, end = _number(row.get("start")), _number(row.get("end"))
            t = _number(row.get("lap_time"))
            if not math.isfinite(t):
                t = end - start
            self.time[key] = t
            self.clean[key] = (
                key[1] > 1
                and math.isfinite(t)
                and row.get("pit_in") is None
                and row.get("pit_out") is None
            )
            known = math.isfinite(start) and math.isfinite(end)
            self.status[key] = spans.condition(start, end) if known else "unknown"

    def start(self, code: str, lap: int) -> float:
        return _number((self.rows.get((code, lap)) or {}).get("start"))

    def end(self, code: str, lap: int) -> float:
        return _number((self.rows.get((code, lap)) or {}).get("end"))

    def _sum(self, code: str, laps: tuple[int, ...]) -> float:
        return sum(self.time.get((code, n), math.nan) for n in laps)

    def _usable(self, code: str, laps: tuple[int, ...], like: tuple[str, ...]) -> bool:
        return all(
            self.clean.get((code, n), False) and self.status.get((code, n)) == s
            for n, s in zip(laps, like, strict=True)
        )

    def stop_loss(self, code: str, lap_in: int) -> float:
        stop = (lap_in, lap_in + 1)
        if not all((code, n) in self.time for n in stop):
            return math.nan
        conditions = tuple(self.status.get((code, n), "unknown") for n in stop)
        if "unknown" in conditions:
            return math.nan
        own = self._sum(code, stop)
        margins = [
            laps
            for laps in ((lap_in - 2, lap_in - 1), (lap_in + 2, lap_in + 3))
            if self._usable(code, laps, (GREEN, GREEN))
        ]
        paired: list[float] = []
        unpaired: list[float] = []
        for other in self.drivers:
            if other == code or not self._usable(other, stop, conditions):
                continue
            lost = own - self._sum(other, stop)
            unpaired.append(lost)
            usual = next(
                (laps for laps in margins if self._usable(other, laps, (GREEN, GREEN))), None
            )
            if usual is not None:
                paired.append(lost - (self._sum(code, usual) - self._sum(other, usual)))
        values = paired or unpaired
        return float(np.median(values)) if values else math.nan


def _plausible(values: list[float], lowest: float) -> list[float]:
    return [v for v in values if math.isfinite(v) and lowest <= v <= PLAUSIBLE_LOSS_S[1]]


def _factor(values: list[float], green: list[float], default: float) -> tuple[float, str]:
    """A measured SC/VSC factor when its stops agree (enough of them, an interquartile
    range under a quarter of the green loss); else the default. Behind the Safety Car the
    field closes up by tens of seconds, so the loss of SC stops is often too scattered."""
    if len(values) < MIN_FACTOR_STOPS or not green:
        return default, "default"
    q1, q3 = np.percentile(values, [25, 75])
    reference = float(np.median(green))
    if q3 - q1 > 0.25 * reference:
        return default, "default"
    ratio = float(np.median(values)) / reference
    return float(np.clip(ratio, *FACTOR_RANGE)), "measured"


def pit_loss(timeline: Timeline) -> PitLoss | None:
    """The session's pit loss (None outside races: nobody rejoins anything there)."""
    if not timeline.info.kind.is_race:
        return None
    stops = real_stops(timeline)
    by = {c: [s.loss for s in stops if s.condition == c] for c in (GREEN, SC, VSC)}
    green = _plausible(by[GREEN], PLAUSIBLE_LOSS_S[0])
    # Under SC/VSC a stop may cost little: only a loss under a second is implausible.
    sc, vsc = _plausible(by[SC], 1.0), _plausible(by[VSC], 1.0)
    factors = {
        SC: _factor(sc, green, DEFAULT_SC_FACTOR),
        VSC: _factor(vsc, green, DEFAULT_VSC_FACTOR),
    }
    problems: list[str] = []
    if green:
        seconds, source, used = float(np.median(green)), "measured", len(green)
    elif sc or vsc:
        scaled = [v / factors[SC][0] for v in sc] + [v / factors[VSC][0] for v in vsc]
        seconds, source, used = float(np.median(scaled)), "scaled", len(scaled)
        problems.append(
            f"pit-exit ghost: no green-flag stop: the pit loss ({seconds:.1f} s) comes from "
            f"{used} stop{'s' * (used != 1)} under SC/VSC divided by their factors"
        )
    else:
        seconds, source, used = DEFAULT_LOSS_S, "default", 0
        problems.append(
            f"pit-exit ghost: no pit stops to measure: a circuit default pit loss of "
            f"{DEFAULT_LOSS_S:g} s is used"
        )
    for name, label, values in ((SC, "SC", sc), (VSC, "VSC", vsc)):
        factor, how = factors[name]
        if how == "default":
            why = (
                f"{len(values)} stops under {label} too few or too scattered to measure"
                if values
                else f"no stops under {label} to measure"
            )
            problems.append(f"pit-exit ghost: {why}: default loss factor {label} x{factor:g}")
    return PitLoss(
        seconds=seconds,
        source=source,
        stops_used=used,
        sc_factor=factors[SC][0],
        sc_source=factors[SC][1],
        sc_stops=len(sc),
        vsc_factor=factors[VSC][0],
        vsc_source=factors[VSC][1],
        vsc_stops=len(vsc),
        stops=stops,
        problems=problems,
    )


@dataclass(frozen=True)
class Rejoin:
    """Predictions, one per row: place 1-based (0: the car is not racing), the cars it
    would rejoin between (driver indices, -1: none) and its gaps (s)."""

    position: np.ndarray  # (N,) int
    ahead: np.ndarray  # (N,) int, the car it would come out behind
    behind: np.ndarray  # (N,) int, the car it would come out ahead of
    gap: np.ndarray  # (N,) float, its gap to the leader after the stop
    to_ahead: np.ndarray  # (N,) float, seconds behind `ahead` (NaN without one)


def predicted_rejoin(
    gap: np.ndarray, status: np.ndarray, driver: np.ndarray | int, loss: np.ndarray | float
) -> Rejoin:
    """Where `driver` would rejoin if it pitted at each row of `gap` / `status` ((N, D),
    or (D,) for one row), losing `loss` seconds (scalar or (N,)).

    Place = 1 + the other racing cars (running, in the pit lane, finished) whose gap to
    the leader is smaller than the driver's gap plus the loss."""
    gap = np.atleast_2d(np.asarray(gap, dtype=np.float64))
    status = np.atleast_2d(np.asarray(status))
    n = gap.shape[0]
    rows = np.arange(n)
    who = np.broadcast_to(np.asarray(driver, dtype=np.int64), (n,))
    lost = np.broadcast_to(np.asarray(loss, dtype=np.float64), (n,))
    racing = np.isin(status, RACING) & np.isfinite(gap)
    own = gap[rows, who]
    valid = racing[rows, who] & (status[rows, who] != DriverStatus.FINISHED)
    ghost = own + lost
    others = racing.copy()
    others[rows, who] = False
    before = others & (gap < ghost[:, None])
    after = others & ~before
    position = np.where(valid, 1 + before.sum(axis=1), 0)
    ahead_gap = np.where(before, gap, -np.inf)
    ahead = np.where(before.any(axis=1), ahead_gap.argmax(axis=1), -1)
    behind = np.where(after.any(axis=1), np.where(after, gap, np.inf).argmin(axis=1), -1)
    to_ahead = np.where(ahead >= 0, ghost - ahead_gap.max(axis=1, initial=-np.inf), np.nan)
    invalid = ~valid
    return Rejoin(
        position=position.astype(np.int64),
        ahead=np.where(invalid, -1, ahead).astype(np.int64),
        behind=np.where(invalid, -1, behind).astype(np.int64),
        gap=np.where(invalid, np.nan, ghost),
        to_ahead=np.where(invalid, np.nan, to_ahead),
    )


def rank_by_gap(gap: np.ndarray, status: np.ndarray, driver: np.ndarray) -> np.ndarray:
    """The place (1-based, 0: not racing) each row's `driver` holds among racing cars,
    by gap to the leader: the same count `predicted_rejoin` makes, with no loss."""
    return predicted_rejoin(gap, status, driver, 0.0).position


def evaluate(timeline: Timeline, loss: PitLoss) -> list[dict[str, Any]]:
    """Every real stop: the place predicted at pit entry (`predicted`) against the place
    taken `REJOIN_SETTLE_S` after pit exit (`actual`), both among all racing cars: what
    the board showed. And the prediction's own error (`error`): the ghost answers "if
    they pitted now", the others staying out, so cars that stopped themselves between
    this car's pit entry and the end of its out-lap are left out of both counts, and the
    place taken is read at the end of the out-lap (a lap end: official timing, in every
    source mode). 0 places where the car was not racing; error None then."""
    stops = loss.stops
    if not stops:
        return []
    codes = [d.code for d in timeline.drivers]
    if timeline.verify_frames is not None:
        timeline.verify_frames(0, 0)
    who = np.array([codes.index(s.driver) for s in stops], dtype=np.int64)
    settled = np.array([s.pit_out + REJOIN_SETTLE_S for s in stops])
    lap_end = np.array(
        [s.end if math.isfinite(s.end) else s.pit_out + REJOIN_SETTLE_S for s in stops]
    )
    k_in, k_exit, k_end = (
        _frames_of(timeline, np.array([s.pit_in for s in stops])),
        _frames_of(timeline, settled),
        _frames_of(timeline, lap_end),
    )
    gap, status = timeline.frames["gap"], timeline.frames["status"]
    lost = loss.per_frame(np.asarray(timeline.frames["track_status"])[k_in])
    predicted = predicted_rejoin(gap[k_in], status[k_in], who, lost).position
    actual = rank_by_gap(gap[k_exit], status[k_exit], who)
    others = np.stack(
        [
            _stopping(stops, codes, d, s.pit_in - 1.0, t)
            for s, d, t in zip(stops, who, lap_end, strict=True)
        ]
    )
    out = np.uint8(DriverStatus.RETIRED)
    alone_in = np.where(others, out, status[k_in])
    alone_end = np.where(others, out, status[k_end])
    predicted_alone = predicted_rejoin(gap[k_in], alone_in, who, lost).position
    actual_alone = rank_by_gap(gap[k_end], alone_end, who)
    return [
        {
            "driver": s.driver,
            "lap": s.lap,
            "pit_in": round(s.pit_in, 3),
            "pit_out": round(s.pit_out, 3),
            "condition": s.condition,
            "loss": None if not math.isfinite(s.loss) else round(s.loss, 3),
            "predicted": int(predicted[i]),
            "actual": int(actual[i]),
            "error": (
                abs(int(predicted_alone[i]) - int(actual_alone[i]))
                if predicted_alone[i] > 0 and actual_alone[i] > 0
                else None
            ),
        }
        for i, s in enumerate(stops)
    ]


def median_error(rejoins: list[dict[str, Any]], condition: str = GREEN) -> float | None:
    """Median of the prediction's errors (places, `evaluate`'s `error`) over the stops of
    `condition` where it is known; None without any."""
    errors = [r["error"] for r in rejoins if r["condition"] == condition and r["error"] is not None]
    return float(np.median(errors)) if errors else None


def board_error(rejoins: list[dict[str, Any]], condition: str = GREEN) -> float | None:
    """Median |predicted - actual| as the board showed them (every car counted, the place
    read 5 s after pit exit); None without any."""
    errors = [
        abs(r["predicted"] - r["actual"])
        for r in rejoins
        if r["condition"] == condition and r["predicted"] > 0 and r["actual"] > 0
    ]
    return float(np.median(errors)) if errors else None


def pit_exit(timeline: Timeline) -> dict[str, Any] | None:
    """The metadata's `pit_loss` (docs/protocol.md): the loss, how it was derived, and
    each real stop's predicted and real rejoin place. None outside races."""
    loss = pit_loss(timeline)
    if loss is None:
        return None
    rejoins = evaluate(timeline, loss)
    return {
        "seconds": round(loss.seconds, 3),
        "source": loss.source,
        "how": loss.describe(),
        "stops_used": loss.stops_used,
        "sc_factor": round(loss.sc_factor, 3),
        "sc_source": loss.sc_source,
        "sc_stops": loss.sc_stops,
        "vsc_factor": round(loss.vsc_factor, 3),
        "vsc_source": loss.vsc_source,
        "vsc_stops": loss.vsc_stops,
        "median_error": median_error(rejoins),
        "board_error": board_error(rejoins),
        "stops": rejoins,
        "problems": list(loss.problems),
    }
