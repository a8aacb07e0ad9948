"""A FIFO fluid link over a :class:`~sim.traces.Trace`.

One transfer at a time, in order of readiness (FIFO); a transfer that starts at ``s``
finishes at the exact solution of ``C(t) - C(s) = size / efficiency`` on the trace's
cumulative capacity curve. Each message then spends the one-way latency RTT(s)/2 in flight,
which does not hold the link (propagation overlaps the next transfer's serialisation); with
``latency="before"`` it instead waits one RTT(s) holding the idle link, then flows, and
arrives when its last byte does (Sabre).
"""

from __future__ import annotations

from models.pipeline import bytes_start_s, fifo_start_s
from sim.traces import Trace


class FluidLink:
    """FIFO fluid link. ``efficiency`` (0-1] scales capacity to goodput (headers, ACKs)."""

    def __init__(self, trace: Trace, *, default_rtt_s: float, efficiency: float = 1.0,
                 latency: str = "after"):
        self.trace = trace
        self.default_rtt_s = default_rtt_s
        self.efficiency = efficiency
        self.latency = latency  # models.pipeline.LATENCY_PLACEMENTS
        self.free_at_s = 0.0
        self.bytes_sent = 0.0

    def send(self, ready_s: float, size_bytes: float) -> tuple[float, float]:
        """Queue a transfer ready at ``ready_s``; returns its (start, end of serialisation)."""
        start = fifo_start_s(ready_s, self.free_at_s)
        end = self.transfer_end_s(start, size_bytes)
        self.free_at_s = end
        self.bytes_sent += size_bytes
        return start, end

    def transfer_end_s(self, start_s: float, size_bytes: float) -> float:
        """End of a transfer that takes the link at ``start_s`` (with the latency
        ``before``, the link idles one RTT first)."""
        first = bytes_start_s(start_s, 2 * self.one_way_latency_s(start_s), self.latency)
        return self.trace.finish_time(first, size_bytes / self.efficiency)

    def one_way_latency_s(self, t_s: float) -> float:
        """Half the RTT at ``t_s`` (the trace's RTT column, else the default)."""
        return 0.5 * self.trace.rtt_at(t_s, self.default_rtt_s)
