"""Analyses: what turns a finished sweep's rows into a README table or check.

Every experiment is a sweep spec (``experiments/specs/NAME.toml``) plus an analysis here,
run through the sweep machinery::

    python -m experiments.sweep experiments/specs/adaptive_table.toml --analyse adaptive_table
    python -m experiments.adaptive_table [--requests N] [--out DIR]   # the same, as a script

An analysis is ``analyse(rows, spec, out_dir) -> str``: it reads the store's rows (one per
cell and policy, with the paired ``vs_*`` comparison columns), writes its files into
``out_dir`` and returns the text to print. :data:`ANALYSES` names them;
:func:`run_analysis` reads the rows (refusing an unfinished store) and runs one. The scripts'
recipe (spec + flags + trace set -> sweep -> analysis) is :mod:`experiments.analyses.script`.
Nothing here imports :mod:`experiments.sweep` (its CLI imports this package).

- ``adaptive_table``: adaptive vs static vs oracle per trace (``summary.csv``,
  ``comparisons.csv``, ``table.md``; prints the table and three checks).
- ``int8_vs_scout``: the cells where Scout meets >= 99% of deadlines and INT8 54-64%
  (``grid.csv``; prints them).
- ``estimator_choice``: adaptive's throughput estimators against cloud-text on the shipped
  traces (``table.txt``; prints it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from experiments.analyses.common import SweepSpec, read_rows
from models.errors import unknown_name

__all__ = ["ANALYSES", "Analysis", "get_analysis", "run_analysis"]

Analysis = Callable[[pd.DataFrame, SweepSpec, Path], str]

#: analysis name -> "module:function"
ANALYSES: dict[str, str] = {
    "adaptive_table": "experiments.analyses.adaptive_table:analyse",
    "int8_vs_scout": "experiments.analyses.int8_vs_scout:analyse",
    "estimator_choice": "experiments.analyses.estimator_choice:analyse",
}


def get_analysis(name: str) -> Analysis:
    """The function of analysis ``name``; InputError listing the known ones."""
    if name not in ANALYSES:
        raise unknown_name("analysis", name, list(ANALYSES))
    module, _, func = ANALYSES[name].partition(":")
    return getattr(importlib.import_module(module), func)


def run_analysis(name: str, spec: SweepSpec, out_dir: Path, *,
                 rows: pd.DataFrame | None = None) -> str:
    """Run analysis ``name`` on the rows of ``spec`` in the store at ``out_dir`` (every cell
    must be done); it writes its files into ``out_dir``. Returns the text to print.
    ``rows``: the store's rows when the caller has just read them (``run_sweep``)."""
    func = get_analysis(name)
    out_dir = Path(out_dir)
    if rows is None:
        rows = read_rows(spec, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return func(rows, spec, out_dir)
