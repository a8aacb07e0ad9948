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

from experiments.analyses.script import experiment_main
from models.cli import run_main

main = experiment_main(
    "adaptive_table", __doc__, trace_set="uplink", out="results/adaptive",
    writes="tables", per="trace", flags={
        "deadline_s": ("--deadline", {"type": float, "metavar": "DEADLINE",
                                      "help": "deadline in s (default 2)"}),
        "options": ("--options", {"help": "modes adaptive policies may choose among "
                                  "(default kv,scout,cloud-text,edge-local)"})})

if __name__ == "__main__":
    run_main(main)
