"""Policy base class and what a policy may look at.

A policy sees the request and the past: transfers that have completed (size, start, end)
and RTT samples taken by then. It never sees the trace itself or anything in the future;
the engine only appends an observation to :class:`NetworkView` when the event that reveals
it has happened in simulated time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from models.operating import OperatingPoint

if TYPE_CHECKING:
    from sim.workload import Request


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
    """What the sender has observed up to ``now_s``."""

    now_s: float = 0.0
    transfers: list[TransferObservation] = field(default_factory=list)
    rtt_samples_s: list[tuple[float, float]] = field(default_factory=list)  # (time, rtt)


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


class Policy:
    """Base class. Subclasses set ``name`` and implement :meth:`decide`.

    ``params`` come from the policy spec (``name:retention`` on the command line, or the
    registry entry's fixed parameters).
    """

    name: ClassVar[str] = "policy"
    #: True when decide() never looks at the NetworkView (lets tests assert it).
    static: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.context = PolicyContext()

    def reset(self, context: PolicyContext) -> None:
        """Called once before a run."""
        self.context = context

    def decide(self, request: Request, view: NetworkView) -> OperatingPoint:
        raise NotImplementedError
