"""The network engine: many devices, one topology, one cloud GPU (one event heap).

Per request of device ``u`` (the stages of :mod:`models.pipeline`): arrival -> ``u``'s own
policy decides (it sees only ``u``'s transfers and queues, and the cloud's queue) -> ``u``'s
edge accelerator (FIFO) -> ``u``'s uplink queue (one transfer at a time per device, in
ready order) -> the transfer shares every link of ``u``'s route max-min fairly with the
other devices' transfers (:class:`~sim.network.fluidnet.SharedFluidNetwork`) -> the
route's one-way delay -> the cloud GPU (:class:`~sim.cloud.CloudGpu`, FIFO or batched) ->
first token -> the route's delay back (``count_return_latency``). With one device on a
route whose only binding link is the trace, every time equals :func:`sim.engine.simulate`'s
(tested).

The network wakes up once per allocation change (a transfer's start or finish, or a
capacity change on a link in use when the bottlenecks are not independent): no time steps.
When the devices' routes form stars of shared links (the default cell), the network runs
water-filling (:mod:`sim.network.star`): O(log n) per event, and a busy radio link wakes
only when its capacity crosses the cell's fair share.
Clairvoyant policies (``oracle``) need the single-link engine's exact what-if and are
refused here.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

from models.errors import InputError
from models.pipeline import at_cloud_s, at_user_s, take_edge_s, wire_bytes
from models.request import Request
from models.transport import ConstantRate, TcpConfig, TcpFlow
from models.units import BYTES_PER_S_PER_MBPS
from policies.base import NetworkView, Policy, TransferObservation
from sim.cloud import CloudGpu
from sim.costs import CostModel, OpCost
from sim.network.fluidnet import SharedFluidNetwork
from sim.network.topology import Topology
from sim.records import USER_RECORD_COLUMNS, NetworkRunResult, record_row, user_record
from sim.server import FifoServer

__all__ = ["USER_RECORD_COLUMNS", "NetworkEngine", "NetworkRunResult", "simulate_network"]


class _Event:
    """A SimPy-style event on :class:`_Loop` (what :class:`~sim.cloud.CloudGpu` uses):
    ``callbacks`` run, in order, when it is processed; :meth:`succeed` schedules it now."""

    __slots__ = ("loop", "callbacks", "value")

    def __init__(self, loop: _Loop):
        self.loop, self.callbacks, self.value = loop, [], None

    def succeed(self, value=None) -> _Event:
        self.value = value
        self.loop.at(self.loop.now, self._fire, None)
        return self

    def _fire(self, _arg) -> None:
        for cb in self.callbacks:
            cb(self)


class _Loop:
    """SimPy's event core without its processes: a heap of ``(time, order, fn, arg)``,
    processed in time order and, at one time, in the order scheduled (SimPy's order for
    events of one priority). A timeout ``d`` from now fires at ``now + d``, the float
    SimPy computes. Implements the part of ``simpy.Environment`` that
    :class:`~sim.cloud.CloudGpu` uses (``now``, ``event``, ``timeout``)."""

    __slots__ = ("now", "_heap", "_order")

    def __init__(self):
        self.now = 0.0
        self._heap: list = []
        self._order = itertools.count()

    def at(self, t_s: float, fn: Callable, arg) -> None:
        heapq.heappush(self._heap, (t_s, next(self._order), fn, arg))

    def event(self) -> _Event:
        return _Event(self)

    def timeout(self, delay_s: float) -> _Event:
        ev = _Event(self)
        self.at(self.now + delay_s, ev._fire, None)
        return ev

    def peek(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def run(self) -> None:
        heap, pop = self._heap, heapq.heappop
        while heap:
            t, _, fn, arg = pop(heap)
            self.now = t
            fn(arg)


class _FifoCloud:
    """:class:`~sim.cloud.CloudGpu` with ``fifo`` serving, on :class:`_Loop` directly:
    the same state (``free_at_s``, ``busy_s``, ``batches``) and times, float for float,
    with two timed callbacks per request (its first token, the GPU's next start) instead
    of events. ``first_token(p, start_s, token_s)`` is called at the first token."""

    def __init__(self, loop: _Loop, costs: CostModel, first_token: Callable):
        self.loop, self.costs, self.first_token = loop, costs, first_token
        self.queue: deque[_Pending] = deque()
        self.queued_work_s = 0.0
        self.busy = False
        self.busy_until_s = 0.0
        self.busy_s = 0.0
        self.batches: list[int] = []

    @property
    def free_at_s(self) -> float:
        return self.busy_until_s + self.queued_work_s

    def submit(self, p: _Pending) -> None:
        self.queue.append(p)
        self.queued_work_s += p.cost.cloud_busy_s
        if not self.busy:
            self._start_next(None)

    def _start_next(self, _arg) -> None:
        self.busy = False
        queue = self.queue
        if not queue:
            return
        p = queue.popleft()
        self.queued_work_s -= p.cost.cloud_busy_s
        if not queue:
            self.queued_work_s = 0.0  # no float residue when the queue empties
        ttft_s, busy_s = self.costs.cloud_batch_s([(p.cost.op, p.req)])
        loop = self.loop
        start = loop.now
        self.busy = True
        self.busy_until_s = start + busy_s
        self.busy_s += busy_s
        self.batches.append(1)
        loop.at(start + ttft_s, self.first_token, (p, start, start + ttft_s))
        loop.at(start + busy_s, self._start_next, None)


#: a route with no traced link: its access link is unconstrained
_UNCONSTRAINED = ConstantRate(math.inf)


@dataclass(slots=True)
class _Pending:
    """A request decided and sent towards the cloud, with no first token yet."""

    device: _Device
    req: Request
    cost: OpCost
    estimate_mbps: float
    edge_start_s: float
    ready_s: float
    link_start_s: float = math.inf
    link_end_s: float = math.inf


@dataclass(slots=True, eq=False)
class _Device:
    index: int
    name: str
    policy: Policy
    route: list[str]
    edge: FifoServer
    view: NetworkView
    waiting_cloud_work_s: float = 0.0
    tcp_flow: TcpFlow | None = None  # its TCP connection on its access link (TCP only)
    #: its uplink: busy with a transfer, and the requests waiting for it (ready order)
    sending: bool = False
    queue: deque = field(default_factory=deque)
    requests: Iterator[Request] | None = None
    next_request: Request | None = None


class NetworkEngine:
    """Many devices (one policy instance each) sharing a topology and one cloud GPU.

    Each request's path is fixed (decide, edge, uplink queue, network, delay, cloud), so
    it runs as callbacks on one event heap (:class:`_Loop`), not as SimPy processes; the
    heap holds the same timed events at the same floats as the SimPy model it replaces
    (arrivals, edge hand-offs, arrivals at the cloud, the cloud's timers, the network's
    wake-ups), and same-time steps keep its order (a finish's follow-ups, then the next
    transfers of the devices whose flows finished, in the network's order), so the records
    are the same, float for float. The network wakes up once per allocation change it
    cannot settle on its own before the next event; with stars of shared links it runs
    water-filling (:mod:`sim.network.star`)."""

    def __init__(self, policy_for: Callable[[int], Policy], topology: Topology,
                 costs: CostModel, *, link_efficiency: float = 1.0,
                 count_return_latency: bool = True, cloud_serving: str = "fifo",
                 max_batch: int = 8, independent: bool = True, star: bool = True,
                 label: str = "policy", progress: Callable[[int], object] | None = None,
                 tcp: TcpConfig | None = None):
        self.topology, self.costs = topology, costs
        self.tcp = tcp
        self.progress = progress  # called with 1 per request recorded (a progress bar)
        self.link_efficiency = link_efficiency
        self.count_return_latency = count_return_latency
        self.env = _Loop()
        routes = [[x.name for x in topology.route(d)] for d in topology.devices]
        self.net = SharedFluidNetwork(topology.link_traces(), independent=independent,
                                      routes=routes, star=star)
        #: what the calls go to: the star engine itself when the network runs one
        self._net = self.net if self.net.star is None else self.net.star
        gpu = CloudGpu(self.env, costs, cloud_serving, max_batch)  # (checks the settings)
        self.cloud = (_FifoCloud(self.env, costs, self._first_token)
                      if gpu.serving == "fifo" else gpu)
        self.result = NetworkRunResult(label)
        self.pending: dict[tuple[int, int], _Pending] = {}
        self.devices = [self._device(i, name, policy_for(i), label)
                        for i, name in enumerate(topology.devices)]
        #: transfers in the network: key -> its request
        self._sending: dict[Hashable, _Pending] = {}
        self._version = 0  # of the live wake-up (an older one is stale)
        self._wake_s = math.inf  # when the live wake-up fires (one at a time)
        self._delay = {d.name: self._constant_delay(d.name) for d in self.devices}

    def _device(self, i: int, name: str, policy: Policy, label: str) -> _Device:
        if policy.clairvoyant:
            raise InputError(f"policy {label} is clairvoyant: it needs the single-link "
                             "engine (no exact what-if under sharing); run it without "
                             "--users/--topology")
        view = NetworkView(link_efficiency=self.link_efficiency,
                           count_return_latency=self.count_return_latency, tcp=self.tcp)
        route = self.topology.route(name)
        flow = None
        if self.tcp is not None:
            access = next((x.trace for x in route if x.trace is not None), None)
            flow = TcpFlow(access if access is not None else _UNCONSTRAINED, self.tcp,
                           rtt_s=lambda t: 2 * self.topology.path_delay_s(name, t),
                           efficiency=self.link_efficiency)
        return _Device(i, name, policy, [x.name for x in route], FifoServer(name), view,
                       tcp_flow=flow)

    def _constant_delay(self, name: str) -> float | None:
        """The device's one-way delay when it does not depend on time (no link takes it
        from an RTT column), else None."""
        topo = self.topology
        for spec in topo.route(name):
            if spec.delay_s is None and spec.trace is not None and spec.trace.rtt_s is not None:
                return None
        return topo.path_delay_s(name, 0.0)

    def _path_delay_s(self, dev: _Device, t_s: float) -> float:
        d = self._delay[dev.name]
        return self.topology.path_delay_s(dev.name, t_s) if d is None else d

    def run(self, workloads: list[list[Request]]) -> NetworkRunResult:
        """Run ``workloads[i]`` on device ``topology.devices[i]``; per-request records."""
        if len(workloads) != len(self.devices):
            raise InputError(f"{len(workloads)} workloads for {len(self.devices)} devices")
        env = self.env
        for dev, reqs in zip(self.devices, workloads, strict=True):
            dev.requests = iter(reqs)
            env.at(0.0, self._arrive, (dev, None))
        # The run makes few reference cycles but many objects (records, events): the
        # cyclic collector's passes over the growing heap cost 10-20% of a big cell.
        collecting = gc.isenabled()
        gc.disable()
        try:
            env.run()
        finally:
            if collecting:
                gc.enable()
        # transfers that never finish (a clipped trace ended) and those queued behind them
        for p in self.pending.values():
            self._record(p, math.inf, math.inf, math.inf)
        return self._totals()

    # ------------------------------------------------------------------ arrivals
    def _arrive(self, arg: tuple[_Device, Request | None]) -> None:
        """A device's arrival: serve the request due now and every later one already due,
        after scheduling the next (as SimPy's arrival process, a timeout from now each);
        the payloads ready at once take the uplink after every decision."""
        dev, req = arg
        env = self.env
        due = [] if req is None else [req]
        for req in dev.requests:
            if req.arrival_s > env.now:
                env.at(env.now + (req.arrival_s - env.now), self._arrive, (dev, req))
                break
            due.append(req)
        now = [p for req in due if (p := self._serve(dev, req)) is not None]
        for i, p in enumerate(now):
            self._ready(p, env.now if i < len(now) - 1 else None)

    def _decide(self, dev: _Device, req: Request) -> tuple[OpCost, float]:
        """Show the device's policy what it knows now; its choice's cost and estimate."""
        view = dev.view
        view.now_s = self.env.now
        view.edge_free_at_s = dev.edge.free_at_s
        view.cloud_free_at_s = self.cloud.free_at_s
        view.waiting_cloud_work_s = dev.waiting_cloud_work_s
        view.arrivals_s.append(self.env.now)
        op = dev.policy.decide(req, view)
        est = getattr(dev.policy, "last_estimate_bytes_per_s", None)
        c = self.costs.cost(op, req)
        self.result.compute_sources.update(c.compute_sources)
        return c, math.nan if est is None else est / BYTES_PER_S_PER_MBPS

    def _serve(self, dev: _Device, req: Request) -> _Pending | None:
        """Decide, queue on the edge; the request if its payload is ready now."""
        env = self.env
        now = env.now
        c, estimate = self._decide(dev, req)
        edge_start, ready = take_edge_s(dev.edge, now, c)
        p = _Pending(dev, req, c, estimate, edge_start, ready)
        if not c.uses_link:
            self._record(p, math.nan, math.nan, ready, link_start_s=math.nan)
            return None
        dev.view.link_backlog_bytes += c.payload_bytes
        dev.waiting_cloud_work_s += c.cloud_busy_s
        self.pending[dev.index, req.index] = p
        if ready > now:
            env.at(now + (ready - now), self._ready, p)
            return None
        return p

    # ------------------------------------------------------------------ the uplink
    def _ready(self, p: _Pending, until_s: float | None = None) -> None:
        """The payload is ready: it takes the device's uplink, or waits for it."""
        dev = p.device
        if dev.sending:
            dev.queue.append(p)
        else:
            dev.sending = True
            self._start(p, self.env.peek() if until_s is None else until_s)

    def _start(self, p: _Pending, until_s: float) -> None:
        """The transfer takes the link now. With TCP the flow first spends its own TCP
        terms (:meth:`_tcp_terms`), then shares the route max-min with its wire bytes
        (headers and bytes sent again included). ``until_s``: no flow starts before then
        (the network may settle its own events until it)."""
        dev = p.device
        start = p.link_start_s = self.env.now
        dev.view.inflight = [(p.cost.payload_bytes, start)]
        size = wire_bytes(p.cost, self.link_efficiency)
        if self.tcp is not None:
            delay_s, size = self._tcp_terms(dev, start, p.cost.payload_bytes)
            if delay_s > 0:
                self.env.at(self.env.now + delay_s, self._add_later, (p, size))
                return
        self._add(p, size, until_s)

    def _add_later(self, arg: tuple[_Pending, float]) -> None:
        self._add(*arg, self.env.peek())

    def _add(self, p: _Pending, size: float, until_s: float) -> None:
        """Put the flow into the network now (first settling what is due by now)."""
        net, now = self._net, self.env.now
        key = (p.device.index, p.req.index)
        self._sending[key] = p
        while (t := net.next_event_s()) <= now:  # due at this very instant, or an ulp before
            # (their follow-ups come after this step, as SimPy's done events)
            self.env.at(now, self._finished_later, (net.advance(t), t))
        net.add(key, p.device.route, size, max(now, net.now_s))
        self._reschedule(until_s)

    def _finished(self, flows: list, t_s: float) -> None:
        """Transfers done at ``t_s``: each one's follow-ups (observation, the trip to the
        cloud), then the devices' next transfers, in the network's order (as SimPy: the
        done events, then the uplinks' releases, then their grants)."""
        nxt = []
        for flow in flows:
            p = self._sending.pop(flow.key)
            dev = p.device
            dev.view.inflight = []
            self._arrived_end(p, t_s)
            if dev.queue:
                nxt.append(dev.queue.popleft())
            else:
                dev.sending = False
        last = len(nxt) - 1
        for i, q in enumerate(nxt):
            self._start(q, self.env.now if i < last else self.env.peek())

    def _finished_later(self, arg: tuple[list, float]) -> None:
        self._finished(*arg)

    def _reschedule(self, until_s: float) -> None:
        """Wake up at the network's next event. No flow starts before ``until_s``, so the
        network first settles its capacity changes and crossings until then without a
        wake-up each; a live wake-up due no later is kept (if early, it only re-plans)."""
        self._net.settle(until_s)
        t = self._net.next_event_s()
        if t >= self._wake_s:
            return
        self._version += 1
        self._wake_s = t
        self.env.at(self.env.now + max(0.0, t - self.env.now), self._wake, (self._version, t))

    def _wake(self, arg: tuple[int, float]) -> None:
        version, t_s = arg
        if version != self._version:
            return  # superseded by an earlier wake-up
        self._wake_s = math.inf
        t = min(t_s, self._net.next_event_s())
        flows = self._net.advance(t)
        self._reschedule(self.env.now if flows else self.env.peek())
        self._finished(flows, t)

    def _tcp_terms(self, dev: _Device, start_s: float, payload_bytes: float
                   ) -> tuple[float, float]:
        """(delay before the flow shares the route, its bytes on the route) under TCP: the
        device's connection (:class:`~models.transport.TcpFlow`) on its own access link (the
        first link of its route with a trace) alone gives the handshake, slow start's idle
        rounds and the timeouts' waits, as the time beyond the fluid transfer of the same
        wire bytes on that link; sharing then follows max-min, as in congestion avoidance."""
        flow = dev.tcp_flow
        flow.send(start_s, payload_bytes)
        st = flow.last
        wire = (self.tcp.wire_bytes(payload_bytes) + st.extra_wire_bytes) / self.link_efficiency
        fluid_end = flow.trace.finish_time(start_s, wire)
        return max(0.0, st.end_s - fluid_end), wire

    # ------------------------------------------------------------------ to the cloud
    def _arrived_end(self, p: _Pending, end: float) -> None:
        """The payload left the device at ``end``: observe it, then on to the cloud."""
        dev, c, start = p.device, p.cost, p.link_start_s
        p.link_end_s = end
        one_way = self._path_delay_s(dev, start)
        view = dev.view
        view.transfers.append(TransferObservation(c.payload_bytes, start, end))
        view.rtt_samples_s.append((end, 2 * one_way))
        view.link_backlog_bytes -= c.payload_bytes
        env = self.env
        env.at(env.now + max(0.0, at_cloud_s(end, one_way) - env.now), self._at_cloud, p)

    def _at_cloud(self, p: _Pending) -> None:
        p.device.waiting_cloud_work_s -= p.cost.cloud_busy_s
        if isinstance(self.cloud, _FifoCloud):
            self.cloud.submit(p)
            return
        done = self.cloud.submit(p.cost.op, p.req, p.cost)
        done.callbacks.append(lambda e: self._first_token((p, *e.value)))

    def _first_token(self, arg: tuple[_Pending, float, float]) -> None:
        p, cloud_start, token = arg
        back_s = self._path_delay_s(p.device, token) if self.count_return_latency else 0.0
        del self.pending[p.device.index, p.req.index]
        self._record(p, p.link_end_s, cloud_start,
                     at_user_s(token, back_s, self.count_return_latency))

    def _record(self, p: _Pending, link_end_s: float, cloud_start_s: float, at_user: float, *,
                link_start_s: float | None = None) -> None:
        start = p.link_start_s if link_start_s is None else link_start_s
        self.result.rows.append(user_record(p.device.index, record_row(
            p.req, p.cost, p.estimate_mbps, p.edge_start_s, p.ready_s, start, link_end_s,
            cloud_start_s, at_user)))
        if self.progress is not None:
            self.progress(1)

    def _totals(self) -> NetworkRunResult:
        result = self.result
        result.end_s = self.env.now
        carried = self.net.carried_bytes
        for name, spec in self.topology.links.items():
            cap = None if spec.trace is None else spec.trace.cumulative_bytes(self.env.now)
            result.link_bytes[name] = (carried[name], cap)
        result.cloud_busy_s = self.cloud.busy_s
        result.cloud_batches = self.cloud.batches
        result.network_events = self._net.events
        return result


def simulate_network(policy_label: str, policy_for: Callable[[int], Policy],
                     workloads: list[list[Request]], topology: Topology, costs: CostModel, *,
                     link_efficiency: float = 1.0, count_return_latency: bool = True,
                     cloud_serving: str = "fifo", max_batch: int = 8,
                     independent: bool = True, star: bool = True,
                     progress: Callable[[int], object] | None = None,
                     tcp: TcpConfig | None = None) -> NetworkRunResult:
    """Run one policy (a fresh instance per device, ``policy_for(device index)``) over
    ``workloads[i]`` for device ``topology.devices[i]``. ``star=False`` keeps the general
    fluid network (progressive filling) where the routes form stars, ``independent=False``
    also turns off its independent-bottleneck shortcut (same results; for benchmarks)."""
    if len(workloads) != len(topology.devices):
        raise InputError(f"{len(workloads)} workloads for {len(topology.devices)} devices")
    return NetworkEngine(policy_for, topology, costs, link_efficiency=link_efficiency,
                         count_return_latency=count_return_latency,
                         cloud_serving=cloud_serving, max_batch=max_batch,
                         independent=independent, star=star, label=policy_label,
                         progress=progress, tcp=tcp).run(workloads)
