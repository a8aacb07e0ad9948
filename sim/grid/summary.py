"""The tables the CLI prints after a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.grid.spec import Spec
from sim.grid.traces import is_kind

__all__ = ["format_summary"]


def format_summary(spec: Spec, rows: pd.DataFrame, max_cells: int = 30) -> str:
    """Hit rate per cell and policy (small sweeps), then per policy over all cells."""
    if rows.empty:
        return "no rows"
    lines = []
    varying = [n for n, v in spec.axes.items() if len(v) > 1]
    ncells = rows["cell"].nunique()
    pols = spec.policies
    if ncells <= max_cells:
        hit = rows.pivot_table(index="cell_index", columns="policy",
                               values="deadline_hit_rate", sort=False)
        low = rows.pivot_table(index="cell_index", columns="policy",
                               values="hit_rate_ci_low", sort=False)
        high = rows.pivot_table(index="cell_index", columns="policy",
                                values="hit_rate_ci_high", sort=False)
        first = rows.drop_duplicates("cell_index").set_index("cell_index")

        def fmt(n: str, v: Any) -> str:
            if n == "trace" and isinstance(v, str) and not is_kind(v):
                return Path(v).name
            return f"{v:g}" if isinstance(v, float) else str(v)

        table = [[fmt(n, first.loc[i, n]) for n in varying] for i in hit.index]
        widths = [max(len(n), *(len(r[k]) for r in table)) for k, n in enumerate(varying)]
        cw = max(21, *(len(p) + 1 for p in pols))
        head = "  ".join(f"{n:<{w}}" for n, w in zip(varying, widths, strict=True)) or "cell"
        n = rows.groupby("cell_index")["requests"].first()
        same_n = f"n = {int(n.iloc[0])} requests per cell" if n.nunique() == 1 else "n varies"
        lines.append(f"deadline hit rate per cell [95% Wilson CI] ({same_n})")
        lines.append(head + "".join(f"{p:>{cw}}" for p in pols))
        lines.append("-" * (len(head) + cw * len(pols)))
        for r, i in zip(table, hit.index, strict=True):
            lab = "  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)) or f"{i}"
            lines.append(f"{lab:<{len(head)}}" + "".join(
                f"{hit.loc[i, p]:.3f} [{low.loc[i, p]:.3f},{high.loc[i, p]:.3f}]".rjust(cw)
                if p in hit.columns else f"{'-':>{cw}}" for p in pols))
        lines.append("")
    g = rows.groupby("policy", sort=False)
    agg = pd.DataFrame({
        "cells": g["cell"].nunique(), "requests": g["requests"].sum(),
        "hit_mean": g["deadline_hit_rate"].mean(), "hit_min": g["deadline_hit_rate"].min(),
        "hit_max": g["deadline_hit_rate"].max(), "utility_mean": g["utility"].mean(),
        "p95_median": g["p95_latency_s"].median()})
    pw = max(6, *(len(p) for p in pols))
    head = (f"{'policy':<{pw}}{'cells':>7}{'requests':>10}{'hit mean':>10}{'min':>8}"
            f"{'max':>8}{'utility':>9}{'p95 s (median)':>16}")
    lines += ["per policy over all cells", head, "-" * len(head)]
    for p in pols:
        if p not in agg.index:
            continue
        r = agg.loc[p]
        lines.append(f"{p:<{pw}}{int(r.cells):>7}{int(r.requests):>10,}{r.hit_mean:>10.3f}"
                     f"{r.hit_min:>8.3f}{r.hit_max:>8.3f}{r.utility_mean:>9.3f}"
                     f"{r.p95_median:>16.3f}")
    return "\n".join(lines)
