"""Reader for the canonical trace CSV: a header whose column names carry their units.

Accepted columns (one of each group; extra columns are ignored):
- time: ``time_s`` or ``time_ms``
- capacity: ``bandwidth_mbps``, ``bandwidth_kbps``, ``bandwidth_bps`` (bits/s) or ``bytes_per_s``
- optional RTT: ``rtt_ms`` or ``rtt_s``
Lines starting with ``#`` and blank lines are skipped.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from models.errors import InputError
from sim.traces.trace import Trace

TIME_COLUMNS = {"time_s": 1.0, "time_ms": 1e-3}
CAPACITY_COLUMNS = {  # multiplier to bytes/s
    "bandwidth_mbps": 1e6 / 8,
    "bandwidth_kbps": 1e3 / 8,
    "bandwidth_bps": 1 / 8,
    "bytes_per_s": 1.0,
}
RTT_COLUMNS = {"rtt_ms": 1e-3, "rtt_s": 1.0}


def _pick(header: list[str], options: dict[str, float], what: str, path: str, line: int,
          required: bool = True) -> tuple[int, float] | None:
    found = [(header.index(c), m) for c, m in options.items() if c in header]
    if len(found) > 1:
        raise InputError(f"more than one {what} column", path, line)
    if not found:
        if required:
            raise InputError(
                f"no {what} column: expected one of {', '.join(options)} "
                f"(header was {','.join(header)})", path, line)
        return None
    return found[0]


def _number(text: str, column: str, path: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{column} is not a number: {text!r}", path, line) from None
    if not math.isfinite(value):
        raise InputError(f"{column} is {text!r}; expected a finite number", path, line)
    return value


def read_canonical_csv(path: str | Path, *, end: str = "loop",
                       last_duration_s: float | None = None) -> Trace:
    """Read a canonical CSV into a :class:`Trace` (bytes/s and seconds internally)."""
    path_s = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputError("trace file not found", path_s) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read trace: {err}", path_s) from None
    rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1)
            if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise InputError("trace file is empty", path_s)
    header_line, header = rows[0]
    header = [h.strip().lower() for h in header]
    t_col, t_mul = _pick(header, TIME_COLUMNS, "time", path_s, header_line)
    c_col, c_mul = _pick(header, CAPACITY_COLUMNS, "bandwidth", path_s, header_line)
    rtt = _pick(header, RTT_COLUMNS, "RTT", path_s, header_line, required=False)
    times, caps, rtts = [], [], []
    for line, row in rows[1:]:
        if len(row) < len(header):
            raise InputError(f"expected {len(header)} columns, found {len(row)}", path_s, line)
        t = _number(row[t_col].strip(), header[t_col], path_s, line) * t_mul
        c = _number(row[c_col].strip(), header[c_col], path_s, line)
        if c < 0:
            raise InputError(f"{header[c_col]} is negative ({c})", path_s, line)
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "decreasing"
            raise InputError(f"{kind} timestamp {row[t_col].strip()}: times must increase",
                             path_s, line)
        times.append(t)
        caps.append(c * c_mul)
        if rtt is not None:
            r = _number(row[rtt[0]].strip(), header[rtt[0]], path_s, line)
            if r < 0:
                raise InputError(f"{header[rtt[0]]} is negative ({r})", path_s, line)
            rtts.append(r * rtt[1])
    if not times:
        raise InputError("trace has a header but no samples", path_s)
    return Trace.from_arrays(times, caps, rtts if rtt is not None else None,
                             last_duration_s=last_duration_s, end=end, name=path_s)
