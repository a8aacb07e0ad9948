"""Figure: measured latency vs context length per model, eager vs compiled, against the
calibrated roofline, from any timing table (the drawing is
:func:`experiments.figures.timing.timing_figure`).

    python -m experiments.timing_figure                 # results/timing/timing_h200.{png,pdf,csv}
    python -m experiments.timing_figure --table models/timings/h200-sxm.csv --device h200-sxm

The committed ``figures/timing_h200.*`` come from ``python -m experiments.figures --only
timing_h200`` (the shipped table and calibration); this command draws the same figure from
another table or device, into ``results/`` unless ``--out`` says otherwise. Filled markers:
rows the calibration was fitted on; hollow markers: held-out rows
(``models.profile.split_rows``); lines: the calibrated roofline of each stack. Batch 1 is
drawn; the CSV beside the figure has every row with both rooflines' predictions.
"""

from __future__ import annotations

from pathlib import Path

from experiments.figures.context import Context
from experiments.figures.timing import TIMING_DEVICE, timing_figure
from models.cli import add_common, command, make_parser, run_main
from models.timing import DEFAULT_TIMINGS_DIR
from sim.scenario import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "results" / "timing" / "timing_h200.png"


@command
def main(argv: list[str] | None = None) -> int:
    """Draw the figure; returns the exit code (0 ok, 2 bad input)."""
    p = make_parser(None, __doc__)  # prog: argparse's default, as before
    p.add_argument("--table", type=Path, default=DEFAULT_TIMINGS_DIR / f"{TIMING_DEVICE}.csv")
    p.add_argument("--calibration", type=Path, default=DEFAULT_TIMINGS_DIR / "calibration.json")
    p.add_argument("--device", default=TIMING_DEVICE)
    add_common(p, "out", type=Path, default=DEFAULT_OUT,
               help="the PNG (the PDF and the CSV go beside it)")
    a = p.parse_args(argv)
    out = Path(a.out)
    paths = timing_figure(Context(out=out.parent), a.table, a.calibration, a.device,
                          out.name.removesuffix(".png"))
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    run_main(main)
