"""The TCP model of :mod:`models.transport`, for many transfers at once: the array solver.

Each transfer on a **new connection** is a pure function of when it takes the link and how
many bytes it carries (the connection, its window and its timer start afresh), so a FIFO
link's transfers can be solved together: every round of every transfer that is still
sending is one step of numpy arithmetic over arrays, the same float operations in the same
order as :class:`~models.transport.TcpFlow`'s rounds (the handshakes; slow start with
HyStart; Cubic or NewReno; the busy spans of a deep buffer, found with
:meth:`~sim.traces.Trace.next_rise_above_array`). A transfer whose round meets what the
arrays do not follow (an outage inside the round, a window that overfills the buffer, a
clipped trace) is handed whole to :class:`~models.transport.TcpFlow`, so the answers are
the scalar model's in every case, bit for bit (tested against it on random traces, sizes,
settings and queues). The retransmission timer acts only in those rounds, so the arrays
do not track it.

The FIFO queue is solved by speculation: every transfer first takes the link at its ready
time; when one finishes, its successor's start is checked and, if it moved, the successor
starts again from there, beside the others; a bounded number of times from an end that is
not final yet (see :func:`fifo_transfers`).
Persistent connections carry their window from one transfer to the next and stay with
:class:`~models.transport.TcpFlow`. Times in seconds, sizes in bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.pipeline import fifo_start_s
from models.starved import any_starved_array
from models.transport import (
    _CUBIC_C,
    _CUBIC_MAX_GROWTH,
    _HYSTART_LOW_WINDOW,
    _HYSTART_MAX_S,
    _HYSTART_MIN_S,
    _STARVED_MARGIN_S,
    _SYN_WIRE_BYTES,
    SCAN_BIN_S,
    TcpConfig,
    TcpFlow,
    reno_increase_bytes,
    slow_start_growth,
)

#: at most this many transfers still sending go to the scalar model one by one
_FEW = 8
#: times a transfer starts again from a predecessor's end that is not final yet
_GUESSES = 8


def batch_solvable(trace: Any, config: TcpConfig) -> bool:
    """Whether :func:`fifo_transfers` solves these transfers with arrays (new connections on
    a looping trace); else it hands them to :class:`~models.transport.TcpFlow` one by one."""
    # (an initial window larger than the buffer loses its tail at once: TcpFlow._burst)
    return config.connection == "new" and getattr(trace, "end", None) == "loop" and hasattr(
        trace, "next_rise_above_array") and config.initial_window_packets <= \
        config.buffer_packets


class _Solver:
    """The rounds of new-connection transfers over one trace, at once."""

    def __init__(self, trace: Any, config: TcpConfig, default_rtt_s: float,
                 efficiency: float):
        self.trace, self.cfg = trace, config
        self.scan = trace.smoothed(SCAN_BIN_S)
        self.default_rtt_s, self.efficiency = default_rtt_s, efficiency
        self.flow = TcpFlow(trace, config, rtt_s=lambda t: trace.rtt_at(t, default_rtt_s),
                            efficiency=efficiency)
        self.beta = self.flow._beta
        self.growth = slow_start_growth(config)
        self.pkt = float(config.packet_wire_bytes)
        self.buffer_wire = config.buffer_packets * config.packet_wire_bytes
        self.outage_threshold = self.pkt / config.min_rto_s / efficiency
        self.starved = self.flow._starved_spans()

    # ------------------------------------------------------------ helpers (TcpFlow's, on arrays)
    def wire(self, payload: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        return np.where(payload <= 0, 0.0, payload + np.ceil(payload / cfg.mss_bytes)
                        * cfg.header_bytes)

    def time_at(self, t: np.ndarray, wire: np.ndarray) -> np.ndarray:
        """``TcpFlow._time_at``: when ``wire`` more bytes leave the bottleneck from ``t``."""
        return self.time_from(t, self.trace.cumulative_bytes_array(t), wire)

    def time_from(self, t: np.ndarray, level_t: np.ndarray, wire: np.ndarray) -> np.ndarray:
        """:meth:`time_at` given the cumulative capacity at ``t``."""
        size = wire / self.efficiency
        return np.where(size <= 0, t, np.maximum(t, self.trace.time_at_level_array(
            level_t + size)))

    def level(self, t: np.ndarray) -> np.ndarray:
        return self.trace.cumulative_bytes_array(t) * self.efficiency

    def delivery_floor_wire(self, b: np.ndarray, e: np.ndarray, rtt: np.ndarray
                            ) -> np.ndarray:
        """``TcpFlow._delivery_floor_wire`` on arrays (the same RTT rounding, per value)."""
        out = np.empty(len(b))
        for r in np.unique(rtt):
            m = rtt == r
            minima = self.flow._delivery_minima(float(r))
            out[m] = np.inf if minima is None else minima.min_bytes_array(
                b[m], e[m]) * self.efficiency
        return out

    def rtt(self, t: np.ndarray) -> np.ndarray:
        return self.trace.rtt_at_array(t, self.default_rtt_s)

    # ------------------------------------------------------------ transfers
    def state(self, n: int) -> dict:
        """Per-transfer state arrays (``TcpFlow``'s fields) for ``n`` transfers."""
        return {"b": np.zeros(n), "left": np.zeros(n), "cwnd": np.zeros(n),
                "ssthresh": np.zeros(n), "epoch": np.zeros(n), "w_max": np.zeros(n),
                "busy": np.zeros(n, bool)}

    def open(self, s: dict, idx: np.ndarray, start: np.ndarray, sizes: np.ndarray,
             end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Open a new connection for each transfer ``idx`` at ``start[idx]``
        (``TcpFlow._connect``): (those with bytes to send, those done already)."""
        cfg = self.cfg
        t = start[idx]
        for _ in range(cfg.handshake_rtts):
            t = self.time_at(t, float(_SYN_WIRE_BYTES)) + self.rtt(t)
        s["b"][idx], s["left"][idx] = t, sizes[idx]
        s["cwnd"][idx] = float(cfg.initial_window_packets * cfg.mss_bytes)
        s["ssthresh"][idx] = np.inf
        s["epoch"][idx], s["w_max"][idx], s["busy"][idx] = np.nan, 0.0, False
        empty = sizes[idx] <= 0
        end[idx] = np.where(empty, t, np.nan)
        return idx[~empty], idx[empty]

    def one(self, start_s: float, size_bytes: float) -> float:
        """One transfer by :class:`~models.transport.TcpFlow`."""
        self.flow.free_s = -math.inf
        self.flow.send(float(start_s), float(size_bytes))
        return self.flow.last.end_s

    def _round(self, s: dict, act: np.ndarray, end: np.ndarray, start: np.ndarray,
               sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One round of every active transfer (``TcpFlow._data``'s loop body): (those still
        sending, those done). A transfer whose round the arrays do not follow is solved
        whole by :meth:`one`."""
        cfg = self.cfg
        b, left, cwnd = s["b"][act], s["left"][act], s["cwnd"][act]
        ssthresh, busy = s["ssthresh"][act], s["busy"][act]
        rtt = self.rtt(b)
        level_b = self.trace.cumulative_bytes_array(b)
        w = np.minimum(cwnd, left)
        deep = cfg.buffer_packets * self.pkt * self.beta >= (1 - self.beta) * (
            self.scan.max_capacity_bytes_per_s * self.efficiency * rtt)
        can_jump = busy & (cwnd >= ssthresh) & (left > cwnd) & deep
        jump = np.zeros(len(act), bool)
        if can_jump.any():  # TcpFlow._busy_span
            j = np.flatnonzero(can_jump)
            bj, lj, cj, rj = b[j], left[j], cwnd[j], rtt[j]
            whole_end = self.time_from(bj, level_b[j], self.wire(lj))
            sustained = np.where(rj > 0, self.wire(cj) / rj / self.efficiency, np.inf)
            rise = self.scan.next_rise_above_array(bj, sustained, whole_end)
            rises = rise < whole_end
            span = (self.level(np.where(rises, rise, bj)) - level_b[j] * self.efficiency) \
                * cfg.mss_bytes / cfg.packet_wire_bytes
            span = np.floor(span / cfg.mss_bytes) * cfg.mss_bytes
            w[j] = np.where(~rises, lj, np.where(span <= cj, np.minimum(cj, lj),
                                                 np.minimum(span, lj)))
            jump[j] = ~rises | (span > cj)
        wire = self.wire(w)
        e = self.time_from(b, level_b, wire)
        one_packet = wire <= self.pkt
        first_ack = np.where(one_packet, e, self.time_from(b, level_b, np.minimum(
            wire, self.pkt))) + rtt
        # TcpFlow._serve: a round with an outage inside where a timer may fire (a packet
        # that may outlast the minimum RTO, or the first one, whose timer is armed at b)
        # goes to the scalar model
        outage = (self.scan.capacity_at_array(b) < self.outage_threshold) & (b < e)
        calm = np.flatnonzero(~outage)
        if self.scan.min_capacity_bytes_per_s < self.outage_threshold and calm.size:
            outage[calm] = self.scan.next_drop_below_array(
                b[calm], self.outage_threshold, e[calm]) < e[calm]
        if outage.any():
            o = np.flatnonzero(outage)
            outage[o] = (b[o] + self.cfg.min_rto_s - _STARVED_MARGIN_S < first_ack[o]) | \
                any_starved_array(self.trace, self.starved, b[o], e[o])
        left = left - w
        done = (left <= 0) & ~outage
        end[act[done]] = e[done]
        # the window after the round (TcpFlow._grow); a loss goes to the scalar model
        queue = np.where(jump, 0.0, np.maximum(0.0, e - first_ack))
        new_cwnd, new_ss, loss = self._grow(s, act, w, b, e, rtt, queue, cwnd, ssthresh)
        go = ~done & ~outage & ~loss
        hard = act[(outage | loss) & ~done]
        for i in hard:  # the rounds the arrays do not follow
            end[i] = self.one(start[i], sizes[i])
        keep = act[go]
        s["cwnd"][keep], s["ssthresh"][keep], s["left"][keep] = new_cwnd[go], new_ss[go], \
            left[go]
        s["busy"][keep] = np.where(jump[go], False, e[go] >= first_ack[go])
        s["b"][keep] = np.where(jump[go], e[go], np.maximum(e[go], first_ack[go]))
        return keep, np.concatenate((act[done], hard))

    def _grow(self, s: dict, act: np.ndarray, w, b, e, rtt, queue, cwnd, ssthresh):
        """(window, ssthresh, lost) after each round; Cubic's epoch and W_max updated in
        ``s`` (for every active transfer: a lost one is solved again by the scalar model)."""
        cfg = self.cfg
        mss = cfg.mss_bytes
        rate = np.where(e > b, self.wire(w) / (e - b), np.inf)
        bdp_wire = rate * rtt
        # the least the link delivered over a round trip (TcpFlow._delivery_floor_wire),
        # where a loss is possible at all: a window that could outgrow the buffer alone
        maybe = (self.wire(np.maximum(cwnd * self.growth, 2 * cwnd)) > self.buffer_wire) & (
            rtt > 0)
        if maybe.any():
            m = np.flatnonzero(maybe)
            bdp_wire[m] = np.minimum(bdp_wire[m], self.delivery_floor_wire(b[m], e[m], rtt[m]))
        slow = cwnd < ssthresh
        any_slow = slow.any()  # (a round of congestion avoidance only skips slow start)
        if any_slow:
            grown = cwnd * self.growth
            over = self.wire(grown) - bdp_wire - self.buffer_wire
            loss = slow & np.isfinite(over) & (over > 0) & (w >= cwnd)
            new_cwnd = np.where(slow, grown, cwnd)
        else:
            loss, new_cwnd = np.zeros(len(cwnd), bool), cwnd
        new_ss = ssthresh.copy()
        epoch, w_max = s["epoch"][act], s["w_max"][act]
        if cfg.cc == "cubic" and cfg.hystart and any_slow:
            hy = slow & (grown >= _HYSTART_LOW_WINDOW * mss) & (
                queue > np.minimum(_HYSTART_MAX_S, np.maximum(_HYSTART_MIN_S, rtt / 8)))
            new_ss = np.where(hy, grown, new_ss)
            w_max = np.where(hy, grown / mss, w_max)
            epoch = np.where(hy, e, epoch)
        ca = ~slow
        if ca.any():
            if cfg.cc == "newreno":
                grown_ca = cwnd + reno_increase_bytes(cfg)
            else:
                fresh = ca & np.isnan(epoch)
                epoch = np.where(fresh, e, epoch)
                w_max = np.where(fresh, np.maximum(w_max, cwnd / mss), w_max)
                # Cubic's curve for the transfers in congestion avoidance only (the powers
                # are the round's dearest operations); the others keep their window here
                c = slice(None) if ca.all() else np.flatnonzero(ca)
                rtt_c, w_max_c, cwnd_c = rtt[c], w_max[c], cwnd[c]
                t = e[c] - epoch[c] + rtt_c
                k = ((w_max_c * (1 - self.beta)) / _CUBIC_C) ** (1 / 3)
                cubic = _CUBIC_C * (t - k) ** 3 + w_max_c
                friendly = w_max_c * self.beta + (3 * (1 - self.beta) / (1 + self.beta)) * \
                    np.where(rtt_c > 0, t / rtt_c, 0)
                grown_ca = cwnd.copy()
                grown_ca[c] = np.maximum(cwnd_c + 0.0, np.minimum(
                    _CUBIC_MAX_GROWTH * cwnd_c, np.maximum(cubic, friendly) * mss))
            over_ca = self.wire(grown_ca) - bdp_wire - self.buffer_wire
            loss |= ca & np.isfinite(over_ca) & (over_ca > 0) & (w >= cwnd)
            new_cwnd = np.where(ca, grown_ca, new_cwnd)
        s["epoch"][act], s["w_max"][act] = epoch, w_max
        return new_cwnd, new_ss, loss


def _fifo_starts(ready_s: np.ndarray, before_s: np.ndarray) -> np.ndarray:
    """:func:`~models.pipeline.fifo_start_s` on arrays (NaN where ``before_s`` is)."""
    return np.where(ready_s > before_s, ready_s, before_s)


def _fluid_queued(trace: Any, ready_s: np.ndarray, size_bytes: np.ndarray,
                  config: TcpConfig, efficiency: float) -> np.ndarray:
    """Whether each transfer would wait for its predecessor on the fluid link with the
    TCP's wire bytes (a FIFO in cumulative-capacity space, :func:`lindley_end`'s
    recursion): a TCP transfer, slower, waits then too, as a rule. Only a hint to
    :func:`fifo_transfers` of which starts are worth trying."""
    wire = np.where(size_bytes <= 0, 0.0, size_bytes + np.ceil(size_bytes / config.mss_bytes)
                    * config.header_bytes) / efficiency
    level = trace.cumulative_bytes_array(ready_s)
    cum = np.cumsum(wire)
    before = cum - wire
    start_level = before + np.maximum.accumulate(level - before)
    return start_level > level


def fifo_transfers(trace: Any, config: TcpConfig, ready_s: np.ndarray,
                   size_bytes: np.ndarray, *, free_s: float, default_rtt_s: float,
                   efficiency: float) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of transfers that join a FIFO link in order at ``ready_s`` (the link
    free from ``free_s``), each on a new connection: start ``max(ready, previous end)``,
    end when its last byte leaves the bottleneck.

    Every transfer starts at once, as if the link were free at its ready time; whenever
    one finishes, its successor's start is checked against ``max(ready, this end)`` and,
    if it moved, the successor starts again from there (in the next round, beside the
    others). A start is final once its predecessor's end is (the first transfer's is); a
    transfer starts again from an end that is not final yet at most ``_GUESSES`` times,
    then waits for the final one. So a short queue resolves in parallel, and a long
    (saturated) one runs each transfer a bounded number of times, not once per
    predecessor. A transfer that even the fluid link would queue (:func:`_fluid_queued`)
    does not start at its ready time, a start it would only redo: it waits for its
    predecessor's first end (a guess as above). Which starts are tried changes the work,
    never an answer: each end is that of its final start."""
    solver = _Solver(trace, config, default_rtt_s, efficiency)
    ready = np.asarray(ready_s, dtype=float)
    sizes = np.ascontiguousarray(np.broadcast_to(np.asarray(size_bytes, dtype=float),
                                                 ready.shape))
    n = len(ready)
    start, end = ready.copy(), np.full(n, np.nan)
    if not n:
        return start, end
    start[0] = fifo_start_s(ready[0], free_s)
    guesses = np.zeros(n, np.int64)  # starts again from an end that was not final yet
    wait = _fluid_queued(trace, ready, sizes, config, efficiency)
    wait[0] = False
    opened = ~wait  # started at least once

    def frontier(p: int) -> int:
        """The first transfer from ``p`` on that is still sending or whose start is not
        ``max(ready, its predecessor's end)``: every one before it is final."""
        size = 64
        while p < n:
            q = min(n, p + size)
            j = np.arange(p, q)
            ok = ~np.isnan(end[p:q]) & ((j == 0) | (start[p:q] == _fifo_starts(
                ready[p:q], end[np.maximum(j - 1, 0)])))
            bad = np.flatnonzero(~ok)
            if bad.size:
                return p + int(bad[0])
            p, size = q, 2 * size
        return n

    s = solver.state(n)
    p = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        active, finished = solver.open(s, np.flatnonzero(opened), start, sizes, end)
        while True:
            while True:
                p = frontier(p)
                if finished.size:  # check the successors of those just finished
                    succ = finished + 1
                    keep = succ < n
                    finished, succ = finished[keep], succ[keep]
                    before = end[finished]
                    want = _fifo_starts(ready[succ], before)
                    moved = (want != start[succ]) | ~opened[succ]
                    # from a final end always; from one that is not, a few times
                    sure = finished < p
                    go = moved & (sure | (guesses[succ] < _GUESSES))
                    guesses[succ[go & ~sure]] += 1
                    again = succ[go]
                    start[again] = want[go]
                elif 0 < p < n and (start[p] != (want_p := fifo_start_s(
                        ready[p], end[p - 1])) or not opened[p]):
                    # the first transfer not final waited for its predecessor's final
                    # end, which has come: it starts again from there
                    start[p] = want_p
                    again = np.array([p])
                else:
                    break
                opened[again] = True
                more, finished = solver.open(s, again, start, sizes, end)
                if more.size:  # the active transfers, in index order, each once
                    mask = np.zeros(n, bool)
                    mask[active] = mask[more] = True
                    active = np.flatnonzero(mask)
            if not active.size:
                return start, end
            if active.size <= _FEW:  # a short tail: the scalar model, one by one
                for i in active:
                    end[i] = solver.one(start[i], sizes[i])
                active, finished = active[:0], active
                continue
            active, finished = solver._round(s, active, end, start, sizes)
