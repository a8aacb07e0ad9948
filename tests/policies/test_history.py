"""The past a policy reads (policies.base.History): bounded memory, every entry counted,
a reader's cursor served exactly, and a loud failure instead of silently skipped entries."""

from __future__ import annotations

import pytest

from policies.base import History


def test_history_keeps_the_last_entries_and_counts_all():
    h = History(keep=3)
    for x in range(10):
        h.append(x)
    assert len(h) == 10 and h[0] == 0 and h[-1] == 9 and list(h) == [7, 8, 9]
    assert h[8:] == [8, 9] and h[10:] == [] and h[7:] == [7, 8, 9]
    with pytest.raises(RuntimeError, match="more than the 3 kept"):
        h[6:]
    with pytest.raises(IndexError):
        h[5]


def test_a_reader_that_keeps_up_sees_every_entry_in_order():
    h, seen, cursor = History(keep=4), [], 0
    for x in range(1000):
        h.append(x)
        if x % 3 == 0:  # reads every third append: never more than 4 behind
            seen += h[cursor:]
            cursor = len(h)
    seen += h[cursor:]
    assert seen == list(range(1000))


def test_an_adaptive_run_holds_a_bounded_past():
    """The events engine streaming its records: an adaptive run's memory does not grow
    with its length (it grew by ~400 B per request while the view kept every transfer)."""
    import tracemalloc

    from policies import make_policy
    from sim.engine import simulate
    from sim.scenario import Scenario
    from sim.simulation import build_costs, build_trace, build_workload, policy_context

    def peak_bytes(n):
        s = Scenario(policies=["adaptive"], requests=n, interval_s=0.5).validate()
        trace, costs = build_trace(s), build_costs(s)
        reqs = build_workload(s).iter_requests()
        label, policy = make_policy("adaptive")
        policy.reset(policy_context(s, costs))
        tracemalloc.start()
        simulate(label, policy, reqs, trace, costs, default_rtt_s=0.05,
                 on_record=lambda r: None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = peak_bytes(17_000), peak_bytes(50_000)  # both past a chunk of requests
    assert large - small < 33_000 * 10  # under 10 B per extra request


def test_first_and_last_are_the_indexed_ends():
    from policies.base import History

    h = History(keep=3)
    with pytest.raises(IndexError):
        h.first()
    for x in range(10):
        h.append(float(x))
        assert h.first() == h[0] == 0.0 and h.last() == h[-1] == float(x)


def test_ewma_fast_paths_equal_the_estimator_protocol():
    """Ewma.update/estimate write out Estimator's calls: the same floats, stale or not."""
    import random

    from policies.estimators import Estimator, Ewma

    rng = random.Random(3)
    fast = Ewma(1.5, alpha=0.3, max_age_s=2.0)
    ref = Ewma(1.5, alpha=0.3, max_age_s=2.0)
    t = 0.0
    for _ in range(2000):
        t += rng.expovariate(1.0)
        now = t + rng.choice([0.0, 0.5, 1.999, 2.0, 2.001, 10.0])
        assert fast.estimate(now) == Estimator.estimate(ref, now)
        x = rng.lognormvariate(0, 2)
        fast.update(x, t)
        Estimator.update(ref, x, t)
        assert (fast.value, fast.count, fast.total, fast.last_t_s) == (
            ref.value, ref.count, ref.total, ref.last_t_s)
