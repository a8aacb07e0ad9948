"""The least a trace delivers over one RTT, per bin: what a window meets at the bottleneck.

A window of ``W`` bytes in flight on an ACK-clocked path keeps ``W - D(x)`` bytes in the
bottleneck's queue at time ``x``, where ``D(x) = C(x) - C(x - RTT)`` is what the link
delivered over the last round trip (``C`` the cumulative capacity). On a smooth trace ``D``
is the bandwidth-delay product; on a bursty one (mahimahi's 1-ms delivery opportunities,
with empty milliseconds between bursts) it dips well below it, and a drop-tail buffer of
``B`` bytes overflows as soon as ``W > B + D(x)`` at some ``x`` the window sees. The window
at which a transfer loses packets is therefore ``B`` plus the **minimum** of ``D`` over the
round, not its mean (:meth:`models.transport.TcpFlow._grow`).

:func:`window_minima` computes, once per trace, RTT and bin width, the minimum of ``D``
over each bin of one period, in closed form: ``D`` is piecewise linear with breakpoints at
the segment starts and at the starts plus the RTT, so its minimum over a bin lies at a
breakpoint or a bin edge. :meth:`WindowMinima.min_bytes` (one interval) and
:meth:`WindowMinima.min_bytes_array` (many, with a sparse table: two lookups each) read the
minimum over the bins an interval touches; both give the same floats (a minimum is exact).
A clipped trace delivers nothing after its end: there the minimum is 0. Times in seconds,
sizes in bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class WindowMinima:
    """Per-bin minima of ``C(x) - C(x - window_s)`` over one period of a trace."""

    def __init__(self, trace: Any, window_s: float, bin_s: float):
        if not (window_s > 0 and bin_s > 0):
            raise ValueError("window_s and bin_s must be positive")
        self.window_s, self.bin_s = float(window_s), float(bin_s)
        self.period_s = d = float(trace.duration_s)
        self.loop = trace.end == "loop"
        nbins = max(1, math.ceil(d / bin_s))
        starts = np.asarray(trace.times_s, dtype=float)
        edges = np.arange(nbins) * bin_s
        plus = starts + window_s
        x = np.unique(np.concatenate((starts, np.mod(plus, d) if self.loop else plus,
                                      edges, [d])))
        x = x[(x >= 0) & (x <= d)]
        # a looping trace: one period later, where x - window_s is never before 0 (C grows
        # by the period's bytes per period, so the difference is the same)
        shift = d if self.loop else 0.0

        def deliveries(at: np.ndarray) -> np.ndarray:
            return trace.cumulative_bytes_array(at + shift) - trace.cumulative_bytes_array(
                np.maximum(at + shift - window_s, 0.0))

        f = deliveries(x)
        # each bin's points from its left edge (in x) on, so that no bin is empty
        first = np.searchsorted(x, edges)
        # D is continuous: a bin's least value may be at its right edge (the next bin's
        # left edge, or the period's end)
        right = deliveries(np.append(edges[1:], d))
        self.minima = np.minimum(np.minimum.reduceat(f, first), right)
        self.nbins = nbins
        self._list = self.minima.tolist()
        self._global = float(self.minima.min())
        # sparse table over two periods (a looping interval may wrap once)
        table = [np.concatenate((self.minima, self.minima))]
        while (1 << len(table)) <= nbins:
            prev, h = table[-1], 1 << (len(table) - 1)
            table.append(np.minimum(prev[:-h], prev[h:]))
        self._table = table

    def _bins(self, t0_s: float, t1_s: float) -> tuple[int, int]:
        k0 = math.floor(t0_s / self.bin_s)
        return k0, max(k0, math.floor(t1_s / self.bin_s))

    def min_bytes(self, t0_s: float, t1_s: float) -> float:
        """The least ``C(x) - C(x - window_s)`` over the bins that ``[t0_s, t1_s]``
        touches (a looping trace repeating; a clipped one delivering nothing after its
        end)."""
        k0, k1 = self._bins(t0_s, t1_s)
        if not self.loop and k1 >= self.nbins:
            return 0.0
        if k1 - k0 + 1 >= self.nbins:
            return self._global
        a, b = k0 % self.nbins, k1 % self.nbins
        if a <= b:
            return min(self._list[a:b + 1])
        return min(min(self._list[a:]), min(self._list[:b + 1]))

    def min_bytes_array(self, t0_s: np.ndarray, t1_s: np.ndarray) -> np.ndarray:
        """:meth:`min_bytes` for arrays of intervals."""
        k0 = np.floor(np.asarray(t0_s, dtype=float) / self.bin_s)
        k1 = np.maximum(k0, np.floor(np.asarray(t1_s, dtype=float) / self.bin_s))
        span = (k1 - k0 + 1).astype(np.int64)
        whole = span >= self.nbins
        a = np.mod(k0, self.nbins).astype(np.int64)
        s = np.minimum(span, self.nbins)
        level = np.floor(np.log2(s)).astype(np.int64)
        # exact powers of two: log2 of a whole number is exact below 2**52
        out = np.empty(len(a))
        for lv in np.unique(level):
            m = level == lv
            row = self._table[lv]
            out[m] = np.minimum(row[a[m]], row[a[m] + s[m] - (1 << int(lv))])
        out[whole] = self._global
        if not self.loop:
            out[k1 >= self.nbins] = 0.0
        return out


def window_minima(trace: Any, window_s: float, bin_s: float) -> WindowMinima:
    """:class:`WindowMinima` of ``trace``, cached on the trace per (window, bin)."""
    cache = trace.__dict__.setdefault("_window_minima", {})
    key = (float(window_s), float(bin_s))
    if key not in cache:
        cache[key] = WindowMinima(trace, *key)
    return cache[key]
