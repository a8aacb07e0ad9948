"""A FIFO link over a :class:`~sim.traces.Trace`, carrying transfers by a transport.

One transfer at a time, in order of readiness (FIFO). With the ``fluid`` transport a
transfer that starts at ``s`` finishes at the exact solution of ``C(t) - C(s) = size /
efficiency`` on the trace's cumulative capacity curve; each message then spends the one-way
latency RTT(s)/2 in flight, which does not hold the link (propagation overlaps the next
transfer's serialisation); with ``latency="before"`` it instead waits one RTT(s) holding the
idle link, then flows, and arrives when its last byte does (Sabre). With a
:class:`~models.transport.TcpConfig` the transfers ride a TCP connection
(:class:`~models.transport.TcpFlow`: one per transfer, or one kept open), which sets when the
last byte leaves; the one-way latency follows as with the fluid.
"""

from __future__ import annotations

import copy

import numpy as np

from models.pipeline import bytes_start_s, fifo_start_s
from models.transport import TcpConfig, TcpFlow
from models.transport_batch import batch_solvable, fifo_transfers
from sim.traces import Trace


class Link:
    """FIFO link. ``efficiency`` (0-1] scales capacity to goodput (headers, ACKs; with TCP,
    losses other than the headers the model counts). ``tcp``: None for the fluid transport."""

    def __init__(self, trace: Trace, *, default_rtt_s: float, efficiency: float = 1.0,
                 latency: str = "after", tcp: TcpConfig | None = None):
        self.trace = trace
        self.default_rtt_s = default_rtt_s
        self.efficiency = efficiency
        self.latency = latency  # models.pipeline.LATENCY_PLACEMENTS
        self.tcp = tcp
        self.free_at_s = 0.0
        self.bytes_sent = 0.0
        self.flow = self._new_flow() if tcp is not None else None

    def _new_flow(self) -> TcpFlow:
        # a trace without an RTT column has the default RTT throughout: a constant
        rtt = self.default_rtt_s if self.trace.rtt_s is None else (
            lambda t: self.trace.rtt_at(t, self.default_rtt_s))
        return TcpFlow(self.trace, self.tcp, rtt_s=rtt, efficiency=self.efficiency)

    def send(self, ready_s: float, size_bytes: float) -> tuple[float, float]:
        """Queue a transfer ready at ``ready_s``; returns its (start, end of serialisation)."""
        start = fifo_start_s(ready_s, self.free_at_s)
        end = self._end_s(start, size_bytes, self.flow)
        self.free_at_s = end
        self.bytes_sent += size_bytes
        return start, end

    def send_all(self, ready_s: np.ndarray, size_bytes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`send` for transfers in joining order: arrays of (start, end)."""
        n = len(ready_s)
        sizes = np.broadcast_to(size_bytes, (n,))
        if n and self.flow is not None and self.latency == "after" and batch_solvable(
                self.trace, self.tcp):
            start, end = fifo_transfers(self.trace, self.tcp, ready_s, sizes,
                                        free_s=self.free_at_s,
                                        default_rtt_s=self.default_rtt_s,
                                        efficiency=self.efficiency)
            self.free_at_s = self.flow.free_s = float(end[-1])
            self.bytes_sent += float(np.sum(sizes))
            return start, end
        start, end = np.empty(n), np.empty(n)
        for i, (r, b) in enumerate(zip(ready_s.tolist(), sizes.tolist(), strict=True)):
            start[i], end[i] = self.send(r, b)
        return start, end

    def fork(self) -> Link:
        """A copy to try transfers on (a predictor's what-if) without touching this one."""
        other = copy.copy(self)
        other.flow = copy.copy(self.flow)
        return other

    def _end_s(self, start_s: float, size_bytes: float, flow: TcpFlow | None) -> float:
        if flow is None:
            first = bytes_start_s(start_s, 2 * self.one_way_latency_s(start_s), self.latency)
            return self.trace.finish_time(first, size_bytes / self.efficiency)
        flow.send(start_s, size_bytes)
        return flow.last.end_s

    def one_way_latency_s(self, t_s: float) -> float:
        """Half the RTT at ``t_s`` (the trace's RTT column, else the default)."""
        return 0.5 * self.trace.rtt_at(t_s, self.default_rtt_s)
