"""The network engine: many devices, one topology, one cloud GPU (SimPy events).

Per request of device ``u``: arrival -> ``u``'s own policy decides (it sees only ``u``'s
transfers and queues, and the cloud's queue) -> ``u``'s edge accelerator (FIFO) -> ``u``'s
uplink queue (one transfer at a time per device, in ready order) -> the transfer shares
every link of ``u``'s route max-min fairly with the other devices' transfers
(:class:`~sim.network.fluidnet.SharedFluidNetwork`) -> the route's one-way delay -> the
cloud GPU (:class:`~sim.cloud.CloudGpu`, FIFO or batched) -> first token -> the route's
delay back (``count_return_latency``). With one device on a route whose only binding link
is the trace, every time equals :func:`sim.engine.simulate`'s (tested).

The network wakes up once per allocation change (a transfer's start or finish, or a
capacity change on a link in use when the bottlenecks are not independent): no time steps.
Clairvoyant policies (``oracle``) need the single-link engine's exact what-if and are
refused here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import simpy

from models.errors import InputError
from policies.base import NetworkView, Policy, TransferObservation
from sim.cloud import CloudGpu
from sim.costs import CostModel
from sim.engine import MBPS, RECORD_COLUMNS, record_row
from sim.network.fluidnet import SharedFluidNetwork
from sim.network.topology import Topology
from sim.server import FifoServer
from sim.workload import Request

USER_RECORD_COLUMNS = ("user",) + RECORD_COLUMNS


@dataclass
class NetworkRunResult:
    """Per-request rows (USER_RECORD_COLUMNS order) and per-link and cloud totals."""

    policy: str
    rows: list[tuple] = field(default_factory=list)
    #: per link: (bytes carried, bytes it could have carried over [0, end_s]); None: unlimited
    link_bytes: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    end_s: float = 0.0
    cloud_busy_s: float = 0.0
    cloud_batches: list[int] = field(default_factory=list)
    network_events: int = 0
    compute_sources: set[str] = field(default_factory=set)


class _NetworkDriver:
    """Wakes the fluid network at its next event; fires each transfer's SimPy event with
    (start_s, end_s) when it completes."""

    def __init__(self, env: simpy.Environment, net: SharedFluidNetwork):
        self.env, self.net = env, net
        self.waiting: dict[Hashable, simpy.Event] = {}
        self._version = 0

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
        self._version += 1
        t = self.net.next_event_s()
        if math.isinf(t):
            return
        version = self._version
        ev = self.env.timeout(max(0.0, t - self.env.now))
        ev.callbacks.append(lambda _e: self._wake(version, t))

    def _wake(self, version: int, t_s: float) -> None:
        if version != self._version:
            return  # superseded by a later start
        self._finish(t_s)
        self._reschedule()


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


def simulate_network(policy_label: str, policy_for: Callable[[int], Policy],
                     workloads: list[list[Request]], topology: Topology, costs: CostModel, *,
                     link_efficiency: float = 1.0, count_return_latency: bool = True,
                     cloud_serving: str = "fifo", max_batch: int = 8,
                     independent: bool = True) -> NetworkRunResult:
    """Run one policy (a fresh instance per device, ``policy_for(device index)``) over
    ``workloads[i]`` for device ``topology.devices[i]``. ``independent=False`` turns off the
    fluid network's independent-bottleneck shortcut (same results; for benchmarks)."""
    if len(workloads) != len(topology.devices):
        raise InputError(f"{len(workloads)} workloads for {len(topology.devices)} devices")
    env = simpy.Environment()
    net = SharedFluidNetwork(topology.link_traces(), independent=independent)
    driver = _NetworkDriver(env, net)
    cloud = CloudGpu(env, costs, cloud_serving, max_batch)
    result = NetworkRunResult(policy_label)
    rows = result.rows
    pending: dict[tuple[int, int], list] = {}  # decided, sent to the cloud, no first token yet
    devices = []
    for i, name in enumerate(topology.devices):
        policy = policy_for(i)
        if policy.clairvoyant:
            raise InputError(f"policy {policy_label} is clairvoyant: it needs the single-link "
                             "engine (no exact what-if under sharing); run it without "
                             "--users/--topology")
        view = NetworkView(link_efficiency=link_efficiency,
                           count_return_latency=count_return_latency)
        devices.append(_Device(i, name, policy, [s.name for s in topology.route(name)],
                               FifoServer(name), simpy.Resource(env, 1), view))

    def record(dev: _Device, req: Request, *fields) -> None:
        rows.append((dev.index, *record_row(req, *fields)))

    def serve(dev: _Device, req: Request):
        now = env.now
        view = dev.view
        view.now_s = now
        view.edge_free_at_s = dev.edge.free_at_s
        view.cloud_free_at_s = cloud.free_at_s
        view.waiting_cloud_work_s = dev.waiting_cloud_work_s
        view.arrivals_s.append(now)
        op = dev.policy.decide(req, view)
        est = getattr(dev.policy, "last_estimate_bytes_per_s", None)
        estimate = math.nan if est is None else est / MBPS
        c = costs.cost(op, req)
        result.compute_sources.update(c.compute_sources)
        if c.edge_busy_s > 0:
            edge_start = dev.edge.serve(now, c.edge_busy_s)
            ready = edge_start + c.edge_s
        else:
            edge_start = ready = now
        if op.mode == "edge-local":
            record(dev, req, c, estimate, edge_start, ready, math.nan, math.nan, math.nan, ready)
            return
        view.link_backlog_bytes += c.payload_bytes
        dev.waiting_cloud_work_s += c.cloud_busy_s
        key = (dev.index, req.index)
        pending[key] = [dev, req, c, estimate, edge_start, ready, math.inf]
        if ready > now:
            yield env.timeout(ready - now)
        with dev.uplink.request() as slot:
            yield slot
            start = pending[key][-1] = env.now
            view.inflight = [(c.payload_bytes, start)]
            start, end = yield driver.transfer(key, dev.route,
                                               c.payload_bytes / link_efficiency)
            view.inflight = []
        one_way = topology.path_delay_s(dev.name, start)
        view.transfers.append(TransferObservation(c.payload_bytes, start, end))
        view.rtt_samples_s.append((end, 2 * one_way))
        view.link_backlog_bytes -= c.payload_bytes
        yield env.timeout(max(0.0, end + one_way - env.now))
        dev.waiting_cloud_work_s -= c.cloud_busy_s
        cloud_start, ttft = yield cloud.submit(op, req, c)
        back = topology.path_delay_s(dev.name, ttft) if count_return_latency else 0.0
        del pending[key]
        record(dev, req, c, estimate, edge_start, ready, start, end, cloud_start, ttft + back)

    def arrivals(dev: _Device, requests: list[Request]):
        for req in requests:
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            env.process(serve(dev, req))

    for dev, reqs in zip(devices, workloads, strict=True):
        env.process(arrivals(dev, reqs))
    env.run()
    # transfers that never finish (a clipped trace ended) and those queued behind them
    for dev, req, c, estimate, edge_start, ready, start in pending.values():
        record(dev, req, c, estimate, edge_start, ready, start, math.inf, math.inf, math.inf)
    result.end_s = env.now
    for name, spec in topology.links.items():
        cap = None if spec.trace is None else spec.trace.cumulative_bytes(env.now)
        result.link_bytes[name] = (net.carried_bytes[name], cap)
    result.cloud_busy_s = cloud.busy_s
    result.cloud_batches = cloud.batches
    result.network_events = net.events
    return result
