"""Summary statistics of a canonical :class:`~sim.traces.trace.Trace`.

Two kinds of statistic, both over **one period** of the trace (``[0, duration_s)``):

- *Time-weighted* statistics of the piecewise-constant capacity (mean, quantiles, CV,
  outage fraction): sample *i* counts for the time it holds, ``t[i+1] - t[i]`` seconds, so a
  trace sampled irregularly is summarised by what a transfer would see, not by its rows.
- *1-s statistics* (lag-1 autocorrelation, and everything the synthetic model fits): the
  capacity is first resampled on a 1-s grid as the **mean capacity over each whole second**
  ``[k, k+1)`` (exact, from the cumulative-capacity curve); a trailing partial second is
  dropped. This puts traces sampled every millisecond (mahimahi), every second (most) or
  every 5 s (FCC) on one footing.

Units: capacities in Mbit/s (1 Mbit/s = 125,000 bytes/s), times in s, RTT in ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.errors import InputError
from models.units import BYTES_PER_S_PER_MBPS, OUTAGE_MBPS  # OUTAGE_MBPS: re-exported
from sim.traces.trace import Trace

STAT_KEYS = (
    "duration_s", "mean_mbps", "median_mbps", "p10_mbps", "p90_mbps", "cv", "lag1_autocorr",
    "outage_fraction", "rtt_mean_ms", "rtt_median_ms", "rtt_p90_ms", "samples",
)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Time-weighted quantile of a step function: the smallest value ``v`` such that the
    values ``<= v`` hold for at least a fraction ``q`` of the total weight (time)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    total = cum[-1]
    if total <= 0:
        return float(np.quantile(values, q))
    i = int(np.searchsorted(cum, q * total - 1e-12 * total, side="left"))
    return float(v[min(i, len(v) - 1)])


def resample_1s(trace: Trace) -> np.ndarray:
    """Mean capacity over each whole second ``[k, k+1)`` of one period, in Mbit/s.

    Exact for the piecewise-constant trace (differences of the cumulative-capacity curve);
    the trailing partial second (when ``duration_s`` is not a whole number) is dropped.
    """
    n = int(math.floor(trace.duration_s + 1e-9))
    if n <= 0:
        return np.zeros(0)
    cum = trace.cumulative_bytes_array(np.arange(n + 1, dtype=float))
    return np.diff(cum) / BYTES_PER_S_PER_MBPS


def lag1_autocorr(series: Sequence[np.ndarray]) -> float | None:
    """Lag-1 autocorrelation pooled over one or more series (1-s samples).

    ``r = mean over consecutive pairs of (x_t - m)(x_{t+1} - m) / var``, with ``m`` and ``var``
    the mean and (population) variance over all samples of all series; pairs never straddle
    two series. ``None`` when there are no pairs or the variance is 0.
    """
    xs = [np.asarray(s, dtype=float) for s in series if len(s) > 0]
    if not xs:
        return None
    allx = np.concatenate(xs)
    m, var = float(allx.mean()), float(allx.var())
    num, pairs = 0.0, 0
    for x in xs:
        if len(x) > 1:
            d = x - m
            num += float(np.dot(d[:-1], d[1:]))
            pairs += len(x) - 1
    if pairs == 0 or not var > 0:
        return None
    return num / pairs / var


def binned(trace: Trace, bin_s: float) -> Trace:
    """The trace averaged over consecutive bins of ``bin_s`` seconds (exact, from the
    cumulative-capacity curve); a trailing partial bin is dropped, and the RTT (if any) is
    the RTT at the start of each bin. Used to summarise very fine traces (mahimahi's 1-ms
    segments) at a readable resolution."""
    if not (bin_s > 0 and math.isfinite(bin_s)):
        raise InputError(f"bin must be a positive number of seconds, not {bin_s}")
    n = int(math.floor(trace.duration_s / bin_s + 1e-9))
    if n <= 0:
        raise InputError(f"trace ({trace.duration_s:g} s) is shorter than one {bin_s:g}-s bin",
                         trace.name)
    edges = np.arange(n + 1, dtype=float) * bin_s
    cap = np.diff(trace.cumulative_bytes_array(edges)) / bin_s
    rtt = None if trace.rtt_s is None else trace.rtt_at_array(edges[:-1])
    return Trace.from_arrays(edges[:-1], cap, rtt, last_duration_s=bin_s, end=trace.end,
                             name=trace.name)


def trace_stats(trace: Trace, bin_s: float | None = None) -> dict[str, float | int | None]:
    """Statistics of one period of ``trace`` (keys in :data:`STAT_KEYS`).

    With ``bin_s`` the trace is first averaged over bins of that many seconds
    (:func:`binned`), so every statistic describes the bin means.

    - ``duration_s``: period (s). ``samples``: number of piecewise-constant segments.
    - ``mean_mbps``, ``median_mbps``, ``p10_mbps``, ``p90_mbps``: time-weighted mean and
      quantiles of the capacity (Mbit/s; quantiles per :func:`weighted_quantile`).
    - ``cv``: time-weighted standard deviation / time-weighted mean.
    - ``lag1_autocorr``: of the 1-s resampled series (mean over each second, see
      :func:`resample_1s`); ``None`` for a trace shorter than 2 s or constant.
    - ``outage_fraction``: fraction of time with capacity < 0.1 Mbit/s (time-weighted).
    - ``rtt_mean_ms``, ``rtt_median_ms``, ``rtt_p90_ms``: time-weighted RTT, or ``None``
      when the trace has no RTT.
    """
    if bin_s is not None:
        trace = binned(trace, bin_s)
    seg = np.diff(np.append(trace.times_s, trace.duration_s))
    mbps = trace.capacity_bytes_per_s / BYTES_PER_S_PER_MBPS
    total = float(seg.sum())
    mean = float(np.dot(seg, mbps) / total)
    var = float(np.dot(seg, (mbps - mean) ** 2) / total)
    out: dict[str, float | int | None] = {
        "duration_s": float(trace.duration_s),
        "mean_mbps": mean,
        "median_mbps": weighted_quantile(mbps, seg, 0.5),
        "p10_mbps": weighted_quantile(mbps, seg, 0.1),
        "p90_mbps": weighted_quantile(mbps, seg, 0.9),
        "cv": math.sqrt(var) / mean if mean > 0 else None,
        "lag1_autocorr": lag1_autocorr([resample_1s(trace)]),
        "outage_fraction": float(seg[mbps < OUTAGE_MBPS].sum() / total),
        "rtt_mean_ms": None,
        "rtt_median_ms": None,
        "rtt_p90_ms": None,
        "samples": int(len(trace.times_s)),
    }
    if trace.rtt_s is not None:
        rtt_ms = trace.rtt_s * 1e3
        out["rtt_mean_ms"] = float(np.dot(seg, rtt_ms) / total)
        out["rtt_median_ms"] = weighted_quantile(rtt_ms, seg, 0.5)
        out["rtt_p90_ms"] = weighted_quantile(rtt_ms, seg, 0.9)
    return out


def pooled_1s_stats(series: Sequence[np.ndarray]) -> dict[str, float]:
    """The statistics the synthetic model matches, pooled over 1-s series (Mbit/s).

    Every second of every series counts once (so longer files weigh more): ``mean_mbps``,
    ``cv`` (population sd / mean), ``lag1_autocorr`` (:func:`lag1_autocorr`, pairs within a
    series) and ``outage_fraction`` (fraction of seconds < 0.1 Mbit/s); ``seconds`` is the
    pooled length.
    """
    xs = [np.asarray(s, dtype=float) for s in series if len(s) > 0]
    allx = np.concatenate(xs) if xs else np.zeros(0)
    if allx.size == 0:
        raise ValueError("no 1-s samples to summarise")
    mean = float(allx.mean())
    lag1 = lag1_autocorr(xs)
    return {
        "mean_mbps": mean,
        "cv": float(allx.std() / mean) if mean > 0 else float("nan"),
        "lag1_autocorr": float("nan") if lag1 is None else lag1,
        "outage_fraction": float(np.mean(allx < OUTAGE_MBPS)),
        "seconds": int(allx.size),
    }
