"""Policy registry: one line per policy, ``name: ("module:Class", fixed parameters)``.

Policy specs on the command line: ``NAME`` or ``NAME:RETENTION`` (e.g. ``int8:0.5``,
``scout:0.25``), or a plugin ``path/to/file.py:ClassName`` (a :class:`policies.base.Policy`
subclass; its ``name`` attribute labels the results).
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


def make_policy(spec: str) -> tuple[str, Policy]:
    """Build a policy from its spec; returns (label used in results, policy)."""
    spec = spec.strip()
    if ".py:" in spec:
        cls = _load_class(spec, spec.split(":")[0])
        return getattr(cls, "name", spec), cls()
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
