"""Reader for the 5Gophers v1.0 throughput CSVs (Narayanan et al., WWW 2020).

Every file has a header and one row per second (``seq_num``); values are Mbit/s, downlink
(TCP bulk download; ``direction`` is ignored). Three layouts:

- ``all-carriers_01-throughput.csv``: ``protocol,carrier,num_tcp_conn,server_location,run_num,
  seq_num,throughput_mbps``, many ~60-s runs. ``select`` filters rows by column value
  (names and values case-insensitive), e.g. ``{"carrier": "VERIZON", "num_tcp_conn": "1"}``.
  **Selection rule**: what is left must be one series, i.e. one value each of ``protocol``,
  ``carrier`` and ``num_tcp_conn``, otherwise InputError lists the choices. The runs left
  (several ``server_location`` and ``run_num``) are concatenated in file order.
- ``all-carriers_03-mobility_car-driving-trace-*.csv``: one ``<Carrier>_throughput_mbps``
  column per carrier; ``select={"carrier": "Verizon"}`` picks the column (required when there
  are several).
- ``all-carriers_03-mobility_walking-trace.csv``: one ``throughput_mbps`` column.

Timing rule: **each selected row holds 1 s, in file order** (row i on [i, i+1) s); the
``seq_num`` values only have to increase within a run; gaps in them (a few lost seconds)
are closed up, so the duration is the number of rows. RTT-only files
(``all-carriers_02-rtt.csv``, ``mmwave_04-ping-trace-*.log``) have no capacity: read them
with :func:`sim.traces.rtt.read_rtt` and merge with :meth:`Trace.with_rtt`.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from sim.traces.rtt import RTT_COLUMNS
from sim.traces.textio import (
    Table,
    check_some_capacity,
    parse_number,
    read_table,
    require_single_series,
    select_rows,
)
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

SERIES_KEYS = ("protocol", "carrier", "num_tcp_conn")
RUN_KEYS = ("protocol", "carrier", "num_tcp_conn", "server_location", "run_num")
SUFFIX = "_throughput_mbps"


def _capacity_column(table: Table, select: dict[str, str] | None) -> tuple[int, bool]:
    """(column index, whether ``carrier`` in ``select`` was used to pick it)."""
    per_carrier = {h[: -len(SUFFIX)].lower(): i for i, h in enumerate(table.header)
                   if h.lower().endswith(SUFFIX)}
    if per_carrier:
        names = [table.header[i][: -len(SUFFIX)] for i in per_carrier.values()]
        want = next((v for k, v in (select or {}).items() if k.lower() == "carrier"), None)
        if want is None:
            if len(per_carrier) == 1:
                return next(iter(per_carrier.values())), False
            raise InputError("file has one throughput column per carrier; choose one with "
                             f"select carrier=... (carriers: {', '.join(names)})",
                             table.path, table.header_line)
        if str(want).lower() not in per_carrier:
            raise InputError(f"no throughput column for carrier {want!r} (carriers: "
                             f"{', '.join(names)})", table.path, table.header_line)
        return per_carrier[str(want).lower()], True
    i = table.col("throughput_mbps")
    if i is None:
        if any(table.col(c) is not None for c in RTT_COLUMNS):
            raise InputError("this file has RTT but no capacity (throughput) column: use it "
                             "as an RTT trace (sim.traces.read_rtt, then Trace.with_rtt)",
                             table.path, table.header_line)
        raise InputError("no throughput column (expected throughput_mbps or "
                         "<Carrier>_throughput_mbps)", table.path, table.header_line)
    return i, False


def read_5gophers(path: str | Path, *, end: str = "loop", direction: str = "up",
                  columns: str | None = None, select: dict[str, str] | None = None,
                  last_duration_s: float | None = None) -> Trace:
    """Read a 5Gophers throughput CSV into a :class:`Trace` (Mbit/s -> bytes/s, 1 s/row)."""
    ps = str(path)
    table = read_table(path, strict_width=False)
    ci, by_column = _capacity_column(table, select)
    rows = select_rows(table, select, skip=("carrier",) if by_column else ())
    if not rows:
        raise InputError("trace has a header but no samples", ps)
    require_single_series(table, rows, SERIES_KEYS,
                          "carrier=VERIZON,num_tcp_conn=1")
    si = table.col("seq_num")
    run_idx = [table.col(k) for k in RUN_KEYS if table.col(k) is not None]
    caps, lines = [], []
    prev_run, prev_seq = None, None
    for n, row in rows:
        caps.append(parse_number(row[ci], table.header[ci], ps, n) * BYTES_PER_S_PER_MBPS)
        lines.append(n)
        if si is not None:
            run = tuple(row[i] for i in run_idx)
            seq = parse_number(row[si], "seq_num", ps, n, negative_ok=True)
            if run == prev_run and prev_seq is not None and seq <= prev_seq:
                raise InputError(f"seq_num {row[si]} does not increase within the run "
                                 f"(previous {prev_seq:g})", ps, n)
            prev_run, prev_seq = run, seq
    check_some_capacity(caps, lines, ps)
    last = 1.0 if last_duration_s is None else last_duration_s
    return Trace.from_arrays(range(len(caps)), caps, last_duration_s=last, end=end, name=ps)
