"""Edge-local: answer on the edge with the small model; nothing crosses the network."""

from __future__ import annotations

from dataclasses import dataclass

from policies.static import StaticPolicy


class EdgeLocal(StaticPolicy):
    name = "edge-local"
    mode = "edge-local"

    @dataclass(frozen=True)
    class Params:
        """No parameters: nothing is sent."""
