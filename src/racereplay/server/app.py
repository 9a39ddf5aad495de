"""The server: `create_app(settings)` for tests, `add_arguments` / `serve` for the CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from racereplay.replay.registry import Builder
from racereplay.server import api, logs, rooms, ws
from racereplay.server.client_files import ClientFiles
from racereplay.server.options import settings_from_args
from racereplay.server.settings import Settings
from racereplay.server.state import RedisUnavailable, ServerState, open_redis
from racereplay.server.transport import Guard, guarded_protocols
from racereplay.store.cache import start_build_processes

log = logging.getLogger(__name__)

MAX_WS_MESSAGE = 1 << 16  # the protocol caps commands at 4 KiB; far larger frames close
# Compact chunks are deflated already: gzip would spend CPU to gain nothing.
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream")
GZIP_LEVEL = 6  # most of level 9's gain for a fraction of its CPU

NO_CLIENT_PAGE = """<!doctype html><meta charset="utf-8"><title>racereplay</title>
<h1>racereplay server is running</h1>
<p>The web client is not built. Build it with <code>cd web && npm ci && npm run build</code>
(it lands in <code>src/racereplay/server/static/</code>), then reload.</p>
<p>Meanwhile: the API is at <a href="docs">docs</a>,
the sessions at <a href="api/catalogue">api/catalogue</a>.</p>"""


def create_app(settings: Settings | None = None, builder: Builder | None = None) -> FastAPI:
    settings = settings or Settings()
    state = ServerState(settings, builder)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the server: keep it out of the
        # collector's full passes, which otherwise stall every viewer at once.
        gc.freeze()
        logs.install()
        state.remove_partial_files()
        if state.starts_fork_server:  # the first build must not wait for its imports
            await asyncio.to_thread(start_build_processes)
        await state.connect_redis()
        await state.rooms.start()
        log.info(
            "racereplay %s: timelines cached in %s, %d data folder(s), root path %r",
            state.version,
            state.cache_dir,
            len(settings.data_dirs),
            settings.root_path or "/",
        )
        state.registry.start()
        state.loop_lag.start()
        state.gc_pauses.install()
        yield
        state.gc_pauses.uninstall()
        await state.loop_lag.stop()
        await state.registry.close()
        await state.rooms.close()
        await state.close_redis()

    app = FastAPI(
        title="racereplay",
        version=state.version,
        description="Replay Formula 1 sessions. WebSocket protocol: docs/protocol.md.",
        lifespan=lifespan,
    )
    app.state.racereplay = state
    app.add_middleware(ws.ViewerSockets)  # type: ignore[arg-type]
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
        max_body_bytes=settings.max_body_bytes,
    )
    # Text (the client's scripts, styles and page; JSON) gzipped for clients that accept it.
    app.add_middleware(
        GZipMiddleware,  # type: ignore[arg-type]
        compresslevel=GZIP_LEVEL,
        exclude_content_types=NOT_GZIPPED,
    )
    app.include_router(api.router)
    app.include_router(rooms.router)
    static = Path(settings.static_dir)
    if (static / "index.html").is_file():
        app.mount("/", ClientFiles(directory=static, html=True), name="client")
    else:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def no_client() -> str:
            return NO_CLIENT_PAGE

    return app


def uvicorn_config_options(settings: Settings | None = None) -> dict[str, object]:
    """Options every server run uses (also the tests and the benchmark)."""
    settings = settings or Settings()
    protocols = guarded_protocols(settings.header_timeout)
    return {
        "http": protocols["http"],
        "ws": protocols["ws"],
        "timeout_keep_alive": settings.keep_alive_seconds,
        # Compact chunks are already deflated: per-connection deflate would only burn CPU.
        "ws_per_message_deflate": False,
        "ws_max_size": MAX_WS_MESSAGE,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "root_path": settings.root_path,
    }


def allow_open_files() -> int:
    """Every viewer holds a socket: lift this process's soft limit on open files (often
    1,024) to the hard one the system allows; returns that limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(hard)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from_args(args)
    if settings.redis_url is not None:
        # Before uvicorn: from its lifespan, the same error would come with a traceback.
        try:
            asyncio.run(_check_redis(settings.redis_url))
        except RedisUnavailable as exc:
            print(f"racereplay: error: {exc}", file=sys.stderr)
            return 1
    allow_open_files()
    behind = f" (a proxy serves it under {settings.root_path}/)" if settings.root_path else ""
    print(f"racereplay: serving on http://{settings.host}:{settings.port}{behind}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=logs.config(settings.log_level),
        log_level=settings.log_level,
        **uvicorn_config_options(settings),  # type: ignore[arg-type]
    )
    return 0


async def _check_redis(url: str) -> None:
    """RedisUnavailable (naming `url`) unless a Redis answers there."""
    client = await open_redis(url)
    await client.aclose()
