"""Reader for G-NetTrack Pro CSV logs (the 5G dataset of Raca et al., MMSys 2020).

Columns used: ``Timestamp`` (local wall-clock ``YYYY.MM.DD_HH.MM.SS``), ``DL_bitrate`` and
``UL_bitrate`` (kbit/s), ``PINGAVG`` (ms, or ``-`` when not measured); the others are ignored.
``direction="up"`` (the default) reads ``UL_bitrate``, ``direction="down"`` ``DL_bitrate``.

Timing rule (the logger writes about one row per second, but a second may repeat or be
skipped): timestamps must not decrease. The ``k`` rows that share one second ``s`` are kept in
file order and spread evenly over that second, at ``s + j/k`` (j = 0..k-1), so every row is
one sample. Each sample holds until the next one, so a skipped second extends the sample
before it; the last row holds to the end of its second (``1/k`` s) unless
``last_duration_s`` says otherwise. Times are relative to the first row.

RTT rule: ``PINGAVG`` where measured; a ``-`` row takes the last measured value before it,
and rows before the first measurement take the first measured value. A file without any
measurement gives a trace without RTT.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from models.errors import InputError
from models.units import BYTES_PER_S_PER_KBPS
from sim.traces.textio import check_some_capacity, parse_number, read_table
from sim.traces.trace import Trace

TIME_FORMAT = "%Y.%m.%d_%H.%M.%S"
MISSING = ("-", "")


def _direction_column(direction: str, path: str) -> str:
    if direction == "up":
        return "UL_bitrate"
    if direction == "down":
        return "DL_bitrate"
    raise InputError(f"direction must be 'up' or 'down', not {direction!r}", path)


def read_gnettrack(path: str | Path, *, end: str = "loop", direction: str = "up",
                   columns: str | None = None, select: dict[str, str] | None = None,
                   last_duration_s: float | None = None) -> Trace:
    """Read a G-NetTrack CSV into a :class:`Trace` (kbit/s -> bytes/s, ms -> s)."""
    ps = str(path)
    rate_name = _direction_column(direction, ps)
    table = read_table(path, strict_width=False)
    need = ["Timestamp", rate_name]
    missing = [c for c in need if table.col(c) is None]
    if missing:
        raise InputError(f"G-NetTrack header lacks {', '.join(missing)}", ps, table.header_line)
    if not table.rows:
        raise InputError("trace has a header but no samples", ps)
    ti, ci, pi = table.col("Timestamp"), table.col(rate_name), table.col("PINGAVG")
    secs: list[int] = []
    caps: list[float] = []
    pings: list[float | None] = []
    lines: list[int] = []
    for n, row in table.rows:
        try:
            dt = datetime.strptime(row[ti], TIME_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            raise InputError(f"Timestamp {row[ti]!r} is not YYYY.MM.DD_HH.MM.SS", ps, n) from None
        s = int(dt.timestamp())
        if secs and s < secs[-1]:
            raise InputError(f"decreasing timestamp {row[ti]}: times must not decrease", ps, n)
        secs.append(s)
        caps.append(parse_number(row[ci], rate_name, ps, n) * BYTES_PER_S_PER_KBPS)
        ping = None
        if pi is not None and row[pi] not in MISSING:
            ping = parse_number(row[pi], "PINGAVG", ps, n) / 1e3
        pings.append(ping)
        lines.append(n)
    check_some_capacity(caps, lines, ps)
    times: list[float] = []
    i = 0
    while i < len(secs):
        j = i
        while j < len(secs) and secs[j] == secs[i]:
            j += 1
        k = j - i
        times.extend(secs[i] - secs[0] + m / k for m in range(k))
        i = j
    if last_duration_s is None:
        last_duration_s = 1.0 / k
    measured = [p for p in pings if p is not None]
    rtt = None
    if measured:
        rtt, last = [], measured[0]
        for p in pings:
            last = p if p is not None else last
            rtt.append(last)
    return Trace.from_arrays(times, caps, rtt, last_duration_s=last_duration_s, end=end,
                             name=ps)
