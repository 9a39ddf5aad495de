"""The server's one logging configuration (racereplay.* and uvicorn.*, one level), and
its rate limit: log lines a client can cause are limited, so a flood cannot fill the disk."""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

LOGGERS = ("", "racereplay", "uvicorn", "uvicorn.error", "uvicorn.access")  # where the handlers are


class RateLimit(logging.Filter):
    """At most `burst` records per message template per `period` seconds; then one
    summary line saying how many were dropped."""

    def __init__(
        self,
        burst: int = 10,
        period: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        templates: int = 256,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._now = now
        self._templates = templates
        self._seen: OrderedDict[tuple[str, object], tuple[float, int, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self._now()
        start, count, dropped = self._seen.pop(key, (now, 0, 0))
        if now - start >= self.period:
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this in the last period dropped]"
            start, count, dropped = now, 0, 0
        count += 1
        allowed = count <= self.burst
        self._seen[key] = (start, count, dropped + (not allowed))
        while len(self._seen) > self._templates:
            self._seen.popitem(last=False)
        return allowed


def config(level: str) -> dict[str, Any]:
    """`logging.config.dictConfig` input for `uvicorn.run(log_config=...)`: uvicorn's own
    loggers and formats, plus the `racereplay` loggers (named in each line), all at
    `level` (a uvicorn level name), every handler behind one shared `RateLimit`."""
    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    number = LOG_LEVELS[level]
    conf = copy.deepcopy(LOGGING_CONFIG)
    conf["filters"] = {"rate_limit": {"()": RateLimit}}
    conf["formatters"]["racereplay"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
        "use_colors": None,
    }
    conf["handlers"]["racereplay"] = {
        "formatter": "racereplay",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    for handler in conf["handlers"].values():
        handler["filters"] = ["rate_limit"]
    conf["loggers"]["racereplay"] = {"handlers": ["racereplay"], "propagate": False}
    for logger in conf["loggers"].values():
        logger["level"] = number
    return conf


def install(limit: RateLimit | None = None) -> RateLimit:
    """Add one shared rate limit to every handler the server logs through (a logger's own
    filters would miss the records its children propagate)."""
    limit = limit or RateLimit()
    handlers = {h for name in LOGGERS for h in logging.getLogger(name).handlers}
    if logging.lastResort is not None:
        handlers.add(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RateLimit) for f in handler.filters):  # config() put one
            handler.addFilter(limit)
    return limit
