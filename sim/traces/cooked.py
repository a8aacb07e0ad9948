"""Reader for Pensieve "cooked" traces: one sample per line, ``time_s  Mbps`` (whitespace).

Used by Pensieve, MERINA and the Norway HSDPA / FCC / Puffer collections. Each value holds
until the next timestamp (the Pensieve simulator's convention); the trace is shifted to 0,
and the last value holds for ``last_duration_s`` (default: the median sampling interval).
Columns after the second are ignored. One direction (``direction`` is ignored).
"""

from __future__ import annotations

import math
from pathlib import Path

from models.errors import InputError
from sim.traces.textio import check_some_capacity, numbered_lines
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace


def read_cooked(path: str | Path, *, end: str = "loop", direction: str = "up",
                columns: str | None = None, select: dict[str, str] | None = None,
                last_duration_s: float | None = None) -> Trace:
    """Read a cooked trace into a :class:`Trace` (Mbit/s -> bytes/s)."""
    ps = str(path)
    times: list[float] = []
    caps: list[float] = []
    lines: list[int] = []
    for n, line in numbered_lines(path):
        parts = line.split()
        if len(parts) < 2:
            raise InputError("expected 'time_s Mbps'", ps, n)
        try:
            t, mbps = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(f"not a number in {line!r}", ps, n) from None
        if not (math.isfinite(t) and math.isfinite(mbps)):
            raise InputError(f"non-finite value in {line!r}", ps, n)
        if mbps < 0:
            raise InputError(f"negative bandwidth {mbps}", ps, n)
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "decreasing"
            raise InputError(f"{kind} timestamp {parts[0]}: times must increase", ps, n)
        times.append(t)
        caps.append(mbps * BYTES_PER_S_PER_MBPS)
        lines.append(n)
    check_some_capacity(caps, lines, ps)
    return Trace.from_arrays(times, caps, last_duration_s=last_duration_s, end=end, name=ps)
