"""The docs say what the code does: channel tables, module names and the packages' dependencies
are checked here."""

from __future__ import annotations

import ast
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


def test_web_readme_gives_every_client_module_its_job() -> None:
    web = PACKAGE.parents[1] / "web"
    listed = set(re.findall(r"^\| `src/([\w.]+\.ts)` \|", (web / "README.md").read_text(), re.M))
    modules = {p.name for p in (web / "src").glob("*.ts")}
    assert sorted(modules - listed) == [], "modules web/README.md does not list"
    assert sorted(listed - modules) == [], "web/README.md lists modules that do not exist"


def _declared_dependencies(text: str) -> dict[str, set[str]]:
    """The architecture table's `depends on` column: package -> the racereplay packages
    it imports ("—": none). The job cell may hold `|` (the CLI's), so the first and last
    cells are read."""
    after = text[text.index("| package | job | depends on |") :]
    declared = {}
    for line in after.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if match := re.fullmatch(r"`racereplay\.(\w+)`", cells[0]):
            names = cells[-1]
            declared[match.group(1)] = set() if names == "—" else set(names.split(", "))
    return declared


def _top_level() -> set[str]:
    """racereplay's packages and modules (`model`, `cli`, `server`, ...)."""
    return {
        p.stem
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }


def _imported(name: str) -> set[str]:
    """The other top-level racereplay packages that any module of `name` imports,
    anywhere in the module (function-level imports count)."""
    path = PACKAGE / name
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    found: set[str] = set()
    for file in files:
        module = file.relative_to(PACKAGE.parent).with_suffix("").parts  # racereplay, ...
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(module[: -node.level]) if node.level else ""
                head = ".".join(part for part in (base, node.module) if part)
                if node.module is None or head == "racereplay":  # from racereplay import x
                    targets = [f"{head}.{alias.name}" for alias in node.names]
                else:
                    targets = [head]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                if parts[0] == "racereplay" and len(parts) > 1:
                    found.add(parts[1])
    return (found & _top_level()) - {name}


def test_architecture_doc_lists_what_each_package_imports() -> None:
    declared = _declared_dependencies((DOCS / "architecture.md").read_text())
    assert set(declared) == _top_level(), "every racereplay package has one row"
    wrong = {
        name: {
            "imported, not in the table": sorted(_imported(name) - deps),
            "in the table, not imported": sorted(deps - _imported(name)),
        }
        for name, deps in declared.items()
        if _imported(name) != deps
    }
    assert wrong == {}, "docs/architecture.md: fix the `depends on` column (or the import)"


def test_protocol_doc_gives_the_constants_the_server_sends() -> None:
    import json

    from racereplay.server.protocol import CLIENT_CONSTANTS

    text = (DOCS / "protocol.md").read_text()
    block = text[text.index("### Protocol constants") :].split("```")[1]
    documented = json.loads(re.sub(r"//[^\n]*", "", block))
    assert documented == json.loads(json.dumps(CLIENT_CONSTANTS))


def test_python_api_doc_lists_every_channel_with_its_unit() -> None:
    from racereplay.timeline.model import CHANNELS

    text = (DOCS / "python-api.md").read_text()
    after = text[text.index("| channel | per | unit | meaning |") :]
    documented = {}
    for line in after.splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, _, unit, _ = (cell.strip() for cell in line.strip().strip("|").split("|"))
        documented[name.strip("`")] = "" if unit == "—" else unit
    assert documented == {name: unit for name, (unit, _) in CHANNELS.items()}
