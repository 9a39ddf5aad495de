"""The built web client as static files, with the caching its file names allow.

Vite names everything under `assets/` by a hash of its content, so those files
never change under their URL: `immutable`, cached for a year by browsers, proxies
and CDNs. Everything else (`index.html`, which names the current hashes) is
`no-cache`: stored, but revalidated (ETag / Last-Modified) before every use, so a
new release is picked up on the next load. Compression is the app's GZip
middleware's job (app.py), not this module's.
"""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from racereplay.server.api import IMMUTABLE  # the chunks' Cache-Control: one definition

HASHED_FOLDER = "assets"
REVALIDATE = "no-cache"


class ClientFiles(StaticFiles):
    """StaticFiles with `Cache-Control`: immutable for hashed assets, no-cache otherwise."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = cache_control(
            os.path.relpath(full_path, str(self.directory))
        )
        return response


def cache_control(relative_path: str) -> str:
    """The Cache-Control of the client file at `relative_path` (from the client folder)."""
    hashed = relative_path.split(os.sep, 1)[0] == HASHED_FOLDER and os.sep in relative_path
    return IMMUTABLE if hashed else REVALIDATE
