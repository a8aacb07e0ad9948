"""Scout: send the indices of the positions the edge model's attention ranks highest."""

from __future__ import annotations

from policies.static import StaticPolicy


class Scout(StaticPolicy):
    """Indices of the top ``retention`` of context positions (default: the scenario's
    ``scout_retention``, 50%); the cloud re-prefills and masks its KV to them."""

    name = "scout"
    mode = "scout"

    def default_retention(self) -> float:
        return self.context.scout_retention
