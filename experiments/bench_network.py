"""Benchmark of the network engine: a cell of many devices, per policy.

Run: ``python -m experiments.bench_network [--users 100] [--requests 1000] [--policies ...]
[--baseline-requests 100] [--baseline-policies ...] [--big-users N] [--big-requests N]
[--big-policies int8,scout]``.

What is measured (wall-clock, ``time.perf_counter``, one run each; building the topology,
costs and workloads is not timed):

* **Cell**: ``--users`` devices of the default scenario (``traces/lte.csv`` radio links at
  random positions, a 50 Mbit/s cell uplink, 1 Gbit/s backhaul, qwen2.5-7b on Orin ->
  qwen2.5-14b on H100, FIFO cloud), ``--requests`` Poisson requests per device every 10 s on
  average, on the star engine (water-filling, :mod:`sim.network.star`, which the network
  engine picks for this cell). Reported per policy: seconds, simulated requests per second,
  fluid-network events, the simulated span, and the hit rate (a sanity check).
* **General engine, side by side**: the same cell on the general fluid network
  (progressive filling at every start, finish and capacity change, with its
  independent-bottleneck shortcut: what ran before the star engine), on the first
  ``--baseline-requests`` requests per device of ``--baseline-policies`` (default: every
  policy); the ratio compares requests/s, and the two runs' records are compared request by
  request (``same``: every link end and first-token time within 1e-9 relative, equal hits).
* **Many devices**: ``--big-users`` devices (default 10x ``--users``) x ``--big-requests``
  requests each (default ``--requests`` / 10: the same total) of ``--big-policies`` on the
  star engine: how the cost grows with devices (skipped when that is 0 requests).
* **One device**: the network engine vs the single-link SimPy engine on the same 20,000
  requests (the price of generality when there is nothing to share).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.cli import Parser, add_common, command, progress, run_main
from policies import make_policy
from sim.cell import build_topology
from sim.engine import simulate
from sim.multiuser import USER_RECORD_COLUMNS, simulate_network
from sim.scenario import Scenario
from sim.simulation import build_costs, build_trace, build_workload, policy_context

DEFAULT_POLICIES = "scout,cloud-text,edge-local,adaptive,mpc,int4,int8"
ONE_DEVICE_REQUESTS = 20_000


@dataclass
class CellRun:
    """One timed run of a cell."""

    seconds: float
    requests: int
    events: int
    span_s: float
    hit_rate: float
    records: pd.DataFrame

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


def _cell_run(s: Scenario, policy: str, requests: int, independent: bool = True,
              star: bool = True) -> CellRun:
    s = Scenario(**{**s.to_dict(), "requests": requests})
    topo = build_topology(s)
    costs = build_costs(s)
    context = policy_context(s, costs)
    workloads = [build_workload(s, i).requests() for i in range(len(topo.devices))]

    def make(_i: int):
        p = make_policy(policy)[1]
        p.reset(context)
        return p

    t0 = time.perf_counter()
    r = simulate_network(policy, make, workloads, topo, costs, independent=independent,
                         star=star)
    elapsed = time.perf_counter() - t0
    df = pd.DataFrame.from_records(r.rows, columns=USER_RECORD_COLUMNS)
    df = df.sort_values(["user", "request"], kind="stable", ignore_index=True)
    hit = float(df["hit"].mean()) if len(df) else 0.0
    return CellRun(elapsed, len(df), r.network_events, r.end_s, hit, df)


def same_records(a: pd.DataFrame, b: pd.DataFrame, rel: float = 1e-9) -> tuple[bool, float]:
    """(every link end and first-token time within ``rel`` and equal hits, the largest
    relative difference of those times)."""
    worst = 0.0
    for col in ("link_end_s", "first_token_s"):
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        if not np.array_equal(np.isfinite(x), np.isfinite(y)):
            return False, float("inf")
        ok = np.isfinite(x) & (y != 0)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.abs(y[ok]))))
    return worst <= rel and bool((a["hit"] == b["hit"]).all()), worst


def _policies(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


@command
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 2 bad input)."""
    ap = Parser(prog="python -m experiments.bench_network", description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100)
    add_common(ap, "requests", default=1000, help="requests per device")
    ap.add_argument("--policies", default=DEFAULT_POLICIES)
    ap.add_argument("--baseline-requests", type=int, default=100,
                    help="requests per device for the general-engine baseline")
    ap.add_argument("--baseline-policies", default=None,
                    help="policies for the baseline (default: --policies)")
    ap.add_argument("--big-users", type=int, default=None,
                    help="devices of the big cell (default: 10x --users)")
    ap.add_argument("--big-requests", type=int, default=None,
                    help="requests per device of the big cell (default: --requests / 10; "
                    "0: skip it)")
    ap.add_argument("--big-policies", default="int8,scout")
    add_common(ap, "quiet", help="no progress bar (it shows only on a terminal)")
    args = ap.parse_args(argv)
    base = Scenario(users=args.users)
    policies = _policies(args.policies)
    baseline = set(_policies(args.baseline_policies or args.policies))
    print(f"cell: {args.users} devices x {args.requests} requests, traces/lte.csv radio, "
          f"50 Mbit/s cell, FIFO cloud; star engine (water-filling)")
    print(f"{'policy':<12}{'seconds':>9}{'req/s':>10}{'events':>10}{'span s':>10}"
          f"{'hit':>7}   baseline ({args.baseline_requests}/device): general engine vs star "
          "(the star shortcut off vs on)")
    for policy in progress(policies, desc="policies", quiet=args.quiet):
        run = _cell_run(base, policy, args.requests)
        line = (f"{policy:<12}{run.seconds:>9.2f}{run.per_s:>10,.0f}{run.events:>10,}"
                f"{run.span_s:>10,.0f}{run.hit_rate:>7.3f}")
        if policy in baseline:
            on = _cell_run(base, policy, args.baseline_requests)
            off = _cell_run(base, policy, args.baseline_requests, star=False)
            same, worst = same_records(on.records, off.records)
            line += (f"   {off.seconds:.2f} s vs {on.seconds:.2f} s: "
                     f"{on.per_s / off.per_s:.1f}x, {'same' if same else 'DIFFERENT'} "
                     f"(max rel diff {worst:.1e})")
        print(line, flush=True)
    big_users = 10 * args.users if args.big_users is None else args.big_users
    big_requests = args.requests // 10 if args.big_requests is None else args.big_requests
    if big_requests > 0:
        big = Scenario(users=big_users)
        for policy in progress(_policies(args.big_policies), desc="big cell", quiet=args.quiet):
            run = _cell_run(big, policy, big_requests)
            print(f"{big_users} devices x {big_requests} requests, {policy:<6}: "
                  f"{run.seconds:.2f} s, {run.per_s:,.0f} req/s, {run.events:,} events, "
                  f"span {run.span_s:,.0f} s, hit {run.hit_rate:.3f}", flush=True)
    # one device: network engine vs the single-link engine
    s1 = Scenario(requests=ONE_DEVICE_REQUESTS, engine="network")
    for policy in progress(("int8", "scout", "adaptive"), desc="one device", quiet=args.quiet):
        costs = build_costs(s1)
        context = policy_context(s1, costs)
        reqs = build_workload(s1).requests()
        p = make_policy(policy)[1]
        p.reset(context)
        t0 = time.perf_counter()
        simulate(policy, p, reqs, build_trace(s1), costs, default_rtt_s=s1.rtt_ms / 1e3)
        single = time.perf_counter() - t0
        net = _cell_run(s1, policy, ONE_DEVICE_REQUESTS).seconds
        print(f"one device, {policy:<9}: single-link engine {len(reqs) / single:,.0f} req/s, "
              f"network engine {len(reqs) / net:,.0f} req/s ({single / net:.2f}x)")
    return 0


if __name__ == "__main__":
    run_main(main)
