"""Every figure of the project, regenerated into ``figures/`` as PNG and PDF with the CSV of
the plotted numbers beside each.

Usage: ``python -m experiments.figures [--quick] [--only NAME[,NAME...]] [-j N]``

Figures that need simulations run them through the sweep machinery
(:mod:`experiments.sweep`), cached in ``results/figures/{quick,full}/NAME``: a rerun only
redraws. ``--quick`` uses fewer grid points and requests (same figures). Sizes are for a
paper column (3.5 in wide, 8-9 pt text), colours from the Okabe-Ito colour-blind-safe
palette. Real-trace figures need ``../shared/traces``; without it they are skipped with a
message.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stats import bonferroni, holm
from experiments.sweep import SpecChanged, StaleInputs, run_sweep, spec_from_dict
from models.errors import InputError
from sim.scenario import REPO_ROOT

FIG_DIR = REPO_ROOT / "figures"
RESULTS_DIR = REPO_ROOT / "results" / "figures"
SHARED_TRACES = REPO_ROOT.parent / "shared" / "traces"
#: the shared traces as the sweep specs name them (relative: keys stay machine independent)
SHARED_REL = "../shared/traces"
MEASURED_CACHE = REPO_ROOT / "models" / "data" / "quality_measured.csv"
PUBLISHED_CACHE = REPO_ROOT / "models" / "data" / "quality_published.csv"
WIDTH_IN = 3.5

# Okabe & Ito (2008), "Color Universal Design"; grey in place of the low-contrast yellow
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "purple": "#CC79A7", "grey": "#999999"}
POLICIES = ["bf16", "int8", "int4", "mixed", "scout", "cloud-text", "edge-local", "adaptive"]
STYLE = {  # policy: (colour, line style, marker)
    "bf16": (OKABE_ITO["grey"], ":", "v"),
    "int8": (OKABE_ITO["orange"], "-", "o"),
    "int4": (OKABE_ITO["vermillion"], "--", "s"),
    "mixed": (OKABE_ITO["purple"], "-.", "D"),
    "scout": (OKABE_ITO["blue"], "-", "^"),
    "cloud-text": (OKABE_ITO["green"], "--", "P"),
    "edge-local": (OKABE_ITO["sky"], ":", "X"),
    "adaptive": (OKABE_ITO["black"], "-", "*"),
}
RC = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "lines.linewidth": 1.2,
    "lines.markersize": 3.5, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": 300, "font.family": "DejaVu Sans",
    "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
}
#: drawn wider and underneath, so a policy that coincides with it (adaptive picking
#: cloud-text) stays visible on top
UNDERLAY = {"cloud-text": (3.2, 0.5), "scout": (2.0, 1.0)}  # line width, alpha


@dataclass
class Context:
    """Where figures go and how much simulation they may do."""

    quick: bool = False
    jobs: int | None = None
    out: Path = FIG_DIR
    results: Path = RESULTS_DIR
    shared: Path = SHARED_TRACES
    measured: Path = MEASURED_CACHE
    published: Path = PUBLISHED_CACHE
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def sweep(self, name: str, spec: dict) -> pd.DataFrame:
        """Run (or reuse) a sweep in ``results/figures/MODE/NAME``; rows of every cell."""
        s = spec_from_dict(spec, f"<figures: {name} ({self.mode})>", default_name=name)
        out = self.results / self.mode / name
        try:
            rep = run_sweep(s, out, jobs=self.jobs, quiet=True)
        except (StaleInputs, SpecChanged) as err:  # a cache: recompute it
            why = "spec" if isinstance(err, SpecChanged) else "input files"
            self.log(f"  sweep {name}: the cache was made with another {why}; recomputing")
            shutil.rmtree(out)
            rep = run_sweep(s, out, jobs=self.jobs, quiet=True)
        self.log(f"  sweep {name}: {rep.cells} cells, {rep.done_before} cached, ran {rep.ran} "
                 f"in {rep.elapsed_s:.1f} s")
        self.last_store = rep.out
        return rep.rows

    def requests(self, name: str) -> pd.DataFrame:
        from experiments.store import Store

        return Store(self.results / self.mode / name).read_requests()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(RC)
    return plt


def save(ctx: Context, fig, name: str, data: pd.DataFrame) -> list[Path]:
    """Write NAME.png, NAME.pdf and NAME.csv (the plotted numbers) into ``ctx.out``."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    paths = [ctx.out / f"{name}.png", ctx.out / f"{name}.pdf", ctx.out / f"{name}.csv"]
    fig.savefig(paths[0], metadata={"Software": None})
    fig.savefig(paths[1], metadata={"CreationDate": None, "Creator": None, "Producer": None})
    data.to_csv(paths[2], index=False, float_format="%.6g")
    _plt().close(fig)
    return paths


def _figure(height_in: float, *args, **kw):
    """A figure exactly one paper column wide (constrained layout keeps the size)."""
    return _plt().subplots(*args, figsize=(WIDTH_IN, height_in), layout="constrained", **kw)


def _legend_below(fig, ax, ncol: int = 4, handles=None, labels=None) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, handlelength=2.0,
               columnspacing=0.8, handletextpad=0.4)


def _line_kw(policy: str) -> dict:
    if policy not in UNDERLAY:
        return {"zorder": 2.5}
    lw, alpha = UNDERLAY[policy]
    return {"lw": lw, "alpha": alpha, "zorder": 1.5}


# ------------------------------------------------------------------------------ sweeps
def bandwidth_spec(quick: bool) -> dict:
    """Constant links on a log grid 0.5-100 Mbit/s, default scenario otherwise."""
    return {"sweep": {"seed": 0},
            "fixed": {"policies": POLICIES, "requests": 200 if quick else 5000},
            "axes": {"bandwidth_mbps": {"logspace": [0.5, 100, 9 if quick else 41]}}}


def real_uplink_traces(ctx: Context) -> list[str]:
    """The real uplink traces as relative patterns, or [] when ../shared is absent."""
    if not ctx.shared.is_dir():
        return []
    pats = []
    for sub, pattern in (("mahimahi", "*.up"), ("nyu-mets-lte", "*.csv")):
        if any((ctx.shared / sub).glob(pattern)):
            pats.append(f"{_shared_prefix(ctx)}/{sub}/{pattern}")
    return pats


def _shared_prefix(ctx: Context) -> str:
    return SHARED_REL if ctx.shared.resolve() == SHARED_TRACES.resolve() else str(ctx.shared)


def _bandwidth_rows(ctx: Context) -> pd.DataFrame:
    return ctx.sweep("bandwidth", bandwidth_spec(ctx.quick))


def _band_figure(ctx: Context, rows: pd.DataFrame, name: str, col: str, lo: str, hi: str,
                 ylabel: str) -> list[Path]:
    fig, ax = _figure(3.0)
    data = []
    for p in POLICIES:
        d = rows[rows["policy"] == p].sort_values("bandwidth_mbps")
        c, ls, m = STYLE[p]
        x = d["bandwidth_mbps"].to_numpy()
        ax.fill_between(x, d[lo], d[hi], color=c, alpha=0.18, lw=0)
        ax.plot(x, d[col], ls=ls, marker=m, color=c, label=p, markevery=max(1, len(x) // 8),
                **_line_kw(p))
        data.append(d[["policy", "bandwidth_mbps", "requests", col, lo, hi]])
    ax.set_xscale("log")
    ax.set_xlim(0.5, 100)
    ax.set_xticks([0.5, 1, 2, 5, 10, 20, 50, 100], ["0.5", "1", "2", "5", "10", "20", "50",
                                                   "100"])
    ax.set_xlabel("uplink bandwidth, constant link (Mbit/s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    _legend_below(fig, ax)
    return save(ctx, fig, name, pd.concat(data, ignore_index=True))


def fig_hit_rate_vs_bandwidth(ctx: Context) -> list[Path]:
    """Deadline hit rate vs constant uplink bandwidth per policy, Wilson 95% CI bands."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "hit_rate_vs_bandwidth", "deadline_hit_rate",
                        "hit_rate_ci_low", "hit_rate_ci_high", "deadline hit rate (2 s)")


def fig_utility_vs_bandwidth(ctx: Context) -> list[Path]:
    """Utility (F1 if the deadline is met, else 0) vs bandwidth, t-interval bands."""
    return _band_figure(ctx, _bandwidth_rows(ctx), "utility_vs_bandwidth", "utility",
                        "utility_ci_low", "utility_ci_high", "utility (F1 within deadline)")


def fig_hit_rate_per_trace(ctx: Context) -> list[Path]:
    """Hit rate per real uplink trace (mahimahi .up, NYU-METS) per policy, Wilson CIs."""
    pats = real_uplink_traces(ctx)
    if not pats:
        ctx.log(f"  skipped hit_rate_per_trace: {ctx.shared} is absent (real traces needed)")
        return []
    rows = ctx.sweep("traces", {
        "sweep": {"seed": 0},
        "fixed": {"policies": POLICIES, "requests": 200 if ctx.quick else 2000},
        "axes": {"trace": pats}})
    traces = list(dict.fromkeys(rows["trace"]))
    labels = [_trace_label(t, short=True) for t in traces]
    fig, ax = _figure(0.27 * len(traces) + 1.3)
    offsets = np.linspace(-0.35, 0.35, len(POLICIES))
    for k, p in enumerate(POLICIES):
        d = rows[rows["policy"] == p].set_index("trace").loc[traces]
        y = np.arange(len(traces)) + offsets[k]
        c, _, m = STYLE[p]
        x = d["deadline_hit_rate"].to_numpy()
        err = np.vstack([x - d["hit_rate_ci_low"].to_numpy(), d["hit_rate_ci_high"] - x])
        ax.errorbar(x, y, xerr=err, fmt=m, color=c, ms=3, elinewidth=0.7, capsize=0, label=p)
    ax.set_yticks(np.arange(len(traces)), labels)
    ax.invert_yaxis()
    ax.set_xlim(-0.03, 1.04)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    ax.set_xlabel("deadline hit rate (2 s), 95% Wilson CI")
    ax.grid(axis="y", alpha=0)
    for i in range(len(traces) - 1):
        ax.axhline(i + 0.5, color="0.85", lw=0.5)
    _legend_below(fig, ax)
    data = rows[["trace", "policy", "requests", "deadline_hit_rate", "hit_rate_ci_low",
                 "hit_rate_ci_high", "utility"]].assign(label=rows["trace"].map(_trace_label))
    return save(ctx, fig, "hit_rate_per_trace", data)


def _trace_label(path: str, short: bool = False) -> str:
    p = Path(path)
    name = p.name.removesuffix(".up").removesuffix(".csv")
    if "mahimahi" in p.parts:
        src = "mm" if short else "mahimahi"
    elif "nyu-mets-lte" in p.parts:
        src = "NYU" if short else "NYU-METS"
    else:
        return name
    if short:
        name = name.replace("-driving", "").replace("Long_Island_Rail_Road", "LIRR")
    return f"{name} ({src})"


# ------------------------------------------------------------------------------ payload
def fig_payload_vs_context(ctx: Context) -> list[Path]:
    """Bytes per request vs context length per mode (log-log), published points marked."""
    from models.payload import (
        cloud_text_payload_bytes,
        encode_indices,
        kept_count,
        kv_payload_bytes,
        scout_payload_bytes,
    )

    # a log grid plus the published points' context lengths (so they lie on the curves)
    tokens = np.unique(np.concatenate([np.round(np.geomspace(16, 32768, 60)).astype(int),
                                       [168, 170, 1024]]))
    lines = {
        "KV bf16 (7B)": lambda n: kv_payload_bytes("qwen2.5-7b", n, "bf16"),
        "KV int8 (7B)": lambda n: kv_payload_bytes("qwen2.5-7b", n, "int8"),
        "KV mixed (7B)": lambda n: kv_payload_bytes("qwen2.5-7b", n, "mixed"),
        "KV int4 (7B)": lambda n: kv_payload_bytes("qwen2.5-7b", n, "int4"),
        "KV bf16 (14B)": lambda n: kv_payload_bytes("qwen2.5-14b", n, "bf16"),
        "cloud-text": lambda n: cloud_text_payload_bytes(n),
        "Scout 50%: text + idx": lambda n: scout_payload_bytes(n, 0.5).total_bytes,
        "Scout 50%: idx as int32": lambda n: 4 * kept_count(n, 0.5),
        "Scout 50%: idx, best enc.": lambda n: encode_indices(n, kept=kept_count(n, 0.5)).bytes,
    }
    styles = {
        "KV bf16 (7B)": (OKABE_ITO["grey"], "-"), "KV int8 (7B)": (OKABE_ITO["orange"], "-"),
        "KV mixed (7B)": (OKABE_ITO["purple"], "-."), "KV int4 (7B)": (OKABE_ITO["vermillion"],
                                                                      "--"),
        "KV bf16 (14B)": (OKABE_ITO["black"], ":"), "cloud-text": (OKABE_ITO["green"], "--"),
        "Scout 50%: text + idx": (OKABE_ITO["blue"], "-"),
        "Scout 50%: idx as int32": (OKABE_ITO["sky"], ":"),
        "Scout 50%: idx, best enc.": (OKABE_ITO["sky"], "-"),
    }
    rows = [{"series": k, "context_tokens": int(n), "bytes": int(f(int(n)))}
            for k, f in lines.items() for n in tokens]
    df = pd.DataFrame(rows)
    published = pd.DataFrame([
        {"series": "published", "context_tokens": 170, "bytes": 9_700_000,
         "label": "9.7 MB: 7B bf16 KV"},
        {"series": "published", "context_tokens": 1024, "bytes": 201_000_000,
         "label": "201 MB: 14B bf16 KV"},
        {"series": "published", "context_tokens": 168, "bytes": 336,
         "label": "336 B: 84 int32 indices"},
    ])
    fig, ax = _figure(3.6)
    for k in lines:
        d = df[df["series"] == k]
        c, ls = styles[k]
        ax.plot(d["context_tokens"], d["bytes"], ls=ls, color=c, label=k,
                **_line_kw("cloud-text" if k == "cloud-text" else ""))
    ax.scatter(published["context_tokens"], published["bytes"], marker="o", s=22,
               facecolor="none", edgecolor="black", lw=1.0, zorder=5, label="published")
    for r in published.itertuples():
        ax.annotate(r.label, (r.context_tokens, r.bytes), xytext=(-5, 3), ha="right",
                    va="bottom", textcoords="offset points", fontsize=7,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(16, 32768)
    ax.set_ylim(1, 3e10)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("payload per request (bytes)")
    _legend_below(fig, ax, ncol=2)
    out = pd.concat([df, published], ignore_index=True)
    return save(ctx, fig, "payload_vs_context", out)


# ------------------------------------------------------------------------------ quality
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


def _n_text(d: pd.DataFrame) -> str:
    ns = sorted({int(n) for n in d["n"].dropna()})
    return "n not stated" if not ns else "n = " + "/".join(map(str, ns))


def _ci_text(d: pd.DataFrame) -> str:
    return "95% CI" if d["ci_low"].notna().any() else "no CI"


def _label(series: str, d: pd.DataFrame, what: str = "") -> str:
    """A legend label that says what a series is, its n and whether it has CIs."""
    return f"{series}{', ' + what if what else ''} ({_n_text(d)}, {_ci_text(d)})"


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
                  annotate: bool = True) -> None:
    series = [s for s, d in frames.items() if not d.empty]
    width = 0.8 / max(1, len(series))
    for k, s in enumerate(series):
        d = frames[s].set_index(key).reindex(groups)
        x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        ax.bar(x, d["mean"], width * 0.95, color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
               label=_label(s, frames[s]), yerr=_yerr(d),
               error_kw={"elinewidth": 0.8, "capsize": 2})
        if annotate:
            for xi, v in zip(x, d["mean"], strict=True):
                if not np.isnan(v):
                    ax.annotate(f"{v:.3g}", (xi, v), xytext=(0, 1.5), ha="center",
                                va="bottom", textcoords="offset points", fontsize=7)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.grid(axis="x", alpha=0)


def fig_kv_quantisation(ctx: Context) -> list[Path]:
    """KV quantisation: F1 relative to BF16 (QA) and perplexity, published beside measured."""
    q, order = _quality_rows(ctx)
    rel = {s: _relative_rows(q[q["series"] == s]) for s in order}
    ppl = {s: q[(q["series"] == s) & (q["mode"] == "kv") & (q["metric"] == "perplexity")]
           [["precision", "mean", "ci_low", "ci_high", "n"]] for s in order}
    fig, (a1, a2) = _figure(2.9, 1, 2, gridspec_kw={"width_ratios": [2, 1.2]})
    precs = ["bf16", "int8", "mixed", "int4"]
    _grouped_bars(a1, precs, rel, "precision", annotate=len([d for d in rel.values()
                                                               if not d.empty]) == 1)
    a1.set_ylabel("F1 relative to bf16")
    a1.set_ylim(0, 1.2)
    a1.set_title("QA (SQuAD)", fontsize=8)
    pp = [p for p in precs if any(p in set(d["precision"]) for d in ppl.values())]
    _grouped_bars(a2, pp, ppl, "precision")
    a2.set_ylabel("perplexity")
    a2.set_yscale("log")
    a2.set_ylim(1, 400)
    a2.set_title("WikiText-2", fontsize=8)
    handles, labels = a1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", fontsize=7, ncol=1)
    data = pd.concat([d.assign(series=s, metric="relative_to_bf16") for s, d in rel.items()]
                     + [d.assign(series=s, metric="perplexity") for s, d in ppl.items()],
                     ignore_index=True)
    data["source"] = data["series"].str.split(" ").str[0]
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
    fig, ax = _figure(3.8)
    sty = {"q2c": (OKABE_ITO["blue"], "o", "Q2C"), "snapkv": (OKABE_ITO["vermillion"], "s",
                                                              "SnapKV"),
           "random": (OKABE_ITO["grey"], "v", "random")}
    data, notes = [], []
    for k, s in enumerate(order):
        d, what = _selection_rows(q[q["series"] == s])
        if d.empty:
            continue
        src = s.split(" ")[0]
        notes.append(f"{s}, {what}:\n    {_n_text(d)}, {_ci_text(d)}"
                     + ("; p = published paired test vs SnapKV" if src == "published" else ""))
        for sel, g in d.groupby("selection", sort=False):
            g = g.sort_values("retention")
            c, m, name = sty.get(sel, (OKABE_ITO["black"], "x", sel))
            shift = 0.008 * (k - (len(order) - 1) / 2)
            ax.errorbar(g["retention"] + shift, g["mean"], yerr=_yerr(g), color=c, marker=m,
                        ls="-" if k == 0 else ":", capsize=2, label=f"{name}, {src}",
                        mfc=c if k == 0 else "white", elinewidth=0.8)
            data.append(g[["series", "source", "mode", "selection", "retention", "mean",
                           "ci_low", "ci_high", "n", "provenance"]].assign(
                p_vs_snapkv=g["provenance"].map(_p_of)))
            if sel == "q2c" and src == "published":
                for r in g.itertuples():
                    p = _p_of(r.provenance)
                    if not math.isnan(p):
                        ax.annotate(f"p={p:.3g}", (r.retention, r.mean), xytext=(-5, 5),
                                    textcoords="offset points", ha="right", fontsize=7)
    ax.set_xlabel("retention (fraction of context positions kept)")
    ax.set_ylabel("F1")
    ax.set_xticks([0.25, 0.5, 0.75], ["25%", "50%", "75%"])
    ax.set_xlim(0.15, 0.85)
    ax.set_ylim(0, 1)
    handles, labels = ax.get_legend_handles_labels()
    leg = fig.legend(handles, labels, loc="outside lower center", fontsize=7, ncol=2,
                     title="\n".join(notes), title_fontsize=7, columnspacing=0.8)
    leg.get_title().set_multialignment("left")
    return save(ctx, fig, "q2c_vs_snapkv", pd.concat(data, ignore_index=True))


def fig_scout_gap(ctx: Context) -> list[Path]:
    """Scout-mask F1 minus the cloud's own selection by retention, with Bonferroni- (and
    Holm-) corrected p-values where the cache gives p."""
    q, order = _quality_rows(ctx)
    frames = {s: q[(q["series"] == s) & (q["mode"] == "scout")
                   & (q["metric"] == "f1_gap_vs_cloud_own") & q["retention"].notna()]
              .sort_values("retention") for s in order}
    frames = {s: d for s, d in frames.items() if not d.empty}
    fig, ax = _figure(2.8)
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
        ax.bar(x, d["mean"], width * 0.95, yerr=_yerr(d), label=_label(s, d),
               color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
               error_kw={"elinewidth": 0.8, "capsize": 2})
        for xi, v, pr, pb in zip(x, d["mean"], p, p_bonf, strict=True):
            if not math.isnan(pr):
                ax.annotate(f"p={pr:.3f}\nBonf.\n{pb:.3f}", (xi, v), xytext=(0, 2 if v >= 0
                                                                          else -2),
                            textcoords="offset points", ha="center",
                            va="bottom" if v >= 0 else "top", fontsize=7)
        data.append(d[["series", "source", "retention", "mean", "ci_low", "ci_high", "n"]]
                    .assign(p=p, p_bonferroni=p_bonf, p_holm=p_holm))
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
        labels[list(frames).index(pub[0])] += (
            f";\n  p Bonferroni-corrected over {len(frames[pub[0]])} retentions: none < 0.05")
    fig.legend(handles, labels, loc="outside lower center", fontsize=7, ncol=1)
    return save(ctx, fig, "scout_gap", pd.concat(data, ignore_index=True))


# ------------------------------------------------------------------------------ runs
def _timeline_trace(ctx: Context) -> str:
    real = ctx.shared / "mahimahi" / "ATT-LTE-driving.up"
    if real.is_file():
        return f"{_shared_prefix(ctx)}/mahimahi/ATT-LTE-driving.up"
    return "traces/lte.csv"


def fig_adaptive_timeline(ctx: Context) -> list[Path]:
    """One trace: the adaptive policy's chosen option per request, its throughput estimate
    vs the goodput the transfer got and the trace's capacity, and hits/misses."""
    trace = _timeline_trace(ctx)
    ctx.sweep("timeline", {"sweep": {"seed": 0, "keep_requests": True},
                           "fixed": {"policies": ["adaptive"], "requests": 120,
                                     "trace": trace}})
    req = ctx.requests("timeline")
    from sim.scenario import resolve_path
    from sim.traces import read_trace
    from sim.traces.trace import BYTES_PER_S_PER_MBPS

    tr = read_trace(resolve_path(trace))
    t_end = float(np.ceil(req["arrival_s"].max() + 5))
    edges = np.arange(0.0, t_end + 1.0, 1.0)
    cap = np.diff(tr.cumulative_bytes_array(edges)) / BYTES_PER_S_PER_MBPS
    fig, (a1, a2) = _figure(4.2, 2, 1, sharex=True, gridspec_kw={"height_ratios": [1.5, 1]})
    floor = 0.01
    a1.step(edges[:-1], np.maximum(cap, floor), where="post", color=OKABE_ITO["grey"], lw=0.7,
            label="capacity (1-s mean)")
    a1.plot(req["arrival_s"], req["estimate_mbps"].clip(lower=floor), ls="none", marker="o",
            ms=2.5, color=OKABE_ITO["blue"], label="estimate at decision")
    a1.plot(req["arrival_s"], req["truth_mbps"].clip(lower=floor), ls="none", marker="+",
            ms=4, color=OKABE_ITO["orange"], mew=0.9, label="goodput achieved")
    a1.set_yscale("log")
    a1.set_ylabel("uplink (Mbit/s)")
    options = list(dict.fromkeys(sorted(req["option"].unique(), key=_option_order)))
    y = req["option"].map({o: i for i, o in enumerate(options)})
    hit = req["hit"].to_numpy(bool)
    a2.plot(req["arrival_s"][hit], y[hit], ls="none", marker="o", ms=3,
            color=OKABE_ITO["green"], label="deadline met")
    a2.plot(req["arrival_s"][~hit], y[~hit], ls="none", marker="x", ms=4, mew=1.0,
            color=OKABE_ITO["vermillion"], label="deadline missed")
    a2.set_yticks(range(len(options)), options)
    a2.set_ylim(-0.6, len(options) - 0.4)
    a2.set_xlabel("time (s)")
    a2.set_ylabel("chosen option")
    a1.set_xlim(0, t_end)
    h1, l1 = a1.get_legend_handles_labels()
    h2, l2 = a2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncol=2, fontsize=7,
               handletextpad=0.3, columnspacing=0.8)
    a1.set_title(f"adaptive on {_trace_label(trace)}", fontsize=8)
    data = req[["request", "arrival_s", "option", "payload_bytes", "estimate_mbps",
                "truth_mbps", "latency_s", "hit"]].assign(trace=trace)
    cap_df = pd.DataFrame({"request": -1, "arrival_s": edges[:-1], "option": "",
                           "capacity_mbps": cap, "trace": trace})
    return save(ctx, fig, "adaptive_timeline", pd.concat([data, cap_df], ignore_index=True))


def _option_order(option: str) -> tuple:
    mode = option.split("@")[0]
    order = ["edge-local", "cloud-text", "scout", "kv-int4", "kv-mixed", "kv-int8", "kv-bf16"]
    return (order.index(mode) if mode in order else len(order), option)


def fig_latency_cdf(ctx: Context) -> list[Path]:
    """Empirical CDF of the first-token latency per policy (default scenario, LTE trace)."""
    ctx.sweep("latency", {"sweep": {"seed": 0, "keep_requests": True},
                          "fixed": {"policies": POLICIES, "trace": "traces/lte.csv",
                                    "requests": 200 if ctx.quick else 5000}})
    req = ctx.requests("latency")
    fig, ax = _figure(3.0)
    data = []
    for p in POLICIES:
        lat = np.sort(req.loc[req["policy"] == p, "latency_s"].to_numpy(float))
        n = lat.size
        f = np.arange(1, n + 1) / n
        c, ls, _ = STYLE[p]
        ax.step(lat, f, where="post", color=c, ls=ls, label=p, **_line_kw(p))
        data.append(pd.DataFrame({"policy": p, "latency_s": lat, "cdf": f}))
    deadline = float(req["deadline_s"].iloc[0])
    ax.axvline(deadline, color="black", lw=0.7, ls=(0, (1, 2)))
    ax.annotate(f"deadline {deadline:g} s", (deadline, 0.5), xytext=(3, 0),
                textcoords="offset points", fontsize=7, rotation=90, va="center")
    ax.set_xscale("log")
    ax.set_xlabel("first-token latency (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.01)
    _legend_below(fig, ax)
    return save(ctx, fig, "latency_cdf", pd.concat(data, ignore_index=True))


USERS_POLICIES = ["int8", "int4", "scout", "cloud-text", "edge-local", "adaptive"]


def users_spec(quick: bool) -> dict:
    """The default LTE cell (50 Mbit/s shared uplink) with 1-100 devices, FIFO and batched
    cloud serving; requests and interval are per device. One workload seed for every cell
    (common random numbers): device d has the same requests in every cell it is in, so
    FIFO vs batched, and N vs N+k devices, are paired comparisons."""
    grid = [1, 5, 10, 20, 50, 100] if quick else [1, 2, 5, 10, 15, 20, 30, 50, 75, 100]
    return {"sweep": {"seed": 0, "seed_from": "replicate"},  # same devices' requests in
            "fixed": {"policies": USERS_POLICIES, "requests": 10 if quick else 60},  # every cell
            "axes": {"users": grid, "cloud_serving": ["fifo", "batched"]}}


def fig_hit_rate_vs_users(ctx: Context) -> list[Path]:
    """Hit rate vs devices in one LTE cell, per policy; FIFO vs batched cloud GPU. Bands:
    95% t-interval of the mean per-device hit rate (requests of a device are clustered)."""
    rows = ctx.sweep("users", users_spec(ctx.quick))
    fig, axes = _figure(2.6, 1, 2, sharey=True)
    data = []
    for ax, serving in zip(axes, ["fifo", "batched"], strict=True):
        for p in USERS_POLICIES:
            d = rows[(rows["policy"] == p) & (rows["cloud_serving"] == serving)]
            d = d.sort_values("users")
            c, ls, m = STYLE[p]
            x = d["users"].to_numpy()
            lo = np.where(x > 1, d["user_ci_low"], d["hit_rate_ci_low"])
            hi = np.where(x > 1, d["user_ci_high"], d["hit_rate_ci_high"])
            ax.fill_between(x, lo, hi, color=c, alpha=0.18, lw=0)
            ax.plot(x, d["deadline_hit_rate"], ls=ls, marker=m, color=c, label=p,
                    **_line_kw(p))
            data.append(d[["policy", "cloud_serving", "users", "requests",
                           "deadline_hit_rate", "user_ci_low", "user_ci_high",
                           "hit_rate_ci_low", "hit_rate_ci_high", "jain_fairness",
                           "p95_latency_s"]])
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
        ax.set_xlabel("devices in the cell")
        ax.set_title("cloud GPU: FIFO" if serving == "fifo" else "cloud GPU: batches <= 8",
                     fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("deadline hit rate (2 s)")
    _legend_below(fig, axes[0], ncol=3)
    return save(ctx, fig, "hit_rate_vs_users", pd.concat(data, ignore_index=True))


FIGURES: dict[str, Callable[[Context], list[Path]]] = {
    "hit_rate_vs_bandwidth": fig_hit_rate_vs_bandwidth,
    "utility_vs_bandwidth": fig_utility_vs_bandwidth,
    "hit_rate_per_trace": fig_hit_rate_per_trace,
    "payload_vs_context": fig_payload_vs_context,
    "kv_quantisation": fig_kv_quantisation,
    "q2c_vs_snapkv": fig_q2c_vs_snapkv,
    "scout_gap": fig_scout_gap,
    "adaptive_timeline": fig_adaptive_timeline,
    "latency_cdf": fig_latency_cdf,
    "hit_rate_vs_users": fig_hit_rate_vs_users,
}


def make_figures(names: list[str] | None = None, ctx: Context | None = None) -> list[Path]:
    """Draw the named figures (default: all); returns the files written."""
    ctx = ctx or Context()
    names = names or list(FIGURES)
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise InputError(f"unknown figure {bad[0]!r}; figures are {', '.join(FIGURES)}")
    written: list[Path] = []
    for n in names:
        t0 = time.perf_counter()
        paths = FIGURES[n](ctx)
        written += paths
        if paths:
            ctx.log(f"{n}: {time.perf_counter() - t0:.1f} s -> "
                    + ", ".join(p.name for p in paths))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.figures",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer grid points and requests (same figures)")
    ap.add_argument("--only", help="comma-separated figure names: " + ", ".join(FIGURES))
    ap.add_argument("-j", "--jobs", type=int, help="local processes for the sweeps")
    ap.add_argument("--out", default=str(FIG_DIR), help="figure folder (default figures/)")
    ap.add_argument("--results", default=str(RESULTS_DIR),
                    help="sweep cache (default results/figures)")
    args = ap.parse_args(argv)
    ctx = Context(quick=args.quick, jobs=args.jobs, out=Path(args.out),
                  results=Path(args.results))
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    t0 = time.perf_counter()
    try:
        written = make_figures(names, ctx)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(written)} files in {ctx.out} ({time.perf_counter() - t0:.1f} s, "
          f"{ctx.mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
