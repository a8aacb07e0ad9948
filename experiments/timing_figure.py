"""Figure: measured latency vs context length per model, eager vs compiled, against the
calibrated roofline (and the default one).

    python -m experiments.timing_figure                      # figures/timing_h200.png
    python -m experiments.timing_figure --table models/timings/h200-sxm.csv --device h200-sxm

Filled markers: rows the calibration was fitted on; hollow markers: held-out rows
(``models.profile.split_rows``). Lines: the calibrated roofline of each stack (solid) and the
roofline with the device's default efficiencies (grey, dashed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from models.cli import add_common, command, make_parser, run_main  # noqa: E402
from models.devices import get_device  # noqa: E402
from models.profile import roofline_terms, split_rows  # noqa: E402
from models.timing import (  # noqa: E402
    DEFAULT_TIMINGS_DIR,
    Calibration,
    TimingRow,
    _read_csv,
    roofline_time_s,
)

COLORS = {"eager": "tab:red", "compiled": "tab:blue"}
MARKERS = {"eager": "o", "compiled": "s"}
PANELS = (("prefill", 1), ("prefill", 16), ("decode", 1), ("decode", 16))


def _curve(op: str, model: str, device: str, stack: str, batch: int, xs: np.ndarray,
           cal: Calibration | None) -> tuple[np.ndarray, np.ndarray | None]:
    dev = get_device(device)
    default, calibrated = [], []
    fit = cal.get(device, stack, op) if cal is not None else None
    for n in xs:
        p = roofline_terms(TimingRow(model, device, stack, op, int(n), batch, 1.0, 1, ""), dev)
        default.append(roofline_time_s(p.flops, p.bytes, dev))
        if fit is not None:
            calibrated.append(fit.time_s(p.flops, p.bytes, dev, p.layers))
    return np.array(default), (np.array(calibrated) if fit is not None else None)


def make_figure(rows: list[TimingRow], device: str, cal: Calibration | None, out: Path) -> None:
    rows = [r for r in rows if r.device == device]
    models = sorted({r.model for r in rows}, key=lambda m: float(m.split("-")[-1][:-1]))
    train, _ = split_rows(rows)
    trained = {(r.model, r.stack, r.op, r.context_tokens, r.batch) for r in train}
    fig, axes = plt.subplots(len(PANELS), len(models), figsize=(3.1 * len(models), 11),
                             sharex=True, squeeze=False)
    for j, model in enumerate(models):
        for i, (op, batch) in enumerate(PANELS):
            ax = axes[i][j]
            sel = [r for r in rows if r.model == model and r.op == op and r.batch == batch]
            if not sel:
                ax.set_visible(False)
                continue
            xs = np.geomspace(min(r.context_tokens for r in sel),
                              max(r.context_tokens for r in sel), 60)
            for stack in ("eager", "compiled"):
                pts = sorted((r for r in sel if r.stack == stack), key=lambda r: r.context_tokens)
                if not pts:
                    continue
                default, calibrated = _curve(op, model, device, stack, batch, xs, cal)
                if calibrated is not None:
                    ax.plot(xs, calibrated * 1e3, color=COLORS[stack], lw=1.2,
                            label=f"{stack}: calibrated roofline")
                for r in pts:
                    fit_row = (r.model, r.stack, r.op, r.context_tokens, r.batch) in trained
                    ax.plot(r.context_tokens, r.time_s * 1e3, MARKERS[stack], ms=5,
                            color=COLORS[stack], mfc=COLORS[stack] if fit_row else "none")
            ax.plot(xs, default * 1e3, color="0.5", lw=1, ls="--", label="default roofline")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
            if i == 0:
                ax.set_title(model)
            if j == 0:
                unit = "ms" if op == "prefill" else "ms / token"
                ax.set_ylabel(f"{op}, batch {batch}\n{unit}")
            if i == len(PANELS) - 1:
                ax.set_xlabel("context tokens")
    handles = [
        plt.Line2D([], [], color=COLORS["eager"], marker="o", label="eager (HF, DynamicCache)"),
        plt.Line2D([], [], color=COLORS["compiled"], marker="s",
                   label="compiled (static cache + CUDA graph)"),
        plt.Line2D([], [], color="0.3", marker="o", mfc="none", ls="none",
                   label="held-out row (not fitted)"),
        plt.Line2D([], [], color="0.3", marker="o", ls="none", label="training row"),
        plt.Line2D([], [], color="0.5", ls="--", label="default roofline (0.5 / 0.7)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=9, frameon=False)
    fig.suptitle(f"{device}: measured latency (markers) vs calibrated roofline (lines), "
                 "bf16, random weights", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


@command
def main(argv: list[str] | None = None) -> int:
    """Draw the figure; returns the exit code (0 ok, 2 bad input)."""
    p = make_parser(None, __doc__)  # prog: argparse's default, as before
    p.add_argument("--table", type=Path, default=DEFAULT_TIMINGS_DIR / "h200-sxm.csv")
    p.add_argument("--calibration", type=Path, default=DEFAULT_TIMINGS_DIR / "calibration.json")
    p.add_argument("--device", default="h200-sxm")
    add_common(p, "out", type=Path, default=Path("figures/timing_h200.png"), help=None)
    a = p.parse_args(argv)
    cal = Calibration.load(a.calibration) if a.calibration.is_file() else None
    make_figure(_read_csv(a.table), a.device, cal, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
