"""Per-question measurement lines -> quality-cache rows and the paired statistics.

Called by ``python -m models.measure summarize``. Reads ``OUT/questions.jsonl`` (and
``sensitivity.json``, ``perplexity.json`` when present), writes the measured quality cache
(``models/data/quality_measured.csv``, the schema of :mod:`models.quality`) and
``OUT/stats.csv`` (Q2C vs SnapKV, scout vs cloud-own: paired Wilcoxon and t-test p-values,
Holm and Bonferroni over the retentions), and prints both.

Mapping onto the simulator's modes (``models/quality.py``): the scout model's own answers
are the ``kv`` mode (the edge ships its KV; the same model decodes it) and ``edge-local``;
the cloud model masked to the scout's Q2C selection is ``scout``; masked to its own
selection is ``cloud-own``; the cloud with nothing masked is ``cloud-text``; the cloud's
own KV quantised is reported as ``cloud-kv`` (not a simulator mode).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import stats

from models.equivalence import tost_paired
from models.errors import InputError
from models.kit import MODELS
from models.quality import COLUMNS
from models.squad import file_sha256

SCOUT, CLOUD = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"  # when the run names no model


def model_identity(out_dir: Path, role: str, default: str) -> tuple[str, str]:
    """(name, provenance) of the scout or cloud model a run used, from its
    ``sensitivity.json``: a kit model (its folder or GGUF name starts with the kit name) by
    its kit name and GGUF sha256; any other by its folder name and the sha256 of its weight
    files; ``default`` when the run recorded no model."""
    sens = out_dir / "sensitivity.json"
    path = json.loads(sens.read_text()).get(role, {}).get("model") if sens.exists() else None
    if path is None:
        return default, f"{default} GGUF sha256 {MODELS[default].sha256[:16]}"
    name = Path(path).name
    for key in sorted(MODELS, key=len, reverse=True):
        if name.lower().startswith(key):
            return key, f"{key} GGUF sha256 {MODELS[key].sha256[:16]}"
    weights = sorted(Path(path).glob("*.safetensors")) + sorted(Path(path).glob("*.gguf"))
    digest = ",".join(file_sha256(w)[:16] for w in weights) or "unknown"
    return name, f"{name} (weights sha256 {digest})"

TASK = "squad-v1.1"
RETENTIONS = ("0.75", "0.5", "0.25")
SELECTION_NAMES = {"q2c-last": "q2c", "q2c-mean": "q2c-mean", "snapkv": "snapkv",
                   "h2o": "h2o", "random": "random"}


def t_interval(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    if n < 2:
        m = float(np.mean(x)) if n else math.nan
        return (m, m)
    h = float(stats.t.ppf(0.975, n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return (float(np.mean(x)) - h, float(np.mean(x)) + h)


def holm(p: list[float]) -> list[float]:
    order = np.argsort(p, kind="stable")
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def wilcoxon_p(d: np.ndarray, zero_method: str = "wilcox") -> float:
    """Wilcoxon signed-rank p; ``wilcox`` (scipy's default) drops zero differences, ``pratt``
    keeps them in the ranking."""
    d = d[~np.isnan(d)]
    if len(d) == 0 or np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method=zero_method).pvalue)


def ttest_p(d: np.ndarray) -> float:
    if len(d) < 2 or np.all(d == d[0]):
        return 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def load_lines(path: Path) -> list[dict]:
    if not path.exists():
        raise InputError("no measurements yet (run `python -m models.measure run`)", str(path))
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a kill
    if not recs:
        raise InputError("measurement file is empty", str(path))
    return recs


def harness_versions(recs: list[dict]) -> str:
    """Every harness version among the records with its count, most records first:
    ``v1.1 (190 records), v1.0 (10 records)`` (a record without a version is v1.0)."""
    counts: dict[str, int] = {}
    for rec in recs:
        v = str(rec.get("harness_version") or "1.0")
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"v{v} ({c} record{'s' if c != 1 else ''})"
                     for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _provenance(out_dir: Path, recs: list[dict]) -> tuple[str, str, str]:
    """(scout name, cloud name, provenance text) of a run's quality rows."""
    n = len(recs)
    squad = Path(__file__).resolve().parents[2] / "shared" / "qa" / "expmrc-squad-dev.json"
    scout, scout_prov = model_identity(out_dir, "scout", SCOUT)
    cloud, cloud_prov = model_identity(out_dir, "cloud", CLOUD)
    weights = ("4-bit GGUF weights dequantised" if "GGUF" in scout_prov + cloud_prov
               else "weights as stored")
    prov = (f"models.measure {harness_versions(recs)} "
            f"{datetime.now(timezone.utc):%Y-%m-%d}; scout {scout_prov}; cloud {cloud_prov}; "
            f"{weights}, fp32 CPU; "
            f"ExpMRC SQuAD v1.1 dev first {n} questions"
            + (f" sha256 {file_sha256(squad)[:16]}" if squad.exists() else ""))
    return scout, cloud, prov


def _col(recs: list[dict], key: str, metric: str = "f1") -> np.ndarray:
    """One answer setting's per-question score (``metric``) over the records."""
    return np.array([r["answers"][key][metric] for r in recs], dtype=float)


def _row_adder(rows: list[dict], scout: str, cloud: str, prov: str) -> Callable[..., None]:
    """An ``add(mode, precision, retention, selection, metric, x)`` appending a row to ``rows``."""

    def add(mode, precision, retention, selection, metric, x, source="measured", note=""):
        lo, hi = t_interval(x)
        if metric in ("f1", "em", "topk_overlap"):  # bounded in [0, 1]
            lo, hi = max(0.0, lo), min(1.0, hi)
        rows.append({"edge_model": scout, "cloud_model": cloud, "task": TASK, "mode": mode,
                     "precision": precision, "retention": retention, "selection": selection,
                     "metric": metric, "mean": float(np.mean(x)), "ci_low": lo, "ci_high": hi,
                     "n": len(x), "source": source, "provenance": f"{prov}{note}"})

    return add


def _add_answer_rows(add: Callable[..., None], recs: list[dict],
                     retentions: tuple[str, ...] = RETENTIONS) -> None:
    """F1 and EM rows of every mode, precision, retention and selection measured."""
    for metric in ("f1", "em"):
        add("cloud-text", "bf16", 1.0, "none", metric, _col(recs, "cloud/full", metric))
        add("edge-local", "bf16", 1.0, "none", metric, _col(recs, "scout/full", metric))
        add("kv", "bf16", 1.0, "none", metric, _col(recs, "scout/full", metric))
        for p in ("int8", "int4", "mixed"):
            add("kv", p, 1.0, "none", metric, _col(recs, f"scout/kv-{p}", metric))
            add("cloud-kv", p, 1.0, "none", metric, _col(recs, f"cloud/kv-{p}", metric))
        for r in retentions:
            add("kv", "bf16", float(r), "q2c", metric,
                _col(recs, f"scout/own-q2c-last/{r}", metric))
            add("scout", "bf16", float(r), "q2c", metric,
                _col(recs, f"cloud/scout-q2c-last/{r}", metric))
            for m in ("q2c-last", "snapkv", "random"):
                add("cloud-own", "bf16", float(r), SELECTION_NAMES[m], metric,
                    _col(recs, f"cloud/own-{m}/{r}", metric))


def _add_relative_rows(rows: list[dict], recs: list[dict], prov: str) -> None:
    """The scout's mean F1 with its KV quantised relative to full precision, per precision."""
    n = len(recs)
    base = _col(recs, "scout/full")
    for p in ("int8", "int4", "mixed"):
        if not base.mean() > 0:
            continue  # undefined when full precision never scores: no row, not a NaN
        ratio = _col(recs, f"scout/kv-{p}").mean() / base.mean()
        rows.append({**rows[0], "mode": "kv", "precision": p, "retention": 1.0,
                     "selection": "none", "metric": "relative_to_bf16", "mean": ratio,
                     "ci_low": "", "ci_high": "", "n": n,
                     "provenance": f"{prov}; mean F1 at {p} / mean F1 at full precision"})


def _stat_row(comparison: str, r: str, n: int, d: np.ndarray) -> dict:
    """One paired comparison at one retention: mean difference, its CI and p-values (Wilcoxon
    with scipy's default zero handling and with Pratt's, paired t), and the TOST equivalence
    test at :data:`models.equivalence.EQUIVALENCE_MARGIN_F1` (``tost_margin_90`` = the smallest
    margin it would accept at alpha 0.05)."""
    tost = tost_paired(d)
    return {"comparison": comparison, "retention": r, "n": n, "mean_diff": float(d.mean()),
            "ci_low": t_interval(d)[0], "ci_high": t_interval(d)[1],
            "wilcoxon_p": wilcoxon_p(d), "t_p": ttest_p(d),
            "wilcoxon_pratt_p": wilcoxon_p(d, "pratt"), "tost_margin": tost.margin,
            "tost_p": tost.p, "tost_margin_90": tost.smallest_margin}


def _paired_stats(add: Callable[..., None], recs: list[dict],
                  retentions: tuple[str, ...] = RETENTIONS) -> list[dict]:
    """The stats.csv rows (and the F1-gap quality rows): paired tests, Holm and Bonferroni."""
    n = len(recs)
    stat_rows = []
    for r in retentions:
        gap = _col(recs, f"cloud/scout-q2c-last/{r}") - _col(recs, f"cloud/own-q2c-last/{r}")
        add("scout", "bf16", float(r), "q2c", "f1_gap_vs_cloud_own", gap)
        stat_rows.append(_stat_row("scout-mask minus cloud-own (Q2C)", r, n, gap))
    for r in retentions:
        d = _col(recs, f"cloud/own-q2c-last/{r}") - _col(recs, f"cloud/own-snapkv/{r}")
        stat_rows.append(_stat_row("Q2C minus SnapKV (cloud's own selection)", r, n, d))
    for comp in {s["comparison"] for s in stat_rows}:
        group = [s for s in stat_rows if s["comparison"] == comp]
        for s, ph in zip(group, holm([s["wilcoxon_p"] for s in group]), strict=True):
            s["wilcoxon_p_holm"] = ph
            s["wilcoxon_p_bonferroni"] = min(1.0, len(group) * s["wilcoxon_p"])
        for key in ("wilcoxon_pratt_p", "t_p"):
            for s, ph in zip(group, holm([s[key] for s in group]), strict=True):
                s[f"{key}_holm"] = ph
    return stat_rows


def _add_overlap_rows(add: Callable[..., None], recs: list[dict]) -> None:
    """Top-k overlap and score Spearman rows of the scout's vs the cloud's selections."""
    for method, sel in SELECTION_NAMES.items():
        # harness 1.0 drew the same random scores for both models: its random overlap is
        # meaningless (1.0) and is left out
        use = [rec for rec in recs if method != "random" or rec.get("harness_version")]
        if not use:
            continue
        for r in ("1", "0.75", "0.5", "0.25", "0.1"):
            x = np.array([rec["overlap"][method][r]["overlap"] for rec in use])
            add("scout", "bf16", float(r), sel, "topk_overlap", x)
        x = np.array([rec["overlap"][method]["spearman"] for rec in use], dtype=float)
        x = x[~np.isnan(x)]
        if len(x):
            add("scout", "bf16", "", sel, "score_spearman", x)


def _add_perplexity_rows(rows: list[dict], ppl_path: Path, prov: str) -> None:
    """WikiText-2 perplexity rows from ``perplexity.json`` when the run has one."""
    if ppl_path.exists():
        ppl = json.loads(ppl_path.read_text())
        for res in ppl["results"]:
            mode = "kv" if res["role"] == "scout" else "cloud-kv"
            rows.append({**rows[0], "task": "wikitext-2", "mode": mode,
                         "precision": res["precision"], "retention": 1.0, "selection": "none",
                         "metric": "perplexity", "mean": res["perplexity"], "ci_low": "",
                         "ci_high": "", "n": res["tokens"],
                         "provenance": f"{prov}; WikiText-2 test, {ppl['chunks']} x "
                                       f"{ppl['chunk_tokens']} tokens, K/V quantised inside "
                                       "attention; n = tokens"})


def _write_outputs(rows: list[dict], stat_rows: list[dict], out_dir: Path,
                   cache_path: Path) -> None:
    """Write the quality cache (atomically), ``OUT/stats.csv`` and ``OUT/results.md``."""
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    tmp.replace(cache_path)
    with open(out_dir / "stats.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(stat_rows[0]))
        w.writeheader()
        w.writerows(stat_rows)
    (out_dir / "results.md").write_text(results_markdown(cache_path, out_dir / "stats.csv")
                                        + "\n")


def _print_summary(n: int, rows: list[dict], stat_rows: list[dict], out_dir: Path,
                   cache_path: Path) -> None:
    """Print the files written and one line per paired comparison."""
    print(f"{n} questions -> {cache_path} ({len(rows)} rows), {out_dir / 'stats.csv'}, "
          f"{out_dir / 'results.md'}")
    for s in stat_rows:
        print(f"  {s['comparison']:<42} r={s['retention']:<5} diff {s['mean_diff']:+.3f} "
              f"[{s['ci_low']:+.3f},{s['ci_high']:+.3f}] Wilcoxon p={s['wilcoxon_p']:.3g} "
              f"Holm {s['wilcoxon_p_holm']:.3g} Bonferroni {s['wilcoxon_p_bonferroni']:.3g}")


def summarize(out_dir: Path, cache_path: Path) -> list[dict]:
    """Quality-cache rows and paired statistics of a run; writes and prints them."""
    recs = load_lines(out_dir / "questions.jsonl")
    scout, cloud, prov = _provenance(out_dir, recs)
    rows: list[dict] = []
    add = _row_adder(rows, scout, cloud, prov)
    _add_answer_rows(add, recs)
    _add_relative_rows(rows, recs, prov)
    stat_rows = _paired_stats(add, recs)
    _add_overlap_rows(add, recs)
    _add_perplexity_rows(rows, out_dir / "perplexity.json", prov)
    _write_outputs(rows, stat_rows, out_dir, cache_path)
    _print_summary(len(recs), rows, stat_rows, out_dir, cache_path)
    return rows


def _opt(row: dict, key: str) -> str:
    """A stats.csv number as 3 significant digits, ``-`` where the column is absent."""
    v = row.get(key)
    return "-" if v in (None, "") else f"{float(v):.3g}"


def results_markdown(cache_path: Path, stats_path: Path) -> str:
    """The README table: measured pair next to the published 7B/14B figures."""
    rows = list(csv.DictReader(open(cache_path)))
    pub = list(csv.DictReader(open(Path(__file__).parent / "data" / "quality_published.csv")))

    def get(src, mode, metric, precision="bf16", retention="1", selection=None):
        for r in src:
            if (r["mode"] == mode and r["metric"] == metric and r["precision"] == precision
                    and (r["retention"] in (retention, f"{float(retention):g}")
                         or (r["retention"] and retention and
                             abs(float(r["retention"]) - float(retention)) < 1e-9))
                    and (selection is None or r["selection"] == selection)):
                return r
        return None

    def relative(r) -> str:
        return "-" if r is None else f"{float(r['mean']):.1%}"

    def cell(r, pct=False):
        if r is None:
            return "-"
        m = float(r["mean"])
        ci = (f" [{float(r['ci_low']):.3f}, {float(r['ci_high']):.3f}]"
              if r.get("ci_low") not in ("", None) else "")
        return f"{m:.3f}{ci} (n={r['n'] or '?'})"

    pair = (rows[0]["edge_model"], rows[0]["cloud_model"]) if rows else (SCOUT, CLOUD)
    label = ("Qwen2.5-Coder 0.5B scout -> 1.5B cloud" if pair == (SCOUT, CLOUD)
             else f"{pair[0]} scout -> {pair[1]} cloud")
    lines = [f"| quantity | measured: {label} | published: Qwen2.5 7B -> 14B |",
             "|---|---|---|"]
    lines.append(f"| cloud F1, full context | {cell(get(rows, 'cloud-text', 'f1'))} | - |")
    lines.append(f"| scout F1, full context (edge-local) | {cell(get(rows, 'edge-local', 'f1'))}"
                 " | - |")
    for p in ("int8", "int4", "mixed"):
        lines.append(f"| scout F1 with its KV at {p.upper()} (relative to full) | "
                     f"{cell(get(rows, 'kv', 'f1', p))}; "
                     f"{relative(get(rows, 'kv', 'relative_to_bf16', p))} | "
                     f"{float(get(pub, 'kv', 'relative_to_bf16', p)['mean']):.1%} |")
        lines.append(f"| cloud F1 with its KV at {p.upper()} | "
                     f"{cell(get(rows, 'cloud-kv', 'f1', p))} | - |")
    for r in ("0.75", "0.5", "0.25"):
        lines.append(f"| top-{float(r):.0%} overlap, Q2C (last layer) | "
                     f"{cell(get(rows, 'scout', 'topk_overlap', retention=r, selection='q2c'))}"
                     f" | {'83.7% (n=200), retention not stated' if r == '0.5' else '-'} |")
        lines.append(f"| cloud F1, own Q2C selection at {float(r):.0%} | "
                     f"{cell(get(rows, 'cloud-own', 'f1', retention=r, selection='q2c'))} | "
                     f"{cell(get(pub, 'kv', 'f1', retention=r, selection='q2c'))} (7B own) |")
        lines.append(f"| cloud F1, own SnapKV selection at {float(r):.0%} | "
                     f"{cell(get(rows, 'cloud-own', 'f1', retention=r, selection='snapkv'))} | "
                     f"{cell(get(pub, 'kv', 'f1', retention=r, selection='snapkv'))} (7B own) |")
        lines.append(f"| cloud F1, random selection at {float(r):.0%} | "
                     f"{cell(get(rows, 'cloud-own', 'f1', retention=r, selection='random'))}"
                     " | - |")
        lines.append(f"| cloud F1, scout's Q2C mask at {float(r):.0%} | "
                     f"{cell(get(rows, 'scout', 'f1', retention=r, selection='q2c'))} | - |")
    for role, mode in (("scout", "kv"), ("cloud", "cloud-kv")):
        for p in ("bf16", "int8", "int4", "mixed"):
            r = next((x for x in rows if x["task"] == "wikitext-2" and x["mode"] == mode
                      and x["precision"] == p and x["metric"] == "perplexity"), None)
            published = {"bf16": "8.6", "int4": "80.3"}.get(p, "-") if role == "scout" else "-"
            if r is not None:
                lines.append(f"| {role} WikiText-2 perplexity, KV at "
                             f"{'full precision' if p == 'bf16' else p.upper()} | "
                             f"{float(r['mean']):.2f} ({r['n']} tokens) | {published} |")
    st = list(csv.DictReader(open(stats_path)))
    lines += ["", "| paired test | retention | n | mean difference [95% CI] | Wilcoxon p | "
                  "Holm | Bonferroni | Wilcoxon p (Pratt), Holm | paired t p, Holm | "
                  "TOST p (margin) | "
                  "smallest TOST margin | published (n=200) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    published = {("scout", "0.75"): "-0.004, p=0.883", ("scout", "0.5"): "+0.047, p=0.110",
                 ("scout", "0.25"): "+0.059, p=0.039", ("Q2C", "0.75"): "0.000, p=0.319",
                 ("Q2C", "0.5"): "-0.003, p=0.319", ("Q2C", "0.25"): "+0.002, p=0.751"}
    for s in st:
        key = ("scout" if s["comparison"].startswith("scout") else "Q2C", s["retention"])
        lines.append(f"| {s['comparison']} | {float(s['retention']):.0%} | {s['n']} | "
                     f"{float(s['mean_diff']):+.3f} [{float(s['ci_low']):+.3f}, "
                     f"{float(s['ci_high']):+.3f}] | {float(s['wilcoxon_p']):.3g} | "
                     f"{float(s['wilcoxon_p_holm']):.3g} | "
                     f"{float(s['wilcoxon_p_bonferroni']):.3g} | "
                     f"{_opt(s, 'wilcoxon_pratt_p')}, {_opt(s, 'wilcoxon_pratt_p_holm')} | "
                     f"{float(s['t_p']):.3g}, {_opt(s, 't_p_holm')} | "
                     f"{_opt(s, 'tost_p')} (±{_opt(s, 'tost_margin')}) | "
                     f"{_opt(s, 'tost_margin_90')} | {published.get(key, '-')} |")
    return "\n".join(lines)
