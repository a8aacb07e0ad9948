"""Operating points: what the edge sends for one request (mode, precision, retention)."""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import InputError

MODES = ("kv", "scout", "cloud-text", "edge-local")
KV_PRECISIONS = ("bf16", "int8", "int4", "mixed")


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One choice a policy can make.

    - ``kv``: the edge model's KV-cache at ``precision``, pruned to ``retention`` of the
      context positions chosen by ``selection``; the cloud decodes with the edge model.
    - ``scout``: indices of ``retention`` of the context positions (edge model's attention,
      ``selection``); the cloud re-prefills with its own model and masks its cache.
    - ``cloud-text``: the text; full cloud prefill. ``edge-local``: answer on the edge.
    """

    mode: str
    precision: str = "bf16"
    retention: float = 1.0
    selection: str = "q2c"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.mode == "kv" and self.precision not in KV_PRECISIONS:
            raise InputError(f"unknown KV precision {self.precision!r}; "
                             f"known: {', '.join(KV_PRECISIONS)}")
        if not (0 < self.retention <= 1):
            raise InputError(f"retention must be in (0, 1], not {self.retention}")
        if self.mode in ("cloud-text", "edge-local") and self.retention != 1:
            raise InputError(f"mode {self.mode} has no retention")

    @property
    def label(self) -> str:
        """Short name, e.g. ``kv-int8@100%`` or ``scout@50%``."""
        pct = f"@{self.retention * 100:g}%"
        if self.mode == "kv":
            return f"kv-{self.precision}{pct}"
        if self.mode == "scout":
            return f"scout{pct}"
        return self.mode
