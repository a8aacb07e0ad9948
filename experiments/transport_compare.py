"""What the transport changes: one scenario under ``fluid`` and under ``tcp``, paired.

Usage::

    python -m experiments.transport_compare [any python -m sim.run setting flag ...]
        [--tcp-stack linux|ns3] [--out DIR] [--json]

Runs the scenario the flags make (the default scenario without any) twice, with
``--transport fluid`` and ``--transport tcp`` (the TCP settings as given): the same requests
(the same seed), so each policy's outcomes are paired request by request (per device with
``--users``). Per policy: the hit rate under each transport with its Wilson 95% CI, the paired
difference (tcp - fluid) with an exact McNemar p-value, Holm-corrected over the policies,
the median latency under each, and the median per-request latency added by TCP. With
``--out DIR``: ``transport.csv`` (that table) beside the two runs' summaries
(``summary_fluid.csv``, ``summary_tcp.csv``).
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pandas as pd

from models.cli import command, json_value, run_main
from sim.metrics import wilson_interval
from sim.run import build_parser, scenario_from_args, write_files
from sim.simulation import run
from sim.stats import holm, mcnemar_exact

__all__ = ["compare_transports", "main"]


def compare_transports(base) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The per-policy table (see the module docstring) and each transport's summary, for
    the Scenario ``base`` (its ``transport`` is set to each in turn)."""
    results = {t: run(dataclasses.replace(base, transport=t)) for t in ("fluid", "tcp")}
    keys = ["request"] + (["user"] if "user" in results["fluid"].requests else [])
    frames = {t: r.requests.sort_values(["policy", *keys], kind="stable")
              for t, r in results.items()}
    rows = []
    for policy in base.policies:
        label = policy
        f = frames["fluid"][frames["fluid"]["policy"] == label]
        t = frames["tcp"][frames["tcp"]["policy"] == label]
        if not f[keys].reset_index(drop=True).equals(t[keys].reset_index(drop=True)):
            raise RuntimeError(f"{label}: the two runs saw different requests")
        hf, ht = f["hit"].to_numpy(bool), t["hit"].to_numpy(bool)
        lf, lt = f["latency_s"].to_numpy(float), t["latency_s"].to_numpy(float)
        n = len(hf)
        row = {"policy": label, "n": n}
        for name, h in (("fluid", hf), ("tcp", ht)):
            lo, hi = wilson_interval(int(h.sum()), n)
            row.update({f"hit_rate_{name}": h.mean(), f"ci_low_{name}": lo,
                        f"ci_high_{name}": hi})
        row.update(hit_rate_diff=ht.mean() - hf.mean(), hit_p=mcnemar_exact(ht, hf),
                   p50_latency_fluid_s=float(np.median(lf)),
                   p50_latency_tcp_s=float(np.median(lt)),
                   median_added_s=float(np.median(lt - lf)))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("hit_p") + 1, "hit_p_holm",
                 holm(table["hit_p"].tolist()))
    return table, {t: r.summary for t, r in results.items()}


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'policy':<14} {'n':>6}  {'fluid hit [95% CI]':>22}  {'tcp hit [95% CI]':>22}"
             f"  {'diff':>7} {'p (Holm)':>9}  {'p50 fluid':>9} {'p50 tcp':>8} {'+median':>8}"]
    for r in table.itertuples():
        lines.append(
            f"{r.policy:<14} {r.n:>6}  {r.hit_rate_fluid:>6.3f} [{r.ci_low_fluid:.3f}, "
            f"{r.ci_high_fluid:.3f}]  {r.hit_rate_tcp:>6.3f} [{r.ci_low_tcp:.3f}, "
            f"{r.ci_high_tcp:.3f}]  {r.hit_rate_diff:>+7.3f} {r.hit_p_holm:>9.2g}  "
            f"{r.p50_latency_fluid_s:>8.3f}s {r.p50_latency_tcp_s:>7.3f}s "
            f"{r.median_added_s:>+7.3f}s")
    return "\n".join(lines)


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    parser.prog = "python -m experiments.transport_compare"
    parser.description = __doc__.splitlines()[0]
    args = parser.parse_args(argv)
    base = scenario_from_args(args).validate()
    table, summaries = compare_transports(base)
    if args.out:
        write_files(args.out, {
            "transport.csv": lambda p: table.to_csv(p, index=False),
            "summary_fluid.csv": lambda p: summaries["fluid"].to_csv(p, index=False),
            "summary_tcp.csv": lambda p: summaries["tcp"].to_csv(p, index=False)})
    if args.json:
        print(json.dumps([{k: json_value(v) for k, v in r.items()}
                          for r in table.to_dict("records")], indent=2))
        return 0
    tcp = dataclasses.replace(base, transport="tcp").tcp_config()
    print(f"transport fluid vs tcp ({tcp.connection} connection, {tcp.cc}, stack {tcp.stack},"
          f" buffer {tcp.buffer_packets} packets), paired on the same requests; diff = tcp -"
          " fluid, exact McNemar, Holm over the policies")
    print(format_table(table))
    if args.out:
        print(f"wrote {args.out}/transport.csv, summary_fluid.csv, summary_tcp.csv")
    return 0


if __name__ == "__main__":
    run_main(main)
