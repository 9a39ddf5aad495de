"""`racereplay serve` as a child process on a free loopback port, for benches and tests.

The server runs exactly as a user starts it (the CLI, uvicorn, its own process), so
what is measured or tested is what is deployed. httpx (a dev extra) polls its health.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HEALTH_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_process(
    args: list[str],
    log_path: Path,
    racereplay: Sequence[str] = (sys.executable, "-m", "racereplay"),
    port: int | None = None,
) -> Iterator[tuple[int, int]]:
    """`racereplay serve ARGS` in a child process on `port` (default: a free loopback
    port), once it answers /api/health; yields (port, pid). Its output goes to
    `log_path` (appended: a server restarted on one port keeps one log).
    `racereplay` is the command to run (another install's, say)."""
    port = free_port() if port is None else port
    command = [*racereplay, "serve", "--port", str(port), *args]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        url = f"http://127.0.0.1:{port}/api/health"
        with healthy(proc, url, HEALTH_TIMEOUT_SECONDS, lambda: log_path.read_text()[-2000:]):
            yield port, proc.pid


@contextlib.contextmanager
def healthy(
    proc: subprocess.Popen[bytes], url: str, timeout: float, log_tail: Callable[[], str]
) -> Iterator[None]:
    """Once `url` answers 2xx (polled while `proc` runs, for at most `timeout` seconds;
    else RuntimeError with `log_tail()`), the caller's block runs; then `proc` is stopped
    (terminated, killed after 10 s)."""
    import httpx

    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).is_success:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited before {url} answered: {log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s: {log_tail()}")
            time.sleep(0.1)
        yield
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate `proc`, and kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
