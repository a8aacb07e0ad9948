"""Shallow buffers on bursty links: the per-RTT delivery minima (:mod:`models.burst`)
against brute force, their array reading against the scalar one, the TCP model's use of
them (the array solver still the scalar model bit for bit where they bind), and a write's
first window dropped at the tail of a shallow buffer (a timeout by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.burst import WindowMinima, window_minima
from models.transport import TcpConfig, TcpFlow
from models.transport_batch import batch_solvable, fifo_transfers
from sim.traces import Trace

MBPS = 1e6 / 8


def _staircase(rng, n: int = 3000, end: str = "loop") -> Trace:
    """mahimahi-like: 1-ms delivery opportunities, bursts of several packets, empty
    stretches of up to 40 ms."""
    times = np.concatenate(([0.0], np.cumsum(rng.choice([0.001, 0.002, 0.005, 0.04], n - 1,
                                                        p=[0.6, 0.2, 0.15, 0.05]))))
    caps = rng.choice([0.0, 12 * MBPS, 24 * MBPS, 60 * MBPS], size=n, p=[0.4, 0.3, 0.2, 0.1])
    caps[0] = 12 * MBPS
    return Trace.from_arrays(times, caps, last_duration_s=0.001, end=end)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("end", ["loop", "clip"])
def test_the_minima_are_the_least_delivery_over_a_window_in_each_bin(seed, end):
    rng = np.random.default_rng(seed)
    trace = _staircase(rng, end=end)
    window, bin_s = float(rng.choice([0.02, 0.05, 0.1])), 0.05
    wm = WindowMinima(trace, window, bin_s)
    # brute force on a grid of 0.1 ms (the minimum lies at a breakpoint: the grid can only
    # find more, by at most the steepest slope times the step)
    step = 1e-4
    x = np.arange(0.0, trace.duration_s, step)
    if end == "loop":
        d = trace.cumulative_bytes_array(x + trace.duration_s) - \
            trace.cumulative_bytes_array(x + trace.duration_s - window)
    else:
        d = trace.cumulative_bytes_array(x) - trace.cumulative_bytes_array(
            np.maximum(x - window, 0.0))
    k = np.searchsorted(np.arange(wm.nbins) * bin_s, x, side="right") - 1
    brute = np.full(wm.nbins, np.inf)
    np.minimum.at(brute, k, d)
    slack = 2 * trace.max_capacity_bytes_per_s * step
    assert np.all(wm.minima <= brute + 1e-6)
    assert np.all(wm.minima >= brute - slack)
    assert wm.minima.min() < 0.5 * np.median(d)  # bursty: the floor is far below the mean


@pytest.mark.parametrize("end", ["loop", "clip"])
def test_the_array_reading_is_the_scalar_one(end):
    rng = np.random.default_rng(7)
    trace = _staircase(rng, end=end)
    wm = WindowMinima(trace, 0.03, 0.05)
    p = trace.duration_s
    t0 = rng.uniform(0, 3 * p, 3000)
    t1 = t0 + rng.choice([0.0, 0.01, 0.2, 1.0, 0.9 * p, 2 * p], 3000)
    got = wm.min_bytes_array(t0, t1)
    want = np.array([wm.min_bytes(a, b) for a, b in zip(t0, t1, strict=True)])
    np.testing.assert_array_equal(got, want)
    if end == "clip":
        assert wm.min_bytes(p + 1.0, p + 2.0) == 0.0
    # the reading over a whole period is the least bin; the cache returns one object
    assert wm.min_bytes(0.0, 5 * p) == wm.minima.min()
    assert window_minima(trace, 0.03, 0.05) is window_minima(trace, 0.03, 0.05)


def _transfers(trace, cfg, floor: bool, ready, sizes, rtt_s):
    flow = TcpFlow(trace, cfg, rtt_s=rtt_s)
    if not floor:
        flow._minima = False
    ends = []
    for r, b in zip(ready, sizes, strict=True):
        flow.send(r, b)
        ends.append(flow.last.end_s)
    return np.array(ends)


@pytest.mark.parametrize("seed", range(3))
def test_the_floor_binds_on_a_bursty_link_and_the_array_solver_follows_it(seed):
    rng = np.random.default_rng(100 + seed)
    trace = _staircase(rng)
    cfg = TcpConfig(buffer_packets=int(rng.choice([12, 20, 40])),
                    cc=str(rng.choice(["cubic", "newreno"])))
    assert batch_solvable(trace, cfg)
    n = 60
    ready = np.cumsum(rng.exponential(1.0, n))
    sizes = rng.choice([22_000, 400_000, 2_500_000], size=n).astype(float)
    rtt = 0.04
    with_floor = _transfers(trace, cfg, True, ready, sizes, rtt)
    without = _transfers(trace, cfg, False, ready, sizes, rtt)
    assert np.any(with_floor != without)  # the minima change some transfers here
    assert np.all(with_floor >= without - 1e-9) or np.mean(with_floor >= without) > 0.9
    _, got = fifo_transfers(trace, cfg, ready, sizes, free_s=0.0, default_rtt_s=rtt,
                            efficiency=1.0)
    np.testing.assert_array_equal(got, with_floor)


def test_a_write_within_the_window_loses_its_tail_in_a_shallow_buffer_and_times_out():
    """A persistent connection with a window of 30 segments writes 16 segments into a
    buffer of 5 packets on a constant link: 5 get through, 11 are dropped at the tail, no
    duplicate ACK follows; the timer fires one RTO after the 5th packet's ACK, and the 11
    go again in slow start from one segment."""
    rate = 10 * MBPS
    trace = Trace.constant(10.0)
    cfg = TcpConfig(connection="persistent", buffer_packets=5, initial_window_packets=30)
    rtt = 0.05
    flow = TcpFlow(trace, cfg, rtt_s=rtt)
    flow.open_idle()
    rto = flow.rto_s
    t0 = 1.0
    end = flow.send(t0, 16 * 1448)
    st = flow.last
    assert st.timeouts == 1 and st.losses >= 1
    pkt = 1514 / rate
    fire = t0 + 5 * pkt + rtt + rto
    # the retransmission: rounds of 1, 2, 4 (and the rest, 4) segments, each waiting for
    # the first packet's ACK of the round before; the link never fills at 10 Mbit/s
    t, left, cwnd = fire, 11, 1
    while True:
        w = min(cwnd, left)
        left -= w
        if left <= 0:
            t += w * pkt
            break
        t = t + max(w * pkt, pkt + rtt)
        cwnd *= 2
    assert end == pytest.approx(t + rtt / 2, rel=1e-9)
    # more data after the window: its duplicate ACKs repair the loss without a timeout
    flow2 = TcpFlow(trace, cfg, rtt_s=rtt)
    flow2.open_idle()
    flow2.send(t0, 40 * 1448)
    assert flow2.last.timeouts == 0 and flow2.last.losses >= 1
    assert math.isfinite(flow2.last.end_s)


@pytest.mark.parametrize("buffer_packets, timeouts", [(2, 1), (5, 0)])
def test_an_initial_window_into_a_tiny_buffer_times_out_without_three_duplicate_acks(
        buffer_packets, timeouts):
    """A new connection's 10-segment initial window of a 16-segment write into a buffer of
    2 packets: 8 dropped; the 6 segments after them meet the same full queue, 2 get
    through, too few for fast retransmit: a timeout. With 5 packets of buffer, 5 of the
    next burst get through: fast retransmit, no timeout."""
    trace = Trace.constant(1.0)
    flow = TcpFlow(trace, TcpConfig(buffer_packets=buffer_packets), rtt_s=0.05)
    flow.send(1.0, 16 * 1448)
    assert flow.last.timeouts == timeouts and flow.last.losses >= 1
