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

from sim.grid.cells import cell_rows, run_cell
from sim.grid.parse import NOT_SETTABLE, SECTIONS, SWEEP_KEYS, load_spec, spec_from_dict
from sim.grid.spec import (
    PARAM_FIELDS,
    REPLICATE,
    SPEC_FORMAT,
    Cell,
    Spec,
    derive_seed,
    stable_hash,
)
from sim.grid.summary import format_summary
from sim.grid.traces import (
    canonical_kind,
    expand_trace,
    is_kind,
    kind_file_name,
    materialise_kind,
    parse_kind,
)

__all__ = ["NOT_SETTABLE", "PARAM_FIELDS", "REPLICATE", "SECTIONS", "SPEC_FORMAT", "SWEEP_KEYS",
           "Cell", "Spec", "canonical_kind", "cell_rows", "derive_seed", "expand_trace",
           "format_summary", "is_kind", "kind_file_name", "load_spec", "materialise_kind",
           "parse_kind", "run_cell", "spec_from_dict", "stable_hash"]
