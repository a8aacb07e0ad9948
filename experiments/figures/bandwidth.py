"""Hit rate and utility vs a constant uplink's bandwidth (one sweep, two figures)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import POLICIES, STYLE, figure, legend_below, line_kw, save

__all__ = ["bandwidth_spec", "fig_hit_rate_vs_bandwidth", "fig_utility_vs_bandwidth"]


def bandwidth_spec(quick: bool) -> dict:
    """Constant links on a log grid 0.5-100 Mbit/s, default scenario otherwise."""
    return {"sweep": {"seed": 0},
            "fixed": {"policies": POLICIES, "requests": 200 if quick else 5000},
            "axes": {"bandwidth_mbps": {"logspace": [0.5, 100, 9 if quick else 41]}}}


def _bandwidth_rows(ctx: Context) -> pd.DataFrame:
    return ctx.sweep("bandwidth", bandwidth_spec(ctx.quick))


def _band_figure(ctx: Context, rows: pd.DataFrame, name: str, col: str, lo: str, hi: str,
                 ylabel: str) -> list[Path]:
    fig, ax = figure(3.0)
    data = []
    for p in POLICIES:
        d = rows[rows["policy"] == p].sort_values("bandwidth_mbps")
        c, ls, m = STYLE[p]
        x = d["bandwidth_mbps"].to_numpy()
        ax.fill_between(x, d[lo], d[hi], color=c, alpha=0.18, lw=0)
        ax.plot(x, d[col], ls=ls, marker=m, color=c, label=p, markevery=max(1, len(x) // 8),
                **line_kw(p))
        data.append(d[["policy", "bandwidth_mbps", "requests", col, lo, hi]])
    ax.set_xscale("log")
    ax.set_xlim(0.5, 100)
    ax.set_xticks([0.5, 1, 2, 5, 10, 20, 50, 100], ["0.5", "1", "2", "5", "10", "20", "50",
                                                   "100"])
    ax.set_xlabel("uplink bandwidth, constant link (Mbit/s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    legend_below(fig, ax)
    return save(ctx, fig, name, pd.concat(data, ignore_index=True))


def fig_hit_rate_vs_bandwidth(ctx: Context) -> list[Path]:
    """Deadline hit rate vs constant uplink bandwidth per policy, Wilson 95% CI bands."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "hit_rate_vs_bandwidth", "deadline_hit_rate",
                        "hit_rate_ci_low", "hit_rate_ci_high", "deadline hit rate (2 s)")


def fig_utility_vs_bandwidth(ctx: Context) -> list[Path]:
    """Utility (F1 if the deadline is met, else 0) vs bandwidth, t-interval bands."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "utility_vs_bandwidth", "utility",
                        "utility_ci_low", "utility_ci_high", "utility (F1 within deadline)")
