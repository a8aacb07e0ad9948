"""The experiment scripts' one recipe (``experiments/adaptive_table.py`` and the others):
load the spec file, override what the flags say, put the named trace set in its trace axis,
run the sweep into the out folder (resuming), then the analysis; print its text.

Kept apart from the analyses themselves: this module imports :mod:`experiments.sweep`, whose
CLI imports :mod:`experiments.analyses` (``--analyse``), so nothing the analyses import may
import the sweep.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from experiments.analyses import run_analysis
from experiments.sweep import run_sweep
from models.cli import Main, Parser, add_common, command, make_parser
from models.errors import InputError
from models.kvencoding import ENCODINGS
from models.transport import TRANSPORTS
from sim.grid import Spec, spec_from_dict
from sim.scenario import FIELDS, REPO_ROOT, Scenario
from sim.settings import parse_settings_file
from sim.traces import sets

__all__ = ["SPECS_DIR", "add_sweep_flags", "experiment_main", "experiment_spec",
           "run_experiment"]

SPECS_DIR = REPO_ROOT / "experiments" / "specs"
_DEFAULTS = Scenario()


def experiment_spec(path: str | Path, *, sweep: dict[str, Any] | None = None,
                    fixed: dict[str, Any] | None = None,
                    trace_set: str | None = None) -> Spec:
    """The spec file ``path`` with ``[sweep]`` keys and ``[fixed]`` fields overridden (None
    values leave the spec's), and its trace axis replaced by the trace set ``trace_set``
    (the files present, in the set's order: a missing one is skipped, not refused).

    A field given its default value where the spec does not set it is left out, so the
    spec (and its store) is the same whether a flag restates a default or not."""
    p = Path(path)
    data, _ = parse_settings_file(p, "spec")
    data = copy.deepcopy(data)
    sw = data.setdefault("sweep", {})
    for k, v in (sweep or {}).items():
        if v is not None:
            sw[k] = v
    fx = data.setdefault("fixed", {})
    axes = data.setdefault("axes", {})
    for k, v in (fixed or {}).items():
        if v is None:
            continue
        axes.pop(k, None)
        if k in fx or k not in FIELDS or v != getattr(_DEFAULTS, k):
            fx[k] = v
    if trace_set is not None:  # the sweep expands it (sim.traces.sets), skipping the missing
        fx.pop("trace", None)
        axes["trace"] = [f"set:{trace_set}"]
    return spec_from_dict(data, str(p), suffix=p.suffix.lower(), default_name=p.stem)


def add_sweep_flags(ap: Parser) -> None:
    """``-j/--jobs`` and ``--quiet``: how the scripts run their sweep."""
    ap.add_argument("-j", "--jobs", type=int,
                    help="local worker processes for the sweep (default: all cores)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")


def run_experiment(analysis: str, spec: Spec, out: str | Path, *, jobs: int | None = None,
                   quiet: bool = False, trace_set: str | None = None) -> str:
    """Run ``spec`` into the store ``out`` (resuming), then the analysis; its text. With
    ``trace_set``, says on stderr which of the set's traces are missing (and so skipped)."""
    if jobs is not None and jobs < 1:
        raise InputError("-j must be >= 1")
    if trace_set is not None and not quiet:
        absent = sets.missing(trace_set)
        if absent:
            print(f"note: {len(absent)} trace(s) of the set {trace_set!r} are missing and "
                  f"skipped: {', '.join(e.path() for e in absent)}", file=sys.stderr)
    report = run_sweep(spec, out, jobs=jobs, quiet=quiet)
    if not report.complete:  # pragma: no cover - run_sweep runs every missing cell
        raise InputError(f"the sweep in {out} is not complete", spec.source)
    return run_analysis(analysis, spec, Path(out), rows=report.rows)


def experiment_main(name: str, doc: str | None, *, trace_set: str, writes: str, per: str,
                    out: str | None = None, flags: dict[str, tuple[str, dict]] | None = None
                    ) -> Main:
    """The ``main(argv)`` of ``python -m experiments.NAME``: the spec
    ``experiments/specs/NAME.toml`` with ``--requests``/``--seed`` (and ``flags``: Scenario
    field -> (flag, argparse keywords)) overriding it, run into ``--out`` (default
    ``results/NAME``), then the analysis NAME; prints its text. ``writes`` names the files
    the analysis writes, ``per`` what ``--requests`` counts per (``trace``, ``cell``)."""
    out = out or f"results/{name}"

    @command
    def main(argv: list[str] | None = None) -> int:
        ap = make_parser(f"python -m experiments.{name}", doc)
        add_common(ap, "requests", help=f"requests per {per} (default: the spec's, 500)")
        add_common(ap, "seed", default=None, help="workload seed (default: the spec's, 0)")
        for field, (flag, kw) in (flags or {}).items():
            ap.add_argument(flag, dest=field, **kw)
        ap.add_argument("--transport", choices=TRANSPORTS, default=None,
                        help="fluid or tcp (default: the spec's, fluid); tcp's default out "
                             "folder gets the suffix -tcp")
        ap.add_argument("--kv-encoding", choices=ENCODINGS, default=None,
                        help="KV payload encoding: raw, zstd or entropy (default: the spec's, "
                             "raw); a coded run's default out folder gets the suffix -NAME")
        add_common(ap, "out", default=None, help=f"output folder (sweep store and {writes}; "
                   f"default {out})")
        add_sweep_flags(ap)
        args = ap.parse_args(argv)
        if args.out is None:
            args.out = (out + ("-tcp" if args.transport == "tcp" else "")
                        + (f"-{args.kv_encoding}" if args.kv_encoding not in (None, "raw")
                           else ""))
        fixed = {"requests": args.requests, "transport": args.transport,
                 "kv_encoding": args.kv_encoding,
                 **{f: getattr(args, f) for f in flags or {}}}
        spec = experiment_spec(SPECS_DIR / f"{name}.toml", sweep={"seed": args.seed},
                               fixed=fixed)
        print(run_experiment(name, spec, args.out, jobs=args.jobs, quiet=args.quiet,
                             trace_set=trace_set))
        return 0

    return main
