"""The `racereplay` command: serve | build | inspect | bench."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from racereplay import __version__
from racereplay.server.options import SettingsError
from racereplay.sources import SessionNotFound, SessionRef


class UsageError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (UsageError, SettingsError, SessionNotFound) as exc:
        print(f"racereplay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("racereplay: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="racereplay", description="Replay Formula 1 sessions from real timing and telemetry."
    )
    parser.add_argument("--version", action="version", version=f"racereplay {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache",
        metavar="DIR",
        help="cache folder for built timelines (default: $RACEREPLAY_CACHE or ~/.cache/racereplay)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="serve the web app")
    serve.set_defaults(run=_serve)
    _add_serve_options(serve)

    build = sub.add_parser("build", parents=[common], help="build and cache session timelines")
    build.add_argument("sessions", nargs="*", metavar="SESSION", default=["demo"])
    build.add_argument("--workers", type=int, help="build processes (default: automatic)")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(run=_build)

    inspect = sub.add_parser("inspect", parents=[common], help="summarise a session's timeline")
    inspect.add_argument("session", metavar="SESSION")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(run=_inspect)

    bench = sub.add_parser("bench", parents=[common], help="run benchmarks, write a report")
    bench.add_argument("benches", nargs="*", metavar="BENCH", help="which (default: all)")
    bench.add_argument(
        "--out",
        default="bench-report",
        metavar="PATH",
        help="report path without extension: writes PATH.md and PATH.json",
    )
    bench.add_argument("--session", metavar="SESSION", help="session to measure")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    bench.set_defaults(run=_bench)
    return parser


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    # The server package adds its own options.
    from racereplay.server.options import add_arguments

    add_arguments(serve)


def _cache_dir(args: argparse.Namespace) -> Path:
    from racereplay.store.cache import default_cache_dir

    folder = Path(args.cache).expanduser() if args.cache else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"cache folder {folder} is not a folder: pass another with --cache DIR")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create cache folder {folder} ({exc.strerror}): use --cache DIR"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cache folder {folder} is not writable: use --cache DIR")
    return folder


def _serve(args: argparse.Namespace) -> int:
    from racereplay.server.app import serve

    return int(serve(args) or 0)


def _build(args: argparse.Namespace) -> int:
    from racereplay.store.cache import cache_path

    folder = _cache_dir(args)
    refs = [SessionRef.parse(name) for name in args.sessions]  # all names checked before work
    for ref in refs:
        path = cache_path(ref, folder)
        if args.force:
            path.unlink(missing_ok=True)
        started = time.perf_counter()
        timeline = _open_with_progress_bar(ref, folder, args.workers)
        elapsed = time.perf_counter() - started
        laps = len(timeline.laps)
        size = path.stat().st_size / 1e6
        print(
            f"{ref}: {len(timeline.drivers)} drivers, {laps} laps, {timeline.n_frames} frames "
            f"({timeline.duration / 60:.1f} min), {size:.1f} MB, {elapsed:.2f} s -> {path}"
        )
        for problem in timeline.problems:
            print(f"  note: {problem}")
    return 0


def _open_with_progress_bar(ref: SessionRef, folder: Path, workers: int | None = None) -> Any:
    from tqdm import tqdm

    from racereplay.store.cache import open_or_build

    with tqdm(
        total=100, desc=str(ref)[:40], unit="%", leave=False, file=sys.stderr, delay=0.2
    ) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[:40], refresh=False)
            bar.update(round(fraction * 100) - bar.n)

        return open_or_build(ref, folder, progress, workers)


def _inspect(args: argparse.Namespace) -> int:
    from racereplay.codec import jsonable
    from racereplay.timeline.summary import summarize

    ref = SessionRef.parse(args.session)
    timeline = _open_with_progress_bar(ref, _cache_dir(args))
    summary = summarize(timeline)
    if args.json:
        json.dump(jsonable(summary), sys.stdout, indent=2)
        print()
    else:
        print(_readable(ref, summary))
    return 0


def _readable(ref: SessionRef, summary: dict[str, Any]) -> str:
    """A few lines a person can read; `--json` has everything."""
    lines = [
        f"{summary.get('session') or ref}: {summary.get('drivers')} drivers, "
        f"{summary.get('laps')} laps, {summary.get('frames')} frames "
        f"({(summary.get('duration_s') or 0) / 60:.1f} min), {summary.get('events')} events, "
        f"{summary.get('overtakes')} overtakes"
    ]
    classification = summary.get("classification") or []
    lines.append("classification: " + " ".join(f"{i}.{c}" for i, c in enumerate(classification, 1)))
    order = summary.get("lap_end_order") or {}
    if order:
        lap, codes = list(order.items())[-1]
        lines.append(f"order at the end of lap {lap}: {' '.join(codes)}")
    lines.append("pit stops (laps):")
    for code, laps in (summary.get("pit_stops") or {}).items():
        lines.append(f"  {code}: {', '.join(str(lap) for lap in laps)}")
    retirements = summary.get("retirements") or {}
    lines.append(
        "retirements: "
        + (", ".join(f"{code} (lap {lap})" for code, lap in retirements.items()) or "none")
    )
    if summary.get("did_not_start"):
        lines.append("did not start: " + ", ".join(summary["did_not_start"]))
    fidelity = summary.get("fidelity") or {}
    lines.append(
        "fidelity: "
        + ", ".join(f"{name} {value}" for name, value in fidelity.items() if value is not None)
    )
    lines.extend(f"note: {problem}" for problem in summary.get("problems") or [])
    return "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    from racereplay.bench.report import BenchOptions, run_benches

    options = BenchOptions(
        session=args.session, quick=args.quick, cache_dir=Path(args.cache) if args.cache else None
    )
    try:
        report = run_benches(args.benches or None, options)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    md_path, json_path = report.write(Path(args.out))
    print(report.markdown())
    print(f"report written to {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
