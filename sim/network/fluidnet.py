"""A fluid network of links with time-varying capacity, shared max-min fairly by its flows.

Each flow crosses a route of links; at any moment the flows' rates are the max-min fair
allocation (:func:`~sim.network.maxmin.max_min_rates`) of the links' current capacities.
Rates change only when a flow starts or finishes or when a link's capacity changes, so the
model is event driven and exact, with no time stepping. Two regimes, both exact:

* **independent bottlenecks** (the common case, e.g. a cell's users behind a fast backhaul):
  every flow has one link that is its bottleneck whatever the traces do, shared equally by
  the flows that have it as bottleneck, and every other link provably has room to spare
  (its least capacity >= the most its flows can ever get). Then a link with ``n`` flows
  gives each ``dC/n`` and the next finish is found on the link's cumulative capacity curve,
  ``C(t) = C(now) + n * smallest remaining``, in one search: one event per finish, however
  often the trace changes. A lone flow on an otherwise idle path therefore finishes at
  exactly :meth:`Trace.finish_time` of its bottleneck, bit for bit.
* **general**: rates are recomputed by progressive filling at each start, finish and
  capacity change of a link that carries a flow; rates are constant in between.

Given every route its flows will take (``routes``), the network checks once whether they
form stars of shared links (:func:`~sim.network.layout.star_layout`: each device's access
link -> one shared bottleneck, every other link provably with room, e.g. the default cell)
and then hands every call to :class:`~sim.network.star.StarFluidNetwork`, water-filling in
O(log n) per event with the same results; ``star=False`` keeps the regimes above.

Sizes in bytes on the wire (divide a payload by the link efficiency before adding it);
times in seconds; a link without a trace is unconstrained (infinite capacity).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from sim.network.layout import star_layout
from sim.network.maxmin import max_min_rates
from sim.network.star import StarFluidNetwork
from sim.traces import Trace

RELATIVE_TOLERANCE = 1e-9  # a flow with this fraction of its bytes left has finished


@dataclass(slots=True)
class Flow:
    """One transfer in the network."""

    key: Hashable
    route: tuple[str, ...]  # constrained links only, in order
    size_bytes: float
    start_s: float
    remaining_bytes: float
    rate_bytes_per_s: float = 0.0
    #: the route's link with the smallest peak capacity (its bottleneck if any is fixed)
    narrowest: str | None = None


@dataclass
class _Plan:
    """The allocation from ``now`` until the next event."""

    next_event_s: float
    #: independent-bottleneck regime: link -> (flows, scheduled finish of the smallest)
    groups: dict[str, tuple[list[Flow], float]] | None = None
    #: general regime: the flows that finish at next_event_s (if it is a finish)
    finishing: list[Flow] = field(default_factory=list)
    #: general regime: each link's allocated rate (bytes/s), constant until next_event_s
    load: dict[str, float] | None = None


class SharedFluidNetwork:
    """Flows on shared links (see module docstring). Drive it with :meth:`add`,
    :meth:`next_event_s` and :meth:`advance`; time only moves forward."""

    def __init__(self, links: Mapping[str, Trace | None], *, independent: bool = True,
                 routes: Iterable[Iterable[str]] | None = None, star: bool = True):
        self.independent = independent  # False: always the general regime (for tests)
        self.traces: dict[str, Trace] = {n: t for n, t in links.items() if t is not None}
        self.now_s = 0.0
        self.flows: dict[Hashable, Flow] = {}
        self._carried: dict[str, float] = dict.fromkeys(links, 0.0)
        layout = star_layout(self.traces, routes) if star and routes is not None else None
        #: the water-filling engine every call goes to, when the routes form stars
        self.star = None if layout is None else StarFluidNetwork(self.traces, layout)
        if self.star is not None:
            self.flows = self.star.flows
        self.events = 0  # allocations computed (a cost counter for benchmarks)
        self._plan: _Plan | None = None
        # The independent regime's condition depends only on the set of flows (their routes
        # and the traces' extremes), so it is re-checked only when that set changes.
        self._flow_set_changed = True
        self._independent_ok = False
        #: per link: (from_s, until_s, capacity) of the segment last looked up
        self._cap_cache: dict[str, tuple[float, float, float]] = {}
        #: per link: (from_s, threshold, horizon_s, answer) of the last next_drop_below_s
        self._drop_cache: dict[str, tuple[float, float, float, float]] = {}
        self._log: list[tuple[float, float, dict[str, float]]] | None = None

    @property
    def allocation_log(self) -> list[tuple[float, float, dict[str, float]]] | None:
        """A debugging record, off unless set to a list: each interval the general regime
        (or the star engine) held its rates constant, as (from_s, until_s, {link: allocated
        bytes/s}). (The independent regime is not recorded: its bottlenecks carry their
        traces exactly and its other links have room at every instant by its condition.)"""
        return self._log

    @allocation_log.setter
    def allocation_log(self, log: list | None) -> None:
        self._log = log
        if self.star is not None:
            self.star.allocation_log = log

    @property
    def carried_bytes(self) -> dict[str, float]:
        """Bytes each link has carried so far (conservation: never above its capacity)."""
        if self.star is not None:
            return {**self._carried, **self.star.carried_bytes}
        return self._carried

    # ------------------------------------------------------------------ public
    def add(self, key: Hashable, route: Iterable[str], size_bytes: float, t_s: float) -> None:
        """Start a flow of ``size_bytes`` at ``t_s`` (>= the current time) along ``route``."""
        if self.star is not None:
            self.star.add(key, tuple(route), size_bytes, t_s)
            self.now_s, self.events = self.star.now_s, self.star.events
            return
        if key in self.flows:
            raise ValueError(f"flow {key!r} is already in the network")
        self.advance(t_s)
        path = tuple(dict.fromkeys(n for n in route if n in self.traces))
        for name in route:
            if name not in self.carried_bytes:
                raise KeyError(f"unknown link {name!r}")
        narrowest = (min(path, key=lambda n: self.traces[n].max_capacity_bytes_per_s)
                     if path else None)
        self.flows[key] = Flow(key, path, float(size_bytes), t_s, float(size_bytes),
                               narrowest=narrowest)
        self._plan = None
        self._flow_set_changed = True

    def next_event_s(self) -> float:
        """When the allocation next changes: a finish or a capacity change (``inf``: never)."""
        if self.star is not None:
            return self.star.next_event_s()
        return self._current_plan().next_event_s

    def settle(self, until_s: float) -> None:
        """Process the events before ``until_s`` that finish no flow, when the star engine
        runs (:meth:`StarFluidNetwork.settle`); the general regimes do nothing here."""
        if self.star is not None:
            self.star.settle(until_s)
            self.now_s, self.events = self.star.now_s, self.star.events

    def advance(self, t_s: float) -> list[Flow]:
        """Move to ``t_s`` (<= :meth:`next_event_s`); returns the flows finished by then,
        in the order they were added."""
        if self.star is not None:
            done = self.star.advance(t_s)
            self.now_s, self.events = self.star.now_s, self.star.events
            return done
        if t_s < self.now_s:
            raise ValueError(f"time goes backwards: {t_s} < {self.now_s}")
        plan = self._current_plan()
        if t_s > plan.next_event_s:
            raise ValueError(f"advance past the next event: {t_s} > {plan.next_event_s}")
        if t_s > self.now_s or t_s == plan.next_event_s:  # time passes, or an event is due
            if plan.groups is not None:
                self._progress_groups(plan, t_s)
            else:
                self._progress_rates(plan, t_s)
                if self.allocation_log is not None and t_s > self.now_s:
                    self.allocation_log.append((self.now_s, t_s, plan.load))
            self.now_s = t_s
            self._plan = None
        done = [f for f in self.flows.values()
                if f.remaining_bytes <= RELATIVE_TOLERANCE * f.size_bytes]
        for f in done:
            f.remaining_bytes = 0.0
            del self.flows[f.key]
        if done:
            self._plan = None
            self._flow_set_changed = True
        return done

    # ------------------------------------------------------------------ internals
    def _current_plan(self) -> _Plan:
        if self._plan is None:
            self.events += 1
            plan = None
            if self.independent and (self._flow_set_changed or self._independent_ok):
                plan = self._independent_plan()
                self._independent_ok = plan is not None
            self._flow_set_changed = False
            self._plan = plan or self._general_plan()
        return self._plan

    def _independent_plan(self) -> _Plan | None:
        """The independent-bottleneck regime's plan, or None when its condition fails."""
        now = self.now_s
        groups: dict[str, list[Flow]] = {}
        for f in self.flows.values():
            if f.narrowest is None or f.remaining_bytes <= 0:
                return None
            groups.setdefault(f.narrowest, []).append(f)
        load: dict[str, float] = {}  # most bytes/s a non-bottleneck link may have to carry
        for link, fs in groups.items():
            peak_share = self.traces[link].max_capacity_bytes_per_s / len(fs)
            for f in fs:
                for other in f.route:
                    if other != link:
                        if other in groups:
                            return None
                        load[other] = load.get(other, 0.0) + peak_share
        for other, most in load.items():
            if self.traces[other].min_capacity_bytes_per_s < most:
                return None
        planned: dict[str, tuple[list[Flow], float]] = {}
        next_s = math.inf
        for link, fs in groups.items():
            smallest = min(f.remaining_bytes for f in fs)
            finish = self.traces[link].finish_time(now, len(fs) * smallest)
            planned[link] = (fs, finish)
            next_s = min(next_s, finish)
        return _Plan(next_s, groups=planned)

    def _general_plan(self) -> _Plan:
        now = self.now_s
        flows = list(self.flows.values())
        capacity = {n: self._capacity(n) for n in {n for f in flows for n in f.route}}
        rates = max_min_rates({f.key: f.route for f in flows}, capacity)
        next_s, finishing = math.inf, []
        load = dict.fromkeys(capacity, 0.0)
        for f in flows:
            f.rate_bytes_per_s = rates[f.key]
            for n in f.route:
                load[n] += f.rate_bytes_per_s
            if f.remaining_bytes <= 0 or f.rate_bytes_per_s == math.inf:
                t = now
            elif f.rate_bytes_per_s > 0:
                t = now + f.remaining_bytes / f.rate_bytes_per_s
            else:
                continue
            if t < next_s:
                next_s, finishing = t, [f]
            elif t == next_s:
                finishing.append(f)
        # The allocation changes when a full link's capacity changes, or when a link with
        # room to spare drops below what it carries; otherwise it stays max-min fair.
        change = math.inf
        for n, cap in capacity.items():
            trace = self.traces[n]
            if load[n] >= cap * (1 - 1e-12):
                change = min(change, trace.next_change_s(now))
            else:
                change = min(change, self._next_drop(n, load[n], next_s))
        if change < next_s:
            return _Plan(change, load=load)
        return _Plan(next_s, finishing=finishing, load=load)

    def _capacity(self, link: str) -> float:
        """The link's capacity now (cached for the rest of its trace segment)."""
        now = self.now_s
        hit = self._cap_cache.get(link)
        if hit is not None and hit[0] <= now < hit[1]:
            return hit[2]
        trace = self.traces[link]
        cap = trace.capacity_at(now)
        self._cap_cache[link] = (now, trace.next_change_s(now), cap)
        return cap

    def _next_drop(self, link: str, threshold: float, horizon_s: float) -> float:
        """:meth:`Trace.next_drop_below_s` from now, reusing the last answer for this link
        when it still holds (same threshold, not yet reached, horizon no further)."""
        now = self.now_s
        hit = self._drop_cache.get(link)
        if hit is not None:
            from_s, level, horizon, answer = hit
            if level == threshold and from_s <= now and (
                    (answer != math.inf and answer > now)
                    or (answer == math.inf and horizon_s <= horizon)):
                return answer
        answer = self.traces[link].next_drop_below_s(now, threshold, horizon_s)
        self._drop_cache[link] = (now, threshold, horizon_s, answer)
        return answer

    def _carry(self, f: Flow, nbytes: float) -> None:
        f.remaining_bytes -= nbytes
        for n in f.route:
            self._carried[n] += nbytes

    def _progress_groups(self, plan: _Plan, t_s: float) -> None:
        for link, (fs, finish) in plan.groups.items():
            if t_s == finish:  # exactly the planned level: no curve round-trip
                share = min(f.remaining_bytes for f in fs)
            else:
                share = self.traces[link].bytes_between(self.now_s, t_s) / len(fs)
            for f in fs:
                self._carry(f, min(share, f.remaining_bytes))

    def _progress_rates(self, plan: _Plan, t_s: float) -> None:
        dt = t_s - self.now_s
        ending = {id(f) for f in plan.finishing} if t_s == plan.next_event_s else set()
        for f in self.flows.values():
            if id(f) in ending or f.rate_bytes_per_s == math.inf:
                self._carry(f, f.remaining_bytes)
            else:
                self._carry(f, min(f.rate_bytes_per_s * dt, f.remaining_bytes))
