"""The events of a compact chunk on the wire: each kind's keys said once, in the format.

A chunk's events are a JSON array (docs/codec.md "Events"). An event whose kind is in
`EVENT_FIELDS`, whose `data` has exactly that kind's keys in that order and whose time
is a whole number of milliseconds goes as an array, `[kind, ms, driver, value, ...]`:
its kind's index in `EVENT_FIELDS`, its time in ms from the chunk's start (rounded
down to the ms), its driver, then its data's values. Any other event goes as the
object it is. Decoding gives back the same dicts (same keys, same order, same values),
so a client sees the events as before; the keys repeated in every event were about half
of the events' bytes after deflate.
"""

from __future__ import annotations

import json
import math
from typing import Any

from racereplay.timeline.model import EventKind

# Kind -> its data's keys, in the order timeline/events.py writes them. The list's order
# is the wire's kind number: append, never reorder (a change bumps the format's version).
EVENT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        EventKind.LAP,
        ("lap", "lap_time", "sectors", "personal_best", "overall_best", "position"),
    ),
    (EventKind.SECTOR, ("lap", "sector", "time", "personal_best", "overall_best")),
    (EventKind.PIT_IN, ("lap",)),
    (EventKind.PIT_OUT, ("lap", "compound")),
    (EventKind.PIT_STOP, ("lap", "duration", "stationary")),
    (EventKind.OVERTAKE, ("position", "passed")),
    (EventKind.RETIREMENT, ("lap",)),
    (EventKind.FINISH, ("position", "lap")),
    (EventKind.TRACK_STATUS, ("status", "label")),
    (
        EventKind.MESSAGE,
        ("category", "message", "flag", "scope", "sector", "driver", "lap"),
    ),
    (
        EventKind.WEATHER,
        (
            "air_temp",
            "track_temp",
            "humidity",
            "pressure",
            "rainfall",
            "wind_speed",
            "wind_direction",
        ),
    ),
    (EventKind.SEGMENT, ("name", "start", "end")),
)
_KIND_NUMBER = {kind: i for i, (kind, _) in enumerate(EVENT_FIELDS)}
_EVENT_KEYS = ["time", "kind", "driver", "data"]


def chunk_start_ms(t0: float, first_frame: int, fps: int) -> int:
    """The chunk's start in whole ms, the base of its events' times (the same float
    operations in the TypeScript decoder give the same number)."""
    return math.floor((t0 + first_frame / fps) * 1000)


def _as_array(event: dict[str, Any], base_ms: int) -> list[Any] | None:
    """The event's array form, or None if it has to go as an object."""
    if list(event) != _EVENT_KEYS:
        return None
    kind, time, driver, data = event["kind"], event["time"], event["driver"], event["data"]
    number = _KIND_NUMBER.get(kind) if isinstance(kind, str) else None
    if number is None or not isinstance(data, dict) or list(data) != list(EVENT_FIELDS[number][1]):
        return None
    if not isinstance(driver, (str, type(None))) or type(time) is not float:
        return None
    if not math.isfinite(time):
        return None
    ms = round(time * 1000) - base_ms
    if (base_ms + ms) / 1000 != time:  # not a whole ms: it would not come back exactly
        return None
    return [number, ms, driver, *data.values()]


def encode_events(events: list[dict[str, Any]], base_ms: int) -> bytes:
    """The chunk's events (event_to_dict's dicts) -> the events section, UTF-8 JSON."""
    packed = [_as_array(e, base_ms) or e for e in events]
    return json.dumps(packed, separators=(",", ":"), allow_nan=False).encode()


def decode_events(data: bytes, base_ms: int) -> list[dict[str, Any]]:
    """Inverse of `encode_events`."""
    out: list[dict[str, Any]] = []
    for item in json.loads(data):
        if isinstance(item, dict):
            out.append(item)
            continue
        if not isinstance(item, list) or len(item) < 3 or not isinstance(item[0], int):
            raise ValueError(f"corrupt chunk: an event is {item!r:.80}")
        number, ms, driver, *values = item
        if not 0 <= number < len(EVENT_FIELDS) or len(values) != len(EVENT_FIELDS[number][1]):
            raise ValueError(f"corrupt chunk: event kind {number} with {len(values)} values")
        kind, keys = EVENT_FIELDS[number]
        fields = dict(zip(keys, values, strict=True))
        out.append({"time": (base_ms + ms) / 1000, "kind": kind, "driver": driver, "data": fields})
    return out
