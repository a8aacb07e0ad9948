"""How ``adaptive``'s default estimator was chosen: on the shipped synthetic traces only.

Runs ``adaptive`` with each throughput estimator (and safety factors 0.5/0.8/1.0) against
``cloud-text`` (the best static policy there) on the four shipped traces, 500 requests,
and prints the utility difference with the paired Wilcoxon verdict (Holm over the variants).
The real traces in ``../shared/traces`` are kept out of this choice, so the README's table
on them is out of sample. The experiment is the spec
``experiments/specs/estimator_choice.toml`` on the trace set ``synthetic``
(``sim.traces.sets``) plus the analysis ``experiments.analyses.estimator_choice``.

Usage: ``python -m experiments.estimator_choice [--requests 500]
[--out results/estimator_choice] [-j N]``; writes ``table.txt`` beside the sweep's store.
"""

from __future__ import annotations

from experiments.analyses.script import experiment_main
from models.cli import run_main

main = experiment_main("estimator_choice", __doc__, trace_set="synthetic",
                       writes="table.txt", per="trace")

if __name__ == "__main__":
    run_main(main)
