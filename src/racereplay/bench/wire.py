"""`racereplay bench wire`: bytes on the wire and encode cost of every codec.

The baseline is the `json` codec (the plan's one JSON object per frame), measured
in the same run on the same timeline. The per-frame codecs are measured on an
even sample of chunks across the session (encoding a whole race as JSON takes
minutes); compact is measured on a larger sample. Sizes are per frame and per
second of replay at 1x (bytes per frame x frames per second).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from racereplay.bench import wire_rrc1
from racereplay.bench.report import BenchOptions, BenchResult, Target
from racereplay.codec import RATES, CompactCodec, decode_chunk, get_codec
from racereplay.timeline.model import Timeline

TITLE = "Wire formats"

BYTES_PER_FRAME_TARGET = Target.at_most(100.0)  # compact at 25 fps, 20 cars
SHARED_RACE_TARGET = Target.at_most(45.0)  # issue 14: every shared race, every mode, 25 fps
# The browser decode time per 25 fps chunk of the RRC1 decoder, measured before the
# change on this machine (2026-12-07, AUS race archive + FastF1, 20 chunks, best of 2
# runs of bench/browser_decode.py; the two runs gave 1.14 and 2.58 ms: the machine is shared).
RRC1_BROWSER_DECODE_MS = 1.14
RATIO_TARGET = Target.at_least(60.0)  # compact vs the JSON baseline, 25 fps


@dataclass
class WireFigures:
    bytes_per_frame: float
    ms_per_chunk: float  # median encode time of one chunk
    chunks: int


def sample_chunks(n_chunks: int, count: int) -> list[int]:
    """`count` chunk indices spread evenly over the session, first and last included."""
    return sorted({int(i) for i in np.linspace(0, n_chunks - 1, min(count, n_chunks))})


def measure(
    timeline: Timeline,
    codec_name: str,
    rate: int,
    chunks: list[int],
    chunk_seconds: int | None = None,
) -> WireFigures:
    """Bytes per frame and median encode time over `chunks` (compact: optionally another span)."""
    codec = CompactCodec(chunk_seconds=chunk_seconds) if chunk_seconds else get_codec(codec_name)
    total_bytes = total_frames = 0
    times = []
    for index in chunks:
        started = time.perf_counter()
        messages = codec.encode_chunk(timeline, rate, index)
        times.append(time.perf_counter() - started)
        total_bytes += sum(len(m) for m in messages)
        total_frames += len(codec.frames_of_chunk(timeline, rate, index))
    return WireFigures(total_bytes / total_frames, statistics.median(times) * 1e3, len(chunks))


def _load_timeline(result: BenchResult, options: BenchOptions) -> Timeline:
    from racereplay.bench.build import real_race_session
    from racereplay.bench.shared_data import AUS_RACE
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    session = options.session or real_race_session()
    if session is None:
        result.notes.append(f"real race not found at {AUS_RACE.path}: measured the demo instead")
        session = "demo"
    result.notes.append(f"session: `{session}`")
    timeline = build_timeline(load(session))
    result.notes.append(
        f"{len(timeline.drivers)} drivers, {timeline.n_frames:,} frames "
        f"({timeline.duration / 60:.1f} min at {timeline.fps} fps)"
    )
    return timeline


def run(options: BenchOptions, timeline: Timeline | None = None) -> BenchResult:
    result = BenchResult()
    if timeline is None:
        timeline = _load_timeline(result, options)
    compact = get_codec("compact")
    n = compact.n_chunks(timeline)
    baseline_chunks = sample_chunks(n, options.repeats(40, 6))
    compact_chunks = sample_chunks(n, options.repeats(400, 20))
    result.notes.append(
        f"{compact.chunk_seconds} s chunks; json/msgpack on {len(baseline_chunks)} chunks, "
        f"compact on {len(compact_chunks)} of {n}, spread evenly over the session"
    )
    _size_rows(result, timeline, baseline_chunks, compact_chunks)
    _chunk_span_rows(result, timeline, compact_chunks)
    _decode_row(result, timeline, compact_chunks[len(compact_chunks) // 2])
    _browser_decode_row(result, timeline, sample_chunks(n, options.repeats(20, 3)))
    if options.session is None and not options.quick:
        _shared_race_rows(result, options)
    return result


def against_rrc1(timeline: Timeline, chunks: list[int]) -> tuple[float, float]:
    """(compact, RRC1) bytes per frame at 25 fps over the same chunks."""
    codec = get_codec("compact")
    new = sum(len(codec.encode_chunk(timeline, timeline.fps, i)[0]) for i in chunks)
    old = sum(wire_rrc1.chunk_bytes(timeline, timeline.fps, i) for i in chunks)
    frames = sum(len(codec.frames_of_chunk(timeline, timeline.fps, i)) for i in chunks)
    return new / frames, old / frames


def _shared_race_rows(result: BenchResult, options: BenchOptions) -> None:
    """Issue 14's figure: every shared race in every source mode, and the demo."""
    from racereplay.bench.shared_data import SHARED_SESSIONS
    from racereplay.sources import load
    from racereplay.timeline.build import build_timeline

    cases = [("demo", "demo")]
    for shared in SHARED_SESSIONS:
        if shared.race and shared.path.is_dir():
            cases += [(f"{shared.label}, {mode}", ref) for mode, ref in shared.refs().items()]
        elif shared.race:
            result.notes.append(f"{shared.label}: not measured, {shared.path} is missing")
    count = options.repeats(400, 10)
    for label, ref in cases:
        try:
            timeline = build_timeline(load(ref))
        except Exception as exc:  # one unloadable source mode must not hide the rest
            result.notes.append(f"{label}: not measured ({type(exc).__name__}: {exc})")
            continue
        chunks = sample_chunks(get_codec("compact").n_chunks(timeline), count)
        new, old = against_rrc1(timeline, chunks)
        result.add(
            f"compact B/frame at 25 fps, {label}",
            new,
            "B",
            old,
            SHARED_RACE_TARGET,
            note="baseline: RRC1, the format before, same chunks",
        )
        del timeline


def _browser_decode_row(result: BenchResult, timeline: Timeline, chunks: list[int]) -> None:
    from racereplay.bench import browser_decode

    why = browser_decode.missing()
    if why:
        result.notes.append(f"browser decode time not measured: {why}")
        return
    codec = get_codec("compact")
    data = [codec.encode_chunk(timeline, timeline.fps, i)[0] for i in chunks]
    result.add(
        "browser decode time per chunk, compact 25 fps (headless Chromium, median)",
        browser_decode.median_decode_ms(data),
        "ms",
        RRC1_BROWSER_DECODE_MS,
        note="baseline: the RRC1 decoder, measured before the change (see bench/wire.py)",
    )


def _size_rows(
    result: BenchResult, timeline: Timeline, baseline_chunks: list[int], compact_chunks: list[int]
) -> None:
    json_fig = measure(timeline, "json", timeline.fps, baseline_chunks)
    msgpack_fig = measure(timeline, "msgpack", timeline.fps, baseline_chunks)
    fps = timeline.fps
    result.add("json bytes per frame", json_fig.bytes_per_frame, "B", json_fig.bytes_per_frame)
    result.add(
        "msgpack bytes per frame", msgpack_fig.bytes_per_frame, "B", json_fig.bytes_per_frame
    )
    result.add("json at 1x", json_fig.bytes_per_frame * fps / 1e3, "KB/s", note=f"{fps} fps")
    result.add(
        "msgpack at 1x",
        msgpack_fig.bytes_per_frame * fps / 1e3,
        "KB/s",
        json_fig.bytes_per_frame * fps / 1e3,
        note=f"{fps} fps",
    )
    for rate in RATES:
        fig = measure(timeline, "compact", rate, compact_chunks)
        is_full_rate = rate == fps
        result.add(
            f"compact bytes per frame, {rate} fps",
            fig.bytes_per_frame,
            "B",
            json_fig.bytes_per_frame,
            BYTES_PER_FRAME_TARGET if is_full_rate else None,
        )
        result.add(
            f"compact at 1x, {rate} fps",
            fig.bytes_per_frame * rate / 1e3,
            "KB/s",
            json_fig.bytes_per_frame * rate / 1e3,
            note="baseline: json at the same rate",
        )
        if is_full_rate:
            result.add(
                "compact size vs json, 25 fps",
                json_fig.bytes_per_frame / fig.bytes_per_frame,
                "x smaller",
                1.0,
                RATIO_TARGET,
            )
            result.add(
                "encode time per chunk, compact 25 fps",
                fig.ms_per_chunk,
                "ms",
                json_fig.ms_per_chunk,
                note="baseline: json, same chunk",
            )
    result.add(
        "encode time per chunk, msgpack 25 fps",
        msgpack_fig.ms_per_chunk,
        "ms",
        json_fig.ms_per_chunk,
    )


def _chunk_span_rows(result: BenchResult, timeline: Timeline, chunks: list[int]) -> None:
    """Why the chunk span is what it is: 1 s against 2 s chunks at full rate."""
    one_s = measure(
        timeline, "compact", timeline.fps, chunks_of_span(timeline, chunks, 1), chunk_seconds=1
    )
    two_s = measure(
        timeline, "compact", timeline.fps, chunks_of_span(timeline, chunks, 2), chunk_seconds=2
    )
    result.add(
        "compact, 2 s chunks, 25 fps",
        two_s.bytes_per_frame,
        "B/frame",
        one_s.bytes_per_frame,
        note="baseline: 1 s chunks",
    )


def chunks_of_span(timeline: Timeline, chunks_at_default: list[int], seconds: int) -> list[int]:
    """The same stretches of session time, indexed in chunks of `seconds`."""
    default = get_codec("compact").chunk_seconds
    n = CompactCodec(chunk_seconds=seconds).n_chunks(timeline)
    out: set[int] = set()
    for index in chunks_at_default:
        first = index * default // seconds
        out.update(i for i in range(first, first + max(default // seconds, 1)) if i < n)
    return sorted(out)


def _decode_row(result: BenchResult, timeline: Timeline, index: int) -> None:
    data = get_codec("compact").encode_chunk(timeline, timeline.fps, index)[0]
    times = []
    for _ in range(20):
        started = time.perf_counter()
        decode_chunk(data)
        times.append(time.perf_counter() - started)
    result.add("python decode time per chunk, compact 25 fps", statistics.median(times) * 1e3, "ms")
