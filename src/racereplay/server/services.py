"""Real services as child processes on loopback ports, for tests and benches: Debian's
`redis-server`. Each runs in a scratch folder of its own and is stopped when the
block ends."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from racereplay.server.process import free_port

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
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
