"""Network traces: the canonical :class:`Trace` and the readers that produce it."""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from sim.traces.canonical import read_canonical_csv
from sim.traces.cooked import read_cooked
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

__all__ = ["BYTES_PER_S_PER_MBPS", "READERS", "Trace", "detect_format", "read_trace"]

READERS = {"csv": read_canonical_csv, "cooked": read_cooked}


def detect_format(path: str | Path) -> str:
    """Guess a trace's format from its first non-comment line."""
    p = Path(path)
    if not p.exists():
        raise InputError("trace file not found", str(p))
    with open(p, errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if "," in s:
                return "csv"
            parts = s.split()
            try:
                [float(x) for x in parts[:2]]
                return "cooked" if len(parts) >= 2 else "csv"
            except ValueError:
                return "csv"
    return "csv"


def read_trace(path: str | Path, *, end: str = "loop", fmt: str | None = None,
               direction: str = "up", columns: str | None = None,
               select: dict[str, str] | None = None) -> Trace:
    """Read a trace file into a canonical :class:`Trace`.

    ``fmt`` overrides auto-detection; ``direction`` ("up" or "down") picks the uplink or
    downlink where a source has both; ``columns`` names a headerless CSV's columns
    (e.g. ``"time_s,bytes_per_s"``); ``select`` filters rows of multi-series files
    (e.g. ``{"carrier": "VERIZON"}`` for 5Gophers).
    """
    fmt = fmt or detect_format(path)
    if fmt not in READERS:
        raise InputError(f"unknown trace format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, end=end)
