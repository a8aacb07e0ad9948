"""Figures: every file written (PNG, PDF, CSV of the plotted numbers), paper-column size,
published values plotted, a measured cache drawn beside them, cached sweeps, skips."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from experiments.figures import FIGURES, Context, main, make_figures
from models.quality import COLUMNS


def ctx_for(tmp_path, **kw) -> tuple[Context, list[str]]:
    log: list[str] = []
    ctx = Context(quick=True, jobs=1, out=tmp_path / "fig", results=tmp_path / "res",
                  measured=tmp_path / "none.csv", log=log.append, **kw)
    return ctx, log


def png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def test_quality_and_payload_figures_published_values(tmp_path):
    ctx, _ = ctx_for(tmp_path)
    names = ["payload_vs_context", "kv_quantisation", "q2c_vs_snapkv", "scout_gap"]
    written = make_figures(names, ctx)
    assert sorted(p.name for p in written) == sorted(f"{n}.{ext}" for n in names
                                                     for ext in ("png", "pdf", "csv"))
    for n in names:
        assert png_size(ctx.out / f"{n}.png")[0] == 1050  # 3.5 in at 300 dpi
        assert (ctx.out / f"{n}.pdf").read_bytes()[:4] == b"%PDF"
    pay = pd.read_csv(ctx.out / "payload_vs_context.csv")

    def at(series, tokens):
        return int(pay[(pay.series == series) & (pay.context_tokens == tokens)]["bytes"].iloc[0])

    assert at("KV bf16 (7B)", 170) == 9_748_480           # published 9.7 MB
    assert at("KV bf16 (14B)", 1024) == 201_326_592       # published 201 MB
    assert at("Scout 50%: idx as int32", 168) == 336      # published 336 B
    assert set(pay.loc[pay.series == "published", "bytes"]) == {9.7e6, 201e6, 336}
    gap = pd.read_csv(ctx.out / "scout_gap.csv").sort_values("retention")
    assert gap["p"].tolist() == [0.039, 0.110, 0.883]
    assert gap["p_bonferroni"].tolist() == pytest.approx([0.117, 0.330, 1.0])
    kv = pd.read_csv(ctx.out / "kv_quantisation.csv")
    assert set(kv["source"]) == {"published"}
    q2c = pd.read_csv(ctx.out / "q2c_vs_snapkv.csv")
    assert set(q2c["n"]) == {200} and q2c["ci_low"].isna().all()
    for n in names:  # every CSV says what its intervals are
        assert pd.read_csv(ctx.out / f"{n}.csv")["ci_type"].notna().all(), n
    assert set(q2c["ci_type"]) == {"no CI"}


def test_measured_cache_is_drawn_beside_the_published_values(tmp_path):
    measured = tmp_path / "quality_measured.csv"
    base = dict(edge_model="qwen2.5-7b", cloud_model="qwen2.5-14b", task="squad-v2",
                selection="none", n="100", source="measured", provenance="test")
    rows = [
        dict(base, mode="kv", precision=p, retention="1.0", metric="relative_to_bf16",
             mean=m, ci_low=m - 0.02, ci_high=min(1.0, m + 0.02))
        for p, m in (("bf16", 1.0), ("int8", 0.99), ("int4", 0.7), ("mixed", 0.9))] + [
        dict(base, mode="kv", precision="bf16", retention=str(r), selection=s, metric="f1",
             mean=0.5 + r / 5, ci_low=0.45 + r / 5, ci_high=0.55 + r / 5)
        for r in (0.25, 0.5, 0.75) for s in ("q2c", "snapkv")] + [
        dict(base, mode="scout", precision="bf16", retention=str(r), selection="q2c",
             metric="f1_gap_vs_cloud_own", mean=0.01, ci_low=-0.02, ci_high=0.04)
        for r in (0.25, 0.5, 0.75)] + [
        dict(base, task="wikitext-2", mode="kv", precision="int4", retention="1.0",
             metric="perplexity", mean=20.0, ci_low=18.0, ci_high=22.0)]
    with open(measured, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    ctx, _ = ctx_for(tmp_path)
    ctx.measured = measured
    make_figures(["kv_quantisation", "q2c_vs_snapkv", "scout_gap"], ctx)
    for n in ("kv_quantisation", "q2c_vs_snapkv", "scout_gap"):
        df = pd.read_csv(ctx.out / f"{n}.csv")
        assert {"published", "measured"} <= set(df["source"]), n
        assert df.loc[df.source == "measured", "ci_low"].notna().all()
        measured = df.loc[(df.source == "measured") & df.ci_low.notna(), "ci_type"]
        assert set(measured) == {"95% t-interval of the mean over questions"}, n


def test_simulation_figures_run_through_cached_sweeps(tmp_path):
    ctx, log = ctx_for(tmp_path)
    make_figures(["hit_rate_vs_bandwidth", "utility_vs_bandwidth", "adaptive_timeline"], ctx)
    hit = pd.read_csv(ctx.out / "hit_rate_vs_bandwidth.csv")
    assert hit["bandwidth_mbps"].min() == 0.5 and hit["bandwidth_mbps"].max() == 100
    assert (hit["hit_rate_ci_low"] <= hit["deadline_hit_rate"]).all()
    assert set(hit["policy"]) >= {"int8", "scout", "cloud-text", "adaptive"}
    # the second figure reuses the first one's sweep, and a rerun redraws from the store
    assert any("sweep bandwidth: 9 cells, 9 cached, ran 0" in m for m in log)
    assert set(hit["ci_type"]) == {"95% Wilson CI over requests"}
    util = pd.read_csv(ctx.out / "utility_vs_bandwidth.csv")
    assert util["ci_type"].str.startswith("95% t-interval of the mean over requests").all()
    # cloud-text's F1 is assumed in the published cache: its utility is marked so
    assert set(util.loc[util.policy == "cloud-text", "quality_source"]) == {"assumed"}
    assert set(util.loc[util.policy == "int8", "quality_source"]) == {"derived"}
    tl = pd.read_csv(ctx.out / "adaptive_timeline.csv")
    assert {"estimate_mbps", "truth_mbps", "option", "hit", "capacity_mbps"} <= set(tl.columns)
    log.clear()
    make_figures(["hit_rate_vs_bandwidth"], ctx)
    assert any("9 cached, ran 0" in m for m in log)
    assert (tmp_path / "res" / "quick" / "bandwidth" / "spec.json").exists()


def test_real_trace_figure_is_skipped_without_shared(tmp_path):
    ctx, log = ctx_for(tmp_path, shared=tmp_path / "no-shared")
    assert make_figures(["hit_rate_per_trace"], ctx) == []
    assert any("skipped hit_rate_per_trace" in m for m in log)


def test_cli_lists_and_rejects_names(tmp_path, capsys):
    assert main(["--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown figure 'nope'" in err and all(n in err for n in FIGURES)


def test_figure_caches_are_recomputed_when_their_spec_changes(tmp_path, monkeypatch):
    import experiments.figures as figures
    import experiments.figures.bandwidth as bandwidth

    def tiny(requests):
        return lambda quick: {"fixed": {"policies": figures.POLICIES, "requests": requests,
                                        "edge_device": "ideal", "cloud_device": "ideal"},
                              "axes": {"bandwidth_mbps": {"logspace": [0.5, 100, 3]}}}

    ctx, log = ctx_for(tmp_path)
    monkeypatch.setattr(bandwidth, "bandwidth_spec", tiny(20))
    make_figures(["utility_vs_bandwidth"], ctx)
    monkeypatch.setattr(bandwidth, "bandwidth_spec", tiny(30))
    make_figures(["utility_vs_bandwidth"], ctx)
    assert any("recomputing" in m for m in log)
    assert set(pd.read_csv(ctx.out / "utility_vs_bandwidth.csv")["requests"]) == {30}


def test_users_figure_on_a_tiny_grid(tmp_path, monkeypatch):
    import experiments.figures as figs
    import experiments.figures.users as users

    grid = {"fifo": [1, 2, 3], "batched": [1, 3]}
    monkeypatch.setattr(users, "users_spec", lambda quick, serving: {
        "sweep": {"seed": 0, "seed_from": "replicate"},
        "fixed": {"policies": figs.USERS_POLICIES, "requests": 3, "cloud_serving": serving},
        "axes": {"users": grid[serving]}})
    ctx, _ = ctx_for(tmp_path)
    written = make_figures(["hit_rate_vs_users"], ctx)
    assert sorted(p.suffix for p in written) == [".csv", ".pdf", ".png"]
    data = pd.read_csv(ctx.out / "hit_rate_vs_users.csv")
    assert len(data) == len(figs.USERS_POLICIES) * (3 + 2)  # FIFO on a finer grid
    assert set(data["users"]) == {1, 2, 3} and set(data["requests"]) == {3}  # per device
    assert set(data.loc[data.cloud_serving == "batched", "users"]) == {1, 3}
    three = data[data["users"] == 3]
    assert (three["user_ci_low"] <= three["deadline_hit_rate"] + 1e-12).all()
    # the band's CI type changes with the device count, and the CSV says so
    one, many = data[data["users"] == 1], data[data["users"] > 1]
    assert set(one["ci_type"]) == {"95% Wilson CI over requests of the one device"}
    assert set(many["ci_type"]) == {"95% t-interval of the mean over devices"}
    assert (one["ci_low"] == one["hit_rate_ci_low"]).all()
    assert (many["ci_low"] == many["user_ci_low"]).all()
    assert (data["requests_total"] == data["users"] * data["requests"]).all()


def test_quick_figures_never_write_over_the_committed_ones(tmp_path, monkeypatch):
    """``--quick`` without ``--out`` writes to results/figures-quick, not figures/."""
    import experiments.figures.cli as cli

    monkeypatch.setattr(cli, "QUICK_DIR", tmp_path / "quick")
    monkeypatch.setattr(cli, "FIG_DIR", tmp_path / "committed")
    assert cli.main(["--quick", "--only", "payload_vs_context", "--results",
                     str(tmp_path / "cache"), "--quiet"]) == 0
    assert (tmp_path / "quick" / "payload_vs_context.csv").is_file()
    assert not (tmp_path / "committed").exists()


#: figures drawn from the quality caches, payload arithmetic and the timing table alone (no
#: simulation), and the one-run timeline (120 requests, needs ../shared): cheap enough to
#: regenerate in every test run. The other simulation figures take minutes:
#: ``python -m experiments.figures --check`` compares them.
CHEAP = ("payload_vs_context", "kv_quantisation", "q2c_vs_snapkv", "scout_gap", "timing_h200",
         "adaptive_timeline", "quality_vs_context")


@pytest.mark.parametrize("name", CHEAP)
def test_committed_figure_numbers_are_what_the_code_produces(name, tmp_path):
    """The committed ``figures/NAME.csv`` equals a fresh full-size run's, byte for byte."""
    from experiments.figures.context import SHARED_TRACES
    from tests.conftest import REPO

    if name == "adaptive_timeline" and not SHARED_TRACES.is_dir():
        pytest.skip("the committed timeline is drawn on a ../shared trace")
    make_figures([name], Context(out=tmp_path, results=tmp_path / "cache",
                                 log=lambda _m: None, quiet=True))
    assert (tmp_path / f"{name}.csv").read_bytes() == (REPO / "figures" / f"{name}.csv"
                                                       ).read_bytes()


def test_check_compares_with_the_committed_csvs(tmp_path, monkeypatch, capsys):
    """``--check`` regenerates into its own folder, never into figures/, says per figure
    whether its CSV matches the committed one, and exits 1 when one differs."""
    import experiments.figures.cli as cli
    from tests.conftest import REPO

    committed = tmp_path / "committed"
    committed.mkdir()
    for n in ("payload_vs_context", "scout_gap"):
        (committed / f"{n}.csv").write_bytes((REPO / "figures" / f"{n}.csv").read_bytes())
    monkeypatch.setattr(cli, "FIG_DIR", committed)
    args = ["--check", "--only", "payload_vs_context,scout_gap", "--quiet",
            "--out", str(tmp_path / "check")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "same     payload_vs_context" in out and "same     scout_gap" in out
    (committed / "scout_gap.csv").write_text("changed\n")
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "DIFFERS  scout_gap" in out and "same     payload_vs_context" in out
    (committed / "scout_gap.csv").unlink()
    assert cli.main(args) == 1
    assert "MISSING  scout_gap" in capsys.readouterr().out
    assert cli.main(["--check", "--quick", "--only", "scout_gap"]) == 2  # quick vs full
    assert cli.main(["--check", "--only", "scout_gap", "--out", str(committed)]) == 2
