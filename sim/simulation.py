"""Python API: build the pieces of a :class:`Scenario` and run every policy on them.

>>> from sim.simulation import run
>>> from sim.scenario import Scenario
>>> result = run(Scenario(policies=["int8", "scout"], bandwidth_mbps=20, requests=50))
>>> result.summary[["policy", "deadline_hit_rate"]]          # doctest: +SKIP

All policies of a run see the same requests (drawn once from the seed) and the same link,
so their outcomes are paired request by request.

Memory: ``run(..., records=False)`` (what ``python -m sim.run`` does) keeps no record: each
policy runs in chunks of requests, its records go to a sink (``requests.csv``) if asked and
its summary is made as soon as it has run, from 25 bytes per request (hit, latency,
quality, payload), the same summary as from all records. 10^7 requests x 7 policies peak
near 0.8 GB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from policies import make_policies
from policies.base import Policy
from sim.build import (  # noqa: F401 - re-exported: the Python API's builders
    build_costs,
    build_timing,
    build_topology,
    build_trace,
    build_workload,
    policy_context,
    trace_files,
)
from sim.cell import run_network
from sim.costs import CostModel
from sim.engine import simulate
from sim.limits import check_fits
from sim.metrics import PolicyColumns, add_between_trace_ci, notes_for, run_notes
from sim.records import InOrder, RecordFrames, RecordsCsv, Result, records_frame, rows_frame
from sim.scenario import Scenario, resolve_path
from sim.stats import compare_columns, compare_paired
from sim.traces import Trace
from sim.vectorized import CHUNK, ClosedFormEngine
from sim.workload import Workload

__all__ = ["Result", "build_costs", "build_timing", "build_topology", "build_trace",
           "build_workload", "policy_context", "run", "run_notes", "trace_files"]


def run(scenario: Scenario, *, progress: bool = False, force: bool = False,
        records: bool = True, sink: RecordsCsv | None = None) -> Result:
    """Run every policy of ``scenario`` on the same requests; on one link, or on every
    trace of ``trace_dir`` (then ``summary`` has per-trace rows and pooled rows).
    ``progress``: a progress bar on stderr for the network engine's long runs. A run that
    would not fit in memory is refused before any work unless ``force``.

    ``records``: keep every request's record in ``Result.requests`` (about 420 bytes per
    request and policy). With False (the command line's way) the records are made in
    chunks and each policy is summarised as soon as it has run, from its hits, latencies,
    qualities and payloads (25 bytes per request, for one policy at a time); the summary
    is the same to the last bit. ``sink``: also write the records there, chunk by chunk
    (:class:`sim.records.RecordsCsv`, ``requests.csv``). The network engine always keeps
    its records."""
    s = scenario.validate()
    reference = s.reference_policy()
    check_fits(s.requests * s.users, len(s.policies), force, records=records or s.networked,
               paired=reference is not None)
    if not s.networked:
        return _run_links(s, records, sink)
    result = run_network(s, progress=progress)
    if sink is not None:
        sink.start([0])
        sink.write(0, result.requests)
        sink.end(0)
        sink.finish()
    if reference is not None:
        result.comparisons = compare_paired(result.requests, reference, group_column="user")
    return result


@dataclass
class _Ran:
    """One policy's run on one trace: what the summary and the notes need of it."""

    sources: str  # compute sources, comma-separated
    engine: str
    row: dict[str, Any]  # its summary row
    unmeasured: set[str]  # options whose quality is derived or assumed


def _run_links(s: Scenario, keep: bool, sink: RecordsCsv | None) -> Result:
    """Every policy of ``s`` on one link, or on each trace of ``trace_dir``: one policy at
    a time (over every trace), its records in chunks to ``sink`` (and kept with
    ``keep``), its summary made as soon as it has run."""
    if s.trace_dir:
        root = resolve_path(str(s.trace_dir))
        files = trace_files(s.trace_dir)
        traces = [build_trace(s, f) for f in files]  # read all first: fail before work
        names: list[str] | None = [str(f.relative_to(root)) for f in files]
    else:
        traces, names = [build_trace(s)], None
    workload = build_workload(s)
    costs = build_costs(s)
    # a bad name or a duplicate fails before any work; each trace's run has its own
    policies = [make_policies(s.policies) for _ in traces]
    labels = [label for label, _ in policies[0]]
    context = policy_context(s, costs)
    frames = RecordFrames() if keep else None
    sinks = [x for x in (frames, sink) if x is not None]
    for x in sinks:
        x.start([(t, j) for t in range(len(traces)) for j in range(len(labels))])
    n, reference = len(workload), s.reference_policy()
    ran: list[list[_Ran]] = [[] for _ in traces]
    paired, pooled = {}, []
    for j, label in enumerate(labels):
        cols = PolicyColumns(n * len(traces))
        for t, trace in enumerate(traces):
            policy = policies[t][j][1]
            policy.reset(context)
            extra = {} if names is None else {"trace": names[t]}
            ran[t].append(_run_policy(s, label, policy, workload, trace, costs, cols,
                                      [(x, (t, j)) for x in sinks], extra))
        if names is not None:
            pooled.append(cols.row(label))
        if reference is not None:
            paired[label] = cols.paired()
    if sink is not None:
        sink.finish()
    summaries = []
    for runs in ran:
        summary = pd.DataFrame([r.row for r in runs])
        summary["compute_source"] = summary["policy"].map(
            {label: r.sources for label, r in zip(labels, runs, strict=True)})
        summaries.append(summary)
    first = ran[0]
    notes = notes_for(set().union(*(r.unmeasured for r in first)),
                      {label: r.sources for label, r in zip(labels, first, strict=True)})
    notes.append("engine: " + ", ".join(sorted({r.engine for r in first})))
    tcp = s.tcp_config()
    if tcp is not None:
        notes.append(f"transport: tcp ({tcp.connection} connection, {tcp.cc}, stack "
                     f"{tcp.stack}, initial window {tcp.initial_window_packets} x "
                     f"{tcp.mss_bytes} B, buffer {tcp.buffer_packets} packets; "
                     "docs/transport.md); the fluid link is the ideal bound")
    requests = frames.frame() if frames is not None else pd.DataFrame()
    if names is None:
        summary = summaries[0]
        notes.append(f"link: {traces[0].name}, mean {traces[0].mean_mbps():.2f} Mbit/s over "
                     f"{traces[0].duration_s:.0f} s, {s.trace_end}")
    else:
        per_trace = pd.concat([x.assign(trace=name) for x, name in zip(summaries, names,
                                                                         strict=True)],
                              ignore_index=True)
        summary = _pooled(per_trace, pd.DataFrame(pooled).assign(trace="(pooled)"))
        notes.append(f"{len(files)} traces from {root}; pooled rows treat all requests as one "
                     "sample (Wilson CI) and add a between-trace t-interval of the per-trace "
                     "hit rates (trace_ci_low/high), which respects clustering by trace")
        if paired:  # pair by (request, trace), the order compare_paired sorts them in
            rank = np.argsort(np.argsort(names, kind="stable"))
            order = np.lexsort((np.repeat(rank, n), np.tile(np.arange(n), len(names))))
            paired = {k: (h[order], u[order]) for k, (h, u) in paired.items()}
    result = Result(s, requests, summary, notes)
    if reference is not None:
        result.comparisons = compare_columns(paired, reference)
    return result


def _run_policy(s: Scenario, label: str, policy: Policy, workload: Workload, trace: Trace,
                costs: CostModel, cols: PolicyColumns, sinks: list[tuple[Any, tuple]],
                extra: dict[str, str]) -> _Ran:
    """Run ``policy`` on ``trace``: its records into ``cols`` (a new segment) and, as frames,
    into each sink's part; summarised at once."""
    cols.begin()

    def take(chunk) -> None:
        cols.add(chunk)
        if sinks:
            frame = records_frame(chunk, label, **extra)
            for sink, part in sinks:
                sink.write(part, frame)

    used, engine = _simulate(s, policy, workload, trace, costs, take)
    for sink, part in sinks:
        sink.end(part)
    segment = len(cols.segments) - 1
    return _Ran(",".join(sorted(used)) or "none", engine, cols.row(label, segment),
                cols.unmeasured(segment))


def _pooled(per_trace: pd.DataFrame, pooled: pd.DataFrame) -> pd.DataFrame:
    """Per-trace rows, then pooled rows with the between-trace interval; every row's
    compute source is the first trace's."""
    pooled = add_between_trace_ci(pooled, per_trace)
    summary = pd.concat([per_trace, pooled], ignore_index=True)
    compute = per_trace.groupby("policy", sort=False)["compute_source"].first()
    summary["compute_source"] = summary["policy"].map(compute)
    return summary


def _simulate(s: Scenario, policy: Policy, workload: Workload, trace: Trace,
              costs: CostModel, take: Callable[[Any], None]) -> tuple[set[str], str]:
    """Run ``policy`` over ``workload`` on ``trace``, handing its records in request order,
    chunk by chunk, to ``take``; returns (compute sources, engine)."""
    kw = dict(default_rtt_s=s.rtt_ms / 1e3, link_efficiency=s.link_efficiency,
              count_return_latency=s.count_return_latency, tcp=s.tcp_config())
    closed_form = s.engine == "auto" and s.latency == "after"  # its FIFO is in level space
    if policy.static and closed_form:
        engine = ClosedFormEngine(policy, trace, costs, **kw)
        for chunk in engine.chunks(workload, CHUNK):
            take(chunk)
        return engine.compute_sources, "closed-form (static)"
    rows = InOrder(lambda r: take(rows_frame(r)), CHUNK)
    r = simulate("", policy, workload.iter_requests(), trace, costs, latency=s.latency,
                 on_record=rows.add, **kw)
    rows.close()
    return r.compute_sources, "events"
