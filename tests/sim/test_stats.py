"""Paired statistics against known values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.stats import (
    bonferroni,
    compare_paired,
    holm,
    mcnemar_exact,
    paired_bootstrap_ci,
    wilcoxon_paired,
)


def test_holm_textbook_example():
    # Holm (1979) style example: p = 0.01, 0.04, 0.03, 0.005 -> 0.03, 0.06, 0.06, 0.02
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert bonferroni([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.12, 1.0])


def test_mcnemar_exact_binomial():
    a = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 30, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 30, bool)
    # 10 vs 2 discordant: two-sided binomial p = 2 * P(X <= 2 | n=12, 0.5) = 0.03857
    assert mcnemar_exact(a, b) == pytest.approx(0.0385742, abs=1e-6)
    assert mcnemar_exact(a, a) == 1.0


def test_wilcoxon_matches_scipy_and_handles_ties():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.1, 1, 50), rng.normal(0, 1, 50)
    assert wilcoxon_paired(x, y) == pytest.approx(stats.wilcoxon(x - y).pvalue)
    assert wilcoxon_paired(x, x) == 1.0


def test_bootstrap_ci_covers_the_mean():
    rng = np.random.default_rng(2)
    x = rng.normal(0.3, 1, 400)
    lo, hi = paired_bootstrap_ci(x, np.zeros(400))
    assert lo < x.mean() < hi and hi - lo < 0.3


def test_compare_paired_detects_a_real_difference():
    n = 200
    rec = pd.DataFrame({
        "policy": ["ref"] * n + ["good"] * n + ["same"] * n,
        "request": list(range(n)) * 3,
        "hit": [i % 2 == 0 for i in range(n)] + [True] * n + [i % 2 == 0 for i in range(n)],
        "quality": [0.7] * (3 * n),
    })
    out = compare_paired(rec, "ref").set_index("policy")
    assert out.loc["good", "hit_verdict"] == "better"
    assert out.loc["same", "hit_verdict"] == "no significant difference"
    assert out.loc["same", "hit_p"] == 1.0
