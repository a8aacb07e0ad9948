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

Look-ahead (TCP, new connections). Such a transfer is a pure function of when it takes the
link and how many bytes it carries, so an engine that knows which transfers will join next
(a static policy's, decided ahead) tells the link with :meth:`Link.expect`; the first of them
that is sent solves them all at once with the array solver
(:func:`~models.transport_batch.fifo_transfers`, :class:`~models.transport.TcpFlow`'s answers
bit for bit), and each later :meth:`Link.send` that asks for the next expected transfer
(the same ready time and size, in the same order) takes its answer. A send that was not
expected drops the look-ahead and goes transfer by transfer, so the look-ahead changes how
fast the answers come, never what they are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np

from models.pipeline import bytes_start_s, fifo_start_s
from models.transport import TcpConfig, TcpFlow
from models.transport_batch import batch_solvable, fifo_transfers
from sim.traces import Trace

#: at most this many expected transfers are solved together
LOOKAHEAD_TRANSFERS = 65536


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
        #: whether :meth:`expect` is heeded: TCP on new connections that the array solver
        #: takes (a looping trace, the latency after the bytes)
        self.looks_ahead = tcp is not None and latency == "after" and batch_solvable(
            trace, tcp)
        self._drop_ahead()
        #: sends answered from the look-ahead
        self.sent_ahead = 0

    def _new_flow(self) -> TcpFlow:
        # a trace without an RTT column has the default RTT throughout: a constant
        rtt = self.default_rtt_s if self.trace.rtt_s is None else (
            lambda t: self.trace.rtt_at(t, self.default_rtt_s))
        return TcpFlow(self.trace, self.tcp, rtt_s=rtt, efficiency=self.efficiency)

    def send(self, ready_s: float, size_bytes: float) -> tuple[float, float]:
        """Queue a transfer ready at ``ready_s``; returns its (start, end of serialisation):
        from the look-ahead when it is the next expected transfer, else solved now."""
        i = self._ahead_at
        if i < len(self._ahead_ready):  # transfers are expected
            if self._ahead_ready[i] == ready_s and self._ahead_bytes[i] == size_bytes:
                if i == self._solved_to:
                    self._solve_ahead()
                self._ahead_at = i + 1
                self.sent_ahead += 1
                end = self._ahead_end[i]
                self.free_at_s = self.flow.free_s = end  # type: ignore[union-attr]
                self.bytes_sent += size_bytes
                return self._ahead_start[i], end
            self._drop_ahead()  # not the one expected
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
            self._drop_ahead()  # solved from another free time
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

    def expect(self, ready_s: Iterable[float], size_bytes: Iterable[float]) -> None:
        """Tell the link the transfers that will join it next, after those expected
        already, in joining order: their ready times and sizes (a look-ahead: see the module
        docstring). Ignored unless :attr:`looks_ahead`."""
        if not self.looks_ahead:
            return
        done = self._ahead_at
        if done:  # forget those sent
            for column in (self._ahead_ready, self._ahead_bytes, self._ahead_start,
                           self._ahead_end):
                del column[:done]
            self._ahead_at, self._solved_to = 0, self._solved_to - done
        self._ahead_ready.extend(ready_s)
        self._ahead_bytes.extend(size_bytes)
        if len(self._ahead_ready) != len(self._ahead_bytes):
            self._drop_ahead()
            raise ValueError("Link.expect needs as many ready times as sizes")

    def _solve_ahead(self) -> None:
        """Solve the next :data:`LOOKAHEAD_TRANSFERS` expected transfers at most, from the
        link's free time (every one before them has been sent)."""
        i = self._solved_to
        j = min(len(self._ahead_ready), i + LOOKAHEAD_TRANSFERS)
        start, end = fifo_transfers(self.trace, self.tcp, np.array(self._ahead_ready[i:j]),
                                    np.array(self._ahead_bytes[i:j], dtype=float),
                                    free_s=self.free_at_s, default_rtt_s=self.default_rtt_s,
                                    efficiency=self.efficiency)
        self._ahead_start.extend(start.tolist())
        self._ahead_end.extend(end.tolist())
        self._solved_to = j

    def _drop_ahead(self) -> None:
        """Forget the expected transfers (none yet, a send that was not expected, or a
        fork's), in new lists (a fork's original keeps its own)."""
        # the expected transfers' ready times and sizes, in joining order, from the next one
        # to be sent (index ``_ahead_at``); their (start, end) solved up to ``_solved_to``,
        # from the link's free time when the first of them was sent
        self._ahead_ready: list[float] = []
        self._ahead_bytes: list[float] = []
        self._ahead_start: list[float] = []
        self._ahead_end: list[float] = []
        self._ahead_at = self._solved_to = 0

    def fork(self) -> Link:
        """A copy to try transfers on (a predictor's what-if) without touching this one;
        it has no look-ahead (its sends are not the expected ones)."""
        other = copy.copy(self)
        other.flow = copy.copy(self.flow)
        other._drop_ahead()
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
