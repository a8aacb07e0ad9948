"""Hit rate per real uplink trace (``../shared/traces``; skipped without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.figures.context import Context
from experiments.figures.style import POLICIES, STYLE, figure, legend_below, save, trace_label
from sim.traces import sets as trace_sets

__all__ = ["fig_hit_rate_per_trace", "real_uplink_traces"]


def real_uplink_traces(ctx: Context) -> list[str]:
    """The trace set ``real-uplink`` (:mod:`sim.traces.sets`) present under ``ctx.shared``,
    sorted by path (the figure's row order), or [] when ../shared is absent."""
    return sorted(trace_sets.resolve("real-uplink", shared_traces=ctx.shared))


def fig_hit_rate_per_trace(ctx: Context) -> list[Path]:
    """Hit rate per real uplink trace (mahimahi .up, NYU-METS) per policy, Wilson CIs."""
    pats = real_uplink_traces(ctx)
    if not pats:
        ctx.log(f"  skipped hit_rate_per_trace: {ctx.shared} is absent (real traces needed)")
        return []
    rows = ctx.sweep("traces", {
        "sweep": {"seed": 0},
        "fixed": {"policies": POLICIES, "requests": 200 if ctx.quick else 2000},
        "axes": {"trace": pats}})
    traces = list(dict.fromkeys(rows["trace"]))
    labels = [trace_label(t, short=True) for t in traces]
    fig, ax = figure(0.27 * len(traces) + 1.3)
    offsets = np.linspace(-0.35, 0.35, len(POLICIES))
    for k, p in enumerate(POLICIES):
        d = rows[rows["policy"] == p].set_index("trace").loc[traces]
        y = np.arange(len(traces)) + offsets[k]
        c, _, m = STYLE[p]
        x = d["deadline_hit_rate"].to_numpy()
        err = np.vstack([x - d["hit_rate_ci_low"].to_numpy(), d["hit_rate_ci_high"] - x])
        ax.errorbar(x, y, xerr=err, fmt=m, color=c, ms=3, elinewidth=0.7, capsize=0, label=p)
    ax.set_yticks(np.arange(len(traces)), labels)
    ax.invert_yaxis()
    ax.set_xlim(-0.03, 1.04)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_xlabel("deadline hit rate (2 s), 95% Wilson CI")
    ax.grid(axis="y", alpha=0)
    for i in range(len(traces) - 1):
        ax.axhline(i + 0.5, color="0.85", lw=0.5)
    legend_below(fig, ax)
    data = rows[["trace", "policy", "requests", "deadline_hit_rate", "hit_rate_ci_low",
                 "hit_rate_ci_high", "utility"]].assign(label=rows["trace"].map(trace_label))
    return save(ctx, fig, "hit_rate_per_trace", data)
