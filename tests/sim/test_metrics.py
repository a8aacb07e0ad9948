"""Summary statistics against known values."""

from __future__ import annotations

import pytest

from sim.metrics import wilson_interval


def test_wilson_known_values():
    # Wilson 95% for 59/100 (the published static-INT8 hit rate, if n were 100).
    lo, hi = wilson_interval(59, 100)
    assert lo == pytest.approx(0.4920, abs=1e-4) and hi == pytest.approx(0.6813, abs=1e-4)
    assert wilson_interval(0, 50) == (0.0, pytest.approx(0.0713, abs=1e-4))
    lo, hi = wilson_interval(50, 50)
    assert hi == 1.0 and lo == pytest.approx(0.9287, abs=1e-4)


def test_wilson_matches_scipy():
    from scipy.stats import binomtest

    for k, n in [(3, 10), (170, 200), (1, 1000)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == (pytest.approx(ci.low), pytest.approx(ci.high))
