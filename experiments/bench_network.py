"""Benchmark of the network engine: a cell of many devices, per policy.

Run: ``python -m experiments.bench_network [--users 100] [--requests 1000] [--policies ...]
[--baseline-requests 100]``.

What is measured (wall-clock, ``time.perf_counter``, one run each; building the topology,
costs and workloads is not timed):

* **Cell**: ``--users`` devices of the default scenario (``traces/lte.csv`` radio links at
  random positions, a 50 Mbit/s cell uplink, 1 Gbit/s backhaul, qwen2.5-7b on Orin ->
  qwen2.5-14b on H100, FIFO cloud), ``--requests`` Poisson requests per device every 10 s on
  average. Reported per policy: seconds, simulated requests per second, fluid-network
  allocations computed (events), the simulated span, and the hit rate (a sanity check).
* **Baseline, side by side**: the same cell with the independent-bottleneck shortcut turned
  off (progressive filling at every start, finish and capacity change), on the first
  ``--baseline-requests`` requests per device; the ratio compares requests/s. Both give the
  same finish times (tested in ``tests/sim/network/test_fluidnet.py``).
* **One device**: the network engine vs the single-link SimPy engine on the same 20,000
  requests (the price of generality when there is nothing to share).

Overloaded policies (KV transfers from 100 phones through one 50 Mbit/s cell) keep every
device's uplink busy for the whole run, so the network changes allocation at every capacity
change of a link in use: their cost grows with the simulated span, not only with requests.
"""

from __future__ import annotations

import time

from models.cli import Parser, add_common, command, progress, run_main
from policies import make_policy
from sim.cell import build_topology
from sim.engine import simulate
from sim.multiuser import simulate_network
from sim.scenario import Scenario
from sim.simulation import build_costs, build_trace, build_workload, policy_context

DEFAULT_POLICIES = "scout,cloud-text,edge-local,adaptive,int4,int8"
ONE_DEVICE_REQUESTS = 20_000


def _cell_run(s: Scenario, policy: str, requests: int, independent: bool = True):
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
    r = simulate_network(policy, make, workloads, topo, costs, independent=independent)
    elapsed = time.perf_counter() - t0
    hits = sum(1 for row in r.rows if row[-5])  # the hit column
    return elapsed, len(r.rows), r.network_events, r.end_s, hits / max(1, len(r.rows))


@command
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 2 bad input)."""
    ap = Parser(prog="python -m experiments.bench_network", description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100)
    add_common(ap, "requests", default=1000, help="requests per device")
    ap.add_argument("--policies", default=DEFAULT_POLICIES)
    ap.add_argument("--baseline-requests", type=int, default=100,
                    help="requests per device for the no-shortcut baseline")
    add_common(ap, "quiet", help="no progress bar (it shows only on a terminal)")
    args = ap.parse_args(argv)
    base = Scenario(users=args.users)
    print(f"cell: {args.users} devices x {args.requests} requests, traces/lte.csv radio, "
          f"50 Mbit/s cell, FIFO cloud")
    print(f"{'policy':<12}{'seconds':>9}{'req/s':>10}{'events':>10}{'span s':>10}"
          f"{'hit':>7}   baseline ({args.baseline_requests}/device): shortcut off vs on")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for policy in progress(policies, desc="policies", quiet=args.quiet):
        sec, n, events, span, hit = _cell_run(base, policy, args.requests)
        b_on = _cell_run(base, policy, args.baseline_requests)
        b_off = _cell_run(base, policy, args.baseline_requests, independent=False)
        ratio = (b_on[1] / b_on[0]) / (b_off[1] / b_off[0])
        print(f"{policy:<12}{sec:>9.2f}{n / sec:>10,.0f}{events:>10,}{span:>10,.0f}{hit:>7.3f}"
              f"   {b_off[0]:.2f} s vs {b_on[0]:.2f} s: {ratio:.2f}x", flush=True)
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
        net, *_ = _cell_run(s1, policy, ONE_DEVICE_REQUESTS)
        print(f"one device, {policy:<9}: single-link engine {len(reqs) / single:,.0f} req/s, "
              f"network engine {len(reqs) / net:,.0f} req/s ({single / net:.2f}x)")
    return 0


if __name__ == "__main__":
    run_main(main)
