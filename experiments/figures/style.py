"""How every figure looks: one paper column wide, 8-9 pt text, Okabe-Ito colours, a style
per policy; saving PNG, PDF and the CSV of the plotted numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from experiments.figures.context import Context

__all__ = ["CI_NONE", "DATASETS", "CI_T_DEVICES", "CI_T_QUESTIONS", "CI_T_REQUESTS", "CI_WILSON",
           "OKABE_ITO", "POLICIES", "RC", "STYLE", "UNDERLAY", "WIDTH_IN", "figure",
           "legend_below", "line_kw", "pyplot", "save", "trace_dataset", "trace_label",
           "trace_name", "wrap"]

WIDTH_IN = 3.5
#: characters of a 7-pt note that fit one column
NOTE_CHARS = 60

# what each figure's intervals are: the same words in the figure and in its CSV (``ci_type``)
CI_WILSON = "95% Wilson CI over requests"
CI_T_REQUESTS = "95% t-interval of the mean over requests"
CI_T_DEVICES = "95% t-interval of the mean over devices"
CI_T_QUESTIONS = "95% t-interval of the mean over questions"
CI_NONE = "no CI"

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


def pyplot():
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
    pyplot().close(fig)
    return paths


def figure(height_in: float, *args, **kw):
    """A figure exactly one paper column wide (constrained layout keeps the size)."""
    return pyplot().subplots(*args, figsize=(WIDTH_IN, height_in), layout="constrained", **kw)


def legend_below(fig, ax, ncol: int = 4, handles=None, labels=None, note: str | None = None,
                 fontsize: float = 8):
    """The legend under the axes; ``note`` (n, CI type, marks) as its left-aligned title,
    each line wrapped to the column width."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if note:
        note = wrap(note)
    leg = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, handlelength=2.0,
                     columnspacing=0.8, handletextpad=0.4, title=note, title_fontsize=7,
                     fontsize=fontsize)
    if note:
        leg.get_title().set_multialignment("left")
    return leg


def wrap(text: str, width: int = NOTE_CHARS) -> str:
    """Each line of ``text`` wrapped to ``width`` characters (a note at 7 pt in one column)."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
                     for line in text.split("\n"))


def line_kw(policy: str) -> dict:
    if policy not in UNDERLAY:
        return {"zorder": 2.5}
    lw, alpha = UNDERLAY[policy]
    return {"lw": lw, "alpha": alpha, "zorder": 1.5}


#: the datasets of the real traces, by their folder under ../shared/traces
DATASETS = {"mahimahi": "mahimahi: US cellular uplinks (Winstein et al. 2013)",
            "nyu-mets-lte": "NYU-METS: LTE uplink on New York subway, bus, rail"}


def trace_dataset(path: str) -> str:
    """The dataset a trace comes from (:data:`DATASETS`), else ``synthetic``."""
    return next((d for k, d in DATASETS.items() if k in Path(path).parts), "synthetic")


def trace_name(path: str) -> str:
    """The trace's file name without its suffix, unabbreviated (``ATT-LTE-driving``)."""
    return Path(path).name.removesuffix(".up").removesuffix(".csv")


def trace_label(path: str) -> str:
    """``NAME (mahimahi)``, ``NAME (NYU-METS)``, or the bare name of a synthetic trace."""
    p = Path(path)
    src = {"mahimahi": "mahimahi", "nyu-mets-lte": "NYU-METS"}
    return next((f"{trace_name(path)} ({v})" for k, v in src.items() if k in p.parts),
                trace_name(path))
