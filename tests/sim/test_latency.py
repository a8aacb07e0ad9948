"""Where the link's latency sits: after the bytes (default) or before them, the link idle
(Sabre). Hand computations on a constant link, for the event engine and the predictors."""

from __future__ import annotations

import pytest

from models.errors import InputError
from sim.simulation import run
from tests.conftest import ideal_scenario


def _records(latency: str, interval_s: float, policy: str = "int8"):
    s = ideal_scenario(bandwidth_mbps=8.0, rtt_ms=100.0, requests=3, arrival="periodic",
                       interval_s=interval_s, policies=[policy], latency=latency,
                       deadline_s=100.0)
    return run(s).requests


@pytest.mark.parametrize("interval_s", [100.0, 0.1])  # idle link, then a queue
def test_before_waits_one_rtt_on_the_idle_link(interval_s):
    after, before = _records("after", interval_s), _records("before", interval_s)
    size = after["payload_bytes"].iloc[0]
    serial = size / 1e6  # 8 Mbit/s = 1 MB/s
    # after: back to back on the link, each arrives RTT/2 after its last byte
    ends_after = [max(a, prev) + serial for a, prev in zip(
        after["arrival_s"], [0.0, *after["link_end_s"][:-1]], strict=True)]
    assert after["link_end_s"].tolist() == pytest.approx(ends_after, abs=1e-9)
    assert (after["cloud_start_s"] - after["link_end_s"]).tolist() == pytest.approx(
        [0.05] * 3, abs=1e-9)
    # before: each transfer takes the link, idles one RTT, then sends; arrives at its end
    prev, ends = 0.0, []
    for a in before["arrival_s"]:
        prev = max(a, prev) + 0.1 + serial
        ends.append(prev)
    assert before["link_end_s"].tolist() == pytest.approx(ends, abs=1e-9)
    assert (before["cloud_start_s"] - before["link_end_s"]).tolist() == pytest.approx(
        [0.0] * 3, abs=1e-9)


def test_predictor_places_the_latency_like_the_link():
    """The adaptive policies' predictor: ``before`` adds one RTT ahead of the bytes and
    nothing after; ``after`` adds RTT/2 after them."""
    from models.operating import OperatingPoint
    from policies.base import NetworkView
    from policies.predict import predict
    from sim.build import build_costs
    from sim.workload import make_workload

    s = ideal_scenario(bandwidth_mbps=8.0)
    costs = build_costs(s)
    req = make_workload(requests=1, seed=0, interval_s=1.0).request(0)
    op = OperatingPoint("kv", "int8")
    got = {}
    for latency in ("after", "before"):
        view = NetworkView(count_return_latency=False, latency=latency)
        got[latency] = predict(op, req, view, costs, throughput_bytes_per_s=1e6,
                               rtt_s=0.1).first_token_s
    assert got["before"] - got["after"] == pytest.approx(0.1 - 0.05, abs=1e-12)


def test_adaptive_runs_with_the_latency_before():
    s = ideal_scenario(bandwidth_mbps=8.0, rtt_ms=100.0, requests=20,
                       policies=["adaptive", "int8"], latency="before",
                       quality_cache="published")
    assert len(run(s).requests) == 40


def test_network_engine_refuses_before():
    s = ideal_scenario(bandwidth_mbps=8.0, users=2, requests=2, policies=["int8"],
                       latency="before")
    with pytest.raises(InputError, match="not modelled by the network engine"):
        run(s)
