"""Reader for RTT-only traces (no capacity), to merge onto a capacity trace.

Accepted: a CSV with a header holding one RTT column, ``rtt_ms``, ``rtt_in_ms`` (both ms) or
``rtt_s``. With a canonical time column (``time_s``/``time_ms``) the probes are at those times;
otherwise there is **one probe per second** in file order (the 5Gophers files:
``all-carriers_02-rtt.csv`` with ``rtt_ms,carrier,server_location`` and
``mmwave_04-ping-trace-*.log``, CSV with ``...,probe_num,rtt_in_ms``). ``select`` filters rows
by column value like the throughput reader; the rows left must be one series (one value of
each of carrier, server_location, protocol, network_type, ue_location, target_server).

Merge the result onto a capacity trace with :meth:`sim.traces.trace.Trace.with_rtt`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.errors import InputError
from sim.traces.textio import (
    check_increasing,
    parse_number,
    read_table,
    require_single_series,
    select_rows,
)

RTT_COLUMNS = {"rtt_ms": 1e-3, "rtt_in_ms": 1e-3, "rtt_s": 1.0}
TIME_COLUMNS = {"time_s": 1.0, "time_ms": 1e-3}
SERIES_KEYS = ("protocol", "carrier", "server_location", "network_type", "ue_location",
               "target_server")


def read_rtt(path: str | Path, select: dict[str, str] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s, rtt_s)`` of an RTT trace; times start at 0 (1 probe/s without a time
    column). Each RTT holds until the next probe."""
    ps = str(path)
    table = read_table(path, strict_width=False)
    found = [(table.col(c), m) for c, m in RTT_COLUMNS.items() if table.col(c) is not None]
    if len(found) != 1:
        what = "no RTT column" if not found else "more than one RTT column"
        raise InputError(f"{what}: expected one of {', '.join(RTT_COLUMNS)} (header was "
                         f"{','.join(table.header)})", ps, table.header_line)
    ri, rmul = found[0]
    tcol = [(table.col(c), m) for c, m in TIME_COLUMNS.items() if table.col(c) is not None]
    rows = select_rows(table, select)
    if not rows:
        raise InputError("RTT trace has a header but no samples", ps)
    require_single_series(table, rows, SERIES_KEYS, "carrier=VERIZON,server_location=US-East")
    rtt = np.array([parse_number(r[ri], table.header[ri], ps, n) * rmul for n, r in rows])
    if tcol:
        ti, tmul = tcol[0]
        raw = [r[ti] for _, r in rows]
        lines = [n for n, _ in rows]
        t = np.array([parse_number(x, table.header[ti], ps, n, negative_ok=True) * tmul
                      for x, n in zip(raw, lines, strict=True)])
        check_increasing(t, lines, raw, ps)
        t = t - t[0]
    else:
        t = np.arange(rtt.size, dtype=float)
    return t, rtt
