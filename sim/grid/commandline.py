"""A grid from ``python -m sim.run``'s flags: a comma list in a numeric flag is an axis.

``python -m sim.run --bandwidth 1,5,20 --deadline 2,5 --policy int8,scout`` is the spec::

    [sweep]
    seed = 0
    seed_from = "spec"       # every cell uses --seed itself: a cell is exactly the single run
    [fixed]
    policies = ["int8", "scout"]
    [axes]
    bandwidth_mbps = [1.0, 5.0, 20.0]
    deadline_s = [2.0, 5.0]

parsed by :func:`sim.grid.parse.spec_from_dict` and run cell by cell through
:func:`sim.grid.cells.run_cell`: the code path of ``python -m experiments.sweep``, without
its store (``--print-spec`` prints the spec, to run it there: resumable, parallel, Dask).
Because the cells take the command's seed, the cell ``bandwidth = 5`` reproduces
``python -m sim.run --bandwidth 5 --seed 0`` to the byte; a spec file's default
(``seed_from = "cell"``) derives a different workload per cell instead.

Grid flags: every integer or real setting, ``--context-tokens`` (plain numbers) and
``--trace`` (names or files). ``--seed`` takes one value (a spec's replications give more).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from models.cli import json_value
from models.errors import InputError
from sim.scenario import FIELDS, flag_name

if TYPE_CHECKING:  # pandas and the engines load when a grid runs, not for --help
    import pandas as pd

    from sim.grid.spec import Spec

__all__ = ["GRID_FIELDS", "SOURCE", "grid_records", "run_grid", "spec_toml", "split_axes"]

SOURCE = "command line"


def _numeric(name: str) -> bool:
    return str(FIELDS[name].type).startswith(("int", "float"))


def _gridable(name: str) -> bool:
    return name in ("trace", "context_tokens") or (_numeric(name) and name != "seed")


#: settings whose flag takes a comma list (one grid axis each)
GRID_FIELDS = tuple(n for n in FIELDS if _gridable(n))


def split_axes(raw: dict[str, Any]) -> dict[str, list[str]]:
    """The settings given as comma lists (``{"bandwidth_mbps": ["1", "5", "20"]}``), in
    the order given; empty when the command is a single run. A comma list in a numeric
    setting that cannot be an axis (``--seed``) is an error naming its flag; other string
    settings keep their commas (``--select a,b``)."""
    axes: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name == "policies" or not isinstance(value, str) or "," not in value:
            continue
        if name == "context_tokens" and ":" in value:
            continue  # a distribution's parameters (normal:MEAN,SD), not a list
        if name not in GRID_FIELDS:
            if not _numeric(name):
                continue  # a string setting whose value may hold commas (--select a,b)
            raise InputError(f"{flag_name(name)} takes one value (a comma list makes a grid only "
                             f"for {', '.join(flag_name(n) for n in GRID_FIELDS)})")
        items = [v.strip() for v in value.split(",")]
        if any(not v for v in items):
            raise InputError(f"{flag_name(name)} {value!r}: an empty item in the comma list")
        axes[name] = items
    return axes


def grid_spec(values: dict[str, Any], axes: dict[str, list[str]], seed: int) -> Spec:
    """The spec of a command-line grid: ``values`` are the single-valued settings (from a
    config file and flags), ``axes`` the comma lists; every cell uses ``seed``."""
    fixed = {k: v for k, v in values.items() if k not in axes and k != "seed"}
    if "bandwidth_mbps" in axes or fixed.get("bandwidth_mbps") is not None:
        if "trace" in axes:
            raise InputError("--trace with a comma list and --bandwidth: give one of them")
        fixed.pop("trace", None)  # --bandwidth overrides --trace, as in a single run
    if fixed.get("trace_dir") is not None:
        raise InputError("--trace-dir pools a folder into one run and cannot be combined "
                         "with a grid; give the traces as a comma list to --trace")
    from sim.grid.parse import spec_from_dict

    data = {"sweep": {"name": "grid", "seed": seed, "seed_from": "spec"},
            "fixed": fixed, "axes": axes}
    return spec_from_dict(data, SOURCE)


def run_grid(spec: Spec, quiet: bool = True) -> pd.DataFrame:
    """Every cell of ``spec`` in grid order, through :func:`run_cell`: one row per cell and
    policy (the sweep store's columns); a progress bar on a terminal unless ``quiet``."""
    import pandas as pd

    from models.cli import progress
    from sim.grid.cells import run_cell

    frames = [run_cell({"cell": cell.to_dict(), "policies": spec.policies,
                        "source": SOURCE})["rows"]
              for cell in progress(spec.cells(), desc="grid cells", unit="cell", quiet=quiet)]
    return pd.concat(frames, ignore_index=True)


def grid_records(spec: Spec, rows: pd.DataFrame, keys: tuple[str, ...]) -> list[dict]:
    """One JSON-ready object per cell and policy: the cell (key, index, seed), its value of
    every axis, the policy, then ``keys`` of the summary and the paired comparison."""
    cmp_keys = [c for c in rows.columns if c.startswith("vs_")]
    cols = ["cell", "cell_index", "seed", *spec.axes, "policy",
            *(k for k in keys if k in rows.columns and k != "policy"), *cmp_keys]
    return [{k: json_value(r[k]) for k in cols} for r in rows.to_dict("records")]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string (JSON's escapes are TOML's)


def spec_toml(spec: Spec, command: str = "") -> str:
    """The spec as TOML text for ``python -m experiments.sweep``: it gives the same cells,
    keys, seeds and rows."""
    lines = [f"# {command}" if command else "# a command-line grid",
             "# run with: python -m experiments.sweep FILE  (resumable; -j N, --scheduler)",
             "[sweep]", 'name = "grid"', f"seed = {spec.seed}", 'seed_from = "spec"', "",
             "[fixed]", f"policies = {_toml_value(spec.policies)}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in spec.fixed.items() if v is not None]
    lines += ["", "[axes]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in spec.axes.items()]
    return "\n".join(lines) + "\n"
