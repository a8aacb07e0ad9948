""":class:`~models.transport.TcpFlow` remembers the cumulative capacity at a round's start
and asks the trace for finish times from it (``Trace.finish_time_from``): the same
transfers, bit for bit, as over a trace that offers only ``finish_time`` (each call then
finds the level itself), on random traces with outages, RTT columns and fine staircases,
both connection kinds and several settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.transport import TcpConfig, TcpFlow
from sim.traces import Trace
from tests.models.test_transport_batch import CONFIGS, _random_trace


class _PlainTrace:
    """``trace`` without ``finish_time_from`` (and without its caches)."""

    def __init__(self, trace: Trace):
        self._trace = trace

    def __getattr__(self, name):
        if name == "finish_time_from":
            raise AttributeError(name)
        return getattr(self._trace, name)


def _run(trace, cfg: TcpConfig, ready, sizes) -> list:
    flow = TcpFlow(trace, cfg, rtt_s=lambda t: trace.rtt_at(t, 0.04))
    out = []
    for r, b in zip(ready.tolist(), sizes.tolist(), strict=True):
        out.append((flow.send(r, b), dataclasses.astuple(flow.last)))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_the_remembered_level_changes_no_transfer(seed):
    rng = np.random.default_rng(100 + seed)
    trace = _random_trace(rng, fine=seed % 4 == 3, rtt=seed % 3 == 2)
    cfg = CONFIGS[seed % len(CONFIGS)]
    if seed % 2:
        cfg = dataclasses.replace(cfg, connection="persistent")
    n = int(rng.integers(1, 120))
    ready = np.cumsum(rng.exponential(rng.choice([0.05, 0.5, 5.0]), n))
    sizes = rng.choice([0, 300, 22_000, 400_000, 2_500_000, 6_000_000], size=n)
    assert _run(trace, cfg, ready, sizes) == _run(_PlainTrace(trace), cfg, ready, sizes)
