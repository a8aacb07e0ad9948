"""Trace values of a spec: files, folders, globs, named trace sets (``set:NAME``, from
:mod:`sim.traces.sets`) and generated ``kind:`` traces."""

from __future__ import annotations

import glob as globlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from models.errors import InputError
from sim.build import trace_files
from sim.scenario import REPO_ROOT, resolve_path, shipped_trace_names, trace_by_name
from sim.traces import sets as trace_sets

__all__ = ["canonical_kind", "expand_trace", "is_kind", "kind_file_name", "materialise_kind",
           "parse_kind"]


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
    """The CSV of a ``kind:`` trace in ``folder`` (a run's own folder; else a private
    temporary folder of this user), generated now and compared by content with a file of
    that name already there: a file that differs (planted, damaged, from another version)
    is replaced, never used. Generation is deterministic, so every machine makes the same
    bytes."""
    from sim.traces.synthetic import csv_text, generate, kind_params, write_csv

    name = kind_file_name(value)
    kind, seed, duration = parse_kind(value)
    trace = generate(kind_params(kind), duration, seed, name=name)
    text = csv_text(trace)
    bases = ([Path(folder)] if folder is not None else []) + [None]  # None: private temp
    for base in bases:
        try:
            base = base if base is not None else _private_temp()
            path = base / name
            if path.is_file() and path.read_bytes() == text.encode():
                return path
            base.mkdir(parents=True, exist_ok=True)  # e.g. a Dask worker without the
            write_csv(trace, path)                   # driver's folder: the temp one
            return path
        except (OSError, InputError) as err:
            last = err
    raise InputError(f"cannot write the generated trace {name}: {last}")


def _private_temp() -> Path:
    """``$TMP/scoutsim-traces-UID``, created with mode 0700; refused if another user owns
    it (its files could be planted)."""
    base = Path(tempfile.gettempdir()) / f"scoutsim-traces-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    if base.stat().st_uid != os.getuid():
        raise InputError(f"{base} belongs to another user; pass a folder of your own")
    return base


def _trace_set(text: str, source: str) -> list[str]:
    """``set:NAME``: the traces of the named set that are present, in the set's order (a
    missing one is skipped, as a glob skips what it does not match); none: an error."""
    name = text.removeprefix("set:")
    try:
        paths = trace_sets.resolve(name)
    except InputError as err:
        raise InputError(f"trace {text!r}: {err.message}", source) from None
    if not paths:
        raise InputError(f"no trace of the set {name!r} is present (python -m "
                         "sim.traces.sets lists them)", source)
    return paths


def expand_trace(value: Any, source: str) -> list[str]:
    """A trace value -> trace file strings (a folder or glob gives several)."""
    if value is None:
        return [None]  # type: ignore[list-item]
    text = str(value)
    if is_kind(text):
        return [canonical_kind(text, source)]
    if text.startswith("set:"):
        return _trace_set(text, source)
    if any(ch in text for ch in "*?["):
        for base in (Path.cwd(), REPO_ROOT):
            pattern = text if Path(text).is_absolute() else str(base / text)
            hits = sorted(p for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
            if hits:
                if Path(text).is_absolute():
                    return hits
                return [str(Path(p).relative_to(base)) for p in hits]
        raise InputError(f"trace pattern {text!r} matches no file", source)
    if not resolve_path(text).exists() and len(Path(text).parts) == 1:
        try:
            text = trace_by_name(text)  # a shipped trace by name (``lte``)
        except InputError:
            raise InputError(f"trace {text!r} not found (shipped traces, by name: "
                             f"{', '.join(shipped_trace_names())})", source) from None
    p = resolve_path(text)
    if p.is_dir():
        return [f"{text.rstrip('/')}/{f.relative_to(p)}" for f in trace_files(p)]
    if not p.is_file():
        raise InputError(f"trace {text!r} not found", source)
    return [text]

