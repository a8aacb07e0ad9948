"""How far ns-3 moves when a transfer starts a moment later: the packet reference's own
noise floor, against which a per-run error of any deterministic model is to be read.

``python -m experiments.packetnoise`` reruns every run of the packet-level reference
(``experiments/packetcheck/reference.csv``, see ``docs/packetcheck.md``) in ns-3 with the
write (and, for a new connection, the connect) moved ``--shift-ms`` later: the same trace,
RTT, buffer, congestion control, payload and warm-up (a persistent connection's warm-up is
not moved). It then treats "ns-3 at ``start + shift``" as a model of "ns-3 at ``start``"
and reports its errors with :func:`experiments.packetcheck.summary`'s categories and
targets. A model that knew ns-3 exactly but was off by ``shift`` in time would score this;
where it is far above the targets (a drop-tail buffer of a few packets on a bursty uplink,
where which packet is dropped decides whether a timeout follows), a per-run target is
below what the reference itself can resolve.

Outputs in ``--out`` (default ``out/packetnoise``; the committed full run is
``experiments/packetcheck/noise-1ms``): ``shifted.csv`` (the shifted runs, one row per
reference row, in the reference's columns plus ``shift_ms``; resumed: a rerun skips rows
already there), ``errors.csv`` (per run, the shifted duration as the model ``shifted``)
and ``summary.csv``. ``--shifted FILE`` compares a finished shifted.csv without ns-3. Bad
input prints one line ``error: ...`` and exits 2.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import packetcheck as pc
from models.cli import Parser, add_common, command, run_main
from models.errors import InputError
from sim.scenario import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "out" / "packetnoise"
#: the shift (ms) of the committed run
DEFAULT_SHIFT_MS = 1.0
SHIFTED_COLUMNS = pc.COLUMNS + ["shift_ms", "original_start_s"]


def shifted_spec(row: dict, shift_s: float) -> dict:
    """A reference row's run with the write (and a new connection's connect) and the stop
    time moved ``shift_s`` later; a persistent connection's warm-up stays where it was."""
    spec = {k: row[k] for k in pc.COLUMNS if k in row}
    spec["original_start_s"] = float(row["start_s"])
    spec["start_s"] = round(float(row["start_s"]) + shift_s, 9)
    spec["stop_s"] = float(row["stop_s"]) + shift_s
    if row["connection"] == "new":
        spec["connect_s"] = spec["start_s"]
        spec["warmup_start_s"], spec["warmup_bytes"] = math.nan, 0
    return spec


def _key(row: dict) -> tuple:
    r = dict(row)
    r["start_s"] = r["original_start_s"]
    return pc._key(r)


def _run(spec: dict) -> dict:
    row = pc.run_one(spec)
    row["original_start_s"] = spec["original_start_s"]
    return row


def run_shifted(reference: pd.DataFrame, shift_ms: float, path: Path, *, workers: int = 2,
                quiet: bool = False) -> pd.DataFrame:
    """Run the shifted copies of ``reference``'s rows missing from ``path`` (appended to
    after every run) and return the whole file as a table."""
    done = set()
    if path.exists() and path.stat().st_size > 0:
        old = pd.read_csv(path)
        if len(old) and not np.allclose(old["shift_ms"], shift_ms):
            raise InputError(f"holds runs shifted by {old['shift_ms'].iloc[0]:g} ms, not "
                             f"{shift_ms:g}", str(path))
        done = {_key(r) for r in old.to_dict("records")}
    todo = [shifted_spec(r, shift_ms / 1e3) for r in reference.to_dict("records")]
    todo = [s for s in todo if _key(s) not in done]
    if todo:
        def batches():
            for row in _execute(todo, workers):
                row["shift_ms"] = shift_ms
                yield [row]

        pc.append_rows(path, SHIFTED_COLUMNS, batches(), desc="shifted ns-3 runs",
                       quiet=quiet, total=len(todo), unit="run")
    return pd.read_csv(path)


def _execute(todo: list[dict], workers: int):
    if workers <= 1:
        for spec in todo:
            yield _run(spec)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawned workers, each loading ns-3 once (as experiments.packetcheck does)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=pc._init_worker) as ex:
        yield from ex.map(_run, todo, chunksize=4)


def shifted_durations(reference: pd.DataFrame, shifted: pd.DataFrame) -> np.ndarray:
    """Per reference row, the shifted run's duration (NaN where it is missing, unfinished
    or stuck)."""
    by_key = {_key(r): (r["duration_s"] if r["finished"] and not r["stuck"] else math.nan)
              for r in shifted.to_dict("records")}
    return np.array([by_key.get(pc._key(r), math.nan) for r in reference.to_dict("records")],
                    dtype=float)


def compare(reference: pd.DataFrame, shifted: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                      pd.DataFrame]:
    """(errors, summary) of "ns-3 shifted" as a model of ns-3, beside the fluid link and
    the TCP model on the same runs (those the shifted run finished unstuck)."""
    d = shifted_durations(reference, shifted)
    keep = np.isfinite(d)
    ref = reference[keep].reset_index(drop=True)
    preds = {"shifted": d[keep]}
    for name, predict in pc.PREDICTORS.items():
        preds[name] = predict(ref)
    err = pc.errors(ref, preds)
    return err, pc.summary(err)


@command
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    ap = Parser(prog="python -m experiments.packetnoise", description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default=str(pc.COMMITTED / "reference.csv"),
                    help="the ns-3 runs to shift (default the committed grid)")
    ap.add_argument("--shift-ms", type=float, default=DEFAULT_SHIFT_MS,
                    help=f"how much later each transfer starts (default {DEFAULT_SHIFT_MS:g})")
    add_common(ap, "out", help="folder for shifted.csv (resumed), errors.csv, summary.csv "
               f"(default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    ap.add_argument("--shifted", help="compare this finished shifted.csv; run nothing")
    ap.add_argument("--workers", type=int, default=2, help="ns-3 processes (default 2)")
    add_common(ap, "quiet", help="no progress bar")
    args = ap.parse_args(argv)
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    if not (args.shift_ms > 0 and math.isfinite(args.shift_ms)):
        raise InputError(f"--shift-ms must be a positive number, not {args.shift_ms!r}")
    out = Path(args.out) if args.out else DEFAULT_OUT
    if out.exists() and not out.is_dir():
        raise InputError("--out must be a folder", str(out))
    t0 = time.perf_counter()
    ref = pc.read_reference(args.reference)
    if args.shifted:
        shifted = pd.read_csv(pc.check_input_file(args.shifted, "--shifted"))
    else:
        shifted = run_shifted(ref, args.shift_ms, out / "shifted.csv", workers=args.workers,
                              quiet=args.quiet)
    out.mkdir(parents=True, exist_ok=True)
    err, summ = compare(ref, shifted)
    err.to_csv(out / "errors.csv", index=False, float_format="%.6g")
    summ.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    show = summ.drop(columns=["target", "result"]).copy()
    for c in ("median_abs", "p90_abs", "median_signed"):
        show[c] = show[c].map(lambda x: f"{x * 100:.1f}%")
    pd.set_option("display.width", 200)
    print(f"{len(err)} runs compared (ns-3 shifted by {args.shift_ms:g} ms as a model of "
          f"ns-3; {time.perf_counter() - t0:.0f} s)")
    print(show.to_string(index=False))
    return 0


if __name__ == "__main__":
    run_main(main)
