"""Scout: send the indices of the positions the edge model's attention ranks highest."""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.static import StaticPolicy


class Scout(StaticPolicy):
    """Indices of the top ``retention`` of context positions (default: the scenario's
    ``scout_retention``, 50%); the cloud re-prefills and masks its KV to them."""

    name = "scout"
    mode = "scout"

    @dataclass(frozen=True)
    class Params:
        retention: float | None = field(default=None, metadata={
            "help": "fraction of the context positions whose indices are sent (default: "
                    "the scenario's --scout-retention)", "range": "(0, 1]"})

    def default_retention(self) -> float:
        return self.context.scout_retention
