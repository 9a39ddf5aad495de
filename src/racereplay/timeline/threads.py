"""Work split across threads, for the build's numpy loops.

numpy releases the GIL in the loops the build spends its time in (interpolation,
searches, sorts, element-wise arithmetic), so threads share the cores without the
pickling a process pool needs, and write their results straight into shared arrays:
each job writes its own columns (a driver) or rows (a block of frames), never the
same values as another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741


def default_threads() -> int:
    """One per core, at most 4 (more gave nothing on the shared races)."""
    return min(4, os.cpu_count() or 1)


def on_threads(work: Callable[[I], T], items: Iterable[I], threads: int) -> Iterator[T]:
    """`work(item)` for each item, results in order, on `threads` threads (1: this one)."""
    if threads <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        yield from pool.map(work, items)


def run_on_threads(work: Callable[[I], object], items: Iterable[I], threads: int) -> None:
    """`work(item)` for each item, on `threads` threads; returns when all are done."""
    for _ in on_threads(work, items, threads):
        pass
