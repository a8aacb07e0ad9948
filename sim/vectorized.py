"""Closed-form engine for static policies: the tandem FIFO queues solved with numpy.

A static policy chooses the same operating point for every request, independent of the
network, so nothing it does depends on simulated events and the whole run has a closed
form. Each FIFO stage obeys Lindley's recursion ``end_k = max(ready_k, end_{k-1}) + work_k``,
whose solution ``end_k = W_k + max_{j<=k}(ready_j - W_{j-1})`` (``W`` = cumulative work) is
one ``cumsum`` and one ``maximum.accumulate``. The fluid link runs the same recursion in
*cumulative-capacity space* (levels in bytes: ``C(ready)`` in, ``C^-1(level)`` out), which is
exact for a piecewise-constant trace. Jobs reach the link in arrival order (the edge is
FIFO and every request of a static policy takes the same path) and reach the cloud in order
of arrival there (a stable sort handles a varying RTT), exactly as in :mod:`sim.engine`.

Results agree with the event engine to float rounding (relative ~1e-12; tested); both are
deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.base import NetworkView, Policy
from sim.costs import CostModel
from sim.engine import MBPS, RECORD_COLUMNS
from sim.traces import Trace
from sim.workload import Workload


def _truth_mbps(payload: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectorised :func:`sim.engine.truth_mbps`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        span = end - start
        ok = (span > 0) & np.isfinite(span)
        return np.where(ok, payload / np.where(ok, span, 1.0) / MBPS, np.nan)


def lindley_end(ready: np.ndarray, work: np.ndarray) -> np.ndarray:
    """End times of a FIFO single server: ``end_k = max(ready_k, end_{k-1}) + work_k``."""
    cum = np.cumsum(work)
    return cum + np.maximum.accumulate(ready - (cum - work))


def simulate_static(policy_label: str, policy: Policy, workload: Workload, trace: Trace,
                    costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
                    count_return_latency: bool = True) -> tuple[pd.DataFrame, set[str]]:
    """Per-request records (RECORD_COLUMNS) of a static policy, and the compute sources."""
    n = len(workload)
    op = policy.decide(workload.request(0), NetworkView())
    # Costs per distinct request shape (context, question, answer tokens), one key each.
    key = (workload.context_tokens.astype(np.int64) << 42) | (
        workload.question_tokens.astype(np.int64) << 21) | workload.answer_tokens.astype(
            np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    per_shape = [costs.cost(op, workload.request(int(i))) for i in first]
    sources: set[str] = set().union(*(c.compute_sources for c in per_shape))

    def column(attr: str) -> np.ndarray:
        return np.array([getattr(c, attr) for c in per_shape], dtype=float)[inverse]

    payload = column("payload_bytes")
    edge_s, edge_busy = column("edge_s"), column("edge_busy_s")
    ttft_s, cloud_busy = column("cloud_ttft_s"), column("cloud_busy_s")
    arrival = workload.arrival_s.astype(float)

    if np.any(edge_busy > 0):
        edge_start = lindley_end(arrival, edge_busy) - edge_busy
        edge_start = np.maximum(edge_start, arrival)
        ready = edge_start + edge_s
    else:
        edge_start = ready = arrival.copy()

    nan = np.full(n, np.nan)
    if op.mode == "edge-local":
        link_start = link_end = cloud_start = nan
        first_token = ready
    else:
        work = payload / link_efficiency
        ready_level = trace.cumulative_bytes_array(ready)
        end_level = lindley_end(ready_level, work)
        link_end = np.maximum(trace.time_at_level_array(end_level), ready)
        link_start = np.maximum(ready, np.concatenate(([0.0], link_end[:-1])))
        finished = np.isfinite(link_end)
        at_cloud = link_end + 0.5 * trace.rtt_at_array(link_start, default_rtt_s)
        order = np.argsort(at_cloud, kind="stable")
        cloud_end = np.empty(n)
        cloud_end[order] = lindley_end(at_cloud[order], cloud_busy[order])
        cloud_start = np.maximum(cloud_end - cloud_busy, at_cloud)
        ttft = cloud_start + ttft_s
        back = (0.5 * trace.rtt_at_array(ttft, default_rtt_s) if count_return_latency
                else np.zeros(n))
        first_token = np.where(finished, ttft + back, np.inf)
        cloud_start = np.where(finished, cloud_start, np.inf)

    latency = first_token - arrival
    qc = per_shape[0]
    df = pd.DataFrame({
        "request": np.arange(n), "arrival_s": arrival,
        "context_tokens": workload.context_tokens, "deadline_s": workload.deadline_s,
        "option": op.label, "mode": op.mode, "precision": op.precision,
        "retention": op.retention, "payload_bytes": payload.astype(np.int64),
        "edge_start_s": edge_start, "edge_end_s": ready, "link_start_s": link_start,
        "link_end_s": link_end, "cloud_start_s": cloud_start, "first_token_s": first_token,
        "latency_s": latency, "hit": latency <= workload.deadline_s,
        "quality": qc.quality, "quality_source": qc.quality_source,
        "estimate_mbps": np.nan,
        "truth_mbps": _truth_mbps(payload, link_start, link_end),
    }, columns=list(RECORD_COLUMNS))
    return df, sources
