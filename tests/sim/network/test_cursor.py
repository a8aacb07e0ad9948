"""LinkCursor answers every lookup the star engine asks with the trace's own floats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.network.cursor import LinkCursor
from sim.traces import Trace


def _trace(seed: int) -> Trace:
    r = np.random.default_rng(seed)
    n = int(r.integers(2, 200))
    times = np.cumsum(r.choice([0.1, 0.5, 1.0, 0.3333], n))
    caps = (r.choice([0.0, 1e3, 5e4, 2e5, 7e5, 1e6], n) if seed % 2
            else r.lognormal(12, 1, n))
    if seed % 5 == 0:
        caps[r.random(n) < 0.2] = 0.0
    caps[0] = 1e5  # never all zero
    tr = Trace.from_arrays(times, caps, last_duration_s=0.7, end="clip" if seed == 7 else "loop")
    return tr.rotated(float(r.uniform(0, tr.duration_s))) if seed != 7 else tr


@pytest.mark.parametrize("seed", range(12))
def test_cursor_equals_the_trace(seed):
    tr = _trace(seed)
    cur = LinkCursor(tr)
    rng = np.random.default_rng(100 + seed)
    t = float(rng.choice([0.0, 1e9, 3e11]))
    for _ in range(1500):
        if rng.random() < 0.9:
            t += float(rng.exponential(tr.duration_s / 50))
        else:  # jumps ahead, and onto segment starts of later periods
            t = (float(rng.choice(tr.times_s)) + tr.duration_s * int(rng.integers(0, 50))
                 if rng.random() < 0.5 else t + float(rng.uniform(0, 1e4)))
        thr = float(rng.choice(tr.capacity_bytes_per_s)) * (
            1 + float(rng.choice([-1e-9, 0.0, 1e-9, 0.3, -0.3])))
        horizon = math.inf if rng.random() < 0.7 else t + float(rng.exponential(tr.duration_s))
        assert cur.capacity_at(t) == tr.capacity_at(t)
        assert cur.next_change_s(t) == tr.next_change_s(t)
        for ours, theirs in ((cur.next_drop_below_s, tr.next_drop_below_s),
                             (cur.next_rise_above_s, tr.next_rise_above_s)):
            found = ours(t, thr, horizon)
            assert found == theirs(t, thr, horizon)
            assert cur.hit_capacity == (None if found == math.inf else tr.capacity_at(found))
        cap = tr.capacity_at(t) if rng.random() < 0.8 else thr
        other = tr.next_change_s(t)
        if other != math.inf and tr.capacity_at(other) == cap:
            up = tr.next_rise_above_s(t, cap, math.inf)
            other = min(up, tr.next_drop_below_s(t, cap, up))
        assert cur.next_other_s(t, cap) == other
