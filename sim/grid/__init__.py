"""A grid of scenarios: what a sweep spec means, its cells and seeds, and how one cell runs.

A **spec** holds the fixed settings, the axes (the grid is their product) and the policies;
a **cell** is one Scenario minus its policies, keyed by a hash of its parameters, with a
workload seed derived from the spec's seed and the cell (or the replicate, or the spec's
seed itself). :func:`run_cell` runs all policies of a cell on the same requests and returns
one row per policy. Two front ends share this: ``python -m sim.run`` with a comma list in a
numeric flag (a small grid, run in order, nothing stored) and ``python -m experiments.sweep``
(a spec file, local processes or Dask, a resumable store).

Modules, one concern each: :mod:`~sim.grid.traces` (trace values: files, folders, globs,
``set:NAME``, ``kind:`` traces), :mod:`~sim.grid.spec` (Spec, Cell, keys and seeds),
:mod:`~sim.grid.parse` (reading a spec), :mod:`~sim.grid.cells` (running one cell into rows),
:mod:`~sim.grid.summary` (the printed per-cell table).
"""

import importlib
from typing import Any

#: name -> module: loaded on first use (PEP 562), so that ``python -m sim.run --help`` does
#: not pay for pandas and the engines
_EXPORTS = {
    **dict.fromkeys(("cell_rows", "run_cell"), "sim.grid.cells"),
    **dict.fromkeys(("NOT_SETTABLE", "SECTIONS", "SWEEP_KEYS", "load_spec", "spec_from_dict"),
                    "sim.grid.parse"),
    **dict.fromkeys(("PARAM_FIELDS", "REPLICATE", "SPEC_FORMAT", "Cell", "Spec", "derive_seed",
                     "stable_hash"), "sim.grid.spec"),
    "format_summary": "sim.grid.summary",
    **dict.fromkeys(("canonical_kind", "expand_trace", "is_kind", "kind_file_name",
                     "materialise_kind", "parse_kind"), "sim.grid.traces"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sim.grid' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
