"""Reader for Pensieve "cooked" traces: one sample per line, ``time_s  Mbps`` (whitespace).

Used by Pensieve, MERINA and the Norway HSDPA / FCC / Puffer collections. Two readings
(``convention``), for samples ``(t_0, v_0), ..., (t_n, v_n)``:

- ``pensieve`` (default): the Pensieve simulator's. Value ``v_i`` holds on the interval that
  *ends* at its timestamp, ``(t_{i-1}, t_i]``; ``v_0`` is never used. The simulator starts
  at ``t_0`` and, after ``t_n``, wraps to time 0 (not to ``t_0``): later passes run
  ``(0, t_1]`` at ``v_1``, so the first pass is ``t_n - t_0`` long and every later one
  ``t_n``. As a :class:`Trace` (clock 0 = the simulator's start): the loop ``[0, t_1)`` at
  ``v_1``, ``[t_{i-1}, t_i)`` at ``v_i``, period ``t_n``, entered at ``t_0`` (rotated by
  ``t_0``); with ``end = "clip"`` the first pass alone. ``last_duration_s`` does not apply
  (the last value ends at its timestamp).
- ``from-timestamp``: each value holds from its own timestamp to the next, the trace is
  shifted to start at 0, and the last value holds for ``last_duration_s`` (default: the
  median sampling interval). This was scoutsim's reading before 2026-12.

Example, samples ``(1, 2) (2, 4) (4, 8)`` (s, Mbit/s). ``pensieve``: 4 Mbit/s on (1, 2],
8 on (2, 4], then 4 on (0, 2], 8 on (2, 4], ...; in clock time from the start: [0, 1) at 4,
[1, 3) at 8, then a 4-s period ([3, 5) at 4, [5, 7) at 8, ...); 2 Mbit/s is never used.
``from-timestamp``: 2 on [0, 1), 4 on [1, 3), 8 on [3, 4.5) (the median interval, 1.5 s),
then a 4.5-s period.
Columns after the second are ignored. One direction (``direction`` is ignored).
"""

from __future__ import annotations

import math
from pathlib import Path

from models.errors import InputError
from sim.traces.textio import check_some_capacity, numbered_lines
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

CONVENTIONS = ("pensieve", "from-timestamp")


def first_timestamp(path: str | Path) -> float:
    """The first sample's time: where Pensieve's clock starts (the trace's own clock)."""
    for n, line in numbered_lines(path):
        try:
            return float(line.split()[0])
        except (ValueError, IndexError):
            raise InputError(f"not a number in {line!r}", str(path), n) from None
    raise InputError("no samples", str(path))


def read_cooked(path: str | Path, *, end: str = "loop", direction: str = "up",
                columns: str | None = None, select: dict[str, str] | None = None,
                last_duration_s: float | None = None, convention: str = "pensieve") -> Trace:
    """Read a cooked trace into a :class:`Trace` (Mbit/s -> bytes/s) under ``convention``
    (module docstring)."""
    if convention not in CONVENTIONS:
        raise InputError(f"cooked convention must be one of {', '.join(CONVENTIONS)}, not "
                         f"{convention!r}")
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
    if convention == "from-timestamp":
        check_some_capacity(caps, lines, ps)
        return Trace.from_arrays(times, caps, last_duration_s=last_duration_s, end=end,
                                 name=ps)
    if last_duration_s is not None:
        raise InputError("the pensieve convention has no last duration (the last value ends "
                         "at its timestamp); use --cooked-convention from-timestamp", ps)
    if len(times) < 2:
        raise InputError("the pensieve convention needs two samples or more (the first "
                         "value is never used)", ps)
    if times[0] < 0:
        raise InputError(f"the pensieve convention wraps to time 0: the first timestamp "
                         f"{times[0]:g} must not be negative", ps)
    check_some_capacity(caps[1:], lines[1:], ps)
    # the loop [0, t_1) v_1, [t_{i-1}, t_i) v_i, ..., period t_n; entered at t_0
    loop = Trace.from_arrays([0.0, *times[1:-1]], caps[1:],
                             last_duration_s=times[-1] - (times[-2] if len(times) > 2 else 0.0),
                             end=end, name=ps)
    return loop.rotated(times[0]) if times[0] > 0 else loop
