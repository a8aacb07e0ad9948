"""One trace, request by request: the adaptive policy's choices, estimates and hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.figures.context import Context
from experiments.figures.style import CI_NONE, OKABE_ITO, figure, legend_below, save, trace_label
from models.units import BYTES_PER_S_PER_MBPS
from sim.scenario import resolve_path
from sim.traces import read_trace
from sim.traces import sets as trace_sets
from sim.traces.mahimahi import PACKET_BYTES

__all__ = ["fig_adaptive_timeline"]


def _timeline_trace(ctx: Context) -> str:
    """The first mahimahi uplink trace (ATT-LTE-driving), else the shipped LTE trace."""
    real = trace_sets.entries("mahimahi-up")[0]
    if real.exists(ctx.shared):
        return real.path(ctx.shared)
    return trace_sets.entries("synthetic")[0].path()


def _outages(edges: np.ndarray, cap: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) of each run of 1-s bins without capacity."""
    spans, start = [], None
    for t0, t1, c in zip(edges[:-1], edges[1:], cap, strict=True):
        if c <= 0 and start is None:
            start = t0
        elif c > 0 and start is not None:
            spans.append((start, t0))
            start = None
        last = t1
    if start is not None:
        spans.append((start, last))
    return spans


def _goodput_note(trace: str, req: pd.DataFrame) -> str:
    """Why the goodput of small transfers can lie above the 1-s mean capacity."""
    sizes = sorted({int(b) for b in req["payload_bytes"] if b > 0})
    what = "/".join(map(str, sizes[:3])) + ("/..." if len(sizes) > 3 else "")
    if "mahimahi" in Path(trace).parts and sizes and max(sizes) <= PACKET_BYTES:
        return (f"Goodput = bytes / transfer time. Every transfer ({what} B) fits in one "
                f"{PACKET_BYTES}-B packet, so its goodput is the rate of the 1-ms delivery "
                "slot it used (12 Mbit/s per packet), not the 1-s mean capacity: it can lie "
                "above the capacity line. The estimator is fed these goodputs.")
    return ("Goodput = bytes / transfer time: a transfer much shorter than 1 s gets the "
            "rate of its moment and can lie above the 1-s mean capacity.")


def fig_adaptive_timeline(ctx: Context) -> list[Path]:
    """One trace: the adaptive policy's chosen option per request, its throughput estimate
    vs the goodput the transfer got and the trace's capacity, and hits/misses. Outages
    (1-s bins without capacity) are shaded; nothing is clipped to a floor."""
    trace = _timeline_trace(ctx)
    ctx.sweep("timeline", {"sweep": {"seed": 0, "keep_requests": True},
                           "fixed": {"policies": ["adaptive"], "requests": 120,
                                     "trace": trace}})
    req = ctx.requests("timeline")
    tr = read_trace(resolve_path(trace))
    t_end = float(np.ceil(req["arrival_s"].max() + 5))
    edges = np.arange(0.0, t_end + 1.0, 1.0)
    cap = np.diff(tr.cumulative_bytes_array(edges)) / BYTES_PER_S_PER_MBPS
    fig, (a1, a2) = figure(4.9, 2, 1, sharex=True, gridspec_kw={"height_ratios": [1.5, 1]})
    for ax in (a1, a2):
        for k, (t0, t1) in enumerate(_outages(edges, cap)):
            ax.axvspan(t0, t1, color=OKABE_ITO["vermillion"], alpha=0.15, lw=0,
                       label="outage" if k == 0 and ax is a1
                       else None)
    a1.step(edges[:-1], np.where(cap > 0, cap, np.nan), where="post",
            color=OKABE_ITO["grey"], lw=0.7, label="capacity, 1-s mean")
    a1.plot(req["arrival_s"], req["estimate_mbps"], ls="none", marker="o", ms=2.5,
            color=OKABE_ITO["blue"], label="estimate at decision")
    a1.plot(req["arrival_s"], req["truth_mbps"], ls="none", marker="+", ms=4,
            color=OKABE_ITO["orange"], mew=0.9, label="goodput")
    a1.set_yscale("log")
    positive = np.concatenate([cap[cap > 0], req["estimate_mbps"][req["estimate_mbps"] > 0],
                               req["truth_mbps"][req["truth_mbps"] > 0]])
    a1.set_ylim(positive.min() / 2, positive.max() * 2)
    a1.set_ylabel("uplink (Mbit/s)")
    options = list(dict.fromkeys(sorted(req["option"].unique(), key=_option_order)))
    y = req["option"].map({o: i for i, o in enumerate(options)})
    hit = req["hit"].to_numpy(bool)
    a2.plot(req["arrival_s"][hit], y[hit], ls="none", marker="o", ms=3,
            color=OKABE_ITO["green"], label="deadline met")
    a2.plot(req["arrival_s"][~hit], y[~hit], ls="none", marker="x", ms=4, mew=1.0,
            color=OKABE_ITO["vermillion"], label="deadline missed")
    a2.set_yticks(range(len(options)), options)
    a2.set_ylim(-0.6, len(options) - 0.4)
    a2.set_xlabel("time (s)")
    a2.set_ylabel("chosen option")
    a1.set_xlim(0, t_end)
    h1, l1 = a1.get_legend_handles_labels()
    h2, l2 = a2.get_legend_handles_labels()
    ci = (f"n = {len(req)} requests, one run (seed 0): {CI_NONE}. Shaded: outages (1-s bins "
          "without capacity).")
    legend_below(fig, a1, ncol=2, handles=h1 + h2, labels=l1 + l2,
                 note=f"{ci}\n{_goodput_note(trace, req)}")
    a1.set_title(f"adaptive on {trace_label(trace)}", fontsize=8)
    data = req[["request", "arrival_s", "option", "payload_bytes", "estimate_mbps",
                "truth_mbps", "latency_s", "hit"]].assign(trace=trace)
    cap_df = pd.DataFrame({"request": -1, "arrival_s": edges[:-1], "option": "",
                           "capacity_mbps": cap, "trace": trace})
    return save(ctx, fig, "adaptive_timeline",
                pd.concat([data, cap_df], ignore_index=True).assign(ci_type=CI_NONE))


def _option_order(option: str) -> tuple:
    mode = option.split("@")[0]
    order = ["edge-local", "cloud-text", "scout", "kv-int4", "kv-mixed", "kv-int8", "kv-bf16"]
    return (order.index(mode) if mode in order else len(order), option)
