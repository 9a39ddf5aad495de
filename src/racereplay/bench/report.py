"""The benchmark report: every figure beside its baseline and target, as Markdown and JSON.

A bench module (racereplay.bench.build, .wire, .server, ...) exposes

    TITLE: str
    def run(options: BenchOptions) -> BenchResult

and is listed in `BENCHES`.
"""

from __future__ import annotations

import importlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

# Name on the command line -> module. Order is the report's order.
BENCHES: dict[str, str] = {
    "build": "racereplay.bench.build",
    "wire": "racereplay.bench.wire",
    "server": "racereplay.bench.server",
    "http": "racereplay.bench.http",
    "attack": "racereplay.bench.attack",
    "cluster": "racereplay.bench.cluster",
    "rooms": "racereplay.bench.rooms",
    "frontend": "racereplay.bench.frontend",
    "broadcast": "racereplay.bench.broadcast",
    "fidelity": "racereplay.bench.fidelity",
}


@dataclass(frozen=True)
class Target:
    op: Literal["<=", ">="]
    value: float

    @classmethod
    def at_most(cls, value: float) -> Target:
        return cls("<=", value)

    @classmethod
    def at_least(cls, value: float) -> Target:
        return cls(">=", value)

    def met_by(self, value: float) -> bool:
        return value <= self.value if self.op == "<=" else value >= self.value

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {_num(self.value)}"


@dataclass(frozen=True)
class Row:
    metric: str
    value: float | None  # None: could not be measured (see note)
    unit: str
    baseline: float | None = None  # the seed's figure for the same thing, measured in the same run
    target: Target | None = None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when there is no target or no value."""
        if self.target is None or self.value is None or math.isnan(self.value):
            return None
        return self.target.met_by(self.value)

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": _finite(self.value),
            "unit": self.unit,
            "baseline": _finite(self.baseline),
            "target": None if self.target is None else asdict(self.target),
            "passed": self.passed,
            "note": self.note,
        }


@dataclass
class BenchResult:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was measured on what, what was skipped

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row


@dataclass(frozen=True)
class BenchOptions:
    session: str | None = None  # None: each bench picks its default (the real race if present)
    quick: bool = False  # fewer repetitions, for tests
    cache_dir: Path | None = None

    def repeats(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full


@dataclass
class Section:
    name: str
    title: str
    result: BenchResult
    seconds: float


@dataclass
class Report:
    sections: list[Section]
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    machine: str = field(
        default_factory=lambda: f"{platform.platform()}, python {platform.python_version()}"
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "machine": self.machine,
            "sections": [
                {
                    "name": s.name,
                    "title": s.title,
                    "seconds": round(s.seconds, 3),
                    "notes": s.result.notes,
                    "rows": [r.to_json() for r in s.result.rows],
                }
                for s in self.sections
            ],
        }

    def markdown(self) -> str:
        lines = ["# racereplay benchmark report", "", f"{self.created} — {self.machine}", ""]
        for s in self.sections:
            lines += [f"## {s.title}", ""]
            lines += [f"- {note}" for note in s.result.notes]
            if s.result.notes:
                lines.append("")
            lines += [
                "| metric | value | unit | baseline | target | pass |",
                "| --- | ---: | --- | ---: | --- | :---: |",
            ]
            lines += [_markdown_row(r) for r in s.result.rows]
            lines.append("")
        return "\n".join(lines)

    def write(self, out: Path) -> tuple[Path, Path]:
        """Write `out`.md and `out`.json (a given .md/.json suffix is replaced)."""
        stem = out.with_suffix("") if out.suffix in (".md", ".json") else out
        md_path, json_path = Path(f"{stem}.md"), Path(f"{stem}.json")
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(self.markdown())
        json_path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False, default=str))
        return md_path, json_path


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _markdown_row(row: Row) -> str:
    verdict = {True: "✅", False: "❌", None: ""}[row.passed]
    metric = f"{row.metric} ({row.note})" if row.note else row.metric
    target = "" if row.target is None else str(row.target)
    cells = [metric, _num(row.value), row.unit, _num(row.baseline), target, verdict]
    return "| " + " | ".join(cells) + " |"


def run_benches(names: list[str] | None, options: BenchOptions) -> Report:
    """Run the named benches (default: every one) into one report."""
    names = names or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise KeyError(f"unknown bench {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    sections = []
    for name in names:
        module = importlib.import_module(BENCHES[name])
        started = time.perf_counter()
        result = module.run(options)
        sections.append(Section(name, module.TITLE, result, time.perf_counter() - started))
    return Report(sections)
