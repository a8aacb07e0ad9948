"""Reading a spec: TOML/YAML text or a parsed mapping -> a validated :class:`Spec`.

:func:`spec_from_dict` reads the sections in order ([sweep], then [fixed], then [axes]),
one function each, then checks the policies and validates every cell, so that every error
comes before any work and names the spec file.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import InputError
from sim.grid.spec import DEFAULTS, REPLICATE, Spec
from sim.grid.traces import expand_trace
from sim.limits import MAX_AXIS_VALUES, MAX_CELLS
from sim.scenario import FIELDS, coerce, parse_settings_file

__all__ = ["NOT_SETTABLE", "SECTIONS", "SWEEP_KEYS", "load_spec", "spec_from_dict"]

SECTIONS = ("sweep", "fixed", "axes")
SWEEP_KEYS = ("name", "description", "seed", "replications", "out", "keep_requests",
              "seed_from")
#: Scenario fields a spec may not set, and why
NOT_SETTABLE = {
    "seed": "each cell's seed derives from [sweep] seed and the cell; use replications = N "
            "or a replicate axis for more seeds",
    "trace_dir": "put the folder in the trace axis instead (one cell per trace file)",
}
_ALIASES = {**{f.metadata.get("flag", n).replace("-", "_"): n for n, f in FIELDS.items()},
            **{n: n for n in FIELDS}, "policy": "policies"}


def _fail(msg: str, source: str) -> InputError:
    return InputError(msg, source)


def _field(key: Any, section: str, source: str) -> str:
    k = str(key).replace("-", "_")
    if k == REPLICATE:
        return REPLICATE
    name = _ALIASES.get(k)
    if name is None:
        close = difflib.get_close_matches(k, list(FIELDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail(f"[{section}] unknown field {key!r}{hint}; fields are the Scenario "
                    "fields (README, Commands)", source)
    if name in NOT_SETTABLE:
        raise _fail(f"[{section}] {name} cannot be set: {NOT_SETTABLE[name]}", source)
    return name


def _generated(name: str, table: dict, source: str) -> list[Any]:
    """Axis values from ``{logspace|linspace|range = [...]}``."""
    if len(table) != 1:
        raise _fail(f"[axes] {name}: a generator table has one key: logspace, linspace or "
                    "range", source)
    (how, args), = table.items()
    try:
        a = [float(x) for x in args]
        if how in ("logspace", "linspace"):
            start, stop, n = a
            if n != int(n) or n < 1:
                raise ValueError
            if n > MAX_AXIS_VALUES:
                raise _fail(f"[axes] {name}: {n:g} values, at most {MAX_AXIS_VALUES:,}", source)
            if how == "logspace":
                if start <= 0 or stop <= 0:
                    raise ValueError
                vals = np.geomspace(start, stop, int(n))
            else:
                vals = np.linspace(start, stop, int(n))
            return [float(f"{v:.6g}") for v in vals]
        if how == "range":
            start, stop, step = a
            if step == 0:
                raise ValueError
            span = (stop - start) / step
            if span + 1 > MAX_AXIS_VALUES:
                raise _fail(f"[axes] {name}: {span + 1:,.0f} values, at most "
                            f"{MAX_AXIS_VALUES:,}", source)
            n = int(math.floor(span + 1e-9)) + 1
            vals = [start + i * step for i in range(max(n, 0))]
            return [float(f"{v:.12g}") for v in vals]
    except InputError:
        raise
    except (TypeError, ValueError, OverflowError):
        raise _fail(f"[axes] {name}: bad {how} arguments {args!r}", source) from None
    raise _fail(f"[axes] {name}: unknown generator {how!r} (logspace, linspace, range)", source)


def _coerce(name: str, value: Any, source: str) -> Any:
    if name == REPLICATE:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(f"replicate values are non-negative integers, not {value!r}", source)
        return value
    v = coerce(name, value, source)
    if isinstance(v, float) and not math.isfinite(v):
        raise _fail(f"setting {name}: {value!r} is not a finite number", source)
    return v



def spec_from_dict(data: Any, source: str = "<spec>", *, text: str | None = None,
                   suffix: str = ".toml", default_name: str = "sweep",
                   load_plugins: bool = True) -> Spec:
    """Parse and validate a spec given as a mapping (the parsed TOML/YAML). With
    ``load_plugins=False`` a plugin policy (``file.py:Class``) is checked to exist but its
    file is not imported (``--status`` runs no plugin code)."""
    sections = _sections(data, source)
    sweep = _sweep_section(sections["sweep"], source, default_name)
    replications = sweep.pop("replications")
    policies, fixed = _fixed_section(sections["fixed"], source)
    policies, axes = _axes_section(sections["axes"], source, policies, fixed)
    if replications is not None:
        if REPLICATE in axes or REPLICATE in fixed:
            raise _fail("give [sweep] replications or a replicate axis, not both", source)
        axes[REPLICATE] = list(range(replications))
    cells = math.prod(len(v) for v in axes.values())
    if cells > MAX_CELLS:
        raise _fail(f"the grid has {cells:,} cells, at most {MAX_CELLS:,}: split the sweep",
                    source)
    spec = Spec(source=source, policies=_check_policies(policies, source, load_plugins),
                fixed=fixed,
                axes=axes, text=text, suffix=suffix, **sweep)
    spec.cells()  # validate every cell now: errors before any work
    return spec


def _sections(data: Any, source: str) -> dict[str, dict]:
    """The spec's three tables (empty when absent); no other section."""
    if not isinstance(data, dict):
        raise _fail("a spec is a table with sections [sweep], [fixed], [axes]", source)
    for sec in data:
        if sec not in SECTIONS:
            raise _fail(f"unknown section [{sec}]; sections are [sweep], [fixed], [axes]",
                        source)
    sections = {}
    for sec in SECTIONS:
        v = data.get(sec, {}) or {}
        if not isinstance(v, dict):
            raise _fail(f"[{sec}] must be a table", source)
        sections[sec] = v
    return sections


def _sweep_int(sw: dict, key: str, default: int, minimum: int, source: str) -> int:
    v = sw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _fail(f"[sweep] {key} must be an integer >= {minimum}, not {v!r}", source)
    return v


def _sweep_section(sw: dict, source: str, default_name: str) -> dict[str, Any]:
    """[sweep] -> the Spec's keyword arguments (name, seed, ...) plus ``replications``."""
    for k in sw:
        if k not in SWEEP_KEYS:
            raise _fail(f"[sweep] unknown key {k!r}; keys are {', '.join(SWEEP_KEYS)}", source)
    seed = _sweep_int(sw, "seed", 0, 0, source)
    replications = sw.get("replications")
    if replications is not None:
        replications = _sweep_int(sw, "replications", 1, 1, source)
        if replications > MAX_AXIS_VALUES:
            raise _fail(f"[sweep] replications = {replications:,}: at most "
                        f"{MAX_AXIS_VALUES:,}", source)
    keep = sw.get("keep_requests", False)
    if not isinstance(keep, bool):
        raise _fail(f"[sweep] keep_requests must be true or false, not {keep!r}", source)
    seed_from = sw.get("seed_from", "cell")
    if seed_from not in ("cell", "replicate", "spec"):
        raise _fail(f"[sweep] seed_from must be 'cell', 'replicate' or 'spec', not "
                    f"{seed_from!r}", source)
    if seed_from == "spec" and replications not in (None, 1):
        raise _fail("[sweep] seed_from = 'spec' gives every replicate the same workload: "
                    "use 'cell' or 'replicate' with replications", source)
    out = sw.get("out")
    name = str(sw.get("name", re.sub(r"[^A-Za-z0-9_.-]", "_", default_name).lstrip(".")
                      or "sweep"))
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", name):
        raise _fail(f"[sweep] name {name!r} is a name, not a path: letters, digits, '_', "
                    "'-' and '.', not first, at most 100 (use out = \"FOLDER\" for a place)",
                    source)
    return {"name": name, "seed": seed,
            "replications": replications, "keep_requests": keep, "seed_from": seed_from,
            "out": None if out is None else str(out),
            "description": str(sw.get("description", ""))}


def _policies_value(previous: list[str] | None, value: Any, source: str) -> list[str]:
    """``policies`` (in [fixed] or [axes]): one flat list, given once."""
    if previous is not None:
        raise _fail("policies given twice", source)
    if isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value):
        raise _fail("policies is one flat list: all policies of a cell run "
                    "together on the same requests", source)
    return coerce("policies", value, source)


def _fixed_section(table: dict, source: str) -> tuple[list[str] | None, dict[str, Any]]:
    """[fixed] -> (policies if given here, {field: value})."""
    policies: list[str] | None = None
    fixed: dict[str, Any] = {}
    for key, value in table.items():
        name = _field(key, "fixed", source)
        if name == "policies":
            policies = _policies_value(policies, value, source)
            continue
        if name in fixed:
            raise _fail(f"{name} is set twice ([fixed] and [axes], or via an alias)", source)
        v = _coerce(name, value, source)
        if name == "trace":
            files = expand_trace(v, source)
            if len(files) != 1:
                raise _fail(f"[fixed] trace {value!r} is {len(files)} traces: put it "
                            "under [axes]", source)
            v = files[0]
        fixed[name] = v
    return policies, fixed


def _axes_section(table: dict, source: str, policies: list[str] | None,
                  fixed: dict[str, Any]) -> tuple[list[str] | None, dict[str, list[Any]]]:
    """[axes] -> (policies from [fixed] or here, {field: values}), in the spec's order."""
    axes: dict[str, list[Any]] = {}
    for key, value in table.items():
        name = _field(key, "axes", source)
        if name == "policies":
            policies = _policies_value(policies, value, source)
            continue
        if name in fixed or name in axes:
            raise _fail(f"{name} is set twice ([fixed] and [axes], or via an alias)", source)
        axes[name] = _axis_values(name, value, source)
    return policies, axes


def _axis_values(name: str, value: Any, source: str) -> list[Any]:
    """One axis: a list or a generator table -> distinct coerced values (traces expanded)."""
    if isinstance(value, dict):
        values = _generated(name, value, source)
    elif isinstance(value, list):
        values = value
    else:
        raise _fail(f"[axes] {name} must be a list of values (or a generator table)", source)
    if not values:
        raise _fail(f"[axes] {name} is empty", source)
    values = [_coerce(name, v, source) for v in values]
    if name == "trace":
        values = [f for v in values for f in expand_trace(v, source)]
    dup = [v for i, v in enumerate(values) if v in values[:i]]
    if dup:
        raise _fail(f"[axes] {name} repeats {dup[0]!r}", source)
    return values


def _check_policies(policies: list[str] | None, source: str, load_plugins: bool = True
                    ) -> list[str]:
    """The spec's policies (the Scenario default when none given): known, each once."""
    if policies is None:
        policies = list(DEFAULTS.policies)
    if not policies:
        raise _fail("no policy given", source)
    from policies import make_policy

    for p in policies:
        if not load_plugins and ".py:" in p:
            if not Path(p.split(":")[0]).is_file():
                raise _fail(f"policy {p!r}: plugin file not found", source)
            continue
        try:
            make_policy(p)
        except InputError as err:
            raise _fail(f"policy {p!r}: {err}", source) from None
    if len(set(policies)) != len(policies):
        raise _fail("a policy is listed twice", source)
    return policies


def load_spec(path: str | Path, load_plugins: bool = True) -> Spec:
    """Read and validate a TOML or YAML spec; InputError naming the file. ``load_plugins``:
    see :func:`spec_from_dict`."""
    p = Path(path)
    ps = str(p)
    data, text = parse_settings_file(p, "spec")
    suffix = p.suffix.lower()
    return spec_from_dict(data, ps, text=text, suffix=suffix, default_name=p.stem,
                          load_plugins=load_plugins)
