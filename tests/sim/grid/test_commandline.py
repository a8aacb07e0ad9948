"""A grid from sim.run's flags: each cell is the single run with its values, the printed spec
runs to the same rows in experiments.sweep, and bad grids are one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from models.errors import InputError
from sim.grid.commandline import GRID_FIELDS, split_axes
from sim.run import main

FAST = ["--requests", "40", "--edge-device", "ideal", "--cloud-device", "ideal"]
METRICS = ["deadline_hit_rate", "hit_rate_ci_low", "hit_rate_ci_high", "utility",
           "p50_latency_s", "p95_latency_s", "mean_payload_bytes"]


def _json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_cell_is_the_single_run_with_its_values(capsys):
    grid = _json(capsys, ["--bandwidth", "3,12", "--deadline", "1,4", "--policy", "int8,scout",
                          "--seed", "7", *FAST])
    assert len(grid) == 2 * 2 * 2
    assert [(r["bandwidth_mbps"], r["deadline_s"], r["policy"]) for r in grid[:4]] == [
        (3.0, 1.0, "int8"), (3.0, 1.0, "scout"), (3.0, 4.0, "int8"), (3.0, 4.0, "scout")]
    for r in grid:
        assert r["seed"] == 7
        single = _json(capsys, ["--bandwidth", str(r["bandwidth_mbps"]), "--deadline",
                                str(r["deadline_s"]), "--policy", r["policy"], "--seed", "7",
                                *FAST])[0]
        assert {k: r[k] for k in METRICS} == {k: single[k] for k in METRICS}


def test_printed_spec_runs_to_the_same_rows_in_the_sweep(tmp_path, capsys):
    from experiments.sweep import run_sweep
    from sim.grid import load_spec

    argv = ["--bandwidth", "2,20", "--policy", "int4,scout", "--seed", "3", *FAST]
    assert main([*argv, "--print-spec"]) == 0
    spec_file = tmp_path / "grid.toml"
    spec_file.write_text(capsys.readouterr().out)
    assert main([*argv, "--quiet", "--out", str(tmp_path / "cli")]) == 0
    text = capsys.readouterr().out
    assert "[95% Wilson CI]" in text and "every cell uses seed 3" in text
    cli = pd.read_csv(tmp_path / "cli" / "grid.csv")
    swept = run_sweep(load_spec(spec_file), tmp_path / "sweep").rows
    swept = swept.sort_values(["cell_index", "policy"]).reset_index(drop=True)
    cli = cli.sort_values(["cell_index", "policy"]).reset_index(drop=True)
    assert cli["cell"].tolist() == swept["cell"].tolist()
    pd.testing.assert_frame_equal(cli[["seed", *METRICS]], swept[["seed", *METRICS]],
                                  check_dtype=False)
    assert (tmp_path / "cli" / "spec.toml").read_text() .count("[axes]") == 1


def test_trace_axis_by_shipped_name(capsys):
    rows = _json(capsys, ["--trace", "lte,3g", "--policy", "scout", *FAST])
    assert [r["trace"].rsplit("/", 1)[-1] for r in rows] == ["lte.csv", "3g.csv"]


def test_a_distribution_is_not_a_list():
    assert split_axes({"context_tokens": "normal:1000,100"}) == {}
    assert split_axes({"context_tokens": "500,2000"}) == {"context_tokens": ["500", "2000"]}
    assert "seed" not in GRID_FIELDS and "bandwidth_mbps" in GRID_FIELDS


@pytest.mark.parametrize("argv, words", [
    (["--seed", "1,2"], "--seed takes one value"),
    (["--bandwidth", "1,,2"], "empty item"),
    (["--bandwidth", "1,x"], "bandwidth_mbps"),
    (["--bandwidth", "2,2"], "repeats"),
    (["--bandwidth", "1,2", "--policy", "int8,int8"], "listed twice"),
    (["--trace", "lte,3g", "--bandwidth", "5"], "give one of them"),
    (["--trace", "lte,nosuch"], "nosuch"),
])
def test_bad_grids_are_one_line_errors(argv, words, capsys):
    assert main([*argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err


def test_split_axes_names_the_flag():
    with pytest.raises(InputError, match="--seed takes one value"):
        split_axes({"seed": "1,2"})
    assert split_axes({"trace_select": "a,b"}) == {}
