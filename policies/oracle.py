"""``oracle``: knows the future trace; the upper bound to show next to every policy."""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.errors import InputError
from models.operating import OperatingPoint
from models.request import Request
from policies.base import NetworkView, Policy, PolicyContext


class Oracle(Policy):
    """Per request, the highest expected quality whose *exact* first-token time (the
    engine's ``what_if``: the current queues and the future trace) meets the deadline; if
    none does, the option that finishes first.

    It is clairvoyant about the network but greedy over requests: it does not give up
    quality now to spare a later request. It is therefore an upper bound on what any
    per-request choice could achieve given perfect throughput prediction, not the offline
    optimum over the whole sequence.
    """

    name = "oracle"
    clairvoyant = True

    @dataclass(frozen=True)
    class Params:
        """No parameters."""

    def reset(self, context: PolicyContext) -> None:
        super().reset(context)
        if not context.options:
            raise InputError("policy oracle needs operating points with a quality: "
                             "use a quality cache (not --quality-cache none)")
        costs = context.costs
        self.ranked = sorted(context.options, key=lambda op: op.label)
        self._quality = {op: costs.quality.quality(op).mean for op in self.ranked}
        self.ranked.sort(key=lambda op: -self._quality[op])

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        if view.what_if is None:
            raise RuntimeError("oracle needs the event engine's what_if")
        deadline = request.arrival_s + request.deadline_s
        best, best_t = None, math.inf
        for op in self.ranked:
            t = view.what_if(op)
            if t <= deadline:
                return op
            if t < best_t:
                best, best_t = op, t
        return best if best is not None else self.ranked[-1]
