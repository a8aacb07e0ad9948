"""Quality figures from the quality caches: KV quantisation, Q2C vs SnapKV, Scout's gap.
Published values of the published model pair, with a measured cache drawn beside them."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import (
    CI_NONE,
    CI_T_QUESTIONS,
    OKABE_ITO,
    figure,
    legend_below,
    save,
    wrap,
)
from experiments.stats import bonferroni, holm

__all__ = ["PUBLISHED_PAIR", "SERIES_COLOURS", "fig_kv_quantisation", "fig_q2c_vs_snapkv",
           "fig_scout_gap"]

PUBLISHED_PAIR = ("qwen2.5-7b", "qwen2.5-14b")
SERIES_COLOURS = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"],
                  OKABE_ITO["purple"]]


def _model_short(name: str) -> str:
    return re.sub(r"(\d+(?:\.\d+)?)b$", r"\1B", name.removeprefix("qwen2.5-"))


def _pair_label(edge: str, cloud: str) -> str:
    e, c = _model_short(edge), _model_short(cloud)
    family = e.rpartition("-")[0]
    if family and c.startswith(family + "-"):  # coder-0.5B, coder-1.5B -> coder 0.5B→1.5B
        return f"{family} {e[len(family) + 1:]}→{c[len(family) + 1:]}"
    return f"{e}→{c}"


def _task_label(task: str) -> str:
    return re.sub(r"^squad-v", "SQuAD v", task)


def _quality_rows(ctx: Context) -> tuple[pd.DataFrame, list[str]]:
    """Published rows of the published pair, plus every row of a measured cache
    (``models/data/quality_measured.csv``) when it exists, whatever its model pair. Each row
    gets a ``series``: source, model pair and task (one colour each in the figures)."""
    from models.quality import QualityCache

    pub = pd.DataFrame(QualityCache.load(ctx.published).rows)
    pub = pub[(pub["edge_model"] == PUBLISHED_PAIR[0]) & (pub["cloud_model"] == PUBLISHED_PAIR[1])]
    frames = [pub]
    if ctx.measured.is_file():
        frames.append(pd.DataFrame(QualityCache.load(ctx.measured).rows))
    df = pd.concat(frames, ignore_index=True)
    tasks = (df.groupby(["source", "edge_model", "cloud_model"])["task"]
             .agg(lambda t: "/".join(sorted({x for x in t if x != "wikitext-2"}) or set(t))))
    df["series"] = [
        f"{src} {_pair_label(e, c)}, {_task_label(tasks[(src, e, c)])}"
        for src, e, c in zip(df["source"], df["edge_model"], df["cloud_model"], strict=True)]
    order = list(dict.fromkeys(df["series"]))
    return df, order


def _p_of(provenance: str) -> float:
    m = re.search(r"\bp\s*=\s*([0-9.]+)", str(provenance))
    return float(m.group(1)) if m else math.nan


def _yerr(d: pd.DataFrame) -> np.ndarray | None:
    lo, hi, mean = (d[c].to_numpy(float) for c in ("ci_low", "ci_high", "mean"))
    if np.all(np.isnan(lo)):
        return None
    return np.vstack([np.where(np.isnan(lo), 0, mean - lo), np.where(np.isnan(hi), 0, hi - mean)])


def _n_text(d: pd.DataFrame, unit: str = "questions") -> str:
    ns = sorted({int(n) for n in d["n"].dropna()})
    return "n not stated" if not ns else f"n = {'/'.join(map(str, ns))} {unit}"


def _ci_text(d: pd.DataFrame) -> str:
    """The CI type of a quality series: the harness's t-interval over questions, or none."""
    return CI_T_QUESTIONS if d["ci_low"].notna().any() else CI_NONE


def _source(series: str) -> str:
    return series.split(" ")[0]


#: bars of measured series are hatched, published ones solid (also legible in grey)
HATCH = {"published": None, "measured": "////"}


def _bar_style(k: int, series: str) -> dict:
    c = SERIES_COLOURS[k % len(SERIES_COLOURS)]
    if HATCH.get(_source(series)):
        return {"color": "white", "edgecolor": c, "hatch": HATCH[_source(series)], "lw": 0.8}
    return {"color": c}


def _label(series: str, d: pd.DataFrame, what: str = "") -> str:
    """A legend label that says what a series is, its n and whether it has CIs."""
    return wrap(f"{series}{', ' + what if what else ''} ({_n_text(d)}, {_ci_text(d)})", 56)


def _relative_rows(d: pd.DataFrame) -> pd.DataFrame:
    """F1 relative to BF16 at full retention, per precision: the cache's relative rows, or
    F1 / F1(bf16) from its f1 rows; BF16 = 1 by definition."""
    kv = d[(d["mode"] == "kv") & (d["retention"] == 1.0)]
    rel = kv[kv["metric"] == "relative_to_bf16"].set_index("precision")
    f1 = kv[kv["metric"] == "f1"].set_index("precision")
    out = []
    for p in ("bf16", "int8", "mixed", "int4"):
        if p in rel.index:
            r = rel.loc[p]
            out.append({"precision": p, "mean": r["mean"], "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"], "n": r["n"]})
        elif p in f1.index and "bf16" in f1.index and f1.loc["bf16", "mean"] > 0:
            out.append({"precision": p, "mean": f1.loc[p, "mean"] / f1.loc["bf16", "mean"],
                        "ci_low": math.nan, "ci_high": math.nan, "n": f1.loc[p, "n"]})
        elif p == "bf16" and (len(rel) or len(f1)):
            out.append({"precision": p, "mean": 1.0, "ci_low": math.nan, "ci_high": math.nan,
                        "n": math.nan})
    return pd.DataFrame(out, columns=["precision", "mean", "ci_low", "ci_high", "n"])


def _grouped_bars(ax, groups: list, frames: dict[str, pd.DataFrame], key: str,
                  fmt: str = ".3g") -> None:
    """One bar per (group, series) with its value on top (``n/a`` where the series has no
    value); measured series hatched (:func:`_bar_style`)."""
    series = [s for s, d in frames.items() if not d.empty]
    width = 0.8 / max(1, len(series))
    for k, s in enumerate(series):
        d = frames[s].set_index(key).reindex(groups)
        x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        ax.bar(x, d["mean"], width * 0.9, label=_label(s, frames[s]), yerr=_yerr(d),
               error_kw={"elinewidth": 0.8, "capsize": 2}, **_bar_style(k, s))
        top = d["ci_high"].fillna(d["mean"]).to_numpy(float)
        for xi, v, t in zip(x, d["mean"], top, strict=True):
            if np.isnan(v):
                ax.annotate("n/a", (xi, 0), xycoords=("data", "axes fraction"),
                            xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=6, color="0.35")
            else:
                ax.annotate(format(v, fmt), (xi, t), xytext=(0, 1), ha="center", va="bottom",
                            textcoords="offset points", fontsize=6)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.grid(axis="x", alpha=0)


def _source_note(frames: dict[str, pd.DataFrame]) -> str:
    """Which bars are published and which measured, and that they are not comparable."""
    sources = {_source(s) for s, d in frames.items() if not d.empty}
    if sources == {"published"}:
        return "Published values (models/data/quality_published.csv)."
    return ("Solid bars: published values; hatched bars: measured with models.measure. "
            "They are different model pairs and tasks: compare bars of one source, "
            "not across sources.")


def fig_kv_quantisation(ctx: Context) -> list[Path]:
    """KV quantisation: F1 relative to BF16 (QA) and perplexity, published beside measured
    (hatched), one row each so the labels fit a column."""
    q, order = _quality_rows(ctx)
    rel = {s: _relative_rows(q[q["series"] == s]) for s in order}
    ppl = {s: q[(q["series"] == s) & (q["mode"] == "kv") & (q["metric"] == "perplexity")]
           [["precision", "mean", "ci_low", "ci_high", "n"]] for s in order}
    fig, (a1, a2) = figure(4.9, 2, 1, gridspec_kw={"height_ratios": [1.15, 1]})
    precs = ["bf16", "int8", "mixed", "int4"]
    _grouped_bars(a1, precs, rel, "precision", fmt=".3f")
    a1.set_ylabel("F1 relative to bf16")
    a1.set_ylim(0, 1.25)
    a1.set_title("QA (SQuAD)", fontsize=8)
    pp = [p for p in precs if any(p in set(d["precision"]) for d in ppl.values())]
    _grouped_bars(a2, pp, ppl, "precision")
    a2.set_ylabel("perplexity (log)")
    a2.set_yscale("log")
    a2.set_ylim(1, 1000)
    a2.set_title("WikiText-2", fontsize=8)
    a2.set_xlabel("KV precision")
    ppl_n = "; ".join(f"{_source(s)} {_n_text(d, 'tokens')}" for s, d in ppl.items()
                      if not d.empty)
    note = (f"{_source_note(rel)} n/a: no such value. Relative F1: mean F1 / mean F1 at "
            f"bf16, {CI_NONE}. Perplexity: {ppl_n}; {CI_NONE}.")
    handles, labels = a1.get_legend_handles_labels()
    legend_below(fig, a1, ncol=1, handles=handles, labels=labels, note=note, fontsize=7)
    data = pd.concat([d.assign(series=s, metric="relative_to_bf16", ci_type=_ci_text(d))
                      for s, d in rel.items()]
                     + [d.assign(series=s, metric="perplexity", ci_type=_ci_text(d))
                        for s, d in ppl.items()], ignore_index=True)
    data["source"] = data["series"].map(_source)
    data["n_unit"] = np.where(data["metric"] == "perplexity", "tokens", "questions")
    return save(ctx, fig, "kv_quantisation", data)


def _selection_rows(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """F1 by retention and selection method: the edge's pruned KV where the cache has both
    methods (the published rows), else the cloud's own selection (the measured harness)."""
    base = d[(d["metric"] == "f1") & (d["precision"] == "bf16") & d["retention"].notna()
             & (d["retention"] < 1.0)]
    for mode, what in (("kv", "edge KV pruning"), ("cloud-own", "cloud's own selection")):
        rows = base[(base["mode"] == mode) & base["selection"].isin(["q2c", "snapkv"])]
        if set(rows["selection"]) >= {"q2c", "snapkv"}:
            extra = base[(base["mode"] == mode) & (base["selection"] == "random")]
            return pd.concat([rows, extra]), what
    return base.iloc[0:0], ""


def fig_q2c_vs_snapkv(ctx: Context) -> list[Path]:
    """F1 by retention: Q2C vs SnapKV position selection (random as a floor when measured)."""
    q, order = _quality_rows(ctx)
    fig, ax = figure(3.8)
    sty = {"q2c": (OKABE_ITO["blue"], "o", "Q2C"), "snapkv": (OKABE_ITO["vermillion"], "s",
                                                              "SnapKV"),
           "random": (OKABE_ITO["grey"], "v", "random")}
    data, notes, pvals = [], [], []
    for k, s in enumerate(order):
        d, what = _selection_rows(q[q["series"] == s])
        if d.empty:
            continue
        src = _source(s)
        notes.append(f"{s}, {what}: {_n_text(d)}, {_ci_text(d)}"
                     + ("; p (top): published paired test, Q2C vs SnapKV" if src == "published"
                        else ""))
        for sel, g in d.groupby("selection", sort=False):
            g = g.sort_values("retention")
            c, m, name = sty.get(sel, (OKABE_ITO["black"], "x", sel))
            shift = 0.008 * (k - (len(order) - 1) / 2)
            ax.errorbar(g["retention"] + shift, g["mean"], yerr=_yerr(g), color=c, marker=m,
                        ls="-" if k == 0 else ":", capsize=2, label=f"{name}, {src}",
                        mfc=c if k == 0 else "white", elinewidth=0.8)
            data.append(g[["series", "source", "mode", "selection", "retention", "mean",
                           "ci_low", "ci_high", "n", "provenance"]].assign(
                p_vs_snapkv=g["provenance"].map(_p_of), ci_type=_ci_text(g)))
            if sel == "q2c" and src == "published":
                pvals = [(r.retention, _p_of(r.provenance)) for r in g.itertuples()]
    # the published paired test at each retention, in a row along the top of the plot area
    for r, p in pvals:
        if not math.isnan(p):
            ax.annotate(f"p = {p:.3f}", (r, 0.97), xycoords=("data", "axes fraction"),
                        ha="center", va="top", fontsize=7)
    ax.set_xlabel("retention (fraction of context positions kept)")
    ax.set_ylabel("F1")
    ax.set_xticks([0.25, 0.5, 0.75], ["25%", "50%", "75%"])
    ax.set_xlim(0.15, 0.85)
    ax.set_ylim(0, 1)
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, ax, ncol=2, handles=handles, labels=labels, note="\n".join(notes),
                 fontsize=7)
    return save(ctx, fig, "q2c_vs_snapkv", pd.concat(data, ignore_index=True))


def fig_scout_gap(ctx: Context) -> list[Path]:
    """Scout-mask F1 minus the cloud's own selection by retention, with Bonferroni- (and
    Holm-) corrected p-values where the cache gives p."""
    q, order = _quality_rows(ctx)
    frames = {s: q[(q["series"] == s) & (q["mode"] == "scout")
                   & (q["metric"] == "f1_gap_vs_cloud_own") & q["retention"].notna()]
              .sort_values("retention") for s in order}
    frames = {s: d for s, d in frames.items() if not d.empty}
    fig, ax = figure(3.7)
    rets = sorted({float(r) for d in frames.values() for r in d["retention"]})
    width = 0.8 / max(1, len(frames))
    data = []
    for k, (s, d) in enumerate(frames.items()):
        p = d["provenance"].map(_p_of).to_numpy(float)
        ok = ~np.isnan(p)
        p_bonf, p_holm = np.full_like(p, np.nan), np.full_like(p, np.nan)
        if ok.any():
            p_bonf[ok] = bonferroni(p[ok].tolist())
            p_holm[ok] = holm(p[ok].tolist())
        x = np.array([rets.index(float(r)) for r in d["retention"]]) + (
            k - (len(frames) - 1) / 2) * width
        ax.bar(x, d["mean"], width * 0.9, yerr=_yerr(d), label=_label(s, d),
               error_kw={"elinewidth": 0.8, "capsize": 2}, **_bar_style(k, s))
        for xi, v, pr, pb in zip(x, d["mean"], p, p_bonf, strict=True):
            if not math.isnan(pr):
                ax.annotate(f"p={pr:.3f}\nBonf.\n{pb:.3f}", (xi, v), xytext=(0, 2 if v >= 0
                                                                          else -2),
                            textcoords="offset points", ha="center",
                            va="bottom" if v >= 0 else "top", fontsize=7)
        data.append(d[["series", "source", "retention", "mean", "ci_low", "ci_high", "n"]]
                    .assign(p=p, p_bonferroni=p_bonf, p_holm=p_holm, ci_type=_ci_text(d)))
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(rets)), [f"{r:.0%}" for r in rets])
    ax.set_xlabel("retention (fraction of context positions kept)")
    ax.set_ylabel("F1 gap (Scout − cloud's own)")
    lo = min(-0.05, *(np.nanmin(np.minimum(d["mean"], d["ci_low"].fillna(d["mean"])))
                      for d in frames.values()))
    hi = max(0.1, *(np.nanmax(np.maximum(d["mean"], d["ci_high"].fillna(d["mean"])))
                    for d in frames.values()))
    ax.set_ylim(lo - 0.06 * (hi - lo), hi + 0.3 * (hi - lo))
    ax.grid(axis="x", alpha=0)
    handles, labels = ax.get_legend_handles_labels()
    pub = [s for s in frames if s.startswith("published")]
    if pub:
        i = list(frames).index(pub[0])
        below = int((data[i]["p_bonferroni"] < 0.05).sum())
        labels[i] += (f";\n  p Bonferroni-corrected over {len(frames[pub[0]])} retentions: "
                      + ("none" if below == 0 else str(below)) + " < 0.05")
    legend_below(fig, ax, ncol=1, handles=handles, labels=labels, note=_source_note(frames)
                 + " CI of a measured gap: of the paired per-question difference.", fontsize=7)
    return save(ctx, fig, "scout_gap", pd.concat(data, ignore_index=True))
