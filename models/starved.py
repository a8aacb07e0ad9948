"""Starved windows of a trace: the instants from which the link carries less than a given
number of bytes over a given time, found once per trace in closed form.

A TCP retransmission timer can fire only where one packet takes longer than the timer's
least value (RFC 6298's 200 ms minimum) to leave the bottleneck; that packet's interval
then starts at such an instant. :func:`starved_spans` lists them for one trace (one period,
as disjoint intervals), so a transport model can skip, in one search, every stretch of a
transfer in which no timer can fire, instead of checking each low-capacity segment
(:meth:`models.transport.TcpFlow._serve`). The spans are a **superset**, widened by a margin
against float rounding: a query may find a span where no packet starves (the caller then
checks exactly), never miss one.

``f(x) = C(x + W) - C(x)`` (``C`` the cumulative capacity, ``W`` the window) is continuous
and piecewise linear, with breakpoints at the segment starts and at the starts minus ``W``
(modulo the period for a looping trace); on each piece ``f < size`` holds on an interval
found by one linear solve. Times in seconds, sizes in bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: widening of every span on each side (s) and of the size (relative): float rounding
_MARGIN_S = 1e-6
_SIZE_SLACK = 1e-9


def starved_spans(trace: Any, size_bytes: float, window_s: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends), sorted and disjoint, within one period ``[0, duration_s]``: every
    ``x`` at which the trace carries fewer than ``size_bytes`` over ``[x, x + window_s]``
    lies in one of them (each widened by a margin). For a clipped trace the last span runs
    to ``inf`` (nothing is carried after the end). Cached on the trace per argument."""
    cache = trace.__dict__.setdefault("_starved", {})
    key = (float(size_bytes), float(window_s))
    if key not in cache:
        cache[key] = _spans(trace, *key)
    return cache[key]


def _spans(trace: Any, size: float, w: float) -> tuple[np.ndarray, np.ndarray]:
    d = trace.duration_s
    starts = np.asarray(trace.times_s, dtype=float)
    if trace.end == "loop":
        shifted = np.mod(starts - w, d)
    else:
        shifted = (np.append(starts, d) - w)
        shifted = shifted[shifted > 0]
    x = np.unique(np.concatenate((starts, shifted, [0.0, d])))
    x = x[(x >= 0) & (x <= d)]
    f = trace.cumulative_bytes_array(x + w) - trace.cumulative_bytes_array(x)
    limit = size * (1 + _SIZE_SLACK)
    below = f < limit
    x0, x1, f0, f1 = x[:-1], x[1:], f[:-1], f[1:]
    b0, b1 = below[:-1], below[1:]
    some = b0 | b1
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (limit - f0) / (f1 - f0)  # where the piece crosses the limit
    cross = x0 + np.clip(np.nan_to_num(frac, nan=0.0), 0.0, 1.0) * (x1 - x0)
    lo = np.where(b0, x0, cross)[some]
    hi = np.where(b1, x1, cross)[some]
    if lo.size:  # merge touching pieces
        new = np.concatenate(([True], lo[1:] > hi[:-1]))
        lo, hi = lo[new], np.maximum.reduceat(hi, np.flatnonzero(new))
    lo, hi = lo - _MARGIN_S, hi + _MARGIN_S
    if trace.end == "clip":
        lo = np.append(lo, max(d - w, 0.0) - _MARGIN_S)
        hi = np.append(hi, math.inf)
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], np.maximum.accumulate(hi[order])
    return lo, hi


def next_starved_s(trace: Any, spans: tuple[np.ndarray, np.ndarray], t_s: float,
                   horizon_s: float) -> float:
    """The first instant at or after ``t_s`` and before ``horizon_s`` that lies in one of
    ``spans`` (:func:`starved_spans` of ``trace``), else ``inf``: ``t_s`` itself when it
    lies in one."""
    lo, hi = spans
    if not lo.size or not t_s < horizon_s:
        return math.inf
    d = trace.duration_s
    if trace.end == "loop" and math.isfinite(t_s):
        k = math.floor(t_s / d)
        base = k * d
        local = t_s - base
    else:
        base, local = 0.0, t_s
    i = int(np.searchsorted(hi, local, side="left"))  # first span ending at or after t
    if i < lo.size:
        z = t_s if lo[i] <= local else base + lo[i]
    elif trace.end == "loop":
        z = base + d + lo[0]
    else:
        return math.inf
    return z if z < horizon_s else math.inf


def any_starved_array(trace: Any, spans: tuple[np.ndarray, np.ndarray], t_s: np.ndarray,
                      horizon_s: np.ndarray) -> np.ndarray:
    """Whether some instant of ``[t_s, horizon_s)`` lies in one of ``spans``, at many times
    (a looping trace; the same test as :func:`next_starved_s` ``< horizon_s``)."""
    lo, hi = spans
    t_s = np.asarray(t_s, dtype=float)
    if not lo.size:
        return np.zeros(t_s.shape, bool)
    d = trace.duration_s
    base = np.floor(t_s / d) * d
    local = t_s - base
    i = np.searchsorted(hi, local, side="left")
    inside = i < lo.size
    ii = np.minimum(i, lo.size - 1)
    z = np.where(inside, np.where(lo[ii] <= local, t_s, base + lo[ii]), base + d + lo[0])
    return (z < horizon_s) & (t_s < horizon_s)
