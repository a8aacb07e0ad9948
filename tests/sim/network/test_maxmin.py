"""Max-min fair rates: textbook examples and the defining property on random networks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.network.maxmin import max_min_rates


def test_chain_of_unit_links():
    """A chain of three unit links, one long session across all of them and one short
    session per link (the opening example of Bertsekas & Gallager, Data Networks, 6.5):
    every session gets 1/2."""
    routes = {0: ["l1", "l2", "l3"], 1: ["l1"], 2: ["l2"], 3: ["l3"]}
    rates = max_min_rates(routes, {"l1": 1.0, "l2": 1.0, "l3": 1.0})
    assert rates == pytest.approx({0: 0.5, 1: 0.5, 2: 0.5, 3: 0.5})


def test_two_bottlenecks():
    """L2 (4) fills first with b, c, d at 4/3; a takes the rest of L1 (10)."""
    routes = {"a": ["L1"], "b": ["L1", "L2"], "c": ["L2"], "d": ["L2"]}
    rates = max_min_rates(routes, {"L1": 10.0, "L2": 4.0})
    assert rates == pytest.approx({"a": 10 - 4 / 3, "b": 4 / 3, "c": 4 / 3, "d": 4 / 3})


def test_chain_with_a_narrow_link():
    """Flow x crosses a narrow link (1) and a shared one (6) with y and z: x gets 1, and y
    and z split the remaining 5."""
    routes = {"x": ["narrow", "shared"], "y": ["shared"], "z": ["shared"]}
    rates = max_min_rates(routes, {"narrow": 1.0, "shared": 6.0})
    assert rates == pytest.approx({"x": 1.0, "y": 2.5, "z": 2.5})


def test_unconstrained_and_zero_capacity():
    rates = max_min_rates({"free": [], "dead": ["z"], "inf": ["i"]},
                          {"z": 0.0, "i": math.inf})
    assert rates == {"free": math.inf, "dead": 0.0, "inf": math.inf}


@st.composite
def networks(draw):
    links = [f"l{i}" for i in range(draw(st.integers(1, 5)))]
    caps = {n: draw(st.floats(0.1, 100.0)) for n in links}
    flows = draw(st.integers(1, 8))
    routes = {f: draw(st.lists(st.sampled_from(links), min_size=1, max_size=4, unique=True))
              for f in range(flows)}
    return routes, caps


@settings(max_examples=300, deadline=None)
@given(networks())
def test_max_min_property(net):
    """Feasible, and every flow has a bottleneck: a full link on its route where no flow
    gets more than it (the characterisation of the max-min fair allocation)."""
    routes, caps = net
    rates = max_min_rates(routes, caps)
    load = {n: 0.0 for n in caps}
    for f, r in routes.items():
        for n in r:
            load[n] += rates[f]
    for n, c in caps.items():
        assert load[n] <= c * (1 + 1e-9)
    for f, r in routes.items():
        assert any(load[n] >= caps[n] * (1 - 1e-9)
                   and all(rates[f] >= rates[g] * (1 - 1e-9) for g in routes if n in routes[g])
                   for n in r), (f, rates)
