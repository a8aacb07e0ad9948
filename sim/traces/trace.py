"""Canonical network trace: piecewise-constant capacity (bytes/s) and RTT (s) over time.

Semantics (the same for every reader):
- Sample i holds on ``[times_s[i], times_s[i+1])``; the trace is shifted so it starts at 0 s.
- The last sample holds for ``last_duration_s`` (by default the median of the earlier
  sampling intervals, or 1 s for a one-sample trace), so the period is
  ``duration_s = times_s[-1] + last_duration_s``.
- ``end="loop"`` (default) repeats the trace with that period; ``end="clip"`` gives zero
  capacity after the end, so a transfer that has not finished by then never finishes.
- In period ``k`` sample i holds from the float ``k * duration_s + times_s[i]`` (as rounded);
  every piecewise-constant lookup (:meth:`Trace.capacity_at`, :meth:`Trace.rtt_at`, the
  boundaries :meth:`Trace.next_change_s` and :meth:`Trace.next_drop_below_s` return) uses
  these same floats, so a returned boundary is the first instant of its new segment.

All transfer arithmetic works in cumulative-capacity space: ``cum_bytes[i]`` is the number
of bytes the link could carry from 0 to ``times_s[i]``. A transfer's finish time is found by
searching that curve for the byte level and inverting inside one segment: exact for a
piecewise-constant trace and O(log n), with no time stepping.
"""

from __future__ import annotations

import csv
import math
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.errors import InputError
from models.files import check_output_file
from models.units import BYTES_PER_S_PER_MBPS  # re-exported: 1 Mbit/s = 125,000 bytes/s
from sim.traces.lookup import searchsorted


@dataclass
class Trace:
    """A canonical trace; build it with :meth:`from_arrays`, :meth:`constant` or a reader."""

    times_s: np.ndarray
    capacity_bytes_per_s: np.ndarray
    rtt_s: np.ndarray | None
    duration_s: float
    end: str = "loop"
    name: str = "trace"
    cum_bytes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        seg = np.diff(np.append(self.times_s, self.duration_s))
        self.cum_bytes = np.concatenate(([0.0], np.cumsum(self.capacity_bytes_per_s * seg)))
        # Python lists make scalar bisect faster than numpy for one lookup at a time.
        self._t = self.times_s.tolist()
        self._c = self.cum_bytes.tolist()
        self._cap = self.capacity_bytes_per_s.tolist()
        self._rtt = None if self.rtt_s is None else self.rtt_s.tolist()
        self.period_bytes = float(self.cum_bytes[-1])
        self._max_cap = float(self.capacity_bytes_per_s.max())
        self._min_cap = float(self.capacity_bytes_per_s.min())
        if self.end not in ("loop", "clip"):
            raise InputError(f"trace end must be 'loop' or 'clip', not {self.end!r}")
        if self.end == "loop" and self.period_bytes <= 0:
            raise InputError("trace has zero capacity over its whole length", self.name)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        times_s,
        capacity_bytes_per_s,
        rtt_s=None,
        *,
        last_duration_s: float | None = None,
        end: str = "loop",
        name: str = "trace",
    ) -> Trace:
        """Validate and build a trace; times are shifted to start at 0."""
        t = np.asarray(times_s, dtype=float)
        c = np.asarray(capacity_bytes_per_s, dtype=float)
        if t.ndim != 1 or t.size == 0 or t.shape != c.shape:
            raise InputError("trace needs one or more (time, capacity) samples", name)
        if not np.all(np.isfinite(t)) or not np.all(np.isfinite(c)):
            raise InputError("trace has a NaN or infinite value", name)
        if np.any(c < 0):
            raise InputError("trace has a negative capacity", name)
        if np.any(np.diff(t) <= 0):
            raise InputError("trace timestamps must be strictly increasing", name)
        r = None
        if rtt_s is not None:
            r = np.asarray(rtt_s, dtype=float)
            if r.shape != t.shape or not np.all(np.isfinite(r)) or np.any(r < 0):
                raise InputError("trace RTT must be finite and non-negative", name)
        t = t - t[0]
        if last_duration_s is None:
            last_duration_s = float(np.median(np.diff(t))) if t.size > 1 else 1.0
        if not last_duration_s > 0:
            raise InputError("trace's last sample needs a positive duration", name)
        return cls(t, c, r, float(t[-1] + last_duration_s), end=end, name=name)

    @classmethod
    def constant(cls, bandwidth_mbps: float, rtt_ms: float = 0.0, name: str = "constant") -> Trace:
        """A constant link (one segment, looping forever)."""
        if not (bandwidth_mbps > 0 and math.isfinite(bandwidth_mbps)):
            raise InputError(f"bandwidth must be a positive number of Mbit/s, not {bandwidth_mbps}")
        if not (rtt_ms >= 0 and math.isfinite(rtt_ms)):
            raise InputError(f"RTT must be a non-negative number of ms, not {rtt_ms}")
        return cls.from_arrays(
            [0.0], [bandwidth_mbps * BYTES_PER_S_PER_MBPS], [rtt_ms / 1e3],
            last_duration_s=1.0, name=name,
        )

    def scaled(self, factor: float) -> Trace:
        """The same trace with every capacity multiplied by ``factor`` (> 0)."""
        if not (factor > 0 and math.isfinite(factor)):
            raise InputError(f"bandwidth scale must be positive, not {factor}")
        return Trace(self.times_s, self.capacity_bytes_per_s * factor, self.rtt_s,
                     self.duration_s, end=self.end, name=self.name)

    def with_rtt(self, times_s, rtt_s, *, period_s: float | None = None) -> Trace:
        """This capacity trace with a piecewise-constant RTT series (s) merged onto it.

        RTT sample j holds on ``[times_s[j], times_s[j+1])`` (times shifted to start at 0).
        The RTT series loops with its own period ``period_s`` (default: last time + the
        median probe interval, or 1 s for one probe; e.g. n s for n probes at 1/s).

        Merge rule: the merged trace's period is this trace's period ``D``, or, for a looping
        trace whose ``D`` is shorter than the RTT period, ``k*D`` with the capacity repeated
        ``k = ceil(period_s / D)`` times, so the whole RTT series plays once per merged
        period. Within a merged period the RTT loops with ``period_s``; it restarts with each
        merged period. The segment grid is the union of the capacity and RTT breakpoints, and
        each merged segment keeps the capacity of the capacity segment it lies in, so the
        capacity function and its integral (every ``cumulative_bytes`` value) are unchanged
        up to float rounding. Any existing RTT is replaced; end mode and name are kept.
        """
        t = np.asarray(times_s, dtype=float)
        r = np.asarray(rtt_s, dtype=float)
        name = self.name
        if t.ndim != 1 or t.size == 0 or t.shape != r.shape:
            raise InputError("RTT trace needs one or more (time, RTT) samples", name)
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))) or np.any(r < 0):
            raise InputError("RTT trace must be finite with non-negative RTTs", name)
        if np.any(np.diff(t) <= 0):
            raise InputError("RTT trace timestamps must be strictly increasing", name)
        t = t - t[0]
        if period_s is None:
            period_s = float(t[-1] + (np.median(np.diff(t)) if t.size > 1 else 1.0))
        if not (math.isfinite(period_s) and period_s > t[-1]):
            raise InputError(f"RTT period must exceed the last RTT time ({t[-1]} s), "
                             f"not {period_s}", name)
        k = math.ceil(period_s / self.duration_s) if self.end == "loop" else 1
        duration = k * self.duration_s
        reps = math.ceil(duration / period_s)
        if reps * t.size + k * self.times_s.size > 20_000_000:
            raise InputError("the merged trace would exceed 20 million segments", name)
        if k > 1:
            c_times = (np.arange(k, dtype=float)[:, None] * self.duration_s
                       + self.times_s[None, :]).ravel()
            c_caps = np.tile(self.capacity_bytes_per_s, k)
        else:
            c_times, c_caps = self.times_s, self.capacity_bytes_per_s
        tiles = (np.arange(reps, dtype=float)[:, None] * period_s + t[None, :]).ravel()
        grid = np.union1d(c_times, tiles[tiles < duration])
        cap = c_caps[np.searchsorted(c_times, grid, side="right") - 1]
        mid = (grid + np.append(grid[1:], duration)) / 2  # strictly inside a segment
        local = mid - np.floor(mid / period_s) * period_s
        j = np.clip(np.searchsorted(t, local, side="right") - 1, 0, t.size - 1)
        return Trace(grid, cap, r[j], duration, end=self.end, name=name)

    def smoothed(self, bin_s: float) -> Trace:
        """The trace averaged over bins of ``bin_s`` (the same cumulative capacity at every
        bin edge), or itself when its segments last ``bin_s`` or longer on the median:
        what a transport's decisions read where a trace is a fine staircase (mahimahi's
        1-ms packet opportunities), so that the gap between two opportunities is not taken
        for an outage, and the emulation's replay (``experiments.emulate.tc_trace``). Cached
        per ``bin_s``."""
        cache = self.__dict__.setdefault("_smoothed", {})
        if bin_s not in cache:
            seg = np.diff(np.append(self.times_s, self.duration_s))
            if np.median(seg) >= bin_s:
                cache[bin_s] = self
            else:
                edges = np.arange(0.0, self.duration_s, bin_s)
                ends = np.minimum(edges + bin_s, self.duration_s)
                cum = self.cumulative_bytes_array(np.append(edges, self.duration_s))
                rates = np.diff(cum) / (ends - edges)
                cache[bin_s] = Trace.from_arrays(
                    edges, rates, last_duration_s=float(ends[-1] - edges[-1]), end=self.end,
                    name=f"{self.name} ({bin_s:g} s bins)")
        return cache[bin_s]

    def rotated(self, offset_s: float) -> Trace:
        """A looping trace that starts ``offset_s`` into this one: capacity at ``t`` is this
        trace's at ``t + offset_s`` (another device's position on the same trace). A clipped
        trace is cut at the offset instead (its end comes ``offset_s`` sooner)."""
        d = self.duration_s
        if not (math.isfinite(offset_s) and offset_s >= 0):
            raise InputError(f"trace offset must be a non-negative number of s, not {offset_s}")
        off = offset_s - math.floor(offset_s / d) * d if self.end == "loop" else offset_s
        if off == 0:
            return self
        if off >= d:
            raise InputError(f"offset {offset_s} s is past the end of the clipped trace",
                             self.name)
        i = self._segment(off)
        head_t = np.concatenate(([off], self.times_s[i + 1:]))
        idx = np.arange(i, len(self.times_s))
        times, caps = head_t - off, self.capacity_bytes_per_s[idx]
        rtt = None if self.rtt_s is None else self.rtt_s[idx]
        if self.end == "loop":
            wrap = self.times_s[:i + 1] if self.times_s[i] < off else self.times_s[:i]
            times = np.concatenate((times, wrap + (d - off)))
            caps = np.concatenate((caps, self.capacity_bytes_per_s[:len(wrap)]))
            if rtt is not None:
                rtt = np.concatenate((rtt, self.rtt_s[:len(wrap)]))
        duration = d if self.end == "loop" else d - off
        # drop a zero-length split, and a wrap so short that d - off rounds to d
        keep = np.concatenate(([True], np.diff(times) > 0)) & (times < duration)
        return Trace(times[keep], caps[keep], None if rtt is None else rtt[keep], duration,
                     end=self.end, name=f"{self.name}+{offset_s:g}s")

    @property
    def max_capacity_bytes_per_s(self) -> float:
        """The largest capacity the trace ever offers."""
        return self._max_cap

    @property
    def min_capacity_bytes_per_s(self) -> float:
        """The smallest capacity (0 after the end of a clipped trace)."""
        return 0.0 if self.end == "clip" else self._min_cap

    @property
    def is_constant(self) -> bool:
        return self.end == "loop" and self._max_cap == self._min_cap

    def next_change_s(self, t_s: float) -> float:
        """The first segment boundary strictly after ``t_s`` (``inf`` for a constant trace
        or past the end of a clipped one): capacity is constant on ``[t_s, next)``, and
        :meth:`capacity_at` of the returned boundary is the new segment's capacity."""
        if self.is_constant:
            return math.inf
        _, base, end, j = self._locate(t_s)
        if j + 1 >= len(self._t):  # the period's end (a clipped trace's end is a change too)
            return math.inf if j >= len(self._t) else end
        start = base + self._t[j + 1]
        return start if start < end else end

    def next_drop_below_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        """The first segment boundary after ``t_s`` and before ``horizon_s`` where the
        capacity falls below ``threshold`` bytes/s (``inf`` if none does): until then the
        link keeps carrying at least ``threshold``, and :meth:`capacity_at` of the returned
        boundary is below it. Scans segments forward (at most one period when the horizon
        is infinite), skipping blocks of segments whose least capacity is not below."""
        if self.end == "loop" and self._min_cap >= threshold:
            return math.inf
        return self._next_boundary(t_s, horizon_s, threshold, below=True)

    def next_rise_above_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        """The first segment boundary after ``t_s`` and before ``horizon_s`` where the
        capacity rises above ``threshold`` bytes/s (``inf`` if none does); the mirror of
        :meth:`next_drop_below_s`."""
        if self._max_cap <= threshold:
            return math.inf
        return self._next_boundary(t_s, horizon_s, threshold, below=False)

    #: segments per block of the blocks' least and largest capacities (scans skip blocks)
    _BLOCK = 64

    def _blocks(self) -> tuple[list[float], list[float]]:
        """Least and largest capacity of each block of :attr:`_BLOCK` segments (cached)."""
        if getattr(self, "_block_lo", None) is None:
            caps = self.capacity_bytes_per_s
            b = self._BLOCK
            self._block_lo = [float(caps[i:i + b].min()) for i in range(0, len(caps), b)]
            self._block_hi = [float(caps[i:i + b].max()) for i in range(0, len(caps), b)]
        return self._block_lo, self._block_hi

    def _next_boundary(self, t_s: float, horizon_s: float, threshold: float,
                       below: bool) -> float:
        """The first segment start after ``t_s`` and before ``horizon_s`` whose capacity is
        below (``below``) or above ``threshold`` (a clipped trace's end counts as a drop
        below a positive threshold), else ``inf``."""
        k, base, end, j = self._locate(t_s)
        t, cap, n, d = self._t, self._cap, len(self._t), self.duration_s
        if j >= n:
            return math.inf
        lo, hi = self._blocks()
        size = self._BLOCK

        def misses(block: int) -> bool:  # no segment of the block can hit
            return lo[block] >= threshold if below else hi[block] <= threshold

        for _ in range(2 * n + 2):
            j += 1
            if j >= n:
                if self.end == "clip":  # capacity drops to 0 at the end
                    return end if below and threshold > 0 and end < horizon_s else math.inf
                k, j = k + 1, 0
                base, end = end, (k + 1) * d
            if j % size == 0:  # a block starts: skip whole blocks none of which can hit
                while misses(j // size) and j + size < n:
                    if min(base + t[j + size], end) >= horizon_s:
                        return math.inf
                    j += size
                if misses(j // size):  # the period's last block misses too: wrap
                    j = n - 1
                    continue
            start = base + t[j]
            if start > end:
                start = end
            if start >= horizon_s:
                return math.inf
            hit = cap[j] < threshold if below else cap[j] > threshold
            # (a segment shorter than the float spacing at this time never holds: skip it)
            if hit and (end if j + 1 >= n else min(base + t[j + 1], end)) > start:
                return start
        return math.inf

    def with_end(self, end: str) -> Trace:
        return Trace(self.times_s, self.capacity_bytes_per_s, self.rtt_s, self.duration_s,
                     end=end, name=self.name)

    # ----------------------------------------------------------------- queries
    def _local(self, t_s: float) -> tuple[int, float]:
        """(period number, time within the period) for an absolute time."""
        if self.end == "clip" or t_s < self.duration_s:
            return 0, t_s
        k = math.floor(t_s / self.duration_s)
        local = t_s - k * self.duration_s
        if local < 0:  # float guards: keep 0 <= local < duration
            k -= 1
            local += self.duration_s
        elif local >= self.duration_s:
            k += 1
            local -= self.duration_s
        return k, max(0.0, local)

    def _segment(self, local_s: float) -> int:
        return bisect_right(self._t, local_s) - 1

    # Segment j of period k starts at the float ``min(k * d + t_j, (k + 1) * d)``: the sum
    # rounds (and may round onto the period's end, leaving the segment empty). A time is
    # placed in a segment by comparing it with these very floats, not by where the rounded
    # difference ``t - k * d`` falls among the ``t_j``, so each boundary that
    # next_change_s or next_drop_below_s returns is, exactly, the first instant of the
    # segment it starts, in every period.
    def _locate(self, t_s: float) -> tuple[int, float, float, int]:
        """(k, k * d, (k + 1) * d, j): segment ``j`` of period ``k`` holds at ``t_s``, i.e.
        it has the last start at or before ``t_s``; ``j == n`` past the end of a clipped
        trace (whose only period is 0)."""
        t, n, d = self._t, len(self._t), self.duration_s
        if self.end == "clip" or 0.0 <= t_s < d:  # period 0: the starts are the t_j
            return 0, 0.0, d, n if t_s >= d else max(bisect_right(t, t_s) - 1, 0)
        if math.ulp(t_s) >= d:  # the guards below would step k one period at a time forever
            raise InputError(f"time {t_s:.3g} s is beyond what a {d:g} s trace can resolve "
                             "(its period is below the float spacing there)", self.name)
        k = math.floor(t_s / d)
        base = k * d
        while base > t_s:  # float guards: k * d <= t_s < (k + 1) * d
            k -= 1
            base = k * d
        end = (k + 1) * d
        while end <= t_s:
            k += 1
            base, end = end, (k + 1) * d
        j = bisect_right(t, t_s - base) - 1  # a first guess: the difference rounds too
        # (as end > t_s, comparing base + t_j with t_s is comparing the start with it)
        while j + 1 < n and base + t[j + 1] <= t_s:
            j += 1
        while j > 0 and base + t[j] > t_s:
            j -= 1
        return k, base, end, j

    def capacity_at(self, t_s: float) -> float:
        """Capacity in bytes/s at absolute time ``t_s`` (0 after the end when clipped)."""
        j = self._locate(t_s)[3]
        return self._cap[j] if j < len(self._t) else 0.0

    def rtt_at(self, t_s: float, default_s: float = 0.0) -> float:
        """RTT in s at ``t_s``; ``default_s`` when the trace has no RTT column."""
        if self._rtt is None:
            return default_s
        return self._rtt[min(self._locate(t_s)[3], len(self._t) - 1)]  # clipped: the last

    def cumulative_bytes(self, t_s: float) -> float:
        """Bytes the link can carry from time 0 to ``t_s`` (the cumulative capacity curve)."""
        if t_s <= 0:
            return 0.0
        if t_s < self.duration_s:  # period 0 (as _local finds it, without the call)
            k, local = 0, t_s
        else:
            k, local = self._local(t_s)
            if local >= self.duration_s:  # clipped, past the end
                return self.period_bytes
        i = bisect_right(self._t, local) - 1  # _segment
        return k * self.period_bytes + self._c[i] + self._cap[i] * (local - self._t[i])

    def bytes_between(self, t0_s: float, t1_s: float) -> float:
        """Integral of capacity over ``[t0_s, t1_s]`` in bytes."""
        return self.cumulative_bytes(t1_s) - self.cumulative_bytes(t0_s)

    def finish_time(self, start_s: float, size_bytes: float) -> float:
        """Earliest time at which ``size_bytes`` sent from ``start_s`` have been delivered.

        Exact for the fluid model: solve ``C(t) = C(start) + size`` on the cumulative
        curve. Returns ``math.inf`` when a clipped trace ends first.
        """
        if size_bytes <= 0:
            return start_s
        return self.finish_time_from(start_s, self.cumulative_bytes(start_s), size_bytes)

    def finish_time_from(self, start_s: float, level_bytes: float, size_bytes: float) -> float:
        """:meth:`finish_time` given ``level_bytes``, the :meth:`cumulative_bytes` at
        ``start_s`` (a caller that needs it for several sizes computes it once), and a
        positive ``size_bytes``."""
        target = level_bytes + size_bytes
        p = self.period_bytes
        if self.end == "clip":
            if target > p:
                return math.inf
            k, rem = 0, target
        else:
            # rem in (0, p]: the level lies in period k (a level equal to a whole number of
            # periods is reached at the end of the previous one, possibly before a zero tail).
            k = math.ceil(target / p) - 1
            rem = target - k * p
            if rem <= 0:  # float guards
                k -= 1
                rem += p
            rem = min(rem, p)
        j = bisect_left(self._c, rem)  # first j with cum[j] >= rem
        if j < len(self._t) and self._c[j] == rem:
            local = self._t[j]
        elif j >= len(self._c) - 1 and self._c[-1] == rem:
            local = self.duration_s
        else:
            i = j - 1
            local = self._t[i] + (rem - self._c[i]) / self._cap[i]
        return max(start_s, k * self.duration_s + local)

    # ----------------------------------------------------------------- array versions
    def _local_array(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`_local` (same float guards)."""
        if self.end == "clip":
            return np.zeros_like(t_s), t_s
        d = self.duration_s
        k = np.floor(t_s / d)
        local = t_s - k * d
        neg, over = local < 0, local >= d
        k = np.where(neg, k - 1, np.where(over, k + 1, k))
        local = np.where(neg, local + d, np.where(over, local - d, local))
        return k, np.maximum(local, 0.0)

    def cumulative_bytes_array(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`cumulative_bytes`."""
        t_s = np.asarray(t_s, dtype=float)
        if self.end == "loop" and t_s.ndim == 1:
            return self._cumulative_bytes_loop(t_s)
        k, local = self._local_array(np.maximum(t_s, 0.0))
        past = local >= self.duration_s  # only when clipped
        local_in = np.where(past, 0.0, local)
        i = np.searchsorted(self.times_s, local_in, side="right") - 1
        out = k * self.period_bytes + self.cum_bytes[i] + self.capacity_bytes_per_s[i] * (
            local_in - self.times_s[i])
        out = np.where(past, self.period_bytes, out)
        return np.where(t_s <= 0, 0.0, out)

    def _cumulative_bytes_loop(self, t_s: np.ndarray) -> np.ndarray:
        """:meth:`cumulative_bytes_array` of a looping trace: the same float operations on
        each time, with fewer passes over the arrays (the float guards of :meth:`_local`
        and the clamp of times at or below 0 only where they apply)."""
        d = self.duration_s
        k = t_s / d
        np.floor(k, out=k)
        local = k * d
        np.subtract(t_s, local, out=local)
        odd = (local < 0) | (local >= d)
        if odd.any():  # the float guards of _local_array (the clamp of negatives included)
            k, local = self._local_array(np.maximum(t_s, 0.0))
        i = searchsorted(self, "times", self.times_s, d, local, "right")
        i -= 1
        out = k
        out *= self.period_bytes
        out += self.cum_bytes[i]
        local -= self.times_s[i]
        local *= self.capacity_bytes_per_s[i]
        out += local
        low = t_s <= 0
        if low.any():
            out[low] = 0.0
        return out

    def _time_at_level_loop(self, level: np.ndarray) -> np.ndarray | None:
        """:meth:`time_at_level_array` of a looping trace with every level positive and
        finite (else None): the same float operations with fewer passes."""
        p = self.period_bytes
        k = level / p
        np.ceil(k, out=k)
        k -= 1
        rem = k * p
        np.subtract(level, rem, out=rem)
        if not (rem.size and rem.min() > 0 and rem.max() <= p and level.min() > 0):
            return None  # a float guard applies, or a level is not a positive number
        j = searchsorted(self, "levels", self.cum_bytes, p, rem, "left")  # 1 <= j <= n
        i = j - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            local = rem - self.cum_bytes[i]
            local /= self.capacity_bytes_per_s[i]
            local += self.times_s[i]
        exact = self.cum_bytes[j] == rem
        if exact.any():
            local[exact] = np.append(self.times_s, self.duration_s)[j[exact]]
        out = k
        out *= self.duration_s
        out += local
        return out

    def time_at_level_array(self, level_bytes: np.ndarray) -> np.ndarray:
        """Earliest time at which the cumulative capacity reaches each level (bytes);
        ``inf`` past the end of a clipped trace. The inverse used by :meth:`finish_time`."""
        level = np.asarray(level_bytes, dtype=float)
        if self.end == "loop" and level.ndim == 1:
            out = self._time_at_level_loop(level)
            if out is not None:
                return out
        p = self.period_bytes
        if self.end == "clip":
            k = np.zeros_like(level)
            rem = np.minimum(level, p)
        else:
            k = np.ceil(level / p) - 1
            rem = level - k * p
            low = rem <= 0
            k = np.where(low, k - 1, k)
            rem = np.minimum(np.where(low, rem + p, rem), p)
        bounds = np.append(self.times_s, self.duration_s)
        j = np.searchsorted(self.cum_bytes, rem, side="left")
        jc = np.minimum(j, len(self.cum_bytes) - 1)
        exact = self.cum_bytes[jc] == rem
        i = np.maximum(j - 1, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = self.times_s[np.minimum(i, len(self.times_s) - 1)] + (
                rem - self.cum_bytes[i]) / self.capacity_bytes_per_s[np.minimum(
                    i, len(self.times_s) - 1)]
        local = np.where(exact, bounds[jc], inside)
        t = k * self.duration_s + local
        if self.end == "clip":
            t = np.where(level > p, np.inf, t)
        return np.where(level <= 0, 0.0, t)

    def rtt_at_array(self, t_s: np.ndarray, default_s: float = 0.0) -> np.ndarray:
        """Vectorised :meth:`rtt_at`."""
        t_s = np.asarray(t_s, dtype=float)
        if self.rtt_s is None:
            return np.full(t_s.shape, default_s)
        finite = np.where(np.isfinite(t_s), t_s, 0.0)
        return self.rtt_s[np.minimum(self._locate_array(finite), len(self.times_s) - 1)]

    def _locate_array(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`_locate`: the segment index ``j`` at each time (``n`` past the
        end of a clipped trace), placed by the same float segment starts."""
        if self.end == "clip":
            j = np.maximum(np.searchsorted(self.times_s, t_s, side="right") - 1, 0)
            return np.where(t_s >= self.duration_s, len(self.times_s), j)
        return self._locate_loop_array(t_s)[2]

    def _locate_loop_array(self, t_s: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, k * d, j) of :meth:`_locate` for a looping trace, each time at once (times
        beyond the float resolution of the period are the caller's to exclude)."""
        times, n, d = self.times_s, len(self.times_s), self.duration_s
        k = np.floor(t_s / d)
        k = np.where(k * d > t_s, k - 1, k)
        k = np.where((k + 1) * d <= t_s, k + 1, k)
        base = k * d
        j = np.maximum(searchsorted(self, "times", times, d, t_s - base, "right") - 1, 0)
        while True:  # as in _locate: a later start that rounds onto t_s (rarely twice)
            up = (j + 1 < n) & (base + times[np.minimum(j + 1, n - 1)] <= t_s)
            if not up.any():
                break
            j = j + up
        while True:
            down = (j > 0) & (base + times[j] > t_s)
            if not down.any():
                return k, base, j
            j = j - down

    def capacity_at_array(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`capacity_at`."""
        j = self._locate_array(np.asarray(t_s, dtype=float))
        return np.append(self.capacity_bytes_per_s, 0.0)[j]

    def next_drop_below_array(self, t_s: np.ndarray, threshold: float,
                              horizon_s: np.ndarray) -> np.ndarray:
        """:meth:`next_drop_below_s` at many times (one threshold), the same floats."""
        t_s = np.asarray(t_s, dtype=float)
        if self.end == "loop" and self._min_cap >= threshold:
            return np.full(t_s.shape, np.inf)
        hits = self.__dict__.setdefault("_drop_hits", {})  # per threshold: a solver asks
        if threshold not in hits:                            # with one, every round
            hits[threshold] = np.flatnonzero(self.capacity_bytes_per_s < threshold)
        return self._next_hit_array(t_s, horizon_s, threshold, True, hits=hits[threshold])

    def next_rise_above_array(self, t_s: np.ndarray, threshold: np.ndarray,
                              horizon_s: np.ndarray) -> np.ndarray:
        """:meth:`next_rise_above_s` at many times, each with its own threshold."""
        t_s = np.asarray(t_s, dtype=float)
        threshold = np.broadcast_to(np.asarray(threshold, dtype=float), t_s.shape)
        out = np.full(t_s.shape, np.inf)
        some = self._max_cap > threshold
        if some.any():
            out[some] = self._next_hit_array(t_s[some], np.broadcast_to(
                horizon_s, t_s.shape)[some], threshold[some], False)
        return out

    def _next_hit_array(self, t_s: np.ndarray, horizon_s: np.ndarray, threshold,
                        below: bool, hits: np.ndarray | None = None) -> np.ndarray:
        """:meth:`_next_boundary` at many times, for a looping trace where a hit exists
        (else, and for a clipped trace, one scalar call per time). The first hitting segment
        after each time's own is found among the next ``n`` (``hits``, the hitting segments'
        indices, for one threshold; else a search over a table of range maxima, for a rise
        above per-time thresholds); a candidate whose float start and end coincide in its
        period (the scalar scan skips it) is left to the scalar scan."""
        n, d = len(self.times_s), self.duration_s
        tiny = (np.abs(t_s) >= d * 2.0 ** 52) | ~np.isfinite(t_s)
        if self.end == "clip" or tiny.any():
            thr = np.broadcast_to(threshold, t_s.shape)
            return np.array([self._next_boundary(float(t), float(h), float(c), below)
                             for t, h, c in zip(t_s, np.broadcast_to(horizon_s, t_s.shape),
                                                thr, strict=True)])
        k, base, j = self._locate_loop_array(t_s)
        if hits is not None:  # the first hitting index after j, in this period or the next
            both = np.concatenate((hits, hits + n))
            p = both[np.searchsorted(both, j, side="right")]
        else:
            p = self._first_above(j + 1, threshold)
        nxt = p >= n  # in the next period (as _next_boundary steps: base, end = end, ...)
        jj = p - n * nxt
        end = (k + 1) * d
        base = np.where(nxt, end, base)
        end = np.where(nxt, (k + 2) * d, end)
        times = self.times_s
        start = np.minimum(base + times[jj], end)
        stop = np.where(jj + 1 >= n, end, np.minimum(base + times[np.minimum(jj + 1, n - 1)],
                                                     end))
        out = np.where(start >= horizon_s, np.inf, start)
        odd = (stop <= start) & (start < horizon_s)
        for i in np.flatnonzero(odd):  # an empty segment in this period: the scalar scan
            thr = threshold if np.ndim(threshold) == 0 else threshold[i]
            out[i] = self._next_boundary(float(t_s[i]), float(np.broadcast_to(
                horizon_s, t_s.shape)[i]), float(thr), below)
        return out

    def _first_above(self, p: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """The first index ``q >= p`` of the capacities repeated over two periods with
        capacity above each threshold (binary lifting over a table of range maxima,
        cached); there must be one within ``n``."""
        table = self.__dict__.get("_max_table")
        if table is None:
            level = np.concatenate((self.capacity_bytes_per_s, self.capacity_bytes_per_s))
            table = [level]
            while (1 << len(table)) <= len(level):
                prev, half = table[-1], 1 << (len(table) - 1)
                table.append(np.maximum(prev, np.append(prev[half:], np.full(half, -np.inf))))
            self._max_table = table
        for lvl in range(len(table) - 1, -1, -1):
            q = np.minimum(p, len(table[0]) - 1)
            step = (table[lvl][q] <= threshold) & (p + (1 << lvl) <= len(table[0]))
            p = p + step * (1 << lvl)
        return p

    # ----------------------------------------------------------------- summaries
    def mean_mbps(self) -> float:
        """Time-weighted mean capacity over one period, Mbit/s."""
        return self.period_bytes / self.duration_s / BYTES_PER_S_PER_MBPS

    def to_csv(self, path: str | Path) -> None:
        """Write the canonical CSV (``time_s,bandwidth_mbps[,rtt_ms]``)."""
        path = check_output_file(path, "trace")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time_s", "bandwidth_mbps"] + (["rtt_ms"] if self._rtt else []))
            for i, t in enumerate(self._t):
                row = [repr(t), repr(self._cap[i] / BYTES_PER_S_PER_MBPS)]
                if self._rtt:
                    row.append(repr(self._rtt[i] * 1e3))
                w.writerow(row)
        tmp.replace(path)
