"""Robust text input shared by every trace reader.

:func:`read_text` decodes a file as UTF-8 (a leading BOM is dropped) and turns CRLF and CR
line endings into LF. :func:`numbered_lines` then gives the data lines with their 1-based
line numbers in the file: stripped of surrounding spaces, without blank lines and without
comment lines (first non-space character ``#``). :func:`parse_number` reads one value
(Python ``float`` syntax, so ``1e3`` and ``2.5E-1`` work) and rejects NaN and infinities.
Every failure is an :class:`~models.errors.InputError` that names the file and, where there
is one, the line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from models.errors import InputError
from models.files import check_input_file

Line = tuple[int, str]  # (1-based line number in the file, stripped text)


def read_text(path: str | Path) -> str:
    """The whole file as text: UTF-8 with or without BOM, line endings normalised to ``\\n``.

    Raises InputError when the file is missing, unreadable, not UTF-8, or holds only
    whitespace.
    """
    ps = str(path)
    check_input_file(path, "trace file")  # no pipe, device or folder; a size cap
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("trace file not found", ps) from None
    except OSError as err:
        raise InputError(f"cannot read trace: {err}", ps) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InputError(f"cannot read trace: not UTF-8 text ({err.reason} at byte "
                         f"{err.start})", ps, line) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("trace file is empty", ps)
    return text


def is_comment(stripped: str) -> bool:
    return stripped.startswith("#")


def numbered_lines(path: str | Path, text: str | None = None) -> list[Line]:
    """Data lines as ``(line_number, stripped_text)``, skipping blank and ``#`` lines.

    ``text`` may pass the result of :func:`read_text` to avoid reading the file twice.
    Raises InputError when no data line is left.
    """
    if text is None:
        text = read_text(path)
    out = [(n, s) for n, s in enumerate((ln.strip() for ln in text.split("\n")), start=1)
           if s and not s.startswith("#")]
    if not out:
        raise InputError("trace file is empty (only comments or blank lines)", str(path))
    return out


def first_data_line(path: str | Path, text: str) -> Line:
    """The first data line of ``text`` (see :func:`numbered_lines`), without scanning the
    rest of the file."""
    pos, n = 0, 0
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        n += 1
        s = text[pos:end].strip()
        if s and not s.startswith("#"):
            return n, s
        pos = end + 1
    raise InputError("trace file is empty (only comments or blank lines)", str(path))


def blank_comments(text: str) -> str:
    """``text`` with every comment line emptied (line numbers are kept)."""
    if "#" not in text:
        return text
    return "\n".join("" if ln.lstrip().startswith("#") else ln for ln in text.split("\n"))


def split_fields(text: str, sep: str | None = ",") -> list[str]:
    """Split one line into stripped fields: CSV rules for ``sep=","`` (quotes allowed),
    runs of whitespace for ``sep=None``."""
    if sep is None:
        return text.split()
    if '"' in text:
        return [f.strip() for f in next(csv.reader([text], delimiter=sep))]
    return [f.strip() for f in text.split(sep)]


def parse_number(text: str, what: str, path: str, line: int, *,
                 negative_ok: bool = False) -> float:
    """One finite number (``float`` syntax, scientific notation allowed); non-negative
    unless ``negative_ok``."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what} is not a number: {text!r}", path, line) from None
    if not math.isfinite(value):
        raise InputError(f"{what} is {text!r}; expected a finite number", path, line)
    if value < 0 and not negative_ok:
        raise InputError(f"{what} is negative ({text})", path, line)
    return value


def check_increasing(times: Sequence[float], lines: Sequence[int], raw: Sequence[str] | None,
                     path: str) -> None:
    """Raise InputError at the first timestamp that is not larger than the one before."""
    t = np.asarray(times, dtype=float)
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        kind = "duplicate" if t[i] == t[i - 1] else "decreasing"
        shown = raw[i] if raw is not None else repr(float(t[i]))
        raise InputError(f"{kind} timestamp {shown}: times must increase", path, lines[i])


def check_some_capacity(caps: Sequence[float] | np.ndarray, lines: Sequence[int],
                        path: str) -> None:
    """Raise InputError when every capacity is zero (a zero stretch alone is a legal outage)."""
    c = np.asarray(caps, dtype=float)
    if c.size and not np.any(c > 0):
        raise InputError(f"capacity is zero on every sample (lines {lines[0]}-{lines[-1]}); "
                         "a trace needs some capacity", path, lines[0])


# ----------------------------------------------------------------- CSV tables with a header
class Table:
    """A header-first CSV as stripped fields with line numbers (see :func:`read_table`)."""

    def __init__(self, path: str, header_line: int, header: list[str],
                 rows: list[tuple[int, list[str]]]):
        self.path = path
        self.header_line = header_line
        self.header = header  # as written (stripped)
        self.lower = [h.lower() for h in header]
        self.rows = rows

    def col(self, name: str) -> int | None:
        """Index of a column by case-insensitive name, or None."""
        name = name.lower()
        return self.lower.index(name) if name in self.lower else None

    def values(self, name: str) -> list[str]:
        i = self.col(name)
        return [] if i is None else [r[i] for _, r in self.rows]


def read_table(path: str | Path, text: str | None = None, *, strict_width: bool = True) -> Table:
    """Read a comma-separated file whose first data line is a header.

    A row with fewer fields than the header raises InputError (a truncated row);
    ``strict_width`` also rejects rows with more fields.
    """
    ps = str(path)
    lines = numbered_lines(path, text)
    header_line, first = lines[0]
    header = split_fields(first)
    rows = []
    for n, s in lines[1:]:
        f = split_fields(s)
        if len(f) < len(header) or (strict_width and len(f) > len(header)):
            raise InputError(f"expected {len(header)} columns, found {len(f)}", ps, n)
        rows.append((n, f))
    return Table(ps, header_line, header, rows)


def select_rows(table: Table, select: dict[str, str] | None,
                skip: Iterable[str] = ()) -> list[tuple[int, list[str]]]:
    """Rows whose columns equal ``select``'s values (names and values case-insensitive).

    Keys in ``skip`` are handled by the caller. A key that is not a column, or a selection
    that matches no row, raises InputError listing what the file offers.
    """
    rows = table.rows
    skip = {k.lower() for k in skip}
    for key, want in (select or {}).items():
        if key.lower() in skip:
            continue
        i = table.col(key)
        if i is None:
            raise InputError(f"cannot select on {key!r}: not a column of this file "
                             f"(columns: {', '.join(table.header)})", table.path)
        w = str(want).strip().lower()
        kept = [(n, r) for n, r in rows if r[i].lower() == w]
        if not kept:
            seen = sorted({r[i] for _, r in rows})
            raise InputError(f"select {key}={want} matches no row; values here: "
                             f"{', '.join(seen[:20])}", table.path)
        rows = kept
    return rows


def require_single_series(table: Table, rows: list[tuple[int, list[str]]],
                          keys: Sequence[str], example: str) -> None:
    """Raise InputError when ``rows`` mix several values of the series-defining ``keys``."""
    idx = [i for i in (table.col(k) for k in keys) if i is not None]
    mixed = []
    for i in idx:
        vals = sorted({r[i] for _, r in rows})
        if len(vals) > 1:
            mixed.append(f"{table.header[i]}: {', '.join(vals)}")
    if mixed:
        raise InputError("file holds several series; choose one with select (--select), "
                         f"e.g. {example} ({'; '.join(mixed)})", table.path)
