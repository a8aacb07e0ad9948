"""Reader for mahimahi (mm-link) packet-delivery traces.

Format: one integer per line, a timestamp in milliseconds from the trace start; each line is
one opportunity to deliver one 1500-byte packet, and a repeated timestamp means several
opportunities in that millisecond. Timestamps must not decrease.

Conversion (exact at 1-ms resolution): each distinct millisecond ``m`` with ``c`` lines
becomes the segment ``[m, m+1)`` ms at ``c * 1500 / 0.001`` bytes/s (``c`` x 12 Mbit/s);
milliseconds without a line are zero-capacity segments, including ``[0, first)`` when the
first timestamp is not 0. The period is **last timestamp + 1 ms**, so the last millisecond
keeps its full capacity and ``period_bytes = lines x 1500``. (mm-link itself wraps by adding
the last timestamp, so its period is 1 ms shorter and the opportunities of the last and of the
first millisecond fall into the same millisecond at each wrap; the difference in the mean is
below 1e-5 relative for the shipped traces.)

``.up``/``.down`` suffixes are informational: a file is one direction, and ``direction``
is ignored. ``last_duration_s`` is ignored too (the period is fixed by the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.errors import InputError
from sim.traces.textio import numbered_lines, read_text
from sim.traces.trace import Trace

PACKET_BYTES = 1500
MS = 1e-3


def _bad_line(path: str, lines: list[tuple[int, str]]) -> InputError:
    """Slow path: locate the first line that is not a non-negative integer."""
    for n, s in lines:
        try:
            v = int(s)
        except ValueError:
            what = "several values on one line" if len(s.split()) > 1 else "not an integer"
            return InputError(f"mahimahi timestamp {s!r}: {what} (expected one integer "
                              "millisecond per line)", path, n)
        if v < 0:
            return InputError(f"negative mahimahi timestamp {s}", path, n)
    return InputError("cannot parse mahimahi timestamps", path)


def read_mahimahi_ms(path: str | Path) -> np.ndarray:
    """The delivery-opportunity timestamps (int64 ms, validated non-decreasing).

    Fast path: a file of bare integer lines is converted in one numpy call. Anything else
    (comments, blank lines, bad values) goes through :func:`numbered_lines`.
    """
    ps = str(path)
    text = read_text(path)
    raw = text.split("\n")
    if raw[-1] == "":
        raw.pop()
    try:
        ms = np.array(raw, dtype=np.int64)
        lines = None
    except (ValueError, OverflowError):
        lines = numbered_lines(path, text)
        try:
            ms = np.array([s for _, s in lines], dtype=np.int64)
        except (ValueError, OverflowError):
            raise _bad_line(ps, lines) from None

    def at(i: int) -> tuple[int, str]:
        return lines[i] if lines is not None else (i + 1, raw[i].strip())

    if ms.min() < 0:
        n, s = at(int(np.argmax(ms < 0)))
        raise InputError(f"negative mahimahi timestamp {s}", ps, n)
    down = np.flatnonzero(np.diff(ms) < 0)
    if down.size:
        n, s = at(int(down[0]) + 1)
        raise InputError(f"decreasing timestamp {s} (after {at(int(down[0]))[1]}): mahimahi "
                         "timestamps must not decrease", ps, n)
    return ms


def read_mahimahi(path: str | Path, *, end: str = "loop", direction: str = "up",
                  columns: str | None = None, select: dict[str, str] | None = None,
                  last_duration_s: float | None = None) -> Trace:
    """Read a mahimahi trace into the exact 1-ms capacity staircase (bytes/s)."""
    ms = read_mahimahi_ms(path)
    first = np.flatnonzero(np.r_[True, ms[1:] != ms[:-1]])
    uniq = ms[first]
    counts = np.diff(np.append(first, ms.size))
    gaps = uniq[:-1][uniq[1:] > uniq[:-1] + 1] + 1  # first empty ms after a busy one
    lead = [0] if uniq[0] > 0 else []
    seg_ms = np.concatenate((uniq, gaps, np.array(lead, dtype=np.int64)))
    seg_cap = np.concatenate((counts * (PACKET_BYTES / MS), np.zeros(gaps.size + len(lead))))
    order = np.argsort(seg_ms, kind="stable")
    return Trace.from_arrays(seg_ms[order] * MS, seg_cap[order], last_duration_s=MS,
                             end=end, name=str(path))
