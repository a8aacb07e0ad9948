"""The event-driven engine (SimPy): one policy over one workload on one link.

Pipeline per request: arrival -> policy decides -> edge compute (FIFO edge accelerator) ->
uplink transfer (FIFO fluid link) -> one-way latency -> cloud compute (FIFO cloud GPU) ->
first answer token -> one-way latency back to the user (``count_return_latency``).
Latency is measured from arrival to the first answer token at the user.

Events. Arrivals are SimPy events (a chain: each arrival schedules the next). A policy that
observes the network gets one SimPy event per transfer, at its completion, which appends
the observation to its :class:`~policies.base.NetworkView`; static policies need none.

Queues. Every stage is FIFO with service times known when a job joins it, so a job's
start and end follow exactly from ``max(ready, server free)``. The only subtlety is the
*order* in which jobs join: a request that skips the edge (cloud-text) can become ready for
the link before an earlier one still in edge compute, and a varying RTT can reorder arrivals
at the cloud. Jobs therefore wait in a ready-time heap and join the next stage in ready
order when the clock passes their ready time (before each arrival is decided, and at the
end). Nothing can join with an earlier ready time later on, since every later request
arrives after the clock. Transfer times come from the trace's cumulative capacity curve,
never from stepping through time slots.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import simpy

from policies.base import NetworkView, Policy, TransferObservation
from sim.costs import CostModel, OpCost
from sim.network import FluidLink
from sim.server import FifoServer
from sim.traces import Trace
from sim.workload import Request

RECORD_COLUMNS = (
    "request", "arrival_s", "context_tokens", "deadline_s", "option", "mode", "precision",
    "retention", "payload_bytes", "edge_start_s", "edge_end_s", "link_start_s", "link_end_s",
    "cloud_start_s", "first_token_s", "latency_s", "hit", "quality", "quality_source",
    "estimate_mbps", "truth_mbps",
)
MBPS = 1e6 / 8  # bytes/s per Mbit/s


def truth_mbps(payload_bytes: float, link_start_s: float, link_end_s: float) -> float:
    """The goodput a transfer achieved (what a throughput estimator tries to predict)."""
    span = link_end_s - link_start_s
    return payload_bytes / span / MBPS if span > 0 and math.isfinite(span) else math.nan


def record_row(req: Request, c: OpCost, estimate_mbps: float, edge_start_s: float,
               edge_end_s: float, link_start_s: float, link_end_s: float,
               cloud_start_s: float, first_token_s: float) -> tuple:
    """One request's record, in RECORD_COLUMNS order (times in s from the run's start)."""
    op = c.op
    latency = first_token_s - req.arrival_s
    return (req.index, req.arrival_s, req.context_tokens, req.deadline_s, op.label, op.mode,
            op.precision, op.retention, c.payload_bytes, edge_start_s, edge_end_s,
            link_start_s, link_end_s, cloud_start_s, first_token_s, latency,
            latency <= req.deadline_s, c.quality, c.quality_source, estimate_mbps,
            truth_mbps(c.payload_bytes, link_start_s, link_end_s))


@dataclass
class RunResult:
    """Per-request rows (tuples in RECORD_COLUMNS order) of one policy's run."""

    policy: str
    rows: list[tuple] = field(default_factory=list)
    link_bytes: float = 0.0
    compute_sources: set[str] = field(default_factory=set)


def simulate(policy_label: str, policy: Policy, requests: list[Request], trace: Trace,
             costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
             count_return_latency: bool = True) -> RunResult:
    """Run ``policy`` over ``requests`` (sorted by arrival); returns per-request rows."""
    env = simpy.Environment()
    edge = FifoServer("edge")
    cloud = FifoServer("cloud")
    link = FluidLink(trace, default_rtt_s=default_rtt_s, efficiency=link_efficiency)
    view = NetworkView()
    observe = not policy.static
    view.link_efficiency = link_efficiency
    view.count_return_latency = count_return_latency
    result = RunResult(policy_label)
    rows = result.rows
    to_link: list[tuple] = []  # heap of (ready_s, request index, job)
    to_cloud: list[tuple] = []  # heap of (arrival at cloud, request index, job)
    latency_s = link.one_way_latency_s

    estimates: dict[int, float] = {}
    sending: deque[tuple[float, float, float]] = deque()  # (start, end, bytes), FIFO order

    def record(req: Request, c: OpCost, edge_start, ready, link_start, link_end, cloud_start,
               first_token) -> None:
        rows.append(record_row(req, c, estimates.get(req.index, math.nan), edge_start, ready,
                               link_start, link_end, cloud_start, first_token))

    def observe_transfer(obs: TransferObservation, rtt_s: float) -> None:
        view.transfers.append(obs)
        view.rtt_samples_s.append((obs.end_s, rtt_s))
        view.link_backlog_bytes -= obs.size_bytes

    def join_cloud(item) -> None:
        arrive, _, req, c, edge_start, ready, start, end = item
        cloud_start = cloud.serve(arrive, c.cloud_busy_s)
        ttft = cloud_start + c.cloud_ttft_s
        back = latency_s(ttft) if count_return_latency else 0.0
        record(req, c, edge_start, ready, start, end, cloud_start, ttft + back)

    def join_link(item) -> None:
        ready, _, req, c, edge_start = item
        start, end = link.send(ready, c.payload_bytes)
        if not math.isfinite(end):  # a clipped trace ended first
            record(req, c, edge_start, ready, start, end, math.inf, math.inf)
            return
        if observe:
            obs = TransferObservation(c.payload_bytes, start, end)
            rtt = 2 * latency_s(start)
            if end <= env.now:
                observe_transfer(obs, rtt)
            else:
                ev = env.timeout(end - env.now)
                ev.callbacks.append(lambda _e, o=obs, r=rtt: observe_transfer(o, r))
            sending.append((start, end, c.payload_bytes))
        heapq.heappush(to_cloud, (end + latency_s(start), req.index, req, c, edge_start,
                                  ready, start, end))

    def advance(now: float) -> None:
        """Let every job whose ready time has passed join its next stage, in ready order."""
        while (to_link and to_link[0][0] <= now) or (to_cloud and to_cloud[0][0] <= now):
            if to_cloud and (not to_link or to_cloud[0][0] < to_link[0][0]):
                join_cloud(heapq.heappop(to_cloud))
            else:
                join_link(heapq.heappop(to_link))

    def what_if(req: Request, op) -> float:
        """Exact first-token time of ``req`` under ``op`` given the queues now and the
        future trace (for clairvoyant policies only). Requests that arrive later and
        overtake this one (cloud-text skipping a busy edge) are not foreseen."""
        c = costs.cost(op, req)
        now = env.now
        ready = max(now, edge.free_at_s) + c.edge_s if c.edge_busy_s > 0 else now
        if op.mode == "edge-local":
            return ready
        free = link.free_at_s
        at_cloud = [(item[0], item[1], item[3].cloud_busy_s) for item in to_cloud]
        for item in sorted(to_link):
            if item[0] > ready:
                break
            start = max(item[0], free)
            free = trace.finish_time(start, item[3].payload_bytes / link.efficiency)
            at_cloud.append((free + latency_s(start), item[1], item[3].cloud_busy_s))
        start = max(ready, free)
        end = trace.finish_time(start, c.payload_bytes / link.efficiency)
        if not math.isfinite(end):
            return math.inf
        arrive = end + latency_s(start)
        cloud_free = cloud.free_at_s
        for t, _, busy in sorted(at_cloud):
            if t > arrive:
                break
            cloud_free = max(t, cloud_free) + busy
        ttft = max(arrive, cloud_free) + c.cloud_ttft_s
        return ttft + (latency_s(ttft) if count_return_latency else 0.0)

    def on_arrival(req: Request) -> None:
        now = env.now
        advance(now)
        view.now_s = now
        view.edge_free_at_s = edge.free_at_s
        view.cloud_free_at_s = cloud.free_at_s
        view.waiting_cloud_work_s = (sum(item[3].cloud_busy_s for item in to_link)
                                     + sum(item[3].cloud_busy_s for item in to_cloud))
        view.arrivals_s.append(now)
        if observe:  # transfers being transmitted now: their size and start, not their end
            while sending and sending[0][1] <= now:
                sending.popleft()
            view.inflight = [(size, start) for start, end, size in sending
                             if start <= now < end]
        if policy.clairvoyant:
            view.what_if = lambda op, r=req: what_if(r, op)
        op = policy.decide(req, view)
        estimate = getattr(policy, "last_estimate_bytes_per_s", None)
        if estimate is not None:
            estimates[req.index] = estimate / MBPS
        c = costs.cost(op, req)
        result.compute_sources.update(c.compute_sources)
        if c.edge_busy_s > 0:
            edge_start = edge.serve(now, c.edge_busy_s)
            ready = edge_start + c.edge_s
        else:
            edge_start = ready = now
        if op.mode == "edge-local":
            record(req, c, edge_start, ready, math.nan, math.nan, math.nan, ready)
        else:
            heapq.heappush(to_link, (ready, req.index, req, c, edge_start))
            view.link_backlog_bytes += c.payload_bytes

    it = iter(requests)

    def next_arrival(_event=None) -> None:
        req = next(it, None)
        if req is None:
            return
        ev = env.timeout(max(0.0, req.arrival_s - env.now))
        ev.callbacks.append(lambda _e, r=req: (on_arrival(r), next_arrival(_e)))

    next_arrival()
    env.run()
    advance(math.inf)
    result.link_bytes = link.bytes_sent
    return result
