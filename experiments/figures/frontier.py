"""The capacity frontier: the uplink each policy needs for a target hit rate, per deadline."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import STYLE, figure, legend_below, line_kw, save

__all__ = ["FRONTIER_POLICIES", "fig_capacity_frontier", "frontier_rows"]

FRONTIER_POLICIES = ["int8", "int4", "mixed", "scout", "cloud-text"]
TARGET_HIT_RATE = 0.95
TRACE = "traces/lte.csv"
DEADLINES_S = {"quick": [1.0, 2.0, 4.0, 8.0], "full": [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0]}
MAX_REQUESTS = {"quick": 400, "full": 3200}
SCALE_RANGE = (1 / 64, 64.0)
CI_BRACKET = "bars: certified bracket (95% Wilson CIs on either side of the target)"


def frontier_rows(ctx: Context) -> pd.DataFrame:
    """The planning answers (:func:`experiments.plan.plan_many`), per deadline and policy,
    their evaluations kept in ``results/figures/MODE/capacity_frontier/plan.jsonl``."""
    from experiments.plan import Store, Target, plan_many
    from sim.scenario import Scenario

    problems = [({"deadline_s": d}, Scenario(trace=TRACE, policies=[p], deadline_s=d), p)
                for d in DEADLINES_S[ctx.mode] for p in FRONTIER_POLICIES]
    store = Store(ctx.results / ctx.mode / "capacity_frontier" / "plan.jsonl")
    return plan_many(problems, "bandwidth_scale", SCALE_RANGE[0], SCALE_RANGE[1],
                     Target("hit_rate", TARGET_HIT_RATE), requests=200,
                     max_requests=MAX_REQUESTS[ctx.mode], rel_tol=0.02, jobs=ctx.jobs or 1,
                     store=store)


def fig_capacity_frontier(ctx: Context) -> list[Path]:
    """The LTE trace scaled until each policy meets 95% of deadlines: the required scale
    (as the trace's mean uplink, Mbit/s) against the deadline, one curve per policy."""
    from sim.traces import read_trace

    rows = frontier_rows(ctx)
    mean_mbps = read_trace(TRACE).mean_mbps()
    fig, ax = figure(3.0)
    data = []
    for p in FRONTIER_POLICIES:
        part = rows[rows.policy == p].sort_values("deadline_s")
        ok = part[part.value.notna()]  # a certified bracket (narrow or not), or met at 1/64
        y = ok.value * mean_mbps
        low = (ok.bracket_low.fillna(ok.value)) * mean_mbps
        c, ls, m = STYLE[p]
        ax.errorbar(ok.deadline_s, y, yerr=[y - low, 0 * y], color=c, ls=ls, marker=m,
                    label=p, capsize=1.5, **line_kw(p))
        data.append(part.assign(required_mean_mbps=part.value * mean_mbps,
                                bracket_low_mbps=part.bracket_low * mean_mbps,
                                bracket_high_mbps=part.bracket_high * mean_mbps))
    ax.set_xscale("log", base=2)
    ax.set_xticks(DEADLINES_S[ctx.mode], [f"{d:g}" for d in DEADLINES_S[ctx.mode]])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("deadline (s)")
    ax.set_ylabel("mean uplink needed (Mbit/s)")
    ax.axhline(mean_mbps, color="black", lw=0.7, ls=(0, (1, 2)))
    ax.annotate(f"LTE trace as recorded ({mean_mbps:.1f} Mbit/s)", (1.0, mean_mbps),
                xytext=(2, 2), textcoords="offset points", fontsize=7)
    n = int(rows.simulated_requests.sum())
    legend_below(fig, ax, ncol=5, note=(
        f"LTE trace scaled (1/64-64x) until {TARGET_HIT_RATE:.0%} of requests meet the "
        f"deadline; {CI_BRACKET}; {len(rows)} searches, {n:,} simulated requests; at the "
        "bottom: met already at 1/64 of the trace (the least tried); no point: not "
        "reachable in range or not separable"))
    out = pd.concat(data, ignore_index=True)
    out["non_monotone"] = out.non_monotone.map(lambda v: ";".join(f"{a:g}-{b:g}" for a, b in v))
    for col in ("ci_at_low", "ci_at_high"):
        out[col] = out[col].map(lambda v: "" if v is None or (isinstance(v, float) and
                                                               math.isnan(v)) else
                                f"{v[0]:.6g}-{v[1]:.6g}")
    return save(ctx, fig, "capacity_frontier", out.assign(ci_type=CI_BRACKET))
