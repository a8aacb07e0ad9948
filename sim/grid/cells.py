"""One cell: run all its policies on the same requests and turn the result into rows.

:func:`run_cell` is what local processes and Dask workers execute: it stays a module-level
function (picklable by reference) whose result depends on its task only.
"""

from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

import pandas as pd

from models.errors import InputError
from sim.grid.spec import PARAM_FIELDS, REPLICATE, Cell
from sim.grid.traces import is_kind, materialise_kind
from sim.scenario import FIELDS

__all__ = ["cell_rows", "run_cell"]

_CMP_COLUMNS = {  # comparison columns in every row (NaN / None without a reference policy)
    "vs_reference": object, "vs_hit_rate_diff": float, "vs_hit_p": float,
    "vs_hit_p_holm": float, "vs_hit_verdict": object, "vs_utility_diff": float,
    "vs_utility_diff_ci_low": float, "vs_utility_diff_ci_high": float, "vs_utility_p": float,
    "vs_utility_p_holm": float, "vs_utility_verdict": object,
}


def _dtype(name: str) -> Any:
    typ = str(FIELDS[name].type)
    if typ.startswith("float"):
        return float
    if typ.startswith("int"):
        return "int64"
    if typ.startswith("bool"):
        return bool
    return object


def cell_rows(cell: Cell, policies: list[str], summary: pd.DataFrame,
              comparisons: pd.DataFrame) -> pd.DataFrame:
    """One row per policy: cell key and index, every parameter, the seed, the summary's
    metrics and CIs, and the paired test against the reference policy (``vs_*``)."""
    n = len(summary)
    cols: dict[str, Any] = {
        "cell": pd.Series([cell.key] * n, dtype=object),
        "cell_index": pd.Series([cell.index] * n, dtype="int64"),
        "policy": pd.Series(summary["policy"].tolist(), dtype=object),
        REPLICATE: pd.Series([cell.params[REPLICATE]] * n, dtype="int64"),
    }
    for name in PARAM_FIELDS:
        v = cell.params[name]
        dt = _dtype(name)
        cols[name] = pd.Series([math.nan if v is None and dt is float else v] * n, dtype=dt)
    cols["seed"] = pd.Series([cell.seed] * n, dtype="int64")
    df = pd.DataFrame(cols)
    # ``requests`` of the summary is the scenario's request count: keep one column
    metrics = summary.drop(columns=["policy", *(c for c in summary.columns if c in df.columns)])
    metrics = metrics.reset_index(drop=True)
    df = pd.concat([df, metrics], axis=1)
    cmp = comparisons.set_index("policy") if not comparisons.empty else None
    for col, dt in _CMP_COLUMNS.items():
        src = col[3:] if col != "vs_reference" else "reference"
        vals = [cmp.loc[p, src] if cmp is not None and p in cmp.index else
                (None if dt is object else math.nan) for p in df["policy"]]
        df[col] = pd.Series(vals, dtype=dt)
    return df


def run_cell(task: dict[str, Any]) -> dict[str, Any]:
    """Run one cell (any process or Dask worker): all its policies on the same requests.
    Pure: the result depends on ``task`` only."""
    from sim.simulation import run

    t0 = time.perf_counter()
    cell = Cell(**task["cell"])
    trace = None
    if cell.params["bandwidth_mbps"] is None and is_kind(cell.params["trace"]):
        trace = str(materialise_kind(cell.params["trace"], task.get("traces_dir")))
    try:
        # per-request records only when the spec keeps them: summaries and paired tests
        # are the same without (sim.simulation.run, records=False)
        result = run(cell.scenario(task["policies"], trace),
                     records=bool(task.get("keep_requests")))
    except InputError as err:  # name the cell: the spec's fields are fine, their mix is not
        raise InputError(f"cell {cell.describe()}: {err}", task.get("source")) from None
    rows = cell_rows(cell, task["policies"], result.summary, result.comparisons)
    requests = None
    if task.get("keep_requests"):
        requests = result.requests.copy()
        requests.insert(0, "cell_index", cell.index)
        requests.insert(0, "cell", cell.key)
    return {"key": cell.key, "rows": rows, "requests": requests,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "elapsed_s": time.perf_counter() - t0}
