"""The packet reference's own noise floor (:mod:`experiments.packetnoise`): the shifted
runs' settings, the comparison (ns-3 shifted as a model of ns-3), resuming, the committed
results against the code, the CLI's bad input, and a few real ns-3 runs when ns-3 is
installed (skipped with a reason otherwise)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import packetcheck as pc
from experiments import packetnoise as pn

COMMITTED = pc.COMMITTED / "noise-1ms"


@pytest.fixture(scope="module")
def lte_reference() -> pd.DataFrame:
    """The committed grid's runs on traces/lte.csv (in the repository: no ../shared)."""
    ref = pc.read_reference(pc.COMMITTED / "reference.csv")
    return ref[ref["trace"] == "traces/lte.csv"].reset_index(drop=True)


def test_a_shifted_run_moves_the_write_and_keeps_the_warmup(lte_reference):
    new = lte_reference[lte_reference["connection"] == "new"].iloc[0].to_dict()
    pers = lte_reference[lte_reference["connection"] == "persistent"].iloc[0].to_dict()
    s = pn.shifted_spec(new, 0.001)
    assert s["start_s"] == pytest.approx(new["start_s"] + 0.001)
    assert s["connect_s"] == s["start_s"] and s["warmup_bytes"] == 0
    assert s["stop_s"] == pytest.approx(new["stop_s"] + 0.001)
    p = pn.shifted_spec(pers, 0.005)
    assert p["start_s"] == pytest.approx(pers["start_s"] + 0.005)
    assert (p["warmup_start_s"], p["warmup_bytes"], p["connect_s"]) == (
        pers["warmup_start_s"], pers["warmup_bytes"], pers["connect_s"])
    # the shifted row is found again under its original run's key
    assert pn._key(p) == pc._key(pers)


def _shifted_frame(ref: pd.DataFrame, factor: np.ndarray) -> pd.DataFrame:
    rows = [dict(pn.shifted_spec(r, 0.001), duration_s=r["duration_s"] * f,
                 finished=r["finished"], stuck=r["stuck"], shift_ms=1.0)
            for r, f in zip(ref.to_dict("records"), factor, strict=True)]
    return pd.DataFrame(rows)


def test_compare_scores_the_shifted_runs_as_a_model(lte_reference):
    ref = lte_reference.iloc[:60].reset_index(drop=True)
    factor = np.ones(len(ref))
    factor[::3] = 1.2  # every third run 20% slower when shifted
    shifted = _shifted_frame(ref, factor).drop(index=[1])  # one run missing
    err, summ = pn.compare(ref, shifted)
    kept = ref[~ref["stuck"] & ref["finished"]]
    assert len(err) == len(kept) - (0 if ref.loc[1, "stuck"] else 1)
    assert set(pc.models_in(err)) >= {"shifted", "fluid", "tcp"}
    np.testing.assert_allclose(np.unique(np.round(err["shifted_abs"], 9)), [0.0, 0.2])
    row = summ[(summ["buffer"] == "all") & (summ["model"] == "shifted")
               & (summ["category"] == "all")].iloc[0]
    assert row["median_abs"] == 0.0 and row["p90_abs"] == pytest.approx(0.2)


def test_run_shifted_resumes_without_running_what_is_there(lte_reference, tmp_path,
                                                            monkeypatch):
    ref = lte_reference.iloc[:4].reset_index(drop=True)
    path = tmp_path / "shifted.csv"
    _shifted_frame(ref, np.ones(4)).to_csv(path, index=False)

    def boom(*a, **k):
        raise AssertionError("nothing should run")

    monkeypatch.setattr(pn, "_execute", boom)
    got = pn.run_shifted(ref, 1.0, path, workers=1, quiet=True)
    assert len(got) == 4
    with pytest.raises(pn.InputError, match="shifted by 1 ms, not 2"):
        pn.run_shifted(ref, 2.0, path, workers=1, quiet=True)


@pytest.mark.parametrize("argv, message", [
    (["--shift-ms", "0"], "--shift-ms must be a positive number"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--shifted", "no/such.csv"], "no/such.csv"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert pn.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_the_committed_noise_floor_is_what_the_code_makes(tmp_path):
    """experiments/packetcheck/noise-1ms: summary.csv and errors.csv from its shifted.csv
    and the committed grid (the TCP model's columns follow the current code)."""
    if not (Path(pc.REPO_ROOT) / "../shared/traces/mahimahi").exists():
        pytest.skip("../shared/traces is absent (the committed grid reads two of its traces)")
    if not (COMMITTED / "shifted.csv").exists():
        pytest.skip("no committed noise floor yet")
    ref = pc.read_reference(pc.COMMITTED / "reference.csv")
    err, summ = pn.compare(ref, pd.read_csv(COMMITTED / "shifted.csv"))
    err.to_csv(tmp_path / "errors.csv", index=False, float_format="%.6g")
    summ.to_csv(tmp_path / "summary.csv", index=False, float_format="%.6g")
    for name in ("errors.csv", "summary.csv"):
        assert (tmp_path / name).read_text() == (COMMITTED / name).read_text(), (
            f"{name} is stale: python -m experiments.packetnoise --shifted "
            "experiments/packetcheck/noise-1ms/shifted.csv --out experiments/packetcheck/"
            "noise-1ms")


NS3 = pc.tcp_model_unavailable() is None and __import__(
    "experiments.packetsim", fromlist=["available"]).available() is None


@pytest.mark.skipif(not NS3, reason="ns-3 is not installed (pip install -e .[packet])")
def test_ns3_shifted_runs_of_a_smooth_trace_barely_move(lte_reference, tmp_path):
    """On lte.csv (1-s segments) a 1-ms shift changes a deep-buffer transfer by well
    under 1%."""
    ref = lte_reference[(lte_reference["buffer"] == "deep")
                        & (lte_reference["size_bytes"] <= 22_000)].iloc[:2]
    got = pn.run_shifted(ref.reset_index(drop=True), 1.0, tmp_path / "s.csv", workers=1,
                         quiet=True)
    d = pn.shifted_durations(ref.reset_index(drop=True), got)
    assert np.all(np.isfinite(d))
    assert np.all(np.abs(d / ref["duration_s"].to_numpy() - 1) < 0.01)
    assert not math.isnan(got["original_start_s"].iloc[0])
