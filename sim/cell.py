"""Run a scenario on the network engine: a cell of ``--users`` devices or a topology file.

Every policy runs on the same devices, requests and network (paired by device and request);
each device runs its own instance of the policy. Outputs: per-request records with a
``user`` column, per-policy summaries with fairness across devices, per-device summaries,
and per-link loads.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from tqdm import tqdm

from models.errors import InputError
from policies import make_policies, make_policy
from sim.build import build_costs, build_topology, build_workload, policy_context
from sim.metrics import add_between_user_stats, run_notes, summarize
from sim.multiuser import USER_RECORD_COLUMNS, simulate_network
from sim.records import Result
from sim.scenario import Scenario


def run_network(s: Scenario, *, progress: bool = False) -> Result:
    """Every policy of ``s`` on the network engine; ``progress``: a bar of requests done
    on stderr."""
    if s.latency != "after":
        raise InputError("--latency before is not modelled by the network engine (--users, "
                         "--topology) yet; it runs on one link")
    topology = build_topology(s)
    costs = build_costs(s)
    labels = [label for label, _ in make_policies(s.policies)]  # bad names fail before work
    workloads = [build_workload(s, i).requests() for i in range(len(topology.devices))]
    context = policy_context(s, costs)
    frames, sources, links = [], {}, []

    def policy_for(spec: str):
        def make(_device: int):
            policy = make_policy(spec)[1]
            policy.reset(context)
            return policy
        return make

    bar = tqdm(total=len(labels) * sum(map(len, workloads)), unit="req", desc="network",
               disable=not progress, file=sys.stderr, dynamic_ncols=True, leave=False)
    for spec, label in zip(s.policies, labels, strict=True):
        bar.set_postfix_str(label)
        r = simulate_network(label, policy_for(spec), workloads, topology, costs,
                             link_efficiency=s.link_efficiency,
                             count_return_latency=s.count_return_latency,
                             cloud_serving=s.cloud_serving, max_batch=s.max_batch,
                             progress=bar.update if progress else None,
                             tcp=s.tcp_config())
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
    bar.close()
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
    tcp = s.tcp_config()
    if tcp is not None:
        notes.append(f"transport: tcp ({tcp.connection} connection, {tcp.cc}, stack "
                     f"{tcp.stack}); each flow's handshake, slow start and timeouts from its "
                     "own access link, then max-min sharing (docs/transport.md)")
    notes.append("user_ci_low/high: t-interval of the mean per-device hit rate (requests of "
                 "one device are clustered); Jain's index over per-device hit rates")
    return Result(s, records, summary, notes, users=per_user, links=pd.DataFrame(links))
