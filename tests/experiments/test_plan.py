"""Capacity planning (experiments.plan) against closed forms and its own certificates."""

from __future__ import annotations

import json

import pytest

from experiments.plan import Evaluation, Target, main, plan, plan_policy
from sim.scenario import Scenario
from sim.simulation import run

# a constant link and periodic arrivals far apart: no queue, every request the same time
CALM = dict(arrival="periodic", interval_s=30.0, requests=50, policies=["int8"],
            rtt_ms=40.0)


def test_required_bandwidth_is_the_closed_form():
    """Latency = fixed + payload / rate, so the uplink for a deadline D is
    payload / (D - fixed): the certified bracket holds it, as narrow as asked."""
    base = Scenario(**CALM, bandwidth_mbps=1000.0, trace=None)
    r = run(base).requests
    payload = float(r.payload_bytes.iloc[0])
    fixed = float(r.latency_s.iloc[0]) - payload / (1000.0 * 125_000)
    need_mbps = payload / (base.deadline_s - fixed) / 125_000
    df = plan(base, "bandwidth_mbps", 1.0, 500.0, Target("hit_rate", 0.95), requests=50,
              rel_tol=0.001)
    row = df.iloc[0]
    assert row.status == "certified"
    assert row.bracket_low < need_mbps <= row.bracket_high
    assert row.bracket_high - row.bracket_low <= 0.001 * row.bracket_high
    assert row.ci_at_low[1] < 0.95 <= row.ci_at_high[0]  # the certificate itself
    assert row.value == row.bracket_high


def test_shortest_deadline_is_the_closed_form():
    base = Scenario(**CALM, bandwidth_mbps=20.0, trace=None)
    latency = float(run(base).requests.latency_s.iloc[0])
    df = plan(base, "deadline_s", 0.1, 30.0, Target("hit_rate", 0.95), requests=50,
              rel_tol=1e-4)
    row = df.iloc[0]
    assert row.status == "certified" and row.bracket_low < latency <= row.bracket_high


def test_unreachable_and_already_met_are_said():
    base = Scenario(**CALM, bandwidth_mbps=10.0, trace=None)
    df = plan(base, "bandwidth_mbps", 1.0, 5.0, Target("hit_rate", 0.95), requests=50,
              policies=["int8", "scout"])
    assert df.status.tolist() == ["not reachable in range", "met at the range's end"]
    assert df.value.isna().iloc[0] and df.value.iloc[1] == 1.0


def test_a_noisy_case_is_certified_on_both_sides_and_more_requests_narrow_it():
    base = Scenario(trace="traces/lte.csv", policies=["int8"], interval_s=20.0)
    widths = []
    for most in (200, 800):
        row = plan(base, "bandwidth_scale", 0.5, 50.0, Target("hit_rate", 0.9),
                   requests=200, max_requests=most).iloc[0]
        assert row.status in ("certified", f"not separable at n = {most}")
        assert row.ci_at_low[1] < 0.9 <= row.ci_at_high[0]
        assert row.bracket_low < row.bracket_high
        widths.append(row.bracket_high / row.bracket_low)
    assert widths[1] < widths[0]


def test_a_knob_that_hurts_gives_the_largest_value_meeting_the_target():
    base = Scenario(**{**CALM, "interval_s": 10.0}, bandwidth_mbps=40.0, trace=None)
    row = plan(base, "context_tokens", 50, 2000, Target("hit_rate", 0.95),
               requests=50).iloc[0]
    assert row.status == "certified" and row.value == row.bracket_low
    assert row.bracket_high - row.bracket_low <= 1
    at = lambda n: run(Scenario(**{**CALM, "interval_s": 10.0}, bandwidth_mbps=40.0,  # noqa: E731
                                trace=None, context_tokens=str(n))).summary.iloc[0]
    assert at(int(row.bracket_low)).deadline_hit_rate == 1.0
    assert at(int(row.bracket_high)).deadline_hit_rate == 0.0


def test_a_non_monotone_observation_is_reported():
    def bumpy(policy, knob, value, n):  # certainly worse at 25 s than at 17.5 s
        p = {40.0: 1.0, 25.0: 0.95, 17.5: 0.99}.get(value, 0.0)
        return Evaluation(value, n, p, max(0.0, p - 0.005), min(1.0, p + 0.005))

    r = plan_policy("int8", "deadline_s", 10.0, 40.0, Target("hit_rate", 0.9), bumpy)
    assert [e.value for e in r.evaluations][:4] == [40.0, 10.0, 25.0, 17.5]
    assert (17.5, 25.0) in r.non_monotone and r.status == "certified"
    monotone = [Evaluation(v, 1, p, p - 0.005, p + 0.005)
                for v, p in ((10.0, 0.0), (17.5, 0.95), (25.0, 0.99))]
    assert plan_policy.__globals__["_non_monotone"](monotone, +1) == []


def test_the_command_prints_one_object_per_policy(capsys):
    code = main(["--target-hit-rate", "0.95", "--vary", "bandwidth_mbps", "--range", "1:200",
                 "--policy", "int8,scout", "--arrival", "periodic", "--interval", "30",
                 "--requests", "20", "--start-requests", "40", "--json"])
    assert code == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["policy"] for r in rows] == ["int8", "scout"]
    assert {"policy", "value", "bracket_low", "bracket_high", "status"} <= set(rows[0])


@pytest.mark.parametrize("argv, message", [
    (["--vary", "bandwidth_mbps", "--range", "1-5", "--target-hit-rate", "0.9"], "--range"),
    (["--vary", "bandwidth_mbps", "--range", "5:1", "--target-hit-rate", "0.9"], "--range"),
    (["--vary", "bandwidth_mbps", "--range", "1:5"], "exactly one of"),
    (["--vary", "bandwidth_mbps", "--range", "1:5", "--target-hit-rate", "1.5"], "(0, 1)"),
    (["--vary", "nosuch", "--range", "1:5", "--target-hit-rate", "0.9"], "--vary"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def _small_problems():
    from sim.scenario import Scenario

    return [({"deadline_s": d}, Scenario(trace="traces/lte.csv", policies=[p], deadline_s=d,
                                         interval_s=20.0), p)
            for d in (2.0, 6.0) for p in ("int8", "int4")]


def test_the_same_answers_serially_in_processes_and_from_a_store(tmp_path):
    from experiments.plan import Store, plan_many

    kw = dict(knob="bandwidth_scale", lo=0.25, hi=64.0, target=Target("hit_rate", 0.9),
              requests=100, max_requests=400)
    serial = plan_many(_small_problems(), **kw)
    parallel = plan_many(_small_problems(), **kw, jobs=2)
    assert serial.equals(parallel)
    store = tmp_path / "plan.jsonl"
    first = plan_many(_small_problems(), **kw, store=Store(store))
    lines = store.read_text().splitlines()
    assert first.equals(serial) and len(lines) == int(serial.evaluations.sum())
    store.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])  # cut short mid-line
    again = Store(store)
    assert len(again.done) == 5
    assert plan_many(_small_problems(), **kw, store=again).equals(serial)  # resumed


def test_the_same_answers_on_a_local_dask_cluster():
    distributed = pytest.importorskip("distributed")
    from experiments.plan import plan_many

    kw = dict(knob="bandwidth_scale", lo=0.25, hi=64.0, target=Target("hit_rate", 0.9),
              requests=100, max_requests=400)
    serial = plan_many(_small_problems()[:2], **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        dask = plan_many(_small_problems()[:2], **kw, scheduler=cluster.scheduler_address)
    assert serial.equals(dask)


def _md1_wait_cdf(t: float, lam: float, tau: float) -> float:
    """P(W <= t) in an M/D/1 queue (Erlang 1909): arrivals at rate lam, service tau."""
    import math

    total = sum((lam * (k * tau - t)) ** k / math.factorial(k) * math.exp(-lam * (k * tau - t))
                for k in range(int(t // tau) + 1))
    return (1 - lam * tau) * total


def test_queueing_sets_the_largest_arrival_rate_as_in_an_md1_queue():
    """cloud-text on a slow constant link: the link is an M/D/1 queue (the cloud never
    waits, its work being shorter than the link's), so the largest Poisson rate for 95%
    of deadlines solves Erlang's waiting-time formula; the certified bracket holds it."""
    from scipy.optimize import brentq

    calm = Scenario(trace=None, bandwidth_mbps=0.01, policies=["cloud-text"], requests=5)
    r = run(calm).requests
    tau = float(r.link_end_s.iloc[0] - r.link_start_s.iloc[0])
    alone = float(r.latency_s.iloc[0])
    deadline = alone + 2.5 * tau
    rate = brentq(lambda lam: _md1_wait_cdf(deadline - alone, lam, tau) - 0.95, 1e-6,
                  (1 - 1e-9) / tau)
    base = Scenario(trace=None, bandwidth_mbps=0.01, policies=["cloud-text"],
                    deadline_s=deadline, interval_s=None, rate_per_s=1.0)
    row = plan(base, "rate_per_s", 0.05, 0.999 / tau, Target("hit_rate", 0.95),
               requests=1600, max_requests=25_600).iloc[0]
    assert row.status.startswith(("certified", "not separable at n"))
    assert row.bracket_low <= rate <= row.bracket_high
    assert row.value == row.bracket_low  # a knob that hurts: the largest value meeting it
    assert row.bracket_high / row.bracket_low < 1.05
