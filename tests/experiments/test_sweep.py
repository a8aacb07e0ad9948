"""Sweeps: spec parsing and errors, the result store, determinism across serial, local-process
and Dask runs, resume after SIGKILL, and --status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments.store import Store, atomic_write_text
from experiments.sweep import main, run_sweep, status
from models.errors import InputError
from sim.grid import load_spec, spec_from_dict
from tests.conftest import REPO

IDEAL = {"edge_device": "ideal", "cloud_device": "ideal"}
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO)}


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SMALL = """
[sweep]
name = "small"
seed = 7
replications = 2

[fixed]
policies = ["int8", "scout", "cloud-text", "adaptive"]
requests = 40
edge_device = "ideal"
cloud_device = "ideal"

[axes]
bandwidth_mbps = { logspace = [1, 100, 3] }
deadline_s = [1.0, 3.0]
"""


def rows(folder: Path) -> pd.DataFrame:
    return Store(folder).read()


def test_spec_cells_keys_and_seeds(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.toml", SMALL))
    cells = spec.cells()
    assert len(cells) == 3 * 2 * 2
    assert spec.axes["bandwidth_mbps"] == [1.0, 10.0, 100.0]
    assert len({c.key for c in cells}) == len(cells)
    assert all(c.params["trace"] is None for c in cells)  # constant links: no trace
    # keys and seeds depend on the cell, not on its position in the grid
    rev = load_spec(write_spec(tmp_path / "r.toml", SMALL.replace(
        "deadline_s = [1.0, 3.0]", "deadline_s = [3.0, 1.0]")))
    by_key = {c.key: c.seed for c in rev.cells()}
    assert {c.key: c.seed for c in cells} == by_key
    assert [c.key for c in rev.cells()] != [c.key for c in cells]
    # the spec seed changes every cell's seed but no key
    other = load_spec(write_spec(tmp_path / "o.toml", SMALL.replace("seed = 7", "seed = 8")))
    assert {c.key for c in other.cells()} == set(by_key)
    assert all(by_key[c.key] != c.seed for c in other.cells())
    # seed_from = "replicate": one workload per replicate, shared across the grid
    crn = load_spec(write_spec(tmp_path / "c.toml", SMALL.replace(
        "replications = 2", "replications = 2\nseed_from = \"replicate\"")))
    seeds = {(c.params["replicate"], c.seed) for c in crn.cells()}
    assert len(seeds) == 2


def test_trace_values_files_folders_globs_kinds(tmp_path):
    folder = tmp_path / "tr"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.csv", "sub/b.csv"):
        (folder / name).write_text("time_s,bandwidth_mbps\n0,5\n1,6\n")
    (folder / "README.md").write_text("not a trace")
    spec = spec_from_dict({
        "fixed": {"policies": "scout,cloud-text", "requests": 10, **IDEAL},
        "axes": {"trace": ["traces/[l5]*.csv", str(folder), "kind:lte:duration=120:seed=3"]},
    }, "t.toml")
    assert spec.axes["trace"] == ["traces/5g.csv", "traces/lte.csv", f"{folder}/a.csv",
                                  f"{folder}/sub/b.csv", "kind:lte:seed=3:duration=120"]
    assert len(spec.cells()) == 5


def test_duplicate_trace_values_are_an_error():
    with pytest.raises(InputError, match="repeats"):
        spec_from_dict({"axes": {"trace": ["traces/lte.csv", "traces/*.csv"]}}, "t.toml")


@pytest.mark.parametrize("text,needle", [
    ("[axes]\nbandwith_mbps = [1, 2]\n", "unknown field 'bandwith_mbps' (did you mean"),
    ("[fixed]\ndeadline_s = 0\n", "--deadline (deadline_s) = 0.0 is outside (0, inf)"),
    ("[axes]\ndeadline_s = [1, \"soon\"]\n", "deadline_s"),
    ("[axes]\ndeadline_s = []\n", "is empty"),
    ("[fixed]\nseed = 3\n", "seed cannot be set"),
    ("[axes]\ntrace_dir = [\"traces\"]\n", "trace_dir cannot be set"),
    ("[grid]\nx = 1\n", "unknown section [grid]"),
    ("[sweep]\nname = \"../../../x\"\n", "is a name, not a path"),
    ("[axes]\nbandwidth_mbps = { logspace = [1, 10, 1e9] }\n", "at most 10,000"),
    ("[axes]\nbandwidth_mbps = { range = [0, 1e9, 1] }\n", "at most 10,000"),
    ("[sweep]\nreplications = 1000000000\n", "at most 10,000"),
    ("[axes]\nrtt_ms = { linspace = [1, 10, 1000] }\ndeadline_s = { linspace = [1, 10, 1000] }"
     "\n", "the grid has 1,000,000 cells"),
    ("[sweep]\nname = \"/tmp/x\"\n", "is a name, not a path"),
    ("[sweep]\nreplicas = 2\n", "unknown key 'replicas'"),
    ("[fixed]\npolicies = [\"scout\", \"nope\"]\n", "unknown policy 'nope'"),
    ("[axes]\npolicies = [[\"int8\"], [\"scout\"]]\n", "one flat list"),
    ("[axes]\ntrace = [\"missing.csv\"]\n", "trace 'missing.csv' not found"),
    ("[axes]\ntrace = [\"kind:nope\"]\n", "unknown trace kind 'nope'"),
    ("[fixed]\ntrace = \"traces/lte.csv\"\n[axes]\nbandwidth_mbps = [1]\n", "both trace and"),
    ("[axes]\nbandwidth_mbps = { logspace = [0, 10, 3] }\n", "bad logspace"),
    ("[fixed\n", "cannot parse spec"),
    ("[axes]\ninterval_s = [1.0, -3.0]\n", "cell interval_s=-3.0: arrival interval must be"),
    ("[axes]\ninterval_s = [nan]\n", "interval_s: nan is not a finite number"),
])
def test_spec_errors_are_one_line_exit_2(tmp_path, capsys, text, needle):
    spec = write_spec(tmp_path / "bad.toml", text)
    assert main([str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {spec}:")
    assert needle in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_yaml_spec_and_missing_file(tmp_path, capsys):
    y = write_spec(tmp_path / "s.yaml", "fixed:\n  policies: [scout]\n  requests: 5\n"
                   "axes:\n  rtt: [10, 20]\n")
    assert [c.params["rtt_ms"] for c in load_spec(y).cells()] == [10.0, 20.0]
    assert main([str(tmp_path / "none.toml")]) == 2
    assert "spec file not found" in capsys.readouterr().err


def test_serial_and_local_processes_identical_then_resume_skips(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", SMALL)
    assert main([str(spec), "--out", str(tmp_path / "a"), "-j", "1", "--quiet"]) == 0
    assert main([str(spec), "--out", str(tmp_path / "b"), "-j", "2", "--quiet"]) == 0
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    assert len(a) == 12 * 4 and a["cell"].nunique() == 12
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # every parameter, the metrics with their CIs and the paired test are columns
    for col in ("bandwidth_mbps", "deadline_s", "replicate", "seed", "requests", "policy",
                "deadline_hit_rate", "hit_rate_ci_low", "hit_rate_ci_high", "utility_ci_low",
                "p95_latency_s", "mean_payload_bytes", "vs_reference", "vs_hit_p_holm"):
        assert col in a.columns
    assert set(a.loc[a.policy != "adaptive", "vs_reference"]) == {"adaptive"}
    capsys.readouterr()
    # rerunning the same command runs nothing and prints the summary table
    assert main([str(spec), "--out", str(tmp_path / "a"), "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "12 cells (12 already done); ran 0" in out and "deadline hit rate per cell" in out
    assert (tmp_path / "a" / "rows.csv").exists()
    assert json.loads((tmp_path / "a" / "spec.json").read_text())["cells"] == 12


def test_other_spec_in_same_folder_is_refused(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", SMALL)
    other = write_spec(tmp_path / "o.toml", SMALL.replace("requests = 40", "requests = 41"))
    assert main([str(spec), "--out", str(tmp_path / "a"), "-j", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main([str(other), "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds results of another spec" in err and str(other) in err
    assert main([str(other), "--out", str(tmp_path / "a"), "--status"]) == 2


def test_status_and_temp_files_are_never_read(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "s.toml", SMALL)
    out = tmp_path / "a"
    assert main([str(spec_path), "--out", str(out), "--status"]) == 0
    assert "0/12 cells done (0%), 12 to go" in capsys.readouterr().out
    half = load_spec(spec_path)
    # run a third of the cells by hand through the store API
    store = Store(out)
    store.bind(half.info(), half.text)
    from sim.grid import run_cell

    for c in half.cells()[:4]:
        r = run_cell({"cell": c.to_dict(), "policies": half.policies})
        store.write_cell(r["key"], r["rows"])
    # a half-written partition from a killed writer (pid 1 never wrote here) and garbage
    (out / "cells" / ".deadbeef.parquet.999999.abcd.tmp").write_bytes(b"PAR1 trunc")
    assert main([str(spec_path), "--out", str(out), "--status"]) == 0
    text = capsys.readouterr().out
    assert "4/12 cells done (33%), 8 to go" in text and "1 temporary file" in text
    assert Store(out).read()["cell"].nunique() == 4
    assert main([str(spec_path), "--out", str(out), "-j", "1", "--quiet"]) == 0
    assert not list((out / "cells").glob(".*.tmp"))  # cleaned: its writer is gone
    assert main([str(spec_path), "--out", str(out), "--status"]) == 0
    assert "12/12 cells done (100%)" in capsys.readouterr().out


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")

    def boom(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    from experiments.store import atomic_write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, boom)
    assert target.read_text() == "old" and not list(tmp_path.glob(".*"))


def test_kind_traces_are_generated_into_the_results(tmp_path):
    spec = spec_from_dict({
        "fixed": {"policies": ["scout", "cloud-text"], "requests": 20, **IDEAL},
        "axes": {"trace": ["kind:lte:seed=3:duration=120", "kind:3g:duration=60"]},
    }, "k.toml")
    rep = run_sweep(spec, tmp_path / "k", jobs=1)
    assert rep.complete and len(rep.rows) == 4
    made = sorted(p.name for p in (tmp_path / "k" / "traces").iterdir())
    assert made == ["kind-3g-seed0-duration60.csv", "kind-lte-seed3-duration120.csv"]
    assert set(rep.rows["trace"]) == {"kind:lte:seed=3:duration=120",
                                      "kind:3g:seed=0:duration=60"}


def test_a_planted_generated_trace_is_replaced_not_used(tmp_path):
    """A file with a generated trace's name but other content (planted in the run's folder
    or the temp folder) is regenerated: results never depend on what lay there."""
    from sim.grid import materialise_kind

    value = "kind:lte:seed=3:duration=60"
    honest = materialise_kind(value, tmp_path / "a").read_bytes()
    planted = tmp_path / "b" / honest_name(value)
    planted.parent.mkdir()
    planted.write_text("time_s,bandwidth_mbps\n0,1000\n")
    assert materialise_kind(value, tmp_path / "b").read_bytes() == honest
    temp = materialise_kind(value)  # no folder: this user's private temp folder
    assert temp.read_bytes() == honest and temp.parent.stat().st_mode & 0o077 == 0
    temp.write_text("time_s,bandwidth_mbps\n0,1000\n")
    assert materialise_kind(value).read_bytes() == honest


def honest_name(value: str) -> str:
    from sim.grid import kind_file_name

    return kind_file_name(value)


KILL_SPEC = """
[sweep]
seed = 1
keep_requests = true
[fixed]
policies = ["int8", "scout", "mpc"]
requests = 100
[axes]
bandwidth_mbps = { logspace = [1, 50, 8] }
"""


def test_sigkill_mid_sweep_then_resume_gives_the_uninterrupted_rows(tmp_path):
    spec = write_spec(tmp_path / "k.toml", KILL_SPEC)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.sweep", str(spec), "--out",
                             str(out), "-j", "1", "--quiet"], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(Store(out).done_keys()) >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    done = len(Store(out).done_keys())
    assert 2 <= done < 8
    assert Store(out).read()["cell"].nunique() == done  # readable, whole partitions only
    assert main([str(spec), "--out", str(out), "-j", "1", "--quiet"]) == 0
    assert main([str(spec), "--out", str(tmp_path / "whole"), "-j", "1", "--quiet"]) == 0
    pd.testing.assert_frame_equal(rows(out), rows(tmp_path / "whole"), check_exact=True)
    pd.testing.assert_frame_equal(Store(out).read_requests(),
                                  Store(tmp_path / "whole").read_requests(), check_exact=True)


def _wait_for(path: Path, timeout_s: float, procs: list[subprocess.Popen]) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size > 0:
            return
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[2:4]} exited with {p.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not appear within {timeout_s} s")


DASK_SPEC = """
[sweep]
seed = 3
[fixed]
policies = ["int8", "scout", "adaptive"]
requests = 60
edge_device = "ideal"
cloud_device = "ideal"
[axes]
bandwidth_mbps = [2.0, 20.0]
deadline_s = [0.5, 1.0, 2.0]
"""


def test_dask_scheduler_with_two_workers_matches_serial(tmp_path, capsys):
    pytest.importorskip("distributed")
    spec = write_spec(tmp_path / "d.toml", DASK_SPEC)
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = []
    dask = [sys.executable, "-m", "dask"]

    def log(path: Path):
        logs.append(open(path, "w"))  # closed in the finally
        return logs[-1]

    try:
        procs.append(subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(sched_file)],
            cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
            stderr=log(tmp_path / "scheduler.log")))
        _wait_for(sched_file, 30, procs)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(subprocess.Popen(
                [*dask, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"w{i}", "--local-directory",
                 str(tmp_path / f"w{i}"), "--death-timeout", "30"],
                cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                stderr=log(tmp_path / f"w{i}.log")))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        assert main([str(spec), "--out", str(tmp_path / "dist"), "--scheduler", address]) == 0
        out = capsys.readouterr().out
        assert "ran 6 in" in out and f"Dask scheduler {address}" in out
        assert "(2 worker processes)" in out
    finally:  # workers first (a worker whose scheduler is gone may ignore SIGTERM)
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for f in logs:
            f.close()
    assert main([str(spec), "--out", str(tmp_path / "serial"), "-j", "1", "--quiet"]) == 0
    pd.testing.assert_frame_equal(rows(tmp_path / "dist"), rows(tmp_path / "serial"),
                                  check_exact=True)


def test_unreachable_scheduler_is_an_input_error(tmp_path, capsys, monkeypatch):
    import socket

    import experiments.sweep.executors as executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path / "d.toml", DASK_SPEC)
    t0 = time.monotonic()
    rc = main([str(spec), "--out", str(tmp_path / "x"), "--scheduler",
               f"tcp://127.0.0.1:{port}", "--quiet"])
    assert rc == 2 and "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert time.monotonic() - t0 < 20


def test_changed_input_files_are_not_mixed_into_a_store(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,bandwidth_mbps\n0,5\n1,6\n")
    spec = write_spec(tmp_path / "s.toml", f"""
[fixed]
policies = ["scout"]
requests = 10
trace = "{trace}"
[axes]
deadline_s = [1.0, 2.0]
""")
    out = tmp_path / "o"
    assert main([str(spec), "--out", str(out), "--quiet"]) == 0
    trace.write_text("time_s,bandwidth_mbps\n0,5\n1,7\n")
    assert main([str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "was computed from other model data, timings or traces" in err
    assert main([str(spec), "--out", str(out), "--status"]) == 0
    assert "warning:" in capsys.readouterr().out


ONE_CELL = """
[fixed]
policies = ["scout"]
requests = 5
bandwidth_mbps = 10
edge_device = "ideal"
cloud_device = "ideal"
"""


def fake_analyses(monkeypatch, calls: list) -> None:
    """A stand-in ``experiments.analyses`` (the real one may not exist yet)."""
    import types

    def run_analysis(name, spec, out_dir):
        if name != "fake":
            raise InputError(f"unknown analysis {name!r}; analyses are: fake")
        calls.append((name, spec.name, out_dir))
        return f"fake analysis of {len(spec.cells())} cell(s)\n"

    module = types.ModuleType("experiments.analyses")
    module.run_analysis = run_analysis
    monkeypatch.setitem(sys.modules, "experiments.analyses", module)


@pytest.mark.parametrize("flag", ["--analyse", "--analyze"])
def test_analyse_unknown_name_is_one_line_exit_2(tmp_path, capsys, monkeypatch, flag):
    fake_analyses(monkeypatch, calls := [])
    spec = write_spec(tmp_path / "one.toml", ONE_CELL)
    assert main([str(spec), "--out", str(tmp_path / "o"), "--quiet", flag, "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown analysis 'nope'")
    assert "fake" in err and not calls


def test_analyse_runs_after_the_sweep_then_without_running(tmp_path, capsys, monkeypatch):
    import experiments.sweep.cli as cli

    fake_analyses(monkeypatch, calls := [])
    spec, out = write_spec(tmp_path / "one.toml", ONE_CELL), tmp_path / "o"
    assert main([str(spec), "--out", str(out), "--quiet", "--analyse", "fake"]) == 0
    assert capsys.readouterr().out == "fake analysis of 1 cell(s)\n"
    assert calls == [("fake", "one", out)] and (out / "rows.csv").exists()

    def no_run(*args, **kw):
        raise AssertionError("a complete store must not run")

    monkeypatch.setattr(cli, "run_sweep", no_run)
    assert main([str(spec), "--out", str(out), "--analyze", "fake"]) == 0
    assert capsys.readouterr().out == "fake analysis of 1 cell(s)\n"
    assert main([str(spec), "--out", str(out), "--status", "--analyse", "fake"]) == 0
    assert capsys.readouterr().out.endswith("\nfake analysis of 1 cell(s)\n")
    assert len(calls) == 3


def test_analyse_without_analyses_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "experiments.analyses", None)  # not importable
    spec = write_spec(tmp_path / "one.toml", ONE_CELL)
    assert main([str(spec), "--out", str(tmp_path / "o"), "--analyse", "fake"]) == 2
    assert capsys.readouterr().err == "error: no analyses available\n"
    assert not (tmp_path / "o").exists()


def test_seed_from_spec_reproduces_sim_run(tmp_path):
    """``seed_from = "spec"``: a cell's numbers are ``sim.run``'s with the same seed."""
    from sim.scenario import Scenario
    from sim.simulation import run

    fixed = {"policies": ["int4", "adaptive"], "requests": 60, "trace": "traces/lte.csv"}
    spec = spec_from_dict({"sweep": {"seed": 5, "seed_from": "spec"}, "fixed": fixed,
                           "axes": {"deadline_s": [1.0, 3.0]}}, "s.toml")
    rows = run_sweep(spec, tmp_path / "s", jobs=1).rows
    for deadline in (1.0, 3.0):
        direct = run(Scenario(seed=5, deadline_s=deadline, **fixed)).summary
        got = rows[rows["deadline_s"] == deadline].set_index("policy")
        for r in direct.itertuples():
            assert got.loc[r.policy, "deadline_hit_rate"] == r.deadline_hit_rate
            assert got.loc[r.policy, "utility"] == r.utility
    with pytest.raises(InputError, match="same workload"):
        spec_from_dict({"sweep": {"seed_from": "spec", "replications": 2}, "fixed": fixed},
                       "s.toml")


def test_shipped_traces_by_name_in_a_spec():
    spec = spec_from_dict({"fixed": {"policies": ["scout"], "requests": 5},
                           "axes": {"trace": ["lte", "5g.csv"]}}, "n.toml")
    assert [c.params["trace"] for c in spec.cells()] == ["traces/lte.csv", "traces/5g.csv"]
    with pytest.raises(InputError, match=r"'lte5' not found \(shipped traces, by name: 3g"):
        spec_from_dict({"axes": {"trace": ["lte5"]}}, "n.toml").cells()


def test_cell_table_shows_each_hit_rate_with_its_wilson_ci(tmp_path):
    from sim.grid import format_summary
    from sim.metrics import wilson_interval

    spec = spec_from_dict({"fixed": {"policies": ["int8", "scout"], "requests": 40, **IDEAL},
                           "axes": {"bandwidth_mbps": [2.0, 50.0]}}, "c.toml")
    rows = run_sweep(spec, tmp_path / "c", jobs=1).rows
    text = format_summary(spec, rows)
    assert "per cell [95% Wilson CI] (n = 40 requests per cell)" in text
    r = rows[rows["policy"] == "int8"].iloc[0]
    lo, hi = wilson_interval(int(round(r.deadline_hit_rate * 40)), 40)
    assert f"{r.deadline_hit_rate:.3f} [{lo:.3f},{hi:.3f}]" in text


@pytest.mark.parametrize("damage", ["truncate", "zero", "requests"])
def test_unreadable_partition_is_reported_and_recomputed(tmp_path, damage):
    """A truncated or damaged partition is not 'done': --status says so, the rerun sets it
    aside (*.corrupt) and recomputes the cell to identical rows."""
    text = SMALL.replace("replications = 2", "replications = 1\nkeep_requests = true")
    spec = load_spec(write_spec(tmp_path / "s.toml", text))
    out = tmp_path / "out"
    first = run_sweep(spec, out).rows
    before = (out / "rows.csv").read_bytes()
    folder = out / ("requests" if damage == "requests" else "cells")
    victim = sorted(folder.glob("*.parquet"))[2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if damage != "zero" else b"\0" * len(data))
    text = status(spec, out)
    assert f"{len(spec.cells()) - 1}/{len(spec.cells())} cells done" in text
    if damage != "requests":
        assert "1 cell partition(s) unreadable" in text
    report = run_sweep(spec, out)
    assert report.ran == 1 and report.complete
    pd.testing.assert_frame_equal(report.rows, first)
    assert (out / "rows.csv").read_bytes() == before
    assert (folder / (victim.name + ".corrupt")).exists()
    assert len(Store(out).read_requests()) == len(first) // len(spec.policies) * 40 * len(
        spec.policies)
