"""``python -m sim.traces``: inspect, convert, transfer-time, fit, generate; errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.traces import read_trace
from sim.traces.__main__ import main
from sim.traces.stats import STAT_KEYS
from sim.traces.synthetic import load_kinds

REPO = Path(__file__).resolve().parents[3]
LTE = REPO / "traces" / "lte.csv"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------- inspect
def test_inspect_json_keys(capsys):
    rc, out, err = run(capsys, "inspect", LTE, "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert set(d) == {"file", *STAT_KEYS}
    assert d["duration_s"] == 600 and d["samples"] == 600
    assert 0 < d["p10_mbps"] <= d["median_mbps"] <= d["p90_mbps"]
    assert d["p10_mbps"] <= d["mean_mbps"] * 2 and 0 <= d["outage_fraction"] < 0.2
    assert -1 <= d["lag1_autocorr"] <= 1 and d["rtt_mean_ms"] is None


def test_inspect_text_lists_every_key(capsys):
    rc, out, _ = run(capsys, "inspect", LTE)
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == ["file", *STAT_KEYS]


def test_inspect_time_weighted_quantiles(capsys, tmp_path):
    # 1 Mbit/s for 9 s, 10 Mbit/s for 1 s: time-weighted median 1, p90 1, mean 1.9.
    p = tmp_path / "t.csv"
    p.write_text("time_s,bandwidth_mbps,rtt_ms\n0,1,20\n9,10,80\n")
    rc, out, _ = run(capsys, "inspect", p, "--json")
    d = json.loads(out)
    assert rc == 0 and d["duration_s"] == 18  # last sample holds the median interval (9 s)
    assert d["mean_mbps"] == pytest.approx(5.5) and d["median_mbps"] == 1.0
    assert d["p90_mbps"] == 10.0 and d["rtt_mean_ms"] == pytest.approx(50.0)
    assert d["rtt_median_ms"] == 20.0 and d["rtt_p90_ms"] == 80.0


def test_inspect_plot_writes_png(capsys, tmp_path):
    src = tmp_path / "rtt.csv"
    src.write_text("time_s,bandwidth_mbps,rtt_ms\n" + "".join(
        f"{i},{1 + (i % 7)},{40 + (i % 5)}\n" for i in range(120)))
    for trace, png in ((LTE, tmp_path / "lte.png"), (src, tmp_path / "rtt.png")):
        rc, out, _ = run(capsys, "inspect", trace, "--plot", png)
        assert rc == 0 and f"wrote {png}" in out
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# --------------------------------------------------------------------------- convert
def _assert_same_trace(a, b):
    assert np.array_equal(a.times_s, b.times_s)
    np.testing.assert_allclose(a.capacity_bytes_per_s, b.capacity_bytes_per_s, rtol=1e-15)
    assert (a.rtt_s is None) == (b.rtt_s is None)
    if a.rtt_s is not None:
        np.testing.assert_allclose(a.rtt_s, b.rtt_s, rtol=1e-15)
    assert a.duration_s == pytest.approx(b.duration_s, rel=1e-12)


def test_convert_round_trip_synthetic(capsys, tmp_path):
    src = tmp_path / "src.csv"
    src.write_text("time_ms,bandwidth_kbps,rtt_s\n0,1500,0.03\n500,0,0.05\n1000,800.5,0.04\n")
    out = tmp_path / "out.csv"
    rc, msg, _ = run(capsys, "convert", src, "-o", out)
    assert rc == 0 and "wrote" in msg
    assert out.read_text().splitlines()[0] == "time_s,bandwidth_mbps,rtt_ms"
    _assert_same_trace(read_trace(src), read_trace(out))
    again = tmp_path / "again.csv"
    assert run(capsys, "convert", out, "-o", again)[0] == 0
    assert again.read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("rel,opts", [
    ("fcc-broadband/trace_939562_http---www.google_part6.log", []),
    ("5g-ucc-raca/Download/Static/B_2020.02.14_13.21.26.csv", ["--direction", "down"]),
    ("5gophers/all-carriers_01-throughput.csv", ["--select", "carrier=VERIZON",
                                                  "--select", "num_tcp_conn=1"]),
])
def test_convert_round_trip_real(capsys, tmp_path, shared_traces, rel, opts):
    out = tmp_path / "out.csv"
    rc, _, err = run(capsys, "convert", shared_traces / rel, "-o", out, *opts)
    assert rc == 0, err
    header = out.read_text().splitlines()[0]
    assert header.startswith("time_s,bandwidth_mbps")
    sel = {o.split("=")[0]: o.split("=")[1] for o in opts[1::2] if "=" in o}
    direction = "down" if "down" in opts else "up"
    orig = read_trace(shared_traces / rel, direction=direction, select=sel or None)
    back = read_trace(out)
    assert np.array_equal(orig.times_s, back.times_s)
    np.testing.assert_allclose(orig.capacity_bytes_per_s, back.capacity_bytes_per_s,
                               rtol=1e-15)
    # The canonical file's last sample holds the median interval; compare capacity
    # integrals up to the start of the last sample.
    t_last = float(orig.times_s[-1])
    assert back.cumulative_bytes(t_last) == pytest.approx(orig.cumulative_bytes(t_last),
                                                          rel=1e-12)


# --------------------------------------------------------------------------- transfer-time
def _numeric_finish(path: Path, start: float, size: float, dt: float) -> float:
    """Finish time by stepping the looping staircase on a grid of ``dt`` (independent of
    Trace.finish_time): capacity looked up per step and summed until ``size`` bytes.

    The grid is aligned to multiples of ``dt`` (after a first partial step from ``start``),
    so for traces whose breakpoints are multiples of ``dt`` every step lies inside one
    segment and the sum is exact up to rounding."""
    tr = read_trace(path)
    times, cap, period = tr.times_s, tr.capacity_bytes_per_s, tr.duration_s

    def c_at(t: np.ndarray) -> np.ndarray:
        return cap[np.searchsorted(times, np.mod(t, period), side="right") - 1]

    k0 = int(np.ceil(start / dt))
    first_end = k0 * dt
    c0 = float(c_at(np.array([start]))[0])
    if c0 * (first_end - start) >= size:
        return start + size / c0
    sent = c0 * (first_end - start)
    t0 = first_end
    while True:
        grid = t0 + dt * np.arange(100_000)
        c = c_at(grid + dt / 2)
        cum = sent + np.cumsum(c) * dt
        i = int(np.searchsorted(cum, size))
        if i < len(cum):
            before = cum[i - 1] if i else sent
            return float(grid[i] + (size - before) / c[i])
        t0, sent = grid[-1] + dt, float(cum[-1])


@pytest.mark.parametrize("which", ["synthetic", "real"])
def test_transfer_time_matches_numerical_integration(capsys, which, request):
    if which == "synthetic":
        path = LTE
    else:
        shared = request.getfixturevalue("shared_traces")
        path = shared / "nyu-mets-lte" / "Long_Island_Rail_Road.csv"  # has outages
    mean = read_trace(path).mean_mbps() * 125_000
    rng = np.random.default_rng(42)
    for _ in range(6):
        start = float(rng.uniform(0, 3000))
        size = float(rng.uniform(1e3, 40 * mean))
        rc, out, err = run(capsys, "transfer-time", path, "--start", start, "--bytes", size)
        assert rc == 0, err
        got = float(out.strip())
        want = _numeric_finish(path, start, size, dt=1e-3)
        assert got > start
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6), (start, size)


def test_transfer_time_zero_bytes_and_wrap(capsys, tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("time_s,bandwidth_mbps\n0,8\n2,2\n")  # 1e6 B/s for 2 s, 2.5e5 B/s for 2 s
    assert float(run(capsys, "transfer-time", p, "--start", 3, "--bytes", 0)[1]) == 3.0
    # From 3 s: 2.5e5 B in [3, 4), then the loop restarts at 1e6 B/s.
    assert float(run(capsys, "transfer-time", p, "--start", 3, "--bytes", 1.25e6)[1]) == \
        pytest.approx(5.0)


# --------------------------------------------------------------------------- fit / generate
def test_fit_json_then_generate_from_it(capsys, tmp_path):
    rc, out, _ = run(capsys, "fit", LTE, "--json")
    assert rc == 0
    d = json.loads(out)
    assert set(d["params"]) >= {"mean_mbps_good", "sigma_log", "phi", "p_outage_start",
                                "mean_outage_s", "outage_mbps", "max_mbps"}
    for key in ("mean_mbps", "cv", "lag1_autocorr", "outage_fraction"):
        assert d["model"][key] == pytest.approx(d["target"][key], rel=1e-6, abs=1e-9)
    pf = tmp_path / "p.json"
    pf.write_text(out)
    csv = tmp_path / "g.csv"
    rc, msg, _ = run(capsys, "generate", "--params", pf, "--duration", 300, "--seed", 5,
                     "-o", csv)
    assert rc == 0 and "wrote" in msg
    assert read_trace(csv).duration_s == 300
    rc, text, _ = run(capsys, "fit", LTE)
    assert rc == 0 and "fitted parameters" in text and "sigma_log" in text


def test_generate_kind_reproduces_shipped_file(capsys, tmp_path):
    shipped = load_kinds()["lte"]["shipped"]
    out = tmp_path / "lte.csv"
    rc, _, err = run(capsys, "generate", "--kind", "lte", "--duration", shipped["duration_s"],
                     "--seed", shipped["seed"], "-o", out)
    assert rc == 0, err
    assert out.read_bytes() == LTE.read_bytes()
    rc, _, _ = run(capsys, "generate", "--params", REPO / "traces" / "params.json", "--kind",
                   "lte", "--duration", shipped["duration_s"], "--seed", shipped["seed"],
                   "-o", tmp_path / "b.csv")
    assert rc == 0 and (tmp_path / "b.csv").read_bytes() == LTE.read_bytes()


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("argv,match", [
    (["inspect", "no/such/file.csv"], "not found"),
    (["inspect", str(LTE), "--format", "bogus"], "unknown trace format"),
    (["inspect", str(LTE), "--bin", "0"], "--bin"),
    (["inspect", str(LTE), "--select", "noequals"], "KEY=VALUE"),
    (["convert", str(LTE)], "required"),
    (["transfer-time", str(LTE), "--start", "-1", "--bytes", "10"], "--start"),
    (["transfer-time", str(LTE), "--start", "0", "--bytes", "lots"], "--bytes"),
    (["generate", "--kind", "6g", "-o", "x.csv"], "unknown trace kind"),
    (["generate", "-o", "x.csv"], "--kind KIND or --params"),
    (["generate", "--kind", "lte", "--duration", "0", "-o", "x.csv"], "--duration"),
    (["generate", "--params", str(REPO / "traces" / "params.json"), "-o", "x.csv"],
     "pick one with --kind"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_errors_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err, err
    assert not list(tmp_path.iterdir())


def test_bad_trace_content_exit_2(capsys, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("time_s,bandwidth_mbps\n0,1\n1,oops\n")
    rc, _, err = run(capsys, "inspect", p)
    assert rc == 2 and err.startswith("error: ") and "bad.csv:3" in err
