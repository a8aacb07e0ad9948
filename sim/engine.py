"""The event-driven engine: one policy over one workload on one link.

Pipeline per request (:mod:`models.pipeline`): arrival -> policy decides -> edge compute
(FIFO edge accelerator) -> uplink transfer (FIFO fluid link) -> one-way latency -> cloud
compute (FIFO cloud GPU) -> first answer token -> one-way latency back to the user
(``count_return_latency``). Latency is measured from arrival to the first answer token at
the user. A mode that does not use the link answers when its edge stage ends.

Events. The only moments a policy acts are arrivals, and the only things it learns between
them are completed transfers; so the engine walks the arrivals in order and, before each
decision, shows the policy every transfer that has completed by then (in order of
completion; the FIFO link completes them in the order they joined), with no event queue:
one step per request and one per transfer. (It ran on SimPy, one event per arrival and
per completion, until the speed work of issue 18; the records did not change, and the
SimPy model a researcher would write stays as the baseline and cross-check of
``python -m experiments.bench``.)

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from models.operating import OperatingPoint
from models.pipeline import (
    at_cloud_s,
    at_user_s,
    edge_stage_s,
    first_token_s,
    take_edge_s,
)
from models.request import Request
from models.transport import TcpConfig
from models.units import BYTES_PER_S_PER_MBPS
from policies.base import NetworkView, Policy, TransferObservation
from sim.costs import CostModel, OpCost
from sim.network import Link
from sim.records import RECORD_COLUMNS, Record, RunResult, record_row, truth_mbps
from sim.server import FifoServer
from sim.traces import Trace

__all__ = ["RECORD_COLUMNS", "EventEngine", "Record", "RunResult", "record_row", "simulate",
           "truth_mbps"]

#: requests a static policy decides ahead at a time when the link looks ahead: the first
#: chunk's, doubled for each next chunk up to the last (the link solves a chunk's transfers
#: together, at a cost per chunk that a short run should not pay for many requests)
PLAN_REQUESTS = (8192, 65536)


@dataclass(slots=True)
class Job:
    """A request on its way through the pipeline; stage times filled in as it goes."""

    req: Request
    cost: OpCost
    edge_start_s: float
    ready_s: float
    link_start_s: float = math.nan
    link_end_s: float = math.nan


class EventEngine:
    """One policy on one FIFO link (fluid or TCP), an edge accelerator and a cloud GPU."""

    __slots__ = ("policy", "trace", "costs", "count_return_latency", "now_s", "edge", "cloud",
                 "link", "view", "observe", "result", "to_link", "to_cloud", "estimates",
                 "sending", "unseen", "emit")

    def __init__(self, policy: Policy, trace: Trace, costs: CostModel, *, default_rtt_s: float,
                 link_efficiency: float = 1.0, count_return_latency: bool = True,
                 label: str = "policy", latency: str = "after", tcp: TcpConfig | None = None,
                 on_record: Callable[[Record], None] | None = None):
        self.policy, self.trace, self.costs = policy, trace, costs
        self.count_return_latency = count_return_latency
        self.now_s = 0.0  # the clock: the latest arrival
        self.edge = FifoServer("edge")
        self.cloud = FifoServer("cloud")
        self.link = Link(trace, default_rtt_s=default_rtt_s, efficiency=link_efficiency,
                         latency=latency, tcp=tcp)
        self.view = NetworkView(link_efficiency=link_efficiency,
                                count_return_latency=count_return_latency, latency=latency,
                                tcp=tcp)
        self.observe = not policy.static
        self.result = RunResult(label)
        self.to_link: list[tuple[float, int, Job]] = []  # heap by ready time
        self.to_cloud: list[tuple[float, int, Job]] = []  # heap by arrival at the cloud
        self.estimates: dict[int, float] = {}  # of requests not yet recorded
        #: where each record goes as its request completes (default: ``result.rows``)
        self.emit = on_record if on_record is not None else self.result.rows.append
        self.sending: deque[tuple[float, float, float]] = deque()  # (start, end, bytes)
        #: completed or running transfers the policy has not been shown: (observation, RTT)
        self.unseen: deque[tuple[TransferObservation, float]] = deque()

    # --- running ---------------------------------------------------------------------------

    def run(self, requests: Iterable[Request]) -> RunResult:
        """Run the policy over ``requests`` (sorted by arrival; read one at a time, so an
        iterator keeps memory flat; in chunks of :data:`PLAN_REQUESTS` when the link looks
        ahead); per-request records."""
        ahead = self.policy.static and not self.policy.clairvoyant and self.link.looks_ahead
        paired = self._decided_ahead(requests) if ahead else ((r, None) for r in requests)
        for req, decided in paired:
            if req.arrival_s > self.now_s:
                self.now_s = req.arrival_s
            self._show_until(self.now_s)
            self._on_arrival(req, decided)
        self._advance(math.inf)
        self.result.link_bytes = self.link.bytes_sent
        return self.result

    def _decided_ahead(self, requests: Iterable[Request]
                       ) -> Iterator[tuple[Request, tuple[float | None, OpCost]]]:
        """``requests`` with a static policy's decisions, made a chunk at a time
        (:data:`PLAN_REQUESTS`): (request, (its estimate, its cost)). Such a policy never
        looks at the view, so its decisions do not depend on when it makes them. Each
        chunk's transfers are told to the link (:meth:`~sim.network.Link.expect`) in the
        order they will join it (ready time, then index, as :attr:`to_link` pops them), their
        ready times from a copy of the edge queue (the same arithmetic as
        :func:`~models.pipeline.take_edge_s` on the edge), so that the link solves them
        together. Were one not the transfer the link gets next, the link would drop its
        look-ahead and go on transfer by transfer: the same records, only slower."""
        policy, view, costs = self.policy, self.view, self.costs
        edge = FifoServer("edge (ahead)")
        edge.free_at_s = self.edge.free_at_s
        now = self.now_s
        it = iter(requests)
        size, most = PLAN_REQUESTS
        while chunk := list(islice(it, size)):
            size = min(2 * size, most)
            decided, joins = [], []
            for req in chunk:
                if req.arrival_s > now:
                    now = req.arrival_s
                op = policy.decide(req, view)
                c = costs.cost(op, req)
                decided.append((getattr(policy, "last_estimate_bytes_per_s", None), c))
                _, ready = take_edge_s(edge, now, c)
                if c.uses_link:
                    joins.append((ready, req.index, c.payload_bytes))
            joins.sort()  # by ready time, then index (unique)
            self.link.expect([j[0] for j in joins], [j[2] for j in joins])
            yield from zip(chunk, decided, strict=True)

    def _on_arrival(self, req: Request,
                    decided: tuple[float | None, OpCost] | None = None) -> None:
        """Decide ``req`` (or take ``decided``: its estimate and cost, from
        :meth:`_decided_ahead`), then send it to the edge and, if it uses it, the link."""
        now = self.now_s
        self._advance(now)
        if decided is None:
            view, policy = self.view, self.policy
            if self.observe:  # a static policy never looks at the view (Policy.static)
                self._update_view(req, now)
            op = policy.decide(req, view)
            estimate = getattr(policy, "last_estimate_bytes_per_s", None)
            c = self.costs.cost(op, req)
        else:
            estimate, c = decided
        if estimate is not None:
            self.estimates[req.index] = estimate / BYTES_PER_S_PER_MBPS
        if c.compute_sources - self.result.compute_sources:
            self.result.compute_sources.update(c.compute_sources)
        edge_start, ready = take_edge_s(self.edge, now, c)
        job = Job(req, c, edge_start, ready)
        if c.uses_link:
            heapq.heappush(self.to_link, (ready, req.index, job))
            self.view.link_backlog_bytes += c.payload_bytes
        else:
            self._record(job, math.nan, ready)

    def _update_view(self, req: Request, now: float) -> None:
        """What the sender knows at ``now`` (its queues, the cloud's, its transfers)."""
        view = self.view
        view.now_s = now
        view.edge_free_at_s = self.edge.free_at_s
        view.cloud_free_at_s = self.cloud.free_at_s
        view.waiting_cloud_work_s = (
            sum(j.cost.cloud_busy_s for _, _, j in self.to_link)
            + sum(j.cost.cloud_busy_s for _, _, j in self.to_cloud)
        ) if self.to_link or self.to_cloud else 0.0
        view.arrivals_s.append(now)
        sending = self.sending  # transfers on the wire now: their size and start, not end
        while sending and sending[0][1] <= now:
            sending.popleft()
        view.inflight = [(size, start) for start, end, size in sending
                         if start <= now < end] if sending else []
        if self.policy.clairvoyant:
            view.what_if = lambda op, r=req: self.what_if(r, op)

    def _advance(self, now: float) -> None:
        """Let every job whose ready time has passed join its next stage, in ready order."""
        to_link, to_cloud = self.to_link, self.to_cloud
        while (to_link and to_link[0][0] <= now) or (to_cloud and to_cloud[0][0] <= now):
            if to_cloud and (not to_link or to_cloud[0][0] < to_link[0][0]):
                self._join_cloud(heapq.heappop(to_cloud))
            else:
                self._join_link(heapq.heappop(to_link))

    def _join_link(self, item: tuple[float, int, Job]) -> None:
        ready, _, job = item
        c = job.cost
        start, end = self.link.send(ready, c.payload_bytes)
        job.link_start_s, job.link_end_s = start, end
        if not math.isfinite(end):  # a clipped trace ended first
            self._record(job, math.inf, math.inf)
            return
        one_way = self.link.one_way_latency_s(start)
        if self.observe:
            self._watch_transfer(TransferObservation(c.payload_bytes, start, end), 2 * one_way)
        heapq.heappush(self.to_cloud, (at_cloud_s(end, one_way, self.link.latency),
                                       job.req.index, job))

    def _watch_transfer(self, obs: TransferObservation, rtt_s: float) -> None:
        """Show the sender a transfer when it completes (at once if it already has)."""
        if obs.end_s <= self.now_s and not self.unseen:
            self._observe_transfer(obs, rtt_s)
        else:
            self.unseen.append((obs, rtt_s))
        self.sending.append((obs.start_s, obs.end_s, obs.size_bytes))

    def _show_until(self, now_s: float) -> None:
        """Show the sender every transfer completed by ``now_s``, in order of completion."""
        unseen = self.unseen
        while unseen and unseen[0][0].end_s <= now_s:
            self._observe_transfer(*unseen.popleft())

    def _observe_transfer(self, obs: TransferObservation, rtt_s: float) -> None:
        view = self.view
        view.transfers.append(obs)
        view.rtt_samples_s.append((obs.end_s, rtt_s))
        view.link_backlog_bytes -= obs.size_bytes

    def _join_cloud(self, item: tuple[float, int, Job]) -> None:
        arrive, _, job = item
        cloud_start = self.cloud.serve(arrive, job.cost.cloud_busy_s)
        token = first_token_s(cloud_start, job.cost)
        back_s = self.link.one_way_latency_s(token)
        self._record(job, cloud_start, at_user_s(token, back_s, self.count_return_latency))

    def _record(self, job: Job, cloud_start_s: float, at_user: float) -> None:
        req = job.req
        self.emit(record_row(
            req, job.cost, self.estimates.pop(req.index, math.nan), job.edge_start_s,
            job.ready_s, job.link_start_s, job.link_end_s, cloud_start_s, at_user))

    # --- the oracle's exact what-if ------------------------------------------------------

    def what_if(self, req: Request, op: OperatingPoint) -> float:
        """Exact first-token time of ``req`` under ``op`` given the queues now and the
        future trace (for clairvoyant policies only). Requests that arrive later and
        overtake this one (cloud-text skipping a busy edge) are not foreseen."""
        c = self.costs.cost(op, req)
        now = self.now_s
        _, ready = edge_stage_s(now, self.edge.free_at_s, c)
        if not c.uses_link:
            return ready
        link = self.link.fork()
        latency_s = link.one_way_latency_s
        at_cloud = [(t, i, j.cost.cloud_busy_s) for t, i, j in self.to_cloud]
        for t, i, j in sorted(self.to_link):
            if t > ready:
                break
            start, free = link.send(t, j.cost.payload_bytes)
            at_cloud.append((at_cloud_s(free, latency_s(start), link.latency), i,
                             j.cost.cloud_busy_s))
        start, end = link.send(ready, c.payload_bytes)
        if not math.isfinite(end):
            return math.inf
        arrive = at_cloud_s(end, latency_s(start), link.latency)
        cloud_free = self.cloud.free_at_s
        for t, _, busy in sorted(at_cloud):
            if t > arrive:
                break
            cloud_free = max(t, cloud_free) + busy
        token = first_token_s(max(arrive, cloud_free), c)
        return at_user_s(token, latency_s(token), self.count_return_latency)


def simulate(policy_label: str, policy: Policy, requests: Iterable[Request], trace: Trace,
             costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
             count_return_latency: bool = True, latency: str = "after",
             tcp: TcpConfig | None = None,
             on_record: Callable[[Record], None] | None = None) -> RunResult:
    """Run ``policy`` over ``requests`` (sorted by arrival); returns per-request rows, or
    hands each to ``on_record`` as its request completes (then ``rows`` stays empty)."""
    return EventEngine(policy, trace, costs, default_rtt_s=default_rtt_s,
                       link_efficiency=link_efficiency,
                       count_return_latency=count_return_latency,
                       label=policy_label, latency=latency, tcp=tcp,
                       on_record=on_record).run(requests)
