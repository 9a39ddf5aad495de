"""The server: `create_app(settings)` for tests, `add_arguments` / `serve` for the CLI."""

from __future__ import annotations

import argparse
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from racereplay.replay.registry import Builder
from racereplay.server import api, logs, ws
from racereplay.server.settings import DEFAULT_HOST, DEFAULT_PORT, Settings
from racereplay.server.state import ServerState
from racereplay.server.transport import Guard, guarded_protocols

MAX_WS_MESSAGE = 1 << 16  # the protocol caps commands at 4 KiB; far larger frames close

NO_CLIENT_PAGE = """<!doctype html><meta charset="utf-8"><title>racereplay</title>
<h1>racereplay server is running</h1>
<p>The web client is not built. Build it with <code>cd web && npm ci && npm run build</code>
(it lands in <code>src/racereplay/server/static/</code>), then reload.</p>
<p>Meanwhile: the API is at <a href="/docs">/docs</a>,
the sessions at <a href="/api/catalogue">/api/catalogue</a>.</p>"""


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
        state.registry.start()
        state.loop_lag.start()
        state.gc_pauses.install()
        yield
        state.gc_pauses.uninstall()
        await state.loop_lag.stop()
        await state.registry.close()

    app = FastAPI(
        title="racereplay",
        version=state.version,
        description="Replay Formula 1 sessions. WebSocket protocol: docs/protocol.md.",
        lifespan=lifespan,
    )
    app.state.racereplay = state
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(api.router)
    app.include_router(ws.router)
    static = Path(settings.static_dir)
    if (static / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static, html=True), name="client")
    else:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def no_client() -> str:
            return NO_CLIENT_PAGE

    return app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `racereplay serve` options (the CLI adds --cache itself)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"(default {DEFAULT_PORT})")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of sessions in the TracingInsights layout (repeatable)",
    )
    parser.add_argument(
        "--fastf1",
        action="append",
        default=[],
        metavar="YEAR/EVENT/TYPE",
        help="offer a FastF1 session, e.g. 2025/Australia/R (repeatable)",
    )
    parser.add_argument(
        "--no-fastf1-browse",
        dest="fastf1_browse",
        action="store_false",
        help="clients may open only the --fastf1 sessions, not any of FastF1's schedules",
    )
    parser.add_argument("--fastf1-cache", metavar="DIR", help="FastF1 cache folder")
    parser.add_argument(
        "--fastf1-http-cache", metavar="DIR", help="frozen FastF1 HTTP responses (offline)"
    )
    parser.add_argument("--offline", action="store_true", help="FastF1 must not use the network")
    parser.add_argument("--max-builds", type=int, default=1, help="builds at once (default 1)")
    parser.add_argument(
        "--memory-mb", type=int, default=2048, help="loaded sessions budget (default 2048)"
    )
    parser.add_argument(
        "--cache-mb", type=int, default=4096, help="build cache budget on disk (default 4096)"
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="serve requests for this Host too (repeatable; '*' for any): localhost is allowed",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="let pages from this origin use the server, e.g. https://example.org (repeatable)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    if "--cache" not in parser._option_string_actions:
        parser.add_argument("--cache", metavar="DIR", help="cache folder for built timelines")


def settings_from_args(args: argparse.Namespace) -> Settings:
    def folder(value: str | None) -> Path | None:
        return Path(value).expanduser() if value else None

    for data in args.data:
        if not Path(data).expanduser().is_dir():
            raise SystemExit(f"racereplay: error: --data {data} is not a folder")
    return Settings(
        host=args.host,
        port=args.port,
        cache_dir=folder(getattr(args, "cache", None)),
        data_dirs=tuple(Path(d).expanduser() for d in args.data),
        fastf1_sessions=tuple(args.fastf1),
        fastf1_browse=args.fastf1_browse,
        fastf1_cache=folder(args.fastf1_cache),
        fastf1_http_cache=folder(args.fastf1_http_cache),
        offline=args.offline,
        max_builds=args.max_builds,
        memory_budget_mb=args.memory_mb,
        cache_budget_mb=args.cache_mb,
        allowed_hosts=Settings.allowed_hosts + tuple(args.allow_host) + _bound_host(args.host),
        allowed_origins=tuple(args.allow_origin),
    )


def _bound_host(host: str) -> tuple[str, ...]:
    # A server bound to one named address answers for that name; 0.0.0.0 names nothing.
    return () if host in ("0.0.0.0", "::", "") else (host,)


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
    }


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from_args(args)
    print(f"racereplay: serving on http://{settings.host}:{settings.port}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        **uvicorn_config_options(settings),  # type: ignore[arg-type]
    )
    return 0
