"""How ``adaptive``'s default estimator was chosen: on the shipped synthetic traces only.

Runs ``adaptive`` with each throughput estimator (and safety factors 0.5/0.8/1.0) against
``cloud-text`` (the best static policy there) on the four shipped traces, 500 requests,
and prints the utility difference with the paired Wilcoxon verdict (Holm over the variants).
The real traces in ``../shared/traces`` are kept out of this choice, so the README's table
on them is out of sample.

Usage: ``python -m experiments.estimator_choice [--requests 500]``
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from sim.scenario import Scenario
from sim.simulation import run

TRACES = ["traces/lte.csv", "traces/5g.csv", "traces/3g.csv", "traces/broadband.csv"]
VARIANTS = [f"adaptive(estimator={e},safety={s})" for e in ("ewma", "harmonic", "min", "robust")
            for s in (0.5, 0.8, 1.0)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args(argv)
    rows = []
    for trace in TRACES:
        r = run(Scenario(policies=["cloud-text", *VARIANTS], trace=trace,
                         requests=args.requests, compare_to="cloud-text"))
        for c in r.comparisons.itertuples():
            rows.append({"trace": trace.split("/")[-1], "variant": c.policy,
                         "utility_vs_cloud_text": c.utility_diff,
                         "verdict": c.utility_verdict})
    df = pd.DataFrame(rows)
    table = df.pivot(index="variant", columns="trace", values="utility_vs_cloud_text")
    table["mean"] = table.mean(axis=1)
    table["significantly worse on"] = df[df.verdict == "worse"].groupby("variant").size()
    table["significantly worse on"] = table["significantly worse on"].fillna(0).astype(int)
    print(table.sort_values("mean", ascending=False).to_string(float_format="{:+.4f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
