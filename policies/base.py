"""Policy base class and what a policy may look at.

A policy sees the request and the past: transfers that have completed (size, start, end)
and RTT samples taken by then. It never sees the trace itself or anything in the future;
the engine only appends an observation to :class:`NetworkView` when the event that reveals
it has happened in simulated time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from models.operating import OperatingPoint
from models.request import Request


@dataclass(slots=True)
class TransferObservation:
    """A completed transfer as the sender saw it. Bytes and seconds."""

    size_bytes: float
    start_s: float
    end_s: float

    @property
    def throughput_bytes_per_s(self) -> float:
        span = self.end_s - self.start_s
        return self.size_bytes / span if span > 0 else float("inf")


class History:
    """What a policy may read of the past, in bounded memory however long the run: an
    append-only log that counts every entry and keeps the first and the last ``keep``.
    ``len`` is the count of all entries; ``h[0]`` the first, ``h[-1]`` the last, and
    ``h[n:]`` the entries after the first ``n`` (a reader's cursor: it must read before
    ``keep`` more arrive, or it fails loudly rather than skip them). ``total`` is ``len``
    as a plain attribute (read it, never set it: a reader's hot path)."""

    __slots__ = ("_items", "total", "_first")

    #: entries kept: far more than complete between two decisions of one sender
    KEEP = 4096

    def __init__(self, keep: int = KEEP):
        self._items: deque = deque(maxlen=keep)
        self.total = 0
        self._first: Any = None

    def append(self, item: Any) -> None:
        if not self.total:
            self._first = item
        self._items.append(item)
        self.total += 1

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[Any]:
        """The entries kept (the last ``keep``)."""
        return iter(self._items)

    def first(self) -> Any:
        """The first entry ever appended (``h[0]``, kept even when dropped from the window)."""
        if not self.total:
            raise IndexError("an empty history has no first entry")
        return self._first

    def last(self) -> Any:
        """The latest entry (``h[-1]``) without the index arithmetic."""
        return self._items[-1]

    def since(self, count: int) -> list[Any]:
        """The entries after the first ``count`` (``h[count:]``), without its checks'
        cost when one or none is new: a reader's hot path."""
        new = self.total - count
        if new == 1:
            return [self._items[-1]]
        return [] if new <= 0 else self[count:]

    def __getitem__(self, i: int | slice) -> Any:
        items, total = self._items, self.total
        if isinstance(i, slice):
            if i.stop is not None or i.step is not None or (i.start or 0) < 0:
                raise TypeError("History supports h[n:] with n >= 0 only")
            new = total - min(i.start or 0, total)
            if new > len(items):
                raise RuntimeError(f"{new} entries were added since the reader's cursor, "
                                   f"more than the {len(items)} kept")
            return [items[k] for k in range(-new, 0)]  # from the right end: O(new)
        if i == 0 and total:
            return self._first
        at = i if i >= 0 else total + i
        if not total - len(items) <= at < total:
            raise IndexError(f"entry {i} of a history of {total} is not kept")
        return items[at - (total - len(items))]


@dataclass
class NetworkView:
    """What the sender knows at ``now_s``: completed transfers, RTT samples, and the state
    of its own queues (the edge accelerator's, the bytes it has queued on the uplink that
    are not yet delivered, and the cloud GPU's queue, which the cloud exposes)."""

    now_s: float = 0.0
    # the past, bounded (History): completed transfers, RTT samples (time, rtt), arrivals
    transfers: History = field(default_factory=History)
    rtt_samples_s: History = field(default_factory=History)
    arrivals_s: History = field(default_factory=History)
    edge_free_at_s: float = 0.0
    link_backlog_bytes: float = 0.0
    cloud_free_at_s: float = 0.0
    waiting_cloud_work_s: float = 0.0  # cloud work of requests not yet at the cloud
    #: transfers on the wire now and not yet complete: (size_bytes, start_s)
    inflight: list[tuple[float, float]] = field(default_factory=list)
    link_efficiency: float = 1.0
    count_return_latency: bool = True
    latency: str = "after"  # where the link's latency sits (models.pipeline)
    #: the transport's TCP settings (models.transport.TcpConfig), None for the fluid link
    tcp: Any = None
    #: Clairvoyant policies only: exact first-token time of the current request under an
    #: operating point, from the future trace. None for every other policy.
    what_if: Callable[[OperatingPoint], float] | None = None


@dataclass
class PolicyContext:
    """Run-level facts a policy may use: the scenario's defaults and cost lookups.

    ``costs(op, request)`` returns the operating point's payload bytes, compute times and
    expected quality (see :class:`sim.costs.OpCost`); it never reveals the network.
    """

    costs: Any = None
    scout_retention: float = 0.5
    kv_retention: float = 1.0
    selection: str = "q2c"
    #: every operating point the quality cache can value (adaptive policies choose among them)
    options: list[OperatingPoint] = field(default_factory=list)


class Policy:
    """Base class. Subclasses set ``name`` and implement :meth:`decide`.

    ``params`` come from the policy spec (``name:retention`` on the command line, or the
    registry entry's fixed parameters).
    """

    name: ClassVar[str] = "policy"
    #: True when decide() never looks at the NetworkView (lets tests assert it): engines
    #: then skip keeping the view up to date, and static runs have a closed form.
    static: ClassVar[bool] = False
    #: True for upper-bound policies that may call ``view.what_if`` (they see the future).
    clairvoyant: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.context = PolicyContext()

    def reset(self, context: PolicyContext) -> None:
        """Called once before a run."""
        self.context = context

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        raise NotImplementedError
