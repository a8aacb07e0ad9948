"""Python API: build the pieces of a :class:`Scenario` and run every policy on them.

>>> from sim.simulation import run
>>> from sim.scenario import Scenario
>>> result = run(Scenario(policies=["int8", "scout"], bandwidth_mbps=20, requests=50))
>>> result.summary[["policy", "deadline_hit_rate"]]          # doctest: +SKIP

All policies of a run see the same requests (drawn once from the seed) and the same link,
so their outcomes are paired request by request.
"""

from __future__ import annotations

import pandas as pd

from policies import make_policies
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
from sim.engine import RECORD_COLUMNS, simulate
from sim.limits import check_fits
from sim.metrics import add_between_trace_ci, run_notes, summarize
from sim.records import Result
from sim.scenario import Scenario, resolve_path
from sim.stats import compare_paired
from sim.traces import Trace
from sim.vectorized import simulate_static

__all__ = ["Result", "build_costs", "build_timing", "build_topology", "build_trace",
           "build_workload", "policy_context", "run", "run_notes", "trace_files"]


def run(scenario: Scenario, *, progress: bool = False, force: bool = False) -> Result:
    """Run every policy of ``scenario`` on the same requests; on one link, or on every
    trace of ``trace_dir`` (then ``summary`` has per-trace rows and pooled rows).
    ``progress``: a progress bar on stderr for the network engine's long runs. A run that
    would not fit in memory is refused before any work unless ``force``."""
    s = scenario.validate()
    check_fits(s.requests * s.users, len(s.policies), force)
    if s.networked:
        result = run_network(s, progress=progress)
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


def _run_one(s: Scenario, trace: Trace) -> Result:
    """Run every policy of ``s`` on the same requests and ``trace``."""
    workload = build_workload(s)
    costs = build_costs(s)
    policies = make_policies(s.policies)  # a bad name or a duplicate fails before any work
    requests = workload.requests()
    context = policy_context(s, costs)
    frames, sources = [], {}
    kw = dict(default_rtt_s=s.rtt_ms / 1e3, link_efficiency=s.link_efficiency,
              count_return_latency=s.count_return_latency)
    closed_form = s.engine == "auto" and s.latency == "after"  # its FIFO is in level space
    engines = set()
    for label, policy in policies:
        policy.reset(context)
        if policy.static and closed_form:
            df, used = simulate_static(label, policy, workload, trace, costs, **kw)
            engines.add("closed-form (static)")
        else:
            r = simulate(label, policy, requests, trace, costs, latency=s.latency, **kw)
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
