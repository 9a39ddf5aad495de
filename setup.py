"""The build hook: every wheel carries the built web client (src/racereplay/server/static/).

Everything else about the package is in pyproject.toml. Before the package's files are
copied, `build_py` builds the client with npm (`npm ci` when web/node_modules is missing,
then `npm run build`) unless the built client is newer than every web source, and fails
the build when the client is still missing. Without npm (the container's Python stage,
which copies in the client its Node stage built) the built client is used as it is.
Editable installs skip all this: they serve the checkout's static folder, which
`make web` keeps built.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
STATIC = ROOT / "src" / "racereplay" / "server" / "static"
CLIENT = STATIC / "index.html"
WEB_INPUTS = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts")


class BuildPyWithClient(build_py):
    def run(self) -> None:
        if not self.editable_mode:
            build_client()
            # A previous build's hashed assets must not ride along into this wheel.
            shutil.rmtree(Path(self.build_lib, "racereplay", "server", "static"), True)
        super().run()


def build_client() -> None:
    if _client_is_fresh():
        return
    npm = shutil.which("npm")
    if npm and (WEB / "package.json").is_file():
        if not (WEB / "node_modules").is_dir():
            _run([npm, "ci", "--no-audit", "--no-fund"])
        _run([npm, "run", "build"])
        why = "`npm run build` did not write it"
    elif not npm:
        why = "npm is not on PATH: install Node 20 with npm"
    else:
        why = f"the web sources ({WEB}) are missing"
    if not CLIENT.is_file():
        raise SetupError(
            f"the web client is not built ({CLIENT} is missing; {why}). A wheel without "
            "it would serve no page: fix that, or run `cd web && npm ci && npm run build`, "
            "and build again"
        )


def _client_is_fresh() -> bool:
    """The built client is newer than every web source (what `make web` checks)."""
    if not CLIENT.is_file():
        return False
    built = CLIENT.stat().st_mtime
    inputs = [WEB / name for name in WEB_INPUTS]
    files = [f for p in inputs for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return all(f.stat().st_mtime <= built for f in files)


def _run(command: list[str]) -> None:
    print("racereplay build:", " ".join(command[1:]), "in", WEB, flush=True)
    done = subprocess.run(command, cwd=WEB, check=False)
    if done.returncode != 0:
        raise SetupError(f"`{' '.join(command[1:])}` in {WEB} failed (exit {done.returncode})")


setup(cmdclass={"build_py": BuildPyWithClient})
