"""Starved windows (:mod:`models.starved`) and the TCP model's skip over the stretches in
which no retransmission timer can fire: the spans hold every starved instant (checked on a
dense grid against the cumulative capacity), and :class:`~models.transport.TcpFlow` with
the skip gives exactly the transfers of the plain walk over every low-capacity segment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import transport
from models.starved import any_starved_array, next_starved_s, starved_spans
from models.transport import TcpConfig, TcpFlow
from sim.traces import Trace

MBPS = 1e6 / 8


def _trace(rng, end="loop", fine=False, outage_s=0.0) -> Trace:
    n = int(rng.integers(2, 200))
    step = (0.001, 0.004) if fine else (0.02, 1.5)
    gaps = rng.uniform(*step, n - 1)
    caps = rng.choice([0.0, 1e3, 5e3, 0.3 * MBPS, 3 * MBPS, 20 * MBPS], size=n)
    caps[0] = max(caps[0], MBPS)
    if outage_s and n > 2:  # one long outage in the middle
        caps[n // 2] = 0.0
        gaps[n // 2] = outage_s
    times = np.concatenate(([0.0], np.cumsum(gaps)))
    return Trace.from_arrays(times, caps, last_duration_s=float(rng.uniform(*step)), end=end)


@pytest.mark.parametrize("seed", range(12))
def test_every_starved_instant_lies_in_a_span(seed):
    rng = np.random.default_rng(seed)
    trace = _trace(rng, end="clip" if seed % 3 == 2 else "loop", fine=seed % 4 == 1)
    size, window = float(rng.choice([1514.0, 1600.0, 20_000.0])), float(rng.choice(
        [0.2, 0.05, 1.0]))
    spans = starved_spans(trace, size, window)
    lo, hi = spans
    assert np.all(np.diff(lo) > 0) and np.all(lo <= hi)
    periods = 3 if trace.end == "loop" else 1
    x = rng.uniform(0, trace.duration_s * periods, 4000)
    x = np.concatenate((x, np.asarray(trace.times_s) + 1e-9, np.asarray(trace.times_s)))
    starved = trace.cumulative_bytes_array(x + window) - trace.cumulative_bytes_array(x) < size
    for t in x[starved]:
        assert next_starved_s(trace, spans, float(t), math.inf) == t, t
    if trace.end == "loop":
        hit = any_starved_array(trace, spans, x, x + 1e-12)
        assert np.all(hit[starved])
    # and the spans are not the whole line: instants well inside carry enough (a clipped
    # trace's last window is starved whole)
    carried = trace.cumulative_bytes_array(x + window * 0.9) - trace.cumulative_bytes_array(x)
    fed = ~starved & (x < trace.duration_s * periods - window) & (carried > 2 * size)
    assert not any(next_starved_s(trace, spans, float(t), float(t) + 1e-12) == t
                   for t in x[fed][:200])


def test_next_starved_looks_into_the_next_period_and_stops_at_the_horizon():
    trace = Trace.from_arrays([0.0, 1.0, 1.5], [MBPS, 0.0, MBPS], last_duration_s=2.5)
    spans = starved_spans(trace, 1514.0, 0.2)
    t = next_starved_s(trace, spans, 2.0, math.inf)  # after this period's outage
    assert t == pytest.approx(4.0 + 1.0 - 1514 / MBPS, abs=1e-5)  # 1514 B before it
    assert next_starved_s(trace, spans, 2.0, 4.5) == math.inf
    assert next_starved_s(trace, spans, 1.2, 9.0) == 1.2  # inside it


@pytest.mark.parametrize("seed", range(16))
def test_the_skip_changes_no_transfer(seed, monkeypatch):
    """TcpFlow with the skip over unstarved stretches, against the plain walk (the skip
    switched off): every transfer's end, timeouts, losses and rounds the same."""
    rng = np.random.default_rng(100 + seed)
    trace = _trace(rng, end="clip" if seed % 5 == 4 else "loop", fine=seed % 3 == 0,
                   outage_s=float(rng.uniform(0.6, 3.0)))
    cfg = [TcpConfig(), TcpConfig(stack="ns3"), TcpConfig(connection="persistent"),
           TcpConfig(buffer_packets=20, cc="newreno"),
           TcpConfig(stack="ns3", connection="persistent")][seed % 5]
    ready = np.sort(rng.uniform(0, 1.5 * trace.duration_s, 60))
    sizes = rng.choice([750, 22_000, 1_000_000, 5_500_000], size=60)

    def run():
        flow = TcpFlow(trace, cfg, rtt_s=float(rng_rtt), efficiency=0.95)
        out = []
        for r, b in zip(ready, sizes, strict=True):
            flow.send(float(r), float(b))
            st = flow.last
            out.append((st.end_s, st.timeouts, st.losses, st.rounds, st.extra_wire_bytes))
        return out

    rng_rtt = rng.choice([0.02, 0.1])
    skipping = run()
    monkeypatch.setattr(transport.TcpFlow, "_starved_spans", lambda self: None)
    walking = run()
    assert skipping == walking
    assert sum(t for _, t, *_ in walking) > 0  # timers fired: the skip had work to do
