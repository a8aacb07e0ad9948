"""``python -m experiments.sweep``: the command line (see :mod:`experiments.sweep`)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from experiments.sweep.driver import SweepReport, is_complete, run_sweep, status
from models.cli import Parser, add_common, command, make_parser
from models.errors import InputError
from sim.grid.parse import load_spec
from sim.grid.spec import Spec
from sim.grid.summary import format_summary

__all__ = ["PROG", "build_parser", "main"]

PROG = "python -m experiments.sweep"
INTERRUPTED = "interrupted: finished cells are kept; rerun the same command to resume"
Analysis = Callable[[str, Spec, Path], str]


def build_parser() -> Parser:
    p = make_parser(PROG, "Run a sweep spec into a resumable result store.")
    p.add_argument("spec", help="sweep spec (.toml, .yaml)")
    add_common(p, "out", help="result folder (default: [sweep] out, else results/NAME)")
    p.add_argument("-j", "--jobs", type=int, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the cells on an existing Dask distributed cluster")
    p.add_argument("--status", action="store_true", help="say how much is done, run nothing")
    add_common(p, "quiet", help="no progress bar, no summary table")
    p.add_argument("--analyse", "--analyze", metavar="NAME",
                   help="then run the analysis NAME on the finished sweep and print it "
                        "(nothing runs when every cell is done)")
    return p


@command
def main(argv: list[str] | None = None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise InputError("-j must be >= 1")
    if args.jobs is not None and args.scheduler:
        raise InputError("give -j or --scheduler, not both")
    if args.scheduler and not re.fullmatch(r"([a-z]+://)?[^\s/:]+(:\d+)", args.scheduler):
        raise InputError(f"--scheduler {args.scheduler!r}: expected tcp://HOST:PORT")
    spec = load_spec(args.spec, load_plugins=not args.status)  # --status runs no plugin
    out = Path(args.out) if args.out else spec.default_out()
    analysis = _analysis() if args.analyse else None  # before any work: fail fast
    if args.status:
        print(status(spec, out))
        if analysis is not None:
            if not is_complete(spec, out):
                raise InputError(f"--analyse {args.analyse}: the sweep in {out} is not "
                                 "finished; run it (without --status) first")
            _print_analysis(analysis, args.analyse, spec, out)
        return 0
    if analysis is None or not is_complete(spec, out):
        rep = run_sweep(spec, out, jobs=args.jobs, scheduler=args.scheduler,
                        quiet=args.quiet)
        if not args.quiet:
            _print_report(spec, rep)
            if analysis is not None:
                print()
    if analysis is not None:
        _print_analysis(analysis, args.analyse, spec, out)
    return 0


def _print_report(spec: Spec, rep: SweepReport) -> None:
    nw = len(rep.workers)
    print(f"sweep {spec.name}: {rep.cells} cells ({rep.done_before} already done); ran "
          f"{rep.ran} in {rep.elapsed_s:.1f} s on {rep.where}"
          + (f" ({nw} worker process{'es' if nw != 1 else ''})"
             if rep.ran and rep.where != "1 process (serial)" else ""))
    print()
    print(format_summary(spec, rep.rows))
    print()
    print(f"results: {rep.out}/cells/*.parquet (one row per cell and policy)"
          + (", rows.csv" if rep.complete else ""))


def _analysis() -> Analysis:
    """``experiments.analyses.run_analysis``, imported only when asked for."""
    try:
        from experiments.analyses import run_analysis
    except ImportError as err:
        if isinstance(err, ModuleNotFoundError) and err.name in ("experiments.analyses", None):
            raise InputError("no analyses available") from None
        raise InputError(f"no analyses available (experiments.analyses: {err})") from None
    return run_analysis


def _print_analysis(analysis: Analysis, name: str, spec: Spec, out: Path) -> None:
    text = analysis(name, spec, out)
    if text:
        print(text.rstrip("\n"))
