"""Topology: devices, cells, routers and one cloud, joined by directed uplink links.

A :class:`Topology` is a networkx ``DiGraph`` whose edges point from the devices towards the
cloud. Each link has a capacity (a :class:`~sim.traces.Trace`, a constant, or none =
unconstrained) and a one-way propagation delay; a link without a stated delay takes half
its trace's RTT at the moment a message crosses it (or half the scenario's default RTT).
A device's route is the shortest path to the cloud by delay. The first token travels back
along the same links (their delays only: the answer is a few bytes).

Topology files (TOML or YAML; GraphML with the same attribute names)::

    [[node]]                      # kinds: device, cell, router, cloud (exactly one cloud)
    name = "cell"
    kind = "cell"
    [[link]]
    from = "cell"
    to = "cloud"
    capacity_mbps = 50            # or trace = "traces/lte.csv" (+ offset_s), or neither
    delay_ms = 5
    [devices]                     # optional: N devices attached by identical access links
    count = 20
    attach = "cell"
    trace = "traces/lte.csv"      # each device at its own position (offsets, below)
    delay_ms = 25                 # omit: half the trace's (or the default) RTT
    offsets = "random"            # random (device 0 at 0 s), spread, or zero
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from models.errors import InputError
from sim.limits import MAX_DEVICES
from sim.settings import parse_settings_file
from sim.traces import Trace

KINDS = ("device", "cell", "router", "cloud")
OFFSET_STREAM = 2  # SeedSequence stream id of the devices' trace offsets
OFFSET_MODES = ("random", "spread", "zero")


@dataclass(frozen=True)
class LinkSpec:
    """One directed link. ``trace`` None: unconstrained; ``delay_s`` None: half the RTT."""

    src: str
    dst: str
    trace: Trace | None
    delay_s: float | None

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


class Topology:
    """A validated topology (see module docstring)."""

    def __init__(self, graph: nx.DiGraph, *, default_rtt_s: float, source: str = "topology"):
        self.graph = graph
        self.default_rtt_s = default_rtt_s
        self.source = source
        clouds = [n for n, k in graph.nodes(data="kind") if k == "cloud"]
        if len(clouds) != 1:
            raise InputError(f"topology needs exactly one cloud node, found {len(clouds)}",
                             source)
        self.cloud = clouds[0]
        self.devices = [n for n, k in graph.nodes(data="kind") if k == "device"]
        if not self.devices:
            raise InputError("topology has no device node", source)
        self.links: dict[str, LinkSpec] = {}
        for _, _, spec in graph.edges(data="spec"):
            self.links[spec.name] = spec
        self._routes: dict[str, tuple[LinkSpec, ...]] = {}
        for d in self.devices:
            try:
                path = nx.shortest_path(graph, d, self.cloud, weight=self._static_delay)
            except nx.NetworkXNoPath:
                raise InputError(f"device {d!r} has no path to the cloud {self.cloud!r}",
                                 source) from None
            hops = zip(path, path[1:], strict=False)
            self._routes[d] = tuple(graph.edges[u, v]["spec"] for u, v in hops)

    def _static_delay(self, u: str, v: str, data: dict) -> float:
        spec: LinkSpec = data["spec"]
        if spec.delay_s is not None:
            return spec.delay_s
        rtt = spec.trace.rtt_at(0.0, self.default_rtt_s) if spec.trace else self.default_rtt_s
        return rtt / 2

    def route(self, device: str) -> tuple[LinkSpec, ...]:
        """The links from ``device`` to the cloud, in order."""
        return self._routes[device]

    def link_delay_s(self, spec: LinkSpec, t_s: float) -> float:
        """One-way delay of ``spec`` for a message crossing it at ``t_s``."""
        if spec.delay_s is not None:
            return spec.delay_s
        if spec.trace is not None:
            return 0.5 * spec.trace.rtt_at(t_s, self.default_rtt_s)
        return 0.5 * self.default_rtt_s

    def path_delay_s(self, device: str, t_s: float) -> float:
        """One-way delay from ``device`` to the cloud (each link's delay taken at ``t_s``)."""
        return sum(self.link_delay_s(s, t_s) for s in self._routes[device])

    def link_traces(self) -> dict[str, Trace | None]:
        return {name: spec.trace for name, spec in self.links.items()}

    def describe(self) -> str:
        kinds = {k: sum(1 for _, kk in self.graph.nodes(data="kind") if kk == k) for k in KINDS}
        return (f"{kinds['device']} devices, {kinds['cell']} cells, {kinds['router']} routers, "
                f"{len(self.links)} links")


def device_offsets(count: int, mode: str, seed: int, period_s: float) -> list[float]:
    """Start positions (s) of ``count`` devices on a trace of ``period_s``: ``random``
    (uniform, from the seed's offset stream; device 0 at 0 s, so a cell of one reproduces
    the single-link run), ``spread`` (evenly spaced) or ``zero`` (all in lockstep)."""
    if mode not in OFFSET_MODES:
        raise InputError(f"offsets must be one of {', '.join(OFFSET_MODES)}, not {mode!r}")
    if mode == "zero" or count == 0:
        return [0.0] * count
    if mode == "spread":
        return [i * period_s / count for i in range(count)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, OFFSET_STREAM]))
    draws = rng.uniform(0.0, period_s, count)
    draws[0] = 0.0
    return draws.tolist()


def cell_topology(users: int, access: Trace, *, cell_mbps: float | None,
                  backhaul_mbps: float | None, backhaul_delay_s: float = 0.0,
                  default_rtt_s: float, offsets: str = "random", seed: int = 0) -> Topology:
    """``users`` devices, each on its own position of the ``access`` trace (its radio
    link; one-way delay half the trace's or the default RTT), behind one cell uplink of
    ``cell_mbps`` shared by all, a backhaul of ``backhaul_mbps`` and the cloud.
    None: unconstrained."""
    g = nx.DiGraph()
    for name, kind in (("cell", "cell"), ("core", "router"), ("cloud", "cloud")):
        g.add_node(name, kind=kind)
    _add_link(g, LinkSpec("cell", "core", _constant(cell_mbps, "cell uplink"), 0.0))
    _add_link(g, LinkSpec("core", "cloud", _constant(backhaul_mbps, "backhaul"),
                          backhaul_delay_s))
    for i, off in enumerate(device_offsets(users, offsets, seed, access.duration_s)):
        name = f"d{i}"
        g.add_node(name, kind="device")
        _add_link(g, LinkSpec(name, "cell", access.rotated(off), None))
    return Topology(g, default_rtt_s=default_rtt_s, source="cell")


def _constant(mbps: float | None, name: str) -> Trace | None:
    return None if mbps is None else Trace.constant(mbps, name=name)


def _add_link(g: nx.DiGraph, spec: LinkSpec) -> None:
    g.add_edge(spec.src, spec.dst, spec=spec)


# ---------------------------------------------------------------------- files
def load_topology(path: str | Path, *, default_rtt_s: float, seed: int = 0,
                  read_trace: Callable[[str], Trace]) -> Topology:
    """Read a TOML/YAML/GraphML topology; ``read_trace(path)`` loads a link's trace.
    Errors are one-line :class:`InputError`s naming the file and the element."""
    p = Path(path)
    src = str(p)
    if p.suffix.lower() == ".graphml":
        if not p.is_file():
            raise InputError("topology file not found", src)
        try:
            graph = nx.read_graphml(p)
        except Exception as err:  # noqa: BLE001 - any parse error becomes one line
            raise InputError(f"cannot parse GraphML: {err}", src) from None
        nodes = [{"name": str(n), **d} for n, d in graph.nodes(data=True)]
        links = [{"from": str(u), "to": str(v), **d} for u, v, d in graph.edges(data=True)]
        devices = None
    else:
        data, _ = parse_settings_file(p, "topology")
        if not isinstance(data, dict):
            raise InputError("topology must be a table of node, link and devices", src)
        unknown = set(data) - {"node", "link", "devices"}
        if unknown:
            raise InputError(f"unknown topology section(s): {', '.join(sorted(unknown))}", src)
        nodes, links, devices = data.get("node", []), data.get("link", []), data.get("devices")
    return build_topology(nodes, links, devices, default_rtt_s=default_rtt_s, seed=seed,
                          read_trace=read_trace, source=src)


def build_topology(nodes: list[dict[str, Any]], links: list[dict[str, Any]],
                   devices: dict[str, Any] | None, *, default_rtt_s: float, seed: int,
                   read_trace: Callable[[str], Trace], source: str) -> Topology:
    """A topology from plain lists of node and link tables (what the files hold)."""
    g = nx.DiGraph()
    traces: dict[str, Trace] = {}

    def trace_of(where: str, item: dict[str, Any], offset_s: float) -> Trace | None:
        cap, file = item.get("capacity_mbps"), item.get("trace")
        if cap is not None and file is not None:
            raise InputError(f"{where}: give capacity_mbps or trace, not both", source)
        if cap is not None:
            return Trace.constant(_number(cap, where, "capacity_mbps", True, source),
                                  name=where)
        if file is None:
            return None
        if file not in traces:
            traces[file] = read_trace(str(file))
        return traces[file].rotated(offset_s)

    for i, node in enumerate(nodes):
        where = f"node {i + 1}"
        if not isinstance(node, dict) or "name" not in node:
            raise InputError(f"{where}: needs a name", source)
        kind = str(node.get("kind", "router"))
        if kind not in KINDS:
            raise InputError(f"{where} ({node['name']}): kind must be one of "
                             f"{', '.join(KINDS)}, not {kind!r}", source)
        if str(node["name"]) in g:
            raise InputError(f"{where}: duplicate node {node['name']!r}", source)
        g.add_node(str(node["name"]), kind=kind)
    for i, link in enumerate(links):
        where = f"link {i + 1}"
        if not isinstance(link, dict) or "from" not in link or "to" not in link:
            raise InputError(f"{where}: needs from and to", source)
        u, v = str(link["from"]), str(link["to"])
        for n in (u, v):
            if n not in g:
                raise InputError(f"{where}: unknown node {n!r}", source)
        delay = link.get("delay_ms")
        delay_s = None if delay is None else _number(delay, where, "delay_ms", source=source) / 1e3
        offset = _number(link.get("offset_s", 0.0), where, "offset_s", source=source)
        _add_link(g, LinkSpec(u, v, trace_of(f"{where} {u}->{v}", link, offset), delay_s))
    if devices is not None:
        if not isinstance(devices, dict):
            raise InputError("devices must be a table", source)
        count_value = _number(devices.get("count", 0), "devices", "count", source=source)
        if count_value != int(count_value) or count_value > MAX_DEVICES:
            raise InputError(f"devices: count must be a whole number in [0, {MAX_DEVICES:,}], "
                             f"not {devices.get('count')!r}", source)
        count = int(count_value)
        attach = str(devices.get("attach", ""))
        if attach not in g:
            raise InputError(f"devices: attach to an existing node, not {attach!r}", source)
        delay = devices.get("delay_ms")
        delay_s = (None if delay is None
                   else _number(delay, "devices", "delay_ms", source=source) / 1e3)
        template = trace_of("devices", devices, 0.0)
        period = template.duration_s if template is not None else 1.0
        offsets = device_offsets(count, str(devices.get("offsets", "random")), seed, period)
        for j, off in enumerate(offsets):
            name = f"d{j}"
            if name in g:
                raise InputError(f"devices: node {name!r} already exists", source)
            g.add_node(name, kind="device")
            tr = None if template is None else template.rotated(off)
            _add_link(g, LinkSpec(name, attach, tr, delay_s))
    return Topology(g, default_rtt_s=default_rtt_s, source=source)


def _number(value: Any, where: str, key: str, positive: bool = False,
            source: str | None = None) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise InputError(f"{where}: {key} must be a {'positive' if positive else 'non-negative'}"
                         f" number, not {value!r}", source)
    return x
