"""Cloud-text: send the text; the cloud prefills the full context with its own model."""

from __future__ import annotations

from dataclasses import dataclass

from policies.static import StaticPolicy


class CloudText(StaticPolicy):
    name = "cloud-text"
    mode = "cloud-text"

    @dataclass(frozen=True)
    class Params:
        """No parameters: the whole text, no precision, no retention."""
