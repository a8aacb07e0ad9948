"""Timing one call: warm-ups, the number of timed repeats, and the CPU / CUDA-event timers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def summarize_times(times: Sequence[float]) -> tuple[float, float, float, int]:
    """(median, min, max, n) of the timed repeats (seconds); ValueError if empty."""
    if not times:
        raise ValueError("no timed repeats")
    return float(statistics.median(times)), float(min(times)), float(max(times)), len(times)


def choose_repeats(first_s: float, repeats: int) -> int:
    """Timed repeats for a point whose first (warm-up) call took ``first_s`` seconds:
    ``repeats`` normally, 3x that under 20 ms (cheap, steadier median), ``repeats - 2``
    (at least 2) from 1 s on, to keep big configurations within the device budget."""
    if first_s < 0.02:
        return 3 * repeats
    if first_s >= 1.0:
        return max(2, repeats - 2)
    return repeats


def time_repeats(
    fn: Callable[[], Any],
    timer: Callable[[Callable[[], Any]], float],
    warmup: int,
    repeats: int,
) -> list[float]:
    """Run ``fn`` ``warmup`` times (discarded), then return the timed repeats (seconds).

    ``timer(fn)`` runs ``fn`` once and returns its duration in seconds. The first warm-up's
    duration sets the number of timed repeats (:func:`choose_repeats`); warm-ups after the
    first are dropped when it took over a second.
    """
    first = timer(fn) if warmup > 0 else None
    extra = max(0, warmup - 1) if first is None or first < 1.0 else 0
    for _ in range(extra):
        timer(fn)
    n = repeats if first is None else choose_repeats(first, repeats)
    return [timer(fn) for _ in range(n)]


class CpuTimer:
    """Wall-clock timer (``time.perf_counter``) for synchronous CPU work."""

    def __call__(self, fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


class CudaTimer:
    """CUDA-event timer on the current stream (waits for the end event)."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def __call__(self, fn: Callable[[], Any]) -> float:
        self.start.record()
        fn()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end) / 1e3
