"""Network traces: the canonical :class:`Trace` and the readers that produce it.

Formats (``read_trace(fmt=...)``, the CLI's ``--format``; the keys of :data:`READERS`):

- ``canonical``: CSV with a unit-carrying header, ``time_s|time_ms`` +
  ``bandwidth_mbps|bandwidth_kbps|bandwidth_bps|bytes_per_s`` [+ ``rtt_ms|rtt_s``]
  (:mod:`~sim.traces.canonical`; ``csv`` is accepted as an alias).
- ``headerless``: numeric CSV without header, columns named by ``columns=`` / ``--columns``
  with the same vocabulary (:mod:`~sim.traces.headerless`).
- ``cooked``: Pensieve ``time_s  Mbps`` (:mod:`~sim.traces.cooked`).
- ``mahimahi``: mm-link ms delivery timestamps, 1500 B each (:mod:`~sim.traces.mahimahi`).
- ``sabre``: Sabre JSON periods (:mod:`~sim.traces.sabre`).
- ``gnettrack``: G-NetTrack CSV (5G dataset of Raca et al.); ``direction`` picks UL/DL
  (:mod:`~sim.traces.gnettrack`).
- ``5gophers``: 5Gophers throughput CSVs; ``select`` picks the series
  (:mod:`~sim.traces.fivegophers`).
- ``nyumets``: NYU-METS ``value,unit`` rows, 1/s (:mod:`~sim.traces.nyumets`).

RTT-only files (5Gophers RTT/ping logs) are read with :func:`read_rtt` and merged onto a
capacity trace with :meth:`Trace.with_rtt`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.errors import InputError
from sim.traces.canonical import TIME_COLUMNS, read_canonical_csv
from sim.traces.cooked import read_cooked
from sim.traces.fivegophers import read_5gophers
from sim.traces.gnettrack import read_gnettrack
from sim.traces.headerless import read_headerless
from sim.traces.mahimahi import read_mahimahi
from sim.traces.nyumets import UNITS as NYU_UNITS
from sim.traces.nyumets import read_nyumets
from sim.traces.rtt import read_rtt
from sim.traces.sabre import read_sabre
from sim.traces.textio import first_data_line, read_text, split_fields
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

__all__ = ["BYTES_PER_S_PER_MBPS", "READERS", "Trace", "detect_format", "read_rtt",
           "read_trace"]

READERS: dict[str, Callable[..., Trace]] = {
    "canonical": read_canonical_csv,
    "headerless": read_headerless,
    "cooked": read_cooked,
    "mahimahi": read_mahimahi,
    "sabre": read_sabre,
    "gnettrack": read_gnettrack,
    "5gophers": read_5gophers,
    "nyumets": read_nyumets,
}
ALIASES = {"csv": "canonical"}


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def detect_format(path: str | Path) -> str:
    """Guess a trace's format (a :data:`READERS` key) from its first data line.

    Content decides; the extension is a hint only for ``.json`` (sabre). Rules: a JSON list
    is sabre; a header with ``DL_bitrate``/``UL_bitrate`` is gnettrack; a header with a
    canonical time column is canonical; a header with ``throughput_mbps`` (or
    ``<Carrier>_throughput_mbps``) or an RTT column (``rtt_in_ms``, ``rtt_ms`` with
    ``carrier``) is 5gophers; any other header is canonical (whose reader lists the
    accepted columns). Headerless: one integer column is mahimahi; a number followed by a
    unit like ``Mbits/sec`` is nyumets; two or more whitespace-separated numbers are cooked;
    comma-separated numbers raise InputError asking for ``--columns`` (format headerless).
    """
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        return "sabre"
    line, first = first_data_line(p, text)
    sep = "," if "," in first else None
    fields = split_fields(first, sep)
    numeric = [_is_number(f) for f in fields]
    if not numeric[0]:
        lower = [f.lower() for f in fields]
        if "dl_bitrate" in lower or "ul_bitrate" in lower:
            return "gnettrack"
        if any(c in lower for c in TIME_COLUMNS):
            return "canonical"
        if any(f == "throughput_mbps" or f.endswith("_throughput_mbps") for f in lower):
            return "5gophers"
        if "rtt_in_ms" in lower or ("rtt_ms" in lower and "carrier" in lower):
            return "5gophers"
        return "canonical"
    if len(fields) >= 2 and fields[1].lower() in NYU_UNITS:
        return "nyumets"
    if len(fields) == 1:
        return "mahimahi"
    if sep is None and all(numeric[:2]):
        return "cooked"
    raise InputError("headerless comma-separated numbers: name the columns with --columns "
                     "(e.g. --columns time_s,bandwidth_mbps; format 'headerless'), or add a "
                     "header line such as 'time_s,bandwidth_mbps'", str(p), line)


def read_trace(path: str | Path, *, end: str = "loop", fmt: str | None = None,
               direction: str = "up", columns: str | None = None,
               select: dict[str, str] | None = None, last_duration_s: float | None = None,
               cooked_convention: str = "pensieve") -> Trace:
    """Read a trace file into a canonical :class:`Trace`.

    ``fmt`` (a :data:`READERS` key) overrides auto-detection (:func:`detect_format`); with
    ``columns`` and no ``fmt`` the file is read as ``headerless``. ``direction`` ("up" or
    "down") picks the uplink or downlink where a source has both (G-NetTrack); ``columns``
    names a headerless CSV's columns (e.g. ``"time_s,bytes_per_s"``); ``select`` filters rows
    of multi-series files (e.g. ``{"carrier": "VERIZON", "num_tcp_conn": "1"}`` for
    5Gophers). ``last_duration_s``: how long the last sample holds (default: each
    format's own rule, usually the median sampling interval). ``cooked_convention``: how a
    Pensieve cooked file is read (``pensieve`` or ``from-timestamp``, :mod:`sim.traces.cooked`).
    """
    if direction not in ("up", "down"):
        raise InputError(f"direction must be 'up' or 'down', not {direction!r}")
    if fmt is None:
        fmt = "headerless" if columns else detect_format(path)
    fmt = ALIASES.get(fmt, fmt)
    if fmt not in READERS:
        raise InputError(f"unknown trace format {fmt!r}; known: {', '.join(READERS)}")
    if last_duration_s is not None and not (0 < last_duration_s < float("inf")):
        raise InputError(f"last duration must be a positive number of s, not {last_duration_s}")
    extra = {"convention": cooked_convention} if fmt == "cooked" else {}
    return READERS[fmt](path, end=end, direction=direction, columns=columns, select=select,
                        last_duration_s=last_duration_s, **extra)
