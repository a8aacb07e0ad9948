"""Named records of a run: one :class:`Record` per request, the engines' results, and a
run's :class:`Result`.

The record columns (``RECORD_COLUMNS``, the CSV header of ``requests.csv``) are derived
from the record type, so a column is added in one place. Times in seconds from the run's
start; a stage a request skipped (no link for an edge-local answer) is NaN; a transfer a
clipped trace never finishes ends at +inf.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, get_type_hints

import numpy as np
import pandas as pd

from models.request import Request
from models.units import BYTES_PER_S_PER_MBPS
from sim.scenario import Scenario


class Record(NamedTuple):
    """What happened to one request under one policy."""

    request: int
    arrival_s: float
    context_tokens: int
    deadline_s: float
    option: str
    mode: str
    precision: str
    retention: float
    payload_bytes: int
    edge_start_s: float
    edge_end_s: float
    link_start_s: float
    link_end_s: float
    cloud_start_s: float
    first_token_s: float
    latency_s: float
    hit: bool
    quality: float
    quality_source: str
    estimate_mbps: float
    truth_mbps: float


#: a :class:`Record` of the network engine, with the device (``user``) it came from first
UserRecord = NamedTuple("UserRecord", [("user", int), *Record.__annotations__.items()])

RECORD_COLUMNS: tuple[str, ...] = Record._fields
#: the dtype of each number column: a chunk of records has them whatever its values (an
#: all-NaN chunk stays float), so records made in chunks equal records made at once
RECORD_DTYPES: dict[str, str] = {
    name: {int: "int64", float: "float64", bool: "bool"}[kind]
    for name, kind in get_type_hints(Record).items() if kind is not str}
#: builds a Record from a tuple in field order without the keyword-handling constructor
#: (one record per request: the engines' hot path)
_new_record = tuple.__new__
USER_RECORD_COLUMNS: tuple[str, ...] = UserRecord._fields


def truth_mbps(payload_bytes: float, link_start_s: float, link_end_s: float) -> float:
    """The goodput a transfer achieved (what a throughput estimator tries to predict)."""
    span = link_end_s - link_start_s
    return (payload_bytes / span / BYTES_PER_S_PER_MBPS if span > 0 and math.isfinite(span)
            else math.nan)


def record_row(req: Request, c, estimate_mbps: float, edge_start_s: float, edge_end_s: float,
               link_start_s: float, link_end_s: float, cloud_start_s: float,
               first_token_s: float) -> Record:
    """One request's :class:`Record` from its cost ``c`` (:class:`sim.costs.OpCost`) and
    stage times."""
    op = c.op
    latency = first_token_s - req.arrival_s
    return _new_record(Record, (
        req.index, req.arrival_s, req.context_tokens, req.deadline_s, c.label, op.mode,
        op.precision, op.retention, c.payload_bytes, edge_start_s, edge_end_s, link_start_s,
        link_end_s, cloud_start_s, first_token_s, latency, latency <= req.deadline_s,
        c.quality, c.quality_source, estimate_mbps,
        truth_mbps(c.payload_bytes, link_start_s, link_end_s)))


def records_frame(columns: Mapping[str, Any] | pd.DataFrame, policy: str | None = None,
                  **extra: Any) -> pd.DataFrame:
    """Records (RECORD_COLUMNS: arrays, or one value for every request) as a frame with
    :data:`RECORD_DTYPES`; ``policy`` becomes the first column and ``extra`` (a trace
    name) the last."""
    if isinstance(columns, pd.DataFrame):
        df = columns.astype(RECORD_DTYPES)
    else:
        df = _columns_frame(columns, [*RECORD_COLUMNS])
    if policy is not None:
        df.insert(0, "policy", policy)
    return df.assign(**extra) if extra else df


#: the dtype of a text column ("str": pyarrow-backed where pyarrow is installed)
_STR_DTYPE = pd.Series([""], dtype="str").dtype


def _constant_text(value: str, n: int) -> Any:
    """``n`` copies of ``value`` as a text column of :data:`_STR_DTYPE`: one Arrow array of
    the repeated value where the dtype is Arrow's (what ``pd.DataFrame`` makes of a
    broadcast string, without its per-element take)."""
    if isinstance(_STR_DTYPE, pd.StringDtype) and _STR_DTYPE.storage == "pyarrow":
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.repeat(pa.scalar(value, pa.large_string()), n),
                                          dtype=_STR_DTYPE)
    return pd.array(np.full(n, value, dtype=object), dtype=_STR_DTYPE)


def _columns_frame(columns: Mapping[str, Any], names: list[str]) -> pd.DataFrame:
    """A frame of the columns ``names`` (arrays, or one value for every row), each built
    with its :data:`RECORD_DTYPES` dtype (one text value: :data:`_STR_DTYPE`) before the
    frame is: what ``pd.DataFrame(columns).astype(RECORD_DTYPES)`` gives, without
    converting a column twice or broadcasting a value element by element. The frame may
    share memory with the arrays given (the engines make them for it)."""
    n = next((len(v) for v in columns.values() if np.ndim(v)), 0)
    out: dict[str, Any] = {}
    for name in names:
        v = columns[name]
        dtype = RECORD_DTYPES.get(name)
        if dtype is None:  # text: one value built at once; an array as pandas takes it
            out[name] = _constant_text(v, n) if isinstance(v, str) else v
        elif np.ndim(v):
            v = np.asarray(v)
            if dtype == "int64" and v.dtype.kind == "f" and not np.isfinite(v).all():
                raise ValueError(f"records column {name}: a non-finite value in an integer "
                                 "column")
            out[name] = v.astype(dtype, copy=False)
        else:
            out[name] = np.full(n, v, dtype=dtype)
    return pd.DataFrame(out, copy=False)


def rows_frame(rows: list[Record]) -> pd.DataFrame:
    """:class:`Record` rows as a frame (:func:`records_frame`)."""
    return records_frame(pd.DataFrame.from_records(rows, columns=RECORD_COLUMNS))


class InOrder:
    """Records that come in completion order, handed on in request order: ``emit`` gets a
    list of consecutive records whenever ``size`` are ready (and the rest at
    :meth:`close`). Holds only the records that finished before an earlier one."""

    __slots__ = ("emit", "size", "next", "waiting", "rows")

    def __init__(self, emit: Callable[[list[Record]], None], size: int):
        self.emit, self.size = emit, size
        self.next = 0
        self.waiting: dict[int, Record] = {}
        self.rows: list[Record] = []

    def add(self, record: Record) -> None:
        i = record[0]
        if i != self.next:
            self.waiting[i] = record
            return
        rows, waiting = self.rows, self.waiting
        rows.append(record)
        i += 1
        while waiting and i in waiting:
            rows.append(waiting.pop(i))
            i += 1
        self.next = i
        if len(rows) >= self.size:
            self.emit(rows)
            self.rows = []

    def close(self) -> None:
        if self.waiting:
            raise RuntimeError(f"records of requests {sorted(self.waiting)[:3]} came without "
                               f"request {self.next}'s")
        if self.rows:
            self.emit(self.rows)
            self.rows = []


class RecordFrames:
    """Records kept in memory: the parts of a run (one per trace and policy) in the order
    given to :meth:`start`, each made of chunks (:meth:`write`)."""

    def start(self, parts: list[Hashable]) -> None:
        self._chunks: dict[Hashable, list[pd.DataFrame]] = {p: [] for p in parts}

    def write(self, part: Hashable, frame: pd.DataFrame) -> None:
        self._chunks[part].append(frame)

    def end(self, part: Hashable) -> None:
        pass

    def frame(self) -> pd.DataFrame:
        """Every record, the parts in order."""
        frames = [f for chunks in self._chunks.values() for f in chunks]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class RecordsCsv:
    """Records written to a CSV file chunk by chunk as the run makes them (what
    ``requests.csv`` holds: ``to_csv`` of all of them at once, byte for byte), the parts
    of the run in the order given to :meth:`start`; a part made before its turn (the
    records of a later trace) waits in a spool file beside ``path``. Nothing is created
    before the first chunk; :meth:`discard` removes what was."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._header = ""
        self._made: list[Path] = []  # folders created for the file
        self._spools: dict[Hashable, tuple[Path, IO[str]]] = {}
        self.failed = False  # a write failed (the file's place is unusable, or full)

    def start(self, parts: list[Hashable]) -> None:
        self._order, self._next, self._done = list(parts), 0, set()

    def _main(self) -> IO[str]:
        if self._file is None:
            missing = [p for p in self.path.parents if not p.exists()]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._made = missing
            self._file = open(self.path, "w", newline="")  # noqa: SIM115 - kept open
            self._file.write(self._header)
        return self._file

    def write(self, part: Hashable, frame: pd.DataFrame) -> None:
        with self._failing():
            self._write(part, frame)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        try:
            yield
        except OSError:
            self.failed = True
            raise

    def _write(self, part: Hashable, frame: pd.DataFrame) -> None:
        if not self._header:
            self._header = frame.iloc[:0].to_csv(index=False)
        if part == self._order[self._next]:
            out = self._main()
        else:
            if part not in self._spools:
                spool = self.path.with_name(f"{self.path.name}.part{len(self._spools)}")
                self._main()  # the folder
                self._spools[part] = (spool, open(spool, "w+", newline=""))  # noqa: SIM115
            out = self._spools[part][1]
        frame.to_csv(out, header=False, index=False)

    def end(self, part: Hashable) -> None:
        """``part`` is complete: append it, and every complete part after it, in order."""
        with self._failing():
            self._end(part)

    def _end(self, part: Hashable) -> None:
        self._done.add(part)
        while self._next < len(self._order) and self._order[self._next] in self._done:
            self._next += 1
            nxt = self._order[self._next] if self._next < len(self._order) else None
            if nxt in self._spools and nxt in self._done:
                spool, f = self._spools.pop(nxt)
                f.seek(0)
                shutil.copyfileobj(f, self._main())
                f.close()
                spool.unlink()

    def finish(self) -> None:
        """Close the file (every part must have been written and ended)."""
        if self._next < len(self._order):
            raise RuntimeError(f"records of {self._order[self._next]} never ended")
        if self._file is not None:
            with self._failing():
                self._file.close()

    def discard(self) -> None:
        """Remove the file, its spools, and the folders made for it."""
        for path, f in [(self.path, self._file), *self._spools.values()]:
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        for folder in self._made:
            with contextlib.suppress(OSError):
                folder.rmdir()


def user_record(user: int, record: Record) -> UserRecord:
    """``record`` of device ``user`` (network engine)."""
    return _new_record(UserRecord, (user, *record))


@dataclass
class RunResult:
    """Per-request :class:`Record` rows of one policy's run on one link."""

    policy: str
    rows: list[Record] = field(default_factory=list)
    link_bytes: float = 0.0
    compute_sources: set[str] = field(default_factory=set)


@dataclass
class NetworkRunResult:
    """Per-request :class:`UserRecord` rows and per-link and cloud totals (network engine)."""

    policy: str
    rows: list[UserRecord] = field(default_factory=list)
    #: per link: (bytes carried, bytes it could have carried over [0, end_s]); None: unlimited
    link_bytes: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    end_s: float = 0.0
    cloud_busy_s: float = 0.0
    cloud_batches: list[int] = field(default_factory=list)
    network_events: int = 0
    compute_sources: set[str] = field(default_factory=set)


@dataclass
class Result:
    """A run's outputs: per-request records, per-policy summary, and notes for the reader."""

    scenario: Scenario
    requests: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: paired tests of every policy against the reference (empty without one)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: network engine only: per (policy, device) summaries and per (policy, link) loads
    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: pd.DataFrame = field(default_factory=pd.DataFrame)
