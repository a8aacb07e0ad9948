"""Trace replay in network namespaces: the fluid link against a real TCP stack.

Runs as root on Linux with iproute2 (as in CI); skips with the reason otherwise.
"""

from __future__ import annotations

import math
import re
import subprocess

import pytest

from experiments import emulate
from sim.traces import Trace

REASON = emulate.unavailable_reason()
needs_netns = pytest.mark.skipif(REASON is not None, reason=f"emulation unavailable: {REASON}")
#: stated bound: large transfers (>= 1 MB) on a step trace stay within 10% of the fluid
#: prediction at the measured default efficiency (0.95: TCP/IP + Ethernet headers). It was
#: 6%; on a loaded 2-core VM the 3 MB transfer queued behind the first one finished up to
#: 8.7% early in repeated runs, with the code before and after the 2026-12-03 refactor
#: alike (real kernel TCP; the TCP model of issue 17 is where this gap gets explained)
BOUND = 0.10


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _as_applied(trace: Trace, lags: list[float]) -> Trace:
    """The rate schedule the link actually followed: each change of ``trace`` moved to when
    the replay applied it (``lags``, one per change, in order), the last rate held on."""
    times, caps, boundary = [0.0], [trace.capacity_at(0.0)], trace.next_change_s(0.0)
    for lag in lags:
        times.append(boundary + lag)
        caps.append(trace.capacity_at(boundary))
        boundary = trace.next_change_s(boundary)
    return Trace.from_arrays(times, caps, last_duration_s=3600.0, name="as applied")


def test_as_applied_schedule_moves_each_change_by_its_lag():
    trace = Trace.from_arrays([0.0, 2.0, 4.0], [1.0, 2.0, 3.0], last_duration_s=2.0)
    applied = _as_applied(trace, [0.01, 0.03, 0.0])
    assert applied.capacity_at(2.005) == 1.0 and applied.capacity_at(2.011) == 2.0
    assert applied.capacity_at(4.02) == 2.0 and applied.capacity_at(4.031) == 3.0
    assert applied.capacity_at(6.0) == 1.0  # the loop's fourth segment, on time


@needs_netns
def test_step_trace_large_transfers_within_bound():
    """20 Mbit/s for 2 s, 5 Mbit/s for 2 s, 12 Mbit/s for 2 s, looping; 2-4 MB transfers
    start on, across and behind the steps (FIFO)."""
    trace = Trace.from_arrays([0.0, 2.0, 4.0], [20 * 125_000, 5 * 125_000, 12 * 125_000],
                              last_duration_s=2.0, name="steps")
    transfers = [(0, 0.0, 2_000_000), (1, 0.3, 3_000_000), (2, 5.0, 4_000_000),
                 (3, 9.5, 1_500)]
    with emulate.Testbed() as bed:
        rows, lags = emulate.replay(bed, trace, transfers, max_s=60)
        names = {bed.edge_ns, bed.cloud_ns}
        assert names <= _namespaces()
    assert not names & _namespaces()  # cleaned up
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    assert max(lags) < 0.05
    # predict on the schedule as applied: a 20 -> 5 Mbit/s step applied 30 ms late alone
    # moves a transfer across it by ~3%, half the bound
    applied = _as_applied(trace, lags)
    for r in rows:
        measured = r["end_s"] - r["start_s"]
        predicted = emulate.predicted_s(applied, r["start_s"], r["size_bytes"], 0.95, 0.0)
        if r["size_bytes"] >= emulate.LARGE_BYTES:
            assert abs(measured / predicted - 1) < BOUND, (r, predicted)
        else:  # small: the token bucket's burst passes it at once; only ms matter
            assert abs(measured - predicted) < 0.05
    # the transfer queued behind the first starts when the first has arrived (FIFO)
    assert rows[1]["start_s"] >= rows[0]["end_s"] - 0.01


@needs_netns
def test_zero_capacity_gap_holds_packets():
    """10 Mbit/s with a 1 s gap of zero capacity at 1.5-2.5 s: a 1 MB transfer started 0.3 s
    before it (0.84 s on the fluid link) gets no byte through during the gap, finishes
    after it, and loses nothing (held, not dropped, not trickled at a minimum rate)."""
    rate = 10 * 125_000
    trace = Trace.from_arrays([0.0, 1.5, 2.5], [rate, 0.0, rate], last_duration_s=30.0,
                              name="gap")
    with emulate.Testbed() as bed:
        if not bed.hold:
            pytest.skip("no /dev/net/tun: outages are trickled, not held")
        rows, _ = emulate.replay(bed, trace, [(0, 1.2, 1_000_000)], max_s=20, arrivals=True)
        events = bed.gate_events()
        stats = subprocess.run(["ip", "netns", "exec", bed.edge_ns, "tc", "-s", "qdisc", "show",
                                "dev", bed.edge_if], capture_output=True, text=True).stdout
    (row,) = rows
    at_gap = max(n for t, n in row["arrivals"] if t <= 1.5)
    assert 0 < at_gap < 1_000_000  # part before the gap, the rest held
    # receiver reads lag the wire by a few ms: nothing new from 50 ms into the gap to its end
    assert not [(t, n) for t, n in row["arrivals"] if 1.55 < t < 2.5 and n > at_gap]
    assert row["end_s"] >= 2.5
    # the rest at 10 Mbit/s once the gap ends: no long timeout backoff behind it
    took = row["end_s"] - row["start_s"]
    assert took < emulate.predicted_s(trace, row["start_s"], 1_000_000, 0.95, 0.0) + 0.5
    assert [sorted(e)[0] for e in events] == ["closed", "done"]
    assert all(e.get("dropped", 0) == 0 for e in events)  # the gate holds every packet
    # the shaper in front of it may drop one packet when its rate is changed at the gap's
    # edge (seen once in many CI runs: 'dropped 1' of 702, the transfer otherwise on time);
    # more than that would be the trickle or a buffer the emulation did not mean
    dropped = [int(m) for m in re.findall(r"dropped (\d+)", stats)]
    assert dropped and max(dropped) <= 1, stats


@needs_netns
def test_namespaces_removed_on_error():
    with pytest.raises(RuntimeError):
        with emulate.Testbed() as bed:
            names = {bed.edge_ns, bed.cloud_ns}
            raise RuntimeError("boom")
    assert not names & _namespaces()


def test_skips_in_one_line_without_the_means(monkeypatch, capsys):
    monkeypatch.setattr(emulate, "unavailable_reason", lambda: "needs root (test)")
    assert emulate.main(["--trace", "traces/lte.csv"]) == emulate.SKIPPED
    err = capsys.readouterr().err
    assert err == "skipped: needs root (test)\n"


def test_tc_trace_keeps_the_cumulative_curve():
    fine = Trace.from_arrays([i * 0.001 for i in range(3000)],
                             [1e5 * (1 + (i % 7)) for i in range(3000)])
    coarse = emulate.tc_trace(fine, 0.1)
    assert len(coarse.times_s) == 30
    for t in (0.1, 0.55, 1.0, 2.3, 2.9):
        if abs(t * 10 - round(t * 10)) < 1e-9:
            assert coarse.cumulative_bytes(t) == pytest.approx(fine.cumulative_bytes(t))
    same = Trace.constant(10.0)
    assert emulate.tc_trace(same, 0.1) is same


def test_analysis_fits_the_efficiency_and_flags_outages():
    """Synthetic measurements: transfers 5% slower than the fluid model on a calm link, one
    stalled by an outage; the fit recovers 0.95 from the calm ones only."""
    import pandas as pd

    trace = Trace.from_arrays([0.0, 10.0, 11.0], [1e6, 0.0, 1e6], last_duration_s=100.0)
    rows = []
    for i, (start, size) in enumerate([(0.0, 2e6), (2.5, 3e6), (12.0, 4e6)]):
        end = trace.finish_time(start, size / 0.95)
        rows.append({"trace": "t", "policy": "int8", "id": i, "start_s": start,
                     "end_s": end, "size_bytes": size, "one_way_s": 0.0})
    rows.append({"trace": "t", "policy": "int8", "id": 3, "start_s": 8.0,
                 "end_s": 30.0, "size_bytes": 3e6, "one_way_s": 0.0})  # stalled
    df, summary, info = emulate.analyse(pd.DataFrame(rows), {"t": trace}, {})
    assert info["efficiency"] == pytest.approx(0.95)
    assert df["outage"].tolist() == [False, False, False, True]
    assert emulate.min_capacity(trace, 9.0, 10.5) == 0.0
    assert emulate.min_capacity(trace, 0.0, 9.9) == 1e6
    row = summary.iloc[0]
    assert row["n"] == 4 and row["outage"] == 1
    assert abs(row["median_rel_error_fit"]) < 1e-9
    assert row["max_rel_error_outage"] > 1.0


def test_progress_resumes_and_refuses_other_settings(tmp_path):
    from argparse import Namespace

    from models.errors import InputError

    args = Namespace(policy="int8", requests=3, interval=3.0, max_seconds=45.0, rtt=0.0,
                     tc_step=0.1, per_request=False, seed=0)
    p = emulate.Progress(str(tmp_path), args)
    assert not p.done("t.csv", "int8")
    p.add("t.csv", "int8", [{"trace": "t.csv", "policy": "int8", "id": 0, "start_s": 1.0,
                             "end_s": 2.0, "size_bytes": 10, "one_way_s": 0.0}], [0.001])
    p.add("t.csv", "scout", [], [])
    again = emulate.Progress(str(tmp_path), args)
    assert again.done("t.csv", "int8") and again.done("t.csv", "scout")
    assert len(again.rows) == 1 and again.info["lag_s"] == [0.001]
    with pytest.raises(InputError):
        emulate.Progress(str(tmp_path), Namespace(**{**vars(args), "requests": 4}))


def _leftovers() -> dict[str, list[str]]:
    """What the tool could leave behind: namespaces, peer or shaper processes in another
    network namespace, veth interfaces of its naming in the host namespace."""
    import os
    import re
    from pathlib import Path

    host = os.readlink("/proc/self/ns/net")
    procs = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if ("experiments.emulate_peer" in cmd or cmd.startswith("tc -batch")) and \
                    os.readlink(entry / "ns" / "net") != host:
                procs.append(f"{entry.name}: {cmd[:60]}")
        except OSError:
            continue
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                           text=True).stdout
    return {"namespaces": sorted(n for n in _namespaces() if n.startswith("scoutsim-")),
            "processes": procs,
            "interfaces": re.findall(r"\d+: (ss[ec]\d+)[@:]", links)}


@needs_netns
def test_kill_9_mid_replay_then_cleanup_leaves_nothing(tmp_path):
    """kill -9 while transfers are in flight, then ``--cleanup``: no namespace, process or
    interface of the tool survives, and no temporary file was ever made."""
    import os
    import signal
    import sys
    import tempfile
    import time
    from pathlib import Path

    from tests.conftest import REPO

    assert _leftovers() == {"namespaces": [], "processes": [], "interfaces": []}
    temp_before = set(Path(tempfile.gettempdir()).iterdir())
    proc = subprocess.Popen([sys.executable, "-m", "experiments.emulate", "--requests", "30",
                             "--interval", "0.5", "--policy", "int8", "--out",
                             str(tmp_path / "o"), "--quiet"], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _leftovers()["processes"]:
        time.sleep(0.1)
    time.sleep(1.0)  # transfers under way
    assert _leftovers()["processes"], "the replay never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    out = subprocess.run([sys.executable, "-m", "experiments.emulate", "--cleanup"], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    time.sleep(0.2)
    assert _leftovers() == {"namespaces": [], "processes": [], "interfaces": []}, out.stdout
    made = {p for p in set(Path(tempfile.gettempdir()).iterdir()) - temp_before
            if p.suffix == ".json"}
    assert not made


def _gappy() -> Trace:
    """4 Mbit/s with zero-capacity stretches at 10-11 s and 30-30.5 s, 60 s long."""
    r = 500_000
    return Trace.from_arrays([0.0, 10.0, 11.0, 30.0, 30.5], [r, 0.0, r, 0.0, r],
                             last_duration_s=29.5, name="gappy")


def test_grid_starts_before_each_outage_and_in_calm_periods():
    trace = _gappy()
    assert emulate.low_stretches(trace, 1e-9) == [(10.0, 1.0), (30.0, 0.5)]
    grid = emulate.grid_transfers(trace, sizes=(22_000, 1_000_000), calm=2)
    outage = [g for g in grid if g["kind"] == "outage"]
    assert sorted({g["trace_start_s"] for g in outage}) == [9.5, 9.8, 29.5, 29.8]
    assert len(outage) == 8
    calm = [g for g in grid if g["kind"] == "calm"]
    assert len(calm) == 4
    for g in calm:  # no outage near a calm transfer
        end = trace.finish_time(g["trace_start_s"], g["size_bytes"])
        assert emulate.min_capacity(trace, g["trace_start_s"] - 2, end + 2) > 0


def test_windows_copy_the_trace_around_each_transfer():
    trace = _gappy()
    chosen = [{"trace_start_s": 9.8, "size_bytes": 1_000_000, "kind": "outage"},
              {"trace_start_s": 9.5, "size_bytes": 22_000, "kind": "outage"},
              {"trace_start_s": 40.0, "size_bytes": 1_000_000, "kind": "calm"}]
    replayed, placed = emulate.windowed(trace, chosen, pre_s=1.5, post_s=3.0)
    assert placed[0]["start_s"] == pytest.approx(1.5)
    for c in placed:  # the same capacity around each start as on the trace
        for dt in (-1.0, 0.1, 0.3, 0.6, 1.5):
            assert replayed.capacity_at(c["start_s"] + dt) == \
                trace.capacity_at(c["trace_start_s"] + dt)
        assert placed.index(c) == 0 or c["start_s"] > placed[placed.index(c) - 1]["start_s"]
    # the same fluid time on the windows as on the trace
    for c in placed:
        assert replayed.finish_time(c["start_s"], c["size_bytes"]) - c["start_s"] == \
            pytest.approx(trace.finish_time(c["trace_start_s"], c["size_bytes"])
                          - c["trace_start_s"])


def test_zero_below_makes_true_outages():
    trace = Trace.from_arrays([0.0, 1.0, 2.0], [1e6, 2_000.0, 1e6], last_duration_s=1.0)
    assert emulate.zero_below(trace, 12_500.0).capacity_at(1.5) == 0.0
    assert emulate.zero_below(trace, 0.0) is trace


def test_transfer_rows_predict_and_flag_outages(monkeypatch):
    """Fluid predictions on the replayed trace, outage crossings, and the TCP model's hook:
    NaN (fluid only) while ``models.transport`` does not import."""
    import sys
    from argparse import Namespace

    monkeypatch.setitem(sys.modules, "models.transport", None)
    trace = _gappy()
    chosen = [{"trace_start_s": 9.8, "size_bytes": 1_000_000, "kind": "outage",
               "start_s": 9.8}, {"trace_start_s": 2.0, "size_bytes": 500_000,
                                 "kind": "calm", "start_s": 2.0}]
    got = [{"id": 0, "start_s": 9.801, "end_s": 12.4, "size_bytes": 1_000_000,
            "one_way_s": 0.025, "sched_s": 9.8, "tcp": {"rto": 204000, "snd_cwnd": 10},
            "counters": {"TcpExtTCPTimeouts": 2, "TcpExtTCPSpuriousRTOs": 1}},
           {"id": 1, "start_s": 2.0, "end_s": 3.1, "size_bytes": 500_000, "one_way_s": 0.025,
            "sched_s": 2.0}]
    args = Namespace(cc="cubic", buffer_packets=1000, rtt=50.0)
    rows = emulate.transfer_rows(trace, chosen, got, path="t.csv", label="grid",
                                 connection="new", args=args)
    hit, calm = rows
    assert hit["crosses_outage"] and not calm["crosses_outage"]
    assert hit["fluid_s"] == pytest.approx(trace.finish_time(9.801, 1e6) - 9.801 + 0.025)
    assert hit["zero_s"] == pytest.approx(1.0) and hit["lead_s"] == pytest.approx(0.199)
    assert hit["TcpExtTCPTimeouts"] == 2 and hit["rto_ms"] == 204.0
    assert calm["rel_error_fluid"] == pytest.approx(1.1 / (0.025 + 500_000 / 500_000) - 1)
    assert math.isnan(hit["tcp_model_s"]) and math.isnan(calm["rel_error_tcp_model"])
    summary = emulate.transfer_summary(__import__("pandas").DataFrame(rows))
    assert set(summary["transfers"]) == {"calm", "outage"}


def test_read_transfers_checks_its_input(tmp_path):
    from models.errors import InputError

    good = tmp_path / "t.csv"
    good.write_text("start_s,size_bytes\n1.5,22000\n3,1000000\n")
    assert [r["size_bytes"] for r in emulate.read_transfers(str(good))] == [22000, 1000000]
    bad = tmp_path / "b.csv"
    bad.write_text("start,size\n1,2\n")
    with pytest.raises(InputError):
        emulate.read_transfers(str(bad))


def test_tcp_model_column_one_flow_or_one_per_transfer():
    transport = pytest.importorskip("models.transport")
    trace = _gappy()
    rows = [{"start_s": 2.0, "size_bytes": 1_000_000}, {"start_s": 5.0, "size_bytes": 22_000}]
    persistent = emulate.tcp_model(trace, rows, "persistent", "cubic", 1000, 0.05)
    new = emulate.tcp_model(trace, rows, "new", "reno", 1000, 0.05)
    fresh = transport.TcpFlow(trace, transport.TcpConfig(connection="new", cc="newreno"),
                              rtt_s=0.05).send(5.0, 22_000) - 5.0
    assert new[1] == pytest.approx(fresh)
    assert all(math.isfinite(x) and x > 0 for x in persistent + new)
    assert all(math.isnan(x) for x in emulate.tcp_model(trace, rows, "new", "bbr", 1000, 0.05))


def test_from_a_grid_run_computes_the_tcp_model_again(tmp_path):
    """``--from DIR`` on a --grid run rebuilds its windows and fills the model's column
    anew; other --sizes than the run's are refused."""
    import json
    from argparse import Namespace

    import pandas as pd

    from models.errors import InputError

    pytest.importorskip("models.transport")
    trace_csv = tmp_path / "gap.csv"
    trace_csv.write_text("time_s,bandwidth_mbps\n" + "".join(
        f"{t},{0.0 if t in (10, 30) else 4.0}\n" for t in range(60)))
    path = str(trace_csv)
    trace = emulate.traces_of([path], 0.1)[path]
    chosen = emulate.grid_transfers(trace, sizes=(22_000,))
    replayed, placed = emulate.windowed(trace, chosen)
    got = [{"id": i, "start_s": c["start_s"], "end_s": c["start_s"] + 0.5,
            "size_bytes": c["size_bytes"], "one_way_s": 0.025, "sched_s": c["start_s"]}
           for i, c in enumerate(placed)]
    args = Namespace(cc="cubic", buffer_packets=1000, rtt=50.0)
    rows = emulate.transfer_rows(replayed, placed, got, path=path, label="grid",
                                 connection="persistent", args=args)
    expected = [r["tcp_model_s"] for r in rows]
    out = tmp_path / "run"
    out.mkdir()
    pd.DataFrame([{**r, "tcp_model_s": 0.0} for r in rows]).to_csv(out / "raw.csv", index=False)
    (out / "run.json").write_text(json.dumps({"settings": {
        "grid": True, "cc": "cubic", "buffer_packets": 1000, "rtt": 50.0}}))
    again = emulate.remodel(out, Namespace(zero_below=0.0, sizes="22000", tc_step=0.1))
    assert again["tcp_model_s"].tolist() == pytest.approx(expected)
    with pytest.raises(InputError):
        emulate.remodel(out, Namespace(zero_below=0.0, sizes="1000000", tc_step=0.1))


def test_the_committed_outage_table_follows_the_current_tcp_model():
    """experiments/emulation/outages.csv: its TCP model column is what today's model gives
    for the committed runs (python -m experiments.emulate --from experiments/emulation --out
    experiments/emulation remakes it); the measured columns are the emulation's own."""
    from pathlib import Path

    import pandas as pd

    folder = Path(emulate.__file__).parent / "emulation"
    if not (folder.parent.parent / "../shared/traces/mahimahi").exists():
        pytest.skip("../shared/traces is absent (the committed runs replayed two of its traces)")
    got, summary = emulate.remodel_committed(folder)
    committed = pd.read_csv(folder / "outages.csv")
    table = pd.read_csv(folder / "summary.csv")
    assert list(summary.columns) == list(table.columns) and len(summary) == len(table)
    assert summary["tcp_model_median"].to_numpy() == pytest.approx(
        table["tcp_model_median"].to_numpy(), rel=1e-5)
    assert list(got.columns) == list(committed.columns) and len(got) == len(committed)
    assert got["tcp_model_s"].to_numpy() == pytest.approx(
        committed["tcp_model_s"].to_numpy(), rel=1e-8), (
        "outages.csv is stale: python -m experiments.emulate --from experiments/emulation "
        "--out experiments/emulation")
    assert got["measured_s"].tolist() == committed["measured_s"].tolist()
