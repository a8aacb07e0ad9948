"""Policy registry: one line per policy, ``name: ("module:Class", fixed parameters)``.

Policy specs on the command line: ``NAME``, ``NAME:RETENTION`` (e.g. ``int8:0.5``,
``scout:0.25``), ``NAME(key=value,...)`` for constructor parameters (e.g.
``adaptive(estimator=harmonic,safety=0.9)``), or a plugin ``path/to/file.py:ClassName`` (a
:class:`policies.base.Policy` subclass; its ``name`` attribute labels the results).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from models.errors import InputError, unknown_name
from policies.base import Policy

POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    "bf16": ("policies.kv:KVTransfer", {"precision": "bf16"}),
    "int8": ("policies.kv:KVTransfer", {"precision": "int8"}),
    "int4": ("policies.kv:KVTransfer", {"precision": "int4"}),
    "mixed": ("policies.kv:KVTransfer", {"precision": "mixed"}),
    "scout": ("policies.scout:Scout", {}),
    "cloud-text": ("policies.cloud_text:CloudText", {}),
    "edge-local": ("policies.edge_local:EdgeLocal", {}),
    "adaptive": ("policies.adaptive:Adaptive", {}),
    "mpc": ("policies.mpc:MPC", {}),
    "oracle": ("policies.oracle:Oracle", {}),
}


def _load_class(target: str, origin: str) -> type[Policy]:
    module_name, _, class_name = target.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.exists():
            raise InputError("policy plugin file not found", module_name)
        spec = importlib.util.spec_from_file_location(f"scoutsim_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as err:  # a plugin's own bug: report it on one line
            raise InputError(f"cannot load policy plugin: {type(err).__name__}: {err}",
                             module_name) from None
    else:
        module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise InputError(f"{class_name!r} is not a Policy subclass", origin)
    return cls


def split_specs(text: str) -> list[str]:
    """Split a comma-separated policy list, keeping commas inside parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [p for p in out if p]


def _parse_value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _kwargs(spec: str, body: str) -> dict[str, Any]:
    kwargs = {}
    for item in split_specs(body):
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise InputError(f"policy {spec!r}: expected NAME(key=value,...)")
        kwargs[key.strip()] = _parse_value(value.strip())
    return kwargs


def make_policy(spec: str) -> tuple[str, Policy]:
    """Build a policy from its spec; returns (label used in results, policy)."""
    spec = spec.strip()
    if ".py:" in spec:
        cls = _load_class(spec, spec.split(":")[0])
        return getattr(cls, "name", spec), cls()
    if spec.endswith(")") and "(" in spec:
        name, _, body = spec[:-1].partition("(")
        if name not in POLICIES:
            raise unknown_name("policy", name, list(POLICIES))
        target, fixed = POLICIES[name]
        params = {**fixed, **_kwargs(spec, body)}
        try:
            return spec, _load_class(target, spec)(**params)
        except TypeError as err:
            raise InputError(f"policy {spec!r}: {err}") from None
    name, _, arg = spec.partition(":")
    if name not in POLICIES:
        raise unknown_name("policy", name, list(POLICIES))
    target, fixed = POLICIES[name]
    params = dict(fixed)
    if arg:
        try:
            params["retention"] = float(arg)
        except ValueError:
            raise InputError(f"policy {spec!r}: expected NAME:RETENTION, e.g. scout:0.25") from None
        if not 0 < params["retention"] <= 1:
            raise InputError(f"policy {spec!r}: retention must be in (0, 1]")
    return spec, _load_class(target, spec)(**params)
