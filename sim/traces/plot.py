"""Figure of one trace: capacity over time as the exact staircase, RTT below if present.

Uses matplotlib's Agg backend (no display needed). The capacity panel draws every
piecewise-constant segment (``stairs``) and a dashed line at the time-weighted mean. A trace
much finer than 1 s (e.g. mahimahi's 1-ms packet-opportunity segments, which alternate
between 0 and multiples of 12 Mbit/s) is drawn as its exact 1-s means instead, and the
title says so. Units: time in s, capacity in Mbit/s, RTT in ms.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models.errors import InputError
from sim.traces.stats import resample_1s, trace_stats
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace


def plot_trace(trace: Trace, path: str | Path, *, title: str | None = None) -> None:
    """Write a PNG (or any format matplotlib infers from the suffix) of ``trace`` to ``path``
    atomically (temp file + rename)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = Path(path)
    edges = np.append(trace.times_s, trace.duration_s)
    seg_ms = 1e3 * float(np.median(np.diff(edges)))
    fine = len(trace.times_s) > 1.5 * trace.duration_s and trace.duration_s >= 2
    stats = trace_stats(trace, bin_s=1.0 if fine else None)
    if fine:
        mbps = resample_1s(trace)
        cap_edges = np.arange(len(mbps) + 1, dtype=float)
        label = f"capacity, 1-s means (segments: median {seg_ms:.3g} ms)"
    else:
        mbps = trace.capacity_bytes_per_s / BYTES_PER_S_PER_MBPS
        cap_edges = edges
        label = "capacity"
    has_rtt = trace.rtt_s is not None
    fig, axes = plt.subplots(2 if has_rtt else 1, 1, sharex=True, squeeze=False,
                             figsize=(10, 5.5 if has_rtt else 3.8),
                             gridspec_kw={"height_ratios": [2, 1] if has_rtt else [1]})
    ax = axes[0][0]
    ax.stairs(mbps, cap_edges, baseline=None, color="tab:blue", linewidth=1.0, label=label)
    ax.axhline(stats["mean_mbps"], color="tab:red", linestyle="--", linewidth=1.0,
               label=f"mean {stats['mean_mbps']:.3g} Mbit/s")
    ax.set_ylabel("capacity (Mbit/s)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, trace.duration_s)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best" if len(mbps) < 20_000 else "upper right", fontsize=8,
              framealpha=0.85)
    lag1 = stats["lag1_autocorr"]
    ax.set_title(
        (title or Path(trace.name).name) + "\n"
        + ("1-s means: " if fine else "")
        + f"{stats['duration_s']:.0f} s, mean {stats['mean_mbps']:.3g} Mbit/s, "
        f"median {stats['median_mbps']:.3g}, p10 {stats['p10_mbps']:.3g}, "
        f"p90 {stats['p90_mbps']:.3g}, CV {stats['cv']:.2f}, "
        f"lag-1 {'-' if lag1 is None else f'{lag1:.2f}'}, "
        f"outage {100 * stats['outage_fraction']:.1f}%", fontsize=9)
    if has_rtt:
        rax = axes[1][0]
        rax.stairs(trace.rtt_s * 1e3, edges, baseline=None, color="tab:green", linewidth=1.0,
                   label="RTT")
        rax.axhline(stats["rtt_mean_ms"], color="tab:red", linestyle="--", linewidth=1.0,
                    label=f"mean {stats['rtt_mean_ms']:.3g} ms")
        rax.set_ylabel("RTT (ms)")
        rax.set_ylim(bottom=0)
        rax.grid(True, alpha=0.3)
        rax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    axes[-1][0].set_xlabel("time (s)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=120)
        tmp.replace(path)
    except (OSError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write plot: {err}", str(path)) from None
    finally:
        plt.close(fig)
