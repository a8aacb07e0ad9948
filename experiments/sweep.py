"""Sweeps: a grid of scenarios from a spec file, run on local processes or a Dask cluster,
into a resumable store with one row per (cell, policy).

Usage::

    python -m experiments.sweep SPEC [--out results/NAME] [-j N | --scheduler tcp://HOST:PORT]
                                     [--status] [--quiet]

A spec (TOML, or YAML with the same structure)::

    [sweep]
    name = "deadline-vs-bandwidth"   # default out folder: results/NAME (else the file's stem)
    seed = 0                         # every cell's workload seed derives from this and the cell
    replications = 3                 # shorthand for the axis replicate = [0, 1, 2]
    keep_requests = false            # also store per-request records (requests/KEY.parquet)
    seed_from = "cell"               # or "replicate": one workload per replicate, shared by
                                     # every cell (common random numbers across the grid)

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
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import glob as globlib
import hashlib
import itertools
import json
import math
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.store import SpecChanged, Store
from models.errors import InputError
from sim.scenario import FIELDS, REPO_ROOT, Scenario, coerce, parse_settings_file, resolve_path

__all__ = ["Cell", "Spec", "SpecChanged", "StaleInputs", "load_spec", "main", "run_cell",
           "run_sweep", "spec_from_dict", "status"]

SECTIONS = ("sweep", "fixed", "axes")
SWEEP_KEYS = ("name", "description", "seed", "replications", "out", "keep_requests",
              "seed_from")
REPLICATE = "replicate"
SPEC_FORMAT = 1
CONNECT_TIMEOUT_S = 20  # how long to wait for a Dask scheduler
#: Scenario fields a spec may not set, and why
NOT_SETTABLE = {
    "seed": "each cell's seed derives from [sweep] seed and the cell; use replications = N "
            "or a replicate axis for more seeds",
    "trace_dir": "put the folder in the trace axis instead (one cell per trace file)",
}
#: every Scenario field but policies and seed, in declaration order: a row's parameters
PARAM_FIELDS = [n for n in FIELDS if n not in ("policies", "seed")]
_DEFAULTS = Scenario()
_ALIASES = {**{f.metadata.get("flag", n).replace("-", "_"): n for n, f in FIELDS.items()},
            **{n: n for n in FIELDS}, "policy": "policies"}
_CMP_COLUMNS = {  # comparison columns in every row (NaN / None without a reference policy)
    "vs_reference": object, "vs_hit_rate_diff": float, "vs_hit_p": float,
    "vs_hit_p_holm": float, "vs_hit_verdict": object, "vs_utility_diff": float,
    "vs_utility_diff_ci_low": float, "vs_utility_diff_ci_high": float, "vs_utility_p": float,
    "vs_utility_p_holm": float, "vs_utility_verdict": object,
}


def stable_hash(obj: Any) -> str:
    """SHA-256 hex of the sorted, compact JSON of ``obj`` (platform independent)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def derive_seed(spec_seed: int, basis: str) -> int:
    """A 32-bit workload seed from the spec's seed and a cell's key (or replicate)."""
    digest = hashlib.sha256(f"scoutsim-sweep:{spec_seed}:{basis}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


# ------------------------------------------------------------------------------ traces
def is_kind(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("kind:")


def parse_kind(value: str, source: str = "<spec>") -> tuple[str, int, float]:
    """``kind:KIND[:seed=N][:duration=S]`` -> (kind, seed, duration_s)."""
    parts = value.split(":")
    if len(parts) < 2 or not parts[1]:
        raise InputError(f"trace {value!r}: expected kind:KIND[:seed=N][:duration=S]", source)
    kind, seed, duration = parts[1], 0, 600.0
    for item in parts[2:]:
        k, eq, v = item.partition("=")
        try:
            if k == "seed" and eq:
                seed = int(v)
                if seed < 0:
                    raise ValueError
            elif k == "duration" and eq:
                duration = float(v)
                if not (duration > 0 and math.isfinite(duration)):
                    raise ValueError
            else:
                raise InputError(f"trace {value!r}: unknown option {item!r} (seed=N, "
                                 "duration=S)", source)
        except ValueError:
            raise InputError(f"trace {value!r}: bad value in {item!r}", source) from None
    return kind, seed, duration


def canonical_kind(value: str, source: str = "<spec>") -> str:
    kind, seed, duration = parse_kind(value, source)
    from sim.traces.synthetic import kind_params

    try:
        kind_params(kind)
    except InputError as err:
        raise InputError(f"trace {value!r}: {err.message}", source) from None
    return f"kind:{kind}:seed={seed}:duration={duration:g}"


def kind_file_name(value: str) -> str:
    kind, seed, duration = parse_kind(value)
    return f"kind-{kind}-seed{seed}-duration{duration:g}.csv"


def materialise_kind(value: str, folder: str | Path | None = None) -> Path:
    """The CSV of a ``kind:`` trace in ``folder`` (else a temp folder), generated if missing.
    Generation is deterministic, so every machine makes the same file."""
    from sim.traces.synthetic import generate, kind_params, write_csv

    name = kind_file_name(value)
    bases = ([Path(folder)] if folder is not None else []) + [
        Path(tempfile.gettempdir()) / "scoutsim-traces"]
    for base in bases:
        if (base / name).is_file():
            return base / name
    kind, seed, duration = parse_kind(value)
    trace = generate(kind_params(kind), duration, seed, name=name)
    for base in bases:
        try:
            base.mkdir(parents=True, exist_ok=True)
            write_csv(trace, base / name)
            return base / name
        except (OSError, InputError):
            continue
    raise InputError(f"cannot write the generated trace {name}")


def expand_trace(value: Any, source: str) -> list[str]:
    """A trace value -> trace file strings (a folder or glob gives several)."""
    if value is None:
        return [None]  # type: ignore[list-item]
    text = str(value)
    if is_kind(text):
        return [canonical_kind(text, source)]
    if any(ch in text for ch in "*?["):
        for base in (Path.cwd(), REPO_ROOT):
            pattern = text if Path(text).is_absolute() else str(base / text)
            hits = sorted(p for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
            if hits:
                if Path(text).is_absolute():
                    return hits
                return [str(Path(p).relative_to(base)) for p in hits]
        raise InputError(f"trace pattern {text!r} matches no file", source)
    p = resolve_path(text)
    if p.is_dir():
        from sim.simulation import trace_files

        return [f"{text.rstrip('/')}/{f.relative_to(p)}" for f in trace_files(p)]
    if not p.is_file():
        raise InputError(f"trace {text!r} not found", source)
    return [text]


# ------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class Cell:
    """One Scenario minus its policies: ``params`` has every other field plus ``replicate``."""

    index: int
    key: str
    seed: int
    params: dict[str, Any]
    axes: dict[str, Any]  # this cell's values of the spec's axes

    def scenario(self, policies: list[str], trace: str | None = None) -> Scenario:
        kw = {k: v for k, v in self.params.items() if k != REPLICATE}
        if trace is not None:
            kw["trace"] = trace
        return Scenario(policies=list(policies), seed=self.seed, **kw)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.axes.items()) or "(single cell)"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Spec:
    """A parsed, validated sweep spec (see the module docstring for the format)."""

    source: str
    name: str
    seed: int
    policies: list[str]
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    keep_requests: bool = False
    seed_from: str = "cell"
    out: str | None = None
    description: str = ""
    text: str | None = None
    suffix: str = ".toml"
    _cells: list[Cell] | None = field(default=None, repr=False)

    def canonical(self) -> dict[str, Any]:
        """What identifies the results (not the name, description or out folder)."""
        return {"format": SPEC_FORMAT, "seed": self.seed, "policies": self.policies,
                "fixed": self.fixed, "axes": self.axes, "keep_requests": self.keep_requests,
                "seed_from": self.seed_from}

    @property
    def hash(self) -> str:
        return stable_hash(self.canonical())

    def info(self) -> dict[str, Any]:
        return {"spec_hash": self.hash, "name": self.name, "source": self.source,
                "cells": len(self.cells()), "policies": self.policies,
                "canonical": self.canonical()}

    def default_out(self) -> Path:
        return Path(self.out) if self.out else Path("results") / self.name

    def cells(self) -> list[Cell]:
        """Every cell, in grid order (the last axis varies fastest); validated."""
        if self._cells is None:
            self._cells = self._expand()
        return self._cells

    def _expand(self) -> list[Cell]:
        from sim.simulation import build_workload

        names = list(self.axes)
        explicit = set(self.fixed) | set(names)
        base = {n: getattr(_DEFAULTS, n) for n in PARAM_FIELDS}
        base.update(self.fixed)
        base[REPLICATE] = self.fixed.get(REPLICATE, 0)
        cells: list[Cell] = []
        seen: dict[str, int] = {}
        for i, combo in enumerate(itertools.product(*(self.axes[n] for n in names))):
            params = dict(base)
            params.update(zip(names, combo, strict=True))
            axes = dict(zip(names, combo, strict=True))
            if params["bandwidth_mbps"] is not None:
                if "trace" in explicit and params["trace"] is not None:
                    raise InputError("a cell sets both trace and bandwidth_mbps "
                                     f"({', '.join(f'{k}={v}' for k, v in axes.items())}); "
                                     "set one of them", self.source)
                params["trace"] = None
            if params["rate_per_s"] is not None and "interval_s" not in explicit:
                params["interval_s"] = None
            key = stable_hash(params)[:16]
            if key in seen:
                raise InputError(f"cells {seen[key]} and {i} are identical; remove the "
                                 "duplicate axis value", self.source)
            seen[key] = i
            basis = key if self.seed_from == "cell" else f"replicate={params[REPLICATE]}"
            cell = Cell(i, key, derive_seed(self.seed, basis), params, axes)
            try:
                scenario = cell.scenario(self.policies).validate()
                # the workload's settings too (interval, rate, context tokens): one request
                build_workload(dataclasses.replace(scenario, requests=1))
            except InputError as err:
                raise InputError(f"cell {cell.describe()}: {err}", self.source) from None
            cells.append(cell)
        return cells


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
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            vals = [start + i * step for i in range(max(n, 0))]
            return [float(f"{v:.12g}") for v in vals]
    except (TypeError, ValueError):
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
                   suffix: str = ".toml", default_name: str = "sweep") -> Spec:
    """Parse and validate a spec given as a mapping (the parsed TOML/YAML)."""
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
    sw = sections["sweep"]
    for k in sw:
        if k not in SWEEP_KEYS:
            raise _fail(f"[sweep] unknown key {k!r}; keys are {', '.join(SWEEP_KEYS)}", source)

    def sweep_int(key: str, default: int, minimum: int) -> int:
        v = sw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise _fail(f"[sweep] {key} must be an integer >= {minimum}, not {v!r}", source)
        return v

    seed = sweep_int("seed", 0, 0)
    replications = sw.get("replications")
    if replications is not None:
        replications = sweep_int("replications", 1, 1)
    keep = sw.get("keep_requests", False)
    if not isinstance(keep, bool):
        raise _fail(f"[sweep] keep_requests must be true or false, not {keep!r}", source)
    seed_from = sw.get("seed_from", "cell")
    if seed_from not in ("cell", "replicate"):
        raise _fail(f"[sweep] seed_from must be 'cell' or 'replicate', not {seed_from!r}",
                    source)

    policies: list[str] | None = None
    fixed: dict[str, Any] = {}
    axes: dict[str, list[Any]] = {}
    for sec in ("fixed", "axes"):
        for key, value in sections[sec].items():
            name = _field(key, sec, source)
            if name == "policies":
                if policies is not None:
                    raise _fail("policies given twice", source)
                if isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value):
                    raise _fail("policies is one flat list: all policies of a cell run "
                                "together on the same requests", source)
                policies = coerce("policies", value, source)
                continue
            if name in fixed or name in axes:
                raise _fail(f"{name} is set twice ([fixed] and [axes], or via an alias)",
                            source)
            if sec == "fixed":
                if name == REPLICATE:
                    fixed[name] = _coerce(name, value, source)
                    continue
                v = _coerce(name, value, source)
                if name == "trace":
                    files = expand_trace(v, source)
                    if len(files) != 1:
                        raise _fail(f"[fixed] trace {value!r} is {len(files)} traces: put it "
                                    "under [axes]", source)
                    v = files[0]
                fixed[name] = v
                continue
            if isinstance(value, dict):
                values = _generated(name, value, source)
            elif isinstance(value, list):
                values = value
            else:
                raise _fail(f"[axes] {name} must be a list of values (or a generator table)",
                            source)
            if not values:
                raise _fail(f"[axes] {name} is empty", source)
            values = [_coerce(name, v, source) for v in values]
            if name == "trace":
                values = [f for v in values for f in expand_trace(v, source)]
            dup = [v for i, v in enumerate(values) if v in values[:i]]
            if dup:
                raise _fail(f"[axes] {name} repeats {dup[0]!r}", source)
            axes[name] = values
    if replications is not None:
        if REPLICATE in axes or REPLICATE in fixed:
            raise _fail("give [sweep] replications or a replicate axis, not both", source)
        axes[REPLICATE] = list(range(replications))
    if policies is None:
        policies = list(_DEFAULTS.policies)
    if not policies:
        raise _fail("no policy given", source)
    from policies import make_policy

    for p in policies:
        try:
            make_policy(p)
        except InputError as err:
            raise _fail(f"policy {p!r}: {err}", source) from None
    if len(set(policies)) != len(policies):
        raise _fail("a policy is listed twice", source)
    name = str(sw.get("name", default_name))
    out = sw.get("out")
    spec = Spec(source=source, name=name, seed=seed, policies=policies, fixed=fixed, axes=axes,
                keep_requests=keep, seed_from=seed_from,
                out=None if out is None else str(out), description=str(sw.get("description", "")),
                text=text, suffix=suffix)
    spec.cells()  # validate every cell now: errors before any work
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML or YAML spec; InputError naming the file."""
    p = Path(path)
    ps = str(p)
    data, text = parse_settings_file(p, "spec")
    suffix = p.suffix.lower()
    return spec_from_dict(data, ps, text=text, suffix=suffix, default_name=p.stem)


# ------------------------------------------------------------------------------ one cell
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
        result = run(cell.scenario(task["policies"], trace))
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


# ------------------------------------------------------------------------------ executors
def _worker_init(parent_pid: int) -> None:
    """Pool workers leave Ctrl-C to the parent and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _serial(tasks: list[dict]) -> Iterator[dict]:
    for t in tasks:
        yield run_cell(t)


def _local(tasks: list[dict], jobs: int) -> Iterator[dict]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ex = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init,
                             initargs=(os.getpid(),))
    finished = False
    try:
        futures = [ex.submit(run_cell, t) for t in tasks]
        for f in as_completed(futures):
            yield f.result()
        finished = True
    finally:
        if finished:
            ex.shutdown(wait=True)
        else:  # interrupted or failed: drop queued cells, stop the ones in flight
            procs = list((getattr(ex, "_processes", None) or {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()


def _dask(tasks: list[dict], address: str) -> Iterator[dict]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise InputError("--scheduler needs dask distributed (pip install "
                         "'dask[distributed]')") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as err:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    futures = []
    try:
        futures = [client.submit(run_cell, t, pure=False) for t in tasks]
        for fut in dask_completed(futures):
            try:
                res = fut.result()
            except (ModuleNotFoundError, ImportError) as err:
                raise InputError(f"a Dask worker cannot import scoutsim ({err}); install it "
                                 "on every worker (pip install -e .)") from None
            fut.release()
            yield res
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()])
        with contextlib.suppress(Exception):
            client.close(timeout=10)


# ------------------------------------------------------------------------------ inputs
class StaleInputs(InputError):
    """The store's results were computed from other input files (model data, timings,
    traces) than the ones the spec would read now."""


def input_files(spec: Spec) -> list[Path]:
    """Data files the cells read besides the spec: the quality cache, the timing tables and
    calibration, trace files (the kind parameters for generated ones), RTT traces."""
    data, timings = REPO_ROOT / "models" / "data", REPO_ROOT / "models" / "timings"
    named = {"published": data / "quality_published.csv",
             "measured": data / "quality_measured.csv"}
    files: set[Path] = set()
    for c in spec.cells():
        p = c.params
        q = p["quality_cache"]
        if q != "none":
            files.add(named.get(q) or resolve_path(q))
        t = p["timing_table"]
        if t is None or t.strip().lower() != "none":
            folder = timings if t is None else resolve_path(t)
            if folder.is_dir():
                files.update(folder.glob("*.csv"))
                files.add(folder / "calibration.json")
            else:
                files.add(folder)
        if p["bandwidth_mbps"] is None and p["trace"]:
            files.add(REPO_ROOT / "traces" / "params.json" if is_kind(p["trace"])
                      else resolve_path(p["trace"]))
        if p["rtt_trace"]:
            files.add(resolve_path(p["rtt_trace"]))
    return sorted(f for f in files if f.is_file())


def inputs_hash(spec: Spec) -> str:
    """Hash of the contents (not the paths) of :func:`input_files`."""
    digests = []
    for f in input_files(spec):
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
        digests.append(h.hexdigest())
    return stable_hash(sorted(digests))


def _check_inputs(store: Store, spec: Spec, current: str) -> None:
    info = store.spec_info() or {}
    stored = info.get("inputs_hash")
    if stored is not None and stored != current:
        raise StaleInputs(
            f"{store.root} was computed from other model data, timings or traces (inputs "
            f"hash {stored[:12]}, now {current[:12]}): use another --out, or remove the "
            "folder to recompute", spec.source)


# ------------------------------------------------------------------------------ driver
@dataclass
class SweepReport:
    out: Path
    cells: int
    done_before: int
    ran: int
    elapsed_s: float
    workers: set[str]
    where: str
    rows: pd.DataFrame

    @property
    def complete(self) -> bool:
        return self.done_before + self.ran == self.cells


def status(spec: Spec, out: str | Path) -> str:
    """One paragraph: how many cells of ``spec`` the store at ``out`` holds."""
    store = Store(out)
    cells = spec.cells()
    total = len(cells)
    bound = store.check(spec.hash, spec.source)
    keys = {c.key for c in cells}
    done = len(store.done_keys() & keys) if bound else 0
    pct = 100.0 * done / total if total else 100.0
    text = (f"{out}: {done}/{total} cells done ({pct:.0f}%), {total - done} to go; "
            f"{len(spec.policies)} policies per cell; spec hash {spec.hash[:12]}")
    if not bound:
        text += "; no results yet"
    else:
        try:
            _check_inputs(store, spec, inputs_hash(spec))
        except StaleInputs as err:
            text += f"\nwarning: {err.message}"
    temps = store.temp_files() if bound else []
    if temps:
        text += (f"\n{len(temps)} temporary file(s) from an interrupted run (never read; "
                 "removed by the next run)")
    return text


def run_sweep(spec: Spec, out: str | Path | None = None, *, jobs: int | None = None,
              scheduler: str | None = None, quiet: bool = True) -> SweepReport:
    """Run the cells of ``spec`` not yet in the store at ``out``; returns every row."""
    from tqdm import tqdm

    out = Path(out) if out is not None else spec.default_out()
    cells = spec.cells()
    store = Store(out)
    current = inputs_hash(spec)
    store.bind({**spec.info(), "inputs_hash": current}, spec.text, spec.suffix)
    _check_inputs(store, spec, current)
    store.clean_temp()
    done = store.done_keys()
    todo = [c for c in cells if c.key not in done]
    kinds = sorted({c.params["trace"] for c in todo
                    if c.params["bandwidth_mbps"] is None and is_kind(c.params["trace"])})
    for k in kinds:  # generate once here, beside the results; workers reuse or regenerate
        materialise_kind(k, store.traces_dir)
    tasks = [{"cell": c.to_dict(), "policies": spec.policies, "source": spec.source,
              "keep_requests": spec.keep_requests,
              "traces_dir": str(store.traces_dir.resolve())} for c in todo]
    if scheduler:
        where = f"Dask scheduler {scheduler}"
        runner = _dask(tasks, scheduler)
    else:
        jobs = max(1, min(jobs or (os.cpu_count() or 1), len(tasks) or 1))
        where = "1 process (serial)" if jobs == 1 else f"{jobs} local processes"
        runner = _serial(tasks) if jobs == 1 else _local(tasks, jobs)
    workers: set[str] = set()
    t0 = time.perf_counter()
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell",
               desc=spec.name, disable=quiet, file=sys.stderr, dynamic_ncols=True)
    ran = 0
    try:
        with contextlib.closing(runner):
            for res in runner:
                store.write_cell(res["key"], res["rows"], res["requests"])
                workers.add(res["worker"])
                ran += 1
                bar.update(1)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    rows = store.read({c.key for c in cells})
    report = SweepReport(out, len(cells), len(cells) - len(todo), ran, elapsed, workers,
                         where, rows)
    if report.complete and (ran or not (out / "rows.csv").exists()):
        store.write_rows_csv(rows)
    return report


def format_summary(spec: Spec, rows: pd.DataFrame, max_cells: int = 30) -> str:
    """Hit rate per cell and policy (small sweeps), then per policy over all cells."""
    if rows.empty:
        return "no rows"
    lines = []
    varying = [n for n, v in spec.axes.items() if len(v) > 1]
    ncells = rows["cell"].nunique()
    pols = spec.policies
    if ncells <= max_cells:
        hit = rows.pivot_table(index="cell_index", columns="policy",
                               values="deadline_hit_rate", sort=False)
        first = rows.drop_duplicates("cell_index").set_index("cell_index")

        def fmt(n: str, v: Any) -> str:
            if n == "trace" and isinstance(v, str) and not is_kind(v):
                return Path(v).name
            return f"{v:g}" if isinstance(v, float) else str(v)

        table = [[fmt(n, first.loc[i, n]) for n in varying] for i in hit.index]
        widths = [max(len(n), *(len(r[k]) for r in table)) for k, n in enumerate(varying)]
        cw = max(8, *(len(p) + 1 for p in pols))
        head = "  ".join(f"{n:<{w}}" for n, w in zip(varying, widths, strict=True)) or "cell"
        lines.append("deadline hit rate per cell")
        lines.append(head + "".join(f"{p:>{cw}}" for p in pols))
        lines.append("-" * (len(head) + cw * len(pols)))
        for r, i in zip(table, hit.index, strict=True):
            lab = "  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)) or f"{i}"
            lines.append(f"{lab:<{len(head)}}" + "".join(
                f"{hit.loc[i, p]:>{cw}.3f}" if p in hit.columns else f"{'-':>{cw}}"
                for p in pols))
        lines.append("")
    g = rows.groupby("policy", sort=False)
    agg = pd.DataFrame({
        "cells": g["cell"].nunique(), "requests": g["requests"].sum(),
        "hit_mean": g["deadline_hit_rate"].mean(), "hit_min": g["deadline_hit_rate"].min(),
        "hit_max": g["deadline_hit_rate"].max(), "utility_mean": g["utility"].mean(),
        "p95_median": g["p95_latency_s"].median()})
    pw = max(6, *(len(p) for p in pols))
    head = (f"{'policy':<{pw}}{'cells':>7}{'requests':>10}{'hit mean':>10}{'min':>8}"
            f"{'max':>8}{'utility':>9}{'p95 s (median)':>16}")
    lines += ["per policy over all cells", head, "-" * len(head)]
    for p in pols:
        if p not in agg.index:
            continue
        r = agg.loc[p]
        lines.append(f"{p:<{pw}}{int(r.cells):>7}{int(r.requests):>10,}{r.hit_mean:>10.3f}"
                     f"{r.hit_min:>8.3f}{r.hit_max:>8.3f}{r.utility_mean:>9.3f}"
                     f"{r.p95_median:>16.3f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise InputError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m experiments.sweep",
                description="Run a sweep spec into a resumable result store.")
    p.add_argument("spec", help="sweep spec (.toml, .yaml)")
    p.add_argument("--out", help="result folder (default: [sweep] out, else results/NAME)")
    p.add_argument("-j", "--jobs", type=int, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the cells on an existing Dask distributed cluster")
    p.add_argument("--status", action="store_true", help="say how much is done, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.jobs is not None and args.jobs < 1:
            raise InputError("-j must be >= 1")
        if args.jobs is not None and args.scheduler:
            raise InputError("give -j or --scheduler, not both")
        spec = load_spec(args.spec)
        out = Path(args.out) if args.out else spec.default_out()
        if args.status:
            print(status(spec, out))
            return 0
        rep = run_sweep(spec, out, jobs=args.jobs, scheduler=args.scheduler,
                        quiet=args.quiet)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are kept; rerun the same command to resume",
              file=sys.stderr)
        return 130
    if not args.quiet:
        nw = len(rep.workers)
        print(f"sweep {spec.name}: {rep.cells} cells ({rep.done_before} already done); ran "
              f"{rep.ran} in {rep.elapsed_s:.1f} s on {rep.where}"
              + (f" ({nw} worker process{'es' if nw != 1 else ''})"
                 if rep.ran and rep.where != "1 process (serial)" else ""))
        print()
        print(format_summary(spec, rep.rows))
        print()
        print(f"results: {rep.out}/cells/*.parquet (one row per cell and policy)"
              + (", rows.csv" if rep.complete else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
