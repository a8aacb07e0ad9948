"""``python -m experiments.figures``: the command line (see :mod:`experiments.figures`)."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from experiments.figures.context import FIG_DIR, QUICK_DIR, RESULTS_DIR, Context
from experiments.figures.make import FIGURES, make_figures
from models.cli import Parser, add_common, command, make_parser

__all__ = ["PROG", "build_parser", "main"]

PROG = "python -m experiments.figures"


def build_parser() -> Parser:
    doc = importlib.import_module(__package__).__doc__  # the package's, as --help's line
    ap = make_parser(PROG, doc)
    ap.add_argument("--quick", action="store_true",
                    help="fewer grid points and requests (same figures)")
    ap.add_argument("--only", help="comma-separated figure names: " + ", ".join(FIGURES))
    ap.add_argument("-j", "--jobs", type=int, help="local processes for the sweeps")
    add_common(ap, "out", default=None, help="figure folder (default figures/; with --quick "
               "results/figures-quick/, so quick runs never replace the committed figures)")
    ap.add_argument("--results", default=str(RESULTS_DIR),
                    help="sweep cache (default results/figures)")
    add_common(ap, "quiet", help="no progress bars (they show only on a terminal)")
    return ap


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else QUICK_DIR if args.quick else FIG_DIR
    ctx = Context(quick=args.quick, jobs=args.jobs, out=out,
                  results=Path(args.results), quiet=args.quiet)
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    t0 = time.perf_counter()
    written = make_figures(names, ctx)
    print(f"{len(written)} files in {ctx.out} ({time.perf_counter() - t0:.1f} s, "
          f"{ctx.mode})")
    return 0
