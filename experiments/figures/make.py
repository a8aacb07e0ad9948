"""The figure registry and the driver that draws them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from experiments.figures.bandwidth import fig_hit_rate_vs_bandwidth, fig_utility_vs_bandwidth
from experiments.figures.context import Context
from experiments.figures.frontier import fig_capacity_frontier
from experiments.figures.latency import fig_latency_cdf
from experiments.figures.longctx import fig_quality_vs_context
from experiments.figures.payload import fig_payload_vs_context
from experiments.figures.quality import fig_kv_quantisation, fig_q2c_vs_snapkv, fig_scout_gap
from experiments.figures.timeline import fig_adaptive_timeline
from experiments.figures.timing import fig_timing_h200
from experiments.figures.traces import fig_hit_rate_per_trace
from experiments.figures.users import fig_hit_rate_vs_users
from models.errors import InputError

__all__ = ["FIGURES", "make_figures"]

FIGURES: dict[str, Callable[[Context], list[Path]]] = {
    "hit_rate_vs_bandwidth": fig_hit_rate_vs_bandwidth,
    "utility_vs_bandwidth": fig_utility_vs_bandwidth,
    "hit_rate_per_trace": fig_hit_rate_per_trace,
    "payload_vs_context": fig_payload_vs_context,
    "kv_quantisation": fig_kv_quantisation,
    "q2c_vs_snapkv": fig_q2c_vs_snapkv,
    "scout_gap": fig_scout_gap,
    "quality_vs_context": fig_quality_vs_context,
    "adaptive_timeline": fig_adaptive_timeline,
    "latency_cdf": fig_latency_cdf,
    "hit_rate_vs_users": fig_hit_rate_vs_users,
    "timing_h200": fig_timing_h200,
    "capacity_frontier": fig_capacity_frontier,
}


def make_figures(names: list[str] | None = None, ctx: Context | None = None) -> list[Path]:
    """Draw the named figures (default: all); returns the files written."""
    ctx = ctx or Context()
    names = names or list(FIGURES)
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise InputError(f"unknown figure {bad[0]!r}; figures are {', '.join(FIGURES)}")
    written: list[Path] = []
    for n in names:
        t0 = time.perf_counter()
        paths = FIGURES[n](ctx)
        written += paths
        if paths:
            ctx.log(f"{n}: {time.perf_counter() - t0:.1f} s -> "
                    + ", ".join(p.name for p in paths))
    return written
