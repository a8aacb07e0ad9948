"""The encoded-size table: sizes from every record, codec seconds from one CPU only, and the
shipped CSV is exactly what ``python -m models.kvsize table`` makes of the shipped records."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from models.errors import InputError
from models.kvsize import COLUMNS, TIMING_HOST, cmd_table, markdown, table_rows

REPO = Path(__file__).resolve().parents[2]
RECORDS = REPO / "models" / "data" / "measurements" / "kvsize"
TABLE = REPO / "models" / "data" / "kv_bits_entropy.csv"


def _rec(i: int, entropy_bytes: int, enc_s: float, host: str | None) -> dict:
    layer = {"elements": [1000] * 4, "raw": [1000] * 4, "zstd": [900] * 4,
             "entropy": [entropy_bytes] * 4,
             "seconds": {"zstd_enc": enc_s, "zstd_dec": enc_s, "entropy_enc": enc_s,
                         "entropy_dec": enc_s}}
    r = {"id": f"q{i}", "model": "m", "source": "squad", "tokens": 100 + i, "layers": 4,
         "int8": layer, "int4": {**layer, "raw": [500] * 4}}
    if host is not None:
        r["codec_host"] = host
    return r


def test_sizes_from_every_record_seconds_from_the_timing_host_only():
    recs = [_rec(0, 900, 1.0, None),            # before codec_host was recorded: the CPU
            _rec(1, 800, 3.0, TIMING_HOST),
            _rec(2, 700, 100.0, "x86_64 CPU (16 cores)")]  # a GPU host's CPU: not timed
    rows = {(r["precision"], r["layer_group"], r["codec"]): r for r in table_rows(recs)}
    e = rows["int8", "all", "entropy"]
    assert e["n"] == 3
    assert e["bits_per_element"] == pytest.approx(8 * (900 + 800 + 700) / 3 / 1000)
    assert e["encode_s"] == pytest.approx(2.0) and e["timed_n"] == 2
    assert rows["int8", "all", "raw"]["bits_per_element"] == 8
    assert rows["int8", "L0-0", "entropy"]["encode_s"] == ""  # per group: sizes only
    with pytest.raises(InputError, match="timed"):
        table_rows([_rec(2, 700, 1.0, "elsewhere")])


def test_shipped_table_is_what_the_shipped_records_give(tmp_path):
    files = sorted(RECORDS.glob("*.jsonl"))
    if not files or not TABLE.exists():
        pytest.skip("no encoded-size records shipped")

    class Args:
        inputs, out, timing_host, markdown = files, tmp_path / "t.csv", TIMING_HOST, False

    cmd_table(Args)
    assert (tmp_path / "t.csv").read_text() == TABLE.read_text()
    rows = list(csv.DictReader(line for line in open(TABLE) if not line.startswith("#")))
    assert tuple(rows[0]) == COLUMNS
    n = {(r["model"], r["source"]): int(r["n"]) for r in rows}
    for model in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        assert n[model, "squad"] >= 200  # the ">= 200 SQuAD contexts"
    assert {int(r["context_tokens"]) for r in rows if r["source"] == "wikitext"
            and r["model"] == "qwen2.5-coder-1.5b"} == {512, 1024, 2048, 4096}
    for r in rows:
        if r["layer_group"] == "all" and r["codec"] != "raw":
            assert float(r["encode_s"]) > 0 and not math.isnan(float(r["decode_s"]))
    md = markdown(table_rows([json.loads(x) for f in files
                              for x in f.read_text().splitlines()]))
    assert md.count("\n| qwen2.5-coder-1.5b | wikitext | 4096 |") == 2
