"""Topology files (TOML, YAML, GraphML), routes by delay, and one-line errors."""

from __future__ import annotations

import networkx as nx
import pytest

from models.errors import InputError
from sim.network.topology import cell_topology, device_offsets, load_topology
from sim.scenario import resolve_path
from sim.traces import Trace, read_trace


def load(path, **kw):
    return load_topology(path, default_rtt_s=0.05, seed=0,
                         read_trace=lambda p: read_trace(resolve_path(p)), **kw)


def test_shipped_two_cell_topology():
    topo = load(resolve_path("experiments/scenarios/two_cells.toml"))
    assert len(topo.devices) == 20 and topo.cloud == "cloud"
    assert [s.name for s in topo.route("pB")] == ["pB->cellB", "cellB->metro", "metro->cloud"]
    assert [s.name for s in topo.route("d3")] == ["d3->cellA", "cellA->metro", "metro->cloud"]
    # radio links have no stated delay: half the default RTT; the rest are stated
    assert topo.path_delay_s("pA", 0.0) == pytest.approx(0.025 + 0.002 + 0.008)


def test_routes_follow_the_smallest_delay(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("""
node:
  - {name: phone, kind: device}
  - {name: slow, kind: router}
  - {name: fast, kind: router}
  - {name: dc, kind: cloud}
link:
  - {from: phone, to: slow, capacity_mbps: 100, delay_ms: 1}
  - {from: slow, to: dc, capacity_mbps: 100, delay_ms: 50}
  - {from: phone, to: fast, capacity_mbps: 5, delay_ms: 10}
  - {from: fast, to: dc, delay_ms: 10}
""")
    topo = load(f)
    assert [s.name for s in topo.route("phone")] == ["phone->fast", "fast->dc"]
    assert topo.links["fast->dc"].trace is None  # unconstrained


def test_graphml_round_trip(tmp_path):
    g = nx.DiGraph()
    g.add_node("ue", kind="device")
    g.add_node("enb", kind="cell")
    g.add_node("dc", kind="cloud")
    g.add_edge("ue", "enb", trace="traces/3g.csv", delay_ms=30.0)
    g.add_edge("enb", "dc", capacity_mbps=40.0, delay_ms=5.0)
    f = tmp_path / "t.graphml"
    nx.write_graphml(g, f)
    topo = load(f)
    assert topo.devices == ["ue"]
    assert topo.links["enb->dc"].trace.max_capacity_bytes_per_s == 40.0 * 125_000
    assert topo.path_delay_s("ue", 0.0) == pytest.approx(0.035)


@pytest.mark.parametrize("text, needle", [
    ('[[node]]\nname="a"\nkind="device"\n', "exactly one cloud"),
    ('[[node]]\nname="c"\nkind="cloud"\n', "no device"),
    ('[[node]]\nname="a"\nkind="device"\n[[node]]\nname="c"\nkind="cloud"\n',
     "no path"),
    ('[[node]]\nname="a"\nkind="phone"\n', "kind must be"),
    ('[[node]]\nname="a"\nkind="device"\n[[node]]\nname="c"\nkind="cloud"\n'
     '[[link]]\nfrom="a"\nto="x"\n', "unknown node"),
    ('[[node]]\nname="a"\nkind="device"\n[[node]]\nname="c"\nkind="cloud"\n'
     '[[link]]\nfrom="a"\nto="c"\ncapacity_mbps=-3\n', "capacity_mbps"),
    ('[[node]]\nname="a"\nkind="device"\n[[node]]\nname="c"\nkind="cloud"\n'
     '[[link]]\nfrom="a"\nto="c"\ncapacity_mbps=3\ntrace="traces/lte.csv"\n', "not both"),
    ('[nodes]\n', "unknown topology section"),
    ('[[node]\n', "cannot parse"),
])
def test_bad_topologies_name_the_problem(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        load(f)
    assert needle in str(err.value) and "bad.toml" in str(err.value)


def test_device_offsets():
    assert device_offsets(3, "zero", 0, 600.0) == [0.0, 0.0, 0.0]
    assert device_offsets(4, "spread", 0, 600.0) == [0.0, 150.0, 300.0, 450.0]
    r = device_offsets(5, "random", 1, 600.0)
    assert r[0] == 0.0 and all(0 <= x < 600 for x in r) and len(set(r)) == 5
    assert r == device_offsets(5, "random", 1, 600.0)
    with pytest.raises(InputError):
        device_offsets(2, "sideways", 0, 1.0)


def test_cell_of_one_is_the_trace_alone():
    trace = Trace.constant(7.0, rtt_ms=50.0)
    topo = cell_topology(1, trace, cell_mbps=50.0, backhaul_mbps=None, default_rtt_s=0.05)
    assert [s.name for s in topo.route("d0")] == ["d0->cell", "cell->core", "core->cloud"]
    assert topo.route("d0")[0].trace is trace
    assert topo.path_delay_s("d0", 10.0) == pytest.approx(0.025)
