"""The network engine: many devices, one topology, one cloud GPU (SimPy events).

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

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import simpy

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


class _NetworkDriver:
    """Wakes the fluid network at its next event; fires each transfer's SimPy event with
    (start_s, end_s) when it completes."""

    def __init__(self, env: simpy.Environment, net: SharedFluidNetwork):
        self.env, self.net = env, net
        self.waiting: dict[Hashable, simpy.Event] = {}
        self._version = 0
        self._wake_s = math.inf  # when the live wake-up fires (one at a time)

    def transfer(self, key: Hashable, route: list[str], wire_bytes: float) -> simpy.Event:
        done = self.env.event()
        self.waiting[key] = done
        self._catch_up(self.env.now)
        self.net.add(key, route, wire_bytes, max(self.env.now, self.net.now_s))
        self._reschedule()
        return done

    def _catch_up(self, now_s: float) -> None:
        """Settle network events due by ``now_s`` (one may be due at this very instant, its
        wake-up not yet run, or a float ulp earlier than the clock) before adding a flow."""
        while (t := self.net.next_event_s()) <= now_s:
            self._finish(t)

    def _finish(self, t_s: float) -> None:
        for flow in self.net.advance(t_s):
            self.waiting.pop(flow.key).succeed((flow.start_s, t_s))

    def _reschedule(self) -> None:
        """Wake up at the network's next event. No flow starts before SimPy's next event,
        so the network first settles its capacity changes and crossings until then without
        a wake-up each; a live wake-up due no later is kept (if early, it only re-plans)."""
        self.net.settle(self.env.peek())
        t = self.net.next_event_s()
        if t >= self._wake_s:
            return
        self._version += 1
        self._wake_s = t
        version = self._version
        ev = self.env.timeout(max(0.0, t - self.env.now))
        ev.callbacks.append(lambda _e: self._wake(version, t))

    def _wake(self, version: int, t_s: float) -> None:
        if version != self._version:
            return  # superseded by an earlier wake-up
        self._wake_s = math.inf
        self._finish(min(t_s, self.net.next_event_s()))
        self._reschedule()


#: a route with no traced link: its access link is unconstrained
_UNCONSTRAINED = ConstantRate(math.inf)


@dataclass
class _Device:
    index: int
    name: str
    policy: Policy
    route: list[str]
    edge: FifoServer
    uplink: simpy.Resource
    view: NetworkView
    waiting_cloud_work_s: float = 0.0
    tcp_flow: TcpFlow | None = None  # its TCP connection on its access link (TCP only)


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


class NetworkEngine:
    """Many devices (one policy instance each) sharing a topology and one cloud GPU."""

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
        self.env = simpy.Environment()
        routes = [[x.name for x in topology.route(d)] for d in topology.devices]
        self.net = SharedFluidNetwork(topology.link_traces(), independent=independent,
                                      routes=routes, star=star)
        self.driver = _NetworkDriver(self.env, self.net)
        self.cloud = CloudGpu(self.env, costs, cloud_serving, max_batch)
        self.result = NetworkRunResult(label)
        self.pending: dict[tuple[int, int], _Pending] = {}
        self.devices = [self._device(i, name, policy_for(i), label)
                        for i, name in enumerate(topology.devices)]

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
        return _Device(i, name, policy, [x.name for x in route], FifoServer(name),
                       simpy.Resource(self.env, 1), view, tcp_flow=flow)

    def run(self, workloads: list[list[Request]]) -> NetworkRunResult:
        """Run ``workloads[i]`` on device ``topology.devices[i]``; per-request records."""
        if len(workloads) != len(self.devices):
            raise InputError(f"{len(workloads)} workloads for {len(self.devices)} devices")
        for dev, reqs in zip(self.devices, workloads, strict=True):
            self.env.process(self._arrivals(dev, reqs))
        self.env.run()
        # transfers that never finish (a clipped trace ended) and those queued behind them
        for p in self.pending.values():
            self._record(p, math.inf, math.inf, math.inf)
        return self._totals()

    def _arrivals(self, dev: _Device, requests: list[Request]):
        env = self.env
        for req in requests:
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            env.process(self._serve(dev, req))

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

    def _serve(self, dev: _Device, req: Request):
        env = self.env
        now = env.now
        c, estimate = self._decide(dev, req)
        edge_start, ready = take_edge_s(dev.edge, now, c)
        p = _Pending(dev, req, c, estimate, edge_start, ready)
        if not c.uses_link:
            self._record(p, math.nan, math.nan, ready, link_start_s=math.nan)
            return
        dev.view.link_backlog_bytes += c.payload_bytes
        dev.waiting_cloud_work_s += c.cloud_busy_s
        key = (dev.index, req.index)
        self.pending[key] = p
        if ready > now:
            yield env.timeout(ready - now)
        start, end = yield from self._transfer(dev, key, p)
        p.link_start_s = start  # the flow's start (the network's clock)
        one_way = self.topology.path_delay_s(dev.name, start)
        self._observe(dev, c, start, end, one_way)
        yield env.timeout(max(0.0, at_cloud_s(end, one_way) - env.now))
        dev.waiting_cloud_work_s -= c.cloud_busy_s
        cloud_start, token = yield self.cloud.submit(c.op, req, c)
        back_s = self.topology.path_delay_s(dev.name, token) if self.count_return_latency else 0.0
        del self.pending[key]
        self._record(p, end, cloud_start, at_user_s(token, back_s, self.count_return_latency))

    def _transfer(self, dev: _Device, key: tuple[int, int], p: _Pending):
        """Wait for the device's uplink, then share the route until the payload is sent.
        With TCP the flow first spends its own TCP terms (:meth:`_tcp_terms`), then shares
        the route max-min with its wire bytes (headers and bytes sent again included)."""
        with dev.uplink.request() as slot:
            yield slot
            start = p.link_start_s = self.env.now
            dev.view.inflight = [(p.cost.payload_bytes, start)]
            size = wire_bytes(p.cost, self.link_efficiency)
            if self.tcp is not None:
                delay_s, size = self._tcp_terms(dev, start, p.cost.payload_bytes)
                if delay_s > 0:
                    yield self.env.timeout(delay_s)
            _, end = yield self.driver.transfer(key, dev.route, size)
            dev.view.inflight = []
        return start, end

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

    @staticmethod
    def _observe(dev: _Device, c: OpCost, start: float, end: float, one_way: float) -> None:
        view = dev.view
        view.transfers.append(TransferObservation(c.payload_bytes, start, end))
        view.rtt_samples_s.append((end, 2 * one_way))
        view.link_backlog_bytes -= c.payload_bytes

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
        for name, spec in self.topology.links.items():
            cap = None if spec.trace is None else spec.trace.cumulative_bytes(self.env.now)
            result.link_bytes[name] = (self.net.carried_bytes[name], cap)
        result.cloud_busy_s = self.cloud.busy_s
        result.cloud_batches = self.cloud.batches
        result.network_events = self.net.events
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
