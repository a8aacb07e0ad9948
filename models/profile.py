"""Compatibility module: the profiler and the roofline calibration now live in the package
:mod:`models.profiling` (one concern per module; see its docstring). This module re-exports
the names it had and keeps its command line::

    python -m models.profile --models qwen2.5-0.5b --device cuda --quick --out /tmp/x.csv
    python -m models.profile calibrate models/timings/h200-sxm.csv

(``python -m models.profiling ...`` is the same command line.) ``Measurement``, the old
name of a measured row, is ``models.timing.TimingRow``; ``GROUP_SIZE`` is
``models.units.KV_GROUP_SIZE``; ``quantize_groups`` / ``dequantize_groups`` are
``models.kvquant``'s (imported on first use, as they need torch).
"""

from __future__ import annotations

from typing import Any

from models.cli import run_main
from models.profiling.calibrate import (
    FIT_ORDER,
    FORWARD_OPS,
    FitPoint,
    calibrate,
    error_summary,
    fit_best,
    fit_roofline,
    predict,
    relative_errors,
    roofline_terms,
    split_rows,
)
from models.profiling.cli import calibrate_main, main, profile_main
from models.profiling.grid import CPU_GRID, GPU_GRID, QUANT_BITS, QUICK_GRID, Grid
from models.profiling.model import (
    NO_MASK,
    build_model,
    capture_graph,
    check_static_matches_eager,
    dynamic_cache,
    forward_fn,
    qwen2_config,
    random_kv,
    relative_l2,
    static_cache,
)
from models.profiling.profiler import COLUMNS, Profiler
from models.profiling.provenance import (
    GPU_NAMES,
    environment_lines,
    gpu_name_to_device,
    measure_ceilings,
)
from models.profiling.timers import (
    CpuTimer,
    CudaTimer,
    choose_repeats,
    summarize_times,
    time_repeats,
)
from models.timing import EXTRA_COLUMNS, TimingRow
from models.units import KV_GROUP_SIZE

#: old name of the KV quantisation group size
GROUP_SIZE = KV_GROUP_SIZE
#: old name of a measured row (one dataclass for one CSV row)
Measurement = TimingRow

_KVQUANT = ("quantize_groups", "dequantize_groups")

#: the names re-exported here (plus the lazy ``_KVQUANT`` ones)
__all__ = [
    "COLUMNS", "CPU_GRID", "EXTRA_COLUMNS", "FIT_ORDER", "FORWARD_OPS", "GPU_GRID", "GPU_NAMES",
    "GROUP_SIZE", "NO_MASK", "QUANT_BITS", "QUICK_GRID", "CpuTimer", "CudaTimer", "FitPoint",
    "Grid", "Measurement", "Profiler", "build_model", "calibrate", "calibrate_main",
    "capture_graph", "check_static_matches_eager", "choose_repeats", "dynamic_cache",
    "environment_lines", "error_summary", "fit_best", "fit_roofline", "forward_fn",
    "gpu_name_to_device", "main", "measure_ceilings", "predict", "profile_main", "qwen2_config",
    "random_kv", "relative_errors", "relative_l2", "roofline_terms", "split_rows",
    "static_cache", "summarize_times", "time_repeats",
]


def __getattr__(name: str) -> Any:
    """``quantize_groups`` / ``dequantize_groups`` from ``models.kvquant`` (imports torch)."""
    if name in _KVQUANT:
        from models import kvquant

        return getattr(kvquant, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    run_main(main)
