"""Check the link models against packet-level TCP: ns-3 transfers over the same traces.

Usage::

    python -m experiments.packetcheck [--quick] [--out DIR] [--reference FILE]
        [--workers N] [--quiet]

Without ``--reference`` the tool runs the grid in ns-3 (:mod:`experiments.packetsim`; needs
``pip install -e .[packet]``) and writes one row per run to ``DIR/reference.csv``; a rerun
with the same ``--out`` resumes there (rows already in the file are not rerun). With
``--reference FILE`` it runs nothing and compares the ns-3 results in FILE (for instance
the committed full grid, ``experiments/packetcheck/reference.csv``).

For every run it computes the simulator's predictions of the same transfer: ``fluid``
(``trace.finish_time(start, size / (1448/1514)) - start + RTT/2``, no handshake) and
``tcp`` (:class:`models.transport.TcpFlow`, replaying the same warm-up on a persistent
connection; left out, with a note, while that module cannot be imported), and their
relative errors against ns-3, ``(predicted - ns3) / ns3``. It writes ``DIR/errors.csv``
(per run), ``DIR/cells.csv`` (per grid cell: trace, start kind, size, RTT, connection,
buffer, congestion control; over its start times) and ``DIR/summary.csv`` (median and p90
of the absolute error, median signed error, over the whole grid, outage crossings, new
connections of <= 22 KB and the rest, with the targets met or not), and prints the
summary and a table per size and connection.

The grid (``--quick``: a subset on ``traces/lte.csv``, to ``out/packetcheck-quick``):
payloads 750 B, 22 KB, 1 MB, 5.5 MB, 10.4 MB; RTT 20, 50, 100 ms; persistent and new
connections; deep (1000 packets) and BDP buffers; 3 calm and 3 outage start times per
trace (:func:`start_times`); Cubic and NewReno; traces ``traces/lte.csv`` and the mahimahi
uplinks ``TMobile-LTE-short.up`` and ``ATT-LTE-driving.up``. ``docs/packetcheck.md``
describes the ns-3 scenario, the rules and the results.

Exit codes: 0 ok, 2 bad input (one ``error: ...`` line), 130 interrupted.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from models.cli import Parser, add_common, command, progress, run_main
from models.errors import InputError
from models.files import check_input_file
from models.units import OUTAGE_MBPS, mbps_to_bytes_per_s
from sim.scenario import REPO_ROOT, resolve_path

MSS_BYTES = 1448
WIRE_BYTES = 1514  # a full segment on the bottleneck (docs/packetcheck.md)
EFFICIENCY = MSS_BYTES / WIRE_BYTES
DEEP_PACKETS = 1000
MIN_BDP_PACKETS = 2
#: the start-time rule (docs/packetcheck.md, "Start times")
HEAD_S = 12.0  # no start before this (room for a warm-up)
TAIL_S = 30.0  # nor in the last 30 s of the trace's period
OUTAGE_MIN_S = 0.5  # an outage: a stretch below OUTAGE_MBPS at least this long
OUTAGE_LEAD_S = 0.3  # an outage start is this long before the stretch begins
CALM_WINDOW_S = 10.0  # a calm start: no gap in the next 10 s ...
CALM_GAP_S = 0.1  # ... where a gap is a stretch below OUTAGE_MBPS this long or longer
QUIET_BEFORE_S = 1.0  # an outage start is not itself inside a gap's aftermath
STARTS_PER_KIND = 3
#: the warm-up of a persistent connection (docs/packetcheck.md, "Connections")
WARMUP_MAX_BYTES = 2_000_000
WARMUP_WINDOW_S = 10.0
WARMUP_GAP_S = 0.5
WARMUP_SLACK_S = 0.5
WARMUP_SLACK_RTTS = 10
WARMUP_TRIES = 6  # ns-3 runs of the warm-up alone to place it (calibrate_warmup)
#: a run is given until start + max(STOP_MIN_S, STOP_FACTOR x fluid) to finish
STOP_MIN_S = 60.0
STOP_FACTOR = 20.0
#: a finished run is stuck too when it took STUCK_EXCESS_S (or STUCK_FACTOR x fluid, if
#: more) longer than the fluid link while it had STUCK_RTOS or more retransmission timeouts
STUCK_EXCESS_S = 10.0
STUCK_FACTOR = 2.0
STUCK_RTOS = 3

TRACES = ("traces/lte.csv", "../shared/traces/mahimahi/TMobile-LTE-short.up",
          "../shared/traces/mahimahi/ATT-LTE-driving.up")
SIZES = (750, 22_000, 1_000_000, 5_500_000, 10_400_000)
RTTS_MS = (20, 50, 100)
CONNECTIONS = ("persistent", "new")
BUFFERS = ("deep", "bdp")
CCS = ("cubic", "newreno")
QUICK = {"traces": ("traces/lte.csv",), "sizes": (750, 22_000, 1_000_000), "rtts_ms": (50,),
         "connections": CONNECTIONS, "buffers": BUFFERS, "ccs": ("cubic",), "starts": 1}
DEFAULT_OUT = REPO_ROOT / "out" / "packetcheck"
QUICK_OUT = REPO_ROOT / "out" / "packetcheck-quick"
COMMITTED = REPO_ROOT / "experiments" / "packetcheck"

KEY = ["trace", "start_s", "size_bytes", "rtt_ms", "connection", "buffer", "cc"]
COLUMNS = ["trace", "start_s", "start_kind", "size_bytes", "rtt_ms", "connection", "buffer",
           "buffer_packets", "cc", "warmup_start_s", "warmup_bytes", "duration_s", "rtos",
           "retransmits", "stuck", "finished",
           # extras: the start's outage, the connection's timeline, the bottleneck
           "outage_at_s", "outage_s", "connect_s", "connected_s", "warmup_done_s", "done_s",
           "syn_sent", "drops", "warmup_rtos", "warmup_retransmits", "warmup_drops", "max_queue",
           "cwnd_at_write_bytes", "ssthresh_at_write_bytes",
           "warmup_tries", "stop_s", "wall_s"]
CELL = ["trace", "start_kind", "size_bytes", "rtt_ms", "connection", "buffer", "cc"]
#: (category, median target, p90 target) of the absolute relative error
TARGETS = {"all": (0.03, 0.15), "outage crossings": (0.10, 0.30)}
CATEGORIES = ("all", "outage crossings", "new <= 22 KB", "rest")


# ------------------------------------------------------------------------ traces
@cache
def load_trace(path: str):
    """The looping :class:`~sim.traces.Trace` of a grid trace path (relative to the repo)."""
    from sim.traces import read_trace

    p = resolve_path(path)
    if not p.exists():
        raise InputError("trace file not found", path)
    return read_trace(p)


def low_stretches(trace, threshold_bytes_per_s: float | None = None) -> list[tuple[float, float]]:
    """(begin_s, length_s) of each maximal stretch of one period where the capacity is
    below ``threshold`` (default :data:`~models.units.OUTAGE_MBPS`, 0.1 Mbit/s)."""
    thr = mbps_to_bytes_per_s(OUTAGE_MBPS) if threshold_bytes_per_s is None \
        else threshold_bytes_per_s
    low = trace.capacity_bytes_per_s < thr
    if not low.any():
        return []
    bounds = np.append(trace.times_s, trace.duration_s)
    edges = np.diff(np.concatenate(([0], low.astype(np.int8), [0])))
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(float(bounds[i]), float(bounds[j] - bounds[i]))
            for i, j in zip(first, last, strict=True)]


@dataclass(frozen=True)
class Start:
    """A start time picked by :func:`start_times`."""

    start_s: float
    kind: str  # "calm" | "outage"
    outage_at_s: float = math.nan  # the stretch an outage start precedes
    outage_s: float = 0.0  # its length


def _spread(items: Sequence, k: int) -> list:
    """``k`` items spread evenly over ``items`` (first, ..., last), in order."""
    if len(items) <= k:
        return list(items)
    return [items[int(i)] for i in np.round(np.linspace(0, len(items) - 1, k))]


def start_times(trace, per_kind: int = STARTS_PER_KIND) -> list[Start]:
    """The deterministic start times of a trace (the rule in docs/packetcheck.md).

    Gaps are the stretches below OUTAGE_MBPS (:func:`low_stretches`); outages are gaps of
    >= 0.5 s. Starts lie in ``[12 s, period - 30 s]``.

    - calm: whole seconds ``t`` with no gap of >= 0.1 s overlapping ``[t, t + 10 s]``;
      ``per_kind`` of them spread evenly over the candidates (first, middle, last).
    - outage: 0.3 s before an outage, where that instant is neither inside a gap nor
      within 1 s after the end of another outage; ``per_kind`` spread evenly over those
      outages. A trace with fewer such outages is filled up with its longest other gaps
      (>= 0.1 s) that satisfy the same conditions (the length is recorded as
      ``outage_s``).
    """
    period = trace.duration_s
    gaps = [g for g in low_stretches(trace) if g[1] >= CALM_GAP_S - 1e-9]
    lo, hi = HEAD_S, period - TAIL_S
    begins = np.array([g[0] for g in gaps])
    ends = np.array([g[0] + g[1] for g in gaps])
    calm = []
    for t in range(math.ceil(lo), math.floor(hi) + 1):
        if not gaps or not np.any((ends > t) & (begins < t + CALM_WINDOW_S)):
            calm.append(Start(float(t), "calm"))
    eligible = []
    long_ends = [b + n for b, n in gaps if n >= OUTAGE_MIN_S - 1e-9]
    for i, (b, length) in enumerate(gaps):
        s = round(b - OUTAGE_LEAD_S, 6)
        if not (lo <= s <= hi) or (i > 0 and ends[i - 1] > s):  # not inside a gap
            continue
        if any(s - QUIET_BEFORE_S < e <= s for e in long_ends):  # nor just after an outage
            continue
        eligible.append(Start(s, "outage", b, round(length, 6)))
    outages = [e for e in eligible if e.outage_s >= OUTAGE_MIN_S - 1e-9]
    if len(outages) >= per_kind:
        chosen = _spread(outages, per_kind)
    else:
        rest = sorted((e for e in eligible if e not in outages), key=lambda e: -e.outage_s)
        chosen = sorted(outages + rest[:per_kind - len(outages)], key=lambda e: e.start_s)
    return _spread(calm, per_kind) + chosen


def bdp_packets(trace, start_s: float, rtt_s: float) -> int:
    """The "bdp" buffer: the mean capacity over the second before ``start_s`` times the RTT,
    in 1514-byte packets, rounded, at least 2."""
    rate = trace.bytes_between(max(0.0, start_s - 1.0), start_s) / min(1.0, start_s)
    return max(MIN_BDP_PACKETS, round(rate * rtt_s / WIRE_BYTES))


def warmup(trace, start_s: float, rtt_s: float) -> tuple[float, int]:
    """(warmup_start_s, warmup_bytes) of a persistent connection measured at ``start_s``.

    Bytes: half the payload the fluid link carries in the 10 s that end 0.5 s before the
    start, at most 2 MB, rounded down to a whole kB. Start: when the fluid link would
    have to begin to carry them by ``start - 0.5 s``, less 0.5 s + 10 RTT for the
    handshake and slow start (the connection is opened at the warm-up's start). This is
    the first guess: :func:`calibrate_warmup` moves it earlier until ns-3 is done by then.
    """
    end = start_s - WARMUP_GAP_S
    window = trace.bytes_between(end - WARMUP_WINDOW_S, end) * EFFICIENCY
    size = int(min(WARMUP_MAX_BYTES, 0.5 * window) // 1000 * 1000)
    size = max(size, 1000)
    level = trace.cumulative_bytes(end) - size / EFFICIENCY
    fluid_start = float(trace.time_at_level_array(np.array([max(level, 0.0)]))[0])
    begin = fluid_start - WARMUP_SLACK_S - WARMUP_SLACK_RTTS * rtt_s
    return round(max(0.0, begin), 6), size


def fluid_duration(trace, start_s: float, size_bytes: float, rtt_s: float) -> float:
    """The fluid prediction: the payload at efficiency 1448/1514, plus half the RTT."""
    return trace.finish_time(start_s, size_bytes / EFFICIENCY) - start_s + rtt_s / 2


# ------------------------------------------------------------------------ the grid
def grid(quick: bool = False) -> list[dict]:
    """The run specifications (the settings columns of reference.csv), in run order."""
    g = QUICK if quick else {"traces": TRACES, "sizes": SIZES, "rtts_ms": RTTS_MS,
                             "connections": CONNECTIONS, "buffers": BUFFERS, "ccs": CCS,
                             "starts": STARTS_PER_KIND}
    specs = []
    for path in g["traces"]:
        trace = load_trace(path)
        for st in start_times(trace, g["starts"]):
            for rtt_ms in g["rtts_ms"]:
                rtt = rtt_ms / 1e3
                for conn in g["connections"]:
                    ws, wb = warmup(trace, st.start_s, rtt) if conn == "persistent" \
                        else (math.nan, 0)
                    for buf in g["buffers"]:
                        n = DEEP_PACKETS if buf == "deep" else bdp_packets(trace, st.start_s, rtt)
                        for size in g["sizes"]:
                            fl = fluid_duration(trace, st.start_s, size, rtt)
                            for cc in g["ccs"]:
                                specs.append({
                                    "trace": path, "start_s": st.start_s,
                                    "start_kind": st.kind, "size_bytes": size,
                                    "rtt_ms": rtt_ms, "connection": conn, "buffer": buf,
                                    "buffer_packets": n, "cc": cc, "warmup_start_s": ws,
                                    "warmup_bytes": wb, "outage_at_s": st.outage_at_s,
                                    "outage_s": st.outage_s,
                                    "connect_s": ws if conn == "persistent" else st.start_s,
                                    "warmup_tries": 0,
                                    "stop_s": round(st.start_s + max(STOP_MIN_S,
                                                                     STOP_FACTOR * fl), 3)})
    return specs


def _key(row) -> tuple:
    return (str(row["trace"]), round(float(row["start_s"]), 6), int(row["size_bytes"]),
            int(row["rtt_ms"]), str(row["connection"]), str(row["buffer"]), str(row["cc"]))


def is_stuck(finished: bool, duration_s: float, fluid_s: float, rtos: int) -> bool:
    """A run left out of the comparison: unfinished by its stop time, or finished more than
    max(10 s, 2 x fluid) after the fluid link would have, with 3 or more RTOs (ns-3 crawling
    on one segment per timeout while the link could carry more)."""
    if not finished:
        return True
    return bool(duration_s - fluid_s > max(STUCK_EXCESS_S, STUCK_FACTOR * fluid_s)
                and rtos >= STUCK_RTOS)


def run_one(spec: dict) -> dict:
    """Run one specification in ns-3 (in this process) and return its reference.csv row."""
    from experiments.packetsim import Run, simulate

    t0 = time.perf_counter()
    trace = load_trace(spec["trace"])
    persistent = spec["connection"] == "persistent"
    r = simulate(trace, Run(
        cc=spec["cc"], rtt_s=spec["rtt_ms"] / 1e3, buffer_packets=int(spec["buffer_packets"]),
        connect_s=spec["connect_s"], start_s=spec["start_s"], size_bytes=int(spec["size_bytes"]),
        warmup_start_s=spec["warmup_start_s"] if persistent else math.nan,
        warmup_bytes=int(spec["warmup_bytes"]) if persistent else 0, stop_s=spec["stop_s"]))
    row = dict(spec)
    duration = r["done_s"] - spec["start_s"] if r["finished"] else math.nan
    fl = fluid_duration(trace, spec["start_s"], spec["size_bytes"], spec["rtt_ms"] / 1e3)
    row.update({k: r[k] for k in ("connected_s", "warmup_done_s", "done_s", "rtos",
                                   "retransmits", "syn_sent", "drops", "warmup_rtos",
                                   "warmup_retransmits", "warmup_drops", "max_queue",
                                   "cwnd_at_write_bytes", "ssthresh_at_write_bytes")})
    row.update(duration_s=duration, finished=r["finished"],
               stuck=is_stuck(r["finished"], duration, fl, r["rtos"]),
               wall_s=round(time.perf_counter() - t0, 4))
    return row


def calibrate_warmup(spec: dict) -> tuple[float, int]:
    """(warmup_start_s, tries): move a persistent connection's warm-up earlier until ns-3
    carries it by ``start - 0.5 s``.

    The first try is :func:`warmup`'s fluid-based start; ns-3 runs the warm-up alone (same
    trace, RTT, buffer, congestion control); when its last byte arrives later than
    ``start - 0.5 s``, the start moves earlier by the lateness plus 0.5 s and ns-3 tries
    again, at most :data:`WARMUP_TRIES` times (never before 0 s). The measured transfer
    of every size then uses the start found.
    """
    from experiments.packetsim import Run, simulate

    trace = load_trace(spec["trace"])
    target = spec["start_s"] - WARMUP_GAP_S
    ws = float(spec["warmup_start_s"])
    for tries in range(1, WARMUP_TRIES + 1):
        r = simulate(trace, Run(
            cc=spec["cc"], rtt_s=spec["rtt_ms"] / 1e3, buffer_packets=int(spec["buffer_packets"]),
            connect_s=ws, start_s=spec["start_s"], size_bytes=0, warmup_start_s=ws,
            warmup_bytes=int(spec["warmup_bytes"]), stop_s=spec["start_s"] + STOP_MIN_S))
        late = (r["warmup_done_s"] if r["finished"] else math.inf) - target
        if late <= 0 or ws <= 0 or tries == WARMUP_TRIES:
            return ws, tries
        if not math.isfinite(late):
            late = spec["start_s"] - ws  # not done within a minute: twice the lead
        ws = round(max(0.0, ws - late - WARMUP_SLACK_S), 6)
    return ws, WARMUP_TRIES


def run_group(specs: list[dict]) -> list[dict]:
    """Run specifications that differ only in size: a persistent connection's warm-up is
    placed once (:func:`calibrate_warmup`), then each size runs."""
    if specs[0]["connection"] == "persistent":
        ws, tries = calibrate_warmup(specs[0])
        specs = [{**s, "warmup_start_s": ws, "connect_s": ws, "warmup_tries": tries}
                 for s in specs]
    return [run_one(s) for s in specs]


def _init_worker() -> None:
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from experiments.packetsim import _cpp

    _cpp()


def run_grid(specs: list[dict], path: Path, *, workers: int = 2, quiet: bool = False
             ) -> pd.DataFrame:
    """Run the specifications missing from ``path`` (a reference.csv, appended to after
    every group of runs) and return the whole file as a table."""
    done = set()
    if path.exists() and path.stat().st_size > 0:
        done = {_key(r) for r in read_reference(path).to_dict("records")}
    groups: dict[tuple, list[dict]] = {}
    for s in specs:
        if _key(s) not in done:
            k = _key(s)
            groups.setdefault(k[:2] + k[3:], []).append(s)
    if groups:
        append_rows(path, COLUMNS, _execute(list(groups.values()), workers),
                    desc="ns-3 runs", quiet=quiet, total=len(groups), unit="group")
    return read_reference(path)


def append_rows(path: Path, columns: list[str], batches: Iterable[list[dict]], *, desc: str,
                quiet: bool, total: int, unit: str) -> None:
    """Append each batch of ns-3 rows to the CSV ``path`` as it comes (header first in a
    new file; flushed after every batch, so an interrupted run resumes from there).
    Fails with a one-line reason when ns-3 is not installed."""
    from experiments.packetsim import available

    why = available()
    if why is not None:
        raise InputError(why)
    path.parent.mkdir(parents=True, exist_ok=True)
    new_file = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new_file:
            w.writeheader()
        for rows in progress(batches, desc=desc, quiet=quiet, total=total, unit=unit):
            for row in rows:
                w.writerow({k: _fmt(row.get(k)) for k in columns})
            f.flush()


def _execute(todo: list[list[dict]], workers: int) -> Iterable[list[dict]]:
    if workers <= 1:
        for group in todo:
            yield run_group(group)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawned workers (a fork of a process holding cppyy is unsafe), each one loading ns-3
    # once (no max_tasks_per_child: Python 3.11's pool can hang when it replaces a worker)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as ex:
        yield from ex.map(run_group, todo)


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(round(v, 9))
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    return v


def read_reference(path: str | Path) -> pd.DataFrame:
    """A reference.csv as a table (checked: the columns, one row per run key)."""
    p = check_input_file(Path(path), "packet reference")
    try:
        df = pd.read_csv(p)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"not a packet reference CSV ({type(err).__name__})", str(p)) from None
    missing = [c for c in COLUMNS[:16] if c not in df.columns]
    if missing:
        raise InputError(f"not a packet reference CSV: missing {', '.join(missing)}", str(p))
    for c in ("stuck", "finished"):
        df[c] = df[c].astype(str).str.lower().map({"true": True, "false": False})
        if df[c].isna().any():
            raise InputError(f"column {c} must be True or False", str(p))
    if df.duplicated(KEY).any():
        raise InputError("duplicate runs (same trace, start, size, RTT, connection, buffer, "
                         "cc)", str(p))
    return df


# ------------------------------------------------------------------------ predictions
def predict_fluid(reference: pd.DataFrame) -> np.ndarray:
    """The fluid link's durations for the rows of a reference table."""
    return np.array([fluid_duration(load_trace(r.trace), r.start_s, r.size_bytes,
                                    r.rtt_ms / 1e3) for r in reference.itertuples()])


def tcp_model_unavailable() -> str | None:
    """Why :mod:`models.transport` cannot predict (None when it can)."""
    try:
        from models.transport import TcpConfig, TcpFlow  # noqa: F401
    except Exception as err:  # the model is being written: any import failure
        return f"models.transport is not importable ({type(err).__name__}: {err})"
    return None


def predict_tcp_model(reference: pd.DataFrame) -> np.ndarray:
    """The TCP model's durations (models.transport, the API in docs/packetcheck.md):
    one :class:`TcpFlow` per run, with ``stack="ns3"`` where :class:`TcpConfig` has that
    setting; a persistent one first carries the same warm-up."""
    import dataclasses

    from models.transport import TcpConfig, TcpFlow

    # the model's ns-3 flavour where it has one (TcpConfig.stack: "linux" | "ns3")
    extra = {"stack": "ns3"} if "stack" in {f.name for f in dataclasses.fields(TcpConfig)} \
        else {}
    out = []
    for r in reference.itertuples():
        cfg = TcpConfig(connection=r.connection, cc=r.cc, buffer_packets=int(r.buffer_packets),
                        mss_bytes=MSS_BYTES, initial_window_packets=10, min_rto_s=0.2, **extra)
        flow = TcpFlow(load_trace(r.trace), cfg, rtt_s=r.rtt_ms / 1e3)
        if r.connection == "persistent" and r.warmup_bytes > 0:
            flow.send(float(r.warmup_start_s), int(r.warmup_bytes))
        out.append(flow.send(float(r.start_s), int(r.size_bytes)) - float(r.start_s))
    return np.array(out, dtype=float)


#: the models compared with ns-3: name -> predictor of a reference table's durations
PREDICTORS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "fluid": predict_fluid, "tcp": predict_tcp_model}


# ------------------------------------------------------------------------ errors
def crosses_outage(reference: pd.DataFrame) -> np.ndarray:
    """Whether each run's transfer (start to ns-3's finish) reaches an outage: the one its
    outage start precedes, or any stretch below OUTAGE_MBPS of >= 0.5 s (the trace loops)."""
    out = np.zeros(len(reference), dtype=bool)
    for i, r in enumerate(reference.itertuples()):
        end = r.start_s + (r.duration_s if np.isfinite(r.duration_s) else math.inf)
        if r.start_kind == "outage" and end > r.outage_at_s:
            out[i] = True
            continue
        trace = load_trace(r.trace)
        for b, length in _outages(r.trace):
            k = math.floor(r.start_s / trace.duration_s)
            for kk in (k, k + 1):
                lo = b + kk * trace.duration_s
                if lo < end and lo + length > r.start_s:
                    out[i] = True
    return out


@cache
def _outages(path: str) -> tuple[tuple[float, float], ...]:
    return tuple(g for g in low_stretches(load_trace(path)) if g[1] >= OUTAGE_MIN_S - 1e-9)


def errors(reference: pd.DataFrame, predict: Callable[[pd.DataFrame], np.ndarray]
           | np.ndarray | dict[str, Callable | np.ndarray] | None = None) -> pd.DataFrame:
    """Per-run relative errors of one or several models against ns-3.

    ``predict``: a predictor (a function of the reference table returning one duration
    per row, like :func:`predict_fluid`), an array of durations, or a dict of them by
    model name (default: fluid, and the TCP model when it imports and runs; why it did not
    is in ``result.attrs["notes"]``). Only finished runs that
    are not stuck are compared. Returns those rows with, per model ``m``: ``m_s`` (the
    prediction), ``m_err`` (signed, ``(m - ns3) / ns3``) and ``m_abs``; plus the
    categories: ``crossing`` (:func:`crosses_outage`) and ``small_new`` (a new connection
    of <= 22 KB).
    """
    ok = reference[reference["finished"] & ~reference["stuck"]].reset_index(drop=True)
    notes = []
    defaults = predict is None
    if defaults:
        predict = {"fluid": predict_fluid}
        why = tcp_model_unavailable()
        if why is None:
            predict["tcp"] = predict_tcp_model
        else:
            notes.append(f"tcp model left out: {why}")
    elif not isinstance(predict, dict):
        predict = {"model": predict}
    out = ok.copy()
    for name, p in predict.items():
        try:
            pred = np.asarray(p(ok) if callable(p) else p, dtype=float)
        except Exception as err:  # the model under construction may fail: keep the rest
            if not defaults or name == "fluid":
                raise
            notes.append(f"{name} model left out: it failed ({type(err).__name__}: {err})")
            continue
        if pred.shape != (len(ok),):
            raise InputError(f"{name}: {pred.shape[0] if pred.ndim else 0} predictions for "
                             f"{len(ok)} runs")
        out[f"{name}_s"] = pred
        out[f"{name}_err"] = (pred - ok["duration_s"]) / ok["duration_s"]
        out[f"{name}_abs"] = out[f"{name}_err"].abs()
    out["crossing"] = crosses_outage(ok)
    out["small_new"] = (ok["connection"] == "new") & (ok["size_bytes"] <= 22_000)
    out.attrs["notes"] = notes
    return out


def models_in(err: pd.DataFrame) -> list[str]:
    return [c[:-4] for c in err.columns if c.endswith("_err")]


def _category(err: pd.DataFrame, name: str) -> pd.Series:
    return {"all": pd.Series(True, index=err.index), "outage crossings": err["crossing"],
            "new <= 22 KB": err["small_new"],
            "rest": ~err["crossing"] & ~err["small_new"]}[name]


def summary(err: pd.DataFrame) -> pd.DataFrame:
    """Median / p90 of |error| and the median signed error per category and model, with
    the targets (met / NOT met) where there is one: over every run (``buffer`` "all"),
    then over each buffer kind (deep, bdp) apart."""
    rows = []
    groups = [("all", err)] + [(b, err[err["buffer"] == b])
                               for b in ("deep", "bdp") if (err["buffer"] == b).any()]
    for buffer, part in groups:
        for m in models_in(part):
            for cat in CATEGORIES:
                sub = part.loc[_category(part, cat), f"{m}_err"].dropna()
                a = sub.abs()
                med, p90 = ((float(a.median()), float(a.quantile(0.9))) if len(a)
                            else (math.nan,) * 2)
                target = TARGETS.get(cat)
                met = "" if target is None or not len(a) else (
                    "met" if med <= target[0] and p90 <= target[1] else "NOT met")
                rows.append({"buffer": buffer, "model": m, "category": cat, "runs": len(a),
                             "median_abs": med, "p90_abs": p90,
                             "median_signed": float(sub.median()) if len(sub) else math.nan,
                             "target": "" if target is None else
                             f"median <= {target[0]:.0%}, p90 <= {target[1]:.0%}",
                             "result": met})
    return pd.DataFrame(rows)


def cells(err: pd.DataFrame) -> pd.DataFrame:
    """Per grid cell (trace, start kind, size, RTT, connection, buffer, cc; over its start
    times): the runs, ns-3's median duration, and per model the median signed and absolute
    errors and the largest absolute error."""
    agg = {"runs": ("duration_s", "size"), "ns3_median_s": ("duration_s", "median")}
    for m in models_in(err):
        agg[f"{m}_median_err"] = (f"{m}_err", "median")
        agg[f"{m}_median_abs"] = (f"{m}_abs", "median")
        agg[f"{m}_max_abs"] = (f"{m}_abs", "max")
    return err.groupby(CELL, sort=False).agg(**agg).reset_index()


def by_size(err: pd.DataFrame) -> pd.DataFrame:
    """Pooled per (size, connection, start kind): median and p90 of |error| per model."""
    agg = {"runs": ("duration_s", "size")}
    for m in models_in(err):
        agg[f"{m}_med"] = (f"{m}_abs", "median")
        agg[f"{m}_p90"] = (f"{m}_abs", lambda s: s.quantile(0.9))
    return err.groupby(["size_bytes", "connection", "start_kind"]).agg(**agg).reset_index()


def markdown_tables(err: pd.DataFrame) -> str:
    """The tables of docs/packetcheck.md, as Markdown: the summary (per buffer kind), then
    median / p90 / median signed error per model, grouped by size, connection and start
    kind; by trace and buffer; by connection and congestion control; by RTT and buffer."""
    pct = lambda x: f"{x * 100:.1f}%"  # noqa: E731
    models = models_in(err)
    out = ["Summary (`summary.csv`):", "",
           "| buffer | model | category | runs | median abs | p90 abs | median signed | "
           "target | result |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary(err).itertuples():
        out.append(f"| {r.buffer} | {r.model} | {r.category} | {r.runs} | "
                   f"{pct(r.median_abs)} | {pct(r.p90_abs)} | {pct(r.median_signed)} | "
                   f"{r.target} | {r.result} |")
    groups = [("size, connection and start kind", ["size_bytes", "connection", "start_kind"]),
              ("trace and buffer", ["trace", "buffer"]),
              ("connection and congestion control", ["connection", "cc"]),
              ("RTT and buffer", ["rtt_ms", "buffer"])]
    for title, keys in groups:
        cols = [f"{m} {k}" for m in models for k in ("med", "p90", "signed")]
        out += ["", f"Per {title}:", "", "| " + " | ".join([*keys, "runs", *cols]) + " |",
                "|" + "---|" * (len(keys) + 1 + len(cols))]
        for key, g in err.groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            cells = [Path(str(k)).name if keys[i] == "trace" else str(k)
                     for i, k in enumerate(key)]
            for m in models:
                a = g[f"{m}_abs"]
                cells += [pct(a.median()), pct(a.quantile(0.9)), pct(g[f"{m}_err"].median())]
            out.append("| " + " | ".join([*cells[:len(keys)], str(len(g)),
                                           *cells[len(keys):]]) + " |")
    return "\n".join(out)


# ------------------------------------------------------------------------ CLI
@command
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    ap = Parser(prog="python -m experiments.packetcheck", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a small grid (lte.csv, 750 B to 1 MB, RTT 50 ms, Cubic, one calm and "
                    f"one outage start); default --out {QUICK_OUT.relative_to(REPO_ROOT)}")
    add_common(ap, "out", help="folder for reference.csv (the ns-3 runs; resumed), errors.csv, "
               f"cells.csv, summary.csv (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    ap.add_argument("--reference", help="compare the ns-3 results in this reference.csv; "
                    "run nothing")
    ap.add_argument("--workers", type=int, default=2, help="ns-3 processes (default 2)")
    add_common(ap, "quiet", help="no progress bar")
    ap.add_argument("--tables", action="store_true",
                    help="print the Markdown tables of docs/packetcheck.md instead")
    args = ap.parse_args(argv)
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    out = Path(args.out) if args.out else (QUICK_OUT if args.quick else DEFAULT_OUT)
    if args.quick and out.resolve() == COMMITTED.resolve():
        raise InputError(f"--quick writes elsewhere: {COMMITTED.relative_to(REPO_ROOT)} holds "
                         "the full grid only")
    if out.exists() and not out.is_dir():
        raise InputError("--out must be a folder", str(out))
    t0 = time.perf_counter()
    if args.reference:
        ref = read_reference(args.reference)
        made = 0
    else:
        specs = grid(args.quick)
        before = _rows(out / "reference.csv")
        ref = run_grid(specs, out / "reference.csv", workers=args.workers, quiet=args.quiet)
        made = len(ref) - before
        keys = {_key(s) for s in specs}
        ref = ref[[(_key(r) in keys) for r in ref.to_dict("records")]].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    err = errors(ref)
    err.to_csv(out / "errors.csv", index=False, float_format="%.6g")
    table = cells(err)
    table.to_csv(out / "cells.csv", index=False, float_format="%.6g")
    summ = summary(err)
    summ.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    if args.tables:
        print(markdown_tables(err))
        return 0
    _print(ref, err, summ, made, time.perf_counter() - t0, out, err.attrs.get("notes", []))
    return 0


def _rows(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    return len(read_reference(path))


def _print(ref, err, summ, made, wall, out, notes) -> None:
    pd.set_option("display.width", 200)
    pct = lambda x: f"{x * 100:.1f}%"  # noqa: E731
    stuck = int(ref["stuck"].sum())
    unfinished = int((~ref["finished"]).sum())
    print(f"{len(ref)} ns-3 runs ({made} made now, {wall:.0f} s); stuck {stuck} "
          f"(unfinished {unfinished}), excluded; compared {len(err)}")
    show = summ.copy()
    for c in ("median_abs", "p90_abs", "median_signed"):
        show[c] = show[c].map(pct)
    print(show.to_string(index=False))
    sizes = by_size(err)
    for c in sizes.columns:
        if c.endswith(("_med", "_p90")):
            sizes[c] = sizes[c].map(pct)
    print(sizes.to_string(index=False))
    for note in notes:
        print(note)
    print(f"per-cell errors: {out / 'cells.csv'}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
