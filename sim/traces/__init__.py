"""Network traces: the canonical :class:`Trace` and the readers that produce it."""

from __future__ import annotations

from pathlib import Path

from sim.traces.canonical import read_canonical_csv
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

__all__ = ["BYTES_PER_S_PER_MBPS", "Trace", "read_trace"]


def read_trace(path: str | Path, *, end: str = "loop") -> Trace:
    """Read a trace file into a canonical :class:`Trace` (only canonical CSV for now)."""
    return read_canonical_csv(path, end=end)
