"""Adaptive vs static vs oracle, one cell per trace (``experiments/specs/adaptive_table.toml``).

Per trace: every policy's hit rate and utility with 95% CIs (``summary.csv``, the summary of
a direct run plus ``trace``), and the paired tests of each policy against ``adaptive``
(``comparisons.csv``: McNemar / Wilcoxon, Holm over the policies of that trace). Then
``table.md`` (the README table: hit rate and utility, a row per trace, ``value [95% CI]``)
and three checks: adaptive is never significantly worse than the best static policy on a
trace (in utility), beats every static policy in utility on some trace, and oracle's utility
bounds adaptive's. Traces are in trace-set order (``sim.traces.sets``) and named by it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analyses.common import (
    SweepSpec,
    cells,
    comparisons_frame,
    need_policies,
    one_cell_per_trace,
    order_by_trace_set,
    summary_frame,
    trace_label,
)
from models.errors import InputError


def static_policies(policies: list[str]) -> list[str]:
    """The static policies among ``policies`` (same order)."""
    from policies import make_policy

    return [p for p in policies if make_policy(p)[1].static]


def frames(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, comparisons) over every trace, ``trace`` holding the trace's label."""
    summaries, comparisons = [], []
    for df in cells(rows):
        label = trace_label(df["trace"].iloc[0])
        summaries.append(summary_frame(df).assign(trace=label))
        comparisons.append(comparisons_frame(df).assign(trace=label))
    return (pd.concat(summaries, ignore_index=True),
            pd.concat(comparisons, ignore_index=True))


def checks(summary: pd.DataFrame, comparisons: pd.DataFrame, static: list[str]) -> list[str]:
    """The three checks, one line each (comparisons are against ``adaptive``)."""
    lines = []
    worse, beats, unbounded = [], [], []
    for trace, df in summary.groupby("trace", sort=False):
        u = df.set_index("policy")["utility"]
        best_static = u[static].idxmax()
        cmp = comparisons[(comparisons.trace == trace)].set_index("policy")
        if cmp.loc[best_static, "utility_verdict"] == "better":
            worse.append(f"{trace} (best static {best_static})")
        if all(cmp.loc[p, "utility_verdict"] == "worse" for p in static):
            beats.append(trace)
        if u["oracle"] < u["adaptive"] - 1e-12:
            unbounded.append(f"{trace} (oracle {u['oracle']:.3f} < adaptive "
                             f"{u['adaptive']:.3f})")
    lines.append("adaptive significantly worse in utility than the best static policy on: "
                 + (", ".join(worse) or "no trace"))
    lines.append("adaptive significantly better in utility than every static policy on: "
                 + (", ".join(beats) or "no trace"))
    lines.append("oracle utility below adaptive on: " + (", ".join(unbounded) or "no trace"))
    return lines


def markdown(summary: pd.DataFrame, policies: list[str]) -> str:
    """Two tables (hit rate, utility), a row per trace, each cell ``value [95% CI]``."""
    out = []
    for title, col, lo, hi in (("Deadline hit rate", "deadline_hit_rate", "hit_rate_ci_low",
                                "hit_rate_ci_high"),
                               ("Utility", "utility", "utility_ci_low", "utility_ci_high")):
        lines = [f"**{title}** (95% CI)", "", "| trace | " + " | ".join(policies) + " |",
                 "|" + "---|" * (len(policies) + 1)]
        for trace, df in summary.groupby("trace", sort=False):
            d = df.set_index("policy")
            cells_ = [f"{d.loc[p, col]:.3f} [{d.loc[p, lo]:.3f},{d.loc[p, hi]:.3f}]"
                      for p in policies]
            lines.append(f"| {trace} | " + " | ".join(cells_) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def analyse(rows: pd.DataFrame, spec: SweepSpec, out_dir: Path) -> str:
    """Write ``summary.csv``, ``comparisons.csv`` and ``table.md``; the table and checks."""
    need_policies(spec, "adaptive_table", "adaptive", "oracle")
    refs = set(rows["vs_reference"].dropna())
    if refs != {"adaptive"}:
        raise InputError("analysis adaptive_table compares against adaptive; the spec's "
                         f"reference is {', '.join(sorted(refs)) or 'none'} (compare_to)",
                         spec.source)
    static = static_policies(spec.policies)
    if not static:
        raise InputError("analysis adaptive_table needs a static policy", spec.source)
    rows = order_by_trace_set(rows)
    one_cell_per_trace(rows, "adaptive_table")
    summary, comparisons = frames(rows)
    summary.to_csv(out_dir / "summary.csv", index=False)
    comparisons.to_csv(out_dir / "comparisons.csv", index=False)
    table = markdown(summary, spec.policies)
    (out_dir / "table.md").write_text(table + "\n")
    return table + "\n\n" + "\n".join(checks(summary, comparisons, static))
