"""The garbage collector at thousands of viewers: its pauses, and what keeps them short.

A full pass of Python's cyclic collector walks every tracked object, and the loop
(every viewer's clock) waits for it: at 8,000 viewers that was 0.8 s. Most of what a
server tracks lives long: a loaded session's events and laps, each viewer's
connection objects. They are freed by reference counting when they go, not by the
collector. So `Freezer` moves them out of its reach (`gc.freeze`, a constant-time
move into the permanent generation that passes never walk) after a session loads
and as viewers join.

Viewers also churn through objects that live about a chunk (a pending sleep, its
future, the coroutines awaiting it): too long for the young passes, so they pile up in
the old generation, ten thousand viewers' worth, and a full pass walked them all
(180 ms at 10,000 viewers). While viewers are connected `Freezer` therefore freezes
again every `period`, so a full pass walks at most one period of them. Objects
freed by reference counting leave the permanent generation as they go; the price is
that reference cycles among frozen objects are not collected while frozen. So once
no viewer is connected (when a pause harms no one) `Freezer` thaws everything and
collects once: about 30 objects per viewer that left, measured at 10,000 viewers.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import time

log = logging.getLogger(__name__)

FREEZE_DELAY_SECONDS = 1.0  # freezes are batched: joins in a burst cost one freeze
REFREEZE_SECONDS = 0.5  # while viewers watch: the most a full pass has to walk
COLLECT_AFTER_DEPARTURES = 20_000  # at ~30 cyclic objects left frozen by each


class Freezer:
    """Freeze what is tracked a little after `settle()`, and every `period` while
    viewers `watch()`; thaw and collect when the last one has `left()`."""

    def __init__(
        self,
        delay: float = FREEZE_DELAY_SECONDS,
        period: float = REFREEZE_SECONDS,
        collect_after: int = COLLECT_AFTER_DEPARTURES,
    ) -> None:
        self.delay = delay
        self.period = period
        self.collect_after = collect_after
        self.freezes = 0
        self.thaws = 0
        self.departures = 0  # since the last collection
        self._watching = False
        self._pending: asyncio.TimerHandle | None = None

    def settle(self) -> None:
        """Long-lived objects were just made (a session loaded, a viewer joined)."""
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.delay, self._freeze)

    def watch(self) -> None:
        """A viewer joined: freeze its objects soon, and keep freezing while any watch."""
        self._watching = True
        self.settle()

    def _freeze(self) -> None:
        self._pending = None
        gc.freeze()
        self.freezes += 1
        if self._watching:
            self._pending = asyncio.get_running_loop().call_later(self.period, self._freeze)

    def left(self, remaining: int) -> None:
        """A viewer left and `remaining` still watch. Once none do (a pause harms no
        one), collect what froze in cycles; on a server that is never without viewers,
        do so anyway every `collect_after` departures, each of which leaves a few."""
        self.departures += 1
        if remaining == 0:
            self._watching = False
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
        if remaining == 0 or self.departures >= self.collect_after:
            self._thaw_and_collect()

    def _thaw_and_collect(self) -> None:
        self.departures = 0
        if not gc.get_freeze_count():
            return
        gc.unfreeze()
        started = time.perf_counter()
        found = gc.collect()
        self.thaws += 1
        log.info(
            "thawed and collected %d objects in %.0f ms",
            found,
            (time.perf_counter() - started) * 1e3,
        )

    @staticmethod
    def frozen() -> int:
        """Objects in the permanent generation now: a walk over all of them (Python
        3.11 keeps no count), so a pause of its own at thousands of viewers."""
        return gc.get_freeze_count()


class GcPauses:
    """Durations of the collector's passes, kept per generation so that the rare full
    passes (which stall every viewer at once) are not crowded out by the young ones."""

    def __init__(self, keep: int = 200) -> None:
        # Per generation: (wall time the pass ended, its duration in seconds).
        self.pauses: tuple[collections.deque[tuple[float, float]], ...] = tuple(
            collections.deque(maxlen=keep) for _ in range(3)
        )
        self._started = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            seconds = time.perf_counter() - self._started
            self.pauses[info["generation"]].append((time.time(), seconds))

    def worst_ms(self) -> dict[str, float]:
        """Longest recent pass per generation, in ms."""
        return {
            f"gen{generation}": round(max(s for _, s in passes) * 1e3, 2)
            for generation, passes in enumerate(self.pauses)
            if passes
        }

    def full_passes(self, last: int = 20) -> list[tuple[float, float]]:
        """The last full passes: (Unix time it ended, duration in ms)."""
        return [(t, round(s * 1e3, 2)) for t, s in list(self.pauses[2])[-last:]]
