"""Static policies: the same operating point for every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.operating import OperatingPoint
from policies.base import NetworkView, Policy


class StaticPolicy(Policy):
    """Always the same mode. ``retention`` (0-1] overrides the scenario's default."""

    static = True
    mode = "kv"
    precision = "bf16"

    @dataclass(frozen=True)
    class Params:
        """Parameters of a static policy (subclasses narrow them)."""

        precision: str | None = field(default=None, metadata={
            "help": "precision of the payload (default: the class's)"})
        retention: float | None = field(default=None, metadata={
            "help": "fraction of the context positions kept (default: the scenario's)",
            "range": "(0, 1]"})

    def __init__(self, **params: Any) -> None:
        p = self.Params(**params)  # an unknown name is a TypeError, as with a signature
        precision = getattr(p, "precision", None)
        retention = getattr(p, "retention", None)
        super().__init__(precision=precision, retention=retention)
        if precision is not None:
            self.precision = precision
        self._retention = retention
        self._op: OperatingPoint | None = None

    def default_retention(self) -> float:
        return 1.0

    def reset(self, context) -> None:
        super().reset(context)
        r = self._retention if self._retention is not None else self.default_retention()
        self._op = OperatingPoint(self.mode, self.precision, r, context.selection)

    def decide(self, request, view: NetworkView) -> OperatingPoint:
        return self._op  # type: ignore[return-value]
