"""``python -m experiments.figures``: the command line (see :mod:`experiments.figures`)."""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

from experiments.figures.context import CHECK_DIR, FIG_DIR, QUICK_DIR, RESULTS_DIR, Context
from experiments.figures.make import FIGURES, make_figures
from models.cli import Parser, add_common, command, make_parser
from models.errors import InputError

__all__ = ["PROG", "build_parser", "compare_csvs", "main"]

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
    ap.add_argument("--results", default=None,
                    help="sweep cache (default results/figures; with --check a fresh "
                         "temporary one, so the check re-simulates with the current code)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate (full size) into results/figures-check/ and compare each "
                         "CSV with the committed one in figures/; exit 1 if any differ")
    add_common(ap, "quiet", help="no progress bars (they show only on a terminal)")
    return ap


def compare_csvs(names: list[str], new: Path, committed: Path) -> list[str]:
    """One line per figure: its CSV in ``new`` vs ``committed``; lines starting ``DIFFERS``
    or ``MISSING`` are failures (a figure skipped for want of ../shared is not)."""
    lines = []
    for n in names:
        fresh, old = new / f"{n}.csv", committed / f"{n}.csv"
        if not fresh.is_file():
            lines.append(f"skipped  {n}: not drawn here (../shared absent?)")
        elif not old.is_file():
            lines.append(f"MISSING  {n}: {old} is not committed")
        elif fresh.read_bytes() == old.read_bytes():
            lines.append(f"same     {n}")
        else:
            a, b = old.read_text().splitlines(), fresh.read_text().splitlines()
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                         min(len(a), len(b)))
            lines.append(f"DIFFERS  {n}: {len(a)} committed lines, {len(b)} now; first "
                         f"difference at line {first + 1}")
    return lines


def _check(args, names: list[str] | None) -> int:
    if args.quick:
        raise InputError("--check compares with the committed (full) figures: drop --quick")
    out = Path(args.out) if args.out else CHECK_DIR
    if out.resolve() == FIG_DIR.resolve():
        raise InputError("--check must not write into figures/ (the files it compares with)")
    names = names or list(FIGURES)
    with tempfile.TemporaryDirectory(prefix="figures-check-") as tmp:
        ctx = Context(jobs=args.jobs, out=out, quiet=args.quiet,
                      results=Path(args.results) if args.results else Path(tmp))
        t0 = time.perf_counter()
        make_figures(names, ctx)
        elapsed = time.perf_counter() - t0
    lines = compare_csvs(names, out, FIG_DIR)
    print("\n".join(lines))
    bad = [ln for ln in lines if ln.startswith(("DIFFERS", "MISSING"))]
    print(f"{len(names) - len(bad)} of {len(names)} figures' CSVs match figures/ "
          f"({elapsed:.1f} s; regenerated into {out})")
    return 1 if bad else 0


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = None
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        if not names:
            raise InputError(f"--only {args.only!r} names no figure; figures: "
                             + ", ".join(FIGURES))
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"-j must be >= 1, not {args.jobs}")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError("cannot write there: not a folder", f"--out {args.out}")
    if args.check:
        return _check(args, names)
    out = Path(args.out) if args.out else QUICK_DIR if args.quick else FIG_DIR
    ctx = Context(quick=args.quick, jobs=args.jobs, out=out,
                  results=Path(args.results or RESULTS_DIR), quiet=args.quiet)
    t0 = time.perf_counter()
    written = make_figures(names, ctx)
    print(f"{len(written)} files in {ctx.out} ({time.perf_counter() - t0:.1f} s, "
          f"{ctx.mode})")
    return 0
