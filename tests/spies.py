"""Policies that record what they saw, for tests (registered by monkeypatching)."""

from __future__ import annotations

from models.operating import OperatingPoint
from policies.base import Policy
from policies.oracle import Oracle


class FutureSpy(Policy):
    """Counts decisions at which the view held anything from the future."""

    name = "spy"
    violations = 0
    decisions = 0

    def decide(self, request, view):
        FutureSpy.decisions += 1
        if any(t.end_s > view.now_s for t in view.transfers):
            FutureSpy.violations += 1
        if any(t > view.now_s for t, _ in view.rtt_samples_s) or view.what_if is not None:
            FutureSpy.violations += 1
        if any(start > view.now_s for _, start in view.inflight):
            FutureSpy.violations += 1
        return OperatingPoint("kv", "int4") if request.index % 2 else OperatingPoint("scout")


class ExactnessSpy(Oracle):
    """The oracle, recording what it predicted for the option it chose."""

    name = "oracle-spy"
    predicted: dict[int, float] = {}

    def decide(self, request, view):
        op = super().decide(request, view)
        ExactnessSpy.predicted[request.index] = view.what_if(op)
        return op
