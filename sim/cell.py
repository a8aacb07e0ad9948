"""Run a scenario on the network engine: a cell of ``--users`` devices or a topology file.

Every policy runs on the same devices, requests and network (paired by device and request);
each device runs its own instance of the policy. Outputs: per-request records with a
``user`` column, per-policy summaries with fairness across devices, per-device summaries,
and per-link loads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies import make_policy
from sim.metrics import add_between_user_stats, summarize
from sim.multiuser import USER_RECORD_COLUMNS, simulate_network
from sim.network.topology import Topology, cell_topology, load_topology
from sim.scenario import Scenario, resolve_path
from sim.simulation import (
    Result,
    build_costs,
    build_trace,
    build_workload,
    policy_context,
    run_notes,
)
from sim.traces import read_trace


def build_topology(s: Scenario) -> Topology:
    """The scenario's topology file, or the default cell of ``s.users`` devices."""
    if s.topology:
        return load_topology(resolve_path(s.topology), default_rtt_s=s.rtt_ms / 1e3,
                             seed=s.seed, read_trace=lambda p: read_trace(resolve_path(p)))
    return cell_topology(s.users, build_trace(s), cell_mbps=s.cell_mbps,
                         backhaul_mbps=s.backhaul_mbps,
                         backhaul_delay_s=s.backhaul_delay_ms / 1e3,
                         default_rtt_s=s.rtt_ms / 1e3, offsets=s.trace_offsets, seed=s.seed)


def run_network(s: Scenario) -> Result:
    topology = build_topology(s)
    costs = build_costs(s)
    labels = [make_policy(spec)[0] for spec in s.policies]  # a bad name fails before work
    workloads = [build_workload(s, i).requests() for i in range(len(topology.devices))]
    context = policy_context(s, costs)
    frames, sources, links = [], {}, []

    def policy_for(spec: str):
        def make(_device: int):
            policy = make_policy(spec)[1]
            policy.reset(context)
            return policy
        return make

    for spec, label in zip(s.policies, labels, strict=True):
        r = simulate_network(label, policy_for(spec), workloads, topology, costs,
                             link_efficiency=s.link_efficiency,
                             count_return_latency=s.count_return_latency,
                             cloud_serving=s.cloud_serving, max_batch=s.max_batch)
        df = pd.DataFrame.from_records(r.rows, columns=USER_RECORD_COLUMNS)
        df = df.sort_values(["user", "request"], kind="stable", ignore_index=True)
        df.insert(0, "policy", label)
        frames.append(df)
        sources[label] = ",".join(sorted(r.compute_sources)) or "none"
        for name, (carried, capacity) in r.link_bytes.items():
            links.append({"policy": label, "link": name, "carried_bytes": carried,
                          "capacity_bytes": capacity,
                          "utilisation": np.nan if capacity is None or capacity == 0
                          else carried / capacity})
        batches = np.asarray(r.cloud_batches or [0])
        links.append({"policy": label, "link": "cloud-gpu", "carried_bytes": np.nan,
                      "capacity_bytes": np.nan,
                      "utilisation": r.cloud_busy_s / r.end_s if r.end_s > 0 else np.nan,
                      "mean_batch": float(batches.mean())})
    records = pd.concat(frames, ignore_index=True)
    summary = summarize(records)
    summary["compute_source"] = summary["policy"].map(sources)
    per_user = pd.concat([summarize(d).assign(user=user)
                          for user, d in records.groupby("user", sort=True)], ignore_index=True)
    per_user = per_user[["policy", "user", *per_user.columns.drop(["policy", "user"])]]
    summary = add_between_user_stats(summary, per_user)
    notes = run_notes(records, sources)
    notes.append(f"engine: network (SimPy events, max-min fair fluid links); topology: "
                 f"{topology.describe()} ({topology.source}); cloud {s.cloud_serving}"
                 + (f" (max batch {s.max_batch})" if s.cloud_serving == "batched" else ""))
    notes.append("user_ci_low/high: t-interval of the mean per-device hit rate (requests of "
                 "one device are clustered); Jain's index over per-device hit rates")
    return Result(s, records, summary, notes, users=per_user, links=pd.DataFrame(links))
