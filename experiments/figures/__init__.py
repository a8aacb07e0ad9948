"""Every figure of the project, regenerated into ``figures/`` as PNG and PDF with the CSV of
the plotted numbers beside each.

Usage: ``python -m experiments.figures [--quick] [--only NAME[,NAME...]] [-j N] [--check]``

Figures that need simulations run them through the sweep machinery
(:mod:`experiments.sweep`), cached in ``results/figures/{quick,full}/NAME``: a rerun only
redraws. ``--quick`` uses fewer grid points and requests (same figures) and writes to
``results/figures-quick/``, never over the committed figures. ``--check`` regenerates the
full figures into ``results/figures-check/`` (sweeps in a fresh temporary cache unless
``--results`` names one) and compares each CSV with the committed one in ``figures/``,
printing which differ; exit status 1 if any does. Sizes are for a paper column (3.5 in
wide, 7-9 pt text), colours from the Okabe-Ito colour-blind-safe palette. Every figure
states its n and the kind of its intervals (or that it has none) in the figure and in a
``ci_type`` column of its CSV. Real-trace figures need ``../shared/traces``; without it
they are skipped with a message.

Modules: :mod:`~experiments.figures.context` (paths, the sweep cache),
:mod:`~experiments.figures.style` (size, colours, saving), one module per group of figures
(:mod:`~experiments.figures.bandwidth`, :mod:`~experiments.figures.traces`,
:mod:`~experiments.figures.payload`, :mod:`~experiments.figures.quality`,
:mod:`~experiments.figures.timeline`, :mod:`~experiments.figures.latency`,
:mod:`~experiments.figures.users`, :mod:`~experiments.figures.timing`,
:mod:`~experiments.figures.frontier`),
:mod:`~experiments.figures.make` (the registry) and :mod:`~experiments.figures.cli` (the
command line).
"""

from experiments.figures.bandwidth import (
    bandwidth_spec,
    fig_hit_rate_vs_bandwidth,
    fig_utility_vs_bandwidth,
)
from experiments.figures.cli import main
from experiments.figures.context import (
    FIG_DIR,
    MEASURED_CACHE,
    PUBLISHED_CACHE,
    RESULTS_DIR,
    SHARED_REL,
    SHARED_TRACES,
    Context,
)
from experiments.figures.frontier import fig_capacity_frontier
from experiments.figures.latency import fig_latency_cdf
from experiments.figures.make import FIGURES, make_figures
from experiments.figures.payload import fig_payload_vs_context
from experiments.figures.quality import (
    PUBLISHED_PAIR,
    SERIES_COLOURS,
    fig_kv_quantisation,
    fig_q2c_vs_snapkv,
    fig_scout_gap,
)
from experiments.figures.style import OKABE_ITO, POLICIES, RC, STYLE, UNDERLAY, WIDTH_IN, save
from experiments.figures.timeline import fig_adaptive_timeline
from experiments.figures.timing import fig_timing_h200, timing_figure
from experiments.figures.traces import fig_hit_rate_per_trace, real_uplink_traces
from experiments.figures.users import USERS_POLICIES, fig_hit_rate_vs_users, users_spec

__all__ = ["FIGURES", "FIG_DIR", "MEASURED_CACHE", "OKABE_ITO", "POLICIES", "PUBLISHED_CACHE",
           "PUBLISHED_PAIR", "RC", "RESULTS_DIR", "SERIES_COLOURS", "SHARED_REL",
           "SHARED_TRACES", "STYLE", "UNDERLAY", "USERS_POLICIES", "WIDTH_IN", "Context",
           "bandwidth_spec", "fig_adaptive_timeline", "fig_capacity_frontier",
           "fig_hit_rate_per_trace",
           "fig_hit_rate_vs_bandwidth", "fig_hit_rate_vs_users", "fig_kv_quantisation",
           "fig_latency_cdf", "fig_payload_vs_context", "fig_q2c_vs_snapkv", "fig_scout_gap",
           "fig_timing_h200", "fig_utility_vs_bandwidth", "main", "make_figures",
           "real_uplink_traces", "save", "timing_figure", "users_spec"]
