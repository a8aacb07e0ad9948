"""Analyses of sweep rows: each against a direct computation (the hand-written loops the
experiment scripts ran before they became spec + analysis), the scripts against the
``python -m experiments.sweep SPEC --analyse NAME`` path, the registry's errors, and the
scripts' spec loading (flag overrides, trace sets, missing real traces)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from experiments import adaptive_table, estimator_choice, int8_vs_scout
from experiments.analyses import ANALYSES, get_analysis, run_analysis
from experiments.analyses.adaptive_table import checks, markdown
from experiments.analyses.common import read_rows
from experiments.analyses.script import SPECS_DIR, experiment_spec
from experiments.sweep import main as sweep_main
from experiments.sweep import run_sweep
from models.errors import InputError
from sim.grid import expand_trace, spec_from_dict
from sim.scenario import REPO_ROOT, Scenario
from sim.settings import parse_settings_file
from sim.simulation import run
from sim.traces import sets


def _seed_from_spec() -> bool:
    try:
        spec_from_dict({"sweep": {"seed_from": "spec"},
                        "fixed": {"policies": ["int8"], "requests": 1, "bandwidth_mbps": 10.0}})
    except InputError:
        return False
    return True


needs_seed_from_spec = pytest.mark.skipif(
    not _seed_from_spec(), reason="the sweep has no seed_from = 'spec' yet (cells would not "
    "use the scripts' seed)")


def sweep(tmp_path: Path, data: dict, name: str = "s"):
    spec = spec_from_dict(data, f"{name}.toml")
    out = tmp_path / name
    run_sweep(spec, out, jobs=1, quiet=True)
    return spec, out


# ------------------------------------------------------------------------------ registry
def test_registry_names_resolve():
    assert set(ANALYSES) == {"adaptive_table", "int8_vs_scout", "estimator_choice"}
    for name in ANALYSES:
        assert callable(get_analysis(name))


def test_unknown_analysis_lists_known(tmp_path):
    spec = spec_from_dict({"fixed": {"policies": ["int8"], "requests": 1,
                                     "bandwidth_mbps": 10.0}})
    with pytest.raises(InputError, match="unknown analysis 'nope'; known: adaptive_table, "
                                         "estimator_choice, int8_vs_scout"):
        run_analysis("nope", spec, tmp_path)


def test_unfinished_or_foreign_store_refused(tmp_path):
    base = {"fixed": {"policies": ["int8", "scout"], "requests": 5, "bandwidth_mbps": 10.0}}
    spec = spec_from_dict(base)
    with pytest.raises(InputError, match="no results of this spec"):
        run_analysis("int8_vs_scout", spec, tmp_path / "empty")
    _, out = sweep(tmp_path, base)
    bigger = spec_from_dict({**base, "axes": {"deadline_s": [1.0, 2.0]}})
    with pytest.raises(InputError, match="another spec"):
        read_rows(bigger, out)
    with pytest.raises(InputError, match="needs a trace per cell"):
        run_analysis("int8_vs_scout", spec, out)  # constant links, no trace


# ------------------------------------------------------------------------------ adaptive_table
AT_POLICIES = ["int8", "scout", "cloud-text", "adaptive", "oracle"]


def direct_adaptive(traces: list[str], requests: int, seed: int, policies=AT_POLICIES
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What experiments/adaptive_table.py computed before it was a spec + analysis."""
    summaries, comparisons = [], []
    for path in traces:
        name = sets.find(path).label
        r = run(Scenario(policies=policies, trace=path, requests=requests, seed=seed))
        summaries.append(r.summary.assign(trace=name))
        comparisons.append(r.comparisons.assign(trace=name))
    return pd.concat(summaries, ignore_index=True), pd.concat(comparisons, ignore_index=True)


def test_adaptive_table_matches_direct_runs(tmp_path):
    # traces listed against the set's order: the tables come out in set order all the same
    spec, out = sweep(tmp_path, {
        "sweep": {"seed": 3, "seed_from": "replicate"},
        "fixed": {"policies": AT_POLICIES, "requests": 30},
        "axes": {"trace": ["traces/3g.csv", "traces/lte.csv"]}})
    text = run_analysis("adaptive_table", spec, out)
    seed = spec.cells()[0].seed
    summary, comparisons = direct_adaptive(["traces/lte.csv", "traces/3g.csv"], 30, seed)
    assert (out / "summary.csv").read_text() == summary.to_csv(index=False)
    assert (out / "comparisons.csv").read_text() == comparisons.to_csv(index=False)
    table = markdown(summary, AT_POLICIES)
    assert (out / "table.md").read_text() == table + "\n"
    assert text == table + "\n\n" + "\n".join(checks(summary, comparisons,
                                                     ["int8", "scout", "cloud-text"]))
    assert table.splitlines()[4].startswith("| lte (synthetic) |")
    assert len(text.splitlines()[-3:]) == 3


def test_adaptive_table_needs_adaptive_reference(tmp_path):
    spec, out = sweep(tmp_path, {
        "fixed": {"policies": AT_POLICIES, "requests": 5, "compare_to": "cloud-text",
                  "trace": "traces/lte.csv"}})
    with pytest.raises(InputError, match="compares against adaptive"):
        run_analysis("adaptive_table", spec, out)


# ------------------------------------------------------------------------------ int8_vs_scout
def test_int8_vs_scout_matches_direct_runs(tmp_path):
    traces, deadlines, ctxs, gaps = ["traces/5g.csv", "traces/lte.csv"], [1.0, 5.0], \
        ["170", "512"], [15.0]
    spec, out = sweep(tmp_path, {
        "sweep": {"seed": 1, "seed_from": "replicate"},
        "fixed": {"policies": ["int8", "scout"], "requests": 20},
        "axes": {"trace": traces, "deadline_s": deadlines, "context_tokens": ctxs,
                 "interval_s": gaps}})
    text = run_analysis("int8_vs_scout", spec, out)
    seed = spec.cells()[0].seed
    rows = []  # the script's former loop, traces in set order (lte before 5g)
    for trace, deadline, ctx, gap in itertools.product(traces[::-1], deadlines, ctxs, gaps):
        summ = run(Scenario(policies=["int8", "scout"], trace=trace, requests=20, seed=seed,
                            deadline_s=deadline, context_tokens=ctx, interval_s=gap)
                   ).summary.set_index("policy")
        row = {"trace": Path(trace).name, "deadline_s": deadline, "context_tokens": int(ctx),
               "interval_s": gap}
        for p in ("int8", "scout"):
            row[f"{p}_hit"] = summ.loc[p, "deadline_hit_rate"]
            row[f"{p}_ci_low"] = summ.loc[p, "hit_rate_ci_low"]
            row[f"{p}_ci_high"] = summ.loc[p, "hit_rate_ci_high"]
        rows.append(row)
    df = pd.DataFrame(rows)
    assert (out / "grid.csv").read_text() == df.to_csv(index=False)
    match = df[(df.scout_hit >= 0.99) & (df.int8_hit.between(0.54, 0.64))]
    assert text == (f"{len(df)} cells; {len(match)} with scout >= 99% and int8 in [54%, 64%]:\n"
                    + match.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


# ------------------------------------------------------------------------------ estimator_choice
def direct_estimator_choice(traces: list[str], policies: list[str], requests: int,
                            seed: int = 0) -> str:
    """What experiments/estimator_choice.py printed before it was a spec + analysis."""
    rows = []
    for trace in traces:
        r = run(Scenario(policies=policies, trace=trace, requests=requests, seed=seed,
                         compare_to="cloud-text"))
        for c in r.comparisons.itertuples():
            rows.append({"trace": trace.split("/")[-1], "variant": c.policy,
                         "utility_vs_cloud_text": c.utility_diff,
                         "verdict": c.utility_verdict})
    df = pd.DataFrame(rows)
    table = df.pivot(index="variant", columns="trace", values="utility_vs_cloud_text")
    table["mean"] = table.mean(axis=1)
    table["significantly worse on"] = df[df.verdict == "worse"].groupby("variant").size()
    table["significantly worse on"] = table["significantly worse on"].fillna(0).astype(int)
    return table.sort_values("mean", ascending=False).to_string(float_format="{:+.4f}".format)


EC_POLICIES = ["cloud-text", "adaptive(estimator=ewma,safety=0.8)",
               "adaptive(estimator=robust,safety=0.5)"]


def test_estimator_choice_matches_direct_runs(tmp_path):
    spec, out = sweep(tmp_path, {
        "sweep": {"seed_from": "replicate"},
        "fixed": {"policies": EC_POLICIES, "requests": 30, "compare_to": "cloud-text"},
        "axes": {"trace": ["traces/lte.csv", "traces/5g.csv"]}})
    text = run_analysis("estimator_choice", spec, out)
    want = direct_estimator_choice(["traces/lte.csv", "traces/5g.csv"], EC_POLICIES, 30,
                                   spec.cells()[0].seed)
    assert text == want
    assert (out / "table.txt").read_text() == want + "\n"


# ------------------------------------------------------------------------------ the scripts
@needs_seed_from_spec
def test_estimator_choice_script_equals_sweep_cli_and_old_numbers(tmp_path, capsys):
    assert estimator_choice.main(["--requests", "6", "--out", str(tmp_path / "w"), "-j", "1",
                                  "--quiet"]) == 0
    wrapped = capsys.readouterr().out
    spec_file = tmp_path / "estimator_choice.toml"
    text = (SPECS_DIR / "estimator_choice.toml").read_text()
    assert "requests = 500" in text
    spec_file.write_text(text.replace("requests = 500", "requests = 6"))
    assert sweep_main([str(spec_file), "--out", str(tmp_path / "s"), "-j", "1", "--quiet",
                       "--analyse", "estimator_choice"]) == 0
    assert capsys.readouterr().out == wrapped
    spec = experiment_spec(SPECS_DIR / "estimator_choice.toml")
    want = direct_estimator_choice(sets.resolve("synthetic"), spec.policies, 6, seed=0)
    assert wrapped == want + "\n"


@needs_seed_from_spec
def test_adaptive_table_script_skips_missing_real_traces(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sets, "SHARED_TRACES", tmp_path / "no-shared")
    out = tmp_path / "at"
    assert adaptive_table.main(["--requests", "5", "--seed", "2", "--out", str(out),
                                "-j", "1"]) == 0
    printed, err = capsys.readouterr()
    assert "12 trace(s) of the set 'uplink' are missing and skipped" in err
    policies = experiment_spec(SPECS_DIR / "adaptive_table.toml").policies
    summary, comparisons = direct_adaptive(sets.resolve("synthetic"), 5, 2, policies)
    assert (out / "summary.csv").read_text() == summary.to_csv(index=False)
    assert (out / "comparisons.csv").read_text() == comparisons.to_csv(index=False)
    assert printed.startswith((out / "table.md").read_text() + "\n")


def test_scripts_refuse_bad_flags(capsys):
    for mod in (adaptive_table, int8_vs_scout, estimator_choice):
        assert mod.main(["--requests", "x"]) == 2
        assert capsys.readouterr().err.startswith("error: argument --requests")
        assert mod.main(["-j", "0", "--requests", "1"]) == 2
        assert capsys.readouterr().err == "error: -j must be >= 1\n"


def test_experiment_spec_overrides_and_trace_set(tmp_path, monkeypatch):
    f = tmp_path / "e.toml"
    f.write_text('[sweep]\nname = "e"\nseed = 4\n[fixed]\npolicies = ["int8"]\n'
                 'requests = 50\n[axes]\ntrace = ["../shared/traces/nowhere/*.up"]\n'
                 'deadline_s = [1.0, 2.0]\n')
    monkeypatch.setattr(sets, "SHARED_TRACES", tmp_path / "no-shared")
    spec = experiment_spec(f, sweep={"seed": None}, fixed={"requests": None},
                           trace_set="uplink")
    assert spec.seed == 4 and spec.fixed == {"requests": 50}
    assert spec.axes["trace"] == sets.resolve("synthetic")  # the glob's matches never asked
    assert len(spec.cells()) == 8
    # an axis given by a flag becomes fixed; restating a default keeps the spec the same
    same = experiment_spec(f, fixed={"interval_s": 10.0}, trace_set="uplink")
    assert same.hash == spec.hash
    other = experiment_spec(f, sweep={"seed": 5}, fixed={"deadline_s": 3.0, "requests": 7},
                            trace_set="synthetic")
    assert other.seed == 5 and other.fixed == {"requests": 7, "deadline_s": 3.0}
    assert "deadline_s" not in other.axes and len(other.cells()) == 4
    with pytest.raises(InputError, match="no trace of the set 'real-uplink' is present"):
        experiment_spec(f, trace_set="real-uplink")


@pytest.mark.parametrize("name,trace_set", [("adaptive_table", "uplink"),
                                            ("int8_vs_scout", "uplink"),
                                            ("estimator_choice", "synthetic")])
def test_spec_globs_match_the_trace_set(name, trace_set, shared_traces):
    """``python -m experiments.sweep SPEC`` runs the traces the script runs."""
    data, _ = parse_settings_file(SPECS_DIR / f"{name}.toml", "spec")
    assert data["sweep"]["seed_from"] == "spec"
    globbed = {(REPO_ROOT / f).resolve() for v in data["axes"]["trace"]
               for f in expand_trace(v, name)}
    assert globbed == {(REPO_ROOT / p).resolve() for p in sets.resolve(trace_set)}
