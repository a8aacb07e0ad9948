"""Policy base class and what a policy may look at.

A policy sees the request and the past: transfers that have completed (size, start, end)
and RTT samples taken by then. It never sees the trace itself or anything in the future;
the engine only appends an observation to :class:`NetworkView` when the event that reveals
it has happened in simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from models.operating import OperatingPoint
from models.request import Request


@dataclass
class TransferObservation:
    """A completed transfer as the sender saw it. Bytes and seconds."""

    size_bytes: float
    start_s: float
    end_s: float

    @property
    def throughput_bytes_per_s(self) -> float:
        span = self.end_s - self.start_s
        return self.size_bytes / span if span > 0 else float("inf")


@dataclass
class NetworkView:
    """What the sender knows at ``now_s``: completed transfers, RTT samples, and the state
    of its own queues (the edge accelerator's, the bytes it has queued on the uplink that
    are not yet delivered, and the cloud GPU's queue, which the cloud exposes)."""

    now_s: float = 0.0
    transfers: list[TransferObservation] = field(default_factory=list)
    rtt_samples_s: list[tuple[float, float]] = field(default_factory=list)  # (time, rtt)
    arrivals_s: list[float] = field(default_factory=list)  # arrival times so far
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
