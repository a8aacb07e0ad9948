"""Bytes per request vs context length per transfer mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import CI_NONE, OKABE_ITO, figure, legend_below, line_kw, save

__all__ = ["fig_payload_vs_context"]


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
    fig, ax = figure(3.6)
    for k in lines:
        d = df[df["series"] == k]
        c, ls = styles[k]
        ax.plot(d["context_tokens"], d["bytes"], ls=ls, color=c, label=k,
                **line_kw("cloud-text" if k == "cloud-text" else ""))
    ax.scatter(published["context_tokens"], published["bytes"], marker="o", s=22,
               facecolor="none", edgecolor="black", lw=1.0, zorder=5, label="published")
    # 201 MB above-left of its point; the other two below-right (left of them is the axis)
    for r in published.itertuples():
        left = r.bytes > 1e8
        ax.annotate(r.label, (r.context_tokens, r.bytes), xytext=(-5, 3) if left else (5, -3),
                    ha="right" if left else "left", va="bottom" if left else "top",
                    textcoords="offset points", fontsize=7,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(16, 32768)
    ax.set_ylim(1, 3e10)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("payload per request (bytes)")
    legend_below(fig, ax, ncol=2, note=f"Computed from the model shapes, not sampled: "
                 f"no n, {CI_NONE}. Circles: published sizes.")
    out = pd.concat([df, published], ignore_index=True).assign(ci_type=f"{CI_NONE} (computed)")
    return save(ctx, fig, "payload_vs_context", out)
