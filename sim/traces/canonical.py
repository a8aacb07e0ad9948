"""Reader for the canonical trace CSV: a header whose column names carry their units.

Accepted columns (one of each group; extra columns are ignored):
- time: ``time_s`` or ``time_ms``
- capacity: ``bandwidth_mbps``, ``bandwidth_kbps``, ``bandwidth_bps`` (bits/s) or ``bytes_per_s``
- optional RTT: ``rtt_ms`` or ``rtt_s``
Lines starting with ``#`` and blank lines are skipped; UTF-8 BOM, CRLF/CR line endings,
spaces around fields and scientific notation are accepted. One direction: the file is
whatever link it was recorded on (``direction`` is ignored).
"""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from models.units import BITS_PER_BYTE, BYTES_PER_S_PER_KBPS, BYTES_PER_S_PER_MBPS
from sim.traces.textio import (
    check_some_capacity,
    numbered_lines,
    parse_number,
    split_fields,
)
from sim.traces.trace import Trace

TIME_COLUMNS = {"time_s": 1.0, "time_ms": 1e-3}
CAPACITY_COLUMNS = {  # multiplier to bytes/s
    "bandwidth_mbps": BYTES_PER_S_PER_MBPS,
    "bandwidth_kbps": BYTES_PER_S_PER_KBPS,
    "bandwidth_bps": 1 / BITS_PER_BYTE,
    "bytes_per_s": 1.0,
}
RTT_COLUMNS = {"rtt_ms": 1e-3, "rtt_s": 1.0}
ALL_COLUMNS = {**TIME_COLUMNS, **CAPACITY_COLUMNS, **RTT_COLUMNS}


def _pick(header: list[str], options: dict[str, float], what: str, path: str,
          line: int | None, required: bool = True) -> tuple[int, float] | None:
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


def rows_to_trace(path_s: str, header: list[str], rows: list[tuple[int, list[str]]],
                  *, end: str, last_duration_s: float | None,
                  header_line: int | None) -> Trace:
    """Columns named by ``header`` (unit vocabulary above) to a :class:`Trace`."""
    t_col, t_mul = _pick(header, TIME_COLUMNS, "time", path_s, header_line)
    if not any(c in header for c in CAPACITY_COLUMNS) and any(c in header for c in RTT_COLUMNS):
        raise InputError("no bandwidth column: this file has RTT but no capacity; use it as "
                         "an RTT trace (sim.traces.read_rtt, then Trace.with_rtt)",
                         path_s, header_line)
    c_col, c_mul = _pick(header, CAPACITY_COLUMNS, "bandwidth", path_s, header_line)
    rtt = _pick(header, RTT_COLUMNS, "RTT", path_s, header_line, required=False)
    times: list[float] = []
    caps: list[float] = []
    rtts: list[float] = []
    lines: list[int] = []
    for line, row in rows:
        if len(row) > len(header) and not any(c.strip() for c in row[len(header):]):
            row = row[:len(header)]  # trailing empty fields ("1,2,")
        if len(row) != len(header):  # more values than names: which column is which?
            raise InputError(f"expected {len(header)} columns (the header's), found "
                             f"{len(row)}", path_s, line)
        t = parse_number(row[t_col], header[t_col], path_s, line, negative_ok=True) * t_mul
        c = parse_number(row[c_col], header[c_col], path_s, line)
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "decreasing"
            raise InputError(f"{kind} timestamp {row[t_col]}: times must increase", path_s, line)
        times.append(t)
        caps.append(c * c_mul)
        lines.append(line)
        if rtt is not None:
            rtts.append(parse_number(row[rtt[0]], header[rtt[0]], path_s, line) * rtt[1])
    if not times:
        raise InputError("trace has a header but no samples", path_s)
    check_some_capacity(caps, lines, path_s)
    return Trace.from_arrays(times, caps, rtts if rtt is not None else None,
                             last_duration_s=last_duration_s, end=end, name=path_s)


def read_canonical_csv(path: str | Path, *, end: str = "loop", direction: str = "up",
                       columns: str | None = None, select: dict[str, str] | None = None,
                       last_duration_s: float | None = None) -> Trace:
    """Read a canonical CSV into a :class:`Trace` (bytes/s and seconds internally).

    ``direction``, ``columns`` and ``select`` do not apply and are ignored.
    """
    path_s = str(path)
    rows = [(n, f) for n, f in ((n, split_fields(s)) for n, s in numbered_lines(path))
            if any(f)]  # a line of bare commas (spreadsheet export) counts as blank
    if not rows:
        raise InputError("trace file is empty", path_s)
    (header_line, header), rows = rows[0], rows[1:]
    header = [h.lower() for h in header]
    return rows_to_trace(path_s, header, rows, end=end, last_duration_s=last_duration_s,
                         header_line=header_line)
