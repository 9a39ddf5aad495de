"""The pure command rules: decoding, value checks, coalescing, pacing, log flood limits."""

from __future__ import annotations

import json
import logging

import msgpack
import pytest

from racereplay.server.commands import (
    Command,
    CommandError,
    CommandQueue,
    TokenBucket,
    decode_command,
    parse_command,
)
from racereplay.server.logs import RateLimit


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_commands_decode_from_msgpack_and_json() -> None:
    seek = decode_command({"bytes": msgpack.packb({"type": "seek", "lap": 3, "seq": 9})})
    assert seek == Command("seek", 9, value=3.0, target="lap")
    speed = decode_command({"text": json.dumps({"type": "speed", "value": 4})})
    assert speed == Command("speed", None, value=4.0)
    quality = parse_command({"type": "quality", "codec": "json", "rate": "auto"})
    assert (quality.codec, quality.rate) == ("json", "auto")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"bytes": b"\xc1"}, "bad_message"),
        ({"text": "[1, 2]"}, "bad_message"),
        ({"text": "x" * 5000}, "too_large"),
        ({"text": '{"type": "fly"}'}, "unknown_command"),
        ({"text": '{"type": "seek"}'}, "bad_value"),
        ({"text": '{"type": "seek", "frame": 1, "lap": 2}'}, "bad_value"),
        ({"text": '{"type": "seek", "lap": 2.5}'}, "bad_value"),
        ({"text": '{"type": "seek", "frame": "10"}'}, "bad_value"),
        ({"text": '{"type": "seek", "frame": true}'}, "bad_value"),
        ({"text": '{"type": "seek", "frame": 1' + "0" * 400 + "}"}, "bad_value"),
        ({"text": '{"type": "seek", "time": NaN}'}, "bad_value"),
        ({"text": '{"type": "ping", "t": -1e999}'}, "bad_value"),
        ({"text": '{"type": "play", "seq": 9007199254740993}'}, "bad_value"),
        ({"text": '{"type": "quality", "rate": 1' + "0" * 30 + "}"}, "bad_value"),
        ({"text": '{"type": "quality", "codec": 7}'}, "bad_value"),
        ({"text": '{"type": "speed"}'}, "bad_value"),
    ],
)
def test_bad_commands_get_their_error_code(message: dict[str, object], code: str) -> None:
    with pytest.raises(CommandError) as refused:
        decode_command(message)
    assert refused.value.code == code


def test_the_queue_keeps_one_command_per_slot_the_newest() -> None:
    queue = CommandQueue()
    for i in range(1000):
        queue.put(Command("seek", i, value=float(i), target="frame"))
        queue.put(Command("speed", i, value=2.0))
    queue.put(Command("play", 1))
    queue.put(Command("pause", 2))  # play and pause share a slot: the last wins
    assert [(c.kind, c.seq) for c in queue.drain()] == [("seek", 999), ("speed", 999), ("pause", 2)]
    assert len(queue) == 0


def test_the_bucket_allows_a_burst_then_its_rate() -> None:
    clock = Ticker()
    bucket = TokenBucket(rate=10, burst=5, now=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.seconds_until_token() == pytest.approx(0.1)
    clock.now = 0.35
    assert [bucket.take() for _ in range(4)] == [True] * 3 + [False]
    clock.now = 100.0  # saved tokens never exceed the burst
    assert sum(bucket.take() for _ in range(50)) == 5


def test_log_floods_are_cut_to_a_burst_a_period_then_counted() -> None:
    clock = Ticker()
    limit = RateLimit(burst=3, period=60, now=clock)
    logger = logging.getLogger("test.flood")
    records = [logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "bad %s", ("x",), None)]
    allowed = [limit.filter(records[0]) for _ in range(1000)]
    assert sum(allowed) == 3
    other = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "another", (), None)
    assert limit.filter(other)  # a different message has its own budget
    clock.now = 61.0
    later = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "bad %s", ("x",), None)
    assert limit.filter(later) and "997 more like this" in later.getMessage()
