"""Predicted first-token time of an operating point, from what the sender knows.

``queue + compute + payload / throughput estimate + latency``: the request waits for the edge
accelerator (its queue is known exactly), then for the bytes already queued on the uplink
to drain at the estimated throughput, then sends its own payload at that throughput, then
one-way latency, then waits for the cloud GPU (its queue is exposed) and computes, then the
first token travels back. Used by ``adaptive``, ``mpc`` and ``slack``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.operating import OperatingPoint
from models.pipeline import at_cloud_s, at_user_s, bytes_start_s, edge_stage_s, first_token_s
from models.request import Request
from models.transport import constant_rate_s
from policies.base import NetworkView


@dataclass(frozen=True)
class Prediction:
    first_token_s: float
    payload_bytes: int
    quality: float


class Predictor:
    """:func:`predict` for one view, throughput estimate and RTT, with what every option
    shares worked out once: ``first_token_s(cost)`` per option. ``now_s``,
    ``backlog_bytes`` and ``edge_free_at_s`` override the view's (a look-ahead's future
    request)."""

    __slots__ = ("now", "edge_free", "rate", "drained", "rtt", "half", "latency", "tcp",
                 "cloud_ready", "count_return")

    def __init__(self, view: NetworkView, throughput_bytes_per_s: float, rtt_s: float,
                 extra_backlog_bytes: float = 0.0, *, now_s: float | None = None,
                 backlog_bytes: float | None = None, edge_free_at_s: float | None = None):
        self.now = view.now_s if now_s is None else now_s
        self.edge_free = view.edge_free_at_s if edge_free_at_s is None else edge_free_at_s
        backlog = view.link_backlog_bytes if backlog_bytes is None else backlog_bytes
        self.rate = rate = throughput_bytes_per_s * view.link_efficiency
        self.drained = self.now + (backlog + extra_backlog_bytes) / rate if rate > 0 else 0.0
        self.rtt, self.half = rtt_s, rtt_s / 2
        self.latency, self.tcp = view.latency, view.tcp
        self.cloud_ready = view.cloud_free_at_s + view.waiting_cloud_work_s
        self.count_return = view.count_return_latency

    def first_token_s(self, c) -> float:
        """Predicted first-token time (absolute, s) of an option whose cost is ``c``."""
        _, ready = edge_stage_s(self.now, self.edge_free, c)
        if not c.uses_link:
            return ready
        rate = self.rate
        if rate <= 0:
            return math.inf
        tcp = self.tcp
        if tcp is None:
            end = bytes_start_s(max(ready, self.drained), self.rtt, self.latency) + \
                c.payload_bytes / rate
        else:  # TCP on a link whose goodput is the estimate (its capacity: goodput + headers)
            end = max(ready, self.drained) + constant_rate_s(
                tcp, c.payload_bytes, rate / tcp.efficiency, self.rtt,
                connect=tcp.connection == "new")
        arrive = at_cloud_s(end, self.half, self.latency)
        token = first_token_s(max(arrive, self.cloud_ready), c)
        return at_user_s(token, self.half, self.count_return)


def predict(op: OperatingPoint, req: Request, view: NetworkView, costs,
            throughput_bytes_per_s: float, rtt_s: float,
            extra_backlog_bytes: float = 0.0) -> Prediction:
    """Predicted first-token time (absolute, s) of ``req`` under ``op``: the stages of
    :mod:`models.pipeline` with the uplink's queue and rate replaced by the estimate."""
    c = costs.cost(op, req)
    p = Predictor(view, throughput_bytes_per_s, rtt_s, extra_backlog_bytes)
    return Prediction(p.first_token_s(c), c.payload_bytes, c.quality)
