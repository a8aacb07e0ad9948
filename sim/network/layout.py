"""When a set of routes forms stars of shared links, so water-filling (:mod:`sim.network.star`)
can replace progressive filling.

A **star** is a shared link ``B`` (a cell uplink) and the routes that have it as their
shared bottleneck; each route adds at most one **access** link of its own (a device's radio
link). The condition, checked once from every route flows will take (links without a trace
are unconstrained and ignored):

* a route's first link is its *access* link when no other route crosses it; every other
  link of the route is *shared* (a star may hold one route);
* a route's bottleneck is its shared link of the smallest peak capacity; no link is the
  bottleneck of some routes and a non-bottleneck link of others;
* every other shared link ``X`` always has room: its least capacity is at least the sum of
  the peak capacities of the bottlenecks whose routes cross it (so it never binds; e.g. a
  1 Gbit/s backhaul behind a 50 Mbit/s cell, or a metro link behind two cells).

Then max-min fairness on the network is water-filling per star: each transfer gets the
least of its access link's capacity (shared by the transfers on it) and the star's fair
share. A route with an access link only forms a star without a shared link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sim.traces import Trace


@dataclass(frozen=True)
class StarRoute:
    """A route's parts: its own access link and its star's shared bottleneck (None: none)."""

    access: str | None
    bottleneck: str | None
    links: tuple[str, ...]  # every constrained link of the route (each carries its bytes)


def star_layout(traces: Mapping[str, Trace], routes: Iterable[Iterable[str]]
                ) -> dict[tuple[str, ...], StarRoute] | None:
    """Each route (its constrained links, in order) -> its :class:`StarRoute`, or None when
    the routes do not form stars (module docstring). ``traces``: the constrained links."""
    paths = {tuple(dict.fromkeys(n for n in r if n in traces)) for r in routes}
    crossing: dict[str, int] = {}
    for path in paths:
        for link in path:
            crossing[link] = crossing.get(link, 0) + 1
    layout: dict[tuple[str, ...], StarRoute] = {}
    for path in paths:
        access = path[0] if path and crossing[path[0]] == 1 else None
        shared = path[1:] if access is not None else path
        neck = min(shared, key=lambda n: traces[n].max_capacity_bytes_per_s, default=None)
        layout[path] = StarRoute(access, neck, path)
    return layout if _others_have_room(traces, layout.values()) else None


def _others_have_room(traces: Mapping[str, Trace], routes: Iterable[StarRoute]) -> bool:
    """No bottleneck is another route's non-bottleneck link, and every shared link that is
    no bottleneck carries at most the peaks of the bottlenecks crossing it."""
    routes = list(routes)
    necks = {r.bottleneck for r in routes} - {None}
    feeding: dict[str, set[str]] = {}  # non-bottleneck shared link -> bottlenecks crossing it
    for r in routes:
        for link in r.links:
            if link in (r.access, r.bottleneck):
                continue
            if link in necks:
                return False
            feeding.setdefault(link, set()).add(r.bottleneck)
    return all(traces[x].min_capacity_bytes_per_s
               >= sum(traces[b].max_capacity_bytes_per_s for b in bs)
               for x, bs in feeding.items())
