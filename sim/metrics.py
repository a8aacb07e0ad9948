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


def _per_policy_columns(pooled: pd.DataFrame, per_group: pd.DataFrame,
                        columns_of) -> pd.DataFrame:
    """Add ``columns_of(hit rates of the policy's groups)`` (a dict) to each policy row."""
    out = pooled.copy()
    rows = [columns_of(per_group.loc[per_group["policy"] == p, "deadline_hit_rate"]
                       .to_numpy(float)) for p in out["policy"]]
    for key in (rows[0] if rows else {}):
        out[key] = [r[key] for r in rows]
    return out


def _clustered_ci(rates: np.ndarray, group: str) -> dict[str, float]:
    """``{group}s`` and a t-interval of the mean per-group hit rate, clipped to [0, 1]."""
    lo, hi = mean_interval(rates)
    return {f"{group}s": len(rates), f"{group}_ci_low": max(0.0, lo),
            f"{group}_ci_high": min(1.0, hi)}


def add_between_trace_ci(pooled: pd.DataFrame, per_trace: pd.DataFrame) -> pd.DataFrame:
    """Add ``traces`` and a t-interval of the mean per-trace hit rate (``trace_ci_low/high``)
    to pooled rows: requests on one trace share its network, so they are clustered."""
    return _per_policy_columns(pooled, per_trace, lambda r: _clustered_ci(r, "trace"))


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

    def columns(rates: np.ndarray) -> dict[str, float]:
        ci = _clustered_ci(rates, "user")
        return {"users": ci["users"], "jain_fairness": jain_index(rates),
                "user_hit_min": float(rates.min()), "user_hit_max": float(rates.max()),
                "user_ci_low": ci["user_ci_low"], "user_ci_high": ci["user_ci_high"]}

    return _per_policy_columns(summary, per_user, columns)


def run_notes(records: pd.DataFrame, sources: dict[str, str]) -> list[str]:
    """Notes every run prints: derived quality and compute-time sources."""
    notes = []
    derived = sorted(set(records.loc[records["quality_source"].isin(["derived", "assumed"]),
                                     "option"]))
    if derived:
        notes.append("quality derived or assumed, not measured, for: " + ", ".join(derived)
                     + " (rules in models/quality.py)")
    notes.append("compute time sources (measured / interpolated from models/timings, "
                 "calibrated or default roofline, ideal): " + "; ".join(
                     f"{p}={src}" for p, src in sources.items()))
    return notes
