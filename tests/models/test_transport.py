"""The TCP transport model against its theory: handshakes, slow start's idle rounds, the
header overhead, timeouts in outages, restart after idle; and every engine using it alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.errors import InputError
from models.transport import ConstantRate, TcpConfig, TcpFlow, constant_rate_s
from sim.scenario import Scenario
from sim.simulation import run
from sim.traces import Trace

MBPS = 1e6 / 8
RATE = 10 * MBPS  # 10 Mbit/s
CFG = TcpConfig()


def _flow(trace, cfg=CFG, rtt=0.05):
    return TcpFlow(trace, cfg, rtt_s=rtt)


def test_a_small_payload_on_a_new_connection_costs_one_rtt_of_handshake():
    rtt = 0.05
    d = _flow(Trace.constant(10.0), rtt=rtt).duration_s(1.0, 750)
    syn, data = 74 / RATE, (750 + 66) / RATE
    assert d == pytest.approx(syn + rtt + data + rtt / 2, rel=1e-12)


def test_tls_adds_a_second_handshake_round_trip():
    one = _flow(Trace.constant(10.0)).duration_s(1.0, 750)
    two = _flow(Trace.constant(10.0), TcpConfig(handshake_rtts=2)).duration_s(1.0, 750)
    assert two - one == pytest.approx(0.05 + 74 / RATE, rel=1e-9)


@pytest.mark.parametrize("size", [22_000, 100_000, 1_000_000])
@pytest.mark.parametrize("rtt", [0.02, 0.05, 0.1])
def test_slow_start_idles_while_the_window_is_below_the_bdp(size, rtt):
    """By hand on a constant link: round k sends 10 * 2^k segments; the link idles
    RTT + one packet's time - the round's serialisation whenever that is positive."""
    mss, pkt = 1448, 1514
    t = 74 / RATE + rtt  # handshake
    left, cwnd = size, 10 * mss
    first = pkt / RATE + rtt
    while True:
        w = min(cwnd, left)
        serve = (w + math.ceil(w / mss) * 66) / RATE
        left -= w
        if left <= 0:
            t += serve
            break
        t += max(serve, first)
        cwnd *= 2
    d = _flow(Trace.constant(10.0), rtt=rtt).duration_s(1.0, size)
    assert d == pytest.approx(t + rtt / 2, rel=1e-9)
    # the predictors' closed form agrees
    assert constant_rate_s(CFG, size, RATE, rtt, connect=True) == pytest.approx(t, rel=1e-9)


def test_a_warm_connection_is_the_fluid_link_with_headers():
    # (a buffer that holds the whole window: else its tail is dropped, the next test)
    big = TcpConfig(initial_window_packets=5000, buffer_packets=5000, connection="persistent")
    size = 2_000_000
    d = _flow(Trace.constant(10.0), big).duration_s(0.0, 1)  # opens the connection
    flow = _flow(Trace.constant(10.0), big)
    flow.send(0.0, 1)
    d = flow.duration_s(0.1, size)  # idle 0.1 s - RTT: below the RTO, no restart
    wire = size + math.ceil(size / 1448) * 66
    assert d == pytest.approx(wire / RATE + 0.025, rel=1e-12)


def test_restart_after_idle_follows_linux():
    cfg = TcpConfig(connection="persistent")
    warm = _flow(Trace.constant(10.0), cfg)
    warm.send(0.0, 3_000_000)  # the window grows past the BDP
    assert warm.cwnd > 10 * 1448
    soon = _flow(Trace.constant(10.0), cfg)
    soon.send(0.0, 3_000_000)
    t_soon = soon.duration_s(soon.free_s + 0.05, 500_000)
    warm.duration_s(warm.free_s + 30.0, 1)  # 30 s idle: back to the initial window
    assert warm.cwnd <= 2 * 10 * 1448
    fresh = _flow(Trace.constant(10.0), cfg)
    fresh.send(0.0, 1)
    t_idle = fresh.duration_s(fresh.free_s + 30.0, 500_000)
    assert t_soon < t_idle


def _gap_trace(gap_start=2.0, gap_s=2.0):
    times = np.array([0.0, gap_start, gap_start + gap_s])
    return Trace.from_arrays(times, np.array([RATE, 0.0, RATE]), last_duration_s=60.0)


@pytest.mark.parametrize("after", ["linux", "ns3"])
def test_an_outage_holds_the_data_and_fires_the_timer(after):
    trace = _gap_trace()
    cfg = TcpConfig(stack=after)
    flow = _flow(trace, cfg)
    end = flow.send(1.9, 5_000_000)
    st = flow.last
    fluid = trace.finish_time(1.9, 5_000_000 / cfg.efficiency)
    assert st.end_s > 4.0 and end > fluid
    assert st.timeouts >= 3  # 2 s of outage against an RTO of about 0.2-0.3 s, doubling
    if after == "ns3":  # the window starts again from one segment: slower than F-RTO's undo
        undo = _flow(trace, TcpConfig(stack="linux"))
        undo.send(1.9, 5_000_000)
        assert st.end_s > undo.last.end_s + 0.5


def test_no_timeout_when_the_outage_is_shorter_than_the_rto():
    trace = _gap_trace(gap_s=0.05)
    flow = _flow(trace)
    flow.send(1.5, 2_000_000)
    assert flow.last.timeouts == 0


def test_a_shallow_buffer_loses_the_overshoot():
    deep = _flow(Trace.constant(10.0), TcpConfig(cc="newreno"))
    shallow = _flow(Trace.constant(10.0), TcpConfig(cc="newreno", buffer_packets=20))
    deep.send(0.0, 5_000_000)
    shallow.send(0.0, 5_000_000)
    assert shallow.last.losses >= 1 and shallow.last.extra_wire_bytes > 0
    assert shallow.last.end_s > deep.last.end_s


def test_a_clipped_trace_that_ends_first_never_finishes():
    trace = Trace.from_arrays(np.array([0.0]), np.array([RATE]), last_duration_s=1.0,
                              end="clip")
    assert math.isinf(_flow(trace).send(0.5, 5_000_000))


def test_settings_are_checked():
    with pytest.raises(InputError, match="connection"):
        TcpConfig(connection="sometimes")
    with pytest.raises(InputError, match="initial_window_packets"):
        TcpConfig(initial_window_packets=0)
    with pytest.raises(InputError, match="latency before"):
        Scenario(transport="tcp", latency="before").validate()


def test_constant_rate_stand_in_has_the_trace_methods():
    c = ConstantRate(RATE)
    assert c.finish_time(1.0, RATE) == 2.0 and c.capacity_at(3.0) == RATE


@pytest.mark.parametrize("connection", ["new", "persistent"])
def test_closed_form_and_events_agree_under_tcp(connection):
    """The same TCP link in both single-link engines: per request, to float rounding."""
    out = {}
    for engine in ("auto", "events"):
        r = run(Scenario(policies=["int8", "int4:0.5", "scout", "cloud-text"], requests=150,
                         transport="tcp", tcp_connection=connection, engine=engine,
                         trace="traces/3g.csv", interval_s=2.0))
        out[engine] = r.requests.sort_values(["policy", "request"]).first_token_s.to_numpy()
    np.testing.assert_allclose(out["auto"], out["events"], rtol=1e-9)


def test_tcp_is_never_faster_than_the_fluid_bound():
    kw = dict(policies=["int8", "int4", "scout"], requests=150, trace="traces/lte.csv")
    fluid = run(Scenario(**kw, link_efficiency=CFG.efficiency)).requests
    tcp = run(Scenario(**kw, transport="tcp")).requests
    assert (tcp.link_end_s.to_numpy() >= fluid.link_end_s.to_numpy() - 1e-9).all()


def test_the_network_engine_adds_each_flows_tcp_terms():
    kw = dict(policies=["int8", "scout"], requests=40, users=4, trace="traces/lte.csv")
    fluid = run(Scenario(**kw, link_efficiency=CFG.efficiency)).requests
    tcp = run(Scenario(**kw, transport="tcp")).requests
    f, t = fluid.latency_s.to_numpy(), tcp.latency_s.to_numpy()
    assert np.median(t - f) > 0.05  # at least a handshake RTT (50 ms) per request


def _transfer_time(capsys, *flags):
    from sim.traces.__main__ import main

    code = main(["transfer-time", "traces/lte.csv", "--start", "10", "--bytes", "1000000",
                 "--rtt", "50", "--json", *flags])
    out = capsys.readouterr()
    return code, out


def test_the_single_transfer_command_takes_the_tcp_model(capsys):
    import json

    _, fluid = _transfer_time(capsys)
    _, new = _transfer_time(capsys, "--transport", "tcp")
    _, warm = _transfer_time(capsys, "--transport", "tcp", "--connection", "persistent")
    fluid, new, warm = (json.loads(x.out) for x in (fluid, new, warm))
    assert new["transport"] == "tcp" and new["rounds"] >= 1
    assert new["duration_s"] > warm["duration_s"] > fluid["duration_s"]
    # the command's number is the model's
    from sim.simulation import build_trace

    flow = TcpFlow(build_trace(Scenario()), CFG, rtt_s=0.05)
    assert new["duration_s"] == pytest.approx(flow.duration_s(10.0, 1_000_000), rel=1e-12)


def test_the_single_transfer_command_rejects_bad_tcp_flags(capsys):
    code, out = _transfer_time(capsys, "--transport", "tcp", "--buffer-packets", "x")
    assert code == 2 and out.err.strip() == (
        "error: --buffer-packets must be a whole number, not 'x'")
    code, out = _transfer_time(capsys, "--transport", "tcp", "--warm-start", "1")
    assert code == 2 and "--warm-bytes" in out.err


def _brute_next(trace, t_s, threshold, horizon_s, below):
    """The first segment start after t_s (before horizon_s) whose capacity is below /
    above threshold, by walking every segment start in order."""
    d, n = trace.duration_s, len(trace.times_s)
    k = math.floor(t_s / d)
    for kk in range(k, k + 3):
        for j in range(n):
            start = min(kk * d + trace.times_s[j], (kk + 1) * d)
            seg_end = (kk + 1) * d if j + 1 >= n else min(kk * d + trace.times_s[j + 1],
                                                           (kk + 1) * d)
            if start <= t_s or seg_end <= start:
                continue
            if start >= horizon_s:
                return math.inf
            c = trace.capacity_bytes_per_s[j]
            if (c < threshold) if below else (c > threshold):
                return start
    return math.inf


@pytest.mark.parametrize("seed", range(6))
def test_block_skipping_scans_find_what_a_walk_finds(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    times = np.concatenate(([0.0], np.cumsum(rng.uniform(0.01, 0.5, n - 1))))
    caps = rng.choice([0.0, 1e3, 5e4, 2e5, 1e6], size=n, p=[0.05, 0.05, 0.3, 0.3, 0.3])
    caps[0] = max(caps[0], 1.0)
    trace = Trace.from_arrays(times, caps, last_duration_s=0.3)
    for _ in range(60):
        t = float(rng.uniform(0, 2.5 * trace.duration_s))
        horizon = t + float(rng.uniform(0, 1.5 * trace.duration_s))
        x = float(rng.choice([1e3, 3e4, 1e5, 5e5]))
        assert trace.next_drop_below_s(t, x, horizon) == _brute_next(trace, t, x, horizon,
                                                                    True)
        assert trace.next_rise_above_s(t, x, horizon) == _brute_next(trace, t, x, horizon,
                                                                    False)


@pytest.mark.parametrize("stack, increase", [("linux", 1448.0), ("ns3", 724.0)])
def test_newreno_grows_a_segment_per_round_or_half_of_one_in_ns3(stack, increase):
    """Congestion avoidance: Linux counts the bytes each ACK covers (one segment per
    round); ns-3's NewReno adds MSS^2 / cwnd per ACK and gets one ACK per two segments,
    so half a segment per round (measured in ns-3: 8.28 s with delayed ACKs, 6.72 s
    without, for 5.5 MB over TMobile-LTE-short at RTT 100 ms)."""
    cfg = TcpConfig(cc="newreno", stack=stack, connection="persistent")
    flow = _flow(Trace.constant(10.0), cfg)
    flow.open_idle()
    flow.cwnd = flow.ssthresh = 20 * 1448.0
    w = flow.cwnd
    b = 1.0
    e = b + cfg.wire_bytes(w) / RATE  # a round of 20 segments at 10 Mbit/s, no loss
    flow._grow(w, b, e, 0.05, 0.0, flow.last)
    assert flow.cwnd == 20 * 1448.0 + increase


def test_cubic_grows_at_most_half_a_window_per_round_and_converges_fast():
    """Congestion avoidance far below W_max's curve: one segment per two acknowledged
    (1.5x per round), in Linux and ns-3 alike; a loss below the previous W_max remembers
    (1 + beta) / 2 of the window (fast convergence), one above it the window itself."""
    for stack in ("linux", "ns3"):
        cfg = TcpConfig(cc="cubic", stack=stack, connection="persistent")
        flow = _flow(Trace.constant(10.0), cfg)
        flow.open_idle()
        flow.cwnd = flow.ssthresh = 20 * 1448.0
        flow.w_max, flow.epoch_s = 400.0, 0.0  # the curve is far above the window at t
        b = 30.0  # long after the epoch: the cubic target is huge
        e = b + cfg.wire_bytes(flow.cwnd) / RATE
        flow._grow(flow.cwnd, b, e, 0.05, 0.0, flow.last)
        assert flow.cwnd == 30 * 1448.0
        flow.w_max = 50.0
        assert flow._w_max_at_loss(40.0) == pytest.approx(40.0 * 1.7 / 2)
        assert flow._w_max_at_loss(60.0) == 60.0
