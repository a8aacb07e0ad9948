"""The closed-form engine (static policies) and the SimPy event engine agree per request."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.simulation import run
from sim.vectorized import lindley_end
from tests.conftest import ideal_scenario

COLUMNS = ["edge_start_s", "edge_end_s", "link_start_s", "link_end_s", "cloud_start_s",
           "first_token_s", "latency_s"]


def _both(**kw):
    a = run(ideal_scenario(engine="auto", **kw)).requests
    b = run(ideal_scenario(engine="events", **kw)).requests
    return a, b


def _assert_same(a, b):
    assert list(a["policy"]) == list(b["policy"]) and list(a["request"]) == list(b["request"])
    for c in COLUMNS:
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), c
        assert np.array_equal(np.isinf(x), np.isinf(y)), c
        ok = np.isfinite(x)
        np.testing.assert_allclose(x[ok], y[ok], rtol=1e-9, atol=1e-9, err_msg=c)
    assert (a["hit"] == b["hit"]).mean() > 0.99  # a tie at the deadline may round either way
    assert (a["payload_bytes"].to_numpy() == b["payload_bytes"].to_numpy()).all()


def test_lindley_matches_the_recursion():
    rng = np.random.default_rng(0)
    ready = np.cumsum(rng.exponential(1.0, 1000))
    work = rng.exponential(0.9, 1000)
    end, free = [], 0.0
    for r, w in zip(ready, work, strict=True):
        free = max(r, free) + w
        end.append(free)
    np.testing.assert_allclose(lindley_end(ready, work), end, rtol=1e-12)


@pytest.mark.parametrize("devices", [("ideal", "ideal"), ("jetson-agx-orin", "h100-sxm"),
                                     ("cpu-2core-x86", "a100-sxm-80gb")])
def test_default_trace_all_static_policies(devices):
    a, b = _both(policies=["bf16", "int8", "int4", "mixed", "scout", "cloud-text", "edge-local"],
                 trace="traces/lte.csv", requests=300, interval_s=3.0,
                 context_tokens="normal:170:60", answer_tokens=16,
                 edge_device=devices[0], cloud_device=devices[1])
    _assert_same(a, b)


#: random traces (capacity with outages, a varying RTT, looping or clipped) and arrivals
RANDOM_TRACES = dict(
    caps=st.lists(st.one_of(st.just(0.0), st.floats(0.2, 80.0)), min_size=1, max_size=8),
    rtts=st.lists(st.floats(0.0, 400.0), min_size=8, max_size=8),
    seed=st.integers(0, 10_000),
    interval=st.floats(0.05, 5.0),
    end=st.sampled_from(["loop", "clip"]),
)


def random_trace(tmp_path_factory, caps: list[float], rtts: list[float]) -> str:
    """A trace file of 0.7 s samples from a :data:`RANDOM_TRACES` draw."""
    if sum(caps) == 0:
        caps = [10.0] + caps[1:]
    p = tmp_path_factory.mktemp("t") / "trace.csv"
    lines = ["time_s,bandwidth_mbps,rtt_ms"]
    lines += [f"{i * 0.7},{c},{rtts[i]}" for i, c in enumerate(caps)]
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@settings(max_examples=30, deadline=None)
@given(**RANDOM_TRACES,
       policy=st.sampled_from(["int8", "int4:0.5", "scout", "cloud-text", "edge-local"]))
def test_random_traces_with_varying_rtt(tmp_path_factory, caps, rtts, seed, interval, end,
                                        policy):
    p = random_trace(tmp_path_factory, caps, rtts)
    a, b = _both(policies=[policy], trace=p, trace_end=end, requests=80, seed=seed,
                 interval_s=interval, context_tokens="uniform:50:400",
                 edge_device="jetson-agx-orin", cloud_device="h100-sxm", answer_tokens=4,
                 count_return_latency=True)
    _assert_same(a, b)
