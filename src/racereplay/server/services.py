"""Real services as child processes on loopback ports, for tests and benches: Debian's
`redis-server` and `nginx` (a proxy, and the HTTP cache of chunks, in front of one or
more `racereplay serve` replicas). Each runs in a scratch folder of its own and is
stopped when the block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from racereplay.server.process import free_port, healthy, stop

REDIS_SERVER = "redis-server"
STARTUP_SECONDS = 20.0


class ServiceMissing(RuntimeError):
    """The service's program is not installed; the message says how to install it."""


def redis_missing() -> str | None:
    """Why Redis cannot be used here (None: it can)."""
    if shutil.which(REDIS_SERVER) is None:
        return "redis-server is missing: `make redis` installs Debian's redis-server (as root)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is missing: pip install -e '.[redis]'"
    return None


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A fresh `redis-server` on a free loopback port, persisting nothing; yields its URL."""
    why = redis_missing()
    if why:
        raise ServiceMissing(why)
    import redis

    port = free_port()
    log = folder / "redis.log"
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
            "--logfile", str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server on port {port} did not start: {tail}")
            time.sleep(0.05)
        client.close()
        yield url
    finally:
        stop(proc)


# -- nginx ----------------------------------------------------------------------

NGINX = Path("/usr/sbin/nginx")  # Debian's (often not on a user's PATH)
NGINX_ACCESS_LOG = "access.log"  # in nginx's folder; NGINX_LOG_FORMAT's fields

# One line per request: `"GET /f1/api/... HTTP/1.1" 200 2817 cache=HIT upstream=127.0.0.1:8001`
# (cache=- where the request bypassed the cache, upstream=- where no replica was asked).
NGINX_LOG_FORMAT = (
    "'$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '\n"
    "        'cache=$upstream_cache_status upstream=$upstream_addr'"
)

NGINX_CONF = """
worker_processes {workers};
worker_rlimit_nofile {open_files};
daemon off;
{user}
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    log_format racereplay {log_format};
    access_log {folder}/{access_log} racereplay;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    {cache_path}
    # A WebSocket upgrade is passed on; other requests keep the upstream connection alive.
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream racereplay {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location {path}/ {{
            proxy_pass http://racereplay/;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
{chunks}
    }}
}}
"""

# Chunk URLs are immutable: one origin request per chunk, however many viewers miss at once.
NGINX_CHUNK_CACHE = """
        location ~ ^{path}/api/sessions/[^/]+/chunks/ {{
            {strip}
            proxy_pass http://racereplay;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_cache chunks;
            proxy_cache_key $uri;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_lock_age 30s;
            add_header X-Cache-Status $upstream_cache_status always;
        }}"""


@dataclass(frozen=True)
class NginxConfig:
    """What nginx does in front of `racereplay serve`.

    `upstreams`: the replicas' ports on 127.0.0.1, one upstream group (round robin,
    WebSockets included). `path`: the app's sub-path ("/f1"; "" for the root),
    stripped before the upstream (serve it with `--root-path PATH`). `cache_chunks`:
    chunk URLs go through `proxy_cache` (a folder of nginx's own; the key is the URI;
    lifetimes from the origin's Cache-Control; concurrent misses of one chunk make one
    origin request; `X-Cache-Status` tells HIT or MISS). `connections`: per worker;
    a WebSocket through nginx holds two."""

    upstreams: tuple[int, ...]
    path: str = ""
    cache_chunks: bool = False
    workers: int = 1
    connections: int = 1024


def nginx_missing() -> str | None:
    """Why nginx cannot be used here (None: it can)."""
    if not NGINX.exists():
        return f"{NGINX} is missing: `make nginx` installs Debian's nginx (as root)"
    return None


def nginx_conf(config: NginxConfig, folder: Path, port: int) -> str:
    """nginx.conf for `config`, listening on `port`, keeping its files in `folder`."""
    if not config.upstreams:
        raise ValueError("nginx needs at least one upstream port")
    path = config.path.rstrip("/")
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in config.upstreams)
    cache_path = chunks = ""
    if config.cache_chunks:
        cache_path = (
            f"proxy_cache_path {folder}/cache levels=1:2 keys_zone=chunks:16m "
            "max_size=2g inactive=1h use_temp_path=off;"
        )
        strip = rf"rewrite ^{path}(/.*)$ $1 break;" if path else ""
        chunks = NGINX_CHUNK_CACHE.format(path=path, strip=strip)
    return NGINX_CONF.format(
        workers=config.workers,
        open_files=2 * config.connections + 64,
        connections=config.connections,
        user="user root;" if os.geteuid() == 0 else "",  # workers write to `folder`
        folder=folder,
        log_format=NGINX_LOG_FORMAT,
        access_log=NGINX_ACCESS_LOG,
        cache_path=cache_path,
        servers=servers,
        port=port,
        path=path,
        chunks=chunks,
    )


@contextlib.contextmanager
def nginx_server(folder: Path, config: NginxConfig) -> Iterator[str]:
    """nginx on a free loopback port as `config` says, its files (conf, logs, cache) in
    `folder`; yields the app's base URL (`http://127.0.0.1:PORT/f1`) once it answers
    /api/health through nginx."""
    why = nginx_missing()
    if why:
        raise ServiceMissing(why)
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(nginx_conf(config, folder, port))
    error_log = folder / "error.log"
    proc = subprocess.Popen(
        [str(NGINX), "-p", str(folder), "-c", str(conf), "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}{config.path.rstrip('/')}"

    def log_tail() -> str:
        return error_log.read_text()[-2000:] if error_log.exists() else ""

    with healthy(proc, f"{base}/api/health", STARTUP_SECONDS, log_tail):
        yield base
