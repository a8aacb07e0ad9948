"""Hit rate vs the number of devices sharing one LTE cell and one cloud GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import (
    CI_T_DEVICES,
    CI_WILSON,
    STYLE,
    figure,
    legend_below,
    line_kw,
    save,
)

__all__ = ["USERS_GRID", "USERS_POLICIES", "fig_hit_rate_vs_users",
           "users_spec"]

USERS_POLICIES = ["int8", "int4", "scout", "cloud-text", "edge-local", "adaptive"]
CI_WILSON_ONE_DEVICE = CI_WILSON + " of the one device"


#: devices in the cell per cloud serving, up to 75. FIFO is resolved through its collapse
#: (35-60 devices); the batched server does not collapse, so it gets the coarse grid. The
#: network engine's cost grows faster than linearly in the devices: a 100-device cell
#: alone took longer than the six extra FIFO points, so neither serving goes beyond 75.
USERS_GRID = {
    "quick": {"fifo": [1, 5, 20, 40, 50], "batched": [1, 5, 20, 50]},
    "full": {"fifo": [1, 2, 5, 10, 15, 20, 30, 35, 40, 45, 50, 55, 60, 75],
             "batched": [1, 2, 5, 10, 15, 20, 30, 50, 75]},
}


def users_spec(quick: bool, serving: str = "fifo") -> dict:
    """The default LTE cell (50 Mbit/s shared uplink) with 1-75 devices and one cloud
    serving (``fifo`` or ``batched``); requests and interval are per device. One workload
    seed for every cell of both servings' sweeps (common random numbers): device d has the
    same requests in every cell it is in, so FIFO vs batched, and N vs N+k devices, are
    paired comparisons."""
    grid = USERS_GRID["quick" if quick else "full"][serving]
    return {"sweep": {"seed": 0, "seed_from": "replicate"},  # same devices' requests in
            "fixed": {"policies": USERS_POLICIES, "requests": 10 if quick else 60,  # every cell
                      "cloud_serving": serving},
            "axes": {"users": grid}}


def _band(d: pd.DataFrame) -> pd.DataFrame:
    """The plotted interval per row: over devices when there are several (their requests
    are clustered), Wilson over the requests of the one device otherwise."""
    many = d["users"].to_numpy() > 1
    return d.assign(
        ci_low=np.where(many, d["user_ci_low"], d["hit_rate_ci_low"]),
        ci_high=np.where(many, d["user_ci_high"], d["hit_rate_ci_high"]),
        ci_type=np.where(many, CI_T_DEVICES, CI_WILSON_ONE_DEVICE),
        requests_total=d["users"] * d["requests"])


def fig_hit_rate_vs_users(ctx: Context) -> list[Path]:
    """Hit rate vs devices in one LTE cell, per policy; FIFO vs batched cloud GPU. Bands:
    95% t-interval of the mean per-device hit rate (requests of a device are clustered);
    with one device, the Wilson interval over its requests."""
    rows = pd.concat([ctx.sweep(f"users-{s}", users_spec(ctx.quick, s))
                      for s in ("fifo", "batched")], ignore_index=True)
    fig, axes = figure(3.2, 1, 2, sharey=True)
    data = []
    for ax, serving in zip(axes, ["fifo", "batched"], strict=True):
        for p in USERS_POLICIES:
            d = _band(rows[(rows["policy"] == p) & (rows["cloud_serving"] == serving)]
                      .sort_values("users"))
            c, ls, m = STYLE[p]
            x = d["users"].to_numpy()
            ax.fill_between(x, d["ci_low"], d["ci_high"], color=c, alpha=0.18, lw=0)
            ax.plot(x, d["deadline_hit_rate"], ls=ls, marker=m, color=c, label=p,
                    **line_kw(p))
            data.append(d[["policy", "cloud_serving", "users", "requests", "requests_total",
                           "deadline_hit_rate", "ci_low", "ci_high", "ci_type",
                           "user_ci_low", "user_ci_high", "hit_rate_ci_low",
                           "hit_rate_ci_high", "jain_fairness", "p95_latency_s"]])
        # square-root scale: resolves both the first few devices and the FIFO collapse
        # (35-60), which a log scale squeezes into an eighth of the axis
        ax.set_xscale("function", functions=(np.sqrt, np.square))
        ax.set_xlim(0, 78)  # the same range in both panels
        ticks = [1, 5, 10, 20, 40, 60]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("devices (\u221a scale)")
        ax.set_title("cloud GPU: FIFO" if serving == "fifo" else "cloud GPU: batches <= 8",
                     fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("deadline hit rate (2 s)")
    per_device = "/".join(map(str, sorted(set(rows["requests"]))))
    legend_below(fig, axes[0], ncol=3, note=(
        f"n = {per_device} requests per device, {int(rows['users'].max())} devices at most "
        "(x axis: square-root scale). "
        f"Bands: {CI_T_DEVICES} (2 or more devices); with 1 device, {CI_WILSON_ONE_DEVICE}."))
    return save(ctx, fig, "hit_rate_vs_users", pd.concat(data, ignore_index=True))
