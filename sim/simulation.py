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
from models.quality import QualityCache
from models.timing import ComputeModel, TimingTable
from policies import PolicyContext, make_policy
from sim.costs import CostModel
from sim.engine import RECORD_COLUMNS, simulate
from sim.metrics import summarize
from sim.scenario import Scenario
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


def build_trace(s: Scenario) -> Trace:
    """The scenario's link: a constant one, or the trace file (scaled, loop/clip)."""
    if s.bandwidth_mbps is not None:
        return Trace.constant(s.bandwidth_mbps * s.bandwidth_scale, s.rtt_ms)
    path = s.resolved_trace_path()
    trace = read_trace(path, end=s.trace_end)  # type: ignore[arg-type]
    return trace.scaled(s.bandwidth_scale) if s.bandwidth_scale != 1.0 else trace


def build_workload(s: Scenario) -> Workload:
    return make_workload(
        requests=s.requests, seed=s.seed, arrival=s.arrival, rate_per_s=s.rate_per_s,
        interval_s=None if s.rate_per_s is not None else s.interval_s,
        context_tokens=s.context_tokens, question_tokens=s.question_tokens,
        answer_tokens=s.answer_tokens, deadline_s=s.deadline_s)


def build_costs(s: Scenario) -> CostModel:
    table = None
    if s.timing_table:
        p = Path(s.timing_table)
        table = TimingTable.load_dir(p) if p.is_dir() else TimingTable.load(p)
    quality = None
    if s.quality_cache != "none":
        quality = QualityCache.load(s.quality_cache).for_pair(s.edge_model, s.cloud_model)
    return CostModel(
        edge_model=s.edge_model, cloud_model=s.cloud_model,
        edge_compute=ComputeModel(get_device(s.edge_device), table),
        cloud_compute=ComputeModel(get_device(s.cloud_device), table),
        quality=quality, cloud_has_context=s.cloud_has_context, kv_group_size=s.kv_group_size)


def run(scenario: Scenario) -> Result:
    """Run every policy of ``scenario`` on the same requests and link."""
    s = scenario.validate()
    trace = build_trace(s)
    workload = build_workload(s)
    costs = build_costs(s)
    policies = [make_policy(p) for p in s.policies]  # fail on a bad name before any work
    requests = workload.requests()
    context = PolicyContext(costs=costs, scout_retention=s.scout_retention,
                            kv_retention=s.kv_retention, selection=s.selection)
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
    notes = []
    derived = sorted(set(records.loc[records["quality_source"].isin(["derived", "assumed"]),
                                     "option"]))
    if derived:
        notes.append("quality derived or assumed, not measured, for: " + ", ".join(derived)
                     + " (rules in models/quality.py)")
    if "roofline" in ",".join(sources.values()):
        notes.append("compute times from the roofline model (no measured timing covers them)")
    notes.append("engine: " + ", ".join(sorted(engines)))
    notes.append(f"link: {trace.name}, mean {trace.mean_mbps():.2f} Mbit/s over "
                 f"{trace.duration_s:.0f} s, {s.trace_end}")
    return Result(s, records, summary, notes)
