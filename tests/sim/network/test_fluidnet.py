"""The shared fluid network against closed forms and queueing theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network.fluidnet import SharedFluidNetwork
from sim.traces import Trace
from tests.sim.network.capacity import capacity_violations

MBPS = 125_000.0


def run_all(net: SharedFluidNetwork, flows: list[tuple]) -> dict:
    """Add (key, route, size, start) flows in start order; returns key -> finish time."""
    pending = sorted(flows, key=lambda f: f[3])
    done: dict = {}
    while pending or net.flows:
        t_next = net.next_event_s()
        if pending and pending[0][3] <= t_next:
            key, route, size, start = pending.pop(0)
            net.add(key, route, size, start)
            for f in net.advance(start):
                done[f.key] = start
            continue
        if math.isinf(t_next):
            break
        for f in net.advance(t_next):
            done[f.key] = t_next
    return done


def lte_like(seed: int = 0, n: int = 120) -> Trace:
    rng = np.random.default_rng(seed)
    caps = rng.lognormal(np.log(5 * MBPS), 0.8, n)
    caps[rng.random(n) < 0.05] = 0.0  # outages
    caps[0] = 5 * MBPS
    return Trace.from_arrays(np.arange(n, dtype=float), caps, name="lte-like")


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 500), st.floats(1, 5e7), st.integers(0, 3))
def test_lone_flow_is_exactly_the_single_link_result(start, size, seed):
    """One transfer on an otherwise idle path (trace + a cell and a backhaul wider than the
    trace's peak) finishes at exactly Trace.finish_time, bit for bit."""
    trace = lte_like(seed)
    cell_mbps = 1.01 * trace.max_capacity_bytes_per_s / MBPS
    net = SharedFluidNetwork({"radio": trace, "cell": Trace.constant(cell_mbps),
                              "backhaul": Trace.constant(1000.0), "free": None})
    done = run_all(net, [("f", ["radio", "cell", "backhaul", "free"], size, start)])
    assert done["f"] == trace.finish_time(start, size)
    general = SharedFluidNetwork({"radio": trace, "cell": Trace.constant(cell_mbps)},
                                 independent=False)
    t = run_all(general, [("f", ["radio", "cell"], size, start)])["f"]
    assert t == pytest.approx(trace.finish_time(start, size), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 17])
@pytest.mark.parametrize("independent", [True, False])
def test_n_identical_transfers_finish_together_at_n_times(n, independent):
    link = Trace.constant(8.0)  # 1,000,000 bytes/s
    size = 3_000_000.0
    net = SharedFluidNetwork({"l": link}, independent=independent)
    done = run_all(net, [(i, ["l"], size, 0.0) for i in range(n)])
    assert len(done) == n
    for t in done.values():
        assert t == pytest.approx(n * 3.0, rel=1e-12)


def test_textbook_two_flow_schedule():
    """a on link x (4 B/s); b on x and y (1 B/s). b gets 1, a gets 3 until a (3 B) ends at
    1 s; then b alone, still 1 B/s, ends its 2 B at 2 s."""
    x = Trace.constant(4 / MBPS)
    y = Trace.constant(1 / MBPS)
    for independent in (True, False):
        net = SharedFluidNetwork({"x": x, "y": y}, independent=independent)
        done = run_all(net, [("a", ["x"], 3.0, 0.0), ("b", ["x", "y"], 2.0, 0.0)])
        assert done["a"] == pytest.approx(1.0, rel=1e-12)
        assert done["b"] == pytest.approx(2.0, rel=1e-12)


def test_rate_change_mid_transfer():
    """Two flows share a link whose capacity doubles at 1 s: each gets 0.5 then 1 B/s."""
    trace = Trace.from_arrays([0.0, 1.0], [1 / MBPS * MBPS, 2.0], last_duration_s=1e9)
    net = SharedFluidNetwork({"l": trace}, independent=False)
    done = run_all(net, [("a", ["l"], 1.5, 0.0), ("b", ["l"], 1.5, 0.0)])
    assert done == pytest.approx({"a": 2.0, "b": 2.0}, rel=1e-12)


def random_flows(rng, links, n, horizon):
    flows = []
    for i in range(n):
        route = list(rng.choice(links, size=rng.integers(1, len(links) + 1), replace=False))
        flows.append((i, route, float(rng.lognormal(np.log(2e6), 1.0)),
                      float(rng.uniform(0, horizon))))
    return flows


@pytest.mark.parametrize("seed", range(6))
def test_regimes_agree_and_conserve(seed):
    """The same random workload on radio traces, a shared cell and a backhaul, with and
    without the independent-bottleneck shortcut: identical finish times (rel 1e-9); every
    flow delivers its bytes; no link carries more than its capacity allowed."""
    rng = np.random.default_rng(seed)
    links = {"r0": lte_like(seed), "r1": lte_like(seed + 10), "cell": Trace.constant(12.0),
             "bh": Trace.constant(100.0)}
    names = list(links)
    flows = random_flows(rng, names, 40, 200.0)
    fast = SharedFluidNetwork(links)
    slow = SharedFluidNetwork(links, independent=False)
    a, b = run_all(fast, flows), run_all(slow, flows)
    assert a.keys() == b.keys() == {f[0] for f in flows}
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9)
    end = max(a.values())
    total = sum(f[2] for f in flows)
    for name, trace in links.items():
        assert slow.carried_bytes[name] <= trace.cumulative_bytes(end) * (1 + 1e-9)
        assert fast.carried_bytes[name] == pytest.approx(slow.carried_bytes[name], rel=1e-9)
    crossing = {n: sum(f[2] for f in flows if n in f[1]) for n in names}
    for n in names:
        assert slow.carried_bytes[n] == pytest.approx(crossing[n], rel=1e-9)
    assert total > 0


def short_looping(seed: int, offset_s: float) -> Trace:
    """A 12-s looping trace of 0.3-s segments (outages included), started ``offset_s`` in:
    from the second period on, its boundaries ``k * 12 + t_j`` are inexact float sums."""
    rng = np.random.default_rng(seed)
    n = 40
    caps = rng.lognormal(np.log(4 * MBPS), 0.7, n)
    caps[rng.random(n) < 0.05] = 0.0
    caps[0] = 4 * MBPS
    return Trace.from_arrays(np.arange(n) * 0.3, caps, last_duration_s=0.3).rotated(offset_s)


@pytest.mark.parametrize("independent", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_no_link_above_its_capacity_in_any_segment(seed, independent):
    """Radio links on looping traces behind a shared cell, over ~50 periods: in every
    interval of constant rates, no link's allocated rate exceeds the least capacity its
    trace offers in that interval (rel 1e-9). The whole-run conservation test cannot see
    a capacity drop the allocation skipped; this per-segment check does."""
    rng = np.random.default_rng([15, seed])
    links: dict[str, Trace] = {f"r{i}": short_looping(10 * seed + i, float(rng.uniform(0, 12)))
                               for i in range(4)}
    links |= {"cell": Trace.constant(9.0), "bh": Trace.constant(100.0)}
    flows = [(i, [f"r{rng.integers(4)}", "cell", "bh"], float(rng.lognormal(np.log(1e6), 1.0)),
              float(rng.uniform(0, 600.0))) for i in range(200)]
    net = SharedFluidNetwork(links, independent=independent)
    net.allocation_log = []
    done = run_all(net, flows)
    assert len(done) == len(flows)
    log = net.allocation_log
    assert len(log) > 500 and log[-1][1] > 40 * 12.0  # many segments, many periods
    assert capacity_violations(links, log) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_conservation_property(seed):
    """Bytes carried by a link never exceed the integral of its capacity, at every event."""
    rng = np.random.default_rng(seed)
    links = {"a": lte_like(seed % 7), "b": Trace.constant(float(rng.uniform(1, 30))),
             "c": lte_like(seed % 5 + 20)}
    flows = sorted(random_flows(rng, list(links), 15, 60.0), key=lambda f: f[3])
    net = SharedFluidNetwork(links, independent=bool(seed % 2))
    while flows or net.flows:
        t = net.next_event_s()
        if flows and flows[0][3] <= t:
            k, route, size, start = flows.pop(0)
            net.add(k, route, size, start)
        else:
            net.advance(t)
        for name, trace in links.items():
            assert net.carried_bytes[name] <= trace.cumulative_bytes(net.now_s) * (1 + 1e-9) + 1e-6


def test_processor_sharing_matches_mm1_ps():
    """Poisson arrivals, exponential sizes, one constant link at load 0.7: the M/M/1-PS mean
    sojourn time E[S] / (1 - rho). 16 independent replications of 4,000 jobs (the first 500
    dropped as warm-up); the t-interval of the replication means must cover theory."""
    capacity, mean_size, rho = 1_000_000.0, 100_000.0, 0.7
    lam = rho * capacity / mean_size
    means = []
    for rep in range(16):
        rng = np.random.default_rng([7, rep])
        n = 4000
        starts = np.cumsum(rng.exponential(1 / lam, n))
        sizes = rng.exponential(mean_size, n)
        net = SharedFluidNetwork({"l": Trace.constant(capacity / MBPS)})
        done = run_all(net, [(i, ["l"], sizes[i], starts[i]) for i in range(n)])
        means.append(np.mean([done[i] - starts[i] for i in range(500, n)]))
    mean, half = np.mean(means), 2.131 * np.std(means, ddof=1) / math.sqrt(len(means))
    theory = mean_size / capacity / (1 - rho)
    assert abs(mean - theory) <= half, (mean, half, theory)
    assert half / theory < 0.1  # the test has power: CI within 10% of the mean


def test_time_cannot_go_backwards_and_events_are_not_skipped():
    net = SharedFluidNetwork({"l": Trace.constant(8.0)})
    net.add("a", ["l"], 1e6, 0.0)
    with pytest.raises(ValueError):
        net.advance(net.next_event_s() + 1.0)
    net.advance(0.5)
    with pytest.raises(ValueError):
        net.advance(0.1)
    with pytest.raises(ValueError):
        net.add("a", ["l"], 1.0, 0.6)
    with pytest.raises(KeyError):
        net.add("b", ["nope"], 1.0, 0.6)


def test_clipped_trace_never_finishes():
    trace = Trace.from_arrays([0.0], [1000.0], last_duration_s=1.0, end="clip")
    for independent in (True, False):
        net = SharedFluidNetwork({"l": trace}, independent=independent)
        done = run_all(net, [("a", ["l"], 5000.0, 0.0), ("b", ["l"], 200.0, 0.0)])
        assert done == {"b": pytest.approx(0.4)}


@pytest.mark.parametrize("independent", [True, False])
def test_unconstrained_route_finishes_at_once(independent):
    """A flow whose links are all unconstrained finishes when it starts (it once looped
    forever at that instant); the others are unaffected."""
    net = SharedFluidNetwork({"free": None, "l": Trace.constant(8.0)}, independent=independent)
    done = run_all(net, [("b", ["l"], 1e6, 0.0), ("a", ["free"], 1e6, 0.5)])
    assert done == {"a": 0.5, "b": pytest.approx(1.0)}
