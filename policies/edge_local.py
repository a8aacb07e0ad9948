"""Edge-local: answer on the edge with the small model; nothing crosses the network."""

from __future__ import annotations

from policies.static import StaticPolicy


class EdgeLocal(StaticPolicy):
    name = "edge-local"
    mode = "edge-local"
