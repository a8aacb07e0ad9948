"""Throughput benchmark of the engine, with a naive SimPy model as baseline and cross-check.

Run: ``python -m experiments.bench [--requests 100000] [--trace PATH] [--naive-requests N]
[--adaptive-requests 20000] [--json]``.

What is measured
----------------
* **Closed-form engine** (:func:`sim.vectorized.simulate_static`, what ``run()`` uses for
  static policies) and **events engine** (:func:`sim.engine.simulate`, SimPy, what every
  adaptive policy uses): simulated requests per
  wall-clock second for the static policies ``int8``, ``scout`` and ``cloud-text`` on a real
  trace (default: HSDPA Norway 3G ``norway_train_13`` from ``../shared/traces``, Pensieve
  cooked format, looping). Only the ``simulate()`` call is timed (``time.perf_counter``),
  best of ``--repeats`` (3; the naive model too); building costs, workload and policies is
  not timed.
* **End-to-end** :func:`sim.simulation.run` once, for reference: the same three policies in
  one :class:`~sim.scenario.Scenario`, including the trace read, workload, cost model and the
  pandas records and summary.
* **Naive baseline** (:func:`naive_first_token_times`): the SimPy model a researcher would
  typically write for the same pipeline: ``simpy.Resource(capacity=1)`` for the edge device,
  the link and the cloud GPU, one process per request, and the transfer stepped through the
  trace's time slots (one ``env.timeout`` per slot boundary crossed). It uses the same
  requests and the same :class:`~sim.costs.OpCost` (``costs.cost``), on the first
  ``--naive-requests`` (5,000) requests because it is slow; the ratio compares requests/s.
* **Cross-check**: on those requests, each request's first-token time (at the user) from the
  naive model must equal the engine's within a relative 1e-6 (slot stepping accumulates
  float error; the exact engine inverts the cumulative capacity curve). The maximum absolute
  difference is reported. The exit status is 1 when they disagree, else 0.

Workload: Poisson arrivals (seed 0) drawn with :func:`sim.workload.make_workload` and the
default scenario's request sizes and devices (qwen2.5-7b on jetson-agx-orin at the edge,
qwen2.5-14b on h100-sxm in the cloud, quality cache "published"). The mean interval is
``--interval`` (5 s) or, for a policy whose payload needs longer on the link, twice its mean
transfer time at the trace's mean capacity (rounded up to a whole second), so that no policy
is measured on an overloaded (ever-growing) queue; the table gives the interval and load.
* **Adaptive policies** (``adaptive``, ``mpc``; ``--adaptive-requests``, 20,000, at the
  ``--interval``): the events engine, which is what :func:`~sim.simulation.run` uses for
  them, beside the naive model running the same policy with its view kept the plain way
  (running sums, transfers shown when their process finishes them), cross-checked the
  same way.
* **TCP** (issue 17): the closed form and the events engine again with the TCP transport
  (default settings, a new connection per transfer), cross-checked against each other.

Targets: >= 100,000 requests/s for each static policy, and >= 10x the naive model; with
TCP, >= 1,000,000 in the closed form and >= 100,000 in the events engine (and >= 5,000,000
for the fluid closed form); >= 100,000 for ``adaptive`` and ``mpc`` (issue 18).
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import simpy

from models.cli import Parser, add_common, command, progress, run_main
from models.transport import TcpConfig
from policies import NetworkView, Policy, PolicyContext, make_policy
from policies.base import TransferObservation
from sim.build import policy_context
from sim.costs import CostModel
from sim.engine import RECORD_COLUMNS, simulate
from sim.scenario import Scenario
from sim.simulation import build_costs, run
from sim.traces import Trace, read_trace
from sim.vectorized import simulate_static
from sim.workload import Request, Workload, make_workload

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared/traces/hsdpa-norway-3g/norway_train_13"
POLICY_SPECS = ("int8", "scout", "cloud-text")
#: policies that decide from the network, run by the events engine (issue 18)
ADAPTIVE_SPECS = ("adaptive", "mpc")
TARGET_REQ_PER_S = 100_000.0
TARGET_FLUID_REQ_PER_S = 5_000_000.0  # the closed form, fluid transport (issue 17)
TARGET_TCP_REQ_PER_S = 1_000_000.0  # the closed form, tcp transport (issue 17)
TARGET_SPEEDUP = 10.0
REL_TOL = 1e-6
ABS_TOL = 1e-9  # for times near zero
FIRST_TOKEN = RECORD_COLUMNS.index("first_token_s")
LATENCY = RECORD_COLUMNS.index("latency_s")


# --------------------------------------------------------------------------- naive model
def naive_first_token_times(policy: Policy, requests: Sequence[Request], trace: Trace,
                            costs: CostModel, *, default_rtt_s: float,
                            link_efficiency: float = 1.0,
                            count_return_latency: bool = True) -> list[float]:
    """First-token time at the user of each request (by ``request.index``) from a naive
    SimPy model: Resources for edge, link and cloud, one process per request, and the
    transfer stepped slot by slot through the trace. ``inf`` where a clipped trace ends
    before the transfer finishes.

    A policy that observes the network (``adaptive``, ``mpc``; not a clairvoyant one) gets
    its :class:`~policies.base.NetworkView` kept the plain way: queue free times and the
    work waiting for the cloud as running sums at each step, each transfer shown when its
    process finishes it.

    Deliberately independent of the engine: it reads only the trace's sample arrays and
    never its cumulative-capacity methods.
    """
    if policy.clairvoyant:
        raise ValueError("the naive model runs no clairvoyant policy")
    env = simpy.Environment()
    edge = simpy.Resource(env, capacity=1)
    link = simpy.Resource(env, capacity=1)
    cloud = simpy.Resource(env, capacity=1)
    view = NetworkView(link_efficiency=link_efficiency,
                       count_return_latency=count_return_latency)
    # what the view shows: free times of the edge and the cloud, work not yet at the cloud
    state = {"edge_free": 0.0, "cloud_free": 0.0, "waiting": {}}
    inflight: dict[int, tuple[float, float]] = {}
    times = trace.times_s.tolist()
    caps = trace.capacity_bytes_per_s.tolist()
    rtts = None if trace.rtt_s is None else trace.rtt_s.tolist()
    period = trace.duration_s
    loop = trace.end == "loop"
    n_slots = len(times)
    first = [math.inf] * (max((r.index for r in requests), default=-1) + 1)

    def slot_of(t: float) -> tuple[int, int]:
        """(period number, slot index) holding absolute time ``t``."""
        k = math.floor(t / period) if loop else 0
        local = t - k * period
        return k, max(0, bisect_right(times, local) - 1)

    def one_way_latency(t: float) -> float:
        if rtts is None:
            return 0.5 * default_rtt_s
        return 0.5 * rtts[slot_of(t)[1]]

    def transfer(size: float) -> Generator[simpy.Event, Any, None]:
        """Hold the link (already acquired) until ``size`` bytes have gone through."""
        remaining = size
        k, i = slot_of(env.now)
        while remaining > 0:
            slot_end = k * period + (times[i + 1] if i + 1 < n_slots else period)
            rate = caps[i]
            span = slot_end - env.now
            if rate > 0 and remaining / rate <= span:
                yield env.timeout(remaining / rate)
                remaining = 0.0
                break
            if span > 0:
                yield env.timeout(span)
                remaining -= rate * span
            i += 1
            if i == n_slots:
                if not loop:
                    yield env.event()  # clipped trace has ended: never finishes
                i, k = 0, k + 1

    def decide(req: Request) -> Any:
        now = env.now
        if not policy.static:
            view.now_s, view.edge_free_at_s = now, state["edge_free"]
            view.cloud_free_at_s = state["cloud_free"]
            view.waiting_cloud_work_s = sum(state["waiting"].values())
            view.inflight = list(inflight.values())
            view.arrivals_s.append(now)
        c = costs.cost(policy.decide(req, view), req)
        if c.edge_busy_s > 0:
            state["edge_free"] = max(now, state["edge_free"]) + c.edge_busy_s
        if c.uses_link:
            view.link_backlog_bytes += c.payload_bytes
            state["waiting"][req.index] = c.cloud_busy_s
        return c

    def handle(req: Request) -> Generator[simpy.Event, Any, None]:
        c = decide(req)
        if c.edge_busy_s > 0:
            with edge.request() as turn:
                yield turn
                yield env.timeout(c.edge_s)
                if not c.uses_link:
                    first[req.index] = env.now
                    yield env.timeout(c.edge_busy_s - c.edge_s)  # rest of the answer
                    return
        elif not c.uses_link:
            first[req.index] = env.now
            return
        with link.request() as turn:
            yield turn
            start = env.now
            inflight[req.index] = (c.payload_bytes, start)
            yield from transfer(c.payload_bytes / link_efficiency)
        del inflight[req.index]
        view.transfers.append(TransferObservation(c.payload_bytes, start, env.now))
        view.rtt_samples_s.append((env.now, 2 * one_way_latency(start)))
        view.link_backlog_bytes -= c.payload_bytes
        yield env.timeout(one_way_latency(start))
        del state["waiting"][req.index]
        state["cloud_free"] = max(env.now, state["cloud_free"]) + c.cloud_busy_s
        with cloud.request() as turn:
            yield turn
            yield env.timeout(c.cloud_ttft_s)
            back = one_way_latency(env.now) if count_return_latency else 0.0
            first[req.index] = env.now + back
            yield env.timeout(c.cloud_busy_s - c.cloud_ttft_s)  # rest of the answer

    def source() -> Generator[simpy.Event, Any, None]:
        for req in requests:
            yield env.timeout(req.arrival_s - env.now)
            env.process(handle(req))

    env.process(source())
    env.run()
    return first


def compare(naive: Sequence[float], engine: Sequence[float], rel_tol: float = REL_TOL
            ) -> dict[str, Any]:
    """Agreement of two first-token-time lists: max abs/rel difference, pass/fail."""
    max_abs = max_rel = 0.0
    mismatched = 0
    for a, b in zip(naive, engine, strict=True):
        if math.isinf(a) or math.isinf(b):
            if a != b:
                mismatched += 1
            continue
        d = abs(a - b)
        max_abs = max(max_abs, d)
        max_rel = max(max_rel, d / max(abs(a), abs(b), 1e-300))
        if d > rel_tol * max(abs(a), abs(b)) + ABS_TOL:
            mismatched += 1
    return {"requests": len(engine), "max_abs_diff_s": max_abs, "max_rel_diff": max_rel,
            "mismatched": mismatched, "ok": mismatched == 0}


def engine_first_token_times(rows: list[tuple], n: int) -> list[float]:
    """First-token times by request index from the engine's rows."""
    out = [math.nan] * n
    for row in rows:
        out[row[0]] = row[FIRST_TOKEN]
    return out


# --------------------------------------------------------------------------- benchmark
def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {"platform": platform.platform(), "python": sys.version.split()[0],
            "implementation": platform.python_implementation(), "simpy": version("simpy"),
            "cpu": cpu, "cpu_count": os.cpu_count()}


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@dataclass(frozen=True)
class _Setup:
    """What every measurement of a benchmark shares."""

    scenario: Scenario
    trace: Trace
    costs: CostModel
    kw: dict[str, Any]
    mean_goodput: float
    repeats: int
    seed: int


def _setup(trace_path: Path, requests: int, repeats: int, seed: int) -> _Setup:
    """The default scenario on ``trace_path``, its trace, cost model and engine keywords."""
    scenario = Scenario(trace=str(trace_path), requests=requests, seed=seed)
    trace = read_trace(trace_path, end=scenario.trace_end)
    costs = build_costs(scenario)
    default_rtt_s = scenario.rtt_ms / 1e3
    mean_goodput = trace.period_bytes / trace.duration_s * scenario.link_efficiency
    kw = dict(default_rtt_s=default_rtt_s, link_efficiency=scenario.link_efficiency,
              count_return_latency=scenario.count_return_latency)
    return _Setup(scenario, trace, costs, kw, mean_goodput, repeats, seed)


def _reset_policy(st: _Setup, spec: str) -> tuple[str, Policy]:
    """(label, policy) of ``spec``, reset for the scenario's costs and selection."""
    label, policy = make_policy(spec)
    policy.reset(PolicyContext(costs=st.costs, scout_retention=st.scenario.scout_retention,
                               kv_retention=st.scenario.kv_retention,
                               selection=st.scenario.selection))
    return label, policy


def _make_workload(st: _Setup, requests: int, interval_s: float) -> Workload:
    """Poisson workload of the scenario's request sizes at mean interval ``interval_s``."""
    scenario = st.scenario
    return make_workload(requests=requests, seed=st.seed, interval_s=interval_s,
                         context_tokens=scenario.context_tokens,
                         question_tokens=scenario.question_tokens,
                         answer_tokens=scenario.answer_tokens,
                         deadline_s=scenario.deadline_s)


def _policy_workload(st: _Setup, policy: Policy, requests: int,
                     interval_s: float) -> tuple[float, float, Workload]:
    """(interval, link load, workload): the interval raised so the link is not overloaded."""
    probe = _make_workload(st, 1, interval_s).requests()[0]
    payload = st.costs.cost(policy.decide(probe, NetworkView()), probe).payload_bytes
    gap = max(interval_s, float(math.ceil(2 * payload / st.mean_goodput)))
    workload = _make_workload(st, requests, gap)
    load = payload / st.mean_goodput / gap
    return gap, load, workload


def _run_events(st: _Setup, name: str, policy: Policy, rs: list[Request]) -> Any:
    """The events engine on requests ``rs``."""
    return simulate(name, policy, rs, st.trace, st.costs, **st.kw)


def _no_reset() -> None:
    """A static policy keeps no state between runs."""


def _events_row(st: _Setup, label: str, policy: Policy, reqs: list[Request], requests: int,
                gap: float, load: float | None,
                reset: Callable[[], None] = _no_reset) -> dict[str, Any]:
    """Timed events-engine row over all requests (its ratio to naive added later);
    ``reset`` runs before each timed run (an adaptive policy's fresh estimators)."""

    def run_events() -> Any:
        reset()
        return _run_events(st, label, policy, reqs)

    secs, res = _timed(run_events, st.repeats)
    lat = [r[LATENCY] for r in res.rows]
    return {"model": "events engine", "policy": label, "requests": requests,
            "interval_s": gap, "link_load": load, "seconds": secs,
            "req_per_s": requests / secs,
            "mean_latency_s": sum(lat) / len(lat)}


def _naive_check(st: _Setup, label: str, policy: Policy, sub: list[Request],
                 reset: Callable[[], None] = _no_reset
                 ) -> tuple[float, list[float], dict[str, Any]]:
    """(seconds, first-token times, cross-check) of the naive model against the events engine
    (``reset``: as in :func:`_events_row`)."""

    def run_naive() -> list[float]:
        reset()
        return naive_first_token_times(policy, sub, st.trace, st.costs, **st.kw)

    def run_events() -> Any:
        reset()
        return _run_events(st, label, policy, sub)

    nsecs, naive_ft = _timed(run_naive, st.repeats)
    ssecs, sub_res = _timed(run_events, st.repeats)
    check = compare(naive_ft, engine_first_token_times(sub_res.rows, len(sub)))
    check["engine_req_per_s_same_requests"] = len(sub) / ssecs
    check["ratio_same_requests"] = nsecs / ssecs
    return nsecs, naive_ft, check


def _row(model: str, policy: str, requests: int, gap: float, load: float | None,
         seconds: float, req_per_s: float, ratio: float | None,
         mean_latency_s: float | None) -> dict[str, Any]:
    """One row of the report's table."""
    return {"model": model, "policy": policy, "requests": requests, "interval_s": gap,
            "link_load": load, "seconds": seconds, "req_per_s": req_per_s,
            "ratio_vs_naive": ratio, "mean_latency_s": mean_latency_s}


def _bench_policy(st: _Setup, spec: str, requests: int, naive_requests: int,
                  interval_s: float, rows: list[dict[str, Any]],
                  checks: dict[str, Any]) -> tuple[str, float]:
    """Measure one static policy: appends its rows and cross-checks; (label, interval)."""
    label, policy = _reset_policy(st, spec)
    gap, load, workload = _policy_workload(st, policy, requests, interval_s)
    reqs = workload.requests()
    engine_row = _events_row(st, label, policy, reqs, requests, gap, load)
    # naive baseline and cross-check on the first naive_requests requests
    sub = reqs[:naive_requests]
    nsecs, naive_ft, checks[label] = _naive_check(st, label, policy, sub)
    naive_rps = len(sub) / nsecs
    engine_row["ratio_vs_naive"] = engine_row["req_per_s"] / naive_rps
    rows.append(engine_row)
    # the closed-form engine that run() uses for static policies, same workload
    csecs, (cdf, _src) = _timed(lambda w=workload, p=policy, name=label: simulate_static(
        name, p, w, st.trace, st.costs, **st.kw), st.repeats)
    cf_ft = cdf["first_token_s"].to_numpy()
    checks[label + " (closed form)"] = compare(naive_ft, list(cf_ft[:len(sub)]))
    rows.append(_row("closed-form engine", label, requests, gap, load, csecs,
                     requests / csecs, requests / csecs / naive_rps,
                     float(cdf["latency_s"].mean())))
    rows.append(_row("naive SimPy", label, len(sub), gap, load, nsecs, naive_rps, 1.0,
                     sum(naive_ft[i] - r.arrival_s for i, r in enumerate(sub)) / len(sub)))
    _tcp_rows(st, label, policy, workload, gap, load, naive_rps, rows, checks)
    return label, gap


def _bench_adaptive(st: _Setup, spec: str, requests: int, naive_requests: int,
                    interval_s: float, rows: list[dict[str, Any]],
                    checks: dict[str, Any]) -> None:
    """Measure one adaptive policy (events engine, what run() uses for it) against the
    naive model, which keeps the policy's view the plain way: appends rows and a check."""
    label, policy = make_policy(spec)
    context = policy_context(st.scenario, st.costs)

    def reset() -> None:  # fresh estimators for every timed run
        policy.reset(context)

    reqs = _make_workload(st, requests, interval_s).requests()
    engine_row = _events_row(st, label, policy, reqs, requests, interval_s, None, reset)
    sub = reqs[:naive_requests]
    nsecs, naive_ft, checks[label] = _naive_check(st, label, policy, sub, reset)
    naive_rps = len(sub) / nsecs
    engine_row["ratio_vs_naive"] = engine_row["req_per_s"] / naive_rps
    rows.append(engine_row)
    rows.append(_row("naive SimPy", label, len(sub), interval_s, None, nsecs, naive_rps, 1.0,
                     sum(naive_ft[i] - r.arrival_s for i, r in enumerate(sub)) / len(sub)))


def _tcp_rows(st: _Setup, label: str, policy: Policy, workload: Workload, gap: float,
              load: float, naive_rps: float, rows: list[dict[str, Any]],
              checks: dict[str, Any]) -> None:
    """The same policy and requests over the TCP transport (default settings: a new
    connection per request, Cubic, deep buffer), in the closed form and the events engine;
    the two must agree per request (relative 1e-9)."""
    tcp = TcpConfig()
    csecs, (cdf, _src) = _timed(lambda: simulate_static(
        label, policy, workload, st.trace, st.costs, tcp=tcp, **st.kw), st.repeats)
    reqs = workload.requests()
    esecs, res = _timed(lambda: simulate(label, policy, reqs, st.trace, st.costs, tcp=tcp,
                                         **st.kw), st.repeats)
    n = len(reqs)
    closed = list(cdf["first_token_s"].to_numpy())
    checks[label + " (tcp: closed form vs events)"] = compare(
        engine_first_token_times(res.rows, n), closed, rel_tol=1e-9)
    lat = [r[LATENCY] for r in res.rows]
    rows.append(_row("closed-form engine, tcp", label, n, gap, load, csecs, n / csecs,
                     n / csecs / naive_rps, float(cdf["latency_s"].mean())))
    rows.append(_row("events engine, tcp", label, n, gap, load, esecs, n / esecs,
                     n / esecs / naive_rps, sum(lat) / len(lat)))


def _end_to_end(trace_path: Path, requests: int, gap: float, seed: int) -> dict[str, Any]:
    """Timed row of run() on the three policies in one scenario."""
    s = Scenario(policies=list(POLICY_SPECS), trace=str(trace_path), requests=requests,
                 interval_s=gap, seed=seed)
    t0 = time.perf_counter()
    run(s)
    secs = time.perf_counter() - t0
    n = requests * len(POLICY_SPECS)
    return _row("run() end-to-end", ",".join(POLICY_SPECS), n, gap, None, secs, n / secs,
                None, None)


def _targets(rows: list[dict[str, Any]], checks: dict[str, Any]) -> dict[str, bool]:
    """Which throughput, speed-up and agreement targets the rows and checks meet."""
    def all_at_least(model: str, target: float, key: str = "req_per_s") -> bool:
        return all(r[key] >= target for r in rows if r["model"] == model)

    return {
        "static_fluid_req_per_s_ge_5M": all_at_least("closed-form engine",
                                                     TARGET_FLUID_REQ_PER_S),
        "static_tcp_req_per_s_ge_1M": all_at_least("closed-form engine, tcp",
                                                   TARGET_TCP_REQ_PER_S),
        "events_tcp_req_per_s_ge_100k": all_at_least("events engine, tcp", TARGET_REQ_PER_S),
        "static_policies_req_per_s_ge_100k": all_at_least("closed-form engine",
                                                          TARGET_REQ_PER_S),
        "static_policies_ge_10x_naive": all_at_least("closed-form engine", TARGET_SPEEDUP,
                                                     "ratio_vs_naive"),
        "events_engine_req_per_s_ge_100k": all(
            r["req_per_s"] >= TARGET_REQ_PER_S for r in rows
            if r["model"] == "events engine" and r["policy"] not in ADAPTIVE_SPECS),
        "adaptive_req_per_s_ge_100k": all(
            r["req_per_s"] >= TARGET_REQ_PER_S for r in rows
            if r["model"] == "events engine" and r["policy"] in ADAPTIVE_SPECS),
        "naive_agrees_with_engine": all(c["ok"] for c in checks.values()),
    }


def _config(st: _Setup, trace_path: Path, requests: int, naive_requests: int) -> dict[str, Any]:
    """The report's configuration section."""
    trace, scenario = st.trace, st.scenario
    return {"trace": str(trace_path), "trace_mean_mbps": trace.mean_mbps(),
            "trace_duration_s": trace.duration_s, "trace_end": trace.end,
            "requests": requests, "naive_requests": min(naive_requests, requests),
            "repeats": st.repeats, "seed": st.seed, "arrival": "poisson",
            "edge": f"{scenario.edge_model} on {scenario.edge_device}",
            "cloud": f"{scenario.cloud_model} on {scenario.cloud_device}",
            "rtt_ms": scenario.rtt_ms, "rel_tol": REL_TOL}


def bench(trace_path: Path, *, requests: int, naive_requests: int, interval_s: float,
          repeats: int, seed: int = 0, quiet: bool = True,
          adaptive_requests: int = 20_000) -> dict[str, Any]:
    """Run every measurement; returns a JSON-able report (a progress bar on a terminal
    unless ``quiet``)."""
    st = _setup(trace_path, requests, repeats, seed)
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    intervals: dict[str, float] = {}
    for spec in progress(POLICY_SPECS, desc="bench policies", quiet=quiet):
        label, gap = _bench_policy(st, spec, requests, naive_requests, interval_s, rows, checks)
        intervals[label] = gap
    for spec in progress(ADAPTIVE_SPECS, desc="bench adaptive", quiet=quiet):
        _bench_adaptive(st, spec, adaptive_requests, min(naive_requests, adaptive_requests),
                        interval_s, rows, checks)
    # end-to-end run() of the three policies on one scenario (largest interval: none overloaded)
    rows.append(_end_to_end(trace_path, requests, max(intervals.values()), seed))
    targets = _targets(rows, checks)
    return {"machine": machine(), "config": _config(st, trace_path, requests, naive_requests),
            "rows": rows, "crosscheck": checks, "targets": targets}


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_report(rep: dict[str, Any]) -> None:
    m, c = rep["machine"], rep["config"]
    print(f"machine: {m['platform']}, {m['implementation']} {m['python']}, "
          f"simpy {m['simpy']}, {m['cpu_count']} CPUs ({m['cpu']})")
    print(f"trace: {c['trace']} ({c['trace_mean_mbps']:.2f} Mbit/s mean over "
          f"{c['trace_duration_s']:.0f} s, {c['trace_end']}); edge {c['edge']}, cloud "
          f"{c['cloud']}; RTT {c['rtt_ms']:.0f} ms; Poisson seed {c['seed']}; "
          f"best of {c['repeats']} (engine and naive)")
    head = (f"{'model':<24} {'policy':<16} {'requests':>9} {'interval':>8} {'load':>5} "
            f"{'seconds':>9} {'requests/s':>11} {'vs naive':>9} {'mean lat':>9}")
    print(head)
    print("-" * len(head))
    for r in rep["rows"]:
        print(f"{r['model']:<24} {r['policy']:<16} {r['requests']:>9,} "
              f"{r['interval_s']:>7.0f}s {_fmt(r['link_load'], '.2f'):>5} "
              f"{r['seconds']:>9.3f} {r['req_per_s']:>11,.0f} "
              f"{_fmt(r['ratio_vs_naive'], '.1f') + ('x' if r['ratio_vs_naive'] else ''):>9} "
              f"{_fmt(r['mean_latency_s'], '.3f') + ('s' if r['mean_latency_s'] else ''):>9}")
    print(f"cross-check (naive vs engine, first-token time at the user, rel tol "
          f"{c['rel_tol']:g}):")
    for label, ck in rep["crosscheck"].items():
        extra = ""
        if "engine_req_per_s_same_requests" in ck:
            extra = (f"; events engine on these requests "
                     f"{ck['engine_req_per_s_same_requests']:,.0f} req/s "
                     f"({ck['ratio_same_requests']:.1f}x naive)")
        print(f"  {label:<38} {ck['requests']:,} requests: max |diff| "
              f"{ck['max_abs_diff_s']:.3g} s, max rel {ck['max_rel_diff']:.3g}, "
              f"mismatched {ck['mismatched']} -> {'agree' if ck['ok'] else 'DISAGREE'}{extra}")
    t = rep["targets"]
    yes = {True: "met", False: "NOT met"}
    print(f"targets: static policies (closed form, what run() uses) >= "
          f"{TARGET_REQ_PER_S:,.0f} req/s: {yes[t['static_policies_req_per_s_ge_100k']]}; "
          f">= {TARGET_SPEEDUP:.0f}x naive: {yes[t['static_policies_ge_10x_naive']]}; "
          f"events engine >= {TARGET_REQ_PER_S:,.0f} req/s: "
          f"{yes[t['events_engine_req_per_s_ge_100k']]}; naive agrees with both engines: "
          f"{'yes' if t['naive_agrees_with_engine'] else 'NO'}")
    print(f"transport targets (issue 17): closed form, fluid >= {TARGET_FLUID_REQ_PER_S:,.0f} "
          f"req/s: {yes[t['static_fluid_req_per_s_ge_5M']]}; closed form, tcp >= "
          f"{TARGET_TCP_REQ_PER_S:,.0f} req/s: {yes[t['static_tcp_req_per_s_ge_1M']]}; events "
          f"engine, tcp >= {TARGET_REQ_PER_S:,.0f} req/s: "
          f"{yes[t['events_tcp_req_per_s_ge_100k']]}")
    print(f"adaptive targets (issue 18): {', '.join(ADAPTIVE_SPECS)} (events engine) >= "
          f"{TARGET_REQ_PER_S:,.0f} req/s: {yes[t['adaptive_req_per_s_ge_100k']]}")


@command
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 1 the cross-check failed, 2 bad
    input)."""
    ap = Parser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0])
    add_common(ap, "requests", default=100_000, help="requests per engine run")
    ap.add_argument("--trace", type=Path, default=None,
                    help=f"trace file (default {DEFAULT_TRACE})")
    ap.add_argument("--naive-requests", type=int, default=5000,
                    help="requests for the naive baseline and the cross-check")
    ap.add_argument("--interval", type=float, default=5.0,
                    help="minimum mean Poisson interval in s (raised for heavy payloads)")
    ap.add_argument("--repeats", type=int, default=3, help="engine timing: best of N")
    ap.add_argument("--adaptive-requests", type=int, default=20_000,
                    help="requests per run of the adaptive policies (adaptive, mpc)")
    add_common(ap, "json", help="print the report as JSON")
    add_common(ap, "quiet", help="no progress bar (it shows only on a terminal)")
    args = ap.parse_args(argv)
    if min(args.requests, args.naive_requests, args.repeats, args.adaptive_requests) < 1 or \
            args.interval <= 0:
        ap.error("--requests, --naive-requests, --adaptive-requests, --repeats and --interval "
                 "must be positive")
    path = args.trace or DEFAULT_TRACE
    if args.trace is None and not path.exists():
        print(f"{path} is absent (../shared not mounted); pass --trace PATH to benchmark")
        return 0
    rep = bench(path, requests=args.requests, naive_requests=args.naive_requests,
                interval_s=args.interval, repeats=args.repeats, quiet=args.quiet,
                adaptive_requests=args.adaptive_requests)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print_report(rep)
    return 0 if rep["targets"]["naive_agrees_with_engine"] else 1


if __name__ == "__main__":
    run_main(main)
