"""The `demo` source: a race (or qualifying) simulated on a made-up circuit.

The offline default and the generator for scale tests. It produces a
`RawSession` in exactly the raw form real data has (irregular telemetry, laps,
track status, messages, weather, results), deterministic for a given seed:

    demo                                      20 cars, 30 laps, seed 0
    demo?seed=7&cars=40&laps=30&session=race  options (session=race|qualifying)
"""

from __future__ import annotations

from racereplay.model import RawSession, SessionKind
from racereplay.sources import Progress, SessionNotFound, SessionRef

MAX_CARS = 99
_OPTIONS = ("seed", "cars", "laps", "session")


def load(ref: SessionRef, progress: Progress | None = None) -> RawSession:
    """The demo session named by `ref` (options: seed, cars, laps, session)."""
    seed, cars, laps, kind = parse_options(ref.options)
    return simulate(seed=seed, cars=cars, laps=laps, kind=kind, progress=progress)


def simulate(
    seed: int = 0,
    cars: int = 20,
    laps: int = 30,
    kind: SessionKind = SessionKind.RACE,
    progress: Progress | None = None,
) -> RawSession:
    """Simulate a session: deterministic for a given seed and options."""
    _check(cars, laps)
    if kind == SessionKind.RACE:
        from racereplay.sources.demo.race_session import simulate_race

        return simulate_race(seed, cars, laps, progress)
    if kind == SessionKind.QUALIFYING:
        raise SessionNotFound(
            "the demo does not simulate qualifying yet: use session=race (the default)"
        )
    raise SessionNotFound(
        f"the demo simulates session=race or session=qualifying, not {kind.value!r}"
    )


def parse_options(options: dict[str, str]) -> tuple[int, int, int, SessionKind]:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise SessionNotFound(
            f"unknown demo option(s) {', '.join(unknown)}: use {', '.join(_OPTIONS)} "
            "(e.g. 'demo?seed=7&cars=40&laps=30&session=race')"
        )
    seed = _integer(options, "seed", 0)
    cars = _integer(options, "cars", 20)
    laps = _integer(options, "laps", 30)
    session = options.get("session", "race").strip().lower()
    if session not in ("race", "qualifying"):
        raise SessionNotFound(
            f"demo option session={session!r}: use session=race or session=qualifying"
        )
    _check(cars, laps)
    return seed, cars, laps, SessionKind(session)


def _integer(options: dict[str, str], name: str, default: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise SessionNotFound(f"demo option {name}={text!r} is not a whole number") from None


def _check(cars: int, laps: int) -> None:
    if not 2 <= cars <= MAX_CARS:
        raise SessionNotFound(f"demo option cars={cars}: use between 2 and {MAX_CARS} cars")
    if laps < 1:
        raise SessionNotFound(f"demo option laps={laps}: use at least 1 lap")
