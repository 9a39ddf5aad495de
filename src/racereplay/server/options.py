"""The `racereplay serve` options: each a flag and a `RACEREPLAY_*` environment variable.

A flag beats its variable, which beats the default. The variable's name is the flag's,
upper-cased, dashes as underscores (`--max-builds` reads `RACEREPLAY_MAX_BUILDS`;
`--no-fastf1-browse` reads `RACEREPLAY_FASTF1_BROWSE=0`). A list takes commas
(`RACEREPLAY_ALLOW_HOST=a.example,b.example`), folders take `:` like PATH.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from racereplay.server.settings import (
    DEFAULT_HOST,
    DEFAULT_LOG_LEVEL,
    DEFAULT_PORT,
    LOG_LEVELS,
    Settings,
)

ENV_PREFIX = "RACEREPLAY_"
Kind = Literal["text", "int", "path", "paths", "list", "on", "off", "choice"]
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting the user gave that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str
    kind: Kind
    help: str
    metavar: str | None = None

    @property
    def env(self) -> str:
        # `off` options are named for what they turn off; their variable for what it turns on.
        return ENV_PREFIX + self.dest.upper()


SERVE_OPTIONS = (
    Option("--host", "host", "text", f"address to listen on (default {DEFAULT_HOST})", "ADDR"),
    Option("--port", "port", "int", f"port to listen on (default {DEFAULT_PORT})"),
    Option("--data", "data", "paths", "a folder of sessions in the TracingInsights layout", "DIR"),
    Option(
        "--fastf1", "fastf1", "list", "offer a FastF1 session, e.g. 2025/Australia/R", "Y/EVENT/T"
    ),
    Option(
        "--no-fastf1-browse",
        "fastf1_browse",
        "off",
        "clients may open only the --fastf1 sessions, not any of FastF1's schedules",
    ),
    Option("--fastf1-cache", "fastf1_cache", "path", "FastF1 cache folder", "DIR"),
    Option(
        "--fastf1-http-cache", "fastf1_http_cache", "path", "frozen FastF1 HTTP responses", "DIR"
    ),
    Option("--offline", "offline", "on", "FastF1 must not use the network"),
    Option("--max-builds", "max_builds", "int", "builds at once (default 1)", "N"),
    Option("--memory-mb", "memory_mb", "int", "loaded sessions budget (default 2048)", "MB"),
    Option("--cache-mb", "cache_mb", "int", "build cache budget on disk (default 4096)", "MB"),
    Option(
        "--allow-host",
        "allow_host",
        "list",
        "serve requests for this Host too ('*' for any): localhost is always allowed",
        "HOST",
    ),
    Option(
        "--allow-origin",
        "allow_origin",
        "list",
        "let pages from this origin use the server, e.g. https://example.org",
        "URL",
    ),
    Option(
        "--root-path",
        "root_path",
        "text",
        "the path prefix a proxy serves the app under, e.g. /f1 (the proxy strips it)",
        "PATH",
    ),
    Option("--log-level", "log_level", "choice", f"log level (default {DEFAULT_LOG_LEVEL})"),
    Option(
        "--redis",
        "redis",
        "text",
        "coordinate with other replicas through this Redis, e.g. redis://127.0.0.1:6379/0",
        "URL",
    ),
    Option(
        "--lease-seconds",
        "lease_seconds",
        "int",
        "with --redis: a build's lease; a killed builder's session is taken over after it "
        "(default 10)",
        "SECONDS",
    ),
    Option("--room-size", "room_size", "int", "members in one watch party (default 50)", "N"),
    Option("--max-rooms", "max_rooms", "int", "watch parties one process holds (default 500)", "N"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `racereplay serve` options (the CLI adds --cache, read from $RACEREPLAY_CACHE)."""
    for option in SERVE_OPTIONS:
        kwargs: dict[str, object] = {"dest": option.dest, "default": None}
        if option.kind in ("on", "off"):
            kwargs["action"] = "store_true" if option.kind == "on" else "store_false"
        else:
            kwargs["metavar"] = option.metavar
        if option.kind in ("paths", "list"):
            kwargs["action"] = "append"
        if option.kind == "int":
            kwargs["type"] = int
        if option.kind == "choice":
            kwargs["choices"] = list(LOG_LEVELS)
        repeat = " (repeatable)" if option.kind in ("paths", "list") else ""
        parser.add_argument(option.flag, help=f"{option.help}{repeat} [${option.env}]", **kwargs)  # type: ignore[arg-type]
    if "--cache" not in parser._option_string_actions:
        parser.add_argument("--cache", metavar="DIR", help="cache folder for built timelines")


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from parsed flags, then `RACEREPLAY_*` variables, then the defaults."""
    environ = os.environ if environ is None else environ
    given = {o.dest: _value(o, getattr(args, o.dest, None), environ) for o in SERVE_OPTIONS}
    values: dict[str, Any] = {dest: value for dest, value in given.items() if value is not None}
    data = tuple(values.get("data", ()))
    for folder in data:
        if not folder.is_dir():
            raise SettingsError(f"data folder {folder} is not a folder (--data / $RACEREPLAY_DATA)")
    host = values.get("host", DEFAULT_HOST)
    cache = getattr(args, "cache", None)
    return Settings(
        host=host,
        port=values.get("port", DEFAULT_PORT),
        cache_dir=Path(cache).expanduser() if cache else None,
        data_dirs=data,
        fastf1_sessions=tuple(values.get("fastf1", ())),
        fastf1_browse=values.get("fastf1_browse", Settings.fastf1_browse),
        fastf1_cache=values.get("fastf1_cache"),
        fastf1_http_cache=values.get("fastf1_http_cache"),
        offline=values.get("offline", Settings.offline),
        max_builds=values.get("max_builds", Settings.max_builds),
        memory_budget_mb=values.get("memory_mb", Settings.memory_budget_mb),
        cache_budget_mb=values.get("cache_mb", Settings.cache_budget_mb),
        allowed_hosts=Settings.allowed_hosts
        + tuple(values.get("allow_host", ()))
        + _bound_host(host),
        allowed_origins=tuple(values.get("allow_origin", ())),
        root_path=_root_path(values.get("root_path", "")),
        log_level=values.get("log_level", DEFAULT_LOG_LEVEL),
        redis_url=_redis_url(values.get("redis")),
        lease_seconds=float(values.get("lease_seconds", Settings.lease_seconds)),
        room_size=values.get("room_size", Settings.room_size),
        max_rooms=values.get("max_rooms", Settings.max_rooms),
    )


def _value(option: Option, flag: object, environ: Mapping[str, str]) -> object:
    """The flag's value if given, else the variable's (None: neither)."""
    if flag is not None:
        raw: object = flag
    else:
        text = environ.get(option.env, "").strip()
        if not text:
            return None
        raw = _from_env(option, text)
    if option.kind == "path":
        return Path(str(raw)).expanduser()
    if option.kind == "paths":
        return [Path(str(p)).expanduser() for p in raw]  # type: ignore[attr-defined]
    if option.kind == "int" and int(raw) < 1:  # type: ignore[call-overload]
        raise SettingsError(f"{option.flag} / ${option.env} must be at least 1, not {raw}")
    return raw


def _from_env(option: Option, text: str) -> object:
    def bad(expected: str) -> SettingsError:
        return SettingsError(f"${option.env}={text!r} is not {expected} (it sets {option.flag})")

    if option.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise bad("a whole number") from None
    if option.kind in ("on", "off"):
        word = text.lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise bad("one of " + ", ".join(TRUE_WORDS + FALSE_WORDS))
        return word in TRUE_WORDS
    if option.kind == "choice":
        if text.lower() not in LOG_LEVELS:
            raise bad("one of " + ", ".join(LOG_LEVELS))
        return text.lower()
    if option.kind == "paths":
        return [part for part in text.split(os.pathsep) if part]
    if option.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _root_path(path: str) -> str:
    # uvicorn prefixes every request path with it: "/f1", never "/f1/" or "f1".
    path = path.strip().rstrip("/")
    if path and not path.startswith("/"):
        raise SettingsError(f"--root-path / $RACEREPLAY_ROOT_PATH must start with '/': {path!r}")
    return path


def _redis_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"--redis / $RACEREPLAY_REDIS must be a redis://HOST:PORT/DB URL, not {url!r}"
        )
    return url


def _bound_host(host: str) -> tuple[str, ...]:
    # A server bound to one named address answers for that name; 0.0.0.0 names nothing.
    return () if host in ("0.0.0.0", "::", "") else (host,)
