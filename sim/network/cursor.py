"""A trace's piecewise-constant lookups from a cached segment and jump tables.

:class:`LinkCursor` answers the :class:`~sim.traces.Trace` queries the star engine asks at
every event (:meth:`capacity_at`, :meth:`next_change_s`, :meth:`next_drop_below_s`,
:meth:`next_rise_above_s`) with the same floats, but without searching: the segment that
holds the last time asked is kept (events move forward in time, mostly within it), and the
next segment below (above) a threshold is found by jumping along precomputed chains of next
smaller (larger) capacities over two periods instead of scanning segment by segment. A
boundary is computed as the trace computes it (period ``k`` starts at ``k * d``, segment
``j`` at ``k * d + t_j``, capped at the period's end); where that float leaves the segment
found empty (a period far beyond the float resolution), and for clipped or constant traces,
the trace's own method answers. Everything else (:meth:`finish_time`,
:meth:`bytes_between`) is the trace's.
"""

from __future__ import annotations

import math

from sim.traces import Trace


def _next_beyond(values: list[float], smaller: bool) -> list[int]:
    """For each i, the first i' > i with values[i'] < values[i] (``smaller``) or >,
    else len(values)."""
    n = len(values)
    out = [n] * n
    stack: list[int] = []
    for i, v in enumerate(values):
        while stack and (v < values[stack[-1]] if smaller else v > values[stack[-1]]):
            out[stack.pop()] = i
        stack.append(i)
    return out


class LinkCursor:
    """The lookups of one trace (module docstring); the same interface as those methods."""

    __slots__ = ("trace", "fast", "max_capacity_bytes_per_s", "min_capacity_bytes_per_s",
                 "is_constant", "_t", "_cap", "_n", "_d", "_lo", "_hi", "_k", "_base", "_end",
                 "_j", "_below", "_above", "_other", "_caps2", "hit_capacity", "_spare")

    def __init__(self, trace: Trace):
        self.trace = trace
        self.max_capacity_bytes_per_s = trace.max_capacity_bytes_per_s
        self.min_capacity_bytes_per_s = trace.min_capacity_bytes_per_s
        self.is_constant = trace.is_constant
        #: a looping, varying trace: the cached and tabled lookups apply
        self.fast = trace.end == "loop" and not trace.is_constant
        self._t = trace.times_s.tolist()
        self._cap = trace.capacity_bytes_per_s.tolist()
        self._n = len(self._t)
        self._d = trace.duration_s
        self._lo, self._hi = math.inf, -math.inf  # the cached segment: [lo, hi)
        self._k, self._base, self._end, self._j = 0, 0.0, 0.0, 0
        self._below: list[int] | None = None  # built on first use
        self._above: list[int] | None = None
        self._other: list[int] | None = None
        self._caps2 = self._cap + self._cap
        #: the capacity from the boundary the last drop or rise search found (None: inf)
        self.hit_capacity: float | None = None
        #: two more segments, (lo, hi, k, base, end, j): the one cached before, and the
        #: last search's find (a wake-up comes back to it)
        self._spare: list[tuple] = []

    # ------------------------------------------------------------------ the trace's
    def finish_time(self, start_s: float, size_bytes: float) -> float:
        return self.trace.finish_time(start_s, size_bytes)

    def bytes_between(self, t0_s: float, t1_s: float) -> float:
        return self.trace.bytes_between(t0_s, t1_s)

    # ------------------------------------------------------------------ cached
    def _seek(self, t_s: float) -> None:
        """Cache the segment that holds ``t_s`` (as :meth:`Trace._locate` places it): a
        spare one, or one of the next few (time mostly moves on to the next one), else a
        search. The segment it replaces becomes a spare."""
        old = (self._lo, self._hi, self._k, self._base, self._end, self._j)
        for seg in self._spare:
            if seg[0] <= t_s < seg[1]:
                self._spare.remove(seg)
                self._use(seg, old)
                return
        t, n = self._t, self._n
        if self._lo <= self._hi <= t_s:  # (none cached yet: lo is inf)
            k, base, end, j = self._k, self._base, self._end, self._j
            for _ in range(4):
                if j + 1 < n:
                    j += 1
                else:  # the next period: it starts at (k + 1) * d, as _locate computes it
                    k, j = k + 1, 0
                    base, end = end, (k + 1) * self._d
                hi = end if j + 1 >= n else min(base + t[j + 1], end)
                if t_s < hi:
                    lo = base + t[j]
                    if lo <= t_s:
                        self._use((end if lo > end else lo, hi, k, base, end, j), old)
                        return
                    break
        k, base, end, j = self.trace._locate(t_s)
        lo = base + t[j]
        self._use((end if lo > end else lo,
                   end if j + 1 >= n else min(base + t[j + 1], end), k, base, end, j), old)

    def _use(self, seg: tuple, old: tuple) -> None:
        """Make ``seg`` the cached segment; ``old`` (the one it replaces) a spare."""
        self._lo, self._hi, self._k, self._base, self._end, self._j = seg
        if old[0] <= old[1]:
            self._keep(old)

    def _keep(self, seg: tuple) -> None:
        spare = self._spare
        spare.insert(0, seg)
        if len(spare) > 2:
            spare.pop()

    def capacity_at(self, t_s: float) -> float:
        if not self.fast:
            return self.trace.capacity_at(t_s)
        if not self._lo <= t_s < self._hi:
            self._seek(t_s)
        return self._cap[self._j]

    def next_change_s(self, t_s: float) -> float:
        if not self.fast:
            return self.trace.next_change_s(t_s)
        if not self._lo <= t_s < self._hi:
            self._seek(t_s)
        return self._hi

    def next_drop_below_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        """:meth:`Trace.next_drop_below_s`; the capacity from there in :attr:`hit_capacity`."""
        return self._search(t_s, threshold, horizon_s, True)

    def next_rise_above_s(self, t_s: float, threshold: float, horizon_s: float) -> float:
        """:meth:`Trace.next_rise_above_s`; the capacity from there in :attr:`hit_capacity`."""
        return self._search(t_s, threshold, horizon_s, False)

    def next_other_s(self, t_s: float, capacity: float) -> float:
        """The first segment boundary after ``t_s`` where the capacity differs from
        ``capacity`` (a run of equal segments is passed over), as the trace answers it:
        the next change if its capacity differs, else the least of the next rise above
        and the next drop below ``capacity``."""
        if self.fast:
            if not self._lo <= t_s < self._hi:
                self._seek(t_s)
            if self._other is None:  # the next index holding another value
                caps, n2 = self._caps2, 2 * self._n
                other = [n2] * n2
                for i in range(n2 - 2, -1, -1):
                    other[i] = i + 1 if caps[i + 1] != caps[i] else other[i + 1]
                self._other = other
            n, j, caps = self._n, self._j, self._caps2
            i = j + 1
            if caps[i] == capacity:
                i = self._other[i]
            if i <= j + n and i < 2 * n:
                k, base, end, i, start, seg_end = self._found(i)
                if seg_end > start:
                    self._keep((start, seg_end, k, base, end, i))  # (the wake-up comes here)
                    return start
        t = self.next_change_s(t_s)
        if t != math.inf and self.capacity_at(t) == capacity:
            up = self.next_rise_above_s(t_s, capacity, math.inf)
            t = min(up, self.next_drop_below_s(t_s, capacity, up))
        return t

    def _search(self, t_s: float, threshold: float, horizon_s: float, below: bool) -> float:
        if self.fast:
            if (self.min_capacity_bytes_per_s >= threshold if below
                    else self.max_capacity_bytes_per_s <= threshold):
                self.hit_capacity = None
                return math.inf
            if below and self._below is None:
                self._below = _next_beyond(self._caps2, smaller=True)
            elif not below and self._above is None:
                self._above = _next_beyond(self._caps2, smaller=False)
            t = self._hit(t_s, threshold, horizon_s, self._below if below else self._above,
                          below)
            if t is not None:
                return t
        search = self.trace.next_drop_below_s if below else self.trace.next_rise_above_s
        return self._trace_hit(search(t_s, threshold, horizon_s))

    def _trace_hit(self, t_s: float) -> float:
        """The trace's own answer, with its capacity (looked up without moving the cursor)."""
        self.hit_capacity = None if t_s == math.inf else self.trace.capacity_at(t_s)
        return t_s

    def _found(self, i: int) -> tuple[int, float, float, int, float, float]:
        """Index ``i`` of the two-period tables, counted from the cached segment's period,
        as (k, k * d, (k + 1) * d, segment, its start, its end) in the trace's floats."""
        k, base, end, n = self._k, self._base, self._end, self._n
        if i >= n:  # in the next period
            i -= n
            k, base, end = k + 1, end, (k + 2) * self._d
        t = self._t
        start = base + t[i]
        if start > end:
            start = end
        return k, base, end, i, start, end if i + 1 >= n else min(base + t[i + 1], end)

    def _hit(self, t_s: float, threshold: float, horizon_s: float, chain: list[int],
             below: bool) -> float | None:
        """The start of the first segment after the one holding ``t_s`` whose capacity is
        below (above) ``threshold``, ``inf`` at or past ``horizon_s``; None where the
        trace's scan must answer (no hit within a period, or the hit's segment is empty in
        floats)."""
        if not self._lo <= t_s < self._hi:
            self._seek(t_s)
        n, j, caps = self._n, self._j, self._caps2
        i = j + 1
        if below:
            while i < 2 * n and caps[i] >= threshold:
                i = chain[i]
        else:
            while i < 2 * n and caps[i] <= threshold:
                i = chain[i]
        if i > j + n or i >= 2 * n:
            return None
        k, base, end, i, start, seg_end = self._found(i)
        if start >= horizon_s:
            self.hit_capacity = None
            return math.inf
        if seg_end > start:
            self.hit_capacity = self._cap[i]
            self._keep((start, seg_end, k, base, end, i))
            return start
        return None
