"""What the analyses share: reading a sweep's rows, rebuilding the frames a direct
``sim.simulation.run`` returns (summary, paired comparisons) from them, ordering and naming
traces by the named trace sets.

A sweep row (``experiments.sweep``) is one (cell, policy): ``cell``, ``cell_index``,
``policy``, ``replicate``, every Scenario field but ``policies`` and ``seed``, the cell's
``seed``, the summary's metric columns (in the summary's order; the summary's ``requests``
is the Scenario's, kept once) and the paired test against the reference policy (``vs_*``,
empty on the reference's own row and without a reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from experiments.store import Store
from models.errors import InputError
from sim.scenario import FIELDS
from sim.traces import sets

#: row columns that identify a cell and its policy (besides the Scenario fields)
KEY_COLUMNS = ("cell", "cell_index", "policy", "replicate", "seed")
#: the columns of ``sim.stats.compare_paired``'s frame, in its order
COMPARISON_COLUMNS = ("policy", "reference", "n", "hit_rate_diff", "hit_p", "utility_diff",
                      "utility_diff_ci_low", "utility_diff_ci_high", "utility_p",
                      "hit_p_holm", "utility_p_holm", "hit_verdict", "utility_verdict")


class SweepSpec(Protocol):
    """What the analyses use of an ``experiments.sweep.Spec`` (no import of the sweep here:
    ``experiments.sweep``'s CLI imports the analyses)."""

    source: str
    policies: list[str]
    seed: int

    @property
    def hash(self) -> str: ...

    def cells(self) -> list[Any]: ...


# ------------------------------------------------------------------------------ rows
def read_rows(spec: SweepSpec, out_dir: str | Path) -> pd.DataFrame:
    """Every row of ``spec`` in the store at ``out_dir`` (grid order); InputError when the
    store holds another spec's results or not every cell yet."""
    store = Store(out_dir)
    if not store.check(spec.hash, spec.source):
        raise InputError(f"{out_dir} holds no results of this spec: run the sweep first",
                         spec.source)
    keys = [c.key for c in spec.cells()]
    rows = store.read(set(keys))
    done = 0 if rows.empty else rows["cell"].nunique()
    if done < len(keys):
        raise InputError(f"{out_dir} holds {done} of the spec's {len(keys)} cells: run the "
                         "sweep to completion first (rerunning it resumes)", spec.source)
    return rows


def metric_columns(rows: pd.DataFrame) -> list[str]:
    """The summary's metric columns of a row (all but keys, parameters and ``vs_*``), in
    the summary's order."""
    return [c for c in rows.columns
            if c not in KEY_COLUMNS and c not in FIELDS and not c.startswith("vs_")]


def summary_frame(cell_rows: pd.DataFrame) -> pd.DataFrame:
    """The summary ``sim.simulation.run`` returns for one cell, from the cell's rows."""
    return cell_rows[["policy", "requests", *metric_columns(cell_rows)]].reset_index(drop=True)


def comparisons_frame(cell_rows: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons ``sim.simulation.run`` returns for one cell (every policy but
    the reference against it), from the cell's ``vs_*`` columns."""
    c = cell_rows[cell_rows["vs_reference"].notna()]
    src = {"policy": "policy", "reference": "vs_reference", "n": "requests"}
    return pd.DataFrame({col: c[src.get(col, "vs_" + col)].to_numpy()
                         for col in COMPARISON_COLUMNS}).astype({"n": "int64"})


def cells(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows of each cell, in the rows' order."""
    return [df for _, df in rows.groupby("cell", sort=False)]


# ------------------------------------------------------------------------------ traces
def trace_entries(rows: pd.DataFrame) -> dict[str, sets.TraceEntry | None]:
    """Each trace of the rows -> its trace-set entry (None for a trace in no set);
    InputError when a row has no trace (a constant link)."""
    if "trace" not in rows.columns or rows["trace"].isna().any():
        raise InputError("this analysis needs a trace per cell (a trace axis), not constant "
                         "links")
    return {t: sets.find(t) for t in dict.fromkeys(rows["trace"])}


def order_by_trace_set(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with traces in trace-set order (``sim.traces.sets``; traces in no set
    after, as they come), grid order within a trace: the order the tables were always in,
    whichever order the spec listed (or globbed) the traces in."""
    order = list(sets.SETS["uplink"])
    found = trace_entries(rows)
    pos = {t: (order.index(e) if e is not None else len(order) + i)
           for i, (t, e) in enumerate(found.items())}
    key = rows["trace"].map(pos)
    return (rows.assign(_trace_pos=key)
            .sort_values(["_trace_pos", "cell_index"], kind="stable")
            .drop(columns="_trace_pos").reset_index(drop=True))


def trace_label(path: str) -> str:
    """A trace's label in tables: its set entry's (``mahimahi ATT-LTE-driving.up``), else its
    file name."""
    e = sets.find(path)
    return e.label if e is not None else Path(path).name


def need_policies(spec: SweepSpec, analysis: str, *names: str) -> None:
    absent = [p for p in names if p not in spec.policies]
    if absent:
        raise InputError(f"analysis {analysis} needs the policies {', '.join(names)}; the "
                         f"spec lacks {', '.join(absent)}", spec.source)


def one_cell_per_trace(rows: pd.DataFrame, analysis: str) -> None:
    n = rows.groupby("trace", sort=False)["cell"].nunique()
    if (n > 1).any():
        raise InputError(f"analysis {analysis} wants one cell per trace; the spec varies more "
                         "than the trace")
