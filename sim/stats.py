"""Paired statistics for policies run on the same requests (scipy-based).

- :func:`mcnemar_exact`: hit/miss outcomes of two policies on the same requests; exact
  two-sided binomial test on the discordant pairs.
- :func:`wilcoxon_paired`: per-request utility (or quality) differences; Wilcoxon
  signed-rank test (zero differences dropped; p = 1 when all are zero).
- :func:`paired_bootstrap_ci`: percentile bootstrap CI of the mean paired difference.
- :func:`holm` and :func:`bonferroni`: family-wise corrections of a list of p-values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.metrics import wilson_interval

__all__ = ["bonferroni", "compare_columns", "compare_paired", "holm", "mcnemar_exact",
           "paired_bootstrap_ci", "wilcoxon_paired", "wilson_interval"]


#: indices drawn at once by :func:`paired_bootstrap_ci` (8 bytes each)
BOOT_BATCH = 1 << 22


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar p-value for paired booleans ``a`` and ``b`` (two-sided)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        return 1.0
    from scipy import stats  # here: importing scipy.stats costs half a second

    return float(stats.binomtest(only_a, n, 0.5).pvalue)


def wilcoxon_paired(x: np.ndarray, y: np.ndarray) -> float:
    """Wilcoxon signed-rank p-value of ``x - y`` (two-sided); 1.0 when all differences
    are zero."""
    d = np.asarray(x, float) - np.asarray(y, float)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 1.0
    from scipy import stats

    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def paired_bootstrap_ci(x: np.ndarray, y: np.ndarray, *, n_boot: int = 2000,
                        confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(x - y)``, resampling requests (pairs). The
    resamples are drawn a batch of rows at a time (about :data:`BOOT_BATCH` indices), the
    same draws as all at once, so memory stays flat however many requests there are."""
    d = np.asarray(x, float) - np.asarray(y, float)
    if d.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    rows = max(1, BOOT_BATCH // d.size)
    for i in range(0, n_boot, rows):
        k = min(rows, n_boot - i)
        means[i:i + k] = d[rng.integers(0, d.size, (k, d.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), same order as given."""
    p = np.asarray(pvalues, float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def bonferroni(pvalues: list[float]) -> list[float]:
    """Bonferroni adjusted p-values."""
    m = len(pvalues)
    return [min(1.0, m * p) for p in pvalues]


def compare_paired(records: pd.DataFrame, reference: str, *, alpha: float = 0.05,
                   group_column: str | None = None) -> pd.DataFrame:
    """Every other policy against ``reference`` on the same requests: difference in hit
    rate (McNemar) and in utility (Wilcoxon), each family Holm-corrected over the
    policies compared. ``group_column`` (``trace`` or ``user``) pairs requests by
    (group, request)."""
    keys = ["request"] + ([group_column] if group_column else [])
    recs = records.assign(utility=np.where(records["hit"], records["quality"], 0.0))
    ref = recs[recs["policy"] == reference].set_index(keys).sort_index()
    columns = {}
    for policy, df in recs.groupby("policy", sort=False):
        other = df.set_index(keys).sort_index()
        if policy != reference and not other.index.equals(ref.index):
            raise ValueError(f"{policy} and {reference} ran on different requests")
        columns[policy] = (other["hit"].to_numpy(bool), other["utility"].to_numpy(float))
    return compare_columns(columns, reference, alpha=alpha)


def compare_columns(columns: dict[str, tuple[np.ndarray, np.ndarray]], reference: str, *,
                    alpha: float = 0.05) -> pd.DataFrame:
    """:func:`compare_paired` from each policy's hit and utility per request, the requests
    in the same order for every policy (``columns`` in the order of the rows)."""
    hit_r, u_r = columns[reference]
    rows = []
    for policy, (hit_a, u_a) in columns.items():
        if policy == reference:
            continue
        lo, hi = paired_bootstrap_ci(u_a, u_r)
        rows.append({
            "policy": policy, "reference": reference, "n": len(hit_a),
            "hit_rate_diff": float(hit_a.mean() - hit_r.mean()),
            "hit_p": mcnemar_exact(hit_a, hit_r),
            "utility_diff": float(np.mean(u_a - u_r)),
            "utility_diff_ci_low": lo, "utility_diff_ci_high": hi,
            "utility_p": wilcoxon_paired(u_a, u_r),
        })
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["hit_p_holm"] = holm(out["hit_p"].tolist())
    out["utility_p_holm"] = holm(out["utility_p"].tolist())

    def verdict(diff: float, p: float) -> str:
        if p >= alpha:
            return "no significant difference"
        return "better" if diff > 0 else "worse"

    out["hit_verdict"] = [verdict(d, p) for d, p in zip(out["hit_rate_diff"],
                                                         out["hit_p_holm"], strict=True)]
    out["utility_verdict"] = [verdict(d, p) for d, p in zip(out["utility_diff"],
                                                             out["utility_p_holm"],
                                                             strict=True)]
    return out
