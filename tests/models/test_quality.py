"""Quality cache: published rows come back as published; gaps are derived and flagged."""

from __future__ import annotations

import pytest

from models.errors import InputError
from models.operating import OperatingPoint as Op
from models.quality import QualityCache


@pytest.fixture(scope="module")
def pq():
    return QualityCache.load("published").for_pair("qwen2.5-7b", "qwen2.5-14b")


def test_published_values_are_returned_as_published(pq):
    v = pq.quality(Op("kv", "bf16", 0.5))
    assert (v.mean, v.source, v.n, v.rule) == (0.541, "published", 200, "R1")
    assert pq.quality(Op("kv", "bf16", 0.25, "snapkv")).mean == 0.366


def test_quantisation_ratios_reproduce_the_table(pq):
    bf16 = pq.quality(Op("kv", "bf16")).mean
    for precision, rel in [("int8", 0.994), ("int4", 0.687), ("mixed", 0.936)]:
        v = pq.quality(Op("kv", precision))
        assert v.mean / bf16 == pytest.approx(rel)
        assert v.source == "derived" and v.rule.startswith("R3")


def test_derivations_are_flagged(pq):
    full = pq.quality(Op("kv", "bf16", 1.0))
    assert full.source == "derived" and full.rule.startswith("R5")
    assert full.mean == pytest.approx(0.608 + (0.608 - 0.541))
    mid = pq.quality(Op("kv", "bf16", 0.6))
    assert mid.rule.startswith("R2") and 0.541 < mid.mean < 0.608
    scout = pq.quality(Op("scout", retention=0.5))
    assert scout.source == "assumed"  # rests on the assumed cloud-text row
    own = 0.809 * 0.541 / full.mean
    assert scout.mean == pytest.approx(own + 0.047)


def test_unknown_pair_is_a_clear_error():
    with pytest.raises(InputError, match="no quality rows for edge qwen2.5-3b"):
        QualityCache.load("published").for_pair("qwen2.5-3b", "qwen2.5-14b")


def test_malformed_cache(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=f"{p}:1: quality cache header"):
        QualityCache.load(p)
