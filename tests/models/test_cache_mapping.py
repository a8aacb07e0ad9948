"""Issue 19's defects: how the simulator reads the measured cache, the selection names, the
provenance, the question's precision and the README's claims (each test failed before)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.errors import InputError
from models.operating import OperatingPoint as Op
from models.quality import QualityCache
from sim.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "models" / "data" / "measurements" / "qwen-coder-pair"
README = (REPO / "models" / "README.md").read_text()


@pytest.fixture(scope="module")
def measured():
    return QualityCache.load("measured").for_pair("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def test_scout_with_snapkv_is_derived_not_the_clouds_own_row(measured):
    for r, cloud_own, gap in ((0.75, 0.746694, -0.0336801), (0.5, 0.737917, -0.0401262),
                              (0.25, 0.662659, -0.0548534)):
        v = measured.quality(Op("scout", "bf16", r, "snapkv"))
        assert v.source == "derived" and v.rule.startswith("R7"), v  # was measured, R1
        assert v.mean == pytest.approx(cloud_own + gap)  # was the cloud's own 0.738 at 50%


def test_scout_with_random_is_derived(measured):
    v = measured.quality(Op("scout", "bf16", 0.5, "random"))
    assert v.source == "derived" and v.rule.startswith("R7-random")
    assert v.mean == pytest.approx(0.427218)


def test_scout_q2c_rows_stay_measured(measured):
    v = measured.quality(Op("scout", "bf16", 0.5, "q2c"))
    assert (v.mean, v.source, v.rule) == (0.501691, "measured", "R1")


@pytest.mark.parametrize("selection", ["q2c", "snapkv", "random"])
def test_scout_at_full_retention_is_cloud_text(measured, selection):
    v = measured.quality(Op("scout", "bf16", 1.0, selection))
    assert v.mean == pytest.approx(0.746594)  # was 0.773 (R5 extrapolation) for q2c
    assert v.source == "measured" and v.rule.startswith("R6")


def test_unknown_selection_is_rejected(measured):
    with pytest.raises(InputError, match="--selection must be one of q2c, q2c-mean, snapkv"):
        Scenario(selection="bogus").validate()
    with pytest.raises(InputError, match="unknown selection 'bogus'"):
        measured.quality(Op("scout", "bf16", 0.5, "bogus"))


def test_unknown_selection_cli_is_one_error_line():
    out = subprocess.run([sys.executable, "-m", "sim.run", "--selection", "bogus",
                          "--requests", "2"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --selection")
    assert "snapkv" in lines[0] and "'bogus'" in lines[0]


def test_provenance_names_every_harness_version():
    from models.summarize import harness_versions, load_lines

    recs = load_lines(RUN / "questions.jsonl")
    assert harness_versions(recs) == "v1.1 (190 records), v1.0 (10 records)"
    assert harness_versions([{"harness_version": "2.0"}]) == "v2.0 (1 record)"
    with open(REPO / "models" / "data" / "quality_measured.csv") as f:
        provs = {row["provenance"] for row in csv.DictReader(f)}
    assert all("models.measure v1.1 (190 records), v1.0 (10 records)" in p for p in provs)


def test_question_kv_is_sent_at_full_precision():
    from models.payload import kv_bytes_per_token, kv_payload_breakdown

    base = kv_payload_breakdown("qwen2.5-7b", 170, "int8", 0.5, 0)
    with_q = kv_payload_breakdown("qwen2.5-7b", 170, "int8", 0.5, 12)
    assert with_q.total_bytes - base.total_bytes == 12 * kv_bytes_per_token("qwen2.5-7b", "bf16")
    assert with_q.metadata_bytes == base.metadata_bytes  # no metadata for the question
    assert "question's KV is sent at full precision" in README


def test_tost_matches_the_definition():
    from models.equivalence import tost_paired

    rng = np.random.default_rng(1)
    d = rng.normal(0.01, 0.05, 80)
    t = tost_paired(d, 0.05)
    from scipy import stats
    p = max(stats.ttest_1samp(d, -0.05, alternative="greater").pvalue,
            stats.ttest_1samp(d, 0.05, alternative="less").pvalue)
    assert t.p == pytest.approx(p)
    assert tost_paired(d, t.smallest_margin * 1.001).p < 0.05 < tost_paired(
        d, t.smallest_margin * 0.999).p
    assert tost_paired(np.full(5, 0.2), 0.05).p == 1.0


def test_readme_claims_match_the_data():
    sens = json.loads((RUN / "sensitivity.json").read_text())
    scout = np.argsort(-np.array(sens["scout"]["sensitivity"]))
    assert list(scout[:3]) == [8, 1, 0]
    assert "for both Qwen models layer 0 dominates" not in README
    assert "layers 8 (0.134) and 1 (0.072)" in README
    assert "INT8 is lossless" not in README and "45.72 -> 47.90 (+4.8%" in README
    stats_rows = list(csv.DictReader(open(RUN / "stats.csv")))
    scout_rows = [r for r in stats_rows if r["comparison"].startswith("scout")]
    assert all(float(r["tost_p"]) > 0.05 for r in scout_rows)  # equivalence not shown
    assert '"as good as' not in README.replace('"as good as" is **not', "")
    assert "holds in direction" not in README
    assert "not run" in README  # layer 0 alone at INT8 was inferred
    pratt = {r["retention"]: float(r["wilcoxon_pratt_p_holm"]) for r in scout_rows}
    assert pratt["0.25"] == pytest.approx(0.0733, abs=5e-4)
