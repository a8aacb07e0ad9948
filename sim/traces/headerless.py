"""Reader for a headerless numeric table whose columns are named by the caller.

``columns="time_s,bytes_per_s"`` (the CLI's ``--columns``) names the file's columns in order
with the canonical unit vocabulary (see :mod:`sim.traces.canonical`): one time column
(``time_s``/``time_ms``), one capacity column (``bandwidth_mbps``, ``bandwidth_kbps``,
``bandwidth_bps``, ``bytes_per_s``) and optionally one RTT column (``rtt_ms``/``rtt_s``).
Name a column ``-`` (or ``skip``) to ignore it; columns past the named ones are ignored.
Fields are separated by commas, or by whitespace on lines without a comma. One direction:
``direction`` is ignored.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from sim.traces.canonical import (
    ALL_COLUMNS,
    CAPACITY_COLUMNS,
    RTT_COLUMNS,
    TIME_COLUMNS,
    rows_to_trace,
)
from sim.traces.textio import numbered_lines, split_fields
from sim.traces.trace import Trace

SKIP_NAMES = ("-", "_", "skip")


def parse_columns(columns: str | None, path: str) -> list[str]:
    """Validate a ``--columns`` value; returns the lower-case names."""
    if not columns or not columns.strip():
        raise InputError("a headerless trace needs its column names: pass --columns, e.g. "
                         "--columns time_s,bandwidth_mbps", path)
    names = [c.strip().lower() for c in columns.split(",")]
    for c in names:
        if c not in ALL_COLUMNS and c not in SKIP_NAMES:
            raise InputError(f"--columns: unknown column name {c!r}; accepted: "
                             f"{', '.join(ALL_COLUMNS)} (or '-' to skip a column)", path)
    for group, what in ((TIME_COLUMNS, "time"), (CAPACITY_COLUMNS, "capacity"),
                        (RTT_COLUMNS, "RTT")):
        n = sum(c in group for c in names)
        if n > 1 or (n == 0 and what != "RTT"):
            how = "at most" if what == "RTT" else "exactly"
            raise InputError(f"--columns {columns!r} must name {how} one {what} column "
                             f"({', '.join(group)})", path)
    return [c if c not in SKIP_NAMES else f"-{i}" for i, c in enumerate(names)]


def read_headerless(path: str | Path, *, end: str = "loop", direction: str = "up",
                    columns: str | None = None, select: dict[str, str] | None = None,
                    last_duration_s: float | None = None) -> Trace:
    """Read a headerless numeric CSV named by ``columns`` into a :class:`Trace`."""
    path_s = str(path)
    names = parse_columns(columns, path_s)
    rows = []
    for n, s in numbered_lines(path):
        f = split_fields(s, "," if "," in s else None)
        if not any(f):
            continue  # a line of bare commas counts as blank
        if len(f) < len(names):
            raise InputError(f"expected {len(names)} columns ({','.join(names)}), "
                             f"found {len(f)}", path_s, n)
        rows.append((n, f[:len(names)]))
    return rows_to_trace(path_s, names, rows, end=end, last_duration_s=last_duration_s,
                         header_line=None)
