"""The timing-row type (models/timing.py ``TimingRow``): one dataclass for one CSV row, read
by the timing table and written by the profiler, byte for byte."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from models.timing import (
    CSV_COLUMNS,
    DEFAULT_TIMINGS_DIR,
    EXTRA_COLUMNS,
    TimingRow,
    TimingTable,
    _blank_comments,
    _read_csv,
)

ROW = TimingRow("qwen2.5-7b", "h200-sxm", "eager", "prefill", 128, 4, 0.0123456789, 5,
                "models/profile.py random-weights bf16", 0.012, 0.0131, 123456789, "bf16")


def _csv_text(rows: list[TimingRow], columns: tuple[str, ...]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row.as_row())
    return buf.getvalue()


def test_row_text_is_the_profilers_format() -> None:
    # the format models/profile.py's Measurement.as_row wrote (times %.6e)
    assert ",".join(ROW.as_row()) == (
        "qwen2.5-7b,h200-sxm,eager,prefill,128,4,1.234568e-02,5,"
        "models/profile.py random-weights bf16,1.200000e-02,1.310000e-02,123456789,bf16")
    core = TimingRow(*[getattr(ROW, c) for c in CSV_COLUMNS])
    assert core.as_row() == ROW.as_row()[: len(CSV_COLUMNS)]  # no extras: core columns only
    assert len(ROW.as_row()) == len(CSV_COLUMNS + EXTRA_COLUMNS)
    with pytest.raises(ValueError, match="some but not all"):
        replace(core, dtype="bf16").as_row()


def test_row_round_trips_through_csv_byte_identically(tmp_path: Path) -> None:
    rows = [ROW, replace(ROW, op="decode", context_tokens=8192, batch=16, time_s=3.3e-2,
                         n_repeats=15, time_min_s=3.1e-2, time_max_s=0.04, dtype="fp32")]
    text = _csv_text(rows, CSV_COLUMNS + EXTRA_COLUMNS)
    path = tmp_path / "t.csv"
    path.write_text("# a provenance comment\n" + text, encoding="utf-8", newline="")
    loaded = _read_csv(path)
    # the reader keeps the schema's columns; the extras stay with the writer
    assert [r.time_min_s for r in loaded] == [None, None]
    assert [r.as_row() for r in loaded] == [r.as_row()[: len(CSV_COLUMNS)] for r in rows]
    # with the extras given back, writing the loaded rows gives the same text
    again = [replace(a, **{c: getattr(b, c) for c in EXTRA_COLUMNS})
             for a, b in zip(loaded, rows, strict=True)]
    assert _csv_text(again, CSV_COLUMNS + EXTRA_COLUMNS) == text
    assert loaded[0] == TimingRow("qwen2.5-7b", "h200-sxm", "eager", "prefill", 128, 4,
                                  1.234568e-02, 5, "models/profile.py random-weights bf16")


@pytest.mark.parametrize("path", sorted(DEFAULT_TIMINGS_DIR.glob("*.csv")),
                         ids=lambda p: p.name)
def test_shipped_tables_are_what_the_row_type_writes(path: Path) -> None:
    """Every data line of a shipped table: its schema columns are exactly the text that
    ``TimingRow.as_row`` writes for the row loaded from it."""
    loaded = TimingTable.load(path).rows
    with path.open(newline="", encoding="utf-8") as f:
        lines = [fields for fields in csv.reader(_blank_comments(f)) if fields]
    header, data = lines[0], lines[1:]
    assert header[: len(CSV_COLUMNS)] == list(CSV_COLUMNS)
    assert len(data) == len(loaded) > 0
    for fields, row in zip(data, loaded, strict=True):
        assert row.as_row() == fields[: len(CSV_COLUMNS)]
