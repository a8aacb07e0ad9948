"""The looping trace's array lookups (:meth:`Trace.cumulative_bytes_array`,
:meth:`Trace.time_at_level_array`) give the general path's floats, bit for bit: the fast path
for one-dimensional times against the same arrays as one row of a 2-D array (which takes the
general path, the code before the fast path)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.traces import Trace


def _random_trace(rng: np.random.Generator, trial: int) -> Trace:
    n = int(rng.integers(1, 50))
    if trial % 3:  # zero-capacity segments and mixed scales
        caps = rng.choice([0.0, 1.0, 1e3, 3e5], size=n) * rng.random(n)
    else:
        caps = rng.random(n) * 1e6
    if not caps.any():
        caps[0] = 1.0
    gaps = rng.random(n) * rng.choice([1e-9, 1.0, 100.0], size=n)
    return Trace.from_arrays(np.cumsum(gaps), caps, last_duration_s=float(rng.random() + 1e-3))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a),
                                                                   np.signbit(b))


@pytest.mark.parametrize("seed", range(4))
@np.errstate(invalid="ignore")  # inf - inf, as in the general path
def test_fast_lookups_equal_the_general_path(seed):
    rng = np.random.default_rng(seed)
    for trial in range(75):
        tr = _random_trace(rng, trial)
        d, p = tr.duration_s, tr.period_bytes
        times = np.concatenate([
            rng.random(200) * d * rng.choice([1.0, 10.0, 1e6]), np.arange(-3, 40) * d,
            [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1e-300], tr.times_s + 5 * d])
        levels = np.concatenate([
            rng.random(200) * p * rng.choice([1.0, 10.0, 1e6]), np.arange(-3, 40) * p,
            [0.0, -0.0, -1.0, np.inf, np.nan, 1e-300], tr.cum_bytes + 3 * p, tr.cum_bytes])
        for sub in (times, times[times > 0], np.sort(times[np.isfinite(times)])):
            assert _same(tr.cumulative_bytes_array(sub),
                         tr.cumulative_bytes_array(sub[None, :])[0])
        for sub in (levels, levels[levels > 0], levels[(levels > 0) & (levels < p)]):
            assert _same(tr.time_at_level_array(sub), tr.time_at_level_array(sub[None, :])[0])


def test_fast_lookups_leave_their_input_alone():
    tr = Trace.from_arrays([0.0, 1.0, 2.5], [1e5, 0.0, 3e5], last_duration_s=1.0)
    t = np.array([0.5, 1.5, 7.25, 100.0])
    level = np.array([1e4, 2e5, 9e5])
    t0, level0 = t.copy(), level.copy()
    tr.cumulative_bytes_array(t)
    tr.time_at_level_array(level)
    assert np.array_equal(t, t0) and np.array_equal(level, level0)
