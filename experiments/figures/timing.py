"""Measured GPU latency vs context length per model against the calibrated roofline
(``models/timings``): prefill and decode, eager and compiled, batch 1. Every measured row
(batches 1, 4 and 16, with both rooflines' predictions) is in the CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import CI_NONE, OKABE_ITO, figure, legend_below, save

__all__ = ["TIMING_DEVICE", "fig_timing_h200", "timing_figure"]

TIMING_DEVICE = "h200-sxm"
MODEL_COLOURS = [OKABE_ITO["sky"], OKABE_ITO["green"], OKABE_ITO["orange"],
                 OKABE_ITO["vermillion"], OKABE_ITO["black"]]
#: (op, stack) per panel, rows by op, columns by stack
PANELS = (("prefill", "eager"), ("prefill", "compiled"), ("decode", "eager"),
          ("decode", "compiled"))
STACK_NAMES = {"eager": "eager (HF)", "compiled": "compiled (CUDA graph)"}
BATCH = 1


def _model_size(model: str) -> float:
    return float(model.split("-")[-1].rstrip("bB"))


def _predictions(rows, device: str, cal) -> pd.DataFrame:
    """One row per measured point: the measurement, whether the calibration was fitted on
    it, and both rooflines' predictions at it."""
    from models.devices import get_device
    from models.profile import roofline_terms, split_rows
    from models.timing import roofline_time_s

    dev = get_device(device)
    train, _ = split_rows(rows)
    fitted = {(r.model, r.stack, r.op, r.context_tokens, r.batch) for r in train}
    out = []
    for r in rows:
        p = roofline_terms(r, dev)
        fit = cal.get(device, r.stack, r.op) if cal is not None else None
        out.append({"model": r.model, "stack": r.stack, "op": r.op, "batch": r.batch,
                    "context_tokens": r.context_tokens, "time_s": r.time_s,
                    "n_repeats": r.n_repeats,
                    "fitted": (r.model, r.stack, r.op, r.context_tokens, r.batch) in fitted,
                    "calibrated_s": fit.time_s(p.flops, p.bytes, dev, p.layers)
                    if fit is not None else np.nan,
                    "default_roofline_s": roofline_time_s(p.flops, p.bytes, dev)})
    return pd.DataFrame(out)


def _curve(model: str, op: str, stack: str, device: str, cal, xs: np.ndarray) -> np.ndarray:
    """The calibrated roofline of (model, op, stack) at batch 1 over ``xs`` context tokens."""
    from models.devices import get_device
    from models.profile import roofline_terms
    from models.timing import TimingRow

    dev = get_device(device)
    fit = cal.get(device, stack, op) if cal is not None else None
    if fit is None:
        return np.full(len(xs), np.nan)
    ys = []
    for n in xs:
        p = roofline_terms(TimingRow(model, device, stack, op, int(n), BATCH, 1.0, 1, ""), dev)
        ys.append(fit.time_s(p.flops, p.bytes, dev, p.layers))
    return np.array(ys)


def timing_figure(ctx: Context, table: Path, calibration: Path, device: str,
                  name: str) -> list[Path]:
    """Draw NAME.png/.pdf/.csv from a timing table and its calibration into ``ctx.out``."""
    from matplotlib.lines import Line2D

    from models.timing import Calibration, _read_csv

    rows = [r for r in _read_csv(table) if r.device == device and r.op in ("prefill",
                                                                             "decode")]
    cal = Calibration.load(calibration) if calibration.is_file() else None
    df = _predictions(rows, device, cal)
    models = sorted(df["model"].unique(), key=_model_size)
    colour = dict(zip(models, MODEL_COLOURS * 2, strict=False))
    fig, axes = figure(5.0, 2, 2, sharex=True, sharey="row")
    for ax, (op, stack) in zip(axes.flat, PANELS, strict=True):
        for model in models:
            d = df[(df["model"] == model) & (df["op"] == op) & (df["stack"] == stack)
                   & (df["batch"] == BATCH)].sort_values("context_tokens")
            if d.empty:
                continue
            c = colour[model]
            xs = np.geomspace(d["context_tokens"].min(), d["context_tokens"].max(), 40)
            ax.plot(xs, _curve(model, op, stack, device, cal, xs) * 1e3, color=c, lw=1.0)
            for fit_row in (True, False):
                s = d[d["fitted"] == fit_row]
                ax.plot(s["context_tokens"], s["time_s"] * 1e3, ls="none", marker="o",
                        ms=3.2, color=c, mfc=c if fit_row else "white", mew=0.9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", lw=0.4, alpha=0.4)
        if op == PANELS[0][0]:
            ax.set_title(STACK_NAMES[stack], fontsize=8)
    axes[0][0].set_ylabel("prefill (ms)")
    axes[1][0].set_ylabel("decode (ms per token)")
    for ax in axes[1]:
        ax.set_xlabel("context tokens")
    handles = [Line2D([], [], color=colour[m], marker="o", ms=3.2, label=m.removeprefix(
        "qwen2.5-").upper()) for m in models]
    handles += [Line2D([], [], color="0.3", lw=1.0, label="calibrated roofline"),
                Line2D([], [], color="0.3", marker="o", ms=3.2, ls="none",
                       label="measured, fitted"),
                Line2D([], [], color="0.3", marker="o", ms=3.2, ls="none", mfc="white",
                       label="measured, held out")]
    reps = sorted(set(df.loc[df["batch"] == BATCH, "n_repeats"]))
    ci = f"{CI_NONE} (median of {min(reps)}-{max(reps)} timed repeats per point)"
    note = (f"{device}, bf16, Qwen2.5 shapes with random weights, batch {BATCH}. Eager: "
            "Hugging Face forward with a DynamicCache; compiled: static cache captured as a "
            f"CUDA graph. "
            f"{len(df[df['batch'] == BATCH])} of {len(df)} measured points drawn (batches "
            f"4 and 16 and the default roofline: CSV). Markers: {ci}.")
    legend_below(fig, axes[1][0], ncol=4, handles=handles,
                 labels=[h.get_label() for h in handles], note=note, fontsize=7)
    data = df.assign(plotted=df["batch"] == BATCH, device=device, ci_type=ci)
    return save(ctx, fig, name, data)


def fig_timing_h200(ctx: Context) -> list[Path]:
    """The shipped H200 timing table and calibration (``models/timings``)."""
    from models.timing import DEFAULT_TIMINGS_DIR

    return timing_figure(ctx, DEFAULT_TIMINGS_DIR / f"{TIMING_DEVICE}.csv",
                         DEFAULT_TIMINGS_DIR / "calibration.json", TIMING_DEVICE, "timing_h200")
