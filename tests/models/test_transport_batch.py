"""The array solver of the TCP model (:mod:`models.transport_batch`) against the scalar
model it mirrors, transfer by transfer, bit for bit: random traces (outages, fine
staircases, RTT columns, float-awkward periods), sizes, settings and queues; and the
trace's array scans against its scalar ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.transport import TcpConfig, TcpFlow
from models.transport_batch import batch_solvable, fifo_transfers
from sim.network import Link
from sim.traces import Trace

MBPS = 1e6 / 8


def _random_trace(rng, fine: bool = False, rtt: bool = False) -> Trace:
    n = int(rng.integers(1, 300))
    step = (0.001, 0.004) if fine else (0.05, 2.0)
    times = np.concatenate(([0.0], np.cumsum(rng.uniform(*step, n - 1))))
    caps = rng.choice([0.0, 2e3, 0.5 * MBPS, 3 * MBPS, 12 * MBPS, 40 * MBPS], size=n,
                      p=[0.08, 0.04, 0.18, 0.3, 0.3, 0.1])
    caps[0] = max(caps[0], 1 * MBPS)
    r = rng.uniform(0.01, 0.15, n) if rtt else None
    return Trace.from_arrays(times, caps, r, last_duration_s=float(rng.uniform(*step)))


def _scalar(trace, cfg, ready, sizes, free_s, rtt_s, eff):
    """The same queue, one transfer after another on TcpFlow (what Link.send did)."""
    flow = TcpFlow(trace, cfg, rtt_s=lambda t: trace.rtt_at(t, rtt_s), efficiency=eff)
    flow.free_s = free_s
    start, end = [], []
    for r, b in zip(ready, sizes, strict=True):
        s = r if r > flow.free_s else flow.free_s
        flow.send(r, b)
        start.append(s)
        end.append(flow.last.end_s)
    return np.array(start), np.array(end)


CONFIGS = [TcpConfig(), TcpConfig(cc="newreno"), TcpConfig(stack="ns3"),
           TcpConfig(handshake_rtts=2, initial_window_packets=4),
           TcpConfig(handshake_rtts=0), TcpConfig(buffer_packets=20),
           TcpConfig(cc="newreno", stack="ns3", buffer_packets=60, hystart=False)]


@pytest.mark.parametrize("seed", range(14))
def test_the_array_solver_is_the_scalar_model_transfer_by_transfer(seed):
    rng = np.random.default_rng(seed)
    trace = _random_trace(rng, fine=seed % 4 == 3, rtt=seed % 3 == 2)
    cfg = CONFIGS[seed % len(CONFIGS)]
    n = int(rng.integers(1, 400))
    # bursts and gaps: long queues and idle links in one run
    ready = np.cumsum(rng.exponential(rng.choice([0.05, 0.5, 5.0]), n)) + rng.uniform(0, 30)
    sizes = rng.choice([0, 300, 750, 22_000, 400_000, 2_500_000, 9_000_000], size=n)
    free_s = float(ready[0] + rng.choice([-1.0, 0.0, 3.0]))
    rtt_s, eff = float(rng.uniform(0.005, 0.12)), float(rng.choice([1.0, 0.95]))
    want = _scalar(trace, cfg, ready, sizes, free_s, rtt_s, eff)
    got = fifo_transfers(trace, cfg, ready, sizes, free_s=free_s, default_rtt_s=rtt_s,
                         efficiency=eff)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_the_link_uses_the_array_solver_only_where_it_applies():
    trace = Trace.from_arrays([0.0, 1.0, 2.0], [3 * MBPS, 0.0, 5 * MBPS])
    assert batch_solvable(trace, TcpConfig())
    assert not batch_solvable(trace, TcpConfig(connection="persistent"))
    assert not batch_solvable(trace.with_end("clip"), TcpConfig())
    ready = np.arange(50) * 0.3
    for cfg in (TcpConfig(), TcpConfig(connection="persistent")):
        one = Link(trace, default_rtt_s=0.04, tcp=cfg)
        by_one = np.array([one.send(r, 1e6) for r in ready])
        link = Link(trace, default_rtt_s=0.04, tcp=cfg)
        start, end = link.send_all(ready, np.full(50, 1e6))
        np.testing.assert_array_equal(np.column_stack((start, end)), by_one)
        assert link.free_at_s == one.free_at_s and link.bytes_sent == one.bytes_sent


@pytest.mark.parametrize("seed", range(8))
def test_array_scans_are_the_scalar_scans(seed):
    rng = np.random.default_rng(100 + seed)
    trace = _random_trace(rng, fine=seed % 2 == 1)
    if seed % 4 == 2:  # a period whose multiples round: segment starts that coincide
        trace = Trace.from_arrays(trace.times_s * 0.1 + 1e-17, trace.capacity_bytes_per_s,
                                  last_duration_s=0.1 / 3)
    d = trace.duration_s
    t = np.concatenate((rng.uniform(0, 40 * d, 300), trace.times_s[:50] + 7 * d,
                        [0.0, d, 3 * d]))
    horizon = t + rng.uniform(0, 2 * d, t.size) * rng.choice([0.0, 0.1, 1.0], t.size)
    np.testing.assert_array_equal(trace.capacity_at_array(t),
                                  [trace.capacity_at(x) for x in t])
    for x in (1e3, 1 * MBPS, 10 * MBPS):
        np.testing.assert_array_equal(
            trace.next_drop_below_array(t, x, horizon),
            [trace.next_drop_below_s(a, x, h) for a, h in zip(t, horizon, strict=True)])
    thr = rng.choice([1e3, 1 * MBPS, 10 * MBPS, 100 * MBPS], t.size)
    np.testing.assert_array_equal(
        trace.next_rise_above_array(t, thr, horizon),
        [trace.next_rise_above_s(a, x, h) for a, x, h in zip(t, thr, horizon, strict=True)])
    assert math.isinf(trace.next_rise_above_array(t[:1], np.array([1e12]), t[:1] + d)[0])


@pytest.mark.parametrize("seed", range(6))
def test_which_starts_are_tried_changes_no_answer(seed, monkeypatch):
    """Transfers the fluid link would queue wait for their predecessor's end instead of
    starting at their ready time: the same starts and ends as trying every one (the hint
    off), and as trying none early (every transfer but the first waits)."""
    import models.transport_batch as tb

    rng = np.random.default_rng(300 + seed)
    trace = _random_trace(rng, fine=seed % 3 == 2)
    cfg = CONFIGS[seed % len(CONFIGS)]
    n = int(rng.integers(20, 300))
    ready = np.cumsum(rng.exponential(rng.choice([0.05, 0.5, 5.0]), n))
    sizes = rng.choice([0, 750, 22_000, 400_000, 2_500_000, 6_000_000], size=n)
    kw = dict(free_s=0.0, default_rtt_s=0.05, efficiency=1.0)
    hinted = fifo_transfers(trace, cfg, ready, sizes, **kw)
    for wait in (np.zeros(n, bool), np.ones(n, bool)):
        monkeypatch.setattr(tb, "_fluid_queued", lambda *a, w=wait: w.copy())
        other = fifo_transfers(trace, cfg, ready, sizes, **kw)
        np.testing.assert_array_equal(other[0], hinted[0])
        np.testing.assert_array_equal(other[1], hinted[1])
