"""``adaptive``: the highest expected quality that is predicted to meet the deadline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from models.errors import InputError
from models.operating import OperatingPoint
from models.request import Request
from models.units import mbps_to_bytes_per_s
from policies.base import History, NetworkView, Policy, PolicyContext
from policies.estimators import make_estimator
from policies.predict import Prediction, Predictor


class Adaptive(Policy):
    """Per request, among every operating point the quality cache values, pick the highest
    expected quality whose predicted first-token time (queue + compute + payload /
    throughput estimate + latency, see :mod:`policies.predict`) is within
    ``safety x deadline``; if none is, the smallest payload (edge-local when available).

    Parameters: see :class:`Adaptive.Params` (``python -m sim.run --list-policies``).
    """

    name = "adaptive"

    @dataclass(frozen=True)
    class Params:
        estimator: Literal["ewma", "harmonic", "min", "robust"] = field(
            default="ewma", metadata={
                "help": "throughput estimator (policies.estimators); ewma was chosen on the "
                        "shipped synthetic traces (README)"})
        window: int = field(default=5, metadata={
            "help": "samples the windowed estimators keep", "range": "[1, inf)"})
        safety: float = field(default=0.8, metadata={
            "help": "an option qualifies when predicted within safety x deadline",
            "range": "(0, 1]"})
        prior_mbps: float = field(default=1.0, metadata={
            "help": "throughput assumed before the first completed transfer, Mbit/s "
                    "(conservative)", "range": "[0, inf)"})
        max_age_s: float = field(default=30.0, metadata={
            "help": "samples older than this expire, s (policies.estimators)",
            "range": "[0, inf]"})
        retention: float | None = field(default=None, metadata={
            "help": "ignored (every option carries its own retention); accepted so that "
                    "NAME:RETENTION parses", "range": "(0, 1]"})

    def __init__(self, **params: Any) -> None:
        p = self.Params(**params)  # an unknown name is a TypeError, as with a signature
        super().__init__(estimator=p.estimator, window=p.window, safety=p.safety,
                         prior_mbps=p.prior_mbps, max_age_s=p.max_age_s)
        self.max_age_s = p.max_age_s
        if not 0 < p.safety <= 1:
            raise InputError(f"adaptive safety factor must be in (0, 1], not {p.safety}")
        self.safety = p.safety
        self.estimator_name, self.window, self.prior_mbps = p.estimator, p.window, p.prior_mbps
        self.last_estimate_bytes_per_s: float | None = None

    def reset(self, context: PolicyContext) -> None:
        super().reset(context)
        if not context.options:
            raise InputError(f"policy {self.name} needs operating points with a quality: "
                             "use a quality cache (not --quality-cache none)")
        self.throughput = make_estimator(self.estimator_name, mbps_to_bytes_per_s(self.prior_mbps),
                                         self.window, self.max_age_s)
        self.rtt = make_estimator("ewma", 0.05, self.window, self.max_age_s)
        self._seen = 0
        self._rtts_seen = 0
        # best quality first; among equal quality, the smaller payload first
        self.ranked = sorted(context.options, key=lambda op: op.label)
        self._tables: dict[tuple[int, int, int], tuple[list, OperatingPoint]] = {}

    def observe(self, view: NetworkView) -> None:
        """Feed the estimators every observation that arrived since the last decision."""
        transfers, rtts = view.transfers, view.rtt_samples_s
        n = transfers.total if type(transfers) is History else len(transfers)
        if n != self._seen:
            update = self.throughput.update
            for obs in _since(transfers, self._seen):
                update(obs.throughput_bytes_per_s, obs.end_s)
            self._seen = n
        n = rtts.total if type(rtts) is History else len(rtts)
        if n != self._rtts_seen:
            update = self.rtt.update
            for t, rtt in _since(rtts, self._rtts_seen):
                update(rtt, t)
            self._rtts_seen = n

    def options(self, request: Request) -> tuple[list[tuple[OperatingPoint, Any]],
                                                 OperatingPoint]:
        """Every option with its cost for this request's shape, best quality first (among
        equal quality, the smaller payload first), and the fallback (the smallest payload,
        then the best quality): worked out once per shape, since costs depend on the
        request only through its token counts."""
        key = (request.context_tokens, request.question_tokens, request.answer_tokens)
        table = self._tables.get(key)
        if table is None:
            costs = self.context.costs
            ranked = sorted(((op, costs.cost(op, request)) for op in self.ranked),
                            key=lambda oc: (-oc[1].quality, oc[1].payload_bytes))
            fallback = min(ranked, key=lambda oc: (oc[1].payload_bytes, -oc[1].quality))[0]
            table = self._tables[key] = (ranked, fallback)
        return table

    def candidates(self, request: Request, view: NetworkView, throughput: float,
                   extra_backlog_bytes: float = 0.0) -> list[tuple[Prediction, OperatingPoint]]:
        """(prediction, op) for every option, best quality first."""
        p = Predictor(view, throughput, self.rtt.estimate(view.now_s), extra_backlog_bytes)
        return [(Prediction(p.first_token_s(c), c.payload_bytes, c.quality), op)
                for op, c in self.options(request)[0]]

    def choose(self, request: Request, view: NetworkView, throughput: float,
               extra_backlog_bytes: float = 0.0, **at: float) -> OperatingPoint:
        """The best-quality option predicted within ``safety x deadline``, else the
        fallback (``at``: :class:`~policies.predict.Predictor`'s overrides)."""
        budget = request.arrival_s + self.safety * request.deadline_s
        p = Predictor(view, throughput, self.rtt.estimate(at.get("now_s", view.now_s)),
                      extra_backlog_bytes, **at)
        return self.pick(request, p, budget)[0]

    def pick(self, request: Request, p: Predictor, budget_s: float
             ) -> tuple[OperatingPoint, Any]:
        """(option, its cost): the first in quality order that ``p`` predicts by
        ``budget_s``, else the fallback."""
        ranked, fallback = self.options(request)
        for op, c in ranked:
            if p.first_token_s(c) <= budget_s:
                return op, c
        return fallback, self.context.costs.cost(fallback, request)

    def current_throughput(self, view: NetworkView) -> float:
        """The estimator's value, capped by what a transfer still on the wire shows: one
        that started ``e`` seconds ago with ``B`` bytes and has not finished has run at
        less than ``B / e`` so far (stall detection: an outage shows up before any
        transfer completes)."""
        rate = self.throughput.estimate(view.now_s)
        for size, start in view.inflight:
            elapsed = view.now_s - start
            if elapsed > 0:
                rate = min(rate, size / elapsed)
        return rate

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        self.observe(view)
        throughput = self.current_throughput(view)
        self.last_estimate_bytes_per_s = throughput
        return self.choose(request, view, throughput)


def _since(entries: History | list, count: int) -> list:
    """The entries after the first ``count``: a view's :class:`~policies.base.History`
    (its fast path), or a plain list a caller built the view with."""
    return entries.since(count) if isinstance(entries, History) else entries[count:]
