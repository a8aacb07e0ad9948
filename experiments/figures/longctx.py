"""Quality vs context length (``models.longctx``): answer F1 per condition at SQuAD's own
length and at the long lengths measured, and the selections' agreement and gold-answer
coverage (from the prefills) per length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import CI_T_QUESTIONS, OKABE_ITO, figure, legend_below, save

__all__ = ["fig_quality_vs_context"]

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "models" / "data" / "measurements" / "qwen-coder-pair"
LONG = REPO / "models" / "data" / "measurements" / "qwen-coder-pair-long"
BASE_TOKENS = 156  # the own-context run's mean context tokens (plotted at its mean)
#: (answer key, label, colour, marker)
SERIES = [("cloud/full", "cloud-text", OKABE_ITO["black"], "o"),
          ("scout/full", "edge-local / kv bf16", OKABE_ITO["grey"], "s"),
          ("scout/kv-int8", "kv INT8", OKABE_ITO["blue"], "^"),
          ("scout/kv-mixed", "kv mixed", OKABE_ITO["sky"], "v"),
          ("scout/kv-int4", "kv INT4", OKABE_ITO["purple"], "D"),
          ("cloud/scout-q2c-last/0.5", "scout Q2C 50%", OKABE_ITO["vermillion"], "P"),
          ("cloud/own-q2c-last/0.5", "cloud-own Q2C 50%", OKABE_ITO["orange"], "X"),
          ("cloud/own-snapkv/0.5", "cloud-own SnapKV 50%", OKABE_ITO["green"], "*")]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    from models.summarize import t_interval

    lo, hi = t_interval(x)
    return float(x.mean()), max(0.0, lo), min(1.0, hi)  # shares and F1 lie in [0, 1]


def fig_quality_vs_context(ctx: Context) -> list[Path]:
    """Two panels: F1 per condition vs context tokens; selection overlap and coverage."""
    from models.longctx import LENGTHS, load_runs

    base = BASE / "questions.jsonl"
    runs = {t: load_runs(LONG, t) for t in LENGTHS} if LONG.exists() else {}
    runs = {t: r for t, r in runs.items() if r}
    if not base.exists() or not runs:
        ctx.log("quality_vs_context: skipped (no long-context run in "
                f"{LONG.relative_to(REPO)})")
        return []
    groups = {BASE_TOKENS: _lines(base), **runs}
    rows = []
    fig, (a1, a2) = figure(4.6, 2, 1, gridspec_kw={"height_ratios": [1.3, 1]})
    for k, (key, label, colour, marker) in enumerate(SERIES):
        xs, ms, los, his = [], [], [], []
        for t, recs in groups.items():
            m, lo, hi = _mean_ci(np.array([r["answers"][key]["f1"] for r in recs]))
            x = t * (1 + 0.025 * (k - len(SERIES) / 2))  # small dodge on the log axis
            xs.append(x), ms.append(m), los.append(m - lo), his.append(hi - m)
            rows.append({"panel": "f1", "series": label, "context_tokens": t, "mean": m,
                         "ci_low": lo, "ci_high": hi, "n": len(recs),
                         "ci_type": CI_T_QUESTIONS})
        a1.errorbar(xs, ms, yerr=[los, his], color=colour, marker=marker, ms=4, lw=1,
                    capsize=2, label=label)
    ticks = sorted({BASE_TOKENS, *LENGTHS})
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlim(BASE_TOKENS * 0.8, max(LENGTHS) * 1.25)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    a1.set_ylabel("F1")
    a1.set_ylim(0, 1)
    ns = ", ".join(f"{t} tok: n={len(r)}" for t, r in groups.items())
    sel = groups  # the selections come from the same prefills as the answers
    sty = [("overlap", "q2c-last", "bottom: scout-cloud top-50% overlap, Q2C",
            OKABE_ITO["vermillion"]),
           ("overlap", "snapkv", "bottom: scout-cloud top-50% overlap, SnapKV",
            OKABE_ITO["green"]),
           ("coverage", "q2c-last", "bottom: gold answer in cloud's Q2C top 50%",
            OKABE_ITO["orange"]),
           ("coverage", "snapkv", "bottom: gold answer in cloud's SnapKV top 50%",
            OKABE_ITO["blue"])]
    for what, method, label, colour in sty:
        xs, ms, los, his = [], [], [], []
        for t, recs in sel.items():
            x = np.array([r["overlap"][method]["0.5"]["overlap"] if what == "overlap"
                          else r["answer_in_topk"][method] for r in recs], dtype=float)
            x = x[~np.isnan(x)]
            m, lo, hi = _mean_ci(x)
            xs.append(t), ms.append(m), los.append(m - lo), his.append(hi - m)
            rows.append({"panel": "selection", "series": label, "context_tokens": t,
                         "mean": m, "ci_low": lo, "ci_high": hi, "n": len(x),
                         "ci_type": CI_T_QUESTIONS})
        a2.errorbar(xs, ms, yerr=[los, his], color=colour, marker="o", ms=3, lw=1, capsize=2,
                    label=label, ls="--" if what == "coverage" else "-", mfc="white")
    a2.set_ylim(0.4, 1.02)
    a2.set_ylabel("share")
    a2.set_xlabel("context tokens (SQuAD's own paragraphs: mean 156)")
    sel_n = ", ".join(f"{t} tok: n={len(r)}" for t, r in sel.items())
    note = (f"Top: F1, Qwen2.5-Coder 0.5B scout / 1.5B cloud, {ns}; long contexts: gold "
            f"paragraph among other articles' paragraphs. Bottom: from the prefills, "
            f"{sel_n}. Bars: {CI_T_QUESTIONS}.")
    handles, labels = a1.get_legend_handles_labels()
    h2, l2 = a2.get_legend_handles_labels()
    legend_below(fig, a2, ncol=2, handles=handles + h2, labels=labels + l2, note=note,
                 fontsize=6)
    return save(ctx, fig, "quality_vs_context", pd.DataFrame(rows))
