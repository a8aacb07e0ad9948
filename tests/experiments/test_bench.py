"""The engine against an independent implementation: the benchmark's naive SimPy model
(Resources, one process per request, transfers stepped slot by slot through the trace)
must give the same first-token times, with queueing at every stage and looping traces."""

from __future__ import annotations

import pytest

from experiments.bench import compare, engine_first_token_times, naive_first_token_times
from policies import PolicyContext, make_policy
from sim.engine import RECORD_COLUMNS, simulate
from sim.scenario import Scenario
from sim.simulation import build_costs
from sim.traces import Trace
from sim.workload import make_workload

MB = 1e6  # bytes/s

TRACES = {
    "constant": lambda: Trace.constant(40.0, rtt_ms=20.0),
    "two-step": lambda: Trace.from_arrays([0.0, 0.7], [6 * MB, 1.5 * MB],
                                          last_duration_s=0.5, name="two-step"),
    # a dead slot and a varying RTT (messages can overtake one another on the way to the cloud)
    "two-step-zero-rtt": lambda: Trace.from_arrays([0.0, 0.4], [5 * MB, 0.0], [0.02, 0.3],
                                                   last_duration_s=0.3, name="zero"),
}
# mean gaps that queue every stage: int8 (~5.5 MB) on the link, the others on the cloud GPU
INTERVAL_S = {"int8": 1.5, "scout": 0.25, "cloud-text": 0.2}


@pytest.fixture(scope="module")
def costs():
    return build_costs(Scenario(quality_cache="none"))


@pytest.mark.parametrize("trace_name", list(TRACES))
@pytest.mark.parametrize("spec", list(INTERVAL_S))
def test_naive_model_agrees_with_engine(costs, trace_name: str, spec: str) -> None:
    trace = TRACES[trace_name]()
    label, policy = make_policy(spec)
    policy.reset(PolicyContext(costs=costs))
    reqs = make_workload(requests=300, seed=1, interval_s=INTERVAL_S[spec],
                         question_tokens=12, context_tokens="uniform:100:400").requests()
    engine = simulate(label, policy, reqs, trace, costs, default_rtt_s=0.05).rows
    naive = naive_first_token_times(policy, reqs, trace, costs, default_rtt_s=0.05)
    check = compare(naive, engine_first_token_times(engine, len(reqs)))
    assert check["ok"], check
    assert check["max_abs_diff_s"] < 1e-6
    # the case does queue: some request waits for the link or the cloud GPU (one-way <= 0.15 s)
    col = {name: i for i, name in enumerate(RECORD_COLUMNS)}
    assert any(r[col["link_start_s"]] > r[col["edge_end_s"]]
               or r[col["cloud_start_s"]] > r[col["link_end_s"]] + 0.2 for r in engine)


@pytest.mark.parametrize("spec", ["adaptive", "mpc"])
def test_naive_model_agrees_with_engine_for_adaptive_policies(spec: str) -> None:
    """The naive model keeps an adaptive policy's view its own way (running sums, a
    transfer shown when its process ends it): the same decisions and first-token times,
    on a trace whose dead slot makes the policy switch options."""
    from sim.build import policy_context

    s = Scenario()
    costs = build_costs(s)
    trace = TRACES["two-step-zero-rtt"]()
    label, policy = make_policy(spec)
    reqs = make_workload(requests=400, seed=2, interval_s=0.4, deadline_s=0.5,
                         question_tokens=12, context_tokens="uniform:100:400").requests()
    policy.reset(policy_context(s, costs))
    engine = simulate(label, policy, reqs, trace, costs, default_rtt_s=0.05).rows
    policy.reset(policy_context(s, costs))
    naive = naive_first_token_times(policy, reqs, trace, costs, default_rtt_s=0.05)
    check = compare(naive, engine_first_token_times(engine, len(reqs)))
    assert check["ok"], check
    options = {r[RECORD_COLUMNS.index("option")] for r in engine}
    assert len(options) >= 2, options  # the case makes the policy choose
