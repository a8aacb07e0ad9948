"""Trace loading speed: every file in ../shared/traces, best of 3 (a benchmark, not a test).

Usage: ``python -m experiments.bench_traces [--folder ../shared/traces]``. Prints the load time
of each file through auto-detection and, for the largest mahimahi trace, the ratio to the
2-second target.
"""

from __future__ import annotations

import time
from pathlib import Path

from models.cli import add_common, command, make_parser, progress, run_main
from models.errors import InputError
from sim.scenario import REPO_ROOT
from sim.traces import read_trace

TARGET_S = 2.0


@command
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 2 bad input)."""
    ap = make_parser(None, __doc__)  # prog: argparse's default, as before
    ap.add_argument("--folder", type=Path, default=REPO_ROOT.parent / "shared" / "traces")
    add_common(ap, "quiet", help="no progress bar (it shows only on a terminal)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder} is absent; nothing to benchmark")
        return 0
    rows = []
    files = sorted(p for p in args.folder.rglob("*") if p.is_file() and p.suffix != ".md")
    for path in progress(files, desc="trace files", quiet=args.quiet):
        best = float("inf")
        try:
            for _ in range(3):
                t0 = time.perf_counter()
                trace = read_trace(path)
                best = min(best, time.perf_counter() - t0)
        except InputError as err:  # RTT-only files and multi-series files need options
            rows.append((path, None, str(err).split(": ")[-1][:60]))
            continue
        rows.append((path, best, f"{len(trace.times_s):,} segments"))
    for path, secs, what in rows:
        t = "   skipped" if secs is None else f"{secs * 1e3:8.1f} ms"
        print(f"{t}  {path.relative_to(args.folder)}  ({what})")
    big = args.folder / "mahimahi" / "TMobile-LTE-driving.down"
    timed = [s for p, s, _ in rows if p == big and s is not None]
    if timed:
        print(f"largest mahimahi trace ({big.stat().st_size / 1e6:.1f} MB): {timed[0]:.3f} s, "
              f"{TARGET_S / timed[0]:.0f}x under the {TARGET_S:.0f} s target")
    return 0


if __name__ == "__main__":
    run_main(main)
