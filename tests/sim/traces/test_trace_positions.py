"""Trace helpers of the network engine: rotation, next change, next drop below a level."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.traces import Trace


def sample_trace(end="loop"):
    return Trace.from_arrays([0.0, 1.0, 2.5, 4.0], [100.0, 0.0, 300.0, 50.0],
                             last_duration_s=1.0, end=end)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 20), st.floats(0, 15))
def test_rotated_trace_is_the_same_curve_shifted(offset, t):
    base = sample_trace()
    rot = base.rotated(offset)
    assert rot.duration_s == base.duration_s
    assert rot.capacity_at(t) == base.capacity_at(t + offset) or math.isclose(
        t + offset - math.floor((t + offset) / 5) * 5, round(t + offset), abs_tol=1e-9)
    assert rot.bytes_between(0, t) == pytest.approx(base.bytes_between(offset, offset + t),
                                                    rel=1e-9, abs=1e-6)


def test_rotation_of_a_clipped_trace_cuts_the_head():
    rot = sample_trace("clip").rotated(2.0)
    assert rot.duration_s == 3.0
    assert rot.capacity_at(0.1) == 0.0 and rot.capacity_at(0.6) == 300.0
    assert rot.capacity_at(3.5) == 0.0


def test_next_change_and_drop():
    tr = sample_trace()
    assert tr.next_change_s(0.0) == 1.0
    assert tr.next_change_s(1.0) == 2.5
    assert tr.next_change_s(4.5) == 5.0  # the loop's wrap is a boundary
    assert Trace.constant(10.0).next_change_s(3.0) == math.inf
    assert tr.next_drop_below_s(0.0, 80.0, math.inf) == 1.0
    assert tr.next_drop_below_s(2.6, 80.0, math.inf) == 4.0
    assert tr.next_drop_below_s(2.6, 80.0, 3.9) == math.inf  # beyond the horizon
    assert tr.next_drop_below_s(2.6, 40.0, math.inf) == 6.0  # the 0 segment, next period
    assert tr.next_drop_below_s(0.0, -1.0, math.inf) == math.inf
    clip = sample_trace("clip")
    assert clip.next_drop_below_s(4.2, 10.0, math.inf) == 5.0  # the end drops to zero


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 30), st.floats(0, 400))
def test_next_drop_matches_a_scan(t, level):
    rng = np.random.default_rng(3)
    tr = Trace.from_arrays(np.arange(10.0), rng.uniform(0, 400, 10))
    got = tr.next_drop_below_s(t, level, math.inf)
    grid = np.arange(math.floor(t) + 1, math.floor(t) + 12, dtype=float)
    below = [g for g in grid if tr.capacity_at(g) < level]
    assert got == (below[0] if below else math.inf)
