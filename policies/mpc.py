"""``mpc``: model-predictive choice that looks ahead over the next requests.

:meth:`MPC.decide` makes exactly the choices of :meth:`MPC.decide_reference` (the plain
scalar code, kept as the reference that tests/policies/test_mpc_fast.py compares it with),
faster (docs/benchmarks.md has the numbers): the look-ahead's predictions are the same float
operations in the same order as :meth:`policies.predict.Predictor.first_token_s`, on each
request shape's options flattened once (:class:`_Shape`) and with what a decision shares
worked out once (:class:`_Plan`: each step's arrival, budget, drained bytes and RTT
estimate; TCP's time on the link per payload and RTT); options that predict alike are
scanned once; and a candidate whose best possible score cannot beat the best key so far is
never evaluated (candidates come in quality order, so the first such one ends the search:
on a quiet link, after the first).
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
from policies.base import History, NetworkView, PolicyContext
from policies.predict import Predictor


class MPC(Adaptive):
    """Like ``adaptive``, but a candidate is scored by the utility of this request plus the
    next ``horizon`` requests it is predicted to delay (robustMPC's idea, over requests
    instead of video chunks): the future requests are assumed to arrive at the observed
    mean inter-arrival time with the current request's shape, and each picks greedily
    (as ``adaptive``) given the backlog this choice leaves on the uplink. So a large KV
    transfer that would make the next requests miss loses to a smaller one.

    Parameters as ``adaptive``, plus ``horizon`` (3 requests): :class:`MPC.Params`.
    :meth:`decide` is the fast form of :meth:`decide_reference` (the same choices).
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
        if type(arrivals) is History:  # its count and O(1) ends (the same as [-1] and [0])
            n = arrivals.total
            if n <= 1:
                return request.deadline_s
            return (arrivals.last() - arrivals.first()) / (n - 1)
        n = len(arrivals)
        return (arrivals[-1] - arrivals[0]) / (n - 1) if n > 1 else request.deadline_s

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        self.observe(view)
        rate = self.current_throughput(view)
        self.last_estimate_bytes_per_s = rate
        key = (request.context_tokens, request.question_tokens, request.answer_tokens)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = _Shape(*self.options(request), self.horizon)
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
    """One request shape's options in quality order (``Adaptive.options``): per option
    what its predicted first-token time reads, ``(edge, edge_s, link, payload_bytes,
    ttft_s)``, and the options a scan for the first one within budget visits: an option
    that predicts exactly as an earlier one fails whenever that one did, so it is left
    out."""

    __slots__ = ("ops", "quality", "stage", "busy_s", "link", "payload_bytes", "scan",
                 "fallback", "bound")

    def __init__(self, ranked: list[tuple[OperatingPoint, Any]], fallback: OperatingPoint,
                 horizon: int):
        costs = [c for _, c in ranked]
        self.ops = [op for op, _ in ranked]
        self.quality = [c.quality for c in costs]
        self.stage = [(c.edge_busy_s > 0, c.edge_s, bool(c.uses_link), c.payload_bytes,
                       c.cloud_ttft_s) for c in costs]
        self.busy_s = [c.edge_busy_s if c.edge_busy_s > 0 else None for c in costs]
        self.link = [bool(c.uses_link) for c in costs]
        self.payload_bytes = [c.payload_bytes for c in costs]
        self.fallback = next(i for i, op in enumerate(self.ops) if op is fallback)
        seen, scan = set(), []
        for i, (edge, edge_s, link, payload, ttft) in enumerate(self.stage):
            sig = (edge, edge_s if edge else None, link, (payload, ttft) if link else None)
            if sig not in seen:
                seen.add(sig)
                scan.append((i, self.stage[i]))
        self.scan = tuple(scan)
        # no look-ahead adds more than the best quality a step: float sums are monotone
        self.bound, top = 0.0, max(self.quality[0], 0.0)  # the first is the best
        for _ in range(horizon):
            self.bound += top


class _Plan:
    """One decision of :class:`MPC`: what :class:`~policies.predict.Predictor` would work
    out for the current request and for each look-ahead step, once."""

    __slots__ = ("shape", "now", "edge_free", "backlog_bytes", "prate", "rtt_first",
                 "before", "ret", "cloud_ready", "tcp", "deadline", "steps", "rtt_now",
                 "own_drained", "narrowed", "_tcp_s")

    def __init__(self, mpc: MPC, shape: _Shape, request: Request, view: NetworkView,
                 rate: float, gap: float):
        self.shape = shape
        self.narrowed = False
        now = self.now = view.now_s
        self.edge_free = view.edge_free_at_s
        backlog = self.backlog_bytes = view.link_backlog_bytes
        prate = self.prate = rate * view.link_efficiency  # Predictor.rate, MPC's link_rate
        before = self.before = view.latency == "before"
        self.ret = view.count_return_latency
        self.cloud_ready = view.cloud_free_at_s + view.waiting_cloud_work_s
        tcp = self.tcp = view.tcp
        self.rtt_first = before and tcp is None  # bytes_start_s: the RTT before the bytes
        if tcp is not None:
            self._tcp_s: dict[tuple[int, float], float] = {}
        slack = mpc.safety * request.deadline_s
        self.deadline = request.arrival_s + slack
        self.own_drained = now + (backlog + 0.0) / prate if prate > 0 else 0.0
        # per look-ahead step: (arrival, budget, bytes drained since now, RTT estimate,
        # the options to scan: all until narrowed)
        steps = self.steps = []
        scan = shape.scan
        estimate = mpc.rtt.estimate
        self.rtt_now = estimate(now)
        for h in range(1, mpc.horizon + 1):
            t = now + h * gap
            steps.append((t, t + slack, prate * h * gap, estimate(t), scan))

    def _tcp_xfer_s(self, payload_bytes: int, rtt: float) -> float:
        """TCP's time on the link (``constant_rate_s``, as the predictor calls it)."""
        x = self._tcp_s.get((payload_bytes, rtt))
        if x is None:
            tcp = self.tcp
            x = self._tcp_s[payload_bytes, rtt] = constant_rate_s(
                tcp, payload_bytes, self.prate / tcp.efficiency, rtt,
                connect=tcp.connection == "new")
        return x

    def first_token_s(self, stage: tuple[bool, float, bool, int, float], now: float,
                      edge_free: float, drained: float, rtt: float) -> float:
        """``Predictor.first_token_s`` of an option (``stage``: :class:`_Shape`'s): the
        same operations in the same order."""
        edge, edge_s, link, payload, ttft = stage
        ready = ((now if now > edge_free else edge_free) + edge_s) if edge else now
        if not link:
            return ready
        rate = self.prate
        if rate <= 0:
            return math.inf
        start = drained if drained > ready else ready
        if self.tcp is None:
            if self.rtt_first:
                start = start + rtt
            end = start + payload / rate
        else:
            end = start + self._tcp_xfer_s(payload, rtt)
        half = rtt / 2
        if not self.before:
            end = end + half
        cloud = self.cloud_ready
        token = (cloud if cloud > end else end) + ttft
        return token + (half if self.ret else 0.0)

    def future_utility(self, i: int) -> float:
        """``MPC._future_utility`` of candidate ``i``."""
        s = self.shape
        link, payload, busy, quality = s.link, s.payload_bytes, s.busy_s, s.quality
        backlog = float(payload[i]) if link[i] else 0.0
        edge_free = self.edge_free
        if busy[i] is not None:
            now = self.now
            edge_free = (now if now > edge_free else edge_free) + busy[i]
        total, base, prate, rtt_now = 0.0, self.backlog_bytes, self.prate, self.rtt_now
        ft = self.first_token_s
        for t, budget, drain, rtt, scan in self.steps:
            left = base + backlog - drain
            drained = t + ((left if left > 0.0 else 0.0) + 0.0) / prate if prate > 0 else 0.0
            j = -1
            for k, stage in scan:  # Adaptive.pick: the first option within budget
                if ft(stage, t, edge_free, drained, rtt) <= budget:
                    j = k
                    break
            if rtt == rtt_now:  # the check's predictor is the pick's: passes iff one did
                if j >= 0:
                    total += quality[j]
                else:
                    j = s.fallback
            else:
                j = s.fallback if j < 0 else j
                if ft(s.stage[j], t, edge_free, drained, rtt_now) <= budget:
                    total += quality[j]
            if link[j]:
                backlog += payload[j]
            if busy[j] is not None:
                edge_free = (t if t > edge_free else edge_free) + busy[j]
        return total

    def narrow(self) -> float:
        """Leave out of each step's scan the options that miss even with the least the
        step can hold (no bytes of this request or the ones between, the edge as free as
        now): a prediction only grows with the queues (every operation in it is monotone),
        so they miss for every candidate. Returns the bound on a candidate's future that
        this gives (per step, the best quality that can still pass)."""
        s = self.shape
        scan, ft, edge_free = s.scan, self.first_token_s, self.edge_free
        base, prate, rtt_now = self.backlog_bytes + 0.0, self.prate, self.rtt_now
        bound, steps = 0.0, []
        for t, budget, drain, rtt, _ in self.steps:
            left = base - drain
            drained = t + ((left if left > 0.0 else 0.0) + 0.0) / prate if prate > 0 else 0.0
            most, start = 0.0, len(scan)
            for n, (k, stage) in enumerate(scan):
                if ft(stage, t, edge_free, drained, rtt) <= budget:
                    most, start = s.quality[k], n
                    break
            steps.append((t, budget, drain, rtt, scan[start:]))
            if rtt != rtt_now:  # the check may pass the pick, the fallback included
                most = max(most, s.quality[s.fallback])
            bound += most if most > 0.0 else 0.0
        self.steps, self.narrowed = steps, True
        return bound

    def best(self) -> OperatingPoint:
        """``MPC.decide_reference``'s choice. Every future step adds at most the best
        quality, so a candidate scores at most ``own + bound`` (float sums are monotone):
        one whose bound cannot beat the best key so far is skipped, and once ``max(quality,
        0) + bound`` cannot, no later one can either (quality order). From the second
        candidate on, :meth:`narrow` tightens the bound and the scans."""
        s = self.shape
        bound = s.bound
        now, edge_free, drained, rtt = self.now, self.edge_free, self.own_drained, self.rtt_now
        best, best_key = 0, None
        for i, q in enumerate(s.quality):
            if best_key is not None:
                most = q if q > 0.0 else 0.0
                if (most + bound, most) <= best_key:
                    break
            own = q if self.first_token_s(s.stage[i], now, edge_free, drained,
                                          rtt) <= self.deadline else 0.0
            if best_key is not None:
                if not self.narrowed:
                    bound = self.narrow()
                if (own + bound, own) <= best_key:
                    continue
            key = (own + self.future_utility(i), own)
            if best_key is None or key > best_key:
                best, best_key = i, key
        return s.ops[best]
