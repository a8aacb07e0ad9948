"""Hit rate vs the number of devices sharing one LTE cell and one cloud GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import STYLE, figure, legend_below, line_kw, save

__all__ = ["USERS_POLICIES", "fig_hit_rate_vs_users", "users_spec"]

USERS_POLICIES = ["int8", "int4", "scout", "cloud-text", "edge-local", "adaptive"]


def users_spec(quick: bool) -> dict:
    """The default LTE cell (50 Mbit/s shared uplink) with 1-100 devices, FIFO and batched
    cloud serving; requests and interval are per device. One workload seed for every cell
    (common random numbers): device d has the same requests in every cell it is in, so
    FIFO vs batched, and N vs N+k devices, are paired comparisons."""
    grid = [1, 5, 10, 20, 50, 100] if quick else [1, 2, 5, 10, 15, 20, 30, 50, 75, 100]
    return {"sweep": {"seed": 0, "seed_from": "replicate"},  # same devices' requests in
            "fixed": {"policies": USERS_POLICIES, "requests": 10 if quick else 60},  # every cell
            "axes": {"users": grid, "cloud_serving": ["fifo", "batched"]}}


def fig_hit_rate_vs_users(ctx: Context) -> list[Path]:
    """Hit rate vs devices in one LTE cell, per policy; FIFO vs batched cloud GPU. Bands:
    95% t-interval of the mean per-device hit rate (requests of a device are clustered)."""
    rows = ctx.sweep("users", users_spec(ctx.quick))
    fig, axes = figure(2.6, 1, 2, sharey=True)
    data = []
    for ax, serving in zip(axes, ["fifo", "batched"], strict=True):
        for p in USERS_POLICIES:
            d = rows[(rows["policy"] == p) & (rows["cloud_serving"] == serving)]
            d = d.sort_values("users")
            c, ls, m = STYLE[p]
            x = d["users"].to_numpy()
            lo = np.where(x > 1, d["user_ci_low"], d["hit_rate_ci_low"])
            hi = np.where(x > 1, d["user_ci_high"], d["hit_rate_ci_high"])
            ax.fill_between(x, lo, hi, color=c, alpha=0.18, lw=0)
            ax.plot(x, d["deadline_hit_rate"], ls=ls, marker=m, color=c, label=p,
                    **line_kw(p))
            data.append(d[["policy", "cloud_serving", "users", "requests",
                           "deadline_hit_rate", "user_ci_low", "user_ci_high",
                           "hit_rate_ci_low", "hit_rate_ci_high", "jain_fairness",
                           "p95_latency_s"]])
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
        ax.set_xlabel("devices in the cell")
        ax.set_title("cloud GPU: FIFO" if serving == "fifo" else "cloud GPU: batches <= 8",
                     fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("deadline hit rate (2 s)")
    legend_below(fig, axes[0], ncol=3)
    return save(ctx, fig, "hit_rate_vs_users", pd.concat(data, ignore_index=True))
