"""The `demo` source: a race, qualifying or practice simulated on a made-up circuit.

The offline default and the generator for scale tests. It produces a
`RawSession` in exactly the raw form real data has (irregular telemetry, laps,
track status, messages, weather, results), deterministic for a given seed:

    demo                                      a race: 20 cars, 30 laps, seed 0
    demo?seed=7&cars=40&laps=30&session=race  options
    demo?session=qualifying                   Q1/Q2/Q3, 18/15/12 min with 7/8 min breaks
    demo?session=qualifying&minutes=20        ... the running time scaled to 20 min
    demo?session=practice&minutes=30          one free practice session (default 60 min)

`laps` applies to races only, `minutes` to qualifying and practice only.
"""

from __future__ import annotations

from dataclasses import dataclass

from racereplay.model import RawSession, SessionKind
from racereplay.sources import BadOption, Progress, SessionNotFound, SessionRef
from racereplay.sources.demo.schedule import PRACTICE_MINUTES, QUALIFYING_MINUTES

MAX_CARS = 99
MAX_SEED = 2**32 - 1
MAX_MINUTES = 240  # a 4-hour session is plenty for scale tests and bounds memory
# Below these the last segment cannot fit one run (out-lap and a timed lap before the flag).
MIN_MINUTES = {SessionKind.QUALIFYING: 18, SessionKind.PRACTICE: 6}
DEFAULT_MINUTES = {
    SessionKind.QUALIFYING: QUALIFYING_MINUTES,
    SessionKind.PRACTICE: PRACTICE_MINUTES,
}
SESSIONS = {
    "race": SessionKind.RACE,
    "qualifying": SessionKind.QUALIFYING,
    "practice": SessionKind.PRACTICE,
}
_OPTIONS = ("seed", "cars", "laps", "minutes", "session")
_EXAMPLE = "e.g. 'demo?seed=7&cars=40&laps=30' or 'demo?session=qualifying&minutes=20'"


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 0
    cars: int = 20
    laps: int = 30  # races
    minutes: int | None = None  # qualifying and practice; None: the full-length session
    kind: SessionKind = SessionKind.RACE


def load(ref: SessionRef, progress: Progress | None = None) -> RawSession:
    """The demo session named by `ref` (options: seed, cars, laps, minutes, session)."""
    o = parse_options(ref.options)
    return simulate(o.seed, o.cars, o.laps, o.kind, progress, minutes=o.minutes)


def simulate(
    seed: int = 0,
    cars: int = 20,
    laps: int = 30,
    kind: SessionKind = SessionKind.RACE,
    progress: Progress | None = None,
    minutes: int | None = None,
) -> RawSession:
    """Simulate a session: deterministic for a given seed and options."""
    if kind not in SESSIONS.values():
        raise SessionNotFound(
            f"the demo simulates session=race, qualifying or practice, not {kind.value!r}"
        )
    _check(cars, laps, kind, minutes)
    if kind == SessionKind.RACE:
        from racereplay.sources.demo.race_session import simulate_race

        return simulate_race(seed, cars, laps, progress)
    from racereplay.sources.demo.timed_session import simulate_practice, simulate_qualifying

    length = DEFAULT_MINUTES[kind] if minutes is None else minutes
    if kind == SessionKind.QUALIFYING:
        return simulate_qualifying(seed, cars, length, progress)
    return simulate_practice(seed, cars, length, progress)


def parse_options(options: dict[str, str]) -> DemoOptions:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise BadOption(
            f"unknown demo option(s) {', '.join(unknown)}: use {', '.join(_OPTIONS)} ({_EXAMPLE})"
        )
    session = options.get("session", "race").strip().lower()
    if session not in SESSIONS:
        raise BadOption(
            f"demo option session={session!r}: use session=race, qualifying or practice"
        )
    kind = SESSIONS[session]
    if kind == SessionKind.RACE and "minutes" in options:
        raise BadOption("demo option minutes= is for qualifying and practice: use laps=")
    if kind != SessionKind.RACE and "laps" in options:
        raise BadOption(f"demo option laps= is for races: use minutes= for {session}")
    minutes = _integer(options, "minutes", 0) if "minutes" in options else None
    o = DemoOptions(
        seed=_integer(options, "seed", 0),
        cars=_integer(options, "cars", 20),
        laps=_integer(options, "laps", 30),
        minutes=minutes,
        kind=kind,
    )
    _check(o.cars, o.laps, o.kind, o.minutes)
    if not 0 <= o.seed <= MAX_SEED:
        raise BadOption(f"demo option seed={o.seed}: use 0 to {MAX_SEED}")
    return o


def _integer(options: dict[str, str], name: str, default: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise BadOption(f"demo option {name}={text!r} is not a whole number") from None


def _check(cars: int, laps: int, kind: SessionKind, minutes: int | None) -> None:
    if not 2 <= cars <= MAX_CARS:
        raise BadOption(f"demo option cars={cars}: use between 2 and {MAX_CARS} cars")
    if laps < 1:
        raise BadOption(f"demo option laps={laps}: use at least 1 lap")
    if minutes is not None and kind in MIN_MINUTES:
        lowest = MIN_MINUTES[kind]
        if not lowest <= minutes <= MAX_MINUTES:
            raise BadOption(
                f"demo option minutes={minutes}: use between {lowest} and {MAX_MINUTES} "
                f"minutes of running for {kind.value}"
            )
