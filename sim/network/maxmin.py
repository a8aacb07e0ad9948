"""Max-min fair rates by progressive filling (Bertsekas & Gallager, *Data Networks*, 6.5.2).

Every unfrozen flow's rate grows at the same pace (the *level*); when a link fills up, the
flows that cross it are frozen at the current level. The result: no flow can get more
without taking from a flow that has no more than it. Rates and capacities in bytes/s.

Each link's fill level is ``(capacity - frozen load) / unfrozen flows``; the links wait in
a heap ordered by it, so the allocation costs O(sum of route lengths x log links).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Mapping, Sequence


def max_min_rates(routes: Mapping[Hashable, Sequence[Hashable]],
                  capacity_bytes_per_s: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Max-min fair rate of each flow. ``routes[flow]`` lists the links it crosses (a link
    named twice counts once); every link must have a capacity (>= 0, may be ``inf``).

    A flow whose links are all infinite (or whose route is empty) gets ``inf``.
    """
    paths = {flow: tuple(dict.fromkeys(links)) for flow, links in routes.items()}
    users: dict[Hashable, list[Hashable]] = {}
    for flow, links in paths.items():
        for link in links:
            users.setdefault(link, []).append(flow)
    active = {link: len(fs) for link, fs in users.items()}
    frozen_load = dict.fromkeys(users, 0.0)
    rate: dict[Hashable, float] = {}
    heap = []
    order = {link: i for i, link in enumerate(users)}  # ties: first-named link first
    for link, n in active.items():
        cap = float(capacity_bytes_per_s[link])
        if cap != math.inf:
            heap.append((cap / n, order[link], n, link))
    heapq.heapify(heap)
    level = 0.0
    while heap:
        fill, _, n, link = heapq.heappop(heap)
        if n != active[link] or n == 0:
            continue  # stale entry: the link's count changed since it was pushed
        level = max(level, fill)
        for flow in users[link]:
            if flow in rate:
                continue
            rate[flow] = level
            for other in paths[flow]:
                active[other] -= 1
                frozen_load[other] += level
                m = active[other]
                cap = float(capacity_bytes_per_s[other])
                if m > 0 and other != link and cap != math.inf:
                    left = max(cap - frozen_load[other], 0.0)
                    heapq.heappush(heap, (max(level, left / m), order[other], m, other))
    for flow in paths:
        rate.setdefault(flow, math.inf)
    return {flow: rate[flow] for flow in routes}
