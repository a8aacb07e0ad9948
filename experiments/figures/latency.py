"""The first-token latency distribution per policy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import CI_NONE, POLICIES, STYLE, figure, legend_below, line_kw, save

__all__ = ["fig_latency_cdf"]


def fig_latency_cdf(ctx: Context) -> list[Path]:
    """Empirical CDF of the first-token latency per policy (default scenario, LTE trace)."""
    ctx.sweep("latency", {"sweep": {"seed": 0, "keep_requests": True},
                          "fixed": {"policies": POLICIES, "trace": "traces/lte.csv",
                                    "requests": 200 if ctx.quick else 5000}})
    req = ctx.requests("latency")
    fig, ax = figure(3.3)
    data = []
    for p in POLICIES:
        lat = np.sort(req.loc[req["policy"] == p, "latency_s"].to_numpy(float))
        n = lat.size
        f = np.arange(1, n + 1) / n
        c, ls, _ = STYLE[p]
        ax.step(lat, f, where="post", color=c, ls=ls, label=p, **line_kw(p))
        data.append(pd.DataFrame({"policy": p, "latency_s": lat, "cdf": f, "n": n}))
    deadline = float(req["deadline_s"].iloc[0])
    ax.axvline(deadline, color="black", lw=0.7, ls=(0, (1, 2)))
    ax.annotate(f"deadline {deadline:g} s", (deadline, 0.5), xytext=(3, 0),
                textcoords="offset points", fontsize=7, rotation=90, va="center")
    ax.set_xscale("log")
    ax.set_xlabel("first-token latency (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.01)
    ns = sorted({len(d) for d in data})
    eps = dkw_half_width(min(ns))
    ci = f"{CI_NONE} drawn (95% DKW band of each curve: +/-{eps:.3f})"
    legend_below(fig, ax, note=f"n = {'/'.join(map(str, ns))} requests per policy "
                 f"(LTE trace, one run); empirical CDF, {ci}")
    return save(ctx, fig, "latency_cdf", pd.concat(data, ignore_index=True).assign(ci_type=ci))


def dkw_half_width(n: int, confidence: float = 0.95) -> float:
    """Half-width of the Dvoretzky-Kiefer-Wolfowitz band of an empirical CDF of n samples:
    the true CDF lies within it everywhere with probability ``confidence``."""
    return math.sqrt(math.log(2 / (1 - confidence)) / (2 * n))
