"""What stands between the network and the app: connection timeouts, aborts, and guards.

- `guarded_protocols` gives uvicorn an HTTP protocol that drops a connection
  whose request headers do not arrive within `header_timeout` (slow-header
  attacks), and a WebSocket protocol that lets the app abort a transport: a
  client that never reads would otherwise keep its unsent bytes in the kernel,
  because closing a transport waits for its buffer to drain.
- `Guard` is the ASGI middleware for every request: allowed Host headers only
  (DNS rebinding), same-origin or configured pages only for anything that
  changes state, request bodies capped (413), and the static client's
  security headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

ABORT_EXTENSION = "racereplay.abort"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The client page: its own scripts, styles, workers and WebSocket only; never framed.
# Media also from blob: (the viewer's own video file, web/src/broadcast.ts) and any https
# address the viewer pastes (a video plays, it cannot run code).
CLIENT_CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "media-src 'self' blob: https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
OPENAPI_PATHS = ("/docs", "/redoc")  # their pages load scripts from a CDN: no CSP there


class _WebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        extensions: dict[str, Any] = self.scope["extensions"]  # type: ignore[assignment]
        extensions[ABORT_EXTENSION] = self.transport.abort
        await super().run_asgi()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.transport.abort()  # the peer is gone: do not wait for its buffer to drain


def guarded_protocols(header_timeout: float) -> dict[str, type[asyncio.Protocol]]:
    """uvicorn's `http` and `ws` protocol classes with the timeouts above."""

    class _HttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_header_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._start_header_timer()

        def on_headers_complete(self) -> None:
            self._stop_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _start_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            self.transport.abort()

    return {"http": _HttpProtocol, "ws": _WebSocketProtocol}


def abort_transport(scope: Scope) -> None:
    """Drop the connection at once, unsent bytes and all (when the server allows it)."""
    abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
    if abort is not None:
        abort()


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser page), the page's own origin, or a configured one."""
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    if "*" in allowed:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    return name in allowed


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Guard:
    """Hosts, origins, body size and security headers for every HTTP and WebSocket request."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: tuple[str, ...],
        allowed_origins: tuple[str, ...],
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = allowed_origins
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if not host_allowed(host, self.allowed_hosts):
            await _refuse(
                scope,
                send,
                421,
                f"host {host[:100]!r} is not served here: start the server with "
                "--allow-host NAME (or RACEREPLAY_ALLOW_HOST=NAME)",
            )
            return
        if scope["type"] == "websocket":  # the endpoint checks the origin and says why
            await self.app(scope, receive, send)
            return
        if scope["method"] in UNSAFE_METHODS and not origin_allowed(
            _header(scope, b"origin"), host, self.allowed_origins
        ):
            await _refuse(scope, send, 403, "this page's origin may not use this server")
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _refuse(scope, send, 413, f"request body over {self.max_body_bytes} bytes")
            return
        await self._call(scope, receive, send)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            # Over the cap: answer 413 here, and tell the app the client left.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not refused:
                    refused = True
                    if not started:
                        await _refuse(
                            scope, send, 413, f"request body over {self.max_body_bytes} bytes"
                        )
                    return {"type": "http.disconnect"}
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out instead
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + _headers_for(scope)
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


def route_path(scope: Scope) -> str:
    """The request's path below the app's root path (`--root-path` behind a proxy)."""
    path = str(scope.get("path", ""))
    return path.removeprefix(str(scope.get("root_path", "")))  # uvicorn puts it in front


def _headers_for(scope: Scope) -> list[tuple[bytes, bytes]]:
    headers = list(SECURITY_HEADERS)
    path = route_path(scope)
    if not path.startswith("/api/") and not path.startswith(OPENAPI_PATHS):
        headers.append((b"content-security-policy", CLIENT_CSP.encode()))
    return headers


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    prefix = "websocket." if scope["type"] == "websocket" else ""
    await send(
        {
            "type": f"{prefix}http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": f"{prefix}http.response.body", "body": body})
