"""How ``adaptive``'s default estimator was chosen (spec:
``experiments/specs/estimator_choice.toml``: adaptive with each throughput estimator and
safety factor against ``cloud-text`` on the four shipped synthetic traces).

A row per variant, a column per trace: the utility difference against the reference
(``compare_to``), their mean, and on how many traces the variant is significantly worse
(paired Wilcoxon, Holm over the variants of a trace); sorted by the mean, best first.
Written to ``table.txt`` and returned.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analyses.common import SweepSpec, one_cell_per_trace, order_by_trace_set
from models.errors import InputError


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """Variants x traces of utility differences, ``mean`` and ``significantly worse on``."""
    c = rows[rows["vs_reference"].notna()]
    df = pd.DataFrame({"trace": [Path(t).name for t in c["trace"]],
                       "variant": c["policy"].to_numpy(),
                       "utility_vs_reference": c["vs_utility_diff"].to_numpy(),
                       "verdict": c["vs_utility_verdict"].to_numpy()})
    out = df.pivot(index="variant", columns="trace", values="utility_vs_reference")
    out["mean"] = out.mean(axis=1)
    out["significantly worse on"] = df[df.verdict == "worse"].groupby("variant").size()
    out["significantly worse on"] = out["significantly worse on"].fillna(0).astype(int)
    return out.sort_values("mean", ascending=False)


def analyse(rows: pd.DataFrame, spec: SweepSpec, out_dir: Path) -> str:
    """Write ``table.txt``; the table."""
    if rows["vs_reference"].isna().all():
        raise InputError("analysis estimator_choice compares every variant against a "
                         "reference policy: set compare_to", spec.source)
    rows = order_by_trace_set(rows)
    one_cell_per_trace(rows, "estimator_choice")
    text = table(rows).to_string(float_format="{:+.4f}".format)
    (out_dir / "table.txt").write_text(text + "\n")
    return text
