"""Per-segment capacity check of the fluid network's allocations (a test helper).

:attr:`SharedFluidNetwork.allocation_log` records each interval ``[t0, t1)`` on which the
general regime held its rates constant; on every such interval, each link's allocated rate
must stay within the least capacity its trace offers anywhere in the interval. The least
capacity is read from the trace's arrays unrolled over the periods the interval touches,
not from the Trace's own queries (whose period arithmetic is what this checks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from sim.traces import Trace


def min_capacity(trace: Trace, t0: float, t1: float, slack_s: float = 1e-9) -> float:
    """The least capacity on ``[t0, t1)``; trace segments that overlap the interval by no
    more than ``slack_s`` (a float boundary an ulp away) are ignored unless nothing else
    overlaps it."""
    d = trace.duration_s
    if trace.end == "clip":
        periods = np.array([0.0])
    else:
        periods = np.arange(math.floor(t0 / d) - 1, math.floor(t1 / d) + 2, dtype=float)
    starts = (periods[:, None] * d + trace.times_s[None, :]).ravel()
    ends = np.append(starts[1:], (periods[-1] + 1) * d)
    caps = np.tile(trace.capacity_bytes_per_s, len(periods))
    if trace.end == "clip":  # zero capacity after the end
        starts, ends, caps = np.append(starts, d), np.append(ends, math.inf), np.append(caps, 0)
    overlap = np.minimum(ends, t1) - np.maximum(starts, t0)
    held = overlap > slack_s
    if not held.any():
        return float(caps[np.argmax(overlap)])
    return float(caps[held].min())


def capacity_violations(traces: Mapping[str, Trace],
                        log: list[tuple[float, float, dict[str, float]]],
                        rel: float = 1e-9) -> list[tuple[float, float, str, float, float]]:
    """Every (t0, t1, link, allocated, least capacity) whose allocated rate exceeds the
    link's least capacity on ``[t0, t1)`` by more than ``rel`` of it."""
    bad = []
    for t0, t1, load in log:
        for link, rate in load.items():
            cap = min_capacity(traces[link], t0, t1)
            if rate > cap * (1 + rel):
                bad.append((t0, t1, link, rate, cap))
    return bad
