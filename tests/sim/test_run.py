"""The command line: output formats, config files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.run import SUMMARY_JSON_KEYS, main
from tests.conftest import REPO

FAST = ["--requests", "50", "--edge-device", "ideal", "--cloud-device", "ideal"]


def test_json_summary_has_the_documented_keys(capsys):
    assert main(["--policy", "int8,scout", "--bandwidth", "20", "--json", *FAST]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in rows] == ["int8", "scout"]
    for r in rows:
        assert set(SUMMARY_JSON_KEYS) <= set(r)
        assert r["requests"] == 50
        assert r["hit_rate_ci_low"] <= r["deadline_hit_rate"] <= r["hit_rate_ci_high"]


def test_table_and_out_dir(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--policy", "scout", "--out", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    assert "hit rate [95% CI]" in text and "scout" in text
    assert {p.name for p in out.iterdir()} == {"requests.csv", "summary.csv", "scenario.json"}
    assert json.loads((out / "scenario.json").read_text())["requests"] == 50


def test_config_file_and_flag_override(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('policy = "int8,scout"\nrequests = 30\nbandwidth = 50\n'
                   'edge_device = "ideal"\ncloud_device = "ideal"\n')
    assert main(["--config", str(cfg), "--requests", "40", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["requests"] for r in rows] == [40, 40]
    y = tmp_path / "c.yaml"
    y.write_text("policies: [cloud-text]\nrequests: 10\nbandwidth_mbps: 5\n")
    assert main(["--config", str(y), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["policy"] == "cloud-text"


@pytest.mark.parametrize("args,needle", [
    (["--policy", "nope"], "unknown policy 'nope'"),
    (["--edge-model", "gpt-9"], "unknown model 'gpt-9'"),
    (["--cloud-device", "tpu"], "unknown device 'tpu'"),
    (["--bandwidth", "nan"], "bandwidth"),
    (["--bandwidth", "-3"], "bandwidth"),
    (["--requests", "ten"], "requests"),
    (["--trace", "missing.csv"], "missing.csv: trace file not found"),
    (["--policy", "scout:1.5"], "retention"),
    (["--context-tokens", "weird:1"], "context tokens"),
    (["--deadline", "0"], "deadline"),
])
def test_bad_input_is_one_line_exit_2(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err


def test_bad_trace_line_reported(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("time_s,bandwidth_mbps\n0,5\n1,5\n1,6\n")
    out = tmp_path / "out"
    assert main(["--trace", str(p), "--out", str(out)]) == 2
    assert f"{p}:4: duplicate timestamp" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written


def test_bad_config_reported(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("requests: [1, 2\n")
    assert main(["--config", str(cfg)]) == 2
    assert str(cfg) in capsys.readouterr().err
    cfg2 = tmp_path / "c2.toml"
    cfg2.write_text("bogus_setting = 1\n")
    assert main(["--config", str(cfg2)]) == 2
    assert "unknown setting 'bogus_setting'" in capsys.readouterr().err


def test_plugin_policy(tmp_path, capsys):
    plugin = tmp_path / "mine.py"
    plugin.write_text(
        "from models.operating import OperatingPoint\n"
        "from policies.base import Policy\n"
        "class Tiny(Policy):\n"
        "    name = 'tiny'\n"
        "    def decide(self, request, view):\n"
        "        return OperatingPoint('scout', retention=0.25)\n")
    assert main(["--policy", f"{plugin}:Tiny", "--json", *FAST]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["policy"] == "tiny" and "scout@25%" in row["mode_mix"]


def test_module_entry_point_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "sim.run", "--policy", "nope"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: unknown policy")


def test_trace_dir_per_trace_and_pooled(tmp_path, capsys):
    d = tmp_path / "traces"
    d.mkdir()
    (d / "fast.csv").write_text("time_s,bandwidth_mbps\n0,100\n")
    (d / "slow.csv").write_text("time_s,bandwidth_mbps\n0,5\n")
    (d / "README.md").write_text("not a trace\n")
    assert main(["--trace-dir", str(d), "--policy", "int8,scout", "--json", *FAST]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {(r["trace"], r["policy"]): r for r in rows}
    assert set(by) == {(t, p) for t in ("fast.csv", "slow.csv", "(pooled)")
                       for p in ("int8", "scout")}
    fast, slow = by[("fast.csv", "int8")], by[("slow.csv", "int8")]
    pooled = by[("(pooled)", "int8")]
    assert fast["deadline_hit_rate"] == 1.0 and slow["deadline_hit_rate"] == 0.0
    assert pooled["requests"] == 100 and pooled["deadline_hit_rate"] == 0.5
    assert pooled["traces"] == 2


def test_trace_dir_missing(capsys):
    assert main(["--trace-dir", "no/such/dir"]) == 2
    assert "trace folder not found" in capsys.readouterr().err


@pytest.mark.parametrize("rel,extra", [
    ("mahimahi/TMobile-LTE-short.up", []),
    ("sabre-4g/report_bus_0001.json", []),
    ("nyu-mets-lte/bus57.csv", []),
    ("hsdpa-norway-3g/norway_bus_16", []),
    ("5g-ucc-raca/Download/Static/B_2020.01.16_10.43.34.csv", ["--direction", "down"]),
    ("5gophers/all-carriers_03-mobility_walking-trace.csv", []),
    ("5gophers/all-carriers_01-throughput.csv",
     ["--select", "carrier=VERIZON,num_tcp_conn=1,server_location=US-East"]),
])
def test_sim_run_reads_every_format_directly(shared_traces, rel, extra, capsys):
    assert main(["--trace", str(shared_traces / rel), "--policy", "scout", "--json",
                 "--requests", "20", *extra]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["requests"] == 20


def test_sim_run_rtt_trace_and_trace_dir_of_real_traces(shared_traces, capsys):
    rtt = shared_traces / "5gophers" / "mmwave_04-ping-trace-34.log"  # ~81 ms RTT
    assert main(["--bandwidth", "50", "--rtt-trace", str(rtt), "--policy", "cloud-text",
                 "--json", "--requests", "50", "--edge-device", "ideal",
                 "--cloud-device", "ideal"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert 0.07 < row["p50_latency_s"] < 0.2  # the RTT trace, not the 50 ms default
    assert main(["--trace-dir", str(shared_traces / "sabre-4g"), "--policy", "int8,scout",
                 "--json", "--requests", "30"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len({r["trace"] for r in rows}) == 7  # six traces + pooled


def test_list_policies(capsys):
    assert main(["--list-policies"]) == 0
    out = capsys.readouterr().out
    for name in ("int8", "scout", "cloud-text", "edge-local", "adaptive", "mpc", "oracle"):
        assert f"\n{name}  (" in "\n" + out
    assert "safety" in out and "(0, 1]" in out and "horizon" in out


@pytest.mark.parametrize("name", ["lte", "lte.csv", "traces/lte.csv"])
def test_a_shipped_trace_by_name_from_any_folder(name, tmp_path, monkeypatch, capsys):
    """``--trace lte`` (the user's own command) finds the shipped trace from any folder and
    records its path; the run equals ``--trace traces/lte.csv`` from the repository."""
    monkeypatch.chdir(REPO)
    assert main(["--policy", "int8,scout", "--trace", "traces/lte.csv", "--json", *FAST]) == 0
    expected = capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["--policy", "int8,scout", "--trace", name, "--json", "--out", str(out),
                 *FAST]) == 0
    assert capsys.readouterr().out == expected
    assert json.loads((out / "scenario.json").read_text())["trace"] == "traces/lte.csv"


def test_an_unknown_trace_name_lists_the_shipped_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--trace", "lte5", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "lte5: trace file not found (shipped traces, by name: 3g, 5g, broadband, lte" in err


def test_table_columns_widen_for_long_names_and_large_latencies():
    import pandas as pd

    from sim.run import _p, _table

    row = dict(policy="adaptive(estimator=harmonic,safety=0.9)", requests=50,
               deadline_hit_rate=0.5, hit_rate_ci_low=0.4, hit_rate_ci_high=0.6,
               mean_quality=0.7, utility=0.35, p50_latency_s=7398.40713,
               p95_latency_s=13989.867, mean_payload_bytes=1e7)
    lines = _table(pd.DataFrame([row, dict(row, policy="int8")])).splitlines()
    assert "7398.407 13989.867" in lines[2]  # never run together
    assert len({line.index("0.500 [") for line in lines[2:]}) == 1  # aligned
    assert _p(0.0) == "<1e-300" and _p(0.01234) == "0.0123"
