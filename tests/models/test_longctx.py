"""Long contexts: distractor construction (``models.longctx``) and the quality cache's
context-length interpolation (``models.quality``). Fast: a character-count tokenizer for
the construction, in-memory rows for the interpolation; the Qwen tokenizer check skips
when the model folder is absent."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import pytest

from models.errors import InputError
from models.operating import OperatingPoint as Op
from models.quality import (
    BASE_CONTEXT_TOKENS,
    COLUMNS,
    QualityCache,
    QualityExtrapolationWarning,
)
from tests.models.test_measure_real import SQUAD

REPO = Path(__file__).resolve().parents[2]
LONG_RUN = REPO / "models" / "data" / "measurements" / "qwen-coder-pair-long"
PAIR = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def chars(text: str) -> int:
    """A stand-in tokenizer: one token per 4 characters."""
    return max(1, len(text) // 4)


@pytest.fixture(scope="module")
def squad():
    if not SQUAD.exists():
        pytest.skip("../shared/qa is absent")
    from models.longctx import load_indexed

    return load_indexed(SQUAD)


# ---------------------------------------------------------------------------- construction
def test_load_indexed_matches_load_squad(squad):
    from models.squad import load_squad

    items, paragraphs = squad
    assert [it.question for it in items] == load_squad(SQUAD)
    assert all(paragraphs[(it.article, it.paragraph)].context == it.question.context
               for it in items[:50])


@pytest.mark.parametrize("target", [1024, 2048])
def test_distractors_are_deterministic_in_band_and_from_other_articles(squad, target):
    from models.longctx import BAND, assemble, build_spec

    items, paragraphs = squad
    slots = set()
    for it in items[:: max(1, len(items) // 12)][:12]:
        spec = build_spec(it, paragraphs, chars, target, seed=3)
        assert spec == build_spec(it, paragraphs, chars, target, seed=3)  # deterministic
        assert (1 - BAND) * target <= spec["context_tokens"] <= (1 + BAND) * target
        q = assemble(spec, it.question, paragraphs)
        assert chars(q.context) == spec["context_tokens"]
        gold_title = paragraphs[(it.article, it.paragraph)].title
        for a, p in spec["distractors"]:
            assert a != it.article and paragraphs[(a, p)].title != gold_title
        assert len({tuple(d) for d in spec["distractors"]}) == len(spec["distractors"])
        # the gold paragraph sits at the recorded slot, the answers where the starts say
        parts = q.context.split("\n\n")
        assert parts[spec["gold_position"]] == it.question.context
        assert spec["paragraphs"] == len(spec["distractors"]) + 1
        for text, start in zip(it.question.answers, q.answer_starts, strict=True):
            assert q.context[start:start + len(text)] == text
        slots.add(spec["gold_position"])
    assert len(slots) > 2  # the gold position varies
    other = build_spec(items[0], paragraphs, chars, target, seed=4)
    assert other["distractors"] != build_spec(items[0], paragraphs, chars, target,
                                              seed=3)["distractors"]


def test_committed_specs_rebuild_with_the_scout_tokenizer(squad):
    """The shipped contexts-L.jsonl are what ``build`` makes (first 5 of each length)."""
    folder = Path(os.environ.get("SCOUTSIM_MODELS_DIR", "/work/models_cache")) \
        / "qwen2.5-coder-0.5b-fp32"
    if not (folder / "tokenizer.json").exists():
        pytest.skip(f"{folder} is absent (python -m models.kit fetch qwen-coder-pair --dir "
                    "/work/models_cache --fp32-copy, or SCOUTSIM_MODELS_DIR)")
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from models.longctx import build_spec, read_specs

    tok = AutoTokenizer.from_pretrained(folder)

    def token_len(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    items, paragraphs = squad
    by_id = {it.question.id: it for it in items}
    for target in (1024, 2048):
        for spec in read_specs(LONG_RUN, target)[:5]:
            assert build_spec(by_id[spec["id"]], paragraphs, token_len, target,
                              spec["seed"]) == spec


# ---------------------------------------------------------------------------- interpolation
def _row(mode, precision, retention, selection, mean, tokens=None, n=100, metric="f1"):
    return {"edge_model": PAIR[0], "cloud_model": PAIR[1], "task": "squad-v1.1",
            "mode": mode, "precision": precision, "retention": retention,
            "selection": selection, "metric": metric, "mean": mean, "ci_low": None,
            "ci_high": None, "n": n, "source": "measured", "provenance": "test",
            "context_tokens": tokens}


def _rows(scale: float, tokens):
    return [_row("cloud-text", "bf16", 1.0, "none", 0.8 * scale, tokens),
            _row("edge-local", "bf16", 1.0, "none", 0.6 * scale, tokens),
            _row("kv", "bf16", 1.0, "none", 0.6 * scale, tokens),
            _row("kv", "int8", 1.0, "none", 0.6 * scale, tokens),
            _row("kv", "bf16", 0.5, "q2c", 0.4 * scale, tokens),
            _row("scout", "bf16", 0.5, "q2c", 0.5 * scale, tokens),
            _row("cloud-own", "bf16", 0.5, "q2c", 0.55 * scale, tokens)]


@pytest.fixture
def pq():
    base = _rows(1.0, None)
    long = _rows(0.5, 1024.0) + _rows(0.25, 2048.0)
    return QualityCache(base, "<test>", long).for_pair(*PAIR)


def test_measured_lengths_are_returned_as_measured(pq):
    op = Op("cloud-text")
    assert pq.quality(op).mean == pq.quality(op, BASE_CONTEXT_TOKENS).mean == 0.8
    assert pq.quality(op, 100).rule == "R1"
    v = pq.quality(op, 1024)
    assert (v.mean, v.source, v.rule) == (0.4, "measured", "R1@1024")
    assert pq.quality(op, 2048).mean == 0.2
    assert pq.quality(Op("scout", retention=0.5), 2048).mean == pytest.approx(0.125)


def test_between_lengths_is_interpolated_in_log_tokens_and_flagged(pq):
    import math

    v = pq.quality(Op("cloud-text"), 400)
    w = (math.log(400) - math.log(170)) / (math.log(1024) - math.log(170))
    assert v.mean == pytest.approx(0.8 + w * (0.4 - 0.8))
    assert v.source == "derived" and v.rule.startswith("L170-1024")
    v = pq.quality(Op("kv", "int8"), 1448)
    assert v.source == "derived" and v.rule.startswith("L1024-2048")
    assert v.mean == pytest.approx(0.3 + 0.5 * (0.15 - 0.3), rel=1e-3)  # 1448 ~ sqrt(1024 x 2048)


def test_beyond_the_longest_length_is_clamped_with_a_warning(pq):
    with pytest.warns(QualityExtrapolationWarning, match="beyond the longest measured"):
        v = pq.quality(Op("cloud-text"), 8192)
    assert v.mean == 0.2 and v.source == "derived" and v.rule.startswith("clamp>2048")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per pair, flagged every time
        assert pq.quality(Op("edge-local"), 4096).rule.startswith("clamp>2048")


def test_no_length_rows_means_no_length_dependence():
    pub = QualityCache.load("published").for_pair("qwen2.5-7b", "qwen2.5-14b")
    for op in (Op("kv", "int8"), Op("scout", retention=0.5), Op("cloud-text")):
        assert pub.quality(op, 4096) == pub.quality(op) == pub.quality(op, 170)


def test_csv_with_a_context_column(tmp_path):
    path = tmp_path / "q.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*COLUMNS, "context_tokens"])
        for r in _rows(1.0, None) + _rows(0.5, 1024.0):
            w.writerow(["" if r[c] is None else r[c] for c in (*COLUMNS, "context_tokens")])
    cache = QualityCache.load(path)
    assert len(cache.rows) == 7 and len(cache.context_rows) == 7
    assert cache.for_pair(*PAIR).quality(Op("cloud-text"), 1024).mean == 0.4
    text = path.read_text().replace(",1024.0\n", ",150\n", 1)
    path.write_text(text)
    with pytest.raises(InputError, match="context_tokens must be above 170"):
        QualityCache.load(path)


def test_170_token_values_unchanged():
    """The measured cache at its own length (and at 170) returns its CSV rows as before,
    with or without the long-context rows."""
    csv_path = REPO / "models" / "data" / "quality_measured.csv"
    rows = {(r["mode"], r["precision"], float(r["retention"]), r["selection"]): float(r["mean"])
            for r in csv.DictReader(open(csv_path)) if r["metric"] == "f1"}
    pq = QualityCache.load("measured").for_pair(*PAIR)
    for (mode, precision, retention, selection), mean in rows.items():
        if mode in ("cloud-kv", "cloud-own"):
            continue  # not simulator modes
        op = Op(mode, precision, retention, selection if selection != "none" else "q2c")
        for tokens in (None, 100, 170):
            v = pq.quality(op, tokens)
            assert v.mean == mean and v.source == "measured", (op, tokens)


def test_shipped_context_cache_matches_its_run():
    """Every measured length row of the shipped sibling CSV is the mean of its run's lines."""
    path = REPO / "models" / "data" / "quality_measured_context.csv"
    if not path.exists():
        pytest.skip("no long-context quality rows shipped")
    from models.longctx import CONDITIONS

    for r in csv.DictReader(open(path)):
        if r["metric"] != "f1":
            continue
        key = CONDITIONS.get((r["mode"], r["precision"], float(r["retention"]), r["selection"]))
        if key is None:
            continue
        recs = [json.loads(x) for f in sorted(LONG_RUN.glob(
            f"questions-{int(float(r['context_tokens']))}*.jsonl"))
            for x in f.read_text().splitlines()]
        recs = list({x["id"]: x for x in recs}.values())
        assert int(r["n"]) == len(recs)
        assert float(r["mean"]) == pytest.approx(
            sum(x["answers"][key]["f1"] for x in recs) / len(recs), abs=1e-5)


def test_gpu_run_answers_equal_the_cpu_check_run():
    """The H200 run (fp32) gave, on the 45 questions a 2-core CPU measured first, the same
    answer text for every condition, the same gold-answer coverage, and selections that
    differ only at near-ties: so where the answers were computed does not matter."""
    cpu_path, gpu_path = LONG_RUN / "cpu-check-1024.jsonl", LONG_RUN / "questions-1024.jsonl"
    if not (cpu_path.exists() and gpu_path.exists()):
        pytest.skip("no 1,024-token CPU check run or GPU run")
    cpu = {r["id"]: r for r in map(json.loads, cpu_path.read_text().splitlines())}
    gpu = {r["id"]: r for r in map(json.loads, gpu_path.read_text().splitlines())}
    both = [i for i in cpu if i in gpu]
    assert len(both) == 45
    assert all("CPU" in cpu[i]["device"] and "H200" in gpu[i]["device"] for i in both)
    for i in both:
        assert cpu[i]["context_tokens"] == gpu[i]["context_tokens"]
        assert cpu[i]["spec"] == gpu[i]["spec"]
        assert cpu[i]["answers"].keys() == gpu[i]["answers"].keys()
        for key, ans in cpu[i]["answers"].items():
            assert ans["text"] == gpu[i]["answers"][key]["text"], (i, key)
            assert ans["f1"] == gpu[i]["answers"][key]["f1"]
        assert cpu[i]["answer_in_topk"] == pytest.approx(gpu[i]["answer_in_topk"])
        for m in ("q2c-last", "snapkv", "q2c-mean"):
            assert cpu[i]["overlap"][m]["0.5"]["overlap"] == pytest.approx(
                gpu[i]["overlap"][m]["0.5"]["overlap"], abs=0.005)  # a near-tie may flip
            assert cpu[i]["overlap"][m]["spearman"] == pytest.approx(
                gpu[i]["overlap"][m]["spearman"], abs=1e-3)
