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

from experiments.analyses.script import (
    SPECS_DIR,
    add_sweep_flags,
    experiment_spec,
    run_experiment,
)
from models.cli import add_common, command, make_parser, run_main

NAME = "estimator_choice"
SPEC = SPECS_DIR / f"{NAME}.toml"
TRACE_SET = "synthetic"


@command
def main(argv: list[str] | None = None) -> int:
    ap = make_parser(f"python -m experiments.{NAME}", __doc__)
    add_common(ap, "requests", help="requests per trace (default: the spec's, 500)")
    add_common(ap, "seed", default=None, help="workload seed (default: the spec's, 0)")
    add_common(ap, "out", default=f"results/{NAME}", help="output folder (sweep store and "
               f"table.txt; default results/{NAME})")
    add_sweep_flags(ap)
    args = ap.parse_args(argv)
    spec = experiment_spec(SPEC, sweep={"seed": args.seed},
                           fixed={"requests": args.requests})
    print(run_experiment(NAME, spec, args.out, jobs=args.jobs, quiet=args.quiet,
                         trace_set=TRACE_SET))
    return 0


if __name__ == "__main__":
    run_main(main)
