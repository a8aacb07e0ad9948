"""A FIFO single server (an edge accelerator or a cloud GPU serving one request at a time).

Jobs are served in the order they become ready, so a job's start and end are known the
moment it joins the queue: ``start = max(ready, free_at)``, ``end = start + service``.
"""

from __future__ import annotations

from models.pipeline import fifo_start_s


class FifoServer:
    """FIFO server with known service times; ``busy_s`` accumulates work done."""

    def __init__(self, name: str):
        self.name = name
        self.free_at_s = 0.0
        self.busy_s = 0.0

    def serve(self, ready_s: float, service_s: float) -> float:
        """Queue a job; returns its start time. It occupies the server for ``service_s``."""
        start = fifo_start_s(ready_s, self.free_at_s)
        self.free_at_s = start + service_s
        self.busy_s += service_s
        return start
