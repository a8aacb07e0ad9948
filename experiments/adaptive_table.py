"""Adaptive vs static vs oracle on the shipped traces and every real uplink trace.

For each trace: every static policy, ``adaptive``, ``mpc`` and ``oracle`` on the same
requests (default scenario otherwise), hit rate and utility with 95% CIs, and paired tests
of each policy against ``adaptive`` (McNemar / Wilcoxon, Holm over the policies compared on
that trace). Then three checks: adaptive is never significantly worse than the best static
policy on a trace (in utility), beats every static policy in utility on some trace, and
oracle's utility bounds adaptive's.

Usage: ``python -m experiments.adaptive_table [--requests 500] [--out results/adaptive]``;
writes ``summary.csv``, ``comparisons.csv`` and ``table.md`` (the README table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.scenario import REPO_ROOT, Scenario
from sim.simulation import run

SHARED = REPO_ROOT.parent / "shared" / "traces"
STATIC = ["bf16", "int8", "int4", "mixed", "scout", "cloud-text", "edge-local"]
ADAPTIVE = ["adaptive", "mpc", "oracle"]
#: shipped synthetic traces, then every real trace in ../shared/traces measured on the uplink
#: (mahimahi .up; NYU-METS is iPerf from the phone, inferred uplink: traces/README.md)
TRACES = {
    "lte (synthetic)": "traces/lte.csv", "5g (synthetic)": "traces/5g.csv",
    "3g (synthetic)": "traces/3g.csv", "broadband (synthetic)": "traces/broadband.csv",
    **{f"mahimahi {n}": f"{SHARED}/mahimahi/{n}" for n in (
        "ATT-LTE-driving.up", "ATT-LTE-driving-2016.up", "TMobile-LTE-short.up",
        "TMobile-UMTS-driving.up", "Verizon-EVDO-driving.up")},
    **{f"nyu-mets {n}": f"{SHARED}/nyu-mets-lte/{n}.csv" for n in (
        "7Train1", "7Train2", "Long_Island_Rail_Road", "QTrain", "bus57", "bus62", "bus62_2")},
}


def evaluate(requests: int, seed: int, **scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    summaries, comparisons = [], []
    available = {k: v for k, v in TRACES.items() if Path(v).exists()
                 or (REPO_ROOT / v).exists()}
    for name, path in tqdm(available.items(), desc="traces", file=sys.stderr):
        s = Scenario(policies=STATIC + ADAPTIVE, trace=path, requests=requests, seed=seed,
                     **scenario)
        r = run(s)
        summaries.append(r.summary.assign(trace=name))
        comparisons.append(r.comparisons.assign(trace=name))
    return pd.concat(summaries, ignore_index=True), pd.concat(comparisons, ignore_index=True)


def checks(summary: pd.DataFrame, comparisons: pd.DataFrame) -> list[str]:
    lines = []
    worse, beats, unbounded = [], [], []
    for trace, df in summary.groupby("trace", sort=False):
        u = df.set_index("policy")["utility"]
        best_static = u[STATIC].idxmax()
        cmp = comparisons[(comparisons.trace == trace)].set_index("policy")
        if cmp.loc[best_static, "utility_verdict"] == "better":
            worse.append(f"{trace} (best static {best_static})")
        if all(cmp.loc[p, "utility_verdict"] == "worse" for p in STATIC):
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


def markdown(summary: pd.DataFrame) -> str:
    """Two tables (hit rate, utility), a row per trace, each cell ``value [95% CI]``."""
    pols = STATIC + ADAPTIVE
    out = []
    for title, col, lo, hi in (("Deadline hit rate", "deadline_hit_rate", "hit_rate_ci_low",
                                "hit_rate_ci_high"),
                               ("Utility", "utility", "utility_ci_low", "utility_ci_high")):
        lines = [f"**{title}** (95% CI)", "", "| trace | " + " | ".join(pols) + " |",
                 "|" + "---|" * (len(pols) + 1)]
        for trace, df in summary.groupby("trace", sort=False):
            d = df.set_index("policy")
            cells = [f"{d.loc[p, col]:.3f} [{d.loc[p, lo]:.3f},{d.loc[p, hi]:.3f}]"
                     for p in pols]
            lines.append(f"| {trace} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deadline", type=float, default=2.0)
    ap.add_argument("--options", default="kv,scout,cloud-text,edge-local")
    ap.add_argument("--out", default="results/adaptive")
    args = ap.parse_args(argv)
    summary, comparisons = evaluate(args.requests, args.seed, deadline_s=args.deadline,
                                    options=args.options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    comparisons.to_csv(out / "comparisons.csv", index=False)
    table = markdown(summary)
    (out / "table.md").write_text(table + "\n")
    print(table)
    print()
    print("\n".join(checks(summary, comparisons)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
