"""Python API: build the pieces of a :class:`Scenario` and run every policy on them.

>>> from sim.simulation import run
>>> from sim.scenario import Scenario
>>> result = run(Scenario(policies=["int8", "scout"], bandwidth_mbps=20, requests=50))
>>> result.summary[["policy", "deadline_hit_rate"]]          # doctest: +SKIP

All policies of a run see the same requests (drawn once from the seed) and the same link,
so their outcomes are paired request by request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.devices import get_device
from models.errors import InputError
from models.quality import QualityCache
from models.timing import (
    Calibration,
    ComputeModel,
    TimingTable,
    default_calibration,
    default_timing_table,
)
from policies import PolicyContext, make_policy
from sim.costs import CostModel
from sim.engine import RECORD_COLUMNS, simulate
from sim.metrics import add_between_trace_ci, summarize
from sim.scenario import Scenario, resolve_path
from sim.stats import compare_paired
from sim.traces import Trace, read_trace
from sim.vectorized import simulate_static
from sim.workload import Workload, make_workload


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


def build_trace(s: Scenario, path: str | Path | None = None) -> Trace:
    """The scenario's link: a constant one, or a trace file (``path`` overrides the
    scenario's), scaled, looped or clipped, with an optional RTT trace laid over it."""
    if s.bandwidth_mbps is not None and path is None:
        trace = Trace.constant(s.bandwidth_mbps * s.bandwidth_scale, s.rtt_ms)
    else:
        p = Path(path) if path is not None else s.resolved_trace_path()
        if p is None:
            raise InputError("no link: give --trace, --trace-dir or --bandwidth")
        trace = read_trace(p, end=s.trace_end, fmt=s.trace_format, direction=s.direction,
                           columns=s.trace_columns, select=s.select_filter())
        if s.bandwidth_scale != 1.0:
            trace = trace.scaled(s.bandwidth_scale)
    if s.rtt_trace:
        from sim.traces import read_rtt

        times_s, rtt_s = read_rtt(resolve_path(s.rtt_trace), select=s.select_filter())
        trace = trace.with_rtt(times_s, rtt_s)
    return trace


def trace_files(folder: str | Path) -> list[Path]:
    """Regular, non-hidden files of a trace folder, sorted by name (recursively)."""
    root = resolve_path(str(folder))
    if not root.is_dir():
        raise InputError("trace folder not found", str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)
                   and p.suffix.lower() not in (".md", ".txt", ".png", ".pdf"))
    if not files:
        raise InputError("trace folder has no trace files", str(root))
    return files


def build_workload(s: Scenario, device: int = 0) -> Workload:
    """The requests of one device (device 0: the single-device run's requests)."""
    return make_workload(device=device,
        requests=s.requests, seed=s.seed, arrival=s.arrival, rate_per_s=s.rate_per_s,
        interval_s=None if s.rate_per_s is not None else s.interval_s,
        context_tokens=s.context_tokens, question_tokens=s.question_tokens,
        answer_tokens=s.answer_tokens, deadline_s=s.deadline_s)


def build_timing(spec: str | None) -> tuple[TimingTable | None, Calibration | None]:
    """Measured table and roofline calibration for ``--timing-table``.

    None (the default): every shipped CSV in ``models/timings/`` and its ``calibration.json``;
    a folder: its CSVs and its ``calibration.json`` if any; a file: that CSV alone; ``none``:
    neither (pure roofline with the devices' default efficiencies).
    """
    if spec is None:
        return default_timing_table(), default_calibration()
    if spec.strip().lower() == "none":
        return None, None
    p = Path(spec)
    if p.is_dir():
        return default_timing_table(p), default_calibration(p)
    return TimingTable.load(p), None


def build_costs(s: Scenario) -> CostModel:
    table, calibration = build_timing(s.timing_table)
    quality = None
    if s.quality_cache != "none":
        quality = QualityCache.load(s.quality_cache).for_pair(s.edge_model, s.cloud_model)
    return CostModel(
        edge_model=s.edge_model, cloud_model=s.cloud_model,
        edge_compute=ComputeModel(get_device(s.edge_device), table, calibration=calibration),
        cloud_compute=ComputeModel(get_device(s.cloud_device), table, calibration=calibration),
        quality=quality, cloud_has_context=s.cloud_has_context, kv_group_size=s.kv_group_size)


def run(scenario: Scenario) -> Result:
    """Run every policy of ``scenario`` on the same requests; on one link, or on every
    trace of ``trace_dir`` (then ``summary`` has per-trace rows and pooled rows)."""
    s = scenario.validate()
    if s.networked:
        from sim.cell import run_network

        result = run_network(s)
    else:
        result = _run_dir(s) if s.trace_dir else _run_one(s, build_trace(s))
    reference = s.reference_policy()
    if reference is not None:
        group = "trace" if s.trace_dir else "user" if s.networked else None
        result.comparisons = compare_paired(result.requests, reference, group_column=group)
    return result


def _run_dir(s: Scenario) -> Result:
    files = trace_files(s.trace_dir)  # type: ignore[arg-type]
    traces = [(f, build_trace(s, f)) for f in files]  # read all first: fail before work
    results = [_run_one(s, t) for _, t in traces]
    root = resolve_path(str(s.trace_dir))
    frames, summaries = [], []
    for (f, _), r in zip(traces, results, strict=True):
        name = str(f.relative_to(root))
        frames.append(r.requests.assign(trace=name))
        summaries.append(r.summary.assign(trace=name))
    records = pd.concat(frames, ignore_index=True)
    pooled = summarize(records).assign(trace="(pooled)")
    per_trace = pd.concat(summaries, ignore_index=True)
    pooled = add_between_trace_ci(pooled, per_trace)
    summary = pd.concat([per_trace, pooled], ignore_index=True)
    compute = per_trace.groupby("policy", sort=False)["compute_source"].first()
    summary["compute_source"] = summary["policy"].map(compute)
    notes = [n for n in results[0].notes if not n.startswith("link:")]
    notes.append(f"{len(files)} traces from {root}; pooled rows treat all requests as one "
                 "sample (Wilson CI) and add a between-trace t-interval of the per-trace "
                 "hit rates (trace_ci_low/high), which respects clustering by trace")
    return Result(s, records, summary, notes)


def policy_context(s: Scenario, costs: CostModel) -> PolicyContext:
    """What every policy of the run is told: defaults, costs and the operating points
    adaptive policies may choose among."""
    modes = set(s.option_modes())
    options = ([op for op in costs.quality.operating_points() if op.mode in modes]
               if costs.quality is not None else [])
    return PolicyContext(costs=costs, scout_retention=s.scout_retention,
                         kv_retention=s.kv_retention, selection=s.selection, options=options)


def run_notes(records: pd.DataFrame, sources: dict[str, str]) -> list[str]:
    """Notes every run prints: derived quality and compute-time sources."""
    notes = []
    derived = sorted(set(records.loc[records["quality_source"].isin(["derived", "assumed"]),
                                     "option"]))
    if derived:
        notes.append("quality derived or assumed, not measured, for: " + ", ".join(derived)
                     + " (rules in models/quality.py)")
    notes.append("compute time sources (measured / interpolated from models/timings, "
                 "calibrated or default roofline, ideal): " + "; ".join(
                     f"{p}={src}" for p, src in sources.items()))
    return notes


def _run_one(s: Scenario, trace: Trace) -> Result:
    """Run every policy of ``s`` on the same requests and ``trace``."""
    workload = build_workload(s)
    costs = build_costs(s)
    policies = [make_policy(p) for p in s.policies]  # fail on a bad name before any work
    requests = workload.requests()
    context = policy_context(s, costs)
    frames, sources = [], {}
    kw = dict(default_rtt_s=s.rtt_ms / 1e3, link_efficiency=s.link_efficiency,
              count_return_latency=s.count_return_latency)
    engines = set()
    for label, policy in policies:
        policy.reset(context)
        if policy.static and s.engine == "auto":
            df, used = simulate_static(label, policy, workload, trace, costs, **kw)
            engines.add("closed-form (static)")
        else:
            r = simulate(label, policy, requests, trace, costs, **kw)
            df = pd.DataFrame.from_records(r.rows, columns=RECORD_COLUMNS)
            df = df.sort_values("request", kind="stable", ignore_index=True)
            used = r.compute_sources
            engines.add("events (SimPy)")
        df.insert(0, "policy", label)
        frames.append(df)
        sources[label] = ",".join(sorted(used)) or "none"
    records = pd.concat(frames, ignore_index=True)
    summary = summarize(records)
    summary["compute_source"] = summary["policy"].map(sources)
    notes = run_notes(records, sources)
    notes.append("engine: " + ", ".join(sorted(engines)))
    notes.append(f"link: {trace.name}, mean {trace.mean_mbps():.2f} Mbit/s over "
                 f"{trace.duration_s:.0f} s, {s.trace_end}")
    return Result(s, records, summary, notes)
