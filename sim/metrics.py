"""Per-request records to per-policy summaries, every rate with n and a 95% CI."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special  # scipy.stats's quantiles, bit for bit, without its import cost

Z95 = float(special.ndtri(0.975))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at rates near 0 or 1)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(special.ndtri(0.5 + confidence / 2))  # the normal quantile
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
    h = float(special.stdtrit(n - 1, 0.5 + confidence / 2)) * se  # Student's t quantile
    return (m - h, m + h)


def _quantile(x: np.ndarray, q: float) -> float:
    """Order-statistic quantile (no interpolation, so infinite latencies stay infinite)."""
    return float(np.quantile(x, q, method="inverted_cdf")) if len(x) else math.nan


def estimator_error(df: pd.DataFrame) -> dict[str, float]:
    """Throughput estimate vs the goodput the transfer then achieved, over requests that
    have both: median absolute relative error, the fraction over-estimated, and the mean
    relative error among over- and among under-estimates."""
    return _estimator_error(df["estimate_mbps"].to_numpy(float),
                            df["truth_mbps"].to_numpy(float))


def _estimator_error(est: np.ndarray, truth: np.ndarray) -> dict[str, float]:
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


def option_counts(options: Any) -> dict[str, int]:
    """How often each option occurs, in order of first occurrence."""
    codes, uniques = pd.factorize(np.asarray(options, dtype=object))
    return dict(zip(uniques.tolist(), np.bincount(codes).tolist(), strict=True))


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def option_mix(counts: Mapping[str, int]) -> str:
    """``option=share;...``, largest share first and ties in order of first occurrence (the
    order of pandas' ``value_counts(normalize=True)``)."""
    s = pd.Series(list(counts.values()), index=list(counts), dtype="int64")
    s = s.sort_values(ascending=False, kind="stable")
    return ";".join(f"{k}={v:.3f}" for k, v in (s / s.sum()).items())


def summary_row(policy: str, hit: np.ndarray, lat: np.ndarray, quality: np.ndarray,
                payload: pd.Series, options: Mapping[str, int], quality_sources: Iterable[str],
                est: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """One policy's summary from its per-request columns (``options``: counts in order of
    first occurrence; ``est``/``truth``: the estimator columns, or only their pairs)."""
    n = len(hit)
    hits = int(hit.sum())
    lo, hi = wilson_interval(hits, n)
    has_quality = not np.all(np.isnan(quality))
    utility = np.where(hit, quality, 0.0)
    u_lo, u_hi = mean_interval(utility) if has_quality else (math.nan, math.nan)
    u_lo, u_hi = max(0.0, u_lo), min(1.0, u_hi)  # utility lies in [0, 1]
    return {
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
        "mean_payload_bytes": float(payload.mean()),
        "total_payload_bytes": int(payload.sum()),
        "unfinished": int(np.isinf(lat).sum()),
        "mode_mix": option_mix(options),
        "quality_source": ",".join(sorted(quality_sources)),
        **_estimator_error(est, truth),
    }


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """One row per policy (in first-appearance order) from per-request records."""
    return pd.DataFrame([
        summary_row(policy, df["hit"].to_numpy(dtype=bool), df["latency_s"].to_numpy(float),
                    df["quality"].to_numpy(dtype=float), df["payload_bytes"],
                    option_counts(df["option"]), df["quality_source"].unique(),
                    df["estimate_mbps"].to_numpy(float), df["truth_mbps"].to_numpy(float))
        for policy, df in records.groupby("policy", sort=False)])


#: quality sources that mean "not measured" (named in the notes)
UNMEASURED = ("derived", "assumed")


class PolicyColumns:
    """What one policy's summary needs of its records, filled chunk by chunk (:meth:`add`)
    so that a run need not keep its records: hit, latency, quality and payload of every
    request (25 bytes each), option counts, quality sources and the estimator's pairs. The
    requests fall into segments (one per trace, :meth:`begin`) summarised alone or pooled;
    the summary is the one :func:`summarize` gives from the records, bit for bit."""

    def __init__(self, n: int):
        self.hit = np.empty(n, bool)
        self.latency = np.empty(n)
        self.quality = np.empty(n)
        self.payload = np.empty(n, np.int64)
        self.size = 0
        self.segments: list[dict[str, Any]] = []

    def begin(self) -> None:
        """Start a segment (every request added until the next one belongs to it)."""
        self.segments.append({"start": self.size, "stop": self.size, "options": {},
                              "sources": set(), "unmeasured": set(), "est": [],
                              "truth": []})

    def add(self, cols: Mapping[str, Any]) -> None:
        """Add the records ``cols`` (RECORD_COLUMNS: arrays, or one value for all)."""
        m = len(cols["request"])
        at = slice(self.size, self.size + m)
        self.hit[at] = cols["hit"]
        self.latency[at] = cols["latency_s"]
        self.quality[at] = cols["quality"]
        self.payload[at] = cols["payload_bytes"]
        self.size += m
        seg = self.segments[-1]
        seg["stop"] = self.size
        option, source = cols["option"], cols["quality_source"]
        counts = {option: m} if np.ndim(option) == 0 else option_counts(option)
        add_counts(seg["options"], counts)
        if np.ndim(source) == 0:
            seg["sources"].add(source)
            if source in UNMEASURED:
                seg["unmeasured"].update(counts)
        else:
            source = np.asarray(source, dtype=object)
            seg["sources"].update(pd.unique(source))
            mask = np.isin(source, UNMEASURED)
            if mask.any():
                seg["unmeasured"].update(np.broadcast_to(np.asarray(option, dtype=object),
                                                         (m,))[mask].tolist())
        est = cols["estimate_mbps"]
        if np.ndim(est) or not math.isnan(est):
            est = np.broadcast_to(np.asarray(est, float), (m,))
            truth = np.broadcast_to(np.asarray(cols["truth_mbps"], float), (m,))
            ok = ~np.isnan(est) & ~np.isnan(truth) & (truth > 0)
            seg["est"].append(est[ok])
            seg["truth"].append(truth[ok])

    def unmeasured(self, segment: int) -> set[str]:
        """Options of ``segment`` whose quality is derived or assumed, not measured."""
        return self.segments[segment]["unmeasured"]

    def row(self, policy: str, segment: int | None = None) -> dict[str, Any]:
        """The summary row of ``segment`` (None: all requests)."""
        segs = self.segments if segment is None else [self.segments[segment]]
        a, b = segs[0]["start"], segs[-1]["stop"]
        whole = a == 0 and b == len(self.hit)

        def part(x: np.ndarray) -> np.ndarray:
            return x if whole else x[a:b].copy()

        options: dict[str, int] = {}
        for seg in segs:
            add_counts(options, seg["options"])
        est = [x for seg in segs for x in seg["est"]]
        truth = [x for seg in segs for x in seg["truth"]]
        return summary_row(policy, part(self.hit), part(self.latency), part(self.quality),
                           pd.Series(part(self.payload)), options,
                           set().union(*(seg["sources"] for seg in segs)),
                           np.concatenate(est) if est else np.empty(0),
                           np.concatenate(truth) if truth else np.empty(0))

    def paired(self) -> tuple[np.ndarray, np.ndarray]:
        """Hit and utility of every request (what paired tests need)."""
        return self.hit[:self.size], np.where(self.hit, self.quality, 0.0)[:self.size]


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
    return notes_for(set(records.loc[records["quality_source"].isin(UNMEASURED), "option"]),
                     sources)


def notes_for(unmeasured: set[str], sources: dict[str, str]) -> list[str]:
    """:func:`run_notes` from the options whose quality is derived or assumed."""
    notes = []
    derived = sorted(unmeasured)
    if derived:
        notes.append("quality derived or assumed, not measured, for: " + ", ".join(derived)
                     + " (rules in models/quality.py)")
    notes.append("compute time sources (measured / interpolated from models/timings, "
                 "calibrated or default roofline, ideal): " + "; ".join(
                     f"{p}={src}" for p, src in sources.items()))
    return notes
