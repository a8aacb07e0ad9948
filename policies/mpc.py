"""``mpc``: model-predictive choice that looks ahead over the next requests.

:meth:`MPC.decide` makes exactly the choices of :meth:`MPC.decide_reference` (the plain
scalar code, kept as the reference the tests compare against), faster: the look-ahead's
predictions are the same float operations in the same order as
:meth:`policies.predict.Predictor.first_token_s`, written out once per request shape with
what a decision shares worked out once (each option's transfer time at this decision's
throughput, the RTT estimate at each future arrival), options that predict alike scanned
once, and a candidate whose best possible score cannot beat the best so far never
evaluated (candidates come in quality order, so the first such one ends the search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from models.operating import OperatingPoint
from models.pipeline import edge_free_after_s
from models.request import Request
from models.transport import constant_rate_s
from policies.adaptive import Adaptive
from policies.base import NetworkView, PolicyContext
from policies.predict import Predictor


class MPC(Adaptive):
    """Like ``adaptive``, but a candidate is scored by the utility of this request plus the
    next ``horizon`` requests it is predicted to delay (robustMPC's idea, over requests
    instead of video chunks): the future requests are assumed to arrive at the observed
    mean inter-arrival time with the current request's shape, and each picks greedily
    (as ``adaptive``) given the backlog this choice leaves on the uplink. So a large KV
    transfer that would make the next requests miss loses to a smaller one.

    Parameters as ``adaptive``, plus ``horizon`` (3 requests): :class:`MPC.Params`.
    """

    name = "mpc"

    @dataclass(frozen=True)
    class Params(Adaptive.Params):
        horizon: int = field(default=3, metadata={
            "help": "later requests scored with each candidate (0: this request only)",
            "range": "[0, 1000]"})  # each candidate scores ``horizon`` requests

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.horizon = self.Params(**params).horizon

    def reset(self, context: PolicyContext) -> None:
        super().reset(context)
        self._shapes: dict[tuple[int, int, int], _Shape] = {}

    def _gap_s(self, request: Request, view: NetworkView) -> float:
        """The observed mean inter-arrival time (the deadline before two arrivals)."""
        arrivals = view.arrivals_s
        return ((arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) if len(arrivals) > 1
                else request.deadline_s)

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        self.observe(view)
        rate = self.current_throughput(view)
        self.last_estimate_bytes_per_s = rate
        key = (request.context_tokens, request.question_tokens, request.answer_tokens)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = _Shape(*self.options(request))
        return _Plan(self, shape, request, view, rate, self._gap_s(request, view)).best()

    # ------------------------------------------------------------------ the reference
    def decide_reference(self, request: Request, view: NetworkView) -> OperatingPoint:
        """:meth:`decide` as plain scalar code (every candidate, every look-ahead step
        through :class:`~policies.predict.Predictor`): the reference it must equal."""
        self.observe(view)
        rate = self.current_throughput(view)
        self.last_estimate_bytes_per_s = rate
        gap = self._gap_s(request, view)
        deadline = request.arrival_s + self.safety * request.deadline_s
        best, best_score = None, None
        for pred, op in self.candidates(request, view, rate):
            own = pred.quality if pred.first_token_s <= deadline else 0.0
            score = own + self._future_utility(request, view, rate, op, gap)
            key = (score, own)
            if best_score is None or key > best_score:
                best, best_score = op, key
        return best  # type: ignore[return-value]

    def _future_utility(self, request: Request, view: NetworkView, rate: float,
                        op: OperatingPoint, gap: float) -> float:
        c = self.context.costs.cost(op, request)
        backlog = c.payload_bytes if c.uses_link else 0.0
        edge_free = edge_free_after_s(view.now_s, view.edge_free_at_s, c)
        total, link_rate = 0.0, rate * view.link_efficiency
        rtt_now = self.rtt.estimate(view.now_s)
        slack = self.safety * request.deadline_s
        for h in range(1, self.horizon + 1):
            # the h-th next request: this one's shape, arriving h gaps from now
            t = view.now_s + h * gap
            drained = max(0.0, view.link_backlog_bytes + backlog - link_rate * h * gap)
            at = dict(now_s=t, backlog_bytes=drained, edge_free_at_s=edge_free)
            _, cc = self.pick(request, Predictor(view, rate, self.rtt.estimate(t), **at),
                              t + slack)
            if Predictor(view, rate, rtt_now, **at).first_token_s(cc) <= t + slack:
                total += cc.quality
            backlog += cc.payload_bytes if cc.uses_link else 0.0
            edge_free = edge_free_after_s(t, edge_free, cc)
        return total


class _Shape:
    """One request shape's options in quality order (``Adaptive.options``), as flat
    per-option lists, and the indices a scan for the first option within budget visits:
    an option that predicts exactly as an earlier one (same link use, edge work, payload
    and cloud time to first token) fails whenever that one did, so it is left out."""

    __slots__ = ("ops", "costs", "quality", "edge", "edge_s", "busy_s", "link",
                 "payload_bytes", "ttft_s", "scan", "fallback")

    def __init__(self, ranked: list[tuple[OperatingPoint, Any]], fallback: OperatingPoint):
        self.ops = [op for op, _ in ranked]
        self.costs = [c for _, c in ranked]
        self.quality = [c.quality for c in self.costs]
        self.edge = [c.edge_busy_s > 0 for c in self.costs]
        self.edge_s = [c.edge_s for c in self.costs]
        self.busy_s = [c.edge_busy_s for c in self.costs]
        self.link = [bool(c.uses_link) for c in self.costs]
        self.payload_bytes = [c.payload_bytes for c in self.costs]
        self.ttft_s = [c.cloud_ttft_s for c in self.costs]
        self.fallback = next(i for i, op in enumerate(self.ops) if op is fallback)
        seen, scan = set(), []
        for i, c in enumerate(self.costs):
            sig = (self.edge[i], self.edge_s[i] if self.edge[i] else None, self.link[i],
                   (c.payload_bytes, c.cloud_ttft_s) if c.uses_link else None)
            if sig not in seen:
                seen.add(sig)
                scan.append(i)
        self.scan = tuple(scan)


class _Plan:
    """One decision of :class:`MPC`: what :class:`~policies.predict.Predictor` would work
    out for the current request and for each look-ahead step, once."""

    __slots__ = ("shape", "view", "request", "now", "edge_free", "backlog_bytes", "prate",
                 "before", "ret", "cloud_ready", "tcp", "tcp_rate", "connect", "xfer_s",
                 "deadline", "horizon", "times", "drains", "budgets", "rtts", "rtt_now",
                 "own_drained", "_xfer_by_rtt")

    def __init__(self, mpc: MPC, shape: _Shape, request: Request, view: NetworkView,
                 rate: float, gap: float):
        self.shape, self.view, self.request = shape, view, request
        now = self.now = view.now_s
        self.edge_free = view.edge_free_at_s
        backlog = self.backlog_bytes = view.link_backlog_bytes
        prate = self.prate = rate * view.link_efficiency  # Predictor.rate, MPC's link_rate
        self.before = view.latency == "before"
        self.ret = view.count_return_latency
        self.cloud_ready = view.cloud_free_at_s + view.waiting_cloud_work_s
        tcp = self.tcp = view.tcp
        self._xfer_by_rtt: dict[float, list[float]] = {}
        if tcp is None:
            self.xfer_s = [p / prate for p in shape.payload_bytes] if prate > 0 else []
        else:
            self.tcp_rate, self.connect = prate / tcp.efficiency, tcp.connection == "new"
        self.deadline = request.arrival_s + mpc.safety * request.deadline_s
        slack = mpc.safety * request.deadline_s
        estimate = mpc.rtt.estimate
        self.rtt_now = estimate(now)
        self.own_drained = now + (backlog + 0.0) / prate if prate > 0 else 0.0
        self.horizon = mpc.horizon
        steps = range(1, mpc.horizon + 1)
        self.times = [now + h * gap for h in steps]
        self.drains = [prate * h * gap for h in steps]
        self.budgets = [t + slack for t in self.times]
        self.rtts = [estimate(t) for t in self.times]

    def _xfer(self, rtt: float) -> list[float]:
        """Each option's time on the link from the moment it takes it (by rank)."""
        if self.tcp is None:
            return self.xfer_s
        x = self._xfer_by_rtt.get(rtt)
        if x is None:
            tcp, rate, connect = self.tcp, self.tcp_rate, self.connect
            x = self._xfer_by_rtt[rtt] = [
                constant_rate_s(tcp, p, rate, rtt, connect=connect) if link else 0.0
                for p, link in zip(self.shape.payload_bytes, self.shape.link, strict=True)]
        return x

    def first_token_s(self, i: int, now: float, edge_free: float, drained: float,
                      rtt: float, xfer: list[float]) -> float:
        """``Predictor.first_token_s`` of option ``i`` (its operations, in its order)."""
        s = self.shape
        if s.edge[i]:
            ready = (now if now > edge_free else edge_free) + s.edge_s[i]
        else:
            ready = now
        if not s.link[i]:
            return ready
        if self.prate <= 0:
            return math.inf
        x = drained if drained > ready else ready
        if self.tcp is None and self.before:
            x = x + rtt
        end = x + xfer[i]
        half = rtt / 2
        arrive = end if self.before else end + half
        cloud = self.cloud_ready
        token = (cloud if cloud > arrive else arrive) + s.ttft_s[i]
        return token + (half if self.ret else 0.0)

    def first_within(self, now: float, edge_free: float, drained: float, rtt: float,
                     budget: float) -> int:
        """``Adaptive.pick``: the first option (rank) predicted within ``budget``, else
        -1 (the fallback)."""
        xfer = self._xfer(rtt)
        ft = self.first_token_s
        for i in self.shape.scan:
            if ft(i, now, edge_free, drained, rtt, xfer) <= budget:
                return i
        return -1

    def future_utility(self, i: int) -> float:
        """``MPC._future_utility`` of candidate ``i``."""
        s = self.shape
        backlog = float(s.payload_bytes[i]) if s.link[i] else 0.0
        now, edge_free = self.now, self.edge_free
        if s.edge[i]:
            edge_free = (now if now > edge_free else edge_free) + s.busy_s[i]
        total, base, prate = 0.0, self.backlog_bytes, self.prate
        rtt_now, quality = self.rtt_now, s.quality
        for h in range(self.horizon):
            t, budget, rtt = self.times[h], self.budgets[h], self.rtts[h]
            left = base + backlog - self.drains[h]
            left = left if left > 0.0 else 0.0
            drained = t + (left + 0.0) / prate if prate > 0 else 0.0
            j = self.first_within(t, edge_free, drained, rtt, budget)
            if rtt == rtt_now:  # the check's predictor is the pick's: passes iff one did
                if j >= 0:
                    total += quality[j]
            else:
                j = s.fallback if j < 0 else j
                if self.first_token_s(j, t, edge_free, drained, rtt_now,
                                      self._xfer(rtt_now)) <= budget:
                    total += quality[j]
            if j < 0:
                j = s.fallback
            if s.link[j]:
                backlog += s.payload_bytes[j]
            if s.edge[j]:
                edge_free = (t if t > edge_free else edge_free) + s.busy_s[j]
        return total

    def best(self) -> OperatingPoint:
        """``MPC.decide_reference``'s choice. Every future step adds at most the best
        quality, so a candidate scores at most ``max(quality, 0) + bound`` (float sums are
        monotone): once that cannot beat the best key so far, neither can a later one."""
        s = self.shape
        bound, top = 0.0, max(max(s.quality), 0.0)
        for _ in range(self.horizon):
            bound += top
        xfer = self._xfer(self.rtt_now)
        best, best_key = -1, None
        for i, q in enumerate(s.quality):
            if best_key is not None:
                most = q if q > 0.0 else 0.0
                if (most + bound, most) <= best_key:
                    break
            own = q if self.first_token_s(i, self.now, self.edge_free, self.own_drained,
                                          self.rtt_now, xfer) <= self.deadline else 0.0
            key = (own + self.future_utility(i), own)
            if best_key is None or key > best_key:
                best, best_key = i, key
        return s.ops[best]
