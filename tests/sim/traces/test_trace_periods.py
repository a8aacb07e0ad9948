"""A looping trace's segments in later periods: the boundaries that ``next_change_s`` and
``next_drop_below_s`` return map into the segment they start, period after period.

The reference is a brute-force walk over the trace's segments unrolled period by period
(segment ``j`` of period ``k`` starts near ``k * d + t_j``), by index, so a boundary that
maps one ulp back into the previous segment shows up as a skipped or repeated segment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.network.topology import device_offsets
from sim.traces import Trace, read_trace


def _near(got: float, expected: float) -> bool:
    """Within a few ulps of the exact start (the float sum ``k * d + t_j`` rounds)."""
    return abs(got - expected) <= 4 * math.ulp(max(abs(expected), 1.0))


def _start(tr: Trace, k: int, j: int) -> float:
    """Segment j of period k, by index (j == n: the next period's start)."""
    n = len(tr.times_s)
    return (k + 1) * tr.duration_s if j >= n else k * tr.duration_s + float(tr.times_s[j])


def _inside(tr: Trace, k: int, j: int) -> float:
    """A time well inside segment j of period k."""
    return 0.5 * (_start(tr, k, j) + _start(tr, k, j + 1))


def _next(tr: Trace, k: int, j: int) -> tuple[int, int]:
    return (k, j + 1) if j + 1 < len(tr.times_s) else (k + 1, 0)


def _walk_changes(tr: Trace, k: int, j: int, steps: int) -> None:
    """From inside segment (k, j), follow next_change_s for ``steps`` boundaries: each lands
    on the next segment's start and capacity_at there is that segment's capacity."""
    caps = tr.capacity_bytes_per_s
    t = _inside(tr, k, j)
    assert tr.capacity_at(t) == caps[j]
    for _ in range(steps):
        k, j = _next(tr, k, j)
        b = tr.next_change_s(t)
        assert b > t
        assert _near(b, _start(tr, k, j)), (b, k, j)
        assert tr.capacity_at(b) == caps[j], (b, k, j)
        # capacity is constant on [t, b): the previous segment's until just before b
        assert tr.capacity_at(math.nextafter(b, -math.inf)) == tr.capacity_at(t)
        t = b


def _walk_drops(tr: Trace, k: int, j: int, level: float, steps: int) -> None:
    """From inside segment (k, j), chain next_drop_below_s: each answer is the start of
    the next segment below ``level`` (brute-force scan by index), and re-querying from
    there finds the one after it."""
    caps = tr.capacity_bytes_per_s
    n = len(caps)
    t = _inside(tr, k, j)
    for _ in range(steps):
        for _scan in range(n + 1):
            k, j = _next(tr, k, j)
            if caps[j] < level:
                break
        else:
            assert tr.next_drop_below_s(t, level, math.inf) == math.inf
            return
        got = tr.next_drop_below_s(t, level, math.inf)
        assert _near(got, _start(tr, k, j)), (t, got, k, j)
        assert tr.capacity_at(got) == caps[j] < level
        t = got


def stepped(offset: float = 0.0) -> Trace:
    """Ten 0.7-s segments, 7-s period, rotated: its boundaries are inexact float sums."""
    caps = [5.0, 1.0, 4.0, 4.0, 0.0, 3.0, 2.0, 6.0, 1.5, 2.5]
    tr = Trace.from_arrays(np.arange(10) * 0.7, np.array(caps) * 1e5, last_duration_s=0.7)
    return tr.rotated(offset)


@pytest.mark.parametrize("k", [1, 2, 7, 100, 12_345, 10**6])
def test_boundaries_map_into_their_segment_in_later_periods(k):
    tr = stepped(0.3141592653589793)
    n = len(tr.times_s)
    _walk_changes(tr, k, 0, 3 * n)
    for level in (0.5e5, 1.2e5, 2.2e5, 4.5e5, 7e5):
        _walk_drops(tr, k, 0, level, 2 * n)


@pytest.mark.parametrize("k", [1, 7, 12_345, 10**6])
def test_rtt_at_a_boundary_is_the_new_segment_s(k):
    """rtt_at (and rtt_at_array, the single-link vectorised engine's) place a time by the
    same segment starts: at each boundary next_change_s returns, the new segment's RTT."""
    base = stepped()
    rtt = np.arange(10) * 1e-3 + 0.02
    tr = Trace.from_arrays(base.times_s, base.capacity_bytes_per_s, rtt,
                           last_duration_s=0.7).rotated(0.3141592653589793)
    t, bounds, expected = _inside(tr, k, 0), [], []
    kk, j = k, 0
    for _ in range(25):
        kk, j = _next(tr, kk, j)
        t = tr.next_change_s(t)
        bounds.append(t)
        expected.append(tr.rtt_s[j])
    assert [tr.rtt_at(b) for b in bounds] == expected
    assert tr.rtt_at_array(np.array(bounds)).tolist() == expected
    inside = np.array([_inside(tr, k, i) for i in range(len(tr.times_s))])
    assert tr.rtt_at_array(inside).tolist() == tr.rtt_s.tolist()


def test_lte_cell_device_5_drop_is_not_skipped():
    """The 20-device cell's device 5 (seed 0): from 671.10 s the first drop below 429,904
    bytes/s is at 683.84 s, where its capacity is 332,137.5 (it was skipped: 685.84)."""
    offset = device_offsets(20, "random", 0, 600.0)[5]
    tr = read_trace("traces/lte.csv").rotated(offset)
    got = tr.next_drop_below_s(671.0988692619347, 429904.17, math.inf)
    assert _near(got, 683.8367794758342)
    assert tr.capacity_at(got) == 332137.5
    assert tr.capacity_at(math.nextafter(got, -math.inf)) == 437662.5
    again = tr.next_drop_below_s(got, 429904.17, math.inf)
    assert again > got and tr.capacity_at(again) < 429904.17
    assert tr.next_change_s(math.nextafter(got, -math.inf)) == got


def test_a_segment_below_the_float_spacing_holds_at_no_time():
    """A 1e-12-s segment holds in period 0, but near 2e6 s (float spacing 4.7e-10 s) its
    start and end round to one float: no time lies in it, so the walks pass over it."""
    tr = Trace.from_arrays([0.0, 1.0, 1.0 + 1e-12], [5.0, 1.0, 3.0], last_duration_s=1.0)
    assert tr.next_drop_below_s(0.5, 2.0, math.inf) == 1.0
    assert tr.capacity_at(1.0) == 1.0
    k = 10**6
    t = _inside(tr, k, 0)
    b = tr.next_change_s(t)
    assert _near(b, _start(tr, k, 1)) and tr.capacity_at(b) == 3.0
    assert tr.next_drop_below_s(t, 2.0, math.inf) == math.inf


@st.composite
def looping_traces(draw):
    n = draw(st.integers(1, 12))
    gaps = draw(st.lists(st.floats(1e-3, 50.0), min_size=n, max_size=n))
    caps = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0, 1e3, 3.3e5]),
                         min_size=n, max_size=n))
    if not any(caps):
        caps[0] = 1.0
    times = np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    tr = Trace.from_arrays(times, caps, last_duration_s=gaps[-1])
    offset = draw(st.floats(0.0, 1e3))
    return tr.rotated(offset) if offset else tr


@settings(max_examples=300, deadline=None)
@given(looping_traces(), st.integers(0, 10**6), st.integers(0, 11),
       st.sampled_from([0.5, 1.5, 3.0, 8.0, 2e5, 5e5]))
def test_segment_walks_match_the_unrolled_trace(tr, k, j, level):
    """Property: for any looping trace (segments >= 1 ms, so none is below the float
    spacing), period k up to 10^6 and any start segment, next_change_s and
    next_drop_below_s walk the unrolled segments in order, none skipped or repeated."""
    assume(np.diff(np.append(tr.times_s, tr.duration_s)).min() >= 1e-3)  # (rotation cuts)
    n = len(tr.times_s)
    j = j % n
    if not tr.is_constant:  # (a constant trace has no changes: next_change_s is inf)
        _walk_changes(tr, k, j, 2 * n + 1)
    _walk_drops(tr, k, j, level, n + 1)


@settings(max_examples=300, deadline=None)
@given(looping_traces(), st.floats(0.0, 1e7))
def test_a_returned_boundary_holds_the_new_capacity(tr, t):
    """Property: capacity_at(next_change_s(t)) is the capacity just after the boundary,
    and capacity is constant on [t, next_change_s(t)) (segments of any length, also
    those a rotation cut below the float spacing); the vectorised lookup (rtt_at_array's)
    places times as the scalar one does."""
    arr = np.array([t, math.nextafter(t, math.inf), 0.5 * t, 3 * t])
    assert tr._locate_array(arr).tolist() == [tr._locate(x)[3] for x in arr]
    b = tr.next_change_s(t)
    if math.isinf(b):
        assert tr.is_constant
        return
    assert tr._locate_array(np.array([b])).tolist() == [tr._locate(b)[3]]
    after = tr.next_change_s(b)
    assert after > b > t
    assert tr.capacity_at(b) == tr.capacity_at(0.5 * (b + after))
    assert tr.capacity_at(math.nextafter(b, -math.inf)) == tr.capacity_at(t)
