"""The network engine on the default cell: the star engine it now picks gives the records of
the general fluid network, request by request (what experiments.bench_network reports)."""

from __future__ import annotations

import pytest

from experiments.bench_network import _cell_run, same_records
from sim.scenario import Scenario


@pytest.mark.parametrize("policy", ["int8", "scout", "adaptive", "mpc"])
def test_cell_records_equal_the_general_engine(policy):
    """25 devices x 12 requests on traces/lte.csv behind the 50 Mbit/s cell (int8
    overloads it): every link end and first-token time within 1e-9 relative, same hits."""
    s = Scenario(users=25)
    star = _cell_run(s, policy, 12)
    general = _cell_run(s, policy, 12, star=False)
    assert len(star.records) == 25 * 12
    same, worst = same_records(star.records, general.records)
    assert same, worst
    assert star.hit_rate == general.hit_rate
    if policy == "int8":
        assert star.events < general.events  # a crossing, not every capacity change


def test_two_cells_topology_equals_the_general_engine():
    """experiments/scenarios/two_cells.toml: a forest of two stars, one of them a traced
    (5G) cell; int8 and scout through both engines give the same records."""
    s = Scenario(topology="experiments/scenarios/two_cells.toml")
    for policy in ("int8", "scout"):
        star = _cell_run(s, policy, 15)
        general = _cell_run(s, policy, 15, star=False)
        same, worst = same_records(star.records, general.records)
        assert same, (policy, worst)
