"""experiments.stats against published and hand-computed values (no statsmodels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

import sim.metrics
import sim.stats
from experiments import stats


def test_reexports_are_the_sim_implementations():
    assert stats.wilson_interval is sim.metrics.wilson_interval
    assert stats.mean_interval is sim.metrics.mean_interval
    for name in ("mcnemar_exact", "wilcoxon_paired", "paired_bootstrap_ci", "holm",
                 "bonferroni", "compare_paired"):
        assert getattr(stats, name) is getattr(sim.stats, name)


@pytest.mark.parametrize("x,n,lo,hi", [
    # Newcombe (1998), Stat Med 17:857, Table I, method 3 (Wilson score, no correction)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_newcombe_examples(x, n, lo, hi):
    got = stats.wilson_interval(x, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)
    a_lo, a_hi = stats.wilson_arrays([x], [n])
    assert (a_lo[0], a_hi[0]) == got


def test_paired_t_student_sleep_data():
    # Cushny & Peebles via Student (1908), R's sleep data: t = 4.0621, df = 9,
    # p = 0.002833, 95% CI of the mean difference [0.7001142, 2.4598858]
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    r = stats.paired_t(g2, g1)
    assert r.mean_diff == pytest.approx(1.58)
    assert r.t == pytest.approx(4.0621, abs=5e-5) and r.df == 9
    assert r.p == pytest.approx(0.002833, abs=5e-7)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.7001142, 2.4598858), abs=1e-7)
    assert r.p == pytest.approx(sps.ttest_rel(g2, g1).pvalue, rel=1e-12)
    assert stats.paired_t([1, 2, 3], [1, 2, 3]).p == 1.0
    assert stats.paired_t([2, 3, 4], [1, 2, 3]).p == 0.0


def test_mcnemar_and_wilcoxon_hand_computed():
    # 1 vs 9 discordant pairs: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    a = np.array([1] * 1 + [0] * 9 + [1] * 5, bool)
    b = np.array([0] * 1 + [1] * 9 + [1] * 5, bool)
    assert stats.mcnemar_exact(a, b) == pytest.approx(22 / 1024, rel=1e-12)
    # all five differences positive, exact signed-rank p = 2 / 2^5
    assert stats.wilcoxon_paired([1, 2, 3, 4, 5], [0] * 5) == pytest.approx(0.0625)


def test_holm_bonferroni_and_the_published_scout_gap():
    # hand computed: sorted 0.005x4, 0.01x3, 0.03x2, 0.04x1 (monotone) -> .02 .03 .06 .06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.bonferroni([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.04, 0.16, 0.12,
                                                                         0.02])
    # published scout-mask gaps: p = 0.883, 0.110, 0.039; none significant after Bonferroni
    adj = stats.bonferroni([0.883, 0.110, 0.039])
    assert adj == pytest.approx([1.0, 0.330, 0.117])
    assert all(p >= 0.05 for p in adj)


def test_bootstrap_ci_agrees_with_t_interval_on_normal_data():
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 1.0, 400)
    y = np.zeros(400)
    lo, hi = stats.paired_bootstrap_ci(x, y, n_boot=4000, seed=2)
    t = stats.paired_t(x, y)
    assert lo < x.mean() < hi
    assert lo == pytest.approx(t.ci_low, abs=0.02) and hi == pytest.approx(t.ci_high, abs=0.02)


def test_mcnemar_sample_size_connor_formula_and_exact_power():
    # psi = 0.3, delta = 0.1, alpha 0.05, power 0.8, by hand:
    # (1.959964 * sqrt(0.3) + 0.841621 * sqrt(0.29))^2 / 0.01 = 233.09 -> 234
    n = stats.mcnemar_sample_size(0.2, 0.1)
    za, zb = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    assert (za * math.sqrt(0.3) + zb * math.sqrt(0.29)) ** 2 / 0.01 == pytest.approx(233.09,
                                                                                     abs=0.01)
    assert n == 234
    assert stats.mcnemar_sample_size(0.1, 0.2) == 234  # symmetric in direction
    # the exact binomial test is conservative: its power at n is near, a bit under, 0.8
    power = stats.mcnemar_power(n, 0.2, 0.1)
    assert 0.75 < power < 0.82
    assert stats.mcnemar_power(2 * n, 0.2, 0.1) > 0.95
    # more discordance needs more pairs for the same difference
    assert stats.mcnemar_sample_size(0.25, 0.15) > n
    with pytest.raises(ValueError):
        stats.mcnemar_sample_size(0.1, 0.1)


def test_mean_difference_sample_size_paired_t():
    # G*Power / Cohen: paired t, d_z = 0.5, two-sided alpha 0.05, power 0.8 -> n = 34;
    # d_z = 0.3 -> n = 90. Normal approximation ((1.96 + 0.8416) / 0.5)^2 = 31.4 -> 32.
    assert stats.mean_diff_sample_size(0.5, 1.0) == 34
    assert stats.mean_diff_sample_size(0.3, 1.0) == 90
    assert stats.mean_diff_sample_size(0.5, 1.0, method="normal") == 32
    assert stats.mean_diff_sample_size(-0.05, 0.1) == 34  # scale-free, sign-free
    p34, p33 = stats.mean_diff_power(34, 0.5, 1.0), stats.mean_diff_power(33, 0.5, 1.0)
    assert p33 < 0.8 <= p34
    assert p34 == pytest.approx(0.8078, abs=5e-4)
