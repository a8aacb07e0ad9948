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


def predict(op: OperatingPoint, req: Request, view: NetworkView, costs,
            throughput_bytes_per_s: float, rtt_s: float,
            extra_backlog_bytes: float = 0.0) -> Prediction:
    """Predicted first-token time (absolute, s) of ``req`` under ``op``: the stages of
    :mod:`models.pipeline` with the uplink's queue and rate replaced by the estimate."""
    c = costs.cost(op, req)
    now = view.now_s
    _, ready = edge_stage_s(now, view.edge_free_at_s, c)
    if not c.uses_link:
        return Prediction(ready, 0, c.quality)
    rate = throughput_bytes_per_s * view.link_efficiency
    if rate <= 0:
        return Prediction(math.inf, c.payload_bytes, c.quality)
    drained = now + (view.link_backlog_bytes + extra_backlog_bytes) / rate
    if view.tcp is None:
        end = bytes_start_s(max(ready, drained), rtt_s, view.latency) + c.payload_bytes / rate
    else:  # TCP on a link whose goodput is the estimate (its capacity: goodput + headers)
        end = max(ready, drained) + constant_rate_s(
            view.tcp, c.payload_bytes, rate / view.tcp.efficiency, rtt_s,
            connect=view.tcp.connection == "new")
    arrive = at_cloud_s(end, rtt_s / 2, view.latency)
    token = first_token_s(max(arrive, view.cloud_free_at_s + view.waiting_cloud_work_s), c)
    return Prediction(at_user_s(token, rtt_s / 2, view.count_return_latency),
                      c.payload_bytes, c.quality)
