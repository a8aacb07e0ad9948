"""A FIFO fluid link over a :class:`~sim.traces.Trace`.

One transfer at a time, in order of readiness (FIFO); a transfer that starts at ``s``
finishes at the exact solution of ``C(t) - C(s) = size / efficiency`` on the trace's
cumulative capacity curve. Each message then spends the one-way latency RTT(s)/2 in flight,
which does not hold the link (propagation overlaps the next transfer's serialisation).
"""

from __future__ import annotations

from models.pipeline import fifo_start_s
from sim.traces import Trace


class FluidLink:
    """FIFO fluid link. ``efficiency`` (0-1] scales capacity to goodput (headers, ACKs)."""

    def __init__(self, trace: Trace, *, default_rtt_s: float, efficiency: float = 1.0):
        self.trace = trace
        self.default_rtt_s = default_rtt_s
        self.efficiency = efficiency
        self.free_at_s = 0.0
        self.bytes_sent = 0.0

    def send(self, ready_s: float, size_bytes: float) -> tuple[float, float]:
        """Queue a transfer ready at ``ready_s``; returns its (start, end of serialisation)."""
        start = fifo_start_s(ready_s, self.free_at_s)
        end = self.trace.finish_time(start, size_bytes / self.efficiency)
        self.free_at_s = end
        self.bytes_sent += size_bytes
        return start, end

    def one_way_latency_s(self, t_s: float) -> float:
        """Half the RTT at ``t_s`` (the trace's RTT column, else the default)."""
        return 0.5 * self.trace.rtt_at(t_s, self.default_rtt_s)
