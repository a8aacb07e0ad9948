"""The driver: run the cells of a spec not yet in its store, and say how far a store is."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.store import Store
from experiments.sweep.executors import run_dask, run_local, run_serial
from experiments.sweep.inputs import StaleInputs, check_inputs, inputs_hash
from sim.grid.spec import Spec
from sim.grid.traces import is_kind, materialise_kind

__all__ = ["SweepReport", "is_complete", "run_sweep", "status"]


@dataclass
class SweepReport:
    out: Path
    cells: int
    done_before: int
    ran: int
    elapsed_s: float
    workers: set[str]
    where: str
    rows: pd.DataFrame

    @property
    def complete(self) -> bool:
        return self.done_before + self.ran == self.cells


def status(spec: Spec, out: str | Path) -> str:
    """One paragraph: how many cells of ``spec`` the store at ``out`` holds."""
    store = Store(out)
    cells = spec.cells()
    total = len(cells)
    bound = store.check(spec.hash, spec.source)
    keys = {c.key for c in cells}
    done = len(store.done_keys(spec.keep_requests) & keys) if bound else 0
    pct = 100.0 * done / total if total else 100.0
    text = (f"{out}: {done}/{total} cells done ({pct:.0f}%), {total - done} to go; "
            f"{len(spec.policies)} policies per cell; spec hash {spec.hash[:12]}")
    if not bound:
        text += "; no results yet"
    else:
        try:
            check_inputs(store, spec, inputs_hash(spec))
        except StaleInputs as err:
            text += f"\nwarning: {err.message}"
    present = {p.stem for p in store._partitions(store.cells_dir)} & keys if bound else set()
    if len(present) > done:
        text += (f"\n{len(present) - done} cell partition(s) unreadable (truncated or "
                 "damaged): the next run sets them aside and recomputes those cells")
    temps = store.temp_files() if bound else []
    if temps:
        text += (f"\n{len(temps)} temporary file(s) from an interrupted run (never read; "
                 "removed by the next run)")
    return text


def is_complete(spec: Spec, out: str | Path) -> bool:
    """True when the store at ``out`` holds every cell of ``spec`` and its ``rows.csv``, so a
    run would run nothing; reads only. StaleInputs when the store's input files changed."""
    store = Store(out)
    if not store.check(spec.hash, spec.source):
        return False
    if not {c.key for c in spec.cells()} <= store.done_keys(spec.keep_requests):
        return False
    if not (Path(out) / "rows.csv").exists():
        return False
    check_inputs(store, spec, inputs_hash(spec))
    return True


def run_sweep(spec: Spec, out: str | Path | None = None, *, jobs: int | None = None,
              scheduler: str | None = None, quiet: bool = True) -> SweepReport:
    """Run the cells of ``spec`` not yet in the store at ``out``; returns every row."""
    from tqdm import tqdm

    out = Path(out) if out is not None else spec.default_out()
    cells = spec.cells()
    store = Store(out)
    current = inputs_hash(spec)
    store.bind({**spec.info(), "inputs_hash": current}, spec.text, spec.suffix)
    check_inputs(store, spec, current)
    store.clean_temp()
    bad = store.set_aside_unreadable(spec.keep_requests)
    if bad and not quiet:
        print(f"{len(bad)} cells had unreadable partitions (set aside as *.corrupt); "
              "recomputing them", file=sys.stderr)
    done = store.done_keys(spec.keep_requests)
    todo = [c for c in cells if c.key not in done]
    kinds = sorted({c.params["trace"] for c in todo
                    if c.params["bandwidth_mbps"] is None and is_kind(c.params["trace"])})
    for k in kinds:  # generate once here, beside the results; workers reuse or regenerate
        materialise_kind(k, store.traces_dir)
    tasks = [{"cell": c.to_dict(), "policies": spec.policies, "source": spec.source,
              "keep_requests": spec.keep_requests,
              "traces_dir": str(store.traces_dir.resolve())} for c in todo]
    if scheduler:
        where = f"Dask scheduler {scheduler}"
        runner = run_dask(tasks, scheduler)
    else:
        jobs = max(1, min(jobs or (os.cpu_count() or 1), len(tasks) or 1))
        where = "1 process (serial)" if jobs == 1 else f"{jobs} local processes"
        runner = run_serial(tasks) if jobs == 1 else run_local(tasks, jobs)
    workers: set[str] = set()
    t0 = time.perf_counter()
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
               desc=spec.name, disable=quiet or not sys.stderr.isatty(), file=sys.stderr,
               dynamic_ncols=True)
    ran = 0
    try:
        with contextlib.closing(runner):
            for res in runner:
                store.write_cell(res["key"], res["rows"], res["requests"])
                workers.add(res["worker"])
                ran += 1
                bar.update(1)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    rows = store.read({c.key for c in cells})
    report = SweepReport(out, len(cells), len(cells) - len(todo), ran, elapsed, workers,
                         where, rows)
    if report.complete and (ran or not (out / "rows.csv").exists()):
        store.write_rows_csv(rows)
    return report
