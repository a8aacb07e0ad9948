"""The command line: ``python -m models.profile`` (or ``python -m models.profiling``) measures
-> timing CSV; ``... calibrate`` fits the roofline -> calibration JSON. Built on
:mod:`models.cli` (bad input: one ``error: ...`` line, exit 2)."""

from __future__ import annotations

import datetime as _dt
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.arch import get_arch
from models.cli import Parser, add_common, command, make_parser
from models.devices import get_device
from models.errors import InputError
from models.profiling.calibrate import calibrate
from models.profiling.grid import CPU_GRID, GPU_GRID, QUICK_GRID, Grid
from models.profiling.profiler import Profiler
from models.profiling.provenance import gpu_name_to_device, measure_ceilings
from models.timing import CALIBRATION_FILE, DEFAULT_TIMINGS_DIR, Calibration, _read_csv

PROG = "python -m models.profile"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def profile_parser() -> Parser:
    """The flags of ``python -m models.profile``."""
    p = make_parser(PROG, "Measure prefill/decode/KV-op times -> timing CSV "
                    "(`python -m models.profile calibrate -h` for the fit)")
    p.add_argument("--model", help="one architecture (models/arch.py name)")
    p.add_argument("--models", help="comma-separated architectures, profiled in order")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--device-name", help="models/devices.py profile written in the rows "
                   "(default: from the GPU's name; cpu-2core-x86 on the CPU)")
    p.add_argument("--dtype", choices=("bf16", "fp32", "fp16"),
                   help="weights and KV dtype (default bf16 on cuda, fp32 on cpu)")
    add_common(p, "out", required=True, type=Path, help="CSV to write")
    p.add_argument("--stacks", help="comma-separated: eager,compiled (default: both on cuda, "
                   "eager on cpu)")
    p.add_argument("--ops", default="decode,kvquant,prefill",
                   help="subset of decode,kvquant,prefill")
    p.add_argument("--quick", action="store_true", help="small grid (smoke test)")
    p.add_argument("--contexts", type=_ints, help="prefill context lengths")
    p.add_argument("--batches", type=_ints, help="prefill batch sizes")
    p.add_argument("--decode-lengths", type=_ints, help="decode cache lengths")
    p.add_argument("--decode-batches", type=_ints, help="decode batch sizes")
    p.add_argument("--quant-lengths", type=_ints, help="KV (de)quantise token counts")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-minutes", type=float, help="wall budget; points that would end "
                   "later are skipped (logged)")
    p.add_argument("--max-point-s", type=float, help="skip points estimated slower than "
                   "this per call (default: none on cuda, 60 on cpu)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="append to --out, skipping rows "
                   "it already has")
    p.add_argument("--check", action="store_true", help="check the compiled path's logits "
                   "against eager first (abort if they differ)")
    p.add_argument("--ceilings", action="store_true", help="measure matmul / copy ceilings "
                   "into the header (cuda)")
    p.add_argument("--diagnose", action="store_true", help="profile eager decode steps "
                   "(torch.profiler) per model; summary in the log and CSV comments")
    p.add_argument("--big-tokens", type=int, default=16384, help="prefills above this many "
                   "tokens x batch run after every model's other points (default %(default)s)")
    return p


def profile_main(argv: Sequence[str]) -> int:
    """Measure the models of ``argv`` (:func:`profile_parser`) into ``--out``."""
    a = profile_parser().parse_args(argv)
    names = [n.strip() for n in (a.models or a.model or "").split(",") if n.strip()]
    if not names:
        raise InputError("give --model or --models")
    archs = [get_arch(n) for n in names]
    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda but torch sees no GPU")
    if a.threads:
        torch.set_num_threads(a.threads)
    _profiler(a, argv).run(archs)
    return 0


def _profiler(a: Any, argv: Sequence[str]) -> Profiler:
    """The :class:`Profiler` the parsed flags ``a`` describe (InputError if they don't fit);
    measures the ceilings first with ``--ceilings`` on cuda."""
    dtype = a.dtype or ("bf16" if a.device == "cuda" else "fp32")
    device_name = a.device_name or (gpu_name_to_device() if a.device == "cuda"
                                    else "cpu-2core-x86")
    get_device(device_name)
    base = QUICK_GRID if a.quick else (GPU_GRID if a.device == "cuda" else CPU_GRID)
    grid = Grid(a.contexts or base.contexts, a.batches or base.batches,
                a.decode_lengths or base.decode_lengths, a.decode_batches or base.decode_batches,
                a.quant_lengths or base.quant_lengths)
    stacks = tuple(s.strip() for s in (a.stacks or ("eager,compiled" if a.device == "cuda"
                                                    else "eager")).split(","))
    bad = set(stacks) - {"eager", "compiled"}
    if bad:
        raise InputError(f"unknown stack(s) {sorted(bad)}: eager, compiled")
    ops = tuple(o.strip() for o in a.ops.split(","))
    if set(ops) - {"decode", "kvquant", "prefill"}:
        raise InputError(f"--ops {a.ops!r}: choose from decode,kvquant,prefill")
    extra = measure_ceilings() if a.ceilings and a.device == "cuda" else []
    for line in extra:
        print(line, flush=True)
    return Profiler(
        out=a.out, device=a.device, device_name=device_name, dtype_name=dtype, grid=grid,
        stacks=stacks, warmup=a.warmup, repeats=a.repeats,
        deadline_s=a.max_minutes * 60 if a.max_minutes else math.inf,
        max_point_s=a.max_point_s if a.max_point_s else (60.0 if a.device == "cpu"
                                                         else math.inf),
        ops=ops, resume=a.resume, check=a.check, diagnose=a.diagnose, big_tokens=a.big_tokens,
        argv=list(argv), header_extra=extra,
    )


def calibrate_parser() -> Parser:
    """The flags of ``python -m models.profile calibrate``."""
    p = make_parser(f"{PROG} calibrate", "Fit the roofline's efficiencies and overheads per "
                    "(device, stack) on measured rows; report held-out errors")
    p.add_argument("tables", nargs="*", type=Path,
                   help=f"timing CSVs (default: every CSV in {DEFAULT_TIMINGS_DIR})")
    add_common(p, "out", type=Path, default=DEFAULT_TIMINGS_DIR / CALIBRATION_FILE,
               help="calibration JSON to write (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="report only")
    return p


def calibrate_main(argv: Sequence[str]) -> int:
    """Fit the tables of ``argv`` (:func:`calibrate_parser`), print the report, save."""
    a = calibrate_parser().parse_args(argv)
    paths = a.tables or sorted(DEFAULT_TIMINGS_DIR.glob("*.csv"))
    rows = [r for path in paths for r in _read_csv(Path(path))]
    if not rows:
        raise InputError("no measured rows to calibrate on")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    note = (f"fitted {date} by python -m models.profile calibrate on "
            f"{', '.join(Path(x).name for x in paths)}; training rows = even-indexed context "
            "lengths at the smallest and largest batch; errors are relative")
    cal, report = calibrate(rows, note)
    print_report(cal, report)
    if not a.dry_run:
        cal.save(a.out)
        print(f"\nwrote {a.out}")
    return 0


def print_report(cal: Calibration, report: Sequence[dict]) -> None:
    """One line per fit and split: the fitted factors, calibrated and default errors."""
    print(f"{'device':9s} {'stack':8s} {'op':15s} {'c_eff':>6s} {'m_eff':>6s} {'o0 ms':>7s} "
          f"{'o1 ms/l':>7s} {'mode':4s} {'split':7s} {'n':>3s}  calibrated med / max   "
          "default med / max")
    for r in report:
        f = cal.get(r["device"], r["stack"], r["op"])
        assert f is not None
        print(f"{f.device:9s} {f.stack:8s} {f.op:15s} {f.compute_efficiency:6.3f} "
              f"{f.memory_efficiency:6.3f} {f.overhead_s * 1e3:7.3f} "
              f"{f.overhead_per_layer_s * 1e3:7.3f} {f.overhead_mode:4s} {r['split']:7s} "
              f"{r['n']:3d}  "
              f"{r['median']:8.1%} / {r['max']:6.1%}   {r['default_median']:6.1%} / "
              f"{r['default_max']:6.1%}")


@command
def main(argv: Sequence[str] | None = None) -> int:
    """``calibrate ...`` -> :func:`calibrate_main`, anything else -> :func:`profile_main`;
    bad input -> ``error: ...`` on stderr and 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "calibrate":
        return calibrate_main(args[1:])
    return profile_main(args)
