"""Max-min fair rates by progressive filling (Bertsekas & Gallager, *Data Networks*, 6.5.2).

Every unfrozen flow's rate grows at the same pace; when a link fills up, the flows that
cross it are frozen at their current rate. The result: no flow can get more without taking
from a flow that has no more than it. Rates and capacities in bytes/s.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

EPS = 1e-12  # relative slack when deciding that a link is full


def max_min_rates(routes: Mapping[Hashable, Sequence[Hashable]],
                  capacity_bytes_per_s: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Max-min fair rate of each flow. ``routes[flow]`` lists the links it crosses (a link
    named twice counts once); every link must have a capacity (>= 0, may be ``inf``).

    A flow with an empty route is unconstrained and gets ``inf``.
    """
    users: dict[Hashable, list[Hashable]] = {}
    for flow, links in routes.items():
        for link in dict.fromkeys(links):
            users.setdefault(link, []).append(flow)
    rate = {flow: 0.0 for flow in routes}
    frozen = {flow for flow, links in routes.items() if not links}
    for flow in frozen:
        rate[flow] = float("inf")
    left = {link: float(capacity_bytes_per_s[link]) for link in users}
    active = {link: len(fs) for link, fs in users.items()}
    while len(frozen) < len(rate):
        # the next link to fill: smallest equal share of what it has left
        share, full = min(((left[link] / active[link], link) for link in users
                           if active[link] > 0 and left[link] != float("inf")),
                          default=(float("inf"), None), key=lambda x: x[0])
        if full is None:  # every remaining flow crosses only infinite links
            for flow in rate:
                if flow not in frozen:
                    rate[flow] = float("inf")
            break
        share = max(share, 0.0)
        grown = [flow for flow in rate if flow not in frozen]
        for flow in grown:
            rate[flow] += share
        for link in users:
            if active[link] and left[link] != float("inf"):
                left[link] -= share * active[link]
        # freeze every flow on every link that is now full (ties fill together)
        for link in users:
            cap = float(capacity_bytes_per_s[link])
            if active[link] and cap != float("inf") and left[link] <= EPS * max(cap, 1.0):
                left[link] = 0.0
                for flow in users[link]:
                    if flow not in frozen:
                        frozen.add(flow)
                        for other in dict.fromkeys(routes[flow]):
                            active[other] -= 1
    return rate
