"""KV-cache transfer at a fixed precision (``bf16``, ``int8``, ``int4``, ``mixed``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policies.static import StaticPolicy


class KVTransfer(StaticPolicy):
    """Send the edge model's KV-cache at a fixed precision and retention (default: the
    scenario's ``kv_retention``, 100%); the cloud decodes with the edge model."""

    name = "kv"
    mode = "kv"

    @dataclass(frozen=True)
    class Params:
        precision: Literal["bf16", "int8", "int4", "mixed"] = field(
            default="bf16", metadata={"help": "KV-cache precision (models.operating."
                                              "KV_PRECISIONS; the registry fixes it per name)"})
        retention: float | None = field(default=None, metadata={
            "help": "fraction of the context positions whose KV is sent (default: the "
                    "scenario's --kv-retention)", "range": "(0, 1]"})

    def default_retention(self) -> float:
        return self.context.kv_retention
