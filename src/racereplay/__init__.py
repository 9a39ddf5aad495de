"""racereplay: replay Formula 1 sessions from real timing and telemetry.

In Python (a notebook, a script):

    import racereplay
    tl = racereplay.open("demo")           # or "fastf1:2025/Australia/R", or a FastF1 session
    tl.at(tl.info.start_time + 600)        # one frame: a row per driver
    tl.to_pandas(fps=1)                    # every channel, one row per frame and driver

`open` and `Timeline` are imported on first use, so `import racereplay` stays light.
docs/python-api.md describes every channel and its unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Timeline", "__version__", "open"]

if TYPE_CHECKING:
    from racereplay.api import open
    from racereplay.timeline.model import Timeline


def __getattr__(name: str) -> Any:
    if name == "open":
        from racereplay.api import open

        return open
    if name == "Timeline":
        from racereplay.timeline.model import Timeline

        return Timeline
    raise AttributeError(f"module 'racereplay' has no attribute {name!r}")
