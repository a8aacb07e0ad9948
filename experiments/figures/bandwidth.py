"""Hit rate and utility vs a constant uplink's bandwidth (one sweep, two figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import (
    CI_T_REQUESTS,
    CI_WILSON,
    POLICIES,
    STYLE,
    figure,
    legend_below,
    line_kw,
    save,
)

__all__ = ["bandwidth_spec", "fig_hit_rate_vs_bandwidth", "fig_utility_vs_bandwidth"]


def bandwidth_spec(quick: bool) -> dict:
    """Constant links on a log grid 0.5-100 Mbit/s, default scenario otherwise."""
    return {"sweep": {"seed": 0},
            "fixed": {"policies": POLICIES, "requests": 200 if quick else 5000},
            "axes": {"bandwidth_mbps": {"logspace": [0.5, 100, 9 if quick else 41]}}}


def _bandwidth_rows(ctx: Context) -> pd.DataFrame:
    return ctx.sweep("bandwidth", bandwidth_spec(ctx.quick))


def _assumed(d: pd.DataFrame) -> np.ndarray:
    """Per row: does the utility rest on an assumed quality value (``quality_source``)?"""
    return d["quality_source"].astype(str).str.contains("assumed").to_numpy()


def _assumed_text(ctx: Context) -> str:
    """The quality cache's assumed rows, e.g. ``cloud-text 0.809``."""
    from models.quality import QualityCache

    rows = [r for r in QualityCache.load(ctx.published).rows if r["source"] == "assumed"]
    return ", ".join(f"{r['mode']} {r['mean']:g}" for r in rows) or "see the quality cache"


def _band_figure(ctx: Context, rows: pd.DataFrame, name: str, col: str, lo: str, hi: str,
                 ylabel: str, ci_type: str, mark_assumed: bool = False) -> list[Path]:
    from matplotlib.lines import Line2D

    fig, ax = figure(3.3 if mark_assumed else 3.1)
    data, handles = [], []
    any_assumed = False
    for p in POLICIES:
        d = rows[rows["policy"] == p].sort_values("bandwidth_mbps")
        c, ls, m = STYLE[p]
        x = d["bandwidth_mbps"].to_numpy()
        ax.fill_between(x, d[lo], d[hi], color=c, alpha=0.18, lw=0)
        ax.plot(x, d[col], ls=ls, color=c, **line_kw(p))
        every = np.zeros(len(x), bool)
        every[::max(1, len(x) // 8)] = True
        assumed = _assumed(d) if mark_assumed else np.zeros(len(x), bool)
        for hollow in (False, True):
            sel = every & (assumed == hollow)
            if sel.any():
                ax.plot(x[sel], d[col].to_numpy()[sel], ls="none", marker=m, color=c,
                        mfc="white" if hollow else c, zorder=3)
        any_assumed |= bool(assumed.any())
        label = p + ("*" if assumed.any() else "")
        handles.append(Line2D([], [], color=c, ls=ls, marker=m,
                              mfc="white" if assumed.all() and len(x) else c,
                              label=label, **{k: v for k, v in line_kw(p).items()
                                              if k != "zorder"}))
        cols = ["policy", "bandwidth_mbps", "requests", col, lo, hi]
        data.append(d[cols + (["quality_source"] if mark_assumed else [])]
                    .assign(ci_type=ci_type))
    ax.set_xscale("log")
    ax.set_xlim(0.5, 100)
    ax.set_xticks([0.5, 1, 2, 5, 10, 20, 50, 100], ["0.5", "1", "2", "5", "10", "20", "50",
                                                   "100"])
    ax.set_xlabel("uplink bandwidth, constant link (Mbit/s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    n = sorted(set(rows["requests"]))
    note = f"n = {'/'.join(map(str, n))} requests per point; bands: {ci_type}"
    if any_assumed:
        note += (f"\n* and hollow markers: utility rests on an ASSUMED F1 ({_assumed_text(ctx)}: "
                 "neither published nor measured); filled markers: F1 published or derived "
                 "from published values")
    legend_below(fig, ax, ncol=4, handles=handles,
                 labels=[h.get_label() for h in handles], note=note)
    return save(ctx, fig, name, pd.concat(data, ignore_index=True))


def fig_hit_rate_vs_bandwidth(ctx: Context) -> list[Path]:
    """Deadline hit rate vs constant uplink bandwidth per policy, Wilson 95% CI bands."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "hit_rate_vs_bandwidth", "deadline_hit_rate",
                        "hit_rate_ci_low", "hit_rate_ci_high", "deadline hit rate (2 s)",
                        CI_WILSON)


def fig_utility_vs_bandwidth(ctx: Context) -> list[Path]:
    """Utility (F1 if the deadline is met, else 0) vs bandwidth, t-interval bands; values
    that rest on an assumed (neither published nor measured) F1 have hollow markers."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "utility_vs_bandwidth", "utility",
                        "utility_ci_low", "utility_ci_high", "utility (F1 within deadline)",
                        CI_T_REQUESTS + " (F1 values taken as exact)", mark_assumed=True)
