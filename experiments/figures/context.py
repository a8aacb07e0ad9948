"""Where figures go, where their sweeps are cached, and how they run those sweeps."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.sweep import SpecChanged, StaleInputs, run_sweep
from sim.grid import spec_from_dict
from sim.scenario import REPO_ROOT
from sim.traces import sets as trace_sets

__all__ = ["CHECK_DIR", "FIG_DIR", "MEASURED_CACHE", "PUBLISHED_CACHE", "QUICK_DIR",
           "RESULTS_DIR", "SHARED_REL", "SHARED_TRACES", "Context"]

FIG_DIR = REPO_ROOT / "figures"
RESULTS_DIR = REPO_ROOT / "results" / "figures"
#: where --quick figures go by default: never over the committed ones
QUICK_DIR = REPO_ROOT / "results" / "figures-quick"
#: where --check regenerates the figures it compares with the committed ones
CHECK_DIR = REPO_ROOT / "results" / "figures-check"
#: the shared traces, and as the sweep specs name them (relative: keys stay machine
#: independent); defined in sim.traces.sets
SHARED_TRACES, SHARED_REL = trace_sets.SHARED_TRACES, trace_sets.SHARED_TRACES_REL
MEASURED_CACHE = REPO_ROOT / "models" / "data" / "quality_measured.csv"
PUBLISHED_CACHE = REPO_ROOT / "models" / "data" / "quality_published.csv"


@dataclass
class Context:
    """Where figures go and how much simulation they may do."""

    quick: bool = False
    jobs: int | None = None
    #: no progress bars (they show only when stderr is a terminal)
    quiet: bool = False
    out: Path = FIG_DIR
    results: Path = RESULTS_DIR
    shared: Path = SHARED_TRACES
    measured: Path = MEASURED_CACHE
    published: Path = PUBLISHED_CACHE
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def sweep(self, name: str, spec: dict) -> pd.DataFrame:
        """Run (or reuse) a sweep in ``results/figures/MODE/NAME``; rows of every cell."""
        s = spec_from_dict(spec, f"<figures: {name} ({self.mode})>", default_name=name)
        out = self.results / self.mode / name
        try:
            rep = run_sweep(s, out, jobs=self.jobs, quiet=self.quiet or not sys.stderr.isatty())
        except (StaleInputs, SpecChanged) as err:  # a cache: recompute it
            why = "spec" if isinstance(err, SpecChanged) else "input files"
            self.log(f"  sweep {name}: the cache was made with another {why}; recomputing")
            shutil.rmtree(out)
            rep = run_sweep(s, out, jobs=self.jobs, quiet=self.quiet or not sys.stderr.isatty())
        self.log(f"  sweep {name}: {rep.cells} cells, {rep.done_before} cached, ran {rep.ran} "
                 f"in {rep.elapsed_s:.1f} s")
        self.last_store = rep.out
        return rep.rows

    def requests(self, name: str) -> pd.DataFrame:
        from experiments.store import Store

        return Store(self.results / self.mode / name).read_requests()
