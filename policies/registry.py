"""Policy registry: one line per policy, ``name: ("module:Class", fixed parameters)``.

Policy specs on the command line: ``NAME``, ``NAME:RETENTION`` (e.g. ``int8:0.5``,
``scout:0.25``), ``NAME(key=value,...)`` for constructor parameters (e.g.
``adaptive(estimator=harmonic,safety=0.9)``), or a plugin ``path/to/file.py:ClassName`` (a
:class:`policies.base.Policy` subclass; its ``name`` attribute labels the results).

Typed parameters: a policy class declares its parameters as a nested frozen dataclass
``Params`` whose fields carry a type (``int``, ``float``, ``bool``, ``str``, a ``Literal``
of choices, optionally ``| None``), a default and ``metadata={"help": ..., "range": ...}``
(``range``: an interval such as ``"(0, 1]"`` or ``"[1, inf)"``). :func:`make_policy`
converts each ``key=value`` of a spec by its field's type and checks its range, so a bad
value or an unknown key is one line naming the policy and the parameter;
``python -m sim.run --list-policies`` prints them all (:func:`describe_policies`). A class
without ``Params`` (a plugin) gets its values guessed as before (int, float, bool, str).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

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


def _guarded(cls: type[Policy], spec: str) -> type[Policy]:
    """A plugin class whose own errors become one line naming the plugin: an exception in
    ``__init__``, ``reset`` or ``decide``, or a ``decide`` that returns something other
    than an :class:`~models.operating.OperatingPoint` (built-in policies are not wrapped)."""
    from models.operating import OperatingPoint

    def fail(what: str, err: BaseException) -> InputError:
        return InputError(f"policy {spec!r}: {what} raised {type(err).__name__}: {err}")

    class Guarded(cls):  # type: ignore[valid-type, misc]
        def __init__(self, **params: Any) -> None:
            try:
                super().__init__(**params)
            except InputError:
                raise
            except Exception as err:
                raise fail("__init__", err) from None

        def reset(self, context: Any) -> None:
            try:
                super().reset(context)
            except Exception as err:
                raise fail("reset", err) from None

        def decide(self, request: Any, view: Any) -> Any:
            try:
                op = super().decide(request, view)
            except InputError:
                raise
            except Exception as err:
                raise fail("decide", err) from None
            if not isinstance(op, OperatingPoint):
                raise InputError(f"policy {spec!r}: decide returned {type(op).__name__}, "
                                 "not an OperatingPoint")
            return op

    Guarded.__name__, Guarded.__qualname__ = cls.__name__, cls.__qualname__
    Guarded.__doc__ = cls.__doc__
    return Guarded


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


# --------------------------------------------------------------------------- typed parameters
@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """One declared parameter of a policy (a field of its ``Params``)."""

    name: str
    type: Any  # the resolved annotation
    default: Any
    help: str
    range: str | None = None

    @property
    def type_text(self) -> str:
        return _type_text(self.type)


def params_class(cls: type) -> type | None:
    """The policy class's ``Params`` dataclass, or None (untyped: a plugin)."""
    params = getattr(cls, "Params", None)
    return params if isinstance(params, type) and dataclasses.is_dataclass(params) else None


def param_infos(cls: type) -> list[ParamInfo] | None:
    """The declared parameters of a policy class in declaration order (None: untyped)."""
    params = params_class(cls)
    if params is None:
        return None
    hints = typing.get_type_hints(params)
    out = []
    for f in dataclasses.fields(params):
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append(ParamInfo(f.name, hints[f.name], default, f.metadata.get("help", ""),
                             f.metadata.get("range")))
    return out


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _type_text(tp: Any) -> str:
    base, optional = _optional(tp)
    if typing.get_origin(base) is Literal:
        text = "|".join(str(a) for a in typing.get_args(base))
    else:
        text = getattr(base, "__name__", str(base))
    return text + ("|none" if optional else "")


_RANGE = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^\]\s)]+)\s*([\])])\s*$")


def in_range(value: float, interval: str) -> bool:
    """Whether ``value`` lies in ``interval`` (``"(0, 1]"``, ``"[1, inf)"``, ...)."""
    m = _RANGE.match(interval)
    if m is None:
        raise ValueError(f"not an interval: {interval!r}")
    lo_b, lo, hi, hi_b = m.groups()
    lo_v, hi_v = float(lo), float(hi)
    if math.isnan(value):
        return False
    above = value >= lo_v if lo_b == "[" else value > lo_v
    below = value <= hi_v if hi_b == "]" else value < hi_v
    return above and below


def _coerce(spec: str, key: str, text: str, tp: Any) -> Any:
    """``text`` converted to the parameter's type; InputError naming the parameter."""
    base, optional = _optional(tp)
    if optional and text.lower() == "none":
        return None

    def bad(expected: str) -> InputError:
        return InputError(f"policy {spec!r}: parameter {key}={text!r}: expected {expected}")

    if typing.get_origin(base) is Literal:
        choices = typing.get_args(base)
        for choice in choices:
            if text == str(choice):
                return choice
        raise bad("one of " + ", ".join(str(c) for c in choices))
    if base is bool:
        value = {"true": True, "false": False}.get(text.lower())
        if value is None:
            raise bad("true or false")
        return value
    if base is int:
        try:
            return int(text)
        except ValueError:
            raise bad("an integer") from None
    if base is float:
        try:
            return float(text)
        except ValueError:
            raise bad("a number") from None
    return text


def _check_range(spec: str, info: ParamInfo, value: Any) -> None:
    if info.range is None or value is None or isinstance(value, str):
        return
    if not in_range(float(value), info.range):
        raise InputError(f"policy {spec!r}: parameter {info.name}={value!r} is outside "
                         f"{info.range}")


def _unknown_param(spec: str, name: str, key: str, infos: list[ParamInfo]) -> InputError:
    known = ", ".join(i.name for i in infos) or "none"
    return InputError(f"policy {spec!r}: {name} has no parameter {key!r}; known: {known}")


# --------------------------------------------------------------------------- specs
def _parse_value(text: str) -> Any:
    """Untyped (plugin) parameters: the value guessed as int, float, bool or str."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _items(spec: str, body: str) -> list[tuple[str, str]]:
    items = []
    for item in split_specs(body):
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise InputError(f"policy {spec!r}: expected NAME(key=value,...)")
        items.append((key.strip(), value.strip()))
    return items


def _kwargs(spec: str, name: str, cls: type, items: list[tuple[str, str]]) -> dict[str, Any]:
    """The spec's ``key=value`` items converted by the class's declared parameters (guessed
    for an untyped class) and range-checked."""
    infos = param_infos(cls)
    if infos is None:
        return {key: _parse_value(text) for key, text in items}
    by_name = {i.name: i for i in infos}
    kwargs = {}
    for key, text in items:
        if key not in by_name:
            raise _unknown_param(spec, name, key, infos)
        value = _coerce(spec, key, text, by_name[key].type)
        _check_range(spec, by_name[key], value)
        kwargs[key] = value
    return kwargs


def _entry(name: str) -> tuple[str, dict[str, Any]]:
    if name not in POLICIES:
        raise unknown_name("policy", name, list(POLICIES))
    return POLICIES[name]


def _build(spec: str, cls: type[Policy], params: dict[str, Any]) -> Policy:
    try:
        return cls(**params)
    except TypeError as err:
        raise InputError(f"policy {spec!r}: {err}") from None


def make_policy(spec: str) -> tuple[str, Policy]:
    """Build a policy from its spec; returns (label used in results, policy)."""
    spec = spec.strip()
    if ".py:" in spec:
        cls = _guarded(_load_class(spec, spec.split(":")[0]), spec)
        return getattr(cls, "name", spec), cls()
    if spec.endswith(")") and "(" in spec:
        name, _, body = spec[:-1].partition("(")
        target, fixed = _entry(name)
        items = _items(spec, body)
        cls = _load_class(target, spec)
        return spec, _build(spec, cls, {**fixed, **_kwargs(spec, name, cls, items)})
    name, _, arg = spec.partition(":")
    target, fixed = _entry(name)
    params = dict(fixed)
    cls = _load_class(target, spec)
    if arg:
        try:
            params["retention"] = float(arg)
        except ValueError:
            raise InputError(f"policy {spec!r}: expected NAME:RETENTION, e.g. scout:0.25") from None
        if not 0 < params["retention"] <= 1:
            raise InputError(f"policy {spec!r}: retention must be in (0, 1]")
        infos = param_infos(cls)
        if infos is not None and "retention" not in {i.name for i in infos}:
            raise _unknown_param(spec, name, "retention", infos)
    return spec, _build(spec, cls, params)


def make_policies(specs: list[str]) -> list[tuple[str, Policy]]:
    """Build every policy of a run; their labels must differ, since each labels one row of
    results: a spec given twice, or a plugin named like another policy, is an error (it
    would pool two policies' requests into one row)."""
    built = [make_policy(spec) for spec in specs]
    seen: dict[str, str] = {}
    for spec, (label, _) in zip(specs, built, strict=True):
        if label in seen:
            if seen[label].strip() == spec.strip():
                raise InputError(f"policy {spec.strip()!r} is listed twice")
            raise InputError(f"policies {seen[label].strip()!r} and {spec.strip()!r} are both "
                             f"labelled {label!r}; give the plugin class a distinct `name`")
        seen[label] = spec
    return built


# --------------------------------------------------------------------------- listing
def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0].replace("``", "") if lines else ""


def describe_policies() -> str:
    """Every registered policy with its parameters (name, type, default, range, help)."""
    blocks = []
    for name, (target, fixed) in POLICIES.items():
        cls = _load_class(target, name)
        about = _first_line(getattr(sys.modules.get(cls.__module__), "__doc__", None))
        where = ", ".join([target, *(f"{k}={v}" for k, v in fixed.items())])
        lines = [f"{name}  ({where})" + (f": {about}" if about else "")]
        infos = param_infos(cls)
        if infos is None:
            lines.append("  parameters not declared (values are guessed: int, float, bool, str)")
        elif not infos:
            lines.append("  no parameters")
        else:
            rows = [("name", "type", "default", "range", "help")]
            rows += [(i.name, i.type_text, _default_text(fixed.get(i.name, i.default)),
                      i.range or "-", i.help) for i in infos]
            widths = [max(len(r[k]) for r in rows) for k in range(4)]
            lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                      + "  " + r[4] for r in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _default_text(value: Any) -> str:
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)
