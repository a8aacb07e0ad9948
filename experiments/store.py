"""Result store of a sweep: one Parquet partition per cell, written atomically.

Layout of a store folder (``--out``)::

    spec.json            the canonical spec, its hash and the cell count (the store's identity)
    spec.toml|.yaml      a copy of the spec file as given (when it came from a file)
    cells/KEY.parquet    one row per policy of the cell KEY: every parameter, metrics, CIs
    requests/KEY.parquet per-request records of the cell (only with keep_requests = true)
    */KEY.parquet.corrupt a partition found unreadable (truncated, damaged), set aside; its
                         cell is recomputed by the next run
    traces/              synthetic traces generated for ``kind:...`` trace values
    rows.csv             every row in one CSV, rewritten when the sweep is complete

A partition is written to a hidden temporary name in the same folder, fsynced, then renamed
over its final name (``os.replace``), and the folder is fsynced: a reader sees either the
whole file or none, whatever happens to the writer (Ctrl-C, ``kill -9``, a crash). Readers
list ``*.parquet`` only and skip hidden names, so temporary files are never read; the next
run removes the ones whose writer is gone. A cell's requests partition is written before its
``cells/`` partition, so a finished cell always has both.

The store holds the results of one spec: opening it with a spec of another hash is an
:class:`~models.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from models.errors import InputError

SPEC_FILE = "spec.json"
CELLS = "cells"
REQUESTS = "requests"
TRACES = "traces"
ROWS_CSV = "rows.csv"
_TMP_SUFFIX = ".tmp"


class SpecChanged(InputError):
    """The folder holds the results of another spec."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` to write a temporary file beside ``path``, fsync it, then rename
    it over ``path``. The temporary name is hidden and ends in ``.tmp`` (never read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _readable(path: Path) -> bool:
    """A complete Parquet file: its footer (schema, row groups) parses."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception:  # pyarrow raises ArrowInvalid, OSError, ... on a damaged file
        return False
    return True


class Store:
    """A sweep's output folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / CELLS
        self.requests_dir = self.root / REQUESTS
        self.traces_dir = self.root / TRACES

    # ------------------------------------------------------------------ identity
    def spec_info(self) -> dict[str, Any] | None:
        """The stored ``spec.json`` (None when the folder holds no sweep yet)."""
        p = self.root / SPEC_FILE
        if not p.exists():
            return None
        try:
            info = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"cannot read {SPEC_FILE}: {err}", str(p)) from None
        if not isinstance(info, dict) or not isinstance(info.get("spec_hash"), str):
            raise InputError(f"{SPEC_FILE} is not a sweep store's (no spec_hash): use another "
                             "--out, or remove that folder", str(p))
        return info

    def check(self, spec_hash: str, source: str) -> bool:
        """True when the folder holds results of this spec, False when it holds none yet;
        InputError (naming ``source``) when it holds another spec's."""
        info = self.spec_info()
        if info is None:
            if self.cells_dir.exists() and any(self._partitions(self.cells_dir)):
                raise InputError(f"{self.root} has cell results but no {SPEC_FILE}; "
                                 "use another --out", source)
            return False
        if info.get("spec_hash") != spec_hash:
            raise SpecChanged(
                f"{self.root} holds results of another spec (hash "
                f"{str(info.get('spec_hash'))[:12]}, from {info.get('source')}); this spec "
                f"has hash {spec_hash[:12]}: use another --out or remove that folder", source)
        return True

    def bind(self, info: dict[str, Any], spec_text: str | None = None,
             suffix: str = ".toml") -> None:
        """Create the folder for a spec (``info`` has ``spec_hash``), or check it is ours."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError("cannot write there: not a folder", f"--out {self.root}")
        if self.check(info["spec_hash"], str(info.get("source"))):
            return
        with self._writing():
            self.root.mkdir(parents=True, exist_ok=True)
            if spec_text is not None:
                atomic_write_text(self.root / f"spec{suffix}", spec_text)
            atomic_write_text(self.root / SPEC_FILE, json.dumps(info, indent=2) + "\n")

    @contextlib.contextmanager
    def _writing(self):
        """OSError (not a folder, read-only, disk full) -> one line naming ``--out``."""
        try:
            yield
        except OSError as err:
            raise InputError(f"cannot write there: {err.strerror or err} (finished cells, "
                             "if any, are kept)", f"--out {self.root}") from None

    # ------------------------------------------------------------------ partitions
    @staticmethod
    def _partitions(folder: Path) -> Iterable[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*.parquet")
                      if not p.name.startswith(".") and p.is_file())

    def done_keys(self, requests: bool = False) -> set[str]:
        """Keys of the cells whose partition is complete and readable (with ``requests``:
        their requests partition too). An unreadable partition (truncated, corrupted) does
        not count: :meth:`set_aside_unreadable` moves it away so the cell is recomputed."""
        done = {p.stem for p in self._partitions(self.cells_dir) if _readable(p)}
        if requests:
            done &= {p.stem for p in self._partitions(self.requests_dir) if _readable(p)}
        return done

    def set_aside_unreadable(self, requests: bool = False) -> list[str]:
        """Rename every unreadable partition to ``KEY.parquet.corrupt`` (kept for a look,
        never read) and return the keys of the cells that must be recomputed."""
        bad = []
        folders = [self.cells_dir] + ([self.requests_dir] if requests else [])
        for folder in folders:
            for p in self._partitions(folder):
                if not _readable(p):
                    os.replace(p, p.with_name(p.name + ".corrupt"))
                    bad.append(p.stem)
        if requests:  # a cell without its requests partition is not done either
            have = {p.stem for p in self._partitions(self.requests_dir)}
            for p in self._partitions(self.cells_dir):
                if p.stem not in have:
                    os.replace(p, p.with_name(p.name + ".corrupt"))
                    bad.append(p.stem)
        return sorted(set(bad))

    def temp_files(self) -> list[Path]:
        """Temporary files left by writers (only ever ``.NAME.PID.RAND.tmp``)."""
        out = []
        for folder in (self.root, self.cells_dir, self.requests_dir, self.traces_dir):
            if folder.is_dir():
                out += sorted(p for p in folder.glob(".*" + _TMP_SUFFIX) if p.is_file())
        return out

    def clean_temp(self) -> int:
        """Remove temporary files whose writer process is gone; returns how many."""
        n = 0
        for p in self.temp_files():
            parts = p.name.rsplit(".", 3)  # ['.NAME', 'PID', 'RAND', 'tmp']
            pid = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue
            p.unlink(missing_ok=True)
            n += 1
        return n

    def write_cell(self, key: str, rows: pd.DataFrame,
                   requests: pd.DataFrame | None = None) -> None:
        """Write one cell: its requests (if any) first, then its rows (the 'done' mark)."""
        with self._writing():
            if requests is not None:
                atomic_write(self.requests_dir / f"{key}.parquet",
                             lambda tmp: requests.to_parquet(tmp, index=False,
                                                             engine="pyarrow"))
            atomic_write(self.cells_dir / f"{key}.parquet",
                         lambda tmp: rows.to_parquet(tmp, index=False, engine="pyarrow"))

    def _read(self, folder: Path, keys: Iterable[str] | None) -> pd.DataFrame:
        files = self._partitions(folder)
        if keys is not None:
            wanted = set(keys)
            files = [p for p in files if p.stem in wanted]
        frames = []
        for p in files:
            try:
                frames.append(pd.read_parquet(p, engine="pyarrow"))
            except Exception as err:  # damaged inside a valid footer: set aside, say so
                os.replace(p, p.with_name(p.name + ".corrupt"))
                raise InputError(f"partition {p.name} is unreadable ({type(err).__name__}); "
                                 "it was set aside: rerun to recompute that cell",
                                 str(self.root)) from None
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def read(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Every finished cell's rows (one per cell and policy), in spec order of the cells
        (``cell_index``) and policy order within a cell."""
        df = self._read(self.cells_dir, keys)
        if df.empty or "cell_index" not in df.columns:
            return df
        return df.sort_values("cell_index", kind="stable", ignore_index=True)

    def read_requests(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Per-request records of the finished cells (stores with keep_requests only)."""
        df = self._read(self.requests_dir, self.done_keys() if keys is None else keys)
        if df.empty or "cell_index" not in df.columns:
            return df
        return df.sort_values("cell_index", kind="stable", ignore_index=True)

    def write_rows_csv(self, df: pd.DataFrame) -> Path:
        with self._writing():
            return atomic_write(self.root / ROWS_CSV, lambda tmp: df.to_csv(tmp, index=False))
