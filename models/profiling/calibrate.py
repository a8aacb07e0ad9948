"""Calibrating the roofline on measured rows: per (device, stack, op), fit compute and memory
efficiencies and a per-call overhead (:func:`fit_roofline`, :func:`fit_best`) on a training
split of the rows (:func:`split_rows`) and score the held-out rows (:func:`relative_errors`);
:func:`calibrate` does it for a whole table and returns a ``models.timing.Calibration``.

The calibrated roofline is ``max(FLOPs / (peak x c_eff), bytes / (bw x m_eff)) + o0 + o1 x
layers`` per (device, stack, op), or the max of the roofline and the overhead when host work
overlaps GPU work (see ``models.timing.RooflineFit``); fitted in log space.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from models.arch import get_arch
from models.devices import Device, get_device
from models.timing import (
    DEQUANTIZE_FLOPS_PER_ELEMENT,
    OPS,
    QUANTIZE_FLOPS_PER_ELEMENT,
    Calibration,
    RooflineFit,
    TimingRow,
    decode_bytes,
    decode_flops,
    prefill_bytes,
    prefill_flops,
    quantize_bytes,
    roofline_time_s,
)

#: Fitted in this order (the timing table's op order): prefill fixes the compute efficiency
#: that the memory-bound ops reuse.
FIT_ORDER: tuple[str, ...] = OPS
#: Ops whose overhead has a per-layer term (one model forward).
FORWARD_OPS: frozenset[str] = frozenset({"prefill", "decode"})


@dataclass(frozen=True)
class FitPoint:
    """A measured row with its roofline FLOPs and bytes."""

    row: TimingRow
    flops: float
    bytes: float
    layers: int


def roofline_terms(row: TimingRow, device: Device | None = None) -> FitPoint:
    """FLOPs and bytes of a row by ``models.timing``'s counts, at the device's native
    element size (2 B for BF16 GPUs, 4 B for the FP32 CPU profile)."""
    arch = get_arch(row.model)
    w = (device or get_device(row.device)).native_dtype_bytes
    n, b = row.context_tokens, row.batch
    if row.op == "prefill":
        fl, by = prefill_flops(arch, n, b), prefill_bytes(arch, n, b, w, w)
    elif row.op == "decode":
        fl, by = decode_flops(arch, n, b), decode_bytes(arch, n, b, w, w)
    else:
        kind, precision = row.op.split("_")
        per = QUANTIZE_FLOPS_PER_ELEMENT if kind == "quantize" else DEQUANTIZE_FLOPS_PER_ELEMENT
        fl = per * arch.kv_elements_per_token() * n
        by = quantize_bytes(arch, n, precision, w)
    return FitPoint(row, fl, by, arch.layers)


def predict(fit: RooflineFit, point: FitPoint, device: Device) -> float:
    """The calibrated roofline's seconds for a measured point."""
    return fit.time_s(point.flops, point.bytes, device, point.layers)


def _unpack(x: Sequence[float], compute_efficiency: float | None, per_layer: bool
            ) -> tuple[float, float, float, float]:
    """Fitted parameters ``[log c], log m, o0 ms, [o1 ms]`` -> (c, m, o0 s, o1 s)."""
    i = 0
    if compute_efficiency is not None:
        c = compute_efficiency
    else:
        c = math.exp(x[0])
        i = 1
    m = math.exp(x[i])
    o0 = x[i + 1] * 1e-3
    o1 = x[i + 2] * 1e-3 if per_layer else 0.0
    return c, m, o0, o1


def _bounds(fix_c: bool, per_layer: bool) -> tuple[list[float], list[float]]:
    """(lower, upper) bounds of the fitted parameters (see :func:`_unpack`)."""
    lo = ([] if fix_c else [math.log(1e-4)]) + [math.log(1e-4), 0.0] + ([0.0] if per_layer
                                                                          else [])
    hi = ([] if fix_c else [0.0]) + [0.0, 1000.0] + ([50.0] if per_layer else [])
    return lo, hi


def _starts(fix_c: bool, per_layer: bool, t_min_ms: float, mean_layers: float
            ) -> Iterator[list[float]]:
    """Starting points in the order tried: c (unless fixed) x m x overhead (none, half and
    90 % of the fastest measured time, all in the per-layer term when there is one)."""
    for c0 in ([None] if fix_c else [0.05, 0.3, 0.8]):
        for m0 in (0.05, 0.3, 0.8):
            for o_start in (0.0, 0.5 * t_min_ms, 0.9 * t_min_ms):
                x0 = ([] if c0 is None else [math.log(c0)]) + [math.log(m0), min(o_start, 999.0)]
                if per_layer:
                    x0 += [min(o_start / mean_layers, 49.0)]
                    x0[-2] = 0.0
                yield x0


def fit_roofline(points: Sequence[FitPoint], device: Device, stack: str, op: str,
                 per_layer: bool = True, compute_efficiency: float | None = None,
                 note: str = "", overhead_mode: str = "add") -> RooflineFit:
    """Least-squares fit, in log time, of ``max(F / (peak c), B / (bw m)) + o`` (or, with
    ``overhead_mode="max"``, ``max(F / (peak c), B / (bw m), o)``), ``o = o0 + o1 x layers``.

    ``per_layer=False`` fixes o1 = 0; ``compute_efficiency`` given fixes c (for ops that are
    never compute-bound: decode, the KV ops). Efficiencies are bounded to (1e-4, 1],
    overheads to [0, 1] s (o0) and [0, 50] ms (o1). Several starts; the best is kept, its
    cost (half the sum of squared log residuals) in ``errors["fit_cost"]``.
    """
    import numpy as np
    from scipy.optimize import least_squares

    if not points:
        raise ValueError("no points to fit")
    fl = np.array([p.flops for p in points])
    by = np.array([p.bytes for p in points])
    layers = np.array([p.layers for p in points], dtype=float)
    y = np.log(np.array([p.row.time_s for p in points]))
    peak, bw = device.peak_flops_per_s, device.memory_bandwidth_bytes_per_s
    fix_c = compute_efficiency is not None

    def residual(x):
        c, m, o0, o1 = _unpack(x, compute_efficiency, per_layer)
        roof = np.maximum(fl / (peak * c), by / (bw * m))
        o = o0 + o1 * layers
        t = np.maximum(roof, o) if overhead_mode == "max" else roof + o
        return np.log(np.maximum(t, 1e-12)) - y

    bounds = _bounds(fix_c, per_layer)
    t_min_ms = 1e3 * float(np.exp(y.min()))
    best = None
    for x0 in _starts(fix_c, per_layer, t_min_ms, float(layers.mean())):
        res = least_squares(residual, x0, bounds=bounds, method="trf", x_scale="jac",
                            max_nfev=2000)
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    c, m, o0, o1 = _unpack(best.x, compute_efficiency, per_layer)
    return RooflineFit(device.name, stack, op, float(c), float(m), float(o0), float(o1),
                       overhead_mode=overhead_mode, errors={"fit_cost": float(best.cost)},
                       note=note)


def fit_best(points: Sequence[FitPoint], device: Device, stack: str, op: str,
             per_layer: bool, compute_efficiency: float | None, note: str = "") -> RooflineFit:
    """:func:`fit_roofline` with overhead added and with overhead overlapping; the one with
    the lower training cost wins (chosen on training rows only)."""
    fits = [fit_roofline(points, device, stack, op, per_layer, compute_efficiency, note, mode)
            for mode in ("add", "max")]
    return min(fits, key=lambda f: f.errors["fit_cost"])


def split_rows(rows: Iterable[TimingRow]) -> tuple[list[TimingRow], list[TimingRow]]:
    """(training, held-out). Per (model, device, stack, op): rows at the even-indexed
    context lengths (0, 2, 4, ... of that op's sorted lengths) AND at the smallest or largest
    batch train the fit; every other row (odd-indexed lengths, middle batches) is held out."""
    rows = list(rows)
    contexts: dict[tuple[str, str, str, str], list[int]] = {}
    batches: dict[tuple[str, str, str, str], list[int]] = {}
    for r in rows:
        k = (r.model, r.device, r.stack, r.op)
        contexts.setdefault(k, []).append(r.context_tokens)
        batches.setdefault(k, []).append(r.batch)
    train, held = [], []
    for r in rows:
        k = (r.model, r.device, r.stack, r.op)
        order = sorted(set(contexts[k]))
        bs = batches[k]
        even = order.index(r.context_tokens) % 2 == 0
        edge = r.batch in (min(bs), max(bs))
        (train if even and edge else held).append(r)
    return train, held


def relative_errors(fit: RooflineFit | None, points: Sequence[FitPoint],
                    device: Device) -> list[float]:
    """|predicted - measured| / measured per point (``fit=None``: the default roofline)."""
    out = []
    for p in points:
        if fit is None:
            pred = roofline_time_s(p.flops, p.bytes, device)
        else:
            pred = predict(fit, p, device)
        out.append(abs(pred - p.row.time_s) / p.row.time_s)
    return out


def error_summary(errors: Sequence[float]) -> dict[str, float]:
    """Median and max of relative errors (NaN when empty) and their count."""
    if not errors:
        return {"median": math.nan, "max": math.nan, "n": 0.0}
    return {"median": float(statistics.median(errors)), "max": float(max(errors)),
            "n": float(len(errors))}


def _sig(x: float, digits: int = 5, floor: float = 0.0) -> float:
    """``x`` to ``digits`` significant digits (0 below ``floor``), for a readable JSON."""
    if not math.isfinite(x) or abs(x) < floor:
        return 0.0 if math.isfinite(x) else x
    return float(f"{x:.{digits}g}")


def calibrate(rows: Sequence[TimingRow], note: str = "") -> tuple[Calibration, list[dict]]:
    """Fit every (device, stack, op) of ``rows`` on the training split (:func:`split_rows`):
    prefill with free c, m, o0, o1; decode with c fixed to prefill's (decode is never
    compute-bound) and free m, o0, o1; each KV op with that c and free m, o0 (one tensor, no
    per-layer term). Returns the calibration and a report (one dict per fit and split) with
    the calibrated and the default roofline's relative errors."""
    train, held = split_rows(rows)
    report: list[dict] = []
    fits: list[RooflineFit] = []
    for device_name, stack in sorted({(r.device, r.stack) for r in rows}):
        device = get_device(device_name)
        prefill_c = None
        for op in FIT_ORDER:
            tr = [roofline_terms(r, device) for r in train
                  if (r.device, r.stack, r.op) == (device_name, stack, op)]
            he = [roofline_terms(r, device) for r in held
                  if (r.device, r.stack, r.op) == (device_name, stack, op)]
            if len(tr) < 4:
                continue
            fixed_c = None if op == "prefill" else (prefill_c or 1.0)
            fit = fit_best(tr, device, stack, op, per_layer=op in FORWARD_OPS,
                           compute_efficiency=fixed_c, note=note)
            if op == "prefill":
                prefill_c = fit.compute_efficiency
            key = {"device": device_name, "stack": stack, "op": op}
            errors, rows_report = _score(fit, tr, he, device, key)
            report += rows_report
            fits.append(_rounded(fit, errors))
    return Calibration(fits, note), report


def _score(fit: RooflineFit, train: Sequence[FitPoint], held: Sequence[FitPoint],
           device: Device, key: dict[str, str]) -> tuple[dict[str, float], list[dict]]:
    """The fit's errors (its own plus the calibrated and the default roofline's relative
    errors per split) and one report dict per split (``key``: its device, stack and op)."""
    errors: dict[str, float] = dict(fit.errors)
    report: list[dict] = []
    for name, pts in (("train", train), ("heldout", held)):
        cal = error_summary(relative_errors(fit, pts, device))
        default = error_summary(relative_errors(None, pts, device))
        errors.update({f"{name}_median": cal["median"], f"{name}_max": cal["max"],
                       f"{name}_n": cal["n"],
                       f"default_roofline_{name}_median": default["median"],
                       f"default_roofline_{name}_max": default["max"]})
        report.append({**key, "split": name, "n": int(cal["n"]), "median": cal["median"],
                       "max": cal["max"], "default_median": default["median"],
                       "default_max": default["max"]})
    return errors, report


def _rounded(fit: RooflineFit, errors: dict[str, float]) -> RooflineFit:
    """``fit`` with ``errors`` and every number to 5 significant digits (see :func:`_sig`),
    without its note."""
    return replace(
        fit, note="", errors={k: _sig(v) for k, v in errors.items()},
        compute_efficiency=_sig(fit.compute_efficiency),
        memory_efficiency=_sig(fit.memory_efficiency),
        overhead_s=_sig(fit.overhead_s, floor=1e-9),
        overhead_per_layer_s=_sig(fit.overhead_per_layer_s, floor=1e-9))
