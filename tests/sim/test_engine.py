"""Engine against closed forms, with ``ideal`` devices (zero compute time)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.payload import cloud_text_payload_bytes, kv_payload_bytes
from sim.simulation import build_trace, run
from tests.conftest import ideal_scenario


def test_constant_link_closed_form():
    # One request, constant 8 Mbit/s (1e6 B/s), RTT 40 ms: finish = bytes*8/bw + RTT/2.
    s = ideal_scenario(policies=["int8", "cloud-text"], bandwidth_mbps=8, rtt_ms=40,
                       requests=1, arrival="periodic", interval_s=1, context_tokens="170")
    r = run(s).requests
    kv = kv_payload_bytes("qwen2.5-7b", 170, "int8")
    text = cloud_text_payload_bytes(170)
    lat = dict(zip(r["policy"], r["latency_s"], strict=True))
    assert lat["int8"] == pytest.approx(kv * 8 / 8e6 + 0.020, rel=1e-12)
    assert lat["cloud-text"] == pytest.approx(text * 8 / 8e6 + 0.020, rel=1e-12)


def test_return_latency_counts_once_each_way():
    s = ideal_scenario(policies=["cloud-text"], bandwidth_mbps=8, rtt_ms=100, requests=1,
                       arrival="periodic", interval_s=1, count_return_latency=True)
    lat = run(s).requests["latency_s"].iloc[0]
    assert lat == pytest.approx(cloud_text_payload_bytes(170) * 8 / 8e6 + 0.100)


def test_two_step_trace(tmp_path):
    # 8 Mbit/s for 1 s, then 80 Mbit/s; INT8 KV of 170 tokens (5.18 MB) starts at 0.
    p = tmp_path / "step.csv"
    p.write_text("time_s,bandwidth_mbps\n0,8\n1,80\n")
    s = ideal_scenario(policies=["int8"], trace=str(p), rtt_ms=0, requests=1,
                       arrival="periodic", interval_s=1, trace_end="clip")
    size = kv_payload_bytes("qwen2.5-7b", 170, "int8")
    r = run(s).requests
    expected = 1.0 + (size - 1e6) / 1e7
    if expected > 2.0:  # clip at 2 s: cannot finish
        assert math.isinf(r["latency_s"].iloc[0])
    else:
        assert r["latency_s"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_transfer_wraps_trace_end(tmp_path):
    p = tmp_path / "short.csv"
    p.write_text("time_s,bandwidth_mbps\n0,8\n1,16\n")  # period 2 s, 3e6 bytes per period
    s = ideal_scenario(policies=["bf16"], trace=str(p), rtt_ms=0, requests=1,
                       arrival="periodic", interval_s=1)
    size = kv_payload_bytes("qwen2.5-7b", 170, "bf16")  # 9,748,480 B
    periods, rem = divmod(size, 3e6)
    tail = rem / 1e6 if rem <= 1e6 else 1.0 + (rem - 1e6) / 2e6
    assert run(s).requests["latency_s"].iloc[0] == pytest.approx(2.0 * periods + tail)


def test_back_to_back_fifo_queue_closed_form():
    # Periodic arrivals every T; each transfer takes S > T on a constant link: request k
    # starts when k-1 ends, so it ends at (k+1)S and waits (k+1)S - kT in total.
    n, interval = 20, 1.0
    s = ideal_scenario(policies=["int8"], bandwidth_mbps=20, rtt_ms=0, requests=n,
                       arrival="periodic", interval_s=interval, deadline_s=1e9)
    size = kv_payload_bytes("qwen2.5-7b", 170, "int8")
    service = size * 8 / 20e6
    assert service > interval
    lat = run(s).requests["latency_s"].to_numpy()
    k = np.arange(n)
    np.testing.assert_allclose(lat, (k + 1) * service - k * interval, rtol=1e-12)


def test_mm1_mean_sojourn_against_queueing_theory():
    # Poisson arrivals, deterministic service S on a constant link: M/D/1 mean sojourn
    # W = S + rho*S / (2(1-rho)) (Pollaczek-Khinchine). 20,000 requests, rho = 0.5.
    s = ideal_scenario(policies=["cloud-text"], bandwidth_mbps=0.01, rtt_ms=0, requests=20000,
                       context_tokens="170", seed=3)
    service = cloud_text_payload_bytes(170) * 8 / 1e4
    s.interval_s = service / 0.5
    lat = run(s).requests["latency_s"].to_numpy()
    rho = 0.5
    w = service + rho * service / (2 * (1 - rho))
    # Sojourn times are autocorrelated: use the standard error of 20 batch means.
    batches = lat.reshape(20, -1).mean(axis=1)
    se = batches.std(ddof=1) / math.sqrt(len(batches))
    assert abs(lat.mean() - w) < 4 * se, (lat.mean(), w, se)


def test_same_seed_same_output_other_seed_differs():
    a = run(ideal_scenario(policies=["int8", "scout"], requests=300, seed=7)).requests
    b = run(ideal_scenario(policies=["int8", "scout"], requests=300, seed=7)).requests
    c = run(ideal_scenario(policies=["int8", "scout"], requests=300, seed=8)).requests
    assert a.equals(b)
    assert not a["arrival_s"].equals(c["arrival_s"])


def test_policies_see_identical_arrivals():
    r = run(ideal_scenario(policies=["bf16", "int4", "scout", "edge-local"], requests=200,
                           context_tokens="normal:170:40")).requests
    groups = [g[["request", "arrival_s", "context_tokens", "deadline_s"]].reset_index(drop=True)
              for _, g in r.groupby("policy", sort=False)]
    for g in groups[1:]:
        assert g.equals(groups[0])


def test_cloud_text_overtakes_edge_compute_fifo_by_ready_time():
    # With a slow edge device, a cloud-text request needs no edge compute; the link must
    # serve jobs in the order they become ready, so latencies stay exact per request.
    s = ideal_scenario(policies=["scout", "cloud-text"], bandwidth_mbps=100, rtt_ms=0,
                       requests=50, edge_device="cpu-2core-x86")
    r = run(s).requests
    ct = r[r.policy == "cloud-text"]["latency_s"]
    assert np.allclose(ct, cloud_text_payload_bytes(170) * 8 / 100e6)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1.0, 4.0), seed=st.integers(0, 1000),
       policy=st.sampled_from(["bf16", "int8", "int4", "mixed", "scout", "cloud-text"]))
def test_more_bandwidth_never_lowers_static_hit_rate(scale, seed, policy):
    base = dict(policies=[policy], trace="traces/lte.csv", requests=60, seed=seed,
                deadline_s=4.0, interval_s=4.0)
    lo = run(ideal_scenario(**base)).requests
    hi = run(ideal_scenario(bandwidth_scale=scale, **base)).requests
    assert (hi["latency_s"].to_numpy() <= lo["latency_s"].to_numpy() + 1e-9).all()
    assert hi["hit"].sum() >= lo["hit"].sum()


def test_link_never_carries_more_than_capacity():
    s = ideal_scenario(policies=["int8"], trace="traces/lte.csv", requests=200, interval_s=2)
    r = run(s).requests
    t = build_trace(s)
    # Back-to-back transfers: bytes sent up to each finish <= capacity integral from 0.
    ends = r["link_end_s"].to_numpy()
    sent = np.cumsum(r["payload_bytes"].to_numpy())
    assert all(sent[i] <= t.cumulative_bytes(ends[i]) * (1 + 1e-9) for i in range(len(r)))
