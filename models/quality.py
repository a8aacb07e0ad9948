"""Quality cache: expected answer quality of each operating point, with provenance.

CSV schema (one row per measured or published figure)::

    edge_model,cloud_model,task,mode,precision,retention,selection,metric,
    mean,ci_low,ci_high,n,source,provenance

``metric`` is one of ``f1`` (task F1, the quality scale the simulator uses),
``relative_to_bf16`` (F1 as a fraction of the same model's BF16 F1),
``f1_gap_vs_cloud_own`` (scout-mask F1 minus the cloud's own-selection F1), or a
non-quality figure kept for reference (``topk_overlap``, ``perplexity``). ``source`` is
``published``, ``measured`` or ``assumed``.

A value the simulator needs but no row gives is **derived** by one of these documented
rules, and the result says so (``source="derived"``, or ``"assumed"`` when it rests on an
assumed row; ``rule`` names the steps):

- R1 direct: a row for exactly this (mode, precision, retention, selection).
- R2 retention interpolation: linear in retention between the two nearest rows of the same
  (mode, precision, selection); below the lowest row, linear towards F1 = 0 at retention 0.
- R3 quantisation x retention: ``F1(kv, p, r) = F1(kv, bf16, r) x relative(p)``, assuming the
  losses from quantisation and pruning multiply (relative(p) from the row at the nearest
  retention, usually 100%).
- R4 scout: ``F1(scout, r) = F1(cloud-own, r) + gap(r)``, with ``gap(1) = 0`` (both keep every
  position) and ``F1(cloud-own, r) = F1(cloud-text) x F1(kv, bf16, r) / F1(kv, bf16, 1)`` when
  no cloud-own row exists (the cloud's own selection loses the same fraction as the edge's).
- R5 extrapolation to full context: ``F1(kv, bf16, 1)`` without a row is extrapolated
  linearly from the two highest retentions measured.
- edge-local equals ``F1(kv, bf16, 1)`` of the edge model.
- R6 scout at full retention: nothing is masked, so the operating point *is* cloud-text
  (the cloud prefills the whole text); its value is the cloud-text row's, with that row's
  source (never an extrapolation of the masked rows).
- R7 scout with a selection whose scout mask was never run on the cloud (no ``scout`` F1
  rows for it, e.g. ``snapkv``): ``F1(cloud-own, s, r) + gap_q2c(r)``, the cloud's own
  selection ``s`` plus the scout-vs-own gap measured for Q2C at that retention; for
  ``random``, ``F1(cloud-own, random, r)`` (a random mask does not depend on which model
  drew it). Always ``derived``: a cloud-own row is never returned as the scout's.

Selection names (:data:`SELECTIONS`) are the simulator's; ``q2c`` is the harness's
``q2c-last`` (``models.selection``).

**Context length.** A CSV may carry a fifteenth column, ``context_tokens``: empty for rows
measured on the task's own contexts (SQuAD paragraphs: mean 156, median 150 tokens), a
number for rows measured at that context length (``models.longctx``: 1,024 and 2,048
tokens, the gold paragraph among distractors). The named ``measured`` cache adds the rows of
``quality_measured_context.csv`` beside it. ``PairQuality.quality(op, context_tokens)``:

- no length rows for the pair, no ``context_tokens``, or ``context_tokens <=``
  :data:`BASE_CONTEXT_TOKENS` (170, the simulator's default): the rules above on the
  own-context rows, exactly as without this column;
- at a measured length: the rules on that length's rows (rule suffixed ``@L``);
- between two lengths (the own-context rows anchored at 170): each end valued by the rules
  on its rows, then linear in log(tokens); ``source = "derived"``, rule ``Lctx(a; b)``;
- beyond the longest measured length: **clamped** to that length's value, ``source =
  "derived"``, rule ``clamp>L``, and a :class:`QualityExtrapolationWarning` once per pair:
  never a silent extrapolation.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from models.errors import InputError
from models.files import check_input_file
from models.operating import OperatingPoint

DATA_DIR = Path(__file__).parent / "data"
NAMED_CACHES = {
    "published": DATA_DIR / "quality_published.csv",
    "measured": DATA_DIR / "quality_measured.csv",
}
COLUMNS = ("edge_model", "cloud_model", "task", "mode", "precision", "retention", "selection",
           "metric", "mean", "ci_low", "ci_high", "n", "source", "provenance")
#: the optional fifteenth column: the context length a row was measured at (empty: the
#: task's own contexts)
CONTEXT_COLUMN = "context_tokens"
#: rows measured at other lengths that a named cache adds
CONTEXT_SIBLINGS = {"measured": DATA_DIR / "quality_measured_context.csv"}
#: where the own-context rows sit on the length axis: the simulator's default context (the
#: measured SQuAD paragraphs average 156 tokens); requests up to it use those rows unchanged
BASE_CONTEXT_TOKENS = 170


class QualityExtrapolationWarning(UserWarning):
    """A quality asked for beyond the longest measured context length (value clamped)."""
SOURCES = ("published", "measured", "assumed")
#: position-selection methods the simulator knows (``q2c`` = the harness's ``q2c-last``)
SELECTIONS = ("q2c", "q2c-mean", "snapkv", "h2o", "random")
_RANK = {"measured": 0, "published": 0, "derived": 1, "assumed": 2}


@dataclass(frozen=True)
class QualityValue:
    """An expected quality (task F1 in [0, 1]) and where it came from."""

    mean: float
    n: int | None
    source: str  # published | measured | derived | assumed
    rule: str
    ci_low: float | None = None
    ci_high: float | None = None


def _combine(rule: str, mean: float, *parts: QualityValue) -> QualityValue:
    worst = max((p.source for p in parts), key=lambda s: _RANK[s])
    source = "assumed" if worst == "assumed" else "derived"
    ns = [p.n for p in parts]
    n = None if any(x is None for x in ns) else min(ns)  # type: ignore[type-var]
    inner = "; ".join(p.rule for p in parts)
    return QualityValue(mean, n, source, f"{rule}({inner})")


def _opt_float(text: str, col: str, path: str, line: int) -> float | None:
    if text.strip() == "":
        return None
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{col} is not a number: {text!r}", path, line) from None
    if not math.isfinite(v):
        raise InputError(f"{col} is {text!r}", path, line)
    return v


class QualityCache:
    """Rows of a quality CSV for lookups by operating point."""

    def __init__(self, rows: list[dict], path: str = "<memory>",
                 context_rows: list[dict] | None = None):
        #: rows of the task's own contexts (no ``context_tokens``)
        self.rows = rows
        #: rows measured at a stated context length (``context_tokens`` a number)
        self.context_rows = context_rows or []
        self.path = path

    @classmethod
    def load(cls, name_or_path: str | Path) -> QualityCache:
        """Load ``published`` (shipped default), ``measured`` (with the length rows of its
        sibling CSV when present) or a CSV path."""
        path = NAMED_CACHES.get(str(name_or_path), Path(name_or_path))
        ps = str(path)
        if not path.exists():
            hint = " (run the measurement harness first)" if str(name_or_path) == "measured" else ""
            raise InputError(f"quality cache not found{hint}", ps)
        rows = cls._read(path)
        sibling = CONTEXT_SIBLINGS.get(str(name_or_path))
        if sibling is not None and sibling.exists():
            rows += cls._read(sibling)
        return cls([r for r in rows if CONTEXT_COLUMN not in r], ps,
                   [r for r in rows if CONTEXT_COLUMN in r])

    @staticmethod
    def _read(path: Path) -> list[dict]:
        """Rows of one quality CSV (14 columns, or 15 with ``context_tokens``)."""
        ps = str(path)
        check_input_file(path, "quality cache")
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            names = tuple(h.strip() for h in header) if header is not None else ()
            if names not in (COLUMNS, (*COLUMNS, CONTEXT_COLUMN)):
                raise InputError(f"quality cache header must be {','.join(COLUMNS)} "
                                 f"(optionally ,{CONTEXT_COLUMN})", ps, 1)
            rows = []
            for line, rec in enumerate(reader, start=2):
                if not rec:
                    continue
                if len(rec) != len(names):
                    raise InputError(f"expected {len(names)} columns, found {len(rec)}", ps, line)
                row = dict(zip(names, (c.strip() for c in rec), strict=True))
                tokens = _opt_float(row.get(CONTEXT_COLUMN, ""), CONTEXT_COLUMN, ps, line)
                if tokens is not None and tokens <= BASE_CONTEXT_TOKENS:
                    raise InputError(f"{CONTEXT_COLUMN} must be above {BASE_CONTEXT_TOKENS} "
                                     "(leave it empty for the task's own contexts)", ps, line)
                if tokens is not None:
                    row[CONTEXT_COLUMN] = tokens
                else:
                    row.pop(CONTEXT_COLUMN, None)  # own-context rows: the 14 columns as ever
                mean = _opt_float(row["mean"], "mean", ps, line)
                if mean is None:
                    raise InputError("mean is empty", ps, line)
                row["mean"] = mean
                row["retention"] = _opt_float(row["retention"], "retention", ps, line)
                row["ci_low"] = _opt_float(row["ci_low"], "ci_low", ps, line)
                row["ci_high"] = _opt_float(row["ci_high"], "ci_high", ps, line)
                n = _opt_float(row["n"], "n", ps, line)
                row["n"] = None if n is None else int(n)
                if row["source"] not in SOURCES:
                    raise InputError(f"source must be one of {', '.join(SOURCES)}", ps, line)
                rows.append(row)
        return rows

    def for_pair(self, edge_model: str, cloud_model: str, task: str | None = None) -> PairQuality:
        """Quality lookups for one (edge, cloud) model pair; InputError if the cache has none."""
        rows = [r for r in self.rows
                if r["edge_model"] == edge_model and r["cloud_model"] == cloud_model]
        tasks = sorted({r["task"] for r in rows if r["metric"] == "f1"})
        if not tasks:
            pairs = sorted({(r["edge_model"], r["cloud_model"]) for r in self.rows})
            raise InputError(
                f"no quality rows for edge {edge_model} / cloud {cloud_model}; the cache has "
                f"{', '.join('/'.join(p) for p in pairs)} (use --quality-cache none to skip "
                "quality)", self.path)
        if task is None:
            if len(tasks) > 1:
                raise InputError(f"several tasks ({', '.join(tasks)}); name one", self.path)
            task = tasks[0]
        long = [r for r in self.context_rows if r["edge_model"] == edge_model
                and r["cloud_model"] == cloud_model and r["task"] == task]
        return PairQuality([r for r in rows if r["task"] == task], task, self.path, long)


class PairQuality:
    """Derivation rules R1-R7 over one model pair and task's rows, and the context-length
    interpolation of the module docstring over its length rows."""

    def __init__(self, rows: list[dict], task: str, path: str,
                 context_rows: list[dict] | None = None):
        self.task = task
        self.path = path
        self._rows = rows
        self._base = lru_cache(maxsize=None)(self._quality)
        by_len: dict[float, list[dict]] = {}
        for r in context_rows or []:
            by_len.setdefault(r[CONTEXT_COLUMN], []).append(r)
        #: measured lengths (tokens) -> the rules over that length's rows
        self.lengths = {t: PairQuality(rs, task, path) for t, rs in sorted(by_len.items())}
        self._at = lru_cache(maxsize=None)(self._at_length)
        self._warned = False

    def quality(self, op: OperatingPoint, context_tokens: float | None = None) -> QualityValue:
        """The quality of ``op`` (at ``context_tokens`` when the pair has length rows)."""
        if (context_tokens is None or not self.lengths
                or context_tokens <= BASE_CONTEXT_TOKENS):
            return self._base(op)
        return self._at(op, float(context_tokens))

    def _length_value(self, op: OperatingPoint, tokens: float) -> QualityValue:
        """``op`` by the rules on the rows of one measured length (or the own-context rows)."""
        if tokens == BASE_CONTEXT_TOKENS:
            return self._base(op)
        try:
            v = self.lengths[tokens].quality(op)
        except (InputError, ZeroDivisionError) as err:
            why = err.message if isinstance(err, InputError) else "a rule divides by a zero F1"
            raise InputError(f"{op.label} at {tokens:g} context tokens: {why}",
                             self.path) from None
        return replace(v, rule=f"{v.rule}@{tokens:g}")

    def _at_length(self, op: OperatingPoint, tokens: float) -> QualityValue:
        top = max(self.lengths)
        if tokens > top:
            v = self._length_value(op, top)
            if not self._warned:
                self._warned = True
                warnings.warn(f"quality asked for at {tokens:g} context tokens, beyond the "
                              f"longest measured ({top:g}): held at {top:g} tokens' values "
                              "(flagged derived, rule clamp)", QualityExtrapolationWarning,
                              stacklevel=3)
            return _combine(f"clamp>{top:g}", v.mean, v)
        anchors = [float(BASE_CONTEXT_TOKENS), *self.lengths]
        for lo, hi in zip(anchors, anchors[1:], strict=False):
            if abs(tokens - hi) < 1e-9:
                return self._length_value(op, hi)
            if lo < tokens < hi:
                a, b = self._length_value(op, lo), self._length_value(op, hi)
                w = (math.log(tokens) - math.log(lo)) / (math.log(hi) - math.log(lo))
                return _combine(f"L{lo:g}-{hi:g}", a.mean + w * (b.mean - a.mean), a, b)
        raise AssertionError(tokens)  # unreachable: tokens > BASE and <= top

    def operating_points(self) -> list[OperatingPoint]:
        """Every operating point this pair's rows can value (directly or by a rule): KV at
        each precision with rows x each retention with rows (and 100%), Scout at each
        retention with rows (below 100%: at 100% it is cloud-text plus an edge prefill),
        cloud-text and edge-local when derivable."""
        def retentions(mode: str) -> set[float]:
            return {r["retention"] for r in self._rows if r["mode"] == mode
                    and r["retention"] is not None and r["metric"] != "topk_overlap"}

        kv_ret = sorted(retentions("kv") | {1.0}, reverse=True)
        precisions = [p for p in ("bf16", "int8", "int4", "mixed")
                      if any(r["mode"] == "kv" and r["precision"] == p for r in self._rows)]
        scout_ret = sorted((retentions("scout") | retentions("cloud-own")) - {1.0},
                           reverse=True)
        selections = sorted({r["selection"] for r in self._rows if r["mode"] in ("kv", "scout")
                             and r["selection"] not in ("none", "")}) or ["q2c"]
        default_sel = "q2c" if "q2c" in selections else selections[0]
        ops = [OperatingPoint("kv", p, r, default_sel) for p in precisions for r in kv_ret]
        ops += [OperatingPoint("scout", "bf16", r, default_sel) for r in scout_ret]
        ops += [OperatingPoint("cloud-text"), OperatingPoint("edge-local")]
        out = []
        for op in ops:
            try:
                self._base(op)
            except InputError:
                continue
            out.append(op)
        return out

    def _find(self, mode: str, metric: str, precision: str | None = None,
              selection: str | None = None) -> list[dict]:
        return [r for r in self._rows if r["mode"] == mode and r["metric"] == metric
                and (precision is None or r["precision"] == precision)
                and (selection is None or r["retention"] == 1.0 or r["selection"] == selection)
                and r["retention"] is not None]

    @staticmethod
    def _value(r: dict, rule: str = "R1") -> QualityValue:
        return QualityValue(r["mean"], r["n"], r["source"], rule, r["ci_low"], r["ci_high"])

    def _curve(self, rows: list[dict], retention: float, what: str,
               zero_at_zero: bool = True) -> QualityValue | None:
        """R1/R2/R5 over rows that differ only in retention."""
        pts = sorted(rows, key=lambda r: r["retention"])
        for r in pts:
            if abs(r["retention"] - retention) < 1e-9:
                return self._value(r)
        below = [r for r in pts if r["retention"] < retention]
        above = [r for r in pts if r["retention"] > retention]
        if below and above:
            lo, hi = below[-1], above[0]
            w = (retention - lo["retention"]) / (hi["retention"] - lo["retention"])
            mean = lo["mean"] + w * (hi["mean"] - lo["mean"])
            return _combine("R2", mean, self._value(lo), self._value(hi))
        if above and zero_at_zero:
            hi = above[0]
            return _combine("R2-to-zero", hi["mean"] * retention / hi["retention"],
                            self._value(hi))
        if len(below) >= 2 and retention == 1.0:
            a, b = below[-2], below[-1]
            slope = (b["mean"] - a["mean"]) / (b["retention"] - a["retention"])
            return _combine("R5", b["mean"] + slope * (1.0 - b["retention"]),
                            self._value(a), self._value(b))
        return None

    def _kv_bf16(self, retention: float, selection: str) -> QualityValue:
        rows = self._find("kv", "f1", "bf16", selection)
        v = self._curve(rows, retention, "kv")
        if v is None:
            raise InputError(f"cannot derive F1 of bf16 KV at retention {retention:g} "
                             f"({selection}) from the cache", self.path)
        return v

    def _quality(self, op: OperatingPoint) -> QualityValue:
        if op.mode == "kv":
            base = self._kv_bf16(op.retention, op.selection)
            if op.precision == "bf16":
                return base
            direct = [r for r in self._find("kv", "f1", op.precision, op.selection)
                      if abs(r["retention"] - op.retention) < 1e-9]
            if direct:
                return self._value(direct[0])
            rel = self._find("kv", "relative_to_bf16", op.precision)
            if not rel:
                raise InputError(f"no {op.precision} quality rows in the cache", self.path)
            r = min(rel, key=lambda r: abs(r["retention"] - op.retention))
            return _combine("R3", base.mean * r["mean"], base, self._value(r))
        if op.mode == "cloud-text":
            rows = self._find("cloud-text", "f1")
            if not rows:
                raise InputError("no cloud-text F1 row in the cache", self.path)
            return self._value(rows[0])
        if op.mode == "edge-local":
            rows = self._find("edge-local", "f1")
            return self._value(rows[0]) if rows else self._kv_bf16(1.0, op.selection)
        return self._scout(op)

    def _scout(self, op: OperatingPoint) -> QualityValue:
        """Scout: R1 where the scout mask was measured, else R6 (nothing masked), R4 or R7."""
        if op.selection not in SELECTIONS and not any(
                r["selection"] == op.selection for r in self._rows):
            raise InputError(f"unknown selection {op.selection!r}; known: "
                             f"{', '.join(SELECTIONS)}", self.path)
        if op.retention == 1.0:
            full = self._quality(OperatingPoint("cloud-text"))
            return replace(full, rule=f"R6({full.rule})")
        direct = self._curve(self._find("scout", "f1", None, op.selection), op.retention,
                             "scout", zero_at_zero=False)
        if direct is not None and direct.rule == "R1":
            return direct
        own = self._curve(self._find("cloud-own", "f1", None, op.selection), op.retention,
                          "cloud-own", zero_at_zero=False)
        if own is None:
            full = self._quality(OperatingPoint("cloud-text"))
            edge_r = self._kv_bf16(op.retention, op.selection)
            edge_1 = self._kv_bf16(1.0, op.selection)
            own = _combine("R4-own", full.mean * edge_r.mean / edge_1.mean, full, edge_r, edge_1)
        rule = "R4"
        gap_rows = self._find("scout", "f1_gap_vs_cloud_own", None, op.selection)
        if not gap_rows and op.selection != "q2c":
            if op.selection == "random":
                return _combine("R7-random", own.mean, own)
            rule = "R7"
            gap_rows = self._find("scout", "f1_gap_vs_cloud_own", None, "q2c")
        gap_rows = gap_rows + [dict(gap_rows[0] if gap_rows else {}, retention=1.0, mean=0.0,
                                    n=None, source="published", ci_low=None, ci_high=None)]
        gap = self._curve(gap_rows, op.retention, "gap", zero_at_zero=False)
        if gap is None:
            return own if own.source in ("derived", "assumed") else _combine("R4", own.mean, own)
        return _combine(rule, own.mean + gap.mean, own, gap)
