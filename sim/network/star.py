"""Water-filling for stars of shared links: max-min fair rates in O(log n) per event.

In a star (:mod:`sim.network.layout`: devices' access links -> one shared bottleneck, e.g.
radio links -> a cell uplink) every transfer gets the least of its access link's capacity
(shared equally by the transfers on that link, a **group**) and the star's fair share
``s``, where ``s`` fills the bottleneck: ``sum over groups of min(A_g, n_g s) = C``. So each
group is either *access-limited* (its transfers progress on the access link's own
cumulative capacity curve: their finishes are :meth:`Trace.finish_time` searches, with no
work while others come and go) or *cell-limited* (every cell-limited transfer gets the same
``s``, so their service is one number, the star's virtual clock ``V`` with ``dV/dt = s``,
and their finishes wait in a heap of levels of ``V``: processor sharing in virtual time).

While the split is fixed, ``s = (C - sum of access-limited capacities) / (cell-limited
transfers)`` is constant between events, so ``V`` moves in closed form and the next
cell-limited finish is ``now + (least level - V) / s``. Events, each O(log n):

* a transfer starts or finishes;
* an access-limited link's capacity changes (it moves ``s``; skipped while the star cannot
  fill up: the access links' peaks sum to at most the bottleneck's least capacity);
* a cell-limited access link's capacity drops below a guarantee ``G >= n s`` registered
  with :meth:`Trace.next_drop_below_s` (a crossing of the fair share, not every change);
* the bottleneck's capacity changes (when it is a trace).

Heaps with lazy deletion (a group's ``token`` changes when its entries go stale) keep the
access-limited groups by capacity per transfer, largest first, and the cell-limited ones by
guarantee, least first, so re-filling after an event moves only the groups that cross.
Sizes in bytes, times in seconds, rates in bytes/s.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from sim.network.cursor import LinkCursor
from sim.network.layout import StarRoute
from sim.traces import Trace

RELATIVE_TOLERANCE = 1e-9  # a transfer with this fraction of its bytes left has finished
#: a cell-limited group registers a guarantee up to this factor above the fair share, so
#: small rises of the share do not re-check it (a wake at a drop below it re-checks)
GUARANTEE_MARGIN = 1.25
_SLACK = 1e-12  # relative: a group within this of the share stays where it is

_FINISH, _WAKE, _CELL = 0, 1, 2  # kinds of timed events


@dataclass(slots=True, eq=False)
class StarFlow:
    """One transfer; ``level_bytes``: its group's per-transfer service when it finishes."""

    key: Hashable
    route: tuple[str, ...]
    size_bytes: float
    start_s: float
    level_bytes: float
    group: _Group | None
    order: int = 0  # when it was added (finishes are returned in this order)
    remaining_bytes: float = 0.0  # set only when it finishes (then 0)


@dataclass(slots=True, eq=False)
class _Group:
    """The transfers on one access link (or on none: ``trace`` None, never access-limited)."""

    link: str | None
    trace: LinkCursor | None
    star: _Star
    flows: list = field(default_factory=list)  # heap of (level_bytes, seq, StarFlow)
    cell_limited: bool = False
    capacity: float = 0.0  # access-limited: its capacity now; cell-limited: the guarantee G
    served0: float = 0.0  # per-transfer service at the anchor
    anchor: float = 0.0  # access-limited: the anchor time; cell-limited: V at the anchor
    token: int = 0  # heap entries with an older token are stale
    wake_token: int = 0  # the same for its timed wake
    finish_token: int = 0  # the same for its timed finish (access-limited)
    #: the last drop search: (from_s, level, answer, capacity from the answer) of
    #: Trace.next_drop_below_s
    drop: tuple[float, float, float, float | None] = (math.inf, 0.0, math.inf, None)

    def served(self, now_s: float) -> float:
        """Per-transfer service (bytes) received so far, as of ``now_s``."""
        if self.cell_limited:
            return self.served0 + (self.star.clock - self.anchor)
        if self.trace is None:
            return math.inf
        return self.served0 + self.trace.bytes_between(self.anchor, now_s) / len(self.flows)


@dataclass(eq=False)
class _Star:
    """One shared bottleneck (or none: ``trace`` None) and its fair share."""

    link: str | None
    trace: LinkCursor | None
    capacity: float
    peak_sum: float = 0.0  # sum of the active groups' access peaks
    unconstrained: int = 0  # active groups without an access trace
    members: set = field(default_factory=set)  # its groups with flows
    access_sum: float = 0.0  # sum of the access-limited groups' capacities (compensated)
    access_err: float = 0.0
    limited: int = 0  # access-limited groups
    cell_flows: int = 0
    share: float = math.inf
    clock: float = 0.0  # V: per-transfer service of the cell-limited transfers
    finish_s: float = math.inf
    cell_heap: list = field(default_factory=list)  # (V level, seq, group, token)
    access_heap: list = field(default_factory=list)  # (-capacity per transfer, seq, group, token)
    guard_heap: list = field(default_factory=list)  # (guarantee per transfer, seq, group, token)
    wake_token: int = 0
    #: what its live wake waits for (a traced bottleneck): "change" (any, while it has
    #: cell-limited flows), a level (a drop below the access-limited demand), or None
    watch: str | float | None = None

    def __post_init__(self) -> None:
        #: a bottleneck whose capacity changes (a trace that is not constant)
        self.traced = self.trace is not None and not self.trace.is_constant

    @property
    def quiet(self) -> bool:
        """True when the access links can never fill the bottleneck together."""
        if self.trace is None:
            return True
        return not self.unconstrained and self.peak_sum <= self.trace.min_capacity_bytes_per_s

    def add_access(self, x: float, groups: int = 0) -> None:
        """``access_sum += x`` with Neumaier's compensation (it changes at every event);
        ``groups``: access-limited groups joining (+) or leaving (-); with none left the
        sum restarts from an exact 0."""
        self.limited += groups
        if not self.limited:
            self.access_sum = self.access_err = 0.0
            return
        s = self.access_sum
        t = s + x
        self.access_err += (s - t) + x if abs(s) >= abs(x) else (x - t) + s
        self.access_sum = t

    @property
    def demand(self) -> float:
        return self.access_sum + self.access_err


class StarFluidNetwork:
    """Flows on stars of shared links (module docstring); the same interface as
    :class:`~sim.network.fluidnet.SharedFluidNetwork`: :meth:`add`, :meth:`next_event_s`,
    :meth:`advance`. ``layout``: every route flows may take (:func:`star_layout`)."""

    def __init__(self, traces: Mapping[str, Trace], layout: Mapping[tuple[str, ...], StarRoute]):
        self.traces = dict(traces)
        self.layout = dict(layout)
        self.now_s = 0.0
        self.flows: dict[Hashable, StarFlow] = {}
        self.events = 0
        self.allocation_log: list[tuple[float, float, dict[str, float]]] | None = None
        self._done_bytes: dict[str, float] = dict.fromkeys(traces, 0.0)
        self._stars: dict[str | None, _Star] = {}
        self._groups: dict[tuple[str | None, str | None], _Group] = {}
        #: timed events (time, seq, kind, group or star, token): finishes, and the others
        self._finishes: list = []
        self._wakes: list = []
        self._instant: list[StarFlow] = []  # flows on unconstrained routes
        self._seq = itertools.count()
        self._next_s: float | None = None
        self._touched: set[_Group] = set()
        self._routes: dict[tuple[str, ...], tuple] = {}  # route -> (path, StarRoute)
        #: a heap longer than this drops its stale entries (a few per group)
        self._heap_limit = 64

    # ------------------------------------------------------------------ public
    def add(self, key: Hashable, route: tuple[str, ...], size_bytes: float, t_s: float) -> None:
        """Start a flow of ``size_bytes`` at ``t_s`` (>= now) along ``route``."""
        if key in self.flows:
            raise ValueError(f"flow {key!r} is already in the network")
        route = tuple(route)
        known = self._routes.get(route)
        if known is None:
            path = tuple(dict.fromkeys(n for n in route if n in self.traces))
            parts = self.layout.get(path)
            if parts is None:
                raise KeyError(f"route {route!r} is not in the star layout")
            known = self._routes[route] = (path, parts)
        path, parts = known
        self.advance(t_s)
        size = float(size_bytes)
        if not path or size <= 0:
            flow = StarFlow(key, path, size, t_s, 0.0, None, next(self._seq))
            self._instant.append(flow)
        else:
            group = self._group(parts)
            star = group.star
            if group.flows:
                self._reanchor(group)
            else:
                group.served0, group.anchor = 0.0, self.now_s
                self._activate(group)
            flow = StarFlow(key, path, size, t_s, group.served0 + size, group, next(self._seq))
            heapq.heappush(group.flows, (flow.level_bytes, next(self._seq), flow))
            if group.cell_limited:
                star.cell_flows += 1
            self._resorted(group)
            self._refill((star,))
        self.flows[key] = flow
        self._next_s = None

    def next_event_s(self) -> float:
        """When the allocation next changes (``inf``: never)."""
        if self._next_s is None:
            self._next_s = min(self._next_finish_s(), self._first_wake())
        return self._next_s

    def settle(self, until_s: float) -> None:
        """Process the events before ``until_s`` that finish no flow (capacity changes and
        crossings), stopping at the next finish: a caller that knows no flow starts before
        ``until_s`` saves waking up for each of them."""
        while True:
            t = self._first_wake()
            if t >= until_s or t >= self._next_finish_s():
                return
            self._next_s = t  # the next event (what next_event_s would find again)
            self.advance(t)

    def _next_finish_s(self) -> float:
        if self._instant:
            t = self.now_s
        else:  # the first valid finish (stale ones are dropped)
            finishes = self._finishes
            while finishes and finishes[0][4] != finishes[0][3].finish_token:
                heapq.heappop(finishes)
            t = finishes[0][0] if finishes else math.inf
        for star in self._stars.values():
            if star.finish_s < t:
                t = star.finish_s
        return t

    def _first_wake(self) -> float:
        """The time of the first valid wake (a group's or a star's; stale ones dropped)."""
        wakes = self._wakes
        while wakes and wakes[0][4] != wakes[0][3].wake_token:
            heapq.heappop(wakes)
        return wakes[0][0] if wakes else math.inf

    def advance(self, t_s: float) -> list[StarFlow]:
        """Move to ``t_s`` (<= :meth:`next_event_s`); the flows finished by then."""
        if t_s < self.now_s:
            raise ValueError(f"time goes backwards: {t_s} < {self.now_s}")
        due = self.next_event_s()
        if t_s > due:
            raise ValueError(f"advance past the next event: {t_s} > {due}")
        if t_s > self.now_s:
            if self.allocation_log is not None:
                self._log(t_s)
            for star in self._stars.values():
                if star.cell_flows:
                    star.clock += star.share * (t_s - self.now_s)
            self.now_s = t_s
        if t_s < due:
            return []
        self.events += 1
        self._next_s = None
        return self._process(t_s)

    @property
    def carried_bytes(self) -> dict[str, float]:
        """Bytes each link has carried so far (finished flows, and the others' progress)."""
        out = dict(self._done_bytes)
        for f in self.flows.values():
            if f.group is not None:
                served = min(f.size_bytes, max(0.0, f.group.served(self.now_s)
                                               - (f.level_bytes - f.size_bytes)))
                for n in f.route:
                    out[n] += served
        return out

    # ------------------------------------------------------------------ events
    def _process(self, t_s: float) -> list[StarFlow]:
        done, self._instant = self._instant, []
        stars: set[_Star] = set()
        wakes, finishes = self._wakes, self._finishes
        while wakes and wakes[0][0] <= t_s:
            entry = heapq.heappop(wakes)
            obj = entry[3]
            if entry[4] == obj.wake_token:
                if entry[2] == _CELL:
                    obj.capacity = obj.trace.capacity_at(t_s)
                    obj.watch = None
                    stars.add(obj)
                else:
                    self._wake(obj, t_s)
                    stars.add(obj.star)
        while finishes and finishes[0][0] <= t_s:
            entry = heapq.heappop(finishes)
            group = entry[3]
            if entry[4] == group.finish_token:
                group.finish_token += 1
                done += self._finish_group(group, forced=True)
                stars.add(group.star)
        for star in self._stars.values():
            if star.finish_s <= t_s:
                done += self._finish_cell(star)
                stars.add(star)
        self._refill(stars)
        for f in done:
            f.remaining_bytes = 0.0
            self.flows.pop(f.key, None)
            for n in f.route:
                self._done_bytes[n] += f.size_bytes
        done.sort(key=lambda f: f.order)
        return done

    def _valid(self, entry) -> bool:
        _, _, kind, obj, token = entry
        return token == (obj.finish_token if kind == _FINISH else obj.wake_token)

    def _finish_group(self, group: _Group, forced: bool) -> list[StarFlow]:
        """Take out the group's flows that have their bytes (``forced``: at least the one
        planned to finish now, whose level is reached exactly)."""
        flows = group.flows
        served = flows[0][0] if forced else group.served(self.now_s)
        if forced and group.cell_limited:
            served = max(served, group.served(self.now_s))
        done = []
        while flows and flows[0][0] - served <= RELATIVE_TOLERANCE * flows[0][2].size_bytes:
            done.append(heapq.heappop(flows)[2])
        if not done:
            return done
        self._reanchor(group, served)
        if group.cell_limited:
            group.star.cell_flows -= len(done)
        if flows:
            self._resorted(group)
        else:
            self._deactivate(group)
        return done

    def _finish_cell(self, star: _Star) -> list[StarFlow]:
        """The cell-limited finishes planned for now: the clock is at their level."""
        heap = star.cell_heap
        done = []
        first = True
        while heap:
            level, _, group, token = heap[0]
            if token != group.token:
                heapq.heappop(heap)
                continue
            if first:
                star.clock = max(star.clock, level)
                first = False
            elif level - star.clock > RELATIVE_TOLERANCE * group.flows[0][2].size_bytes:
                break
            heapq.heappop(heap)
            done += self._finish_group(group, forced=True)
        star.finish_s = math.inf
        return done

    def _wake(self, group: _Group, t_s: float) -> None:
        """An access link's capacity changed (access-limited) or fell below the guarantee."""
        cap = group.trace.capacity_at(t_s)
        star = group.star
        if group.cell_limited:
            group.capacity = cap  # the guarantee it can still give; re-registered on refill
            self._resorted(group)
        else:
            star.add_access(cap - group.capacity)
            group.capacity = cap
            group.token += 1
            self._push_access(group)
            if not star.quiet or self.allocation_log is not None:
                self._schedule_wake(group)

    # ------------------------------------------------------------------ water-filling
    def _refill(self, stars) -> None:
        """Move groups between access-limited and cell-limited until each is on the right
        side of its star's fair share; then the timed events of the groups that moved or
        changed, and each star's next cell-limited finish."""
        now, pop = self.now_s, heapq.heappop
        for star in stars:
            if star.traced and star.watch != "change":  # its capacity was not followed
                star.capacity = star.trace.capacity_at(now)
            access, guard = star.access_heap, star.guard_heap
            for _ in range(4 * len(self._groups) + 8):  # one move a round, or done
                while access and access[0][3] != access[0][2].token:  # (stale entries)
                    pop(access)
                top = access[0][2] if access else None  # most capacity per transfer
                if star.cell_flows == 0:
                    star.share = math.inf
                    if star.demand <= star.capacity or top is None:
                        break
                    self._to_cell(top)
                    continue
                share = star.share = max(star.capacity - star.demand, 0.0) / star.cell_flows
                if top is not None and top.capacity / len(top.flows) > share * (1 + _SLACK):
                    self._to_cell(top)
                    continue
                while guard and guard[0][3] != guard[0][2].token:
                    pop(guard)
                if not guard:
                    break
                low = guard[0][2]  # the least guarantee per transfer
                if low.capacity / len(low.flows) >= share * (1 - _SLACK):
                    break
                cap = low.trace.capacity_at(now)
                if cap / len(low.flows) < share * (1 - _SLACK):
                    self._to_access(low, cap)
                else:
                    low.capacity = cap
                    self._resorted(low)
        for group in self._touched:
            self._reschedule(group)
        self._touched.clear()
        for star in stars:
            self._plan_cell(star)

    def _to_cell(self, group: _Group) -> None:
        star = group.star
        self._reanchor(group)
        star.add_access(-group.capacity, -1)
        group.cell_limited = True
        group.anchor = star.clock
        star.cell_flows += len(group.flows)
        group.wake_token += 1
        group.finish_token += 1
        self._resorted(group)

    def _to_access(self, group: _Group, cap: float) -> None:
        star = group.star
        self._reanchor(group)
        star.cell_flows -= len(group.flows)
        group.cell_limited = False
        group.anchor = self.now_s
        group.capacity = cap
        star.add_access(cap, 1)
        group.wake_token += 1
        self._resorted(group)

    def _plan_cell(self, star: _Star) -> None:
        self._schedule_cell(star)
        heap = star.cell_heap
        while heap and heap[0][3] != heap[0][2].token:  # (stale entries)
            heapq.heappop(heap)
        if not heap or star.cell_flows == 0 or star.share <= 0:
            star.finish_s = math.inf
            return
        star.finish_s = self.now_s + max(heap[0][0] - star.clock, 0.0) / star.share

    # ------------------------------------------------------------------ groups
    def _group(self, parts: StarRoute) -> _Group:
        group = self._groups.get((parts.access, parts.bottleneck))
        if group is None:
            star = self._stars.get(parts.bottleneck)
            if star is None:
                trace = self._cursor(parts.bottleneck) if parts.bottleneck else None
                star = self._stars[parts.bottleneck] = _Star(parts.bottleneck, trace, math.inf)
            trace = self._cursor(parts.access) if parts.access is not None else None
            group = _Group(parts.access, trace, star)
            self._groups[parts.access, parts.bottleneck] = group
            self._heap_limit = 4 * len(self._groups) + 64
        return group

    def _cursor(self, link: str) -> LinkCursor | None:
        """The link's trace behind a :class:`LinkCursor` (the same answers, faster)."""
        trace = self.traces.get(link)
        return None if trace is None else LinkCursor(trace)

    def _activate(self, group: _Group) -> None:
        """An idle group gets its first flow: cell-limited when its capacity now is above
        the share (or it has no access trace), else access-limited (the refill that
        follows moves it if the share changes)."""
        star = group.star
        if not star.members and star.trace is not None:  # the star wakes up
            star.capacity = star.trace.capacity_at(self.now_s)
        star.members.add(group)
        was_quiet = star.quiet
        group.token += 1
        group.wake_token += 1
        if group.trace is None:
            star.unconstrained += 1
            group.cell_limited, group.capacity, group.anchor = True, math.inf, star.clock
        else:
            star.peak_sum += group.trace.max_capacity_bytes_per_s
            group.capacity = group.trace.capacity_at(self.now_s)
            group.cell_limited = star.cell_flows > 0 and group.capacity > star.share
            if group.cell_limited:
                group.anchor = star.clock
            else:
                group.anchor = self.now_s
                star.add_access(group.capacity, 1)
        if was_quiet and not star.quiet:
            self._wake_all(star)

    def _deactivate(self, group: _Group) -> None:
        star = group.star
        if group.trace is None:
            star.unconstrained -= 1
        else:
            star.peak_sum -= group.trace.max_capacity_bytes_per_s
        if not group.cell_limited:
            star.add_access(-group.capacity, -1)
        group.token += 1
        group.wake_token += 1
        group.finish_token += 1
        group.served0 = 0.0
        star.members.discard(group)
        if not star.members:  # idle: start afresh (no drift carried over), stop its wakes
            star.clock = star.peak_sum = 0.0
            star.wake_token += 1
            star.watch = None

    def _wake_all(self, star: _Star) -> None:
        """The star can fill up now: its access-limited groups' capacities are refreshed
        and each wakes at its next change from here on."""
        for g in star.members:
            if g.flows and not g.cell_limited and g.trace is not None:
                star.add_access(g.trace.capacity_at(self.now_s) - g.capacity)
                g.capacity = g.trace.capacity_at(self.now_s)
                g.token += 1
                self._push_access(g)
                self._schedule_wake(g)

    def _reanchor(self, group: _Group, served: float | None = None) -> None:
        """Fold the service so far into ``served0`` and restart the group's clock now."""
        group.served0 = group.served(self.now_s) if served is None else served
        group.anchor = group.star.clock if group.cell_limited else self.now_s

    def _resorted(self, group: _Group) -> None:
        """The group's flows or capacity changed: fresh heap entries, events replanned."""
        token = group.token = group.token + 1
        if group.cell_limited:  # its level in the cell's heap, then its guarantee
            self._push_group(group.star.cell_heap, (
                group.flows[0][0] - group.served0 + group.anchor, next(self._seq), group, token))
            self._push_guard(group, group.capacity)
        else:
            self._push_access(group)
        self._touched.add(group)

    def _push_access(self, group: _Group) -> None:
        self._push_group(group.star.access_heap, (-group.capacity / len(group.flows),
                                                  next(self._seq), group, group.token))

    def _push_guard(self, group: _Group, guarantee: float) -> None:
        self._push_group(group.star.guard_heap, (guarantee / len(group.flows),
                                                 next(self._seq), group, group.token))

    def _push_group(self, heap: list, entry: tuple) -> None:
        """Push onto a group heap; past a few entries per group, the stale ones (an older
        token) are dropped all at once: entries are unique by their sequence number, so
        the least live entry, the only one read, is the same."""
        heapq.heappush(heap, entry)
        if len(heap) > self._heap_limit:
            heap[:] = [e for e in heap if e[3] == e[2].token]
            heapq.heapify(heap)

    def _reschedule(self, group: _Group) -> None:
        """The timed events of a group that moved or changed: an access-limited group's
        finish on its own curve (and its next capacity change unless the star is quiet); a
        cell-limited group's wake when its link drops below the guarantee it registers."""
        if not group.flows:
            return
        if group.cell_limited:
            if group.trace is None:
                return
            star = group.star
            n = len(group.flows)
            guarantee = min(group.capacity, n * star.share * GUARANTEE_MARGIN)
            group.capacity = guarantee
            self._push_guard(group, guarantee)  # (the entry of the larger one stays: harmless)
            group.wake_token += 1
            self._push_timed(self._next_drop(group, guarantee), _WAKE, group, group.wake_token)
            return
        n = len(group.flows)
        finish = group.trace.finish_time(group.anchor, n * (group.flows[0][0] - group.served0))
        group.finish_token += 1
        self._push_timed(finish, _FINISH, group, group.finish_token)
        if not group.star.quiet or self.allocation_log is not None:
            self._schedule_wake(group)

    def _next_drop(self, group: _Group, level: float) -> float:
        """:meth:`Trace.next_drop_below_s` from now, reusing the last search when it still
        answers: the capacity stayed at or above a level at least this one until that
        answer, and the answer's own segment is below this one too (or never dropped)."""
        now, (from_s, last, answer, cap) = self.now_s, group.drop
        if from_s <= now < answer and level <= last and (answer == math.inf or cap < level):
            return answer
        answer = group.trace.next_drop_below_s(now, level, math.inf)
        group.drop = (now, level, answer, group.trace.hit_capacity)
        return answer

    def _schedule_wake(self, group: _Group) -> None:
        """An access-limited group wakes when its capacity next differs from now's (a run
        of equal segments, e.g. an outage sampled each second, is one wake)."""
        group.wake_token += 1
        t = group.trace.next_other_s(self.now_s, group.capacity)
        self._push_timed(t, _WAKE, group, group.wake_token)

    def _schedule_cell(self, star: _Star) -> None:
        """A traced bottleneck wakes at each change while it has cell-limited flows (they
        share it), else only when it drops below the access-limited demand (the demand
        only rises at events, which re-register)."""
        if not star.traced or not star.members:
            return
        if star.cell_flows:
            if star.watch == "change":
                return
            star.watch = "change"
            t = star.trace.next_change_s(self.now_s)
        else:
            level = star.demand
            if star.watch != "change" and star.watch is not None and level <= star.watch:
                return
            star.watch = level
            t = star.trace.next_drop_below_s(self.now_s, level, math.inf)
        star.wake_token += 1
        self._push_timed(t, _CELL, star, star.wake_token)

    def _push_timed(self, t_s: float, kind: int, obj, token: int) -> None:
        if t_s != math.inf:
            heap = self._finishes if kind == _FINISH else self._wakes
            heapq.heappush(heap, (t_s, next(self._seq), kind, obj, token))
            if len(heap) > self._heap_limit:  # drop the stale entries (as above)
                heap[:] = [e for e in heap if self._valid(e)]
                heapq.heapify(heap)

    # ------------------------------------------------------------------ debugging
    def _log(self, t_s: float) -> None:
        """Record the rates held on ``[now, t_s)`` when :attr:`allocation_log` is a list."""
        if self.allocation_log is None:
            return
        load: dict[str, float] = {}
        for group in self._groups.values():
            if not group.flows:
                continue
            star = group.star
            rate = (len(group.flows) * star.share if group.cell_limited else group.capacity)
            for f in group.flows:
                for n in f[2].route:
                    load[n] = load.get(n, 0.0) + rate / len(group.flows)
        self.allocation_log.append((self.now_s, t_s, load))
