"""The package as a user installs it: an sdist and a wheel built from the checkout's
files alone (what a clean clone holds: no node_modules, no built client), installed
into a fresh venv outside the checkout, serving the web client to Chromium.

The steps are the Dockerfile's: the web client is built (here by setup.py's hook,
inside the wheel build; there by the Node stage), the wheel is built (there with the
client copied in and no npm: `test_a_built_client_is_packaged_without_npm`), a fresh
environment installs it, `racereplay serve` answers /api/health and the page plays.
pip may download the dependencies from PyPI, through its usual cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from e2e_browser import PROJECT_ROOT, browser, build_session, require_browser, rr, wait_ready

from racereplay.server.process import serve_process

pytestmark = pytest.mark.slow

DEMO = "demo?cars=6&laps=2"
STATIC = "racereplay/server/static"
BUILD_TIMEOUT = 900  # npm ci and pip's downloads on a slow, shared machine


def source_tree(into: Path, *, web: bool = True) -> Path:
    """The checkout's files as a clean clone after the next commit would hold them
    (tracked and new, not ignored), copied to `into`; without web/ if `web` is False."""
    if shutil.which("git") is None:
        pytest.skip("git is missing: the packaging tests copy the checkout's files with it")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file() and (web or not name.startswith("web/")):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def pip_wheel(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


def client_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [n for n in archive.namelist() if n.startswith(f"{STATIC}/")]


@pytest.mark.e2e
def test_a_wheel_from_the_sdist_serves_the_client(tmp_path: Path) -> None:
    require_browser()
    if shutil.which("npm") is None:
        pytest.skip("npm is missing: the wheel's build hook builds the web client with it")
    tree = source_tree(tmp_path / "checkout")
    sdist = _build_sdist(tree, tmp_path / "sdist")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for needed in ("setup.py", "web/package.json", "web/package-lock.json", "web/src/main.ts"):
        assert needed in names, f"the sdist lacks {needed}"
    assert not any(n.startswith(("web/node_modules", f"src/{STATIC}")) for n in names)

    # The wheel from the sdist: the hook runs npm ci and the Vite build.
    done = pip_wheel(sdist, tmp_path / "dist")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("racereplay-*.whl")
    files = client_files(wheel)
    assert f"{STATIC}/index.html" in files and any(f.endswith(".js") for f in files), files

    venv = tmp_path / "venv"  # outside the checkout: nothing imports from src/
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    where = "from racereplay.server.settings import STATIC_DIR; print(STATIC_DIR)"
    static = subprocess.run(
        [str(venv / "bin" / "python"), "-c", where],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert Path(static).is_relative_to(venv) and (Path(static) / "index.html").is_file()

    command = [str(venv / "bin" / "racereplay")]
    args = ["--cache", str(tmp_path / "cache"), "--log-level", "warning"]
    with serve_process(args, tmp_path / "server.log", command) as (port, _):  # health checked
        base = f"http://127.0.0.1:{port}"
        build_session(base, DEMO)
        with browser() as chromium:
            page = chromium.new_page()
            page.goto(f"{base}/?session={quote(DEMO)}")
            wait_ready(page)
            frame0 = rr(page, ".frame")
            page.click("footer .play")
            page.wait_for_function(f"() => window.__rr.frame > {frame0} + 50", timeout=60_000)
            assert rr(page, ".playing") is True and rr(page, ".blocks") > 0
            page.close()


def test_a_built_client_is_packaged_without_npm(tmp_path: Path) -> None:
    """The container's Python stage: no web/ sources and no npm, the client built already."""
    built = PROJECT_ROOT / "src" / STATIC
    if not (built / "index.html").is_file():
        pytest.skip(f"the web client is not built ({built}): run `make web`")
    tree = source_tree(tmp_path / "checkout", web=False)
    shutil.copytree(built, tree / "src" / STATIC)
    done = pip_wheel(tree, tmp_path / "dist")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("racereplay-*.whl")
    built_files = {f"{STATIC}/{p.relative_to(built)}" for p in built.rglob("*") if p.is_file()}
    assert set(client_files(wheel)) == built_files


def test_the_build_fails_without_a_client(tmp_path: Path) -> None:
    tree = source_tree(tmp_path / "checkout", web=False)
    done = pip_wheel(tree, tmp_path / "dist")
    assert done.returncode != 0
    assert "the web client is not built" in done.stdout + done.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))


def _build_sdist(tree: Path, out: Path) -> Path:
    out.mkdir()
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]
