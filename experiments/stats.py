"""Statistics for sweeps and figures, on scipy only.

Re-exported (one implementation each, in ``sim``): :func:`wilson_interval` and
:func:`mean_interval` (``sim.metrics``); :func:`mcnemar_exact`, :func:`wilcoxon_paired`,
:func:`paired_bootstrap_ci`, :func:`holm`, :func:`bonferroni` and :func:`compare_paired`
(``sim.stats``). Added here: the paired t-test with its interval, Wilson intervals over
arrays, and power / sample size.

Formulas (``z_q`` is the standard normal q-quantile, two-sided level ``alpha``, power
``1 - beta``):

- Wilson interval of ``x`` successes in ``n``, ``p = x / n``::

      (p + z^2 / 2n  +-  z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n),  z = z_(1-alpha/2)

- Paired t: ``d = x - y``, ``t = mean(d) / (sd(d) / sqrt(n))`` on ``n - 1`` degrees of
  freedom; CI ``mean(d) +- t_(1-alpha/2, n-1) sd(d) / sqrt(n)``.

- McNemar sample size (Connor 1987, Biometrics 43:207): with discordant-pair probabilities
  ``p10`` (A hits, B misses) and ``p01``, ``psi = p10 + p01``, ``delta = p10 - p01`` (the
  difference of the two hit rates)::

      n = ceil( (z_(1-alpha/2) sqrt(psi) + z_(1-beta) sqrt(psi - delta^2))^2 / delta^2 )

  :func:`mcnemar_power` gives the exact power of the exact (binomial) McNemar test of
  :func:`mcnemar_exact` at a given ``n`` to check it.

- Mean paired difference ``delta`` with SD of the differences ``sd``: normal approximation
  ``n = ceil(((z_(1-alpha/2) + z_(1-beta)) sd / delta)^2)``; paired t (the default): the
  smallest ``n >= 2`` with ``power(n) >= 1 - beta`` where ``power(n) = P(|T| > t_(1-alpha/2,
  n-1))`` and ``T`` is noncentral t with ``n - 1`` degrees of freedom and noncentrality
  ``delta sqrt(n) / sd``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.metrics import mean_interval, wilson_interval
from sim.stats import (
    bonferroni,
    compare_paired,
    holm,
    mcnemar_exact,
    paired_bootstrap_ci,
    wilcoxon_paired,
)

__all__ = [
    "PairedT", "bonferroni", "compare_paired", "holm", "mcnemar_exact", "mcnemar_power",
    "mcnemar_sample_size", "mean_diff_power", "mean_diff_sample_size", "mean_interval",
    "paired_bootstrap_ci", "paired_t", "wilcoxon_paired", "wilson_arrays", "wilson_interval",
]


def wilson_arrays(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson_interval` element-wise over arrays of counts."""
    s = np.atleast_1d(np.asarray(successes))
    m = np.atleast_1d(np.asarray(n))
    pairs = [wilson_interval(int(a), int(b), confidence) for a, b in zip(s, m, strict=True)]
    lo = np.array([p[0] for p in pairs], float)
    hi = np.array([p[1] for p in pairs], float)
    return lo, hi


@dataclass(frozen=True)
class PairedT:
    """Paired t-test of ``x - y``: mean difference, its CI, t, degrees of freedom, p."""

    mean_diff: float
    ci_low: float
    ci_high: float
    t: float
    df: int
    p: float


def paired_t(x, y, confidence: float = 0.95) -> PairedT:
    """Paired t-test (two-sided) and t-interval of ``mean(x - y)``. All differences equal:
    p = 1 when they are zero, 0 otherwise (the interval is then the point)."""
    d = np.asarray(x, float) - np.asarray(y, float)
    d = d[~np.isnan(d)]
    n = d.size
    if n < 2:
        m = float(d.mean()) if n else math.nan
        return PairedT(m, m, m, math.nan, max(n - 1, 0), math.nan)
    m = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        t = 0.0 if m == 0 else math.copysign(math.inf, m)
        return PairedT(m, m, m, t, n - 1, 1.0 if m == 0 else 0.0)
    se = sd / math.sqrt(n)
    t = m / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return PairedT(m, m - h, m + h, float(t), n - 1, p)


def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def _check(alpha: float, power: float) -> None:
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie in (0, 1)")


def mcnemar_sample_size(p10: float, p01: float, *, alpha: float = 0.05,
                        power: float = 0.8) -> int:
    """Pairs needed to detect hit rates differing by ``p10 - p01`` with the McNemar test
    (Connor 1987; formula in the module docstring). ``p10``/``p01``: probabilities that a
    request is a hit for A only / for B only. From two rates ``a``, ``b`` and a discordant
    fraction ``psi``: ``p10 = (psi + a - b) / 2``, ``p01 = (psi - a + b) / 2``."""
    _check(alpha, power)
    psi, delta = p10 + p01, p10 - p01
    if not (0 <= p10 <= 1 and 0 <= p01 <= 1 and psi <= 1):
        raise ValueError("p10 and p01 are probabilities with p10 + p01 <= 1")
    if delta == 0:
        raise ValueError("p10 == p01: no difference to detect")
    za, zb = _z(1 - alpha / 2), _z(power)
    n = (za * math.sqrt(psi) + zb * math.sqrt(psi - delta * delta)) ** 2 / (delta * delta)
    return int(math.ceil(n - 1e-9))


def mcnemar_power(n: int, p10: float, p01: float, *, alpha: float = 0.05) -> float:
    """Exact power of the exact McNemar test (:func:`mcnemar_exact`) at ``n`` pairs: the
    number of discordant pairs is Binomial(n, p10 + p01), and given ``d`` of them the count
    of A-only pairs is Binomial(d, p10 / (p10 + p01)); the test rejects when the two-sided
    binomial p-value (p = 1/2) is <= alpha."""
    psi = p10 + p01
    if psi == 0:
        return 0.0
    q = p10 / psi
    total = 0.0
    for d in range(1, n + 1):
        w = float(stats.binom.pmf(d, n, psi))
        if w < 1e-15:
            continue
        k = np.arange(d + 1)
        p = np.minimum(1.0, 2 * np.minimum(stats.binom.cdf(k, d, 0.5),
                                           stats.binom.sf(k - 1, d, 0.5)))
        total += w * float(stats.binom.pmf(k[p <= alpha], d, q).sum())
    return total


def mean_diff_power(n: int, delta: float, sd: float, *, alpha: float = 0.05,
                    method: str = "t") -> float:
    """Power of the two-sided paired test of a mean difference ``delta`` (SD of the
    differences ``sd``) at ``n`` pairs: noncentral t (``method="t"``) or normal."""
    if n < 2:
        return 0.0
    nc = delta * math.sqrt(n) / sd
    if method == "normal":
        za = _z(1 - alpha / 2)
        return float(stats.norm.sf(za - nc) + stats.norm.cdf(-za - nc))
    if method != "t":
        raise ValueError("method is 't' or 'normal'")
    tc = float(stats.t.ppf(1 - alpha / 2, n - 1))
    return float(stats.nct.sf(tc, n - 1, nc) + stats.nct.cdf(-tc, n - 1, nc))


def mean_diff_sample_size(delta: float, sd: float, *, alpha: float = 0.05,
                          power: float = 0.8, method: str = "t") -> int:
    """Pairs needed to detect a mean paired difference ``delta`` (e.g. of F1 or utility)
    when the differences have SD ``sd`` (formulas in the module docstring)."""
    _check(alpha, power)
    if delta == 0 or not sd > 0:
        raise ValueError("need delta != 0 and sd > 0")
    n0 = ((_z(1 - alpha / 2) + _z(power)) * sd / abs(delta)) ** 2
    if method == "normal":
        return max(1, int(math.ceil(n0 - 1e-9)))
    if method != "t":
        raise ValueError("method is 't' or 'normal'")
    n = max(2, int(math.ceil(n0)) - 1)
    while mean_diff_power(n, abs(delta), sd, alpha=alpha) < power:
        n += 1
    while n > 2 and mean_diff_power(n - 1, abs(delta), sd, alpha=alpha) >= power:
        n -= 1
    return n
