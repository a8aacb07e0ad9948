"""Hit rate per real uplink trace (``../shared/traces``; skipped without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.transforms import blended_transform_factory

from experiments.figures.context import Context
from experiments.figures.style import (
    CI_WILSON,
    POLICIES,
    STYLE,
    figure,
    legend_below,
    save,
    trace_dataset,
    trace_label,
    trace_name,
)
from sim.traces import sets as trace_sets

__all__ = ["LOGIT_EDGE", "fig_hit_rate_per_trace", "real_uplink_traces"]

#: the logit axis runs from LOGIT_EDGE to 1 - LOGIT_EDGE; hit rates of exactly 0 or 1
#: (and CI ends there) are drawn at those ends
LOGIT_EDGE = 1e-4


def real_uplink_traces(ctx: Context) -> list[str]:
    """The trace set ``real-uplink`` (:mod:`sim.traces.sets`) present under ``ctx.shared``,
    sorted by path (the figure's row order), or [] when ../shared is absent."""
    return sorted(trace_sets.resolve("real-uplink", shared_traces=ctx.shared))


def _rows_with_headings(traces: list[str]
                        ) -> tuple[list[str], dict[str, float], list[tuple[float, str]]]:
    """Y positions: a heading row per dataset, then its traces by their full names.
    Returns (tick labels, trace -> y, (y, dataset) of each heading)."""
    labels, ys, headings = [], {}, []
    dataset = None
    for t in traces:
        if trace_dataset(t) != dataset:
            dataset = trace_dataset(t)
            headings.append((float(len(labels)), dataset))
            labels.append("")
        ys[t] = float(len(labels))
        labels.append(trace_name(t))
    return labels, ys, headings


def fig_hit_rate_per_trace(ctx: Context) -> list[Path]:
    """Hit rate per real uplink trace (mahimahi .up, NYU-METS) per policy, Wilson CIs, on a
    logit axis (resolves both 0.001-0.1 and 0.9-0.999)."""
    pats = real_uplink_traces(ctx)
    if not pats:
        ctx.log(f"  skipped hit_rate_per_trace: {ctx.shared} is absent (real traces needed)")
        return []
    rows = ctx.sweep("traces", {
        "sweep": {"seed": 0},
        "fixed": {"policies": POLICIES, "requests": 200 if ctx.quick else 2000},
        "axes": {"trace": pats}})
    traces = list(dict.fromkeys(rows["trace"]))
    labels, ys, headings = _rows_with_headings(traces)
    fig, ax = figure(0.26 * len(labels) + 1.6)
    offsets = np.linspace(-0.33, 0.33, len(POLICIES))
    lo_edge, hi_edge = LOGIT_EDGE, 1 - LOGIT_EDGE
    for k, p in enumerate(POLICIES):
        d = rows[rows["policy"] == p].set_index("trace").loc[traces]
        y = np.array([ys[t] for t in traces]) + offsets[k]
        c, _, m = STYLE[p]
        x = d["deadline_hit_rate"].to_numpy().clip(lo_edge, hi_edge)
        lo = d["hit_rate_ci_low"].to_numpy().clip(lo_edge, hi_edge)
        hi = d["hit_rate_ci_high"].to_numpy().clip(lo_edge, hi_edge)
        ax.errorbar(x, y, xerr=np.vstack([x - lo, hi - x]), fmt=m, color=c, ms=3,
                    elinewidth=0.7, capsize=0, label=p, clip_on=False)
    ax.set_xscale("logit")
    ax.set_xlim(lo_edge, hi_edge)
    ticks = [lo_edge, 0.001, 0.01, 0.1, 0.9, 0.99, 0.999, hi_edge]
    ax.set_xticks(ticks, ["0", "", "0.01", "0.1", "0.9", "0.99", "", "1"], fontsize=7)
    ax.xaxis.set_minor_formatter("")
    ax.set_yticks(range(len(labels)), labels)
    for i, dataset in headings:
        # from the figure's left edge across the tick labels (the heading row has no data)
        ax.text(0.01, i, dataset, transform=blended_transform_factory(fig.transFigure,
                                                                      ax.transData),
                ha="left", va="center", fontsize=7, fontweight="bold", in_layout=False,
                zorder=5, bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none"})
        if i > 0:
            ax.axhline(i - 0.5, color="0.5", lw=0.7)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("deadline hit rate (2 s), logit scale")
    for edge in (lo_edge, hi_edge):  # the ends are 0 and 1, not on the logit scale
        ax.axvline(edge, color="0.3", lw=0.6, ls=(0, (2, 2)))
    ax.grid(axis="y", alpha=0)
    for t in traces:
        ax.axhline(ys[t] + 0.5, color="0.88", lw=0.5)
    n = sorted(set(rows["requests"]))
    legend_below(fig, ax, note=f"n = {'/'.join(map(str, n))} requests per trace and policy; "
                 f"bars: {CI_WILSON}; hit rates of 0 and 1 (and CI ends there) are drawn "
                 "at the axis ends, labelled 0 and 1")
    data = rows[["trace", "policy", "requests", "deadline_hit_rate", "hit_rate_ci_low",
                 "hit_rate_ci_high", "utility"]].assign(
        label=rows["trace"].map(trace_label), dataset=rows["trace"].map(trace_dataset),
        ci_type=CI_WILSON)
    return save(ctx, fig, "hit_rate_per_trace", data)
