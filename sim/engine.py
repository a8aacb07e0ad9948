"""The event-driven engine (SimPy): one policy over one workload on one link.

Pipeline per request: arrival -> policy decides -> edge compute (FIFO edge accelerator) ->
uplink transfer (FIFO fluid link) -> one-way latency -> cloud compute (FIFO cloud GPU) ->
first answer token -> one-way latency back to the user (``count_return_latency``).
Latency is measured from arrival to the first answer token at the user.

Each FIFO stage's start and end are computed exactly when a job joins it (service times
are known then), so the events are only those that order the queues or reveal something
to the policy: arrivals, "ready for the link" (when edge compute delays it), arrival at the
cloud (when RTT varies and could reorder messages) and, for policies that observe the
network, one completion event per transfer. Transfer times come from the trace's
cumulative capacity curve, never from stepping through time slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from policies.base import NetworkView, Policy, TransferObservation
from sim.costs import CostModel
from sim.network import FluidLink
from sim.server import FifoServer
from sim.traces import Trace
from sim.workload import Request

RECORD_COLUMNS = (
    "request", "arrival_s", "context_tokens", "deadline_s", "option", "mode", "precision",
    "retention", "payload_bytes", "edge_start_s", "edge_end_s", "link_start_s", "link_end_s",
    "cloud_start_s", "first_token_s", "latency_s", "hit", "quality", "quality_source",
)


@dataclass
class RunResult:
    """Per-request columns of one policy's run, plus resource accounting."""

    policy: str
    columns: dict[str, list] = field(default_factory=dict)
    link_bytes: float = 0.0
    link_busy_until_s: float = 0.0
    compute_sources: set[str] = field(default_factory=set)


def simulate(policy_label: str, policy: Policy, requests: list[Request], trace: Trace,
             costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
             count_return_latency: bool = True) -> RunResult:
    """Run ``policy`` over ``requests``; returns per-request records."""
    env = simpy.Environment()
    edge = FifoServer("edge")
    cloud = FifoServer("cloud")
    link = FluidLink(trace, default_rtt_s=default_rtt_s, efficiency=link_efficiency)
    view = NetworkView()
    observe = not policy.static
    constant_latency = trace.rtt_s is None or bool(np.all(trace.rtt_s == trace.rtt_s[0]))
    n = len(requests)
    cols: dict[str, list] = {c: [None] * n for c in RECORD_COLUMNS}
    result = RunResult(policy_label, cols)

    def record(req: Request, c, edge_start: float, ready: float, link_start: float,
               link_end: float, cloud_start: float, first_token: float) -> None:
        i = req.index
        latency = first_token - req.arrival_s
        op = c.op
        for key, value in (
            ("request", i), ("arrival_s", req.arrival_s), ("context_tokens", req.context_tokens),
            ("deadline_s", req.deadline_s), ("option", op.label), ("mode", op.mode),
            ("precision", op.precision), ("retention", op.retention),
            ("payload_bytes", c.payload_bytes), ("edge_start_s", edge_start),
            ("edge_end_s", ready), ("link_start_s", link_start), ("link_end_s", link_end),
            ("cloud_start_s", cloud_start), ("first_token_s", first_token),
            ("latency_s", latency), ("hit", latency <= req.deadline_s),
            ("quality", c.quality), ("quality_source", c.quality_source),
        ):
            cols[key][i] = value

    def at_cloud(req, c, edge_start, ready, link_start, link_end, now):
        start = cloud.serve(now, c.cloud_busy_s)
        ttft = start + c.cloud_ttft_s
        back = link.one_way_latency_s(ttft) if count_return_latency else 0.0
        record(req, c, edge_start, ready, link_start, link_end, start, ttft + back)

    def on_ready(req, c, edge_start, ready):
        start, end = link.send(ready, c.payload_bytes)
        if observe and math.isfinite(end):
            obs = TransferObservation(c.payload_bytes, start, end)
            rtt = 2 * link.one_way_latency_s(start)
            ev = env.timeout(end - env.now)
            ev.callbacks.append(lambda _e: (view.transfers.append(obs),
                                            view.rtt_samples_s.append((end, rtt))))
        arrive = end + link.one_way_latency_s(start)
        if not math.isfinite(arrive):
            record(req, c, edge_start, ready, start, end, math.inf, math.inf)
        elif constant_latency or arrive <= env.now:
            at_cloud(req, c, edge_start, ready, start, end, arrive)
        else:
            env.timeout(arrive - env.now).callbacks.append(
                lambda _e: at_cloud(req, c, edge_start, ready, start, end, arrive))

    def on_arrival(req: Request) -> None:
        view.now_s = env.now
        op = policy.decide(req, view)
        c = costs.cost(op, req)
        result.compute_sources.update(c.compute_sources)
        if c.edge_busy_s > 0:
            edge_start = edge.serve(env.now, c.edge_busy_s)
            ready = edge_start + c.edge_s
        else:
            edge_start = ready = env.now
        if op.mode == "edge-local":
            record(req, c, edge_start, ready, math.nan, math.nan, math.nan, ready)
        elif ready <= env.now:
            on_ready(req, c, edge_start, ready)
        else:
            env.timeout(ready - env.now).callbacks.append(
                lambda _e: on_ready(req, c, edge_start, ready))

    def arrivals():
        for req in requests:
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            on_arrival(req)

    env.process(arrivals())
    env.run()
    result.link_bytes = link.bytes_sent
    result.link_busy_until_s = link.free_at_s
    return result
