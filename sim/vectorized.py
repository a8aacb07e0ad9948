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

A run goes in chunks of :data:`CHUNK` requests, so its intermediate arrays stay small
however long it is; each queue carries its running sum and maximum across chunks
(:class:`Lindley`), and a request waits for the cloud until no later one can reach it
first, so the records are those of one chunk of everything, bit for bit (tested).

Results agree with the event engine to float rounding (relative ~1e-12; tested); both are
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pandas as pd

from models.pipeline import at_cloud_s, at_user_s, first_token_s, wire_bytes
from models.transport import TcpConfig
from models.units import BYTES_PER_S_PER_MBPS
from policies.base import NetworkView, Policy
from sim.costs import CostModel, OpCost
from sim.heap import keep_freed_memory
from sim.network import Link
from sim.records import records_frame
from sim.traces import Trace
from sim.workload import Workload


def _truth_mbps(payload: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectorised :func:`sim.records.truth_mbps` (the same division where the span is
    positive and finite, NaN elsewhere)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        span = np.subtract(end, start, dtype=float)
        if np.ndim(span) == 0:  # no link: one span for all
            ok = bool(span > 0 and np.isfinite(span))
            return (payload / span / BYTES_PER_S_PER_MBPS if ok
                    else np.full(np.shape(payload), np.nan))
        out = payload / span
        out /= BYTES_PER_S_PER_MBPS
        bad = ~((span > 0) & (span < np.inf))
        if bad.any():
            out[bad] = np.nan
        return out


def lindley_end(ready: np.ndarray, work: np.ndarray) -> np.ndarray:
    """End times of a FIFO single server: ``end_k = max(ready_k, end_{k-1}) + work_k``."""
    cum = np.cumsum(work)
    return cum + np.maximum.accumulate(ready - (cum - work))


class Lindley:
    """:func:`lindley_end` over a stream of chunks, the server's state carried from one
    chunk to the next: the cumulative work is one running sum and the maximum one running
    maximum, so the chunks' ends are the whole stream's, bit for bit."""

    __slots__ = ("cum", "peak")

    def __init__(self) -> None:
        self.cum, self.peak = 0.0, -np.inf

    def end(self, ready: np.ndarray, work: np.ndarray) -> np.ndarray:
        """End times of the next jobs (ready times and work in joining order)."""
        if not len(work):
            return np.empty(0)
        cum = np.cumsum(np.concatenate(([self.cum], work)))[1:]
        peak = np.maximum.accumulate(np.concatenate(([self.peak], ready - (cum - work))))[1:]
        self.cum, self.peak = cum[-1], peak[-1]
        return cum + peak


#: requests per chunk of the closed form: bounds its intermediate arrays (about 20 columns
#: of 8 bytes) whatever the length of the run
CHUNK = 1 << 16

#: the per-request cost fields the stages use
_FIELDS = ("payload_bytes", "edge_s", "edge_busy_s", "cloud_ttft_s", "cloud_busy_s")


class ClosedFormEngine:
    """A static policy's whole run as array arithmetic (see the module docstring), over
    chunks of requests with the queues' state carried between them (:meth:`chunks`)."""

    def __init__(self, policy: Policy, trace: Trace, costs: CostModel, *, default_rtt_s: float,
                 link_efficiency: float = 1.0, count_return_latency: bool = True,
                 tcp: TcpConfig | None = None):
        self.policy, self.trace, self.costs = policy, trace, costs
        self.default_rtt_s = default_rtt_s
        self.link_efficiency = link_efficiency
        self.tcp = tcp
        self.count_return_latency = count_return_latency
        self.compute_sources: set[str] = set()

    def run(self, workload: Workload, chunk: int | None = None
            ) -> tuple[pd.DataFrame, set[str]]:
        """Per-request records (RECORD_COLUMNS) and the compute sources used."""
        frames = [records_frame(cols)
                  for cols in self.chunks(workload, chunk or max(len(workload), 1))]
        if len(frames) == 1:
            return frames[0], self.compute_sources
        return pd.concat(frames, ignore_index=True), self.compute_sources

    def chunks(self, workload: Workload, chunk: int = CHUNK) -> Iterator[dict]:
        """The records of ``workload`` in request order, as dicts of RECORD_COLUMNS (arrays,
        or one value for every request of the chunk), about ``chunk`` requests each. The
        same numbers as one chunk of the whole workload, bit for bit: every stage carries
        its queue (:class:`Lindley`), and the cloud, which requests may reach out of order
        (a varying RTT), takes a request only once no later one can reach it first."""
        keep_freed_memory()  # the temporaries reuse pages (sim.heap)
        op = self.policy.decide(workload.request(0), NetworkView())
        keys, per_shape = self._shapes(op, workload, chunk)
        self.compute_sources = set().union(*(pc.compute_sources for pc in per_shape))
        table = {f: np.array([getattr(pc, f) for pc in per_shape], dtype=float)
                 for f in _FIELDS}
        qc = per_shape[0]
        fixed = {"option": op.label, "mode": op.mode, "precision": op.precision,
                 "retention": op.retention, "quality": qc.quality,
                 "quality_source": qc.quality_source, "estimate_mbps": np.nan}
        stages = _Stages(self, bool(np.any(table["edge_busy_s"] > 0)), qc.uses_link)
        for start in range(0, len(workload), chunk):
            part = workload.slice(start, start + chunk)
            c = SimpleNamespace(**_shape_costs(keys, table, part))
            done = stages.add(start, part, c, last=start + chunk >= len(workload))
            if done is not None:
                yield {**done, **fixed}

    def _shapes(self, op, workload: Workload, chunk: int) -> tuple[np.ndarray, list[OpCost]]:
        """The distinct request shapes (context, question, answer tokens) as sorted keys,
        and their costs, each computed from the shape's first request."""
        keys, firsts = [], []
        for start in range(0, len(workload), chunk):
            k = _shape_keys(workload.slice(start, start + chunk))
            if len(k) and k.min() == k.max():  # one shape (np.unique's answer, no sort)
                k, first = k[:1], np.zeros(1, np.intp)
            else:
                k, first = np.unique(k, return_index=True)
            keys.append(k)
            firsts.append(first + start)
        keys_all, at = np.unique(np.concatenate(keys), return_index=True)
        first = np.concatenate(firsts)[at]
        return keys_all, [self.costs.cost(op, workload.request(int(i))) for i in first]


def _shape_costs(keys: np.ndarray, table: dict[str, np.ndarray], part: Workload
                 ) -> dict[str, np.ndarray]:
    """Each cost field of ``table`` (one value per shape, in the order of ``keys``) for
    every request of ``part``: with one shape, that shape's values as read-only broadcasts
    (no array per field); else looked up by each request's key."""
    if len(keys) == 1:
        return {f: np.broadcast_to(v, len(part)) for f, v in table.items()}
    at = np.searchsorted(keys, _shape_keys(part))
    return {f: v[at] for f, v in table.items()}


def _shape_keys(workload: Workload) -> np.ndarray:
    """One int64 key per request from its token counts (each below 2^21)."""
    return (workload.context_tokens.astype(np.int64) << 42) | (
        workload.question_tokens.astype(np.int64) << 21) | workload.answer_tokens.astype(
            np.int64)


class _Stages:
    """The queues of one closed-form run, fed chunk by chunk: the edge and the link take
    requests in arrival order; the cloud takes them in order of arrival there (stable in
    request order), so a request waits (in ``self.tail``) until no later request can reach
    the cloud before it; records are handed on in request order."""

    def __init__(self, engine: ClosedFormEngine, edge_busy: bool, uses_link: bool):
        self.trace, self.rtt_s = engine.trace, engine.default_rtt_s
        self.efficiency = engine.link_efficiency
        self.count_return_latency = engine.count_return_latency
        self.edge_busy, self.uses_link = edge_busy, uses_link
        self.edge, self.link, self.cloud = Lindley(), Lindley(), Lindley()
        self.link_free = 0.0
        # TCP: the link is a connection whose rounds depend on when each transfer starts,
        # so its FIFO runs transfer by transfer (the other stages stay closed-form)
        self.tcp_link = None if engine.tcp is None else Link(
            engine.trace, default_rtt_s=engine.default_rtt_s, efficiency=self.efficiency,
            tcp=engine.tcp)
        rtts = engine.trace.rtt_s
        self.one_way_min = 0.5 * (float(np.min(rtts)) if rtts is not None and len(rtts)
                                  else self.rtt_s)
        self.tail: dict[str, np.ndarray] | None = None

    def add(self, start: int, part: Workload, c: SimpleNamespace, last: bool) -> dict | None:
        """Take the requests ``part`` (from request ``start``) with their costs ``c``;
        return the records now complete (``last``: all that remain), or None."""
        arrival = part.arrival_s.astype(float)
        if self.edge_busy:
            edge_start = np.maximum(self.edge.end(arrival, c.edge_busy_s) - c.edge_busy_s,
                                    arrival)
            ready = edge_start + c.edge_s
        else:
            edge_start, ready = arrival.copy(), arrival.copy()
        cols = {"request": np.arange(start, start + len(arrival)), "arrival_s": arrival,
                "context_tokens": part.context_tokens, "deadline_s": part.deadline_s,
                "payload_bytes": c.payload_bytes, "edge_start_s": edge_start,
                "edge_end_s": ready}
        if not self.uses_link:
            return _finish(cols, np.nan, np.nan, np.nan, ready)
        trace = self.trace
        if self.tcp_link is not None:
            link_start, link_end = self.tcp_link.send_all(ready, c.payload_bytes)
        else:
            end_level = self.link.end(trace.cumulative_bytes_array(ready),
                                      wire_bytes(c, self.efficiency))
            link_end = np.maximum(trace.time_at_level_array(end_level), ready)
            link_start = np.maximum(ready, np.concatenate(([self.link_free], link_end[:-1])))
        self.link_free = link_end[-1]
        cols.update(link_start_s=link_start, link_end_s=link_end,
                    at_cloud=at_cloud_s(link_end, 0.5 * trace.rtt_at_array(link_start,
                                                                             self.rtt_s)),
                    cloud_ttft_s=c.cloud_ttft_s, cloud_busy_s=c.cloud_busy_s,
                    cloud_end=np.full(len(arrival), np.nan),
                    queued=np.ones(len(arrival), bool))
        tail = cols if self.tail is None else {k: np.concatenate((v, cols[k]))
                                               for k, v in self.tail.items()}
        self._to_cloud(tail, last)
        done = len(tail["queued"]) if last else int(np.argmax(np.append(tail["queued"], True)))
        self.tail = {k: v[done:] for k, v in tail.items()} if done < len(tail["queued"]) else None
        if not done:
            return None
        out = {k: v[:done] for k, v in tail.items()}
        return self._after_cloud(out)

    def _to_cloud(self, tail: dict[str, np.ndarray], last: bool) -> None:
        """Serve, in order of arrival at the cloud, every queued request that no later
        request can precede: each later one leaves the link no earlier than the last
        link end and spends at least the least one-way delay (a margin of 1e-9 relative
        covers rounding), so it reaches the cloud no earlier than ``bound``."""
        at = tail["at_cloud"]
        go = tail["queued"]
        if not last:
            bound = at_cloud_s(self.link_free, self.one_way_min)
            if np.isfinite(bound):
                bound -= 1e-9 * (1.0 + abs(bound))
            go = go & (at <= bound)
        idx = np.flatnonzero(go)
        order = idx[np.argsort(at[idx], kind="stable")]
        tail["cloud_end"][order] = self.cloud.end(at[order], tail["cloud_busy_s"][order])
        tail["queued"][idx] = False

    def _after_cloud(self, out: dict[str, np.ndarray]) -> dict:
        c = SimpleNamespace(cloud_ttft_s=out.pop("cloud_ttft_s"))
        busy = out.pop("cloud_busy_s")
        at = out.pop("at_cloud")
        out.pop("queued")
        cloud_start = np.maximum(out.pop("cloud_end") - busy, at)
        token = first_token_s(cloud_start, c)
        back = (0.5 * self.trace.rtt_at_array(token, self.rtt_s) if self.count_return_latency
                else 0.0)
        at_user = at_user_s(token, back, self.count_return_latency)
        finished = np.isfinite(out["link_end_s"])
        return _finish(out, out.pop("link_start_s"), out.pop("link_end_s"),
                       np.where(finished, cloud_start, np.inf),
                       np.where(finished, at_user, np.inf))


def _finish(cols: dict, link_start, link_end, cloud_start, at_user: np.ndarray) -> dict:
    """The record columns of requests whose stages are all timed."""
    latency = at_user - cols["arrival_s"]
    payload = cols.pop("payload_bytes")
    return {**cols, "payload_bytes": payload.astype(np.int64), "link_start_s": link_start,
            "link_end_s": link_end, "cloud_start_s": cloud_start, "first_token_s": at_user,
            "latency_s": latency, "hit": latency <= cols["deadline_s"],
            "truth_mbps": _truth_mbps(payload, link_start, link_end)}


def simulate_static(policy_label: str, policy: Policy, workload: Workload, trace: Trace,
                    costs: CostModel, *, default_rtt_s: float, link_efficiency: float = 1.0,
                    count_return_latency: bool = True, chunk: int | None = None,
                    tcp: TcpConfig | None = None) -> tuple[pd.DataFrame, set[str]]:
    """Per-request records (RECORD_COLUMNS) of a static policy, and the compute sources
    (``chunk``: requests per chunk, default all at once)."""
    return ClosedFormEngine(policy, trace, costs, default_rtt_s=default_rtt_s,
                            link_efficiency=link_efficiency,
                            count_return_latency=count_return_latency,
                            tcp=tcp).run(workload, chunk)
