"""Water-filling on stars (sim/network/star.py) against the general fluid network.

Every test runs the same flows through both engines (or against a closed form): the star
engine must give each transfer the general engine's finish time (rel 1e-9), never load a
link above its capacity in any interval of constant rates, and be chosen only for stars.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network.fluidnet import SharedFluidNetwork
from sim.network.layout import star_layout
from sim.traces import Trace
from tests.sim.network.capacity import capacity_violations
from tests.sim.network.test_fluidnet import MBPS, lte_like, run_all, short_looping


def access_trace(kind: str, seed: int, rng) -> Trace | None:
    """A device's access link: a looping trace with outages, a clipped one, a constant
    one, or none (unconstrained)."""
    if kind == "loop":
        return short_looping(seed, float(rng.uniform(0, 12)))
    if kind == "clip":
        return short_looping(seed, 0.0).with_end("clip")
    if kind == "const":
        return Trace.constant(float(rng.uniform(0.5, 6.0)))
    return None


def random_star(seed: int, devices: int = 6, flows: int = 70, traced_cell: bool = False,
                kinds=("loop", "loop", "loop", "clip", "const", "free")):
    """(links, routes, flows): ``devices`` access links -> a cell -> a wide backhaul, plus
    a route on an unconstrained link only; ties (same size, same start) and several flows
    on one access link at once included."""
    rng = np.random.default_rng([18, seed])
    links: dict[str, Trace | None] = {
        f"r{i}": access_trace(kinds[i % len(kinds)], 100 * seed + i, rng) for i in range(devices)}
    cell = short_looping(seed + 500, 3.0).scaled(3.0) if traced_cell else Trace.constant(9.0)
    links |= {"cell": cell, "bh": Trace.constant(1000.0), "free": None}
    routes = [[f"r{i}", "cell", "bh"] for i in range(devices)] + [["free"]]
    out = []
    for i in range(flows):
        route = routes[rng.integers(len(routes))]
        out.append((i, route, float(rng.lognormal(np.log(8e5), 1.2)),
                    float(rng.uniform(0, 150.0))))
    for j in range(4):  # ties: identical transfers starting together on different links
        start = float(rng.uniform(0, 150.0))
        for d in range(2):
            out.append((f"tie{j}-{d}", routes[d], 5e5, start))
    return links, routes, out


def assert_same_finishes(links, routes, flows) -> SharedFluidNetwork:
    """Both engines on the same flows: same set finished, same times (rel 1e-9)."""
    fast = SharedFluidNetwork(links, routes=routes)
    assert fast.star is not None
    slow = SharedFluidNetwork(links, independent=False)
    a, b = run_all(fast, flows), run_all(slow, flows)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12), k
    return fast


@pytest.mark.parametrize("seed", range(8))
def test_star_equals_the_general_engine(seed):
    """Looping and clipped traces with outages, constant and unconstrained access links,
    a constant cell: every finish equals the general engine's (rel 1e-9)."""
    links, routes, flows = random_star(seed)
    fast = assert_same_finishes(links, routes, flows)
    assert fast.star.events < 4 * len(flows) * 10  # event driven: no per-slot stepping


@pytest.mark.parametrize("seed", range(4))
def test_star_with_a_traced_cell_equals_the_general_engine(seed):
    """The cell itself a looping trace (its capacity sometimes below the access links')."""
    links, routes, flows = random_star(seed, traced_cell=True)
    assert_same_finishes(links, routes, flows)


@pytest.mark.parametrize("seed", range(3))
def test_forest_of_stars_equals_the_general_engine(seed):
    """Two cells of four devices each behind one metro link wide enough for both (a tree
    of constant shared links): two stars, each with its own share."""
    rng = np.random.default_rng([19, seed])
    links: dict[str, Trace | None] = {
        f"r{i}": short_looping(10 * seed + i, float(rng.uniform(0, 12))) for i in range(8)}
    links |= {"cellA": Trace.constant(8.0), "cellB": Trace.constant(6.0),
              "metro": Trace.constant(14.0), "bh": Trace.constant(100.0)}
    routes = [[f"r{i}", "cellA" if i < 4 else "cellB", "metro", "bh"] for i in range(8)]
    flows = [(i, routes[rng.integers(8)], float(rng.lognormal(np.log(1e6), 1.0)),
              float(rng.uniform(0, 200.0))) for i in range(80)]
    fast = assert_same_finishes(links, routes, flows)
    assert len(fast.star._stars) == 2


def test_layout_is_chosen_only_for_stars():
    """The default cell and a forest of stars qualify; a metro narrower than the cells
    feeding it, or a link that is a bottleneck for some routes and not for others, do
    not (they keep progressive filling)."""
    r = lte_like(0)
    links = {"r0": r, "r1": r, "cell": Trace.constant(50.0), "bh": Trace.constant(1000.0)}
    cell = [["r0", "cell", "bh"], ["r1", "cell", "bh"]]
    layout = star_layout(links, cell)
    assert layout is not None and {p.bottleneck for p in layout.values()} == {"cell"}
    assert {p.access for p in layout.values()} == {"r0", "r1"}
    narrow = links | {"cell2": Trace.constant(40.0), "bh": Trace.constant(60.0)}
    two = [["r0", "cell", "bh"], ["r1", "cell2", "bh"]]
    assert star_layout(narrow, two) is None  # 50 + 40 > 60
    assert star_layout(narrow | {"bh": Trace.constant(90.0)}, two) is not None
    mixed = [["r0", "cell", "bh"], ["r1", "bh"]]  # bh: r1's bottleneck, r0's other link
    assert star_layout(links, mixed) is None
    assert star_layout(links | {"bh": Trace.constant(20.0)}, mixed) is not None  # bh both's
    assert SharedFluidNetwork(links, routes=cell, star=False).star is None


@pytest.mark.parametrize("seed", range(3))
def test_no_link_above_its_capacity_in_any_segment(seed):
    """As the general engine's test of the same name: radio links on short looping traces
    behind a shared cell over ~50 periods; in every interval the star engine held its
    rates, no link exceeds the least capacity its trace offers there (rel 1e-9)."""
    rng = np.random.default_rng([15, seed])
    links: dict[str, Trace] = {f"r{i}": short_looping(10 * seed + i, float(rng.uniform(0, 12)))
                               for i in range(4)}
    links |= {"cell": Trace.constant(9.0), "bh": Trace.constant(100.0)}
    routes = [[f"r{i}", "cell", "bh"] for i in range(4)]
    flows = [(i, routes[rng.integers(4)], float(rng.lognormal(np.log(1e6), 1.0)),
              float(rng.uniform(0, 600.0))) for i in range(200)]
    net = SharedFluidNetwork(links, routes=routes)
    net.allocation_log = []
    assert len(run_all(net, flows)) == len(flows)
    log = net.allocation_log
    assert len(log) > 500 and log[-1][1] > 40 * 12.0
    assert capacity_violations(links, log) == []
    cell_load = [load.get("cell", 0.0) for _, _, load in log]
    assert max(cell_load) == pytest.approx(9.0 * MBPS, rel=1e-9)  # the cell fills up


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 500), st.floats(1, 5e7), st.integers(0, 3))
def test_cell_of_one_device_is_the_single_link_result(start, size, seed):
    """One device behind a cell wider than its trace's peak: the transfer finishes at
    exactly Trace.finish_time, bit for bit (it never wakes for a capacity change)."""
    trace = lte_like(seed)
    links = {"radio": trace, "cell": Trace.constant(1.01 * trace.max_capacity_bytes_per_s
                                                    / MBPS), "bh": Trace.constant(1000.0)}
    net = SharedFluidNetwork(links, routes=[["radio", "cell", "bh"]])
    assert net.star is not None
    done = run_all(net, [("f", ["radio", "cell", "bh"], size, start)])
    assert done["f"] == trace.finish_time(start, size)


def test_carried_bytes_and_unfinished_flows():
    """Carried bytes per link are the flows' sizes once they finish; a flow on a clipped
    link that ends first never finishes and its bytes so far are counted."""
    clip = Trace.from_arrays([0.0], [1000.0], last_duration_s=10.0, end="clip")
    links = {"a": clip, "b": Trace.constant(1.0), "cell": Trace.constant(2.0)}
    routes = [["a", "cell"], ["b", "cell"]]
    net = SharedFluidNetwork(links, routes=routes)
    done = run_all(net, [("x", ["a", "cell"], 50_000.0, 0.0), ("y", ["b", "cell"], 1e5, 0.0)])
    assert set(done) == {"y"} and math.isfinite(done["y"])
    assert net.next_event_s() == math.inf
    net.advance(20.0)
    carried = net.carried_bytes
    assert carried["b"] == pytest.approx(1e5)
    assert carried["a"] == pytest.approx(10_000.0)  # the clipped link's whole capacity
    assert carried["cell"] == pytest.approx(1e5 + 10_000.0)
