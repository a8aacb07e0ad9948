"""``mpc``: model-predictive choice that looks ahead over the next requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.operating import OperatingPoint
from models.pipeline import edge_free_after_s
from models.request import Request
from policies.adaptive import Adaptive
from policies.base import NetworkView
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

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        self.observe(view)
        rate = self.current_throughput(view)
        self.last_estimate_bytes_per_s = rate
        arrivals = view.arrivals_s
        gap = ((arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) if len(arrivals) > 1
               else request.deadline_s)
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
