"""The transport over a link: how long a transfer takes, as an ideal fluid or as TCP.

``fluid`` (the ideal bound): the payload's bytes flow at the link's full capacity from the
moment the transfer takes the link; the time is the exact solution of
``C(t) - C(s) = bytes / efficiency`` on the trace's cumulative capacity curve ``C``.

``tcp``: the same link, carrying a TCP connection's segments, one **round** (one congestion
window) at a time, never packet by packet:

- **Connection.** ``new``: every transfer opens its own connection, ``handshake_rtts``
  round trips (1 for TCP, 2 with TLS 1.3 on a new connection) before the first data byte,
  each with its SYN (or ClientHello) through the bottleneck; ``persistent``: one connection
  per device, opened by its first transfer, whose window carries over; after an idle period
  longer than the RTO it restarts from the initial window the way Linux does (RFC 2861 as in
  ``tcp_cwnd_restart``: halved once per RTO of idle, down to ``min(IW, cwnd)``).
- **Rounds.** A round sends ``min(cwnd, bytes left)`` (``mss_bytes`` of payload per packet,
  plus ``header_bytes`` of headers on the wire); the bottleneck serves them in order on the
  cumulative capacity curve. The ACK of a round's first packet returns one RTT after that
  packet leaves the bottleneck and starts the next round; if the bottleneck finished the
  round before then, it idles until then (slow start's cost on a new connection), else it
  stays busy (the window covers the bandwidth-delay product and the transfer runs at the
  link's rate).
- **Window growth.** Slow start multiplies the window by ``slow_start_growth`` per round (2:
  an ACK per segment, or Linux's byte counting with delayed ACKs) until ``ssthresh``; Cubic
  leaves slow start by HyStart's delay test (the round's queueing delay above
  ``clamp(RTT/8, 4 ms, 16 ms)``); congestion avoidance grows by one segment per round
  (NewReno) or along Cubic's curve ``W(t) = C (t - K)^3 + W_max`` with its Reno-friendly
  floor.
- **Buffer.** A slow-start window that overfills the bottleneck buffer (``buffer_packets``
  beyond the bandwidth-delay product) loses half of what arrives beyond it (ACK-clocked at
  twice the link's rate); the lost bytes are sent again, and the window drops by the
  congestion control's factor (0.7 Cubic, 0.5 NewReno), or, when more packets are lost than
  the buffer holds, the episode ends in a timeout (one RTO with the link idle, then slow
  start from one segment). In congestion avoidance an overfilled window loses a segment and
  drops by the same factor.
- **Timeouts.** The retransmission timer follows RFC 6298: SRTT and RTTVAR from each round's
  RTT sample (path RTT plus queueing delay), ``RTO = max(min_rto_s, SRTT + 4 RTTVAR)``
  (``initial_rto_s`` before the first sample), doubled per timeout, at most ``max_rto_s``.
  When a round's packets wait in an outage (the bottleneck holds them) longer than the
  RTO, the timer fires, and again at each doubled RTO until the outage ends; each timeout
  sends one segment again. What follows depends on the ``stack``: ``linux`` (F-RTO finds
  the timeout spurious and restores the window: the held data drains and the transfer goes
  on) or ``ns3`` (RFC 5681 without F-RTO: the window falls to one segment and ssthresh to
  0.7 (Cubic) or 0.5 (NewReno) of the flight, two segments after a second timeout in the
  same outage; the held data drains, then the window grows again from one segment).
  A window the buffer cannot hold through the outage loses its tail: the timeout is then
  real under either stack and the dropped bytes are sent again.
- **Stacks.** ``linux`` also restarts an idle connection's window (above); ``ns3`` (ns-3.44,
  the packet-level reference of ``python -m experiments.packetcheck``) does not, and its
  NewReno grows 1.5x per round in slow start (one segment per delayed ACK).

Everything here is per round: O(rounds) work per transfer (about 10 for a 5 MB payload from
an initial window of 10), using only the trace's cumulative curve (``cumulative_bytes``,
``finish_time``, ``next_drop_below_s``, ``next_rise_above_s``). A busy stretch of congestion
avoidance behind a buffer deep enough that a loss never idles the link goes in one step,
until the capacity rises above what the window sustains; a fine staircase trace is read
through 50 ms bins for these decisions (``Trace.smoothed``), never for the times. Duck-typed,
so that ``policies`` can predict with a constant-rate stand-in (:class:`ConstantRate`)
without importing ``sim``. Validated against ns-3 (``python -m experiments.packetcheck``)
and real Linux TCP (``python -m experiments.emulate``): docs/transport.md. Times in
seconds, sizes in bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from models.burst import WindowMinima, window_minima
from models.errors import InputError
from models.starved import next_starved_s, starved_spans

#: the transports a scenario may choose (``--transport``)
TRANSPORTS = ("fluid", "tcp")
#: a connection per transfer, or one kept open per device
CONNECTIONS = ("new", "persistent")
#: congestion controls the model knows
CONGESTION_CONTROLS = ("cubic", "newreno")
#: TCP implementations the model follows where they differ (see the module docstring)
STACKS = ("linux", "ns3")

_CUBIC_C = 0.4  # segments / s^3 (RFC 9438)
_CUBIC_BETA = 0.7
#: Cubic's fastest growth per round in congestion avoidance: one segment per two segments
#: acknowledged (``cnt >= 2`` in Linux's ``bictcp_update`` and ns-3's ``TcpCubic::Update``)
_CUBIC_MAX_GROWTH = 1.5
_RENO_BETA = 0.5
_SYN_WIRE_BYTES = 74  # a SYN with options, on the wire
_HYSTART_MIN_S, _HYSTART_MAX_S = 0.004, 0.016
_HYSTART_LOW_WINDOW = 16  # segments: HyStart acts only above this window
#: bins (s) over which a fine staircase trace is averaged for the rounds' decisions
SCAN_BIN_S = 0.05
#: how much shorter than the minimum RTO a starved window is taken (float rounding of the
#: timer's comparison; a wider search only checks more intervals exactly)
_STARVED_MARGIN_S = 1e-6
#: duplicate ACKs that trigger fast retransmit (RFC 5681)
_DUPACK_THRESHOLD = 3


@dataclass(frozen=True)
class TcpConfig:
    """The TCP model's settings (defaults: Linux-like Cubic over a deep buffer)."""

    connection: str = "new"
    handshake_rtts: int = 1
    initial_window_packets: int = 10
    mss_bytes: int = 1448
    header_bytes: int = 66  # Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12
    buffer_packets: int = 1000
    cc: str = "cubic"
    min_rto_s: float = 0.2
    max_rto_s: float = 120.0
    initial_rto_s: float = 1.0
    stack: str = "linux"
    slow_start_growth: float = 2.0
    hystart: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("connection", CONNECTIONS), ("cc", CONGESTION_CONTROLS),
                              ("stack", STACKS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"tcp {name} must be one of {', '.join(allowed)}, not "
                                 f"{getattr(self, name)!r}")
        for name in ("handshake_rtts", "initial_window_packets", "mss_bytes", "header_bytes",
                     "buffer_packets"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (
                    0 if name in ("handshake_rtts", "header_bytes") else 1):
                raise InputError(f"tcp {name} must be a whole number >= "
                                 f"{0 if name in ('handshake_rtts', 'header_bytes') else 1}, "
                                 f"not {v!r}")
        if not (0 < self.min_rto_s <= self.max_rto_s and self.initial_rto_s > 0):
            raise InputError("tcp RTOs must satisfy 0 < min_rto_s <= max_rto_s, "
                             "initial_rto_s > 0")
        if not self.slow_start_growth > 1:
            raise InputError("tcp slow_start_growth must be above 1")

    @property
    def packet_wire_bytes(self) -> int:
        return self.mss_bytes + self.header_bytes

    @property
    def efficiency(self) -> float:
        """Goodput / capacity of full segments (1448/1514 by default)."""
        return self.mss_bytes / self.packet_wire_bytes

    def wire_bytes(self, payload_bytes: float) -> float:
        """Bytes on the wire for ``payload_bytes`` of payload: headers per segment."""
        if payload_bytes <= 0:
            return 0.0
        return payload_bytes + math.ceil(payload_bytes / self.mss_bytes) * self.header_bytes


def slow_start_growth(config: TcpConfig) -> float:
    """Slow start's window factor per round: ns-3's NewReno adds one segment per ACK, so
    with delayed ACKs (one per two segments) it grows 1.5x per round; Linux (byte counting)
    and ns-3's Cubic double the window."""
    if config.stack == "ns3" and config.cc == "newreno":
        return 1.0 + (config.slow_start_growth - 1.0) / 2
    return config.slow_start_growth


def reno_increase_bytes(config: TcpConfig) -> float:
    """NewReno's window increase per round in congestion avoidance: one segment (Linux
    counts the bytes each ACK covers), half a segment in ns-3, which adds MSS^2 / cwnd per
    ACK and gets one ACK per two segments (delayed ACKs)."""
    if config.stack == "ns3":
        return config.mss_bytes / 2
    return float(config.mss_bytes)


class ConstantRate:
    """A link of constant capacity (bytes/s) with the trace methods the model reads: a
    predictor's stand-in for the real trace, which it must not see."""

    def __init__(self, bytes_per_s: float):
        self.rate = float(bytes_per_s)

    def cumulative_bytes(self, t_s: float) -> float:
        return self.rate * t_s

    def finish_time(self, start_s: float, size_bytes: float) -> float:
        if size_bytes <= 0:
            return start_s
        return start_s + size_bytes / self.rate if self.rate > 0 else math.inf

    def capacity_at(self, t_s: float) -> float:
        return self.rate

    @property
    def max_capacity_bytes_per_s(self) -> float:
        return self.rate

    def next_drop_below_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        return math.inf

    def next_rise_above_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        return math.inf

    def next_change_s(self, t_s: float) -> float:
        return math.inf


@dataclass
class TransferStats:
    """What one transfer did (for tests, checks and the single-transfer command)."""

    start_s: float = 0.0  # when the application wrote (or connected)
    first_byte_s: float = 0.0  # when its first data byte took the bottleneck
    end_s: float = 0.0  # when its last byte left the bottleneck
    rounds: int = 0
    timeouts: int = 0
    losses: int = 0  # windows that overfilled the buffer
    idle_s: float = 0.0  # time the bottleneck idled waiting for ACKs (slow start)
    extra_wire_bytes: float = 0.0  # headers excluded: bytes sent again


class TcpFlow:
    """One TCP connection's transfers over ``trace`` (FIFO: a transfer starts when the
    previous one's last byte has left the bottleneck), with path RTT ``rtt_s`` (a
    constant, or a callable of the time). ``efficiency`` scales the trace's capacity
    before headers (other losses; 1 by default)."""

    def __init__(self, trace: Any, config: TcpConfig | None = None, *, rtt_s: Any,
                 efficiency: float = 1.0):
        self.trace = trace
        # what the per-round decisions (outages, capacity rises) read: a fine staircase
        # (mahimahi's 1-ms packet opportunities) averaged over bins, so that the gaps between
        # opportunities are not taken for outages; transfer times use the exact trace
        self.scan = trace.smoothed(SCAN_BIN_S) if hasattr(trace, "smoothed") else trace
        self.cfg = config or TcpConfig()
        self._rtt = rtt_s
        self.efficiency = efficiency
        # the cumulative capacity at the last time asked (a round asks it at its start for
        # its level and for the times of its first packet and of its end): a one-entry memo,
        # and the trace's finish time from a known level, where it has one
        self._finish_from = getattr(trace, "finish_time_from", None)
        self._cum_t = self._cum_bytes = math.nan
        self._spans: Any = False  # the starved spans, once computed (None: no skipping)
        # a trace (not a predictor's constant stand-in) has the per-RTT delivery minima
        self._minima = hasattr(trace, "cumulative_bytes_array")
        self.free_s = 0.0  # the last byte of the previous transfer left the bottleneck
        self.last_ack_s = -math.inf
        self.open = False
        self.cwnd = 0.0  # payload bytes
        self.ssthresh = math.inf
        self.srtt = self.rttvar = None
        self.rto_s = self.cfg.initial_rto_s
        self.epoch_s = None  # Cubic: start of the current congestion-avoidance epoch
        self.w_max = 0.0
        self.last = TransferStats()

    # ---------------------------------------------------------------- helpers
    def rtt_at(self, t_s: float) -> float:
        return self._rtt(t_s) if callable(self._rtt) else self._rtt

    def _cumulative(self, t_s: float) -> float:
        """``trace.cumulative_bytes(t_s)``, remembered for the last ``t_s``."""
        if t_s != self._cum_t:
            self._cum_t, self._cum_bytes = t_s, self.trace.cumulative_bytes(t_s)
        return self._cum_bytes

    def _level(self, t_s: float) -> float:
        return self._cumulative(t_s) * self.efficiency

    def _time_at(self, t_s: float, wire_bytes: float) -> float:
        """When ``wire_bytes`` more leave the bottleneck, serving from ``t_s``
        (``trace.finish_time``, from the remembered level where the trace allows)."""
        size = wire_bytes / self.efficiency
        if self._finish_from is None or not size > 0:
            return self.trace.finish_time(t_s, size)
        return self._finish_from(t_s, self._cumulative(t_s), size)

    @property
    def _beta(self) -> float:
        """The window's factor at a loss: Cubic's 0.7, NewReno's 0.5."""
        return _CUBIC_BETA if self.cfg.cc == "cubic" else _RENO_BETA

    @property
    def _ss_growth(self) -> float:
        return slow_start_growth(self.cfg)

    def _sample(self, rtt_s: float) -> None:
        """RFC 6298's estimator with one RTT sample."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_s, rtt_s / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_s)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt_s
        self.rto_s = min(self.cfg.max_rto_s, max(self.cfg.min_rto_s,
                                                 self.srtt + 4 * self.rttvar))

    # ---------------------------------------------------------------- transfers
    def send(self, ready_s: float, size_bytes: float) -> float:
        """Send ``size_bytes`` written at ``ready_s``; returns when the last byte reaches
        the receiver (its departure from the bottleneck plus half the RTT). The details
        are in :attr:`last`."""
        cfg = self.cfg
        t = max(ready_s, self.free_s)
        st = self.last = TransferStats(start_s=ready_s)
        if not self.open or cfg.connection == "new":
            t = self._connect(t)
        elif cfg.stack == "linux":
            self._restart_after_idle(t)
        st.first_byte_s = t
        end = self._data(t, float(size_bytes), st) if size_bytes > 0 else t
        st.end_s = self.free_s = end
        rtt = self.rtt_at(end)
        self.last_ack_s = end + rtt
        return end + rtt / 2

    def duration_s(self, ready_s: float, size_bytes: float) -> float:
        """:meth:`send`, as the time from the write to the last byte at the receiver."""
        return self.send(ready_s, size_bytes) - ready_s

    def open_idle(self) -> None:
        """Mark the connection open and idle since long ago (its handshake done, its window
        the initial one, its estimator seeded with the path RTT at time 0): a persistent
        connection's first transfer then pays no handshake."""
        self.open = True
        self.cwnd = float(self.cfg.initial_window_packets * self.cfg.mss_bytes)
        self.ssthresh = math.inf
        self.srtt = self.rttvar = None
        self._sample(self.rtt_at(0.0))
        self.epoch_s, self.w_max = None, 0.0

    def _connect(self, t: float) -> float:
        """A new connection from ``t``: its handshakes (each through the bottleneck, then
        one RTT), a fresh window and estimator; returns when data may flow."""
        cfg = self.cfg
        start = t
        for _ in range(cfg.handshake_rtts):
            t = self._time_at(t, _SYN_WIRE_BYTES) + self.rtt_at(t)
        self.open = True
        self.cwnd = float(cfg.initial_window_packets * cfg.mss_bytes)
        self.ssthresh = math.inf
        self.srtt = self.rttvar = None
        self.rto_s = cfg.initial_rto_s
        self.epoch_s, self.w_max = None, 0.0
        if cfg.handshake_rtts:
            self._sample((t - start) / cfg.handshake_rtts)
        return t

    def _restart_after_idle(self, t: float) -> None:
        """Linux's ``tcp_cwnd_restart``: after an idle period longer than the RTO, halve
        the window once per RTO of idle, down to ``min(IW, cwnd)``."""
        idle = t - self.last_ack_s
        if idle <= self.rto_s:
            return
        restart = min(self.cwnd, self.cfg.initial_window_packets * self.cfg.mss_bytes)
        self.ssthresh = max(self.ssthresh if math.isfinite(self.ssthresh) else 0.0,
                            0.75 * self.cwnd)
        delta = idle - self.rto_s
        while delta > 0 and self.cwnd > restart:
            self.cwnd /= 2
            delta -= self.rto_s
        self.cwnd = max(self.cwnd, restart)
        self.epoch_s = None

    def _data(self, b: float, left: float, st: TransferStats) -> float:
        """Send ``left`` payload bytes in rounds from ``b`` (the bottleneck is free then);
        returns when the last byte leaves the bottleneck.

        While the link stays busy in congestion avoidance (the window covers the
        bandwidth-delay product), the rounds are not stepped one by one: the bytes flow at
        the link's rate until the transfer ends or the capacity rises above what the window
        sustains (``cwnd / RTT``), whichever comes first, in one step; outages inside it
        are found by :meth:`_serve` as in any round."""
        cfg = self.cfg
        pkt = cfg.packet_wire_bytes
        busy = False  # the previous round kept the link busy
        first = True
        while True:
            rtt = self.rtt_at(b)
            w = min(self.cwnd, left)
            jump = False
            if first and w > cfg.buffer_packets * cfg.mss_bytes:
                # the write's first window leaves at once into a shallower buffer
                first = False
                b, left = self._burst(b, w, left, rtt, st)
                if left <= 0 or not math.isfinite(b):
                    return b
                continue
            first = False
            if busy and self.cwnd >= self.ssthresh and left > self.cwnd and self._deep(rtt):
                w, jump = self._busy_span(b, left, rtt)
            wire = cfg.wire_bytes(w)
            e, resume, resend = self._serve(b, wire, rtt, st)
            st.rounds += 1
            left += resend - w
            if left <= 0 or not math.isfinite(e):  # done, or a clipped trace ended first
                return e
            if resume is not None:
                b, busy = resume, False  # the window was reset; the held data has drained
                continue
            if jump:  # the window grew along the way; the capacity now exceeds it
                self._sample(rtt + max(0.0, cfg.wire_bytes(self.cwnd) * (e - b) / wire - rtt))
                resend, pause = self._grow(w, b, e, rtt, 0.0, st)
                left += resend
                b, busy = e + pause, False
                continue
            first_ack = self._time_at(b, min(wire, pkt)) + rtt
            # the next round's first packet waits behind this round's queue
            queue_s = max(0.0, e - first_ack)
            self._sample(rtt + queue_s)
            if first_ack > e:
                st.idle_s += first_ack - e
            resend, pause = self._grow(w, b, e, rtt, queue_s, st)
            left += resend
            busy = e >= first_ack and not pause
            b = max(e, first_ack) + pause

    def _burst(self, b: float, w: float, left: float, rtt: float, st: TransferStats
               ) -> tuple[float, float]:
        """A write's first window of ``w`` bytes, released at once (no pacing) into a
        drop-tail buffer of fewer packets: the buffer takes ``buffer_packets`` of them and
        drops the rest at its tail. Returns (when the next round may start, payload bytes
        still to send: the dropped ones included).

        Fast retransmit needs three duplicate ACKs: packets that follow the dropped ones
        and get through. If fewer than three follow (the write ends in this window), or the
        buffer takes fewer than three of each burst (the next round's packets, released by
        the ACKs of the ones that got through, meet the same full queue), no duplicate ACKs
        report the loss: the retransmission timer fires one RTO after the ACK of the last
        packet that got through (a tail loss; ns-3 has no tail-loss probe), the window falls
        to one segment and ssthresh to the congestion control's factor of the flight.
        Otherwise fast retransmit starts one RTT after the burst and the window falls by
        that factor."""
        cfg = self.cfg
        mss = cfg.mss_bytes
        taken = cfg.buffer_packets * mss
        e, resume, resend = self._serve(b, cfg.wire_bytes(taken), rtt, st)
        st.rounds += 1
        st.losses += 1
        st.extra_wire_bytes += cfg.wire_bytes(w - taken)
        left = left - taken + resend
        if resume is not None or not math.isfinite(e):  # an outage's timeout reset it all
            return e, left
        self._sample(rtt + max(0.0, e - self._time_at(b, cfg.packet_wire_bytes)))
        beta = self._beta
        if min(left - (w - taken), taken) < _DUPACK_THRESHOLD * mss:  # no fast retransmit
            fire = e + rtt + self._time_out(st, w)
            self.epoch_s, self.w_max = None, 0.0
            return fire, left
        self.w_max = self._w_max_at_loss(self.cwnd / mss)
        self.cwnd = self.ssthresh = max(2.0 * mss, beta * w)
        self.epoch_s = e
        return e + rtt, left

    def _starved_spans(self) -> tuple:
        """Where a packet may take longer than the minimum RTO to leave the bottleneck
        (:func:`models.starved.starved_spans`), or None (no skipping) for a link that is
        no :class:`~sim.traces.Trace`."""
        if self._spans is False:  # the same trace and settings for every round: once
            cfg = self.cfg
            self._spans = None if not hasattr(self.trace, "cumulative_bytes_array") else \
                starved_spans(self.trace, cfg.packet_wire_bytes / self.efficiency,
                              cfg.min_rto_s - _STARVED_MARGIN_S)
        return self._spans

    def _deep(self, rtt: float) -> bool:
        """Whether the buffer keeps the link busy through congestion avoidance's losses at
        any capacity of the trace: after a loss the window ``beta (BDP + buffer)`` still
        covers the BDP. Only then may a busy span go in one step; with a shallower buffer
        the rounds are stepped, each loss and the idle rounds after it included."""
        beta = self._beta
        bdp = self.scan.max_capacity_bytes_per_s * self.efficiency * rtt
        return self.cfg.buffer_packets * self.cfg.packet_wire_bytes * beta >= (1 - beta) * bdp

    def _busy_span(self, b: float, left: float, rtt: float) -> tuple[float, bool]:
        """(payload bytes, True) that flow from ``b`` at the link's rate before the capacity
        rises above what the window sustains, or (``left``, True) if it never does first."""
        cfg = self.cfg
        whole = cfg.wire_bytes(left)
        end = self._time_at(b, whole)
        sustained = cfg.wire_bytes(self.cwnd) / rtt / self.efficiency if rtt > 0 else math.inf
        rise = self.scan.next_rise_above_s(b, sustained, end)
        if not rise < end:
            return left, True
        span = (self._level(rise) - self._level(b)) * cfg.mss_bytes / cfg.packet_wire_bytes
        span = math.floor(span / cfg.mss_bytes) * cfg.mss_bytes
        if span <= self.cwnd:
            return min(self.cwnd, left), False
        return min(span, left), True

    def _serve(self, b: float, wire: float, rtt: float, st: TransferStats
               ) -> tuple[float, float | None, float]:
        """Serve ``wire`` bytes from ``b``: (when the last byte leaves, None or the time
        data may flow again after a timeout that reset the window, payload bytes lost that
        must be sent again). Every outage inside (capacity below one packet per minimum
        RTO) that outlasts the RTO fires the timer, as often as the doubled RTO allows
        before the next ACK. The buffer holds at most ``buffer_packets`` of the window in
        flight through the outage; the rest is dropped at its tail, so the timeout is real
        (no stack undoes it) and those bytes are sent again after the held ones drain."""
        cfg = self.cfg
        pkt = cfg.packet_wire_bytes
        threshold = pkt / cfg.min_rto_s / self.efficiency
        trace = self.scan
        level0 = self._level(b)
        e = self._time_at(b, wire)
        t = b
        # a timer fires only in a packet's interval that lasts longer than the RTO (at least
        # the minimum): from the start of an interval (``aligned``), skip in one search to
        # where such a packet could start; the first interval (its timer armed at ``b``,
        # not one RTT after an ACK) only once it cannot fire either
        starved = self._starved_spans()
        # (the first packet leaves by the round's end: when the timer outlasts even that,
        # its own time is not needed)
        aligned = starved is not None and (b + self.rto_s >= e + rtt or b + self.rto_s >= (
            self._time_at(b, min(wire, pkt)) + rtt))
        for _ in range(100_000):
            if aligned:
                z = next_starved_s(self.trace, starved, t, e)
                if not z < e:
                    return e, None, 0.0
                t = max(t, z)
            g = t if trace.capacity_at(t) < threshold else trace.next_drop_below_s(
                t, threshold, e)
            if not g < e:
                return e, None, 0.0
            done = min(wire, self._level(g) - level0)
            k = math.floor(done / pkt)  # packets out before the outage
            prev = self._time_at(b, k * pkt) if k else b
            nxt = self._time_at(b, min(wire, (k + 1) * pkt))
            if nxt <= g and (k + 1) * pkt < wire:  # the level at g rounded below packet
                k += 1                               # k + 1's end, which is g: the next
                prev, nxt = nxt, self._time_at(b, min(wire, (k + 1) * pkt))
            if not math.isfinite(nxt):  # a clipped trace ends inside: never delivered
                return math.inf, None, 0.0
            armed = prev + rtt if k else b  # the timer restarts with each ACK
            fire = armed + self.rto_s
            t = nxt if nxt > g else trace.next_change_s(g)
            aligned = starved is not None and nxt > g  # t starts a packet's interval
            if fire >= nxt + rtt:  # the next ACK arrives first: no timeout
                continue
            rto, n = self.rto_s, 0
            while fire < nxt + rtt:
                n += 1
                rto = min(cfg.max_rto_s, 2 * rto)
                fire += rto
            st.timeouts += n
            self.rto_s = rto
            again = n * pkt
            st.extra_wire_bytes += again
            # in flight when the outage began: the rest of the round, at most a window;
            # the buffer holds what it can of it, the rest is dropped
            flight = min(wire - done, cfg.wire_bytes(self.cwnd))
            held = min(flight, cfg.buffer_packets * pkt)
            lost = flight - held
            if cfg.stack == "linux" and lost <= 0:
                # F-RTO: spurious; the segments sent again ride behind the held data
                wire += again
                e = self._time_at(b, wire)
                continue
            # a real loss, or ns-3 (RFC 5681, no F-RTO): window of one segment, ssthresh
            # half the flight; the held data drains when the capacity returns and its ACKs
            # come back before the go-back-N retransmissions get far (fitted on the
            # packet-level grid: sending it all again overshoots); what was dropped and
            # the rest of the round are sent again; then the window grows from one segment
            # (ns-3 sets ssthresh again at each further timeout, from a flight of one
            # segment: two segments after a second one; Linux keeps the first value)
            beta = self._beta
            self.ssthresh = max(2.0 * cfg.mss_bytes, beta * flight)
            if cfg.stack == "ns3" and n >= 2:
                self.ssthresh = 2.0 * cfg.mss_bytes
            self.cwnd = float(cfg.mss_bytes)
            self.epoch_s, self.w_max = None, 0.0
            served = done + held
            end = self._time_at(b, served + again)
            unsent = (wire - served) * cfg.mss_bytes / pkt
            st.extra_wire_bytes += lost
            return end, end, unsent
        return e, None, 0.0

    def _grow(self, w: float, b: float, e: float, rtt: float, queue_s: float,
              st: TransferStats) -> tuple[float, float]:
        """The window after a round of ``w`` bytes served over ``[b, e]``; returns the
        payload bytes lost that must be sent again and how long the sender then waits for
        its retransmission timer (0 unless the loss ends in a timeout).

        A slow-start window that overfills the buffer loses half of what arrives beyond it
        (ACK-clocked at twice the link's rate); if it loses more packets than the buffer
        holds, the retransmissions meet a still full queue and the episode ends in a
        timeout (one RTO with the link idle, then slow start from one segment); else fast
        recovery cuts the window by the congestion control's factor."""
        cfg = self.cfg
        mss = cfg.mss_bytes
        beta = self._beta
        rate = (cfg.wire_bytes(w) / (e - b)) if e > b else math.inf
        bdp_wire = rate * rtt
        if self._minima and rtt > 0:  # the least the link delivered over a round trip
            bdp_wire = min(bdp_wire, self._delivery_floor_wire(b, e, rtt))
        buffer_wire = cfg.buffer_packets * cfg.packet_wire_bytes
        if self.cwnd < self.ssthresh:  # slow start
            grown = self.cwnd * self._ss_growth
            over = cfg.wire_bytes(grown) - bdp_wire - buffer_wire
            if math.isfinite(over) and over > 0 and w >= self.cwnd:
                st.losses += 1
                lost = over / 2  # arrivals at twice the rate: half dropped
                st.extra_wire_bytes += lost
                self.w_max = self._w_max_at_loss(grown / mss)
                self.epoch_s = e
                if lost > buffer_wire:
                    pause = self._time_out(st, grown / 2)
                    return lost * mss / cfg.packet_wire_bytes, pause
                self.cwnd = self.ssthresh = max(2.0 * mss, beta * grown)
                return lost * mss / cfg.packet_wire_bytes, 0.0
            self.cwnd = grown
            if (cfg.cc == "cubic" and cfg.hystart and self.cwnd >= _HYSTART_LOW_WINDOW * mss
                    and queue_s > min(_HYSTART_MAX_S, max(_HYSTART_MIN_S, rtt / 8))):
                self.ssthresh = self.cwnd
                self.w_max = self.cwnd / mss
                self.epoch_s = e
            return 0.0, 0.0
        before = self.cwnd  # a loss needs a round that the window limited
        if cfg.cc == "newreno":
            self.cwnd += reno_increase_bytes(cfg)
        else:
            if self.epoch_s is None:
                self.epoch_s, self.w_max = e, max(self.w_max, self.cwnd / mss)
            t = e - self.epoch_s + rtt
            k = ((self.w_max * (1 - _CUBIC_BETA)) / _CUBIC_C) ** (1 / 3)
            cubic = _CUBIC_C * (t - k) ** 3 + self.w_max
            friendly = self.w_max * _CUBIC_BETA + (
                3 * (1 - _CUBIC_BETA) / (1 + _CUBIC_BETA)) * (t / rtt if rtt > 0 else 0)
            self.cwnd = max(self.cwnd + 0.0, min(_CUBIC_MAX_GROWTH * self.cwnd,
                                                 max(cubic, friendly) * mss))
        over = cfg.wire_bytes(self.cwnd) - bdp_wire - buffer_wire
        if math.isfinite(over) and over > 0 and w >= before:
            st.losses += 1
            st.extra_wire_bytes += min(over, mss)
            self.w_max = self._w_max_at_loss(self.cwnd / mss)
            self.cwnd = self.ssthresh = max(2.0 * mss, beta * self.cwnd)
            self.epoch_s = e
            return min(over, mss) * mss / cfg.packet_wire_bytes, 0.0
        return 0.0, 0.0

    def _w_max_at_loss(self, window_segments: float) -> float:
        """Cubic's W_max after a loss at ``window_segments``, with fast convergence (on by
        default in Linux and ns-3, RFC 9438 4.7): a loss below the previous W_max releases
        bandwidth by remembering ``(1 + beta) / 2`` of the window."""
        if window_segments < self.w_max:
            return window_segments * (1 + _CUBIC_BETA) / 2
        return window_segments

    def _time_out(self, st: TransferStats, flight_bytes: float) -> float:
        """A retransmission timeout after a loss with ``flight_bytes`` in flight: counted,
        the RTO it waits returned (then doubled, at most ``max_rto_s``), ssthresh the
        congestion control's factor of the flight (at least two segments), the window one
        segment."""
        cfg = self.cfg
        st.timeouts += 1
        waited = self.rto_s
        self.rto_s = min(cfg.max_rto_s, 2 * self.rto_s)
        self.ssthresh = max(2.0 * cfg.mss_bytes, self._beta * flight_bytes)
        self.cwnd = float(cfg.mss_bytes)
        return waited

    def _delivery_minima(self, rtt: float) -> WindowMinima | None:
        """The trace's per-bin delivery minima over one round trip (:mod:`models.burst`; the
        RTT to the millisecond), or None for a round trip under half a millisecond."""
        window = round(rtt, 3)
        if not window > 0:
            return None
        return window_minima(self.trace, window, SCAN_BIN_S)

    def _delivery_floor_wire(self, b: float, e: float, rtt: float) -> float:
        """The least the link delivered over one round trip (wire bytes) at any time in the
        bins that ``[b, e]`` touches."""
        minima = self._delivery_minima(rtt)
        return math.inf if minima is None else minima.min_bytes(b, e) * self.efficiency


def constant_rate_s(config: TcpConfig, size_bytes: float, rate_bytes_per_s: float,
                    rtt_s: float, *, connect: bool) -> float:
    """Time from the write (or the connect, with ``connect``) until the last byte of
    ``size_bytes`` leaves a bottleneck of constant ``rate_bytes_per_s`` (goodput before
    headers), starting from the initial window: the predictors' closed form of
    :class:`TcpFlow` on a constant link with no outage (handshakes, then idle rounds while
    the window is below the bandwidth-delay product, then the rest at the rate)."""
    if rate_bytes_per_s <= 0:
        return math.inf
    cfg = config
    t = cfg.handshake_rtts * (rtt_s + _SYN_WIRE_BYTES / rate_bytes_per_s) if connect else 0.0
    left, cwnd = float(size_bytes), float(cfg.initial_window_packets * cfg.mss_bytes)
    first = cfg.packet_wire_bytes / rate_bytes_per_s + rtt_s  # first packet's ACK returns
    while left > 0:
        w = min(cwnd, left)
        serve = cfg.wire_bytes(w) / rate_bytes_per_s
        if serve >= first or w >= left:  # the link stays busy from here on
            return t + cfg.wire_bytes(left) / rate_bytes_per_s
        t += first
        left -= w
        cwnd *= slow_start_growth(cfg)
    return t
