"""What a running server is configured with (the `racereplay serve` options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from racereplay.replay.rooms import DEFAULT_MAX_ROOMS, DEFAULT_ROOM_SIZE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LOG_LEVEL = "info"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's names
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cache_dir: Path | None = None  # None: the store's default ($RACEREPLAY_CACHE or ~/.cache)
    data_dirs: tuple[Path, ...] = ()  # folders holding sessions in the TracingInsights layout
    fastf1_sessions: tuple[str, ...] = ()  # "2025/Australia/R", offered in the catalogue
    fastf1_browse: bool = True  # clients may open any session of FastF1's season schedules
    fastf1_cache: Path | None = None  # FastF1 cache for fastf1: sessions and TI timing
    fastf1_http_cache: Path | None = None  # frozen HTTP responses (offline use)
    offline: bool = False  # FastF1 must not touch the network
    max_builds: int = 1  # builds at once; each is CPU-heavy and this is a 2-core machine
    max_queued_builds: int = 8  # builds waiting beyond those; more are refused (429)
    builds_per_client: int = 2  # builds one client address may have queued or running
    cache_budget_mb: int = 4096  # store files on disk; least recently used go first
    memory_budget_mb: int = 2048  # loaded timelines (memory-mapped arrays) kept in memory
    idle_seconds: float = 600.0  # an unwatched session is unloaded after this
    chunk_cache_mb: int = 256  # encoded chunks shared by every viewer
    build_mode: str = "process"  # "process" keeps the event loop smooth; "thread" starts faster
    static_dir: Path = STATIC_DIR
    # Who may talk to this server: Host headers (DNS rebinding) and page origins (any web
    # page a user visits could otherwise drive it). Same-origin pages are always allowed.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = 16 << 10  # request bodies (a session name); larger: 413
    header_timeout: float = 10.0  # a connection must send its request headers within this
    keep_alive_seconds: float = 5.0  # an idle keep-alive connection is closed after this
    stuck_seconds: float = 10.0  # a viewer that takes no data this long is closed (4008)
    close_wait_seconds: float = 10.0  # then its close frame waits this long, then abort
    max_demo_cars: int = 40
    max_demo_laps: int = 100
    extra_demo: tuple[str, ...] = field(default_factory=tuple)  # more demo names to list
    # The prefix a proxy serves the app under ("/f1"; it strips it before passing requests on).
    root_path: str = ""
    log_level: str = DEFAULT_LOG_LEVEL  # racereplay.* and uvicorn.* loggers
    # Replicas sharing one cache folder coordinate through this Redis (redis://HOST:PORT/DB):
    # one build per session, progress to every replica's waiters, watch-party rooms.
    # None: one process does all of it (the embedded default).
    redis_url: str | None = None
    # With redis_url: a replica building a session holds its lease this long, renewing it
    # every third of it; a killed builder's sessions are taken over once it expires.
    lease_seconds: float = 10.0
    # Watch parties (replay/rooms.py): members in one room; rooms this process holds members of.
    room_size: int = DEFAULT_ROOM_SIZE
    max_rooms: int = DEFAULT_MAX_ROOMS
