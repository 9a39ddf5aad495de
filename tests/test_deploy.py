"""The cluster's deployment files (compose.cluster.yaml, deploy/nginx.conf). No Docker
daemon runs here, so the images are not started: the nginx config is checked by
Debian's nginx itself (`nginx -t`), its chunk cache against the one the tests and
`bench http` run, and the compose file for the wiring the README promises."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from racereplay.server.process import free_port
from racereplay.server.services import NGINX, NGINX_CHUNK_CACHE, nginx_missing

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
COMPOSE = ROOT / "compose.cluster.yaml"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_the_deployed_chunk_cache_is_the_tested_one() -> None:
    tested = _lines(NGINX_CHUNK_CACHE.format(path="", strip=""))
    deployed = _lines(NGINX_CONF.read_text())
    start = deployed.index(tested[0])
    assert deployed[start : start + len(tested)] == tested


def test_nginx_accepts_the_deployed_config(tmp_path: Path) -> None:
    why = nginx_missing()
    if why:
        pytest.skip(why)
    # Docker's names and folders made local: the rest is checked as it ships.
    conf = NGINX_CONF.read_text()
    conf = conf.replace("server replica:8000;", f"server 127.0.0.1:{free_port()};")
    conf = conf.replace("/var/cache/nginx/chunks", str(tmp_path / "chunks"))
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    conf = re.sub(r"^events", f"pid {tmp_path}/nginx.pid;\nevents", conf, flags=re.M)
    (tmp_path / "nginx.conf").write_text(conf)
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e",
         str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_compose_runs_replicas_on_one_cache_and_one_redis() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"redis", "replica", "nginx"}
    replica = services["replica"]
    assert replica["deploy"]["replicas"] == 3
    assert replica["environment"]["RACEREPLAY_REDIS"] == "redis://redis:6379/0"
    assert "timelines:/cache/timelines" in " ".join(replica["volumes"])
    assert replica["depends_on"]["redis"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    # The image can talk to Redis.
    assert "[fastf1,redis]" in (ROOT / "Dockerfile").read_text()
