"""Adaptive vs static vs oracle on the shipped traces and every real uplink trace.

For each trace: every static policy, ``adaptive``, ``mpc`` and ``oracle`` on the same
requests (default scenario otherwise), hit rate and utility with 95% CIs, and paired tests
of each policy against ``adaptive`` (McNemar / Wilcoxon, Holm over the policies compared on
that trace). Then three checks: adaptive is never significantly worse than the best static
policy on a trace (in utility), beats every static policy in utility on some trace, and
oracle's utility bounds adaptive's.

Usage: ``python -m experiments.adaptive_table [--requests 500] [--out results/adaptive]
[-j N]``; writes ``summary.csv``, ``comparisons.csv`` and ``table.md`` (the README table)
beside the sweep's store. The experiment is the spec ``experiments/specs/adaptive_table.toml``
on the trace set ``uplink`` (``sim.traces.sets``; traces missing from ``../shared`` are
skipped) plus the analysis ``experiments.analyses.adaptive_table``; rerunning resumes.
"""

from __future__ import annotations

from experiments.analyses.script import (
    SPECS_DIR,
    add_sweep_flags,
    experiment_spec,
    run_experiment,
)
from models.cli import add_common, command, make_parser, run_main

NAME = "adaptive_table"
SPEC = SPECS_DIR / f"{NAME}.toml"
TRACE_SET = "uplink"


@command
def main(argv: list[str] | None = None) -> int:
    ap = make_parser(f"python -m experiments.{NAME}", __doc__)
    add_common(ap, "requests", help="requests per trace (default: the spec's, 500)")
    add_common(ap, "seed", default=None, help="workload seed (default: the spec's, 0)")
    ap.add_argument("--deadline", type=float, help="deadline in s (default 2)")
    ap.add_argument("--options", help="modes adaptive policies may choose among (default "
                    "kv,scout,cloud-text,edge-local)")
    add_common(ap, "out", default="results/adaptive", help="output folder (sweep store and "
               "tables; default results/adaptive)")
    add_sweep_flags(ap)
    args = ap.parse_args(argv)
    spec = experiment_spec(SPEC, sweep={"seed": args.seed},
                           fixed={"requests": args.requests, "deadline_s": args.deadline,
                                  "options": args.options})
    print(run_experiment(NAME, spec, args.out, jobs=args.jobs, quiet=args.quiet,
                         trace_set=TRACE_SET))
    return 0


if __name__ == "__main__":
    run_main(main)
