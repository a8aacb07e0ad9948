"""Named records of a run: one :class:`Record` per request, the engines' results, and a
run's :class:`Result`.

The record columns (``RECORD_COLUMNS``, the CSV header of ``requests.csv``) are derived
from the record type, so a column is added in one place. Times in seconds from the run's
start; a stage a request skipped (no link for an edge-local answer) is NaN; a transfer a
clipped trace never finishes ends at +inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from models.request import Request
from models.units import BYTES_PER_S_PER_MBPS
from sim.scenario import Scenario


class Record(NamedTuple):
    """What happened to one request under one policy."""

    request: int
    arrival_s: float
    context_tokens: int
    deadline_s: float
    option: str
    mode: str
    precision: str
    retention: float
    payload_bytes: int
    edge_start_s: float
    edge_end_s: float
    link_start_s: float
    link_end_s: float
    cloud_start_s: float
    first_token_s: float
    latency_s: float
    hit: bool
    quality: float
    quality_source: str
    estimate_mbps: float
    truth_mbps: float


#: a :class:`Record` of the network engine, with the device (``user``) it came from first
UserRecord = NamedTuple("UserRecord", [("user", int), *Record.__annotations__.items()])

RECORD_COLUMNS: tuple[str, ...] = Record._fields
#: builds a Record from a tuple in field order without the keyword-handling constructor
#: (one record per request: the engines' hot path)
_new_record = tuple.__new__
USER_RECORD_COLUMNS: tuple[str, ...] = UserRecord._fields


def truth_mbps(payload_bytes: float, link_start_s: float, link_end_s: float) -> float:
    """The goodput a transfer achieved (what a throughput estimator tries to predict)."""
    span = link_end_s - link_start_s
    return (payload_bytes / span / BYTES_PER_S_PER_MBPS if span > 0 and math.isfinite(span)
            else math.nan)


def record_row(req: Request, c, estimate_mbps: float, edge_start_s: float, edge_end_s: float,
               link_start_s: float, link_end_s: float, cloud_start_s: float,
               first_token_s: float) -> Record:
    """One request's :class:`Record` from its cost ``c`` (:class:`sim.costs.OpCost`) and
    stage times."""
    op = c.op
    latency = first_token_s - req.arrival_s
    return _new_record(Record, (
        req.index, req.arrival_s, req.context_tokens, req.deadline_s, c.label, op.mode,
        op.precision, op.retention, c.payload_bytes, edge_start_s, edge_end_s, link_start_s,
        link_end_s, cloud_start_s, first_token_s, latency, latency <= req.deadline_s,
        c.quality, c.quality_source, estimate_mbps,
        truth_mbps(c.payload_bytes, link_start_s, link_end_s)))


def user_record(user: int, record: Record) -> UserRecord:
    """``record`` of device ``user`` (network engine)."""
    return _new_record(UserRecord, (user, *record))


@dataclass
class RunResult:
    """Per-request :class:`Record` rows of one policy's run on one link."""

    policy: str
    rows: list[Record] = field(default_factory=list)
    link_bytes: float = 0.0
    compute_sources: set[str] = field(default_factory=set)


@dataclass
class NetworkRunResult:
    """Per-request :class:`UserRecord` rows and per-link and cloud totals (network engine)."""

    policy: str
    rows: list[UserRecord] = field(default_factory=list)
    #: per link: (bytes carried, bytes it could have carried over [0, end_s]); None: unlimited
    link_bytes: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    end_s: float = 0.0
    cloud_busy_s: float = 0.0
    cloud_batches: list[int] = field(default_factory=list)
    network_events: int = 0
    compute_sources: set[str] = field(default_factory=set)


@dataclass
class Result:
    """A run's outputs: per-request records, per-policy summary, and notes for the reader."""

    scenario: Scenario
    requests: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: paired tests of every policy against the reference (empty without one)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: network engine only: per (policy, device) summaries and per (policy, link) loads
    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: pd.DataFrame = field(default_factory=pd.DataFrame)
