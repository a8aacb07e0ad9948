"""The data files a sweep's cells read besides the spec, and the hash that guards a store
against results computed from other files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from experiments.store import Store
from models.errors import InputError
from sim.grid.spec import Spec, stable_hash
from sim.grid.traces import is_kind
from sim.scenario import REPO_ROOT, resolve_path

__all__ = ["StaleInputs", "check_inputs", "input_files", "inputs_hash"]


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


def check_inputs(store: Store, spec: Spec, current: str) -> None:
    info = store.spec_info() or {}
    stored = info.get("inputs_hash")
    if stored is not None and stored != current:
        raise StaleInputs(
            f"{store.root} was computed from other model data, timings or traces (inputs "
            f"hash {stored[:12]}, now {current[:12]}): use another --out, or remove the "
            "folder to recompute", spec.source)
