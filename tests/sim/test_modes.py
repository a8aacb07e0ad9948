"""A mode added through the public API runs through every engine with no engine edited.

``register_mode`` (``sim.costs``) is the whole of adding a protocol mode: its spec (does it
use the link, which cloud jobs batch with it) and its cost functions. Two toy modes are
registered here, one that crosses the link and one answered on the edge, and each runs
through the closed-form engine, the SimPy event engine and the network engine (one device
on a cell, FIFO cloud), which must agree per request and with a hand computation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.operating import MODES, ModeSpec, OperatingPoint
from policies.static import StaticPolicy
from sim.costs import StageTimes, register_mode, unregister_mode
from sim.engine import simulate
from sim.multiuser import simulate_network
from sim.network.topology import cell_topology
from sim.records import RECORD_COLUMNS, USER_RECORD_COLUMNS
from sim.simulation import build_costs
from sim.traces import Trace
from sim.vectorized import simulate_static
from sim.workload import make_workload
from tests.conftest import ideal_scenario
from tests.sim.test_engines_agree import COLUMNS, _assert_same

SUMMARY_TOKENS = 32
BYTES_PER_TOKEN = 4
EDGE_S, CLOUD_S = 0.05, 0.02


def _summary_stages(costs, op, ctx, q, answer, timed):
    """The edge summarises the context into 32 tokens of text (fixed 50 ms), sends it, the
    cloud answers from the summary (fixed 20 ms to the first token)."""
    return StageTimes(payload_bytes=BYTES_PER_TOKEN * (SUMMARY_TOKENS + q), edge_s=EDGE_S,
                      cloud_ttft_s=CLOUD_S, decode_rest_s=0.0)


def _draft_stages(costs, op, ctx, q, answer, timed):
    """Answered on the edge by a draft model in a fixed 30 ms."""
    return StageTimes(payload_bytes=0, edge_s=0.03, decode_rest_s=0.01)


class Summary(StaticPolicy):
    name = "summary"
    mode = "summary"


class Draft(StaticPolicy):
    name = "draft"
    mode = "draft"


@pytest.fixture
def toy_modes():
    register_mode(ModeSpec("summary", has_retention=False), _summary_stages,
                  quality=lambda op: (0.5, "toy"))
    register_mode(ModeSpec("draft", uses_link=False, batch_kind="edge", has_retention=False),
                  _draft_stages, quality=lambda op: (0.3, "toy"))
    yield
    unregister_mode("summary")
    unregister_mode("draft")
    assert "summary" not in MODES and "draft" not in MODES


def _three_engines(policy_cls, trace: Trace, requests: int = 60):
    s = ideal_scenario(requests=requests, interval_s=0.5, rtt_ms=40.0)
    costs = build_costs(s)
    workload = make_workload(requests=requests, seed=3, rate_per_s=2.0, deadline_s=1.0)
    kw = dict(default_rtt_s=0.04, link_efficiency=1.0, count_return_latency=True)

    def fresh():
        p = policy_cls()
        p.reset(_context(costs))
        return p

    closed, _ = simulate_static("toy", fresh(), workload, trace, costs, **kw)
    events = simulate("toy", fresh(), workload.requests(), trace, costs, **kw)
    events = pd.DataFrame.from_records(events.rows, columns=RECORD_COLUMNS)
    topo = cell_topology(1, trace, cell_mbps=None, backhaul_mbps=None, backhaul_delay_s=0.0,
                         default_rtt_s=0.04, offsets="zero", seed=0)
    net = simulate_network("toy", lambda _i: fresh(), [workload.requests()], topo, costs,
                           count_return_latency=True)
    net = pd.DataFrame.from_records(net.rows, columns=USER_RECORD_COLUMNS).drop(columns="user")
    return [df.sort_values("request", ignore_index=True).assign(policy="toy")
            for df in (closed, events, net)]


def _context(costs):
    from policies.base import PolicyContext

    return PolicyContext(costs=costs)


def test_a_registered_link_mode_runs_through_all_three_engines(toy_modes):
    trace = Trace.constant(1.0, 40.0)  # 1 Mbit/s: a 128-byte summary takes ~1 ms
    closed, events, net = _three_engines(Summary, trace)
    _assert_same(closed, events)
    _assert_same(closed, net)
    assert set(closed["mode"]) == {"summary"} and set(closed["option"]) == {"summary"}
    assert (closed["quality"] == 0.5).all() and (closed["quality_source"] == "toy").all()
    # the first request meets idle queues: edge, transfer, one-way delay, cloud, back
    first = closed.iloc[0]
    payload = BYTES_PER_TOKEN * SUMMARY_TOKENS
    expected = EDGE_S + payload / 125_000 + 0.02 + CLOUD_S + 0.02
    assert math.isclose(first["latency_s"], expected, rel_tol=1e-12)
    assert first["payload_bytes"] == payload


def test_a_registered_edge_mode_skips_link_and_cloud_in_every_engine(toy_modes):
    closed, events, net = _three_engines(Draft, Trace.constant(5.0, 40.0))
    for df in (closed, events, net):
        assert df["link_start_s"].isna().all() and df["cloud_start_s"].isna().all()
        assert (df["payload_bytes"] == 0).all()
    _assert_same(closed, events)
    _assert_same(closed, net)
    # the hand-off (first token) comes 30 ms after the edge starts; decoding holds it 10 more
    np.testing.assert_allclose(closed["edge_end_s"] - closed["edge_start_s"], 0.03)


def test_a_registered_mode_is_validated_like_the_built_in_ones(toy_modes):
    assert OperatingPoint("summary").label == "summary"
    with pytest.raises(ValueError, match="no retention"):
        OperatingPoint("summary", retention=0.5)
    with pytest.raises(ValueError, match="unknown mode"):
        OperatingPoint("nonesuch")
    with pytest.raises(ValueError, match="built-in"):
        unregister_mode("kv")


def test_engine_columns_come_from_the_record_type():
    assert COLUMNS[0] in RECORD_COLUMNS
    assert USER_RECORD_COLUMNS == ("user", *RECORD_COLUMNS)
