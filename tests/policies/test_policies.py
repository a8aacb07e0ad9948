"""Adaptive policies: estimators, never seeing the future, exact oracle, sensible choices."""

from __future__ import annotations

import pytest

from policies.estimators import Ewma, HarmonicMean, Robust, WindowMin, make_estimator
from policies.registry import POLICIES
from sim.scenario import Scenario
from sim.simulation import run
from tests import spies


def test_estimators_arithmetic():
    e = Ewma(prior=1.0, alpha=0.5)
    assert e.estimate(0) == 1.0
    for t, x in enumerate([4.0, 2.0]):
        e.update(x, t)
    assert e.estimate(2) == 3.0  # first sample replaces the prior, then 0.5*2 + 0.5*4
    h = HarmonicMean(prior=1.0, k=3)
    for t, x in enumerate([1.0, 2.0, 4.0, 4.0]):
        h.update(x, t)
    assert h.estimate(4) == pytest.approx(3 / (1 / 2 + 1 / 4 + 1 / 4))
    m = WindowMin(prior=9.0, k=2)
    for t, x in enumerate([1.0, 3.0, 2.0]):
        m.update(x, t)
    assert m.estimate(3) == 2.0
    r = Robust(HarmonicMean(prior=1.0, k=5), k=5)
    r.update(10.0, 0)
    r.update(5.0, 1)  # predicted 10, actual 5: relative error 1.0 -> halve the estimate
    assert r.estimate(2) == pytest.approx((2 / (1 / 10 + 1 / 5)) / 2)


def test_stale_samples_fall_back_to_the_long_run_mean():
    h = make_estimator("harmonic", prior=1.0, k=3, max_age_s=10)
    h.update(0.01, 0.0)  # an outage sample
    assert h.estimate(5.0) == 0.01
    assert h.estimate(11.0) == pytest.approx(0.01)  # long-run mean of one sample
    h.update(10.0, 12.0)
    assert h.estimate(30.0) == pytest.approx((0.01 + 10.0) / 2)
    with pytest.raises(ValueError):
        make_estimator("nope", 1.0)


def test_policies_never_see_the_future(monkeypatch):
    monkeypatch.setitem(POLICIES, "spy", ("tests.spies:FutureSpy", {}))
    spies.FutureSpy.violations = spies.FutureSpy.decisions = 0
    run(Scenario(policies=["spy"], requests=200, interval_s=1.0))
    assert spies.FutureSpy.decisions == 200 and spies.FutureSpy.violations == 0


def test_oracle_what_if_is_exact(monkeypatch):
    # All options go through the edge, so no later request can overtake: what_if must
    # equal the realised first-token time for every request.
    monkeypatch.setitem(POLICIES, "ospy", ("tests.spies:ExactnessSpy", {}))
    spies.ExactnessSpy.predicted = {}
    s = Scenario(policies=["ospy"], requests=300, interval_s=2.0,
                 options="kv,scout,edge-local", deadline_s=3.0)
    r = run(s).requests
    predicted = spies.ExactnessSpy.predicted
    assert len(predicted) == 300
    for i, t in zip(r["request"], r["first_token_s"], strict=True):
        assert predicted[i] == pytest.approx(t, rel=1e-12, abs=1e-12)


def test_adaptive_learns_a_fast_constant_link():
    s = Scenario(policies=["adaptive", "bf16"], bandwidth_mbps=200, requests=100,
                 options="kv", deadline_s=2.0, interval_s=5.0)
    r = run(s).requests
    a = r[r.policy == "adaptive"]
    # once it has seen transfers it picks full-precision KV, the best KV option that fits
    assert (a["option"].iloc[5:] == "kv-bf16@100%").all()
    assert a["hit"].all()
    est = a["estimate_mbps"].iloc[5:]
    assert est.to_numpy() == pytest.approx(200.0)  # exact fluid link: estimate = capacity


def test_adaptive_falls_back_to_the_smallest_payload():
    s = Scenario(policies=["adaptive"], bandwidth_mbps=1, requests=20, deadline_s=0.001,
                 options="kv,scout,cloud-text")
    r = run(s).requests
    assert set(r["option"]) == {"cloud-text"}  # 728 B, the smallest network option


@pytest.mark.parametrize("trace", ["traces/lte.csv"])
def test_oracle_bounds_adaptive_and_mpc(trace):
    s = Scenario(policies=["int4", "scout", "edge-local", "adaptive", "mpc", "oracle"],
                 trace=trace, requests=300, options="kv,scout,edge-local", deadline_s=3.0,
                 interval_s=4.0)
    summary = run(s).summary.set_index("policy")
    for p in ("adaptive", "mpc", "int4", "scout", "edge-local"):
        assert summary.loc["oracle", "utility"] >= summary.loc[p, "utility"] - 1e-9, p
        assert summary.loc["oracle", "deadline_hit_rate"] >= (
            summary.loc[p, "deadline_hit_rate"] - 0.02), p


def test_cli_prints_paired_comparisons(capsys):
    from sim.run import main

    assert main(["--policy", "int8,scout,adaptive", "--requests", "60"]) == 0
    out = capsys.readouterr().out
    assert "paired vs adaptive" in out and "Holm" in out


def test_adaptive_needs_quality():
    s = Scenario(policies=["adaptive"], quality_cache="none", requests=5)
    with pytest.raises(ValueError, match="needs operating points"):
        run(s)


def test_policy_parameters_in_the_spec():
    from policies.registry import make_policy, split_specs

    assert split_specs("int8,adaptive(estimator=min,safety=0.5),scout:0.25") == [
        "int8", "adaptive(estimator=min,safety=0.5)", "scout:0.25"]
    label, p = make_policy("adaptive(estimator=min,safety=0.5)")
    assert label == "adaptive(estimator=min,safety=0.5)"
    assert p.estimator_name == "min" and p.safety == 0.5
    with pytest.raises(ValueError, match="no parameter 'colour'"):
        make_policy("adaptive(colour=blue)")
    with pytest.raises(ValueError, match="safety"):
        make_policy("adaptive(safety=2)")


def test_stall_detection_switches_to_local_during_an_outage(tmp_path):
    # 100 Mbit/s with a 30 s outage every 60 s: requests every 2 s. Cloud-text misses in
    # the outage; adaptive sees its last transfer stuck and answers locally.
    p = tmp_path / "outage.csv"
    p.write_text("time_s,bandwidth_mbps\n0,100\n30,0\n")
    s = Scenario(policies=["cloud-text", "adaptive"], trace=str(p), requests=300,
                 interval_s=2.0, answer_tokens=1)
    summary = run(s).summary.set_index("policy")
    assert summary.loc["cloud-text", "deadline_hit_rate"] < 0.7
    assert summary.loc["adaptive", "deadline_hit_rate"] > 0.9
    assert summary.loc["adaptive", "utility"] > summary.loc["cloud-text", "utility"]
