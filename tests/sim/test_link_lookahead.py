"""The link's look-ahead (``Link.expect``, TCP on new connections) and the events engine's
static decisions made ahead: the same transfers and records, bit for bit, as transfer by
transfer, on random traces (outages, fine staircases, RTT columns) and settings; and the
look-ahead is really what answered."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim.engine as engine_module
from models.transport import TcpConfig
from policies import make_policy
from policies.base import PolicyContext
from sim.build import policy_context
from sim.engine import EventEngine, simulate
from sim.network import Link
from sim.records import RECORD_COLUMNS
from sim.scenario import Scenario
from sim.simulation import build_costs
from sim.traces import Trace
from sim.workload import make_workload
from tests.models.test_transport_batch import CONFIGS, _random_trace

LINK_START = RECORD_COLUMNS.index("link_start_s")


def _queue(rng: np.random.Generator, n: int) -> tuple[list[float], list[float]]:
    """Ready times (bursts and gaps) and sizes of ``n`` transfers."""
    ready = np.cumsum(rng.exponential(rng.choice([0.05, 0.5, 5.0]), n)) + rng.uniform(0, 30)
    sizes = rng.choice([0, 300, 22_000, 400_000, 2_500_000, 6_000_000], size=n)
    return ready.tolist(), [float(b) for b in sizes]


def _link(trace, cfg: TcpConfig, rtt_s: float, eff: float) -> Link:
    return Link(trace, default_rtt_s=rtt_s, efficiency=eff, tcp=cfg)


def _state(link: Link) -> tuple[float, float, float]:
    return link.free_at_s, link.bytes_sent, link.flow.free_s


@pytest.mark.parametrize("seed", range(12))
def test_expected_transfers_are_the_ones_sent_one_by_one(seed):
    rng = np.random.default_rng(500 + seed)
    trace = _random_trace(rng, fine=seed % 4 == 3, rtt=seed % 3 == 2)
    cfg = CONFIGS[seed % len(CONFIGS)]
    rtt_s, eff = float(rng.uniform(0.005, 0.12)), float(rng.choice([1.0, 0.95]))
    n = int(rng.integers(1, 300))
    ready, sizes = _queue(rng, n)
    plain, ahead = _link(trace, cfg, rtt_s, eff), _link(trace, cfg, rtt_s, eff)
    assert ahead.looks_ahead
    # told in pieces, some before any is sent and some while the first ones are sent
    cut = sorted(rng.integers(0, n + 1, 3).tolist())
    ahead.expect(ready[:cut[1]], sizes[:cut[1]])
    for i in range(n):
        if i == cut[0]:
            ahead.expect(ready[cut[1]:cut[2]], sizes[cut[1]:cut[2]])
        if i == cut[2] or (i == cut[0] and cut[2] == cut[0]):
            ahead.expect(ready[cut[2]:], sizes[cut[2]:])
        assert ahead.send(ready[i], sizes[i]) == plain.send(ready[i], sizes[i])
        assert _state(ahead) == _state(plain)
    assert ahead.sent_ahead == n


@pytest.mark.parametrize("seed", range(6))
def test_an_unexpected_send_drops_the_look_ahead_and_changes_nothing(seed):
    rng = np.random.default_rng(700 + seed)
    trace = _random_trace(rng, rtt=seed % 2 == 1)
    cfg = CONFIGS[seed % len(CONFIGS)]
    n = int(rng.integers(20, 200))
    ready, sizes = _queue(rng, n)
    wrong = int(rng.integers(1, n))
    told = list(ready)
    told[wrong] += 0.25  # the link is told a ready time that is not the one sent
    plain, ahead = _link(trace, cfg, 0.05, 1.0), _link(trace, cfg, 0.05, 1.0)
    ahead.expect(told, sizes)
    forked = False
    for i in range(n):
        if i == wrong // 2 and not forked:  # a what-if on a fork neither uses nor spoils it
            forked = True
            a, p = ahead.fork(), plain.fork()
            for r, b in zip(ready[i:i + 3], sizes[i:i + 3], strict=True):
                assert a.send(r, b) == p.send(r, b)
            assert a.sent_ahead == ahead.sent_ahead
        assert ahead.send(ready[i], sizes[i]) == plain.send(ready[i], sizes[i])
        assert _state(ahead) == _state(plain)
    assert ahead.sent_ahead == wrong  # up to the wrong one, then one by one


def test_send_all_drops_the_look_ahead():
    rng = np.random.default_rng(3)
    trace = _random_trace(rng)
    ready, sizes = _queue(rng, 40)
    plain, ahead = _link(trace, TcpConfig(), 0.05, 1.0), _link(trace, TcpConfig(), 0.05, 1.0)
    ahead.expect(ready[20:], sizes[20:])  # told first, then sent by another way
    s1, e1 = ahead.send_all(np.array(ready[:20]), np.array(sizes[:20]))
    s2, e2 = plain.send_all(np.array(ready[:20]), np.array(sizes[:20]))
    assert s1.tolist() == s2.tolist() and e1.tolist() == e2.tolist()
    for r, b in zip(ready[20:], sizes[20:], strict=True):
        assert ahead.send(r, b) == plain.send(r, b)
    assert ahead.sent_ahead == 0


def test_no_look_ahead_where_the_array_solver_does_not_go():
    trace = _random_trace(np.random.default_rng(1))
    clipped = Trace.from_arrays([0.0, 1.0], [1e6, 2e6], end="clip")
    for link in (Link(trace, default_rtt_s=0.05),  # fluid
                 Link(trace, default_rtt_s=0.05, tcp=TcpConfig(connection="persistent")),
                 Link(trace, default_rtt_s=0.05, tcp=TcpConfig(), latency="before"),
                 Link(clipped, default_rtt_s=0.05, tcp=TcpConfig())):
        assert not link.looks_ahead
        link.expect([1.0], [1000.0])
        link.send(1.0, 1000.0)
        assert link.sent_ahead == 0


def _records(spec: str, tcp: TcpConfig, trace, costs, context, reqs, *, ahead: bool,
             monkeypatch) -> tuple[list, float, int]:
    """(records, link bytes, sends answered ahead) of the events engine, with the link's
    look-ahead or with :meth:`Link.expect` ignoring what it is told."""
    label, policy = make_policy(spec)
    policy.reset(context)
    with monkeypatch.context() as m:
        if not ahead:
            m.setattr(Link, "expect", lambda self, ready_s, size_bytes: None)
        engine = EventEngine(policy, trace, costs, default_rtt_s=0.05, tcp=tcp)
        res = engine.run(iter(reqs))
    return res.rows, res.link_bytes, engine.link.sent_ahead


@pytest.mark.parametrize("seed", range(6))
def test_the_engine_with_static_decisions_ahead_keeps_its_records(seed, monkeypatch):
    rng = np.random.default_rng(900 + seed)
    trace = _random_trace(rng, fine=seed == 5, rtt=seed % 2 == 1)
    scenario = Scenario(requests=10, seed=seed)
    costs = build_costs(scenario)
    context = policy_context(scenario, costs)
    # small chunks of decisions, so that a run has several; sizes that vary per request
    monkeypatch.setattr(engine_module, "PLAN_REQUESTS", (100, 400))
    reqs = make_workload(requests=int(rng.integers(700, 1600)), seed=seed,
                         interval_s=float(rng.choice([0.5, 3.0, 20.0])),
                         context_tokens="normal:170:60", question_tokens=scenario.question_tokens,
                         answer_tokens=scenario.answer_tokens,
                         deadline_s=scenario.deadline_s).requests()
    tcp = CONFIGS[seed % len(CONFIGS)]
    for spec in ("int8", "scout", "cloud-text", "edge-local"):
        old = _records(spec, tcp, trace, costs, context, reqs, ahead=False,
                       monkeypatch=monkeypatch)
        new = _records(spec, tcp, trace, costs, context, reqs, ahead=True,
                       monkeypatch=monkeypatch)
        assert repr(new[:2]) == repr(old[:2]), spec  # NaNs compare equal in the repr
        assert old[2] == 0
        # every transfer came from the look-ahead
        assert new[2] == sum(not math.isnan(r[LINK_START]) for r in new[0]), spec


def test_adaptive_policies_are_not_decided_ahead():
    trace = _random_trace(np.random.default_rng(2))
    scenario = Scenario(requests=10)
    costs = build_costs(scenario)
    reqs = make_workload(requests=300, seed=0, interval_s=2.0, context_tokens="170",
                         question_tokens=scenario.question_tokens,
                         answer_tokens=scenario.answer_tokens,
                         deadline_s=scenario.deadline_s).requests()
    for spec in ("adaptive", "mpc"):
        label, policy = make_policy(spec)
        policy.reset(policy_context(scenario, costs))
        engine = EventEngine(policy, trace, costs, default_rtt_s=0.05, tcp=TcpConfig())
        engine.run(reqs)
        assert engine.link.sent_ahead == 0
    # and simulate() runs a static one through the look-ahead
    label, policy = make_policy("int8")
    policy.reset(PolicyContext(costs=costs))
    assert len(simulate(label, policy, reqs, trace, costs, default_rtt_s=0.05,
                        tcp=TcpConfig()).rows) == 300


def test_expect_needs_a_size_for_each_ready_time():
    link = _link(_random_trace(np.random.default_rng(4)), TcpConfig(), 0.05, 1.0)
    with pytest.raises(ValueError, match="as many"):
        link.expect([1.0, 2.0], [1000.0])
    assert link.send(1.0, 1000.0) == _link(link.trace, TcpConfig(), 0.05, 1.0).send(1.0, 1000.0)
    assert link.sent_ahead == 0
