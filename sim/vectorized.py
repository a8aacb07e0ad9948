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
The stage arithmetic between the queues is :mod:`models.pipeline`'s, applied to arrays.

Results agree with the event engine to float rounding (relative ~1e-12; tested); both are
deterministic.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from models.pipeline import at_cloud_s, at_user_s, first_token_s, wire_bytes
from models.units import BYTES_PER_S_PER_MBPS
from policies.base import NetworkView, Policy
from sim.costs import CostModel, OpCost
from sim.records import RECORD_COLUMNS
from sim.traces import Trace
from sim.workload import Workload


def _truth_mbps(payload: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectorised :func:`sim.records.truth_mbps`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        span = end - start
        ok = (span > 0) & np.isfinite(span)
        return np.where(ok, payload / np.where(ok, span, 1.0) / BYTES_PER_S_PER_MBPS, np.nan)


def lindley_end(ready: np.ndarray, work: np.ndarray) -> np.ndarray:
    """End times of a FIFO single server: ``end_k = max(ready_k, end_{k-1}) + work_k``."""
    cum = np.cumsum(work)
    return cum + np.maximum.accumulate(ready - (cum - work))


class ClosedFormEngine:
    """A static policy's whole run as array arithmetic (see the module docstring)."""

    def __init__(self, policy: Policy, trace: Trace, costs: CostModel, *, default_rtt_s: float,
                 link_efficiency: float = 1.0, count_return_latency: bool = True):
        self.policy, self.trace, self.costs = policy, trace, costs
        self.default_rtt_s = default_rtt_s
        self.link_efficiency = link_efficiency
        self.count_return_latency = count_return_latency

    def run(self, workload: Workload) -> tuple[pd.DataFrame, set[str]]:
        """Per-request records (RECORD_COLUMNS) and the compute sources used."""
        n = len(workload)
        op = self.policy.decide(workload.request(0), NetworkView())
        per_shape, c = self._costs(op, workload)
        arrival = workload.arrival_s.astype(float)
        edge_start, ready = self._edge(arrival, c)
        nan = np.full(n, np.nan)
        if per_shape[0].uses_link:
            link_start, link_end, cloud_start, at_user = self._link_and_cloud(ready, c, n)
        else:
            link_start = link_end = cloud_start = nan
            at_user = ready
        latency = at_user - arrival
        qc = per_shape[0]
        df = pd.DataFrame({
            "request": np.arange(n), "arrival_s": arrival,
            "context_tokens": workload.context_tokens, "deadline_s": workload.deadline_s,
            "option": op.label, "mode": op.mode, "precision": op.precision,
            "retention": op.retention, "payload_bytes": c.payload_bytes.astype(np.int64),
            "edge_start_s": edge_start, "edge_end_s": ready, "link_start_s": link_start,
            "link_end_s": link_end, "cloud_start_s": cloud_start, "first_token_s": at_user,
            "latency_s": latency, "hit": latency <= workload.deadline_s,
            "quality": qc.quality, "quality_source": qc.quality_source,
            "estimate_mbps": np.nan,
            "truth_mbps": _truth_mbps(c.payload_bytes, link_start, link_end),
        }, columns=list(RECORD_COLUMNS))
        return df, set().union(*(pc.compute_sources for pc in per_shape))

    def _costs(self, op, workload: Workload) -> tuple[list[OpCost], SimpleNamespace]:
        """Costs per distinct request shape (context, question, answer tokens), one key
        each, and their fields spread over the requests as arrays."""
        key = (workload.context_tokens.astype(np.int64) << 42) | (
            workload.question_tokens.astype(np.int64) << 21) | workload.answer_tokens.astype(
                np.int64)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        per_shape = [self.costs.cost(op, workload.request(int(i))) for i in first]

        def column(attr: str) -> np.ndarray:
            return np.array([getattr(pc, attr) for pc in per_shape], dtype=float)[inverse]

        fields = ("payload_bytes", "edge_s", "edge_busy_s", "cloud_ttft_s", "cloud_busy_s")
        return per_shape, SimpleNamespace(**{f: column(f) for f in fields})

    @staticmethod
    def _edge(arrival: np.ndarray, c: SimpleNamespace) -> tuple[np.ndarray, np.ndarray]:
        """(start, ready) of the FIFO edge stage for every request."""
        if np.any(c.edge_busy_s > 0):
            edge_start = lindley_end(arrival, c.edge_busy_s) - c.edge_busy_s
            edge_start = np.maximum(edge_start, arrival)
            return edge_start, edge_start + c.edge_s
        return arrival.copy(), arrival.copy()

    def _link_and_cloud(self, ready: np.ndarray, c: SimpleNamespace, n: int):
        """(link start, link end, cloud start, first token at the user) for every request:
        the FIFO link in cumulative-capacity space, then the FIFO cloud in arrival order."""
        trace, rtt_s = self.trace, self.default_rtt_s
        ready_level = trace.cumulative_bytes_array(ready)
        end_level = lindley_end(ready_level, wire_bytes(c, self.link_efficiency))
        link_end = np.maximum(trace.time_at_level_array(end_level), ready)
        link_start = np.maximum(ready, np.concatenate(([0.0], link_end[:-1])))
        finished = np.isfinite(link_end)
        at_cloud = at_cloud_s(link_end, 0.5 * trace.rtt_at_array(link_start, rtt_s))
        order = np.argsort(at_cloud, kind="stable")
        cloud_end = np.empty(n)
        cloud_end[order] = lindley_end(at_cloud[order], c.cloud_busy_s[order])
        cloud_start = np.maximum(cloud_end - c.cloud_busy_s, at_cloud)
        token = first_token_s(cloud_start, c)
        back = 0.5 * trace.rtt_at_array(token, rtt_s) if self.count_return_latency else 0.0
        at_user = at_user_s(token, back, self.count_return_latency)
        return (link_start, link_end, np.where(finished, cloud_start, np.inf),
                np.where(finished, at_user, np.inf))


def simulate_static(policy_label: str, policy: Policy, workload: Workload, trace: Trace,
                    costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
                    count_return_latency: bool = True) -> tuple[pd.DataFrame, set[str]]:
    """Per-request records (RECORD_COLUMNS) of a static policy, and the compute sources."""
    return ClosedFormEngine(policy, trace, costs, default_rtt_s=default_rtt_s,
                            link_efficiency=link_efficiency,
                            count_return_latency=count_return_latency).run(workload)
