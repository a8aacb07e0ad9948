"""Per-request records to per-policy summaries, every rate with n and a 95% CI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at rates near 0 or 1)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def mean_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval for a mean (NaN-free input; degenerate when n < 2 or sd = 0)."""
    n = len(x)
    if n == 0:
        return (math.nan, math.nan)
    m = float(np.mean(x))
    if n < 2:
        return (m, m)
    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return (m - h, m + h)


def _quantile(x: np.ndarray, q: float) -> float:
    """Order-statistic quantile (no interpolation, so infinite latencies stay infinite)."""
    return float(np.quantile(x, q, method="inverted_cdf")) if len(x) else math.nan


def estimator_error(df: pd.DataFrame) -> dict[str, float]:
    """Throughput estimate vs the goodput the transfer then achieved, over requests that
    have both: median absolute relative error, the fraction over-estimated, and the mean
    relative error among over- and among under-estimates."""
    est = df["estimate_mbps"].to_numpy(float)
    truth = df["truth_mbps"].to_numpy(float)
    ok = ~np.isnan(est) & ~np.isnan(truth) & (truth > 0)
    if not ok.any():
        return {"estimates": 0, "estimate_median_abs_rel_error": math.nan,
                "estimate_over_fraction": math.nan, "estimate_mean_over": math.nan,
                "estimate_mean_under": math.nan}
    rel = (est[ok] - truth[ok]) / truth[ok]
    over, under = rel[rel > 0], rel[rel < 0]
    return {
        "estimates": int(ok.sum()),
        "estimate_median_abs_rel_error": float(np.median(np.abs(rel))),
        "estimate_over_fraction": float(np.mean(rel > 0)),
        "estimate_mean_over": float(over.mean()) if over.size else 0.0,
        "estimate_mean_under": float(under.mean()) if under.size else 0.0,
    }


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """One row per policy (in first-appearance order) from per-request records."""
    rows = []
    for policy, df in records.groupby("policy", sort=False):
        n = len(df)
        hit = df["hit"].to_numpy(dtype=bool)
        hits = int(hit.sum())
        lo, hi = wilson_interval(hits, n)
        lat = df["latency_s"].to_numpy(dtype=float)
        quality = df["quality"].to_numpy(dtype=float)
        has_quality = not np.all(np.isnan(quality))
        utility = np.where(hit, quality, 0.0)
        u_lo, u_hi = mean_interval(utility) if has_quality else (math.nan, math.nan)
        u_lo, u_hi = max(0.0, u_lo), min(1.0, u_hi)  # utility lies in [0, 1]
        mix = df["option"].value_counts(normalize=True)
        rows.append({
            "policy": policy,
            "requests": n,
            "hits": hits,
            "deadline_hit_rate": hits / n,
            "hit_rate_ci_low": lo,
            "hit_rate_ci_high": hi,
            "mean_quality": float(np.mean(quality)) if has_quality else math.nan,
            "quality_among_hits": (float(np.mean(quality[hit])) if has_quality and hits
                                   else math.nan),
            "utility": float(np.mean(utility)) if has_quality else math.nan,
            "utility_ci_low": u_lo,
            "utility_ci_high": u_hi,
            "p50_latency_s": _quantile(lat, 0.50),
            "p95_latency_s": _quantile(lat, 0.95),
            "p99_latency_s": _quantile(lat, 0.99),
            "mean_payload_bytes": float(df["payload_bytes"].mean()),
            "total_payload_bytes": int(df["payload_bytes"].sum()),
            "unfinished": int(np.isinf(lat).sum()),
            "mode_mix": ";".join(f"{k}={v:.3f}" for k, v in mix.items()),
            "quality_source": ",".join(sorted(df["quality_source"].unique())),
            **estimator_error(df),
        })
    return pd.DataFrame(rows)


def add_between_trace_ci(pooled: pd.DataFrame, per_trace: pd.DataFrame) -> pd.DataFrame:
    """Add ``traces`` and a t-interval of the mean per-trace hit rate (``trace_ci_low/high``)
    to pooled rows: requests on one trace share its network, so they are clustered."""
    out = pooled.copy()
    lows, highs, counts = [], [], []
    for policy in out["policy"]:
        rates = per_trace.loc[per_trace["policy"] == policy, "deadline_hit_rate"].to_numpy()
        lo, hi = mean_interval(rates.astype(float))
        lows.append(max(0.0, lo))
        highs.append(min(1.0, hi))
        counts.append(len(rates))
    out["traces"] = counts
    out["trace_ci_low"] = lows
    out["trace_ci_high"] = highs
    return out


def jain_index(x: np.ndarray) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)``: 1 when all equal, 1/n when one
    gets everything. All zeros count as equal (1.0)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan
    sq = float(np.sum(x * x))
    return 1.0 if sq == 0 else float(np.sum(x)) ** 2 / (x.size * sq)


def add_between_user_stats(summary: pd.DataFrame, per_user: pd.DataFrame) -> pd.DataFrame:
    """Add ``users``, Jain's index of the per-user hit rates, their min and max, and a
    t-interval of the mean per-user hit rate (``user_ci_low/high``: requests of one device
    share its channel and queues, so they are clustered) to per-policy rows."""
    out = summary.copy()
    cols: dict[str, list[float]] = {k: [] for k in ("users", "jain_fairness", "user_hit_min",
                                                    "user_hit_max", "user_ci_low",
                                                    "user_ci_high")}
    for policy in out["policy"]:
        rates = per_user.loc[per_user["policy"] == policy, "deadline_hit_rate"].to_numpy(float)
        lo, hi = mean_interval(rates)
        cols["users"].append(len(rates))
        cols["jain_fairness"].append(jain_index(rates))
        cols["user_hit_min"].append(float(rates.min()))
        cols["user_hit_max"].append(float(rates.max()))
        cols["user_ci_low"].append(max(0.0, lo))
        cols["user_ci_high"].append(min(1.0, hi))
    for k, v in cols.items():
        out[k] = v
    return out
