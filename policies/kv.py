"""KV-cache transfer at a fixed precision (``bf16``, ``int8``, ``int4``, ``mixed``)."""

from __future__ import annotations

from policies.static import StaticPolicy


class KVTransfer(StaticPolicy):
    """Send the edge model's KV-cache at a fixed precision and retention (default: the
    scenario's ``kv_retention``, 100%); the cloud decodes with the edge model."""

    name = "kv"
    mode = "kv"

    def default_retention(self) -> float:
        return self.context.kv_retention
