"""Reader for NYU-METS LTE traces (Mei et al., PAM 2019): headerless ``value,unit`` rows.

One row per second (row i holds on [i, i+1) s; the last row holds 1 s unless
``last_duration_s`` says otherwise). The unit may change from row to row. Accepted units
(case-insensitive), as iPerf writes them: ``bits/sec``, ``Kbits/sec``, ``Mbits/sec``,
``Gbits/sec`` (decimal: 1 Kbit = 1000 bits) and ``Bytes/sec``, ``KBytes/sec``,
``MBytes/sec``, ``GBytes/sec`` (binary, as iPerf prints bytes: 1 KByte = 1024 bytes).
Fields are separated by a comma (or whitespace). Values are iPerf TCP throughput measured
at the server with the phone as client; ``direction`` is ignored.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from models.units import BITS_PER_BYTE, BYTES_PER_S_PER_KBPS, BYTES_PER_S_PER_MBPS
from sim.traces.textio import check_some_capacity, numbered_lines, parse_number, split_fields
from sim.traces.trace import Trace

UNITS = {  # multiplier to bytes/s
    "bits/sec": 1 / BITS_PER_BYTE,
    "kbits/sec": BYTES_PER_S_PER_KBPS,
    "mbits/sec": BYTES_PER_S_PER_MBPS,
    "gbits/sec": 1e3 * BYTES_PER_S_PER_MBPS,  # exactly 1e9 / 8
    "bytes/sec": 1.0,
    "kbytes/sec": 1024.0,
    "mbytes/sec": 1024.0**2,
    "gbytes/sec": 1024.0**3,
}
UNIT_NAMES = ("bits/sec", "Kbits/sec", "Mbits/sec", "Gbits/sec", "Bytes/sec", "KBytes/sec",
              "MBytes/sec", "GBytes/sec")


def read_nyumets(path: str | Path, *, end: str = "loop", direction: str = "up",
                 columns: str | None = None, select: dict[str, str] | None = None,
                 last_duration_s: float | None = None) -> Trace:
    """Read an NYU-METS ``value,unit`` CSV into a :class:`Trace` (1 s per row, bytes/s)."""
    ps = str(path)
    caps, lines = [], []
    for n, s in numbered_lines(path):
        f = split_fields(s, "," if "," in s else None)
        if len(f) < 2:
            raise InputError("expected 'value,unit' (e.g. 5.2,Mbits/sec)", ps, n)
        mul = UNITS.get(f[1].lower())
        if mul is None:
            raise InputError(f"unknown unit {f[1]!r}; accepted: {', '.join(UNIT_NAMES)}", ps, n)
        caps.append(parse_number(f[0], "throughput", ps, n) * mul)
        lines.append(n)
    check_some_capacity(caps, lines, ps)
    last = 1.0 if last_duration_s is None else last_duration_s
    return Trace.from_arrays(range(len(caps)), caps, last_duration_s=last, end=end, name=ps)
