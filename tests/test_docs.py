"""The docs say what the code does: channel tables and module names are checked here."""

from __future__ import annotations

import re
from pathlib import Path

from racereplay.codec.compact import COMPACT_DRIVER_CHANNELS, COMPACT_SESSION_CHANNELS

DOCS = Path(__file__).resolve().parents[1] / "docs"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "racereplay"


def _table_names(text: str, heading: str) -> list[str]:
    """The `name` column of the numbered table that follows `heading`."""
    after = text[text.index(heading) :]
    names = []
    for line in after.splitlines()[1:]:
        if match := re.match(r"^\| (\d+) \| (\w+) \|", line):
            names.append(match.group(2))
        elif names and not line.startswith("|"):
            break
    return names


def test_codec_doc_lists_the_wire_channels_in_order() -> None:
    text = (DOCS / "codec.md").read_text()
    assert _table_names(text, "| # | channel | unit |") == [c.name for c in COMPACT_DRIVER_CHANNELS]
    assert _table_names(text, "Session channels") == [c.name for c in COMPACT_SESSION_CHANNELS]


def test_architecture_doc_names_modules_that_exist() -> None:
    text = (DOCS / "architecture.md").read_text()
    named = set(
        re.findall(r"`((?:timeline|sources|codec|store|replay|server|bench)/\w+\.py)`", text)
    )
    assert named, "the architecture doc names no modules"
    assert sorted(p for p in named if not (PACKAGE / p).exists()) == []
