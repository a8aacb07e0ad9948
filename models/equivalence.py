"""Equivalence testing of paired differences: TOST (two one-sided t-tests, Schuirmann 1987).

"As good as" is a claim of equivalence, which a non-significant difference does not show.
TOST rejects "the mean difference lies outside [-margin, +margin]" when both one-sided
t-tests do (``p = max`` of the two); equivalently, when the 90% t-interval of the mean
difference lies inside the margin (alpha = 0.05).

The margin, :data:`EQUIVALENCE_MARGIN_F1` = 0.05 F1 (5 points, ~7% of the measured cloud's
full-context F1 of 0.747): the published scout-vs-cloud-own differences that the review read
as "as good as" are of that size (-0.004, +0.047, +0.059 F1), and it is below the losses the
simulator must tell apart (measured: INT4 -0.19, Q2C vs SnapKV at 50% -0.20 F1), while a
tighter margin would ask n = 200 paired questions for more than they resolve (the
half-width of a 90% interval of one paired difference here is ~0.035-0.045 F1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

EQUIVALENCE_MARGIN_F1 = 0.05


@dataclass(frozen=True)
class Tost:
    """A TOST result: the margin tested, its p-value (< 0.05: equivalent within the margin)
    and the smallest margin the data would accept at alpha 0.05 (the 90% interval's larger
    absolute bound)."""

    margin: float
    p: float
    smallest_margin: float


def tost_paired(d: np.ndarray, margin: float = EQUIVALENCE_MARGIN_F1) -> Tost:
    """TOST of paired differences ``d`` against ``[-margin, +margin]`` (NaNs dropped)."""
    x = np.asarray(d, dtype=float)
    x = x[~np.isnan(x)]
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    if len(x) < 2:
        return Tost(margin, math.nan, math.nan)
    mean = float(x.mean())
    if np.all(x == x[0]):
        inside = abs(mean) < margin
        return Tost(margin, 0.0 if inside else 1.0, abs(mean))
    p_low = float(stats.ttest_1samp(x, -margin, alternative="greater").pvalue)
    p_high = float(stats.ttest_1samp(x, margin, alternative="less").pvalue)
    se = float(np.std(x, ddof=1)) / math.sqrt(len(x))
    h = float(stats.t.ppf(0.95, len(x) - 1)) * se
    return Tost(margin, max(p_low, p_high), max(abs(mean - h), abs(mean + h)))
