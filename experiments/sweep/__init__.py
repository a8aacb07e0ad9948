"""Sweeps: a grid of scenarios from a spec file, run on local processes or a Dask cluster,
into a resumable store with one row per (cell, policy).

Usage::

    python -m experiments.sweep SPEC [--out results/NAME] [-j N | --scheduler tcp://HOST:PORT]
                                     [--status] [--quiet] [--analyse NAME]

A spec (TOML, or YAML with the same structure)::

    [sweep]
    name = "deadline-vs-bandwidth"   # default out folder: results/NAME (else the file's stem)
    seed = 0                         # every cell's workload seed derives from this and the cell
    replications = 3                 # shorthand for the axis replicate = [0, 1, 2]
    keep_requests = false            # also store per-request records (requests/KEY.parquet)
    seed_from = "cell"               # or "replicate": one workload per replicate, shared by
                                     # every cell (common random numbers across the grid);
                                     # or "spec": every cell uses the spec's seed itself, so a
                                     # cell reproduces `python -m sim.run --seed SEED` exactly

    [fixed]                          # any Scenario field (README "Commands"; flag names work)
    policies = ["int8", "scout", "cloud-text", "adaptive"]
    requests = 500

    [axes]                           # the grid is the product of every axis, in this order
    bandwidth_mbps = { logspace = [0.5, 100, 12] }   # or linspace = [a, b, n],
                                                     # range = [a, b, step]
    deadline_s = [1.0, 2.0, 5.0]

Trace values (``trace`` in ``[fixed]`` or ``[axes]``): a file; a folder (every trace file in
it, recursively); a glob (``../shared/traces/mahimahi/*.up``); or a generated synthetic trace
``kind:KIND[:seed=N][:duration=S]`` (``sim.traces.synthetic``, default seed 0, 600 s, written
to the out folder's ``traces/``). Relative paths are looked up in the working directory, then
in the repository. ``bandwidth_mbps`` gives constant links (then ``trace`` is unset).
``policies`` may sit in either section: all policies of a cell run together on the same
requests, so their comparisons stay paired, and each gives one row.

A **cell** is one Scenario minus its policies. Its key is a hash of its canonical parameters
(every Scenario field, sorted JSON, plus ``replicate``); its seed derives from (spec seed,
key), never from the order cells run in, so serial, ``-j N`` and ``--scheduler`` runs give
identical rows. ``seed`` and ``trace_dir`` cannot be set: use ``replications`` / a
``replicate`` axis, and a folder in the trace axis.

Rerunning the same command skips finished cells; an interrupted run (Ctrl-C, ``kill -9``)
loses at most the cells in flight (see :mod:`experiments.store`). A folder holds one spec:
another spec's results there are refused. Errors in a spec print one line naming the file
and exit with code 2.

``--analyse NAME`` (or ``--analyze``) runs the analysis NAME of :mod:`experiments.analyses`
on the finished sweep and prints its text: after the run, or without running anything when
the store already holds every cell (with ``--status``: only then, else an error). An unknown
NAME is an error that lists the known analyses.

What a spec means (its grid, cells, seeds, trace values, one cell's run and the printed
table) lives in :mod:`sim.grid`, shared with ``python -m sim.run``'s command-line grid; this
package adds where and how cells run and are kept: :mod:`~experiments.sweep.executors`
(serial, local processes, Dask), :mod:`~experiments.sweep.inputs` (input files and their
hash), :mod:`~experiments.sweep.driver` (run_sweep, status) and :mod:`~experiments.sweep.cli`
(the command line); the store is :mod:`experiments.store`.
"""

from experiments.store import SpecChanged, Store
from experiments.sweep.cli import build_parser, main
from experiments.sweep.driver import SweepReport, is_complete, run_sweep, status
from experiments.sweep.inputs import StaleInputs, input_files, inputs_hash

__all__ = ["SpecChanged", "StaleInputs", "Store", "SweepReport", "build_parser", "input_files",
           "inputs_hash", "is_complete", "main", "run_sweep", "status"]
