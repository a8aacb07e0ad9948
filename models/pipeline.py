"""The request pipeline, written once: the stage arithmetic every engine and predictor uses.

A request's path::

    arrival -> edge compute (FIFO edge accelerator, when its mode computes on the edge)
            -> [mode uses the link] uplink transfer -> one-way delay -> cloud (FIFO or
               batched GPU): first token after ``cloud_ttft_s``
            -> one-way delay back to the user (when return latency counts)

A mode that does not use the link (``OpCost.uses_link`` False, e.g. ``edge-local``) answers
on the edge: its first token is at the user when edge compute ends.

The engines differ only in how they solve the *queues*: :mod:`sim.engine` (events, a
FIFO fluid link), :mod:`sim.vectorized` (closed form in numpy, the same arithmetic on
arrays), :mod:`sim.multiuser` (many devices sharing links max-min fairly); predictors
(:mod:`policies.predict`, ``mpc``, the oracle's exact what-if) replace a queue by an
estimate. Every one of them takes the stage times from here, and reads a mode only through
its cost (:class:`sim.costs.OpCost`: ``uses_link``, bytes and seconds), so adding a mode
(:func:`sim.costs.register_mode`) touches no engine.

This module sits in ``models`` (the bottom layer) so that ``policies`` can use it without
importing ``sim``. Costs are duck-typed: anything with the :class:`~sim.costs.OpCost`
fields works. Times in seconds.
"""

from __future__ import annotations

from typing import Any, Protocol


class StageCost(Protocol):
    """The fields of :class:`sim.costs.OpCost` the pipeline reads."""

    payload_bytes: int
    edge_s: float
    edge_busy_s: float
    cloud_ttft_s: float
    cloud_busy_s: float
    uses_link: bool


def fifo_start_s(ready_s: float, free_at_s: float) -> float:
    """Start of service at a FIFO server that frees up at ``free_at_s``."""
    return ready_s if ready_s > free_at_s else free_at_s


def edge_stage_s(now_s: float, edge_free_at_s: float, c: StageCost) -> tuple[float, float]:
    """(start, ready) of a request's edge stage that joins the FIFO edge accelerator at
    ``now_s``: it starts when the accelerator frees up and hands off ``edge_s`` later. A
    mode with no edge work skips the queue: (now, now)."""
    if c.edge_busy_s > 0:
        start = fifo_start_s(now_s, edge_free_at_s)
        return start, start + c.edge_s
    return now_s, now_s


def edge_free_after_s(now_s: float, edge_free_at_s: float, c: StageCost) -> float:
    """When the edge accelerator frees up after taking a request at ``now_s`` (its
    ``edge_busy_s`` includes decoding a local answer); unchanged for a mode with no edge
    work."""
    if c.edge_busy_s > 0:
        return fifo_start_s(now_s, edge_free_at_s) + c.edge_busy_s
    return edge_free_at_s


def take_edge_s(edge: Any, now_s: float, c: StageCost) -> tuple[float, float]:
    """:func:`edge_stage_s` on a :class:`~sim.server.FifoServer`, occupying it for the
    request's ``edge_busy_s`` (the hand-off plus, for a local answer, its decoding)."""
    if c.edge_busy_s > 0:  # edge_stage_s, with the server keeping its own free time
        start = edge.serve(now_s, c.edge_busy_s)
        return start, start + c.edge_s
    return now_s, now_s


def wire_bytes(c: StageCost, link_efficiency: float) -> float:
    """Bytes the link must carry for the payload (capacity -> goodput by ``efficiency``)."""
    return c.payload_bytes / link_efficiency


#: where a transfer's latency sits: ``after`` the bytes (one-way RTT/2 of propagation after
#: the last byte leaves; the link is free meanwhile: scoutsim's default, and Pensieve's
#: LINK_RTT with ``--rtt`` twice it) or ``before`` them (one request round trip with the link
#: idle, then the bytes; nothing after: Sabre's latency_ms before each download)
LATENCY_PLACEMENTS = ("after", "before")


def bytes_start_s(start_s: float, rtt_s: float, latency: str = "after") -> float:
    """When a transfer's first byte flows, given when it took the link: one RTT later with
    the latency ``before`` it, at once with it ``after``."""
    return start_s + rtt_s if latency == "before" else start_s


def at_cloud_s(link_end_s: float, one_way_s: float, latency: str = "after") -> float:
    """When the payload reaches the cloud: the transfer's end plus the one-way delay (with
    the latency ``after`` the bytes), or the end itself (``before``: already paid)."""
    return link_end_s if latency == "before" else link_end_s + one_way_s


def first_token_s(cloud_start_s: float, c: StageCost) -> float:
    """When the cloud emits the first answer token."""
    return cloud_start_s + c.cloud_ttft_s


def at_user_s(token_s: float, one_way_s: float, count_return_latency: bool) -> float:
    """When the first token reaches the user (the delay back counts only when asked)."""
    return token_s + (one_way_s if count_return_latency else 0.0)
