"""Hostile input: every case is one line ``error: ...`` on stderr, exit code 2, and nothing
written where the output would go (issue: hardening)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.run import main as run_main

FAST = ["--requests", "5", "--policy", "scout"]

SIM_RUN_CASES = [
    (["--context-tokens", "10000000"], "at most 1,048,576 tokens"),
    (["--context-tokens", "lognormal:200000:3"], "draws exceed"),
    (["--context-tokens", "inf"], "context tokens"),
    (["--policy", "int8,int8"], "listed twice"),
    (["--policy", "int8,scout,int8", "--users", "2"], "listed twice"),
    (["--policy", "mpc(horizon=-1)"], "outside [0"),
    (["--requests", "inf"], "--requests expects a whole number"),
    (["--requests", "1e400"], "--requests expects a whole number"),
    (["--users", "2.5"], "--users expects a whole number"),
    (["--requests", "1e30"], "--requests = 1000000000000000019884624838656 is outside"),
    (["--requests", "1000000000", "--policy", "int8,scout"], "pass --force"),
    (["--users", "100000"], "--users = 100000 is outside [1, 10,000]"),
    (["--seed", "-1"], "--seed = -1 is outside"),
    (["--seed", "inf"], "--seed expects a whole number"),
    (["--question-tokens", "inf"], "--question-tokens expects"),
    (["--max-batch", "inf"], "--max-batch expects"),
    (["--deadline", "nan"], "--deadline (deadline_s) = nan"),
    (["--link-efficiency", "0"], "outside (0, 1]"),
    (["--bandwidth", "-1"], "must be a positive number"),
    (["--bandwidth", "1,1"], "repeats"),
    (["--seed", "1,2"], "--seed takes one value"),
    (["--trace", "no-such-trace"], "no-such-trace"),
    (["--transport", "tcp", "--mss-bytes", "0"], "--mss-bytes = 0 is outside"),
    (["--transport", "tcp", "--buffer-packets", "0"], "--buffer-packets = 0 is outside"),
    (["--transport", "tcp", "--min-rto-ms", "0"], "--min-rto-ms = 0.0 is outside"),
    (["--transport", "tcp", "--handshake-rtts", "1.5"], "--handshake-rtts expects a whole"),
    (["--transport", "tcp", "--latency", "before"], "--latency before is the fluid link's"),
    (["--transport", "quic"], "--transport"),
    (["--transport", "tcp", "--bandwidth", "10", "--rtt", "1e30"], "beyond what a 1 s trace"),
]


@pytest.mark.parametrize(("argv", "needle"), SIM_RUN_CASES,
                         ids=[" ".join(a) for a, _ in SIM_RUN_CASES])
def test_sim_run_hostile_flags(argv, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_main([*FAST, *argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert needle in captured.err, captured.err
    assert not out.exists() and captured.out == ""


def test_memory_estimate_refuses_before_work(monkeypatch):
    from models.errors import InputError
    from sim import limits

    monkeypatch.setattr(limits, "available_bytes", lambda: 2e9)
    limits.check_fits(10**6, 2)  # 1.2 GB estimated
    with pytest.raises(InputError, match="need about 4.6 GB, more than the 2.0 GB"):
        limits.check_fits(10**6, 10)
    limits.check_fits(10**6, 10, force=True)


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_unusable_out_folder(where, tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("keep")
    out = f if where == "file" else f / "sub"
    assert run_main([*FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: cannot write there") and err.count("\n") == 1
    assert f.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_reused_out_folder_holds_one_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_main(["--requests", "5", "--policy", "int8,scout", "--compare-to", "scout",
                     "--users", "2", "--quiet", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"comparisons.csv", "users.csv", "links.csv"}
    assert run_main([*FAST, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"requests.csv", "summary.csv", "scenario.json"}
    assert run_main([*FAST, "--bandwidth", "1,2", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"grid.csv", "spec.toml"}


NUMERIC_FLAGS = ["--requests", "--users", "--seed", "--question-tokens", "--answer-tokens",
                 "--max-batch", "--kv-group-size", "--deadline", "--rtt", "--bandwidth",
                 "--link-efficiency", "--scout-retention", "--cell-mbps", "--handshake-rtts",
                 "--initial-window-packets", "--mss-bytes", "--buffer-packets", "--min-rto-ms"]
JUNK = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1", "0", "1e30", "0x10", "", " ", "1,",
                     ",", "--", "1e-400", "True", "None", "١٢"]),
    st.text(alphabet=string.printable, max_size=12))


@settings(max_examples=60, deadline=None)
@given(flag=st.sampled_from(NUMERIC_FLAGS), value=JUNK)
def test_numeric_flags_never_trace_back(flag, value):
    """Any value for a numeric flag either runs or is one line with exit 2: never a
    traceback (the fuzzed run is tiny: 5 requests, one static policy, no output)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run_main(["--requests", "3", "--policy", "scout", "--bandwidth", "10",
                         "--transport", "tcp", f"{flag}={value}"])
    text = err.getvalue()
    assert code in (0, 2), (flag, value, text)
    if code == 2:
        assert text.startswith("error: ") and text.count("\n") == 1, (flag, value, text)


PLUGINS = '''
from models.operating import OperatingPoint
from policies.base import Policy

class InitBoom(Policy):
    name = "initboom"
    def __init__(self, **kw):
        raise RuntimeError("boom in init")
    def decide(self, request, view):
        return OperatingPoint("cloud-text")

class DecideBoom(Policy):
    name = "decideboom"
    def decide(self, request, view):
        raise ZeroDivisionError("boom in decide")

class WrongType(Policy):
    name = "wrongtype"
    def decide(self, request, view):
        return "cloud-text"
'''


@pytest.mark.parametrize(("cls", "needle"), [
    ("InitBoom", "__init__ raised RuntimeError: boom in init"),
    ("DecideBoom", "decide raised ZeroDivisionError: boom in decide"),
    ("WrongType", "decide returned str, not an OperatingPoint"),
])
@pytest.mark.parametrize("users", ["1", "2"])
def test_plugin_bugs_are_one_line(cls, needle, users, tmp_path, capsys):
    plugin = tmp_path / "bad.py"
    plugin.write_text(PLUGINS)
    out = tmp_path / "out"
    assert run_main(["--policy", f"{plugin}:{cls}", "--requests", "5", "--users", users,
                     "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def _bomb(path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("make", "flag", "needle"), [
    (lambda d: d, "--quality-cache", "quality cache is a folder, not a file"),
    (lambda d: d, "--timing-table", "no timing table (*.csv) in this folder"),
    (lambda d: _bomb(d / "bomb.yaml"), "--config", "YAML aliases"),
    (lambda d: (os.mkfifo(d / "fifo.toml"), d / "fifo.toml")[1], "--config",
     "not a regular file"),
    (lambda d: Path("/dev/zero"), "--quality-cache", "not a regular file"),
])
def test_unusable_input_files(make, flag, needle, tmp_path, capsys):
    target = make(tmp_path)
    out = tmp_path / "out"
    assert run_main([*FAST, flag, str(target), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def test_bad_scheduler_address_writes_nothing(tmp_path, capsys):
    from experiments.sweep import main as sweep_main
    from tests.conftest import REPO

    out = tmp_path / "s"
    assert sweep_main([str(REPO / "experiments/specs/example.toml"), "--scheduler",
                       "not a url", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: --scheduler 'not a url': expected tcp://HOST:PORT\n"
    assert not out.exists()


def test_status_runs_no_plugin_code(tmp_path, capsys):
    """A plugin is code: the sweep runs it, ``--status`` never imports it."""
    from experiments.sweep import main as sweep_main

    marker = tmp_path / "imported"
    plugin = tmp_path / "mine.py"
    plugin.write_text(f"open({str(marker)!r}, 'w').close()\n" + PLUGINS.replace(
        "class WrongType", "class Fine(Policy):\n    name = 'fine'\n    def decide(self, "
        "request, view):\n        return OperatingPoint('cloud-text')\n\nclass WrongType"))
    spec = tmp_path / "s.toml"
    spec.write_text(f'[fixed]\npolicies = ["{plugin}:Fine", "scout"]\nrequests = 5\n'
                    'bandwidth_mbps = 10\n')
    assert sweep_main([str(spec), "--out", str(tmp_path / "o"), "--status"]) == 0
    assert not marker.exists()
    assert sweep_main([str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert marker.exists()
    capsys.readouterr()


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_sweep_unusable_out(where, tmp_path, capsys):
    from experiments.sweep import main as sweep_main

    f = tmp_path / "f"
    f.write_text("keep")
    out = f if where == "file" else f / "sub"
    spec = tmp_path / "s.toml"
    spec.write_text('[fixed]\npolicies = ["scout"]\nrequests = 5\nbandwidth_mbps = 10\n')
    assert sweep_main([str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: cannot write there") and err.count("\n") == 1
    assert f.read_text() == "keep"


def _traces(argv, capsys):
    from sim.traces.__main__ import main as traces_main

    code = traces_main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("target", ["fifo", "folder"])
def test_trace_writers_replace_only_regular_files(target, tmp_path, capsys):
    """As root, ``convert -o /dev/full`` once replaced the device with a CSV: an output
    that is not a regular file is refused and left as it was."""
    from tests.conftest import REPO

    out = tmp_path / "out"
    if target == "fifo":
        os.mkfifo(out)
    else:
        out.mkdir()
    for argv in (["convert", str(REPO / "traces/lte.csv"), "-o", str(out)],
                 ["generate", "--kind", "lte", "--duration", "30", "--seed", "1", "-o",
                  str(out)],
                 ["inspect", str(REPO / "traces/lte.csv"), "--plot", str(out)]):
        code, err = _traces(argv, capsys)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert "cannot write" in err
    assert out.is_fifo() if target == "fifo" else out.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp file left


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: (os.mkfifo(d / "t.csv"), d / "t.csv")[1], "not a regular file"),
    (lambda d: Path("/dev/zero"), "not a regular file"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "x.csv").write_text("time_s,bandwidth_mbps\n0,1\n1,2,3\n") and d / "x.csv",
     "x.csv:3: expected 2 columns (the header's), found 3"),
])
def test_unreadable_traces(make, needle, tmp_path, capsys):
    code, err = _traces(["inspect", str(make(tmp_path))], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and needle in err


def test_generate_limits(tmp_path, capsys):
    code, err = _traces(["generate", "--kind", "lte", "--duration", "1e9", "--seed", "1", "-o",
                         str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "at most 10,000,000 s" in err and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--only", ","], "names no figure"),
    (["-j", "0"], "-j must be >= 1"),
    (["--only", "nope"], "nope"),
])
def test_figures_flags(argv, needle, capsys):
    from experiments.figures import main as figures_main

    assert figures_main([*argv, "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err


@pytest.mark.parametrize("content", ["[1, 2]", '{"spec_hash": 5}', "\x00garbage"])
def test_damaged_spec_json_is_one_line(content, tmp_path, capsys):
    from experiments.sweep import main as sweep_main

    spec = tmp_path / "s.toml"
    spec.write_text('[fixed]\npolicies = ["scout"]\nrequests = 5\nbandwidth_mbps = 10\n')
    out = tmp_path / "o"
    assert sweep_main([str(spec), "--out", str(out), "--quiet"]) == 0
    (out / "spec.json").write_text(content)
    for extra in (["--status"], ["--quiet"]):
        assert sweep_main([str(spec), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "spec.json" in err, err
