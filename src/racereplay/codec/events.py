"""The timeline's events as JSON-able dicts, and which events belong to which chunk."""

from __future__ import annotations

import math
import threading
import weakref
from enum import Enum
from typing import Any

import numpy as np

from racereplay.timeline.model import Event, Timeline


def jsonable(value: Any) -> Any:
    """Plain JSON data: NaN -> None (JSON has no NaN), numpy scalars -> Python, tuples -> lists."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    return value


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "time": round(float(event.time), 3),
        "kind": event.kind,
        "driver": event.driver,
        "data": jsonable(event.data),
    }


class _SortedEvents:
    def __init__(self, timeline: Timeline) -> None:
        # An event without a time goes first (chunk 0) rather than nowhere.
        times = np.array([e.time for e in timeline.events], dtype=np.float64)
        times = np.where(np.isfinite(times), times, -np.inf)
        order = np.argsort(times, kind="stable")
        self.events = [timeline.events[i] for i in order]
        self.times = times[order]


# Events are sorted once per timeline, not once per chunk. Timelines are unhashable
# dataclasses, so the index is keyed by identity and dropped with the timeline.
_by_identity: dict[int, tuple[weakref.ref[Timeline], _SortedEvents]] = {}
_index_lock = threading.Lock()


def _sorted_events(timeline: Timeline) -> _SortedEvents:
    key = id(timeline)
    with _index_lock:
        entry = _by_identity.get(key)
        if entry is not None and entry[0]() is timeline:
            return entry[1]
        index = _SortedEvents(timeline)
        ref = weakref.ref(timeline, lambda _ref: _by_identity.pop(key, None))
        _by_identity[key] = (ref, index)
        return index


def events_in_span(
    timeline: Timeline, first_frame: int, end_frame: int, is_first: bool, is_last: bool
) -> list[dict[str, Any]]:
    """Events with time in [time(first_frame), time(end_frame)); the first and last chunks
    also take everything before and after, so every event lands in exactly one chunk."""
    index = _sorted_events(timeline)
    lo = 0 if is_first else np.searchsorted(index.times, timeline.time_of(first_frame), "left")
    hi = (
        len(index.events)
        if is_last
        else np.searchsorted(index.times, timeline.time_of(end_frame), "left")
    )
    return [event_to_dict(e) for e in index.events[int(lo) : int(hi)]]
