"""A parsed sweep spec and its cells: the grid, the cell keys and the derived seeds."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import InputError
from sim.scenario import FIELDS, Scenario

__all__ = ["DEFAULTS", "PARAM_FIELDS", "REPLICATE", "SPEC_FORMAT", "Cell", "Spec",
           "derive_seed", "stable_hash"]

REPLICATE = "replicate"
SPEC_FORMAT = 1
#: every Scenario field but policies and seed, in declaration order: a row's parameters
PARAM_FIELDS = [n for n in FIELDS if n not in ("policies", "seed")]
DEFAULTS = Scenario()
#: settings added after cell keys were first published: each enters a cell's key (and so
#: its derived seed) only when it differs from its default, so that adding a setting never
#: changes an existing cell's key, seed or results. Every setting added from now on goes here.
LATER_FIELDS = ("transport", "tcp_connection", "handshake_rtts", "initial_window_packets",
                "mss_bytes", "buffer_packets", "congestion_control", "min_rto_ms",
                "tcp_stack", "kv_encoding")


def cell_key(params: dict[str, Any]) -> str:
    """A cell's key: the hash of its parameters, less the :data:`LATER_FIELDS` at their
    defaults."""
    return stable_hash({k: v for k, v in params.items()
                        if k not in LATER_FIELDS or v != getattr(DEFAULTS, k)})[:16]


def stable_hash(obj: Any) -> str:
    """SHA-256 hex of the sorted, compact JSON of ``obj`` (platform independent)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def derive_seed(spec_seed: int, basis: str) -> int:
    """A 32-bit workload seed from the spec's seed and a cell's key (or replicate)."""
    digest = hashlib.sha256(f"scoutsim-sweep:{spec_seed}:{basis}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


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
        base = {n: getattr(DEFAULTS, n) for n in PARAM_FIELDS}
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
            key = cell_key(params)
            if key in seen:
                raise InputError(f"cells {seen[key]} and {i} are identical; remove the "
                                 "duplicate axis value", self.source)
            seen[key] = i
            cell = Cell(i, key, self._cell_seed(key, params), params, axes)
            try:
                scenario = cell.scenario(self.policies).validate()
                # the workload's settings too (interval, rate, context tokens): one request
                build_workload(dataclasses.replace(scenario, requests=1))
            except InputError as err:
                raise InputError(f"cell {cell.describe()}: {err}", self.source) from None
            cells.append(cell)
        return cells

    def _cell_seed(self, key: str, params: dict[str, Any]) -> int:
        """A cell's workload seed: from the spec seed and the cell (``cell``), the
        replicate (``replicate``), or the spec seed itself (``spec``: as ``sim.run --seed``)."""
        if self.seed_from == "spec":
            return self.seed
        basis = key if self.seed_from == "cell" else f"replicate={params[REPLICATE]}"
        return derive_seed(self.seed, basis)
