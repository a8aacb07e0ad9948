"""Long-context quality: the measurement harness at 1k and 2k context tokens.

The quality rows of ``models/data/quality_measured.csv`` are measured on SQuAD's own
paragraphs (mean 156, median 150 context tokens). This module measures the same pair, with
the same prompt, masking, quantisation and F1 (``models.measure.measure_question``), on
long contexts: each question's gold paragraph surrounded by **distractor paragraphs from
other articles** of the same SQuAD file, to a target length.

Construction (:func:`build_spec`, deterministic from ``--seed`` and the question id): the
paragraphs of every other article, shuffled; taken in that order while the context stays
within ``target x (1 +- BAND)`` tokens (the scout's tokenizer, the context alone, as the
harness counts ``context_tokens``) until it reaches the band's lower end; the gold paragraph
is put at a uniformly drawn slot among them (``gold_position``, 0 = first). Paragraphs are
joined by a blank line. The spec (distractor ids, gold position and token counts) is written
to ``OUT/contexts-L.jsonl``, so a run elsewhere rebuilds the exact text without a tokenizer.

Subcommands (``python -m models.longctx ...``):

- ``build --tokenizer M --tokens L --limit N``: the specs of the first ``N`` questions.
- ``run --scout S --cloud C --tokens L [--device cuda] [--shard I/K]``: one JSON line per
  question in ``OUT/questions-L[-sI].jsonl`` (resumable over every file of that length).
  Each line holds every answer of ``measure_question`` at retention 50% (cloud full, its KV
  at INT8 / INT4 / mixed, its cache masked to the scout's Q2C and to its own Q2C, SnapKV and
  random selections; the scout full, at INT8 / INT4 / mixed and pruned to its own Q2C) plus
  the spec. Mixed precision reuses the 170-token run's measured layer sensitivities.
- ``summarize``: quality rows with a ``context_tokens`` column ->
  ``models/data/quality_measured_context.csv`` (read by :mod:`models.quality`, which
  interpolates between lengths), ``OUT/results.md`` (quality vs length per mode, 95% CIs,
  the paired change against the same questions at their own length, and the selections'
  scout-vs-cloud agreement and gold-answer coverage from the same prefills) and
  ``OUT/stats-L.csv``.

``OUT/cpu-check-1024.jsonl`` (not read by ``summarize``) holds 45 questions measured on a
2-core CPU before the GPU run; ``tests/models/test_longctx.py`` checks that the GPU run gave
the same answers to them.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from models.cli import add_common, command, make_parser, run_main
from models.errors import InputError
from models.measure import DEFAULT_SQUAD, append_line, done_ids
from models.squad import Question

VERSION = "1"
SEED = 0
BAND = 0.05
SEPARATOR = "\n\n"
RETENTION = 0.5
LENGTHS = (1024, 2048)
DEFAULT_OUT = Path("models/data/measurements/qwen-coder-pair-long")
BASE_RUN = Path("models/data/measurements/qwen-coder-pair")
DATA_DIR = Path(__file__).parent / "data"
CONTEXT_CACHE = DATA_DIR / "quality_measured_context.csv"
BASE_CACHE = DATA_DIR / "quality_measured.csv"


@dataclass(frozen=True)
class Paragraph:
    article: int
    title: str
    index: int  # within its article
    context: str


@dataclass(frozen=True)
class Indexed:
    """A question with its article and paragraph (file order, as ``load_squad``)."""

    question: Question
    article: int
    paragraph: int


def load_indexed(path: str | Path) -> tuple[list[Indexed], dict[tuple[int, int], Paragraph]]:
    """Questions in file order (the same order and fields as :func:`models.squad.load_squad`)
    with their article and paragraph, and every paragraph by ``(article, index)``."""
    p = Path(path)
    if not p.exists():
        raise InputError("SQuAD file not found", str(p))
    data = json.loads(p.read_text())
    questions, paragraphs = [], {}
    for a, article in enumerate(data.get("data", [])):
        for i, para in enumerate(article["paragraphs"]):
            paragraphs[(a, i)] = Paragraph(a, article.get("title", str(a)), i, para["context"])
            for qa in para["qas"]:
                q = Question(qa["id"], para["context"], qa["question"],
                             tuple(x["text"] for x in qa["answers"]),
                             tuple(x["answer_start"] for x in qa["answers"]))
                questions.append(Indexed(q, a, i))
    if not questions:
        raise InputError("no questions in file", str(p))
    return questions, paragraphs


def build_spec(item: Indexed, paragraphs: dict[tuple[int, int], Paragraph],
               token_len: Callable[[str], int], target: int, seed: int = SEED,
               band: float = BAND, attempts: int = 20) -> dict:
    """The long context of one question (see the module docstring): distractor ids in
    context order, the gold paragraph's slot and the context's token count."""
    lo, hi = math.floor(target * (1 - band)), math.ceil(target * (1 + band))
    gold_title = paragraphs[(item.article, item.paragraph)].title
    pool = sorted(k for k, p in paragraphs.items()
                  if p.article != item.article and p.title != gold_title)
    gold_len = token_len(item.question.context)
    if gold_len > hi:
        raise InputError(f"gold paragraph of {item.question.id} has {gold_len} tokens, more "
                         f"than the {target}-token band allows")
    for attempt in range(attempts):
        rng = np.random.default_rng([seed, target, zlib.crc32(item.question.id.encode()),
                                     attempt])
        chosen: list[tuple[int, int]] = []
        total = gold_len
        for i in rng.permutation(len(pool)):
            n = token_len(paragraphs[pool[i]].context) + 1  # + the separator (about one token)
            if total + n > hi:
                continue
            chosen.append(pool[i])
            total += n
            if total >= lo:
                break
        slot = int(rng.integers(0, len(chosen) + 1))
        spec = {"id": item.question.id, "target_tokens": target, "seed": seed, "band": band,
                "attempt": attempt, "article": item.article, "paragraph": item.paragraph,
                "gold_position": slot, "paragraphs": len(chosen) + 1,
                "distractors": [list(k) for k in chosen]}
        q = assemble(spec, item.question, paragraphs)
        n_tok = token_len(q.context)
        if lo <= n_tok <= hi:
            before = q.context[:q.answer_starts[0] - item.question.answer_starts[0]]
            spec["context_tokens"] = n_tok
            spec["gold_token_start"] = token_len(before) if before else 0
            return spec
    raise InputError(f"no {target}-token context for {item.question.id} in {attempts} draws")


def assemble(spec: dict, question: Question,
             paragraphs: dict[tuple[int, int], Paragraph]) -> Question:
    """The question with its long context (answer starts shifted to the gold paragraph's
    place); ``spec`` from :func:`build_spec`."""
    texts = [paragraphs[tuple(k)].context for k in spec["distractors"]]
    slot = spec["gold_position"]
    shift = sum(len(t) + len(SEPARATOR) for t in texts[:slot])
    texts.insert(slot, question.context)
    return replace(question, context=SEPARATOR.join(texts),
                   answer_starts=tuple(s + shift for s in question.answer_starts))


def specs_path(out: Path, tokens: int) -> Path:
    return out / f"contexts-{tokens}.jsonl"


def read_specs(out: Path, tokens: int) -> list[dict]:
    path = specs_path(out, tokens)
    if not path.exists():
        raise InputError("no context specs (run `python -m models.longctx build` first)",
                         str(path))
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# ---------------------------------------------------------------------------- build
def cmd_build(args) -> None:
    from transformers import AutoTokenizer

    p = Path(args.tokenizer)
    kw = {"gguf_file": p.name} if p.suffix == ".gguf" else {}
    tok = AutoTokenizer.from_pretrained(p.parent if kw else p, **kw)
    lens: dict[str, int] = {}

    def token_len(text: str) -> int:
        if text not in lens:
            lens[text] = len(tok(text, add_special_tokens=False)["input_ids"])
        return lens[text]

    items, paragraphs = load_indexed(args.squad)
    args.out.mkdir(parents=True, exist_ok=True)
    for target in args.tokens:
        lines = [json.dumps(build_spec(it, paragraphs, token_len, target, args.seed))
                 for it in items[: args.limit]]
        specs_path(args.out, target).write_text("\n".join(lines) + "\n")
        _log(args, f"{len(lines)} contexts of ~{target} tokens -> {specs_path(args.out, target)}")


# ---------------------------------------------------------------------------- run
def cmd_run(args) -> None:
    from models.harness import LM, device_name
    from models.kvquant import mixed_bits
    from models.measure import measure_question

    sens = json.loads(Path(args.sensitivity).read_text())
    mixed = {role: mixed_bits(sens[role]["sensitivity"]) for role in ("scout", "cloud")}
    items, paragraphs = load_indexed(args.squad)
    by_id = {it.question.id: it for it in items}
    shard, shards = args.shard
    specs = [s for i, s in enumerate(read_specs(args.out, args.tokens)[: args.limit])
             if i % shards == shard]
    suffix = f"-s{shard}" if shards > 1 else ""
    out_file = args.out / f"questions-{args.tokens}{suffix}.jsonl"
    done: set[str] = set()
    for f in args.out.glob(f"questions-{args.tokens}*.jsonl"):
        done |= done_ids(f)
    todo = [s for s in specs if s["id"] not in done]
    _log(args, f"{args.tokens} tokens, shard {shard}/{shards}: {len(specs) - len(todo)} done, "
               f"{len(todo)} to go -> {out_file}")
    if not todo:
        return
    t_start = time.perf_counter()
    scout = LM(args.scout, "scout", args.threads, device=args.device,
               tokenizer=args.scout_tokenizer)
    cloud = LM(args.cloud, "cloud", args.threads, device=args.device,
               tokenizer=args.cloud_tokenizer)
    device = device_name(args.device)
    _log(args, f"models loaded in {time.perf_counter() - t_start:.0f} s on {device}")
    for i, spec in enumerate(todo, 1):
        if args.max_seconds and time.perf_counter() - t_start > args.max_seconds:
            _log(args, f"stopping: --max-seconds {args.max_seconds} reached")
            break
        t0 = time.perf_counter()
        q = assemble(spec, by_id[spec["id"]].question, paragraphs)
        rec = measure_question(scout, cloud, q, mixed, retentions=(RETENTION,))
        rec["timings_s"]["total"] = time.perf_counter() - t0
        rec.update({"longctx_version": VERSION, "spec": spec, "device": device,
                    "dtype": "fp32", "scout_model": str(args.scout),
                    "cloud_model": str(args.cloud)})
        append_line(out_file, rec)
        _log(args, f"[{i}/{len(todo)}] {spec['id']} {rec['context_tokens']} tok "
                   f"gold@{spec['gold_position']}/{spec['paragraphs']} "
                   f"{rec['timings_s']['total']:.1f} s cloud F1 "
                   f"{rec['answers']['cloud/full']['f1']:.2f}")


# ---------------------------------------------------------------------------- summarize
def load_runs(out: Path, tokens: int) -> list[dict]:
    """Every record of one length (all shards), one per question id, in spec order."""
    recs: dict[str, dict] = {}
    for f in sorted(out.glob(f"questions-{tokens}*.jsonl")):
        for line in f.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            recs.setdefault(rec["id"], rec)
    order = {s["id"]: i for i, s in enumerate(read_specs(out, tokens))} \
        if specs_path(out, tokens).exists() else {}
    return sorted(recs.values(), key=lambda r: order.get(r["id"], len(order)))


#: (mode, precision, retention, selection) of the simulator's rows -> the answer key
CONDITIONS = {
    ("cloud-text", "bf16", 1.0, "none"): "cloud/full",
    ("edge-local", "bf16", 1.0, "none"): "scout/full",
    ("kv", "bf16", 1.0, "none"): "scout/full",
    ("kv", "int8", 1.0, "none"): "scout/kv-int8",
    ("kv", "int4", 1.0, "none"): "scout/kv-int4",
    ("kv", "mixed", 1.0, "none"): "scout/kv-mixed",
    ("cloud-kv", "int8", 1.0, "none"): "cloud/kv-int8",
    ("cloud-kv", "int4", 1.0, "none"): "cloud/kv-int4",
    ("cloud-kv", "mixed", 1.0, "none"): "cloud/kv-mixed",
    ("kv", "bf16", 0.5, "q2c"): "scout/own-q2c-last/0.5",
    ("scout", "bf16", 0.5, "q2c"): "cloud/scout-q2c-last/0.5",
    ("cloud-own", "bf16", 0.5, "q2c"): "cloud/own-q2c-last/0.5",
    ("cloud-own", "bf16", 0.5, "snapkv"): "cloud/own-snapkv/0.5",
    ("cloud-own", "bf16", 0.5, "random"): "cloud/own-random/0.5",
}
LABELS = {
    "cloud/full": "cloud-text (cloud, full context)",
    "scout/full": "edge-local (scout, full context)",
    "scout/kv-int8": "kv INT8 (scout's KV)", "scout/kv-int4": "kv INT4 (scout's KV)",
    "scout/kv-mixed": "kv mixed (scout's KV)",
    "cloud/kv-int8": "cloud KV INT8", "cloud/kv-int4": "cloud KV INT4",
    "cloud/kv-mixed": "cloud KV mixed",
    "scout/own-q2c-last/0.5": "kv bf16, own Q2C 50% (scout)",
    "cloud/scout-q2c-last/0.5": "scout: scout's Q2C mask 50%",
    "cloud/own-q2c-last/0.5": "cloud-own Q2C 50%",
    "cloud/own-snapkv/0.5": "cloud-own SnapKV 50%",
    "cloud/own-random/0.5": "cloud-own random 50%",
}


def _provenance(recs: list[dict], tokens: int) -> str:
    from models.summarize import harness_versions, model_identity

    _, scout_prov = model_identity(BASE_RUN, "scout", "qwen2.5-coder-0.5b")
    _, cloud_prov = model_identity(BASE_RUN, "cloud", "qwen2.5-coder-1.5b")
    devices = sorted({r.get("device", "?") for r in recs})
    ctx = np.array([r["context_tokens"] for r in recs])
    return (f"models.longctx v{VERSION} ({harness_versions(recs)}) "
            f"{datetime.now(timezone.utc):%Y-%m-%d}; scout {scout_prov}; cloud {cloud_prov}; "
            f"4-bit GGUF weights dequantised, fp32 on {'; '.join(devices)}; ExpMRC SQuAD v1.1 "
            f"dev first {len(recs)} questions, gold paragraph + distractors from other "
            f"articles to {tokens} +-{BAND:.0%} tokens (mean {ctx.mean():.0f}, "
            f"{ctx.min()}-{ctx.max()}), seed {recs[0]['spec']['seed']}, gold positions in "
            f"contexts-{tokens}.jsonl; retention 50% only")


def summary_rows(recs: list[dict], tokens: int) -> tuple[list[dict], list[dict]]:
    """Quality-cache rows (with ``context_tokens``) and paired statistics of one length,
    by the 170-token run's code (``models.summarize``), at retention 50%."""
    from models.summarize import (
        SCOUT,
        _add_answer_rows,
        _add_relative_rows,
        _paired_stats,
        _row_adder,
    )

    rows: list[dict] = []
    add = _row_adder(rows, SCOUT, "qwen2.5-coder-1.5b", _provenance(recs, tokens))
    _add_answer_rows(add, recs, retentions=("0.5",))
    _add_relative_rows(rows, recs, rows[0]["provenance"])
    stat_rows = _paired_stats(add, recs, retentions=("0.5",))
    for r in rows:
        r["context_tokens"] = tokens
    return rows, stat_rows


def _base_records() -> dict[str, dict]:
    path = BASE_RUN / "questions.jsonl"
    if not path.exists():
        return {}
    return {r["id"]: r for r in (json.loads(x) for x in path.read_text().splitlines())}


def results_markdown(by_len: dict[int, list[dict]]) -> str:
    """Quality vs context length per condition: F1 [95% CI] (n) at SQuAD's own length (the
    170-token run, all 200 questions) and each long length; the paired change from the same
    questions' own length; each condition minus cloud-text per length (:func:`_gap_table`);
    the contexts measured."""
    from models.summarize import t_interval

    base = _base_records()
    lens = sorted(by_len)
    head = ("| condition | own length (~156 tok), n=200 | "
            + " | ".join(f"{t} tok: F1 [95% CI] (n) | {t} minus own length, same questions "
                         "[95% CI]" for t in lens) + " |")
    lines = [head, "|---|---|" + "---|---|" * len(lens)]

    def cell(x: np.ndarray) -> str:
        lo, hi = t_interval(x)
        return f"{x.mean():.3f} [{max(0.0, lo):.3f}, {min(1.0, hi):.3f}] (n={len(x)})"

    for key, label in LABELS.items():
        b = np.array([r["answers"][key]["f1"] for r in base.values()]) if base else None
        parts = [label, cell(b) if b is not None and len(b) else "-"]
        for t in lens:
            recs = by_len[t]
            x = np.array([r["answers"][key]["f1"] for r in recs])
            parts.append(cell(x))
            pairs = [r for r in recs if r["id"] in base]
            if pairs:
                d = np.array([r["answers"][key]["f1"] - base[r["id"]]["answers"][key]["f1"]
                              for r in pairs])
                lo, hi = t_interval(d)
                parts.append(f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] (n={len(d)})")
            else:
                parts.append("-")
        lines.append("| " + " | ".join(parts) + " |")
    lines += ["", _gap_table(base, by_len), ""]
    lines.append("| length | n | context tokens mean (min-max) | paragraphs mean | "
                 "gold position: first / middle / last | cloud F1 by gold third of the "
                 "context: first / middle / last |")
    lines.append("|---|---|---|---|---|---|")
    for t in lens:
        recs = by_len[t]
        ctx = np.array([r["context_tokens"] for r in recs])
        par = np.array([r["spec"]["paragraphs"] for r in recs])
        pos = [r["spec"]["gold_position"] for r in recs]
        first = sum(p == 0 for p in pos)
        last = sum(p == r["spec"]["paragraphs"] - 1 for p, r in zip(pos, recs, strict=True))
        frac = np.array([r["spec"]["gold_token_start"] / r["spec"]["context_tokens"]
                         for r in recs])
        f1 = np.array([r["answers"]["cloud/full"]["f1"] for r in recs])
        thirds = [f1[(frac >= a) & (frac < b)] for a, b in ((0, 1 / 3), (1 / 3, 2 / 3),
                                                             (2 / 3, 1.01))]
        lines.append(f"| {t} | {len(recs)} | {ctx.mean():.0f} ({ctx.min()}-{ctx.max()}) | "
                     f"{par.mean():.1f} | {first} / {len(recs) - first - last} / {last} | "
                     + " / ".join(f"{x.mean():.3f} (n={len(x)})" if len(x) else "-"
                                  for x in thirds) + " |")
    return "\n".join(lines)


def _gap_table(base: dict[str, dict], by_len: dict[int, list[dict]],
               ref: str = "cloud/full") -> str:
    """Each condition minus cloud-text on the same questions, per length (own length
    included): mean paired difference [95% t-interval]: what an option costs against sending
    the text, and how that cost moves with the context length."""
    from models.summarize import t_interval

    groups = ([("own length (~156)", list(base.values()))] if base else []) + [
        (f"{t} tok", by_len[t]) for t in sorted(by_len)]
    lines = ["| condition minus cloud-text, same questions [95% CI] | "
             + " | ".join(g for g, _ in groups) + " |", "|---|" + "---|" * len(groups)]
    for key, label in LABELS.items():
        if key == ref:
            continue
        parts = [label]
        for _, recs in groups:
            d = np.array([r["answers"][key]["f1"] - r["answers"][ref]["f1"] for r in recs])
            lo, hi = t_interval(d)
            parts.append(f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] (n={len(d)})")
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines)


def selection_markdown(out: Path, lengths: tuple[int, ...] = LENGTHS) -> str:
    """Scout-vs-cloud agreement of the selections and the gold answer's share inside the
    cloud's top 50%, per length (own length: the 170-token run's 200 questions)."""
    from models.summarize import t_interval

    def cell(x: list[float]) -> str:
        a = np.array([v for v in x if not math.isnan(v)], dtype=float)
        if not len(a):
            return "-"
        lo, hi = t_interval(a)
        return f"{a.mean():.3f} [{lo:.3f}, {hi:.3f}]"

    groups = [("own length (~156)", list(_base_records().values()), "CPU, 170-token run")]
    for t in lengths:
        recs = load_runs(out, t)
        if recs:
            devices = "; ".join(sorted({r.get("device", "?") for r in recs}))
            groups.append((str(t), recs, devices))
    methods = ("q2c-last", "snapkv", "q2c-mean", "h2o", "random")
    lines = ["| context tokens | n | from | top-50% overlap, scout vs cloud: Q2C / SnapKV "
             "[95% CI] | Spearman of Q2C scores | gold-answer tokens in the cloud's top 50%: "
             + " / ".join(methods) + " |", "|---|---|---|---|---|---|"]
    for label, recs, src in groups:
        if not recs:
            continue
        ov = [cell([r["overlap"][m]["0.5"]["overlap"] for r in recs])
              for m in ("q2c-last", "snapkv")]
        sp = cell([r["overlap"]["q2c-last"]["spearman"] for r in recs])
        cov = " / ".join(f"{np.nanmean([r['answer_in_topk'][m] for r in recs]):.2f}"
                         for m in methods)
        lines.append(f"| {label} | {len(recs)} | {src} | {ov[0]} / {ov[1]} | {sp} | {cov} |")
    return "\n".join(lines)


def summarize(out: Path, cache_path: Path, lengths: tuple[int, ...] = LENGTHS) -> list[dict]:
    from models.quality import COLUMNS

    by_len = {t: load_runs(out, t) for t in lengths}
    by_len = {t: r for t, r in by_len.items() if r}
    if not by_len:
        raise InputError("no long-context measurements yet (run `python -m models.longctx "
                         "run`)", str(out))
    rows: list[dict] = []
    for t, recs in by_len.items():
        r, stat_rows = summary_rows(recs, t)
        rows += r
        with open(out / f"stats-{t}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(stat_rows[0]))
            w.writeheader()
            w.writerows(stat_rows)
    tmp = cache_path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=(*COLUMNS, "context_tokens"))
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    tmp.replace(cache_path)
    md = results_markdown(by_len) + "\n\n" + selection_markdown(out, lengths)
    (out / "results.md").write_text(md + "\n")
    print(f"{', '.join(f'{t}: {len(r)}' for t, r in by_len.items())} questions -> "
          f"{cache_path} ({len(rows)} rows), {out / 'results.md'}")
    print(md)
    return rows


# ---------------------------------------------------------------------------- main
def _log(args, line: str) -> None:
    if not getattr(args, "quiet", False):
        print(line, file=sys.stderr, flush=True)


def _shard(text: str) -> tuple[int, int]:
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must be I/K, got {text!r}") from None
    if not 0 <= i < k:
        raise InputError(f"--shard {text}: need 0 <= I < K")
    return i, k


@command
def main(argv: list[str] | None = None) -> int:
    """The sub-commands of the module docstring; bad input -> ``error: ...`` and 2."""
    ap = make_parser("python -m models.longctx", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--tokenizer", required=True, help="a model folder or GGUF (its tokenizer)")
    b.add_argument("--tokens", type=int, nargs="+", default=list(LENGTHS))
    b.add_argument("--limit", type=int, default=100)
    b.add_argument("--seed", type=int, default=SEED)
    r = sub.add_parser("run")
    r.add_argument("--scout", required=True)
    r.add_argument("--cloud", required=True)
    r.add_argument("--scout-tokenizer", help="a saved copy of the scout's tokenizer (a "
                   "GGUF's is converted on every load)")
    r.add_argument("--cloud-tokenizer", help="the same for the cloud")
    r.add_argument("--tokens", type=int, required=True)
    r.add_argument("--limit", type=int, default=100)
    r.add_argument("--device", default="cpu", help="cpu, cuda, ... (fp32 on any)")
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--shard", type=_shard, default=(0, 1), help="I/K: every K-th spec from I")
    r.add_argument("--max-seconds", type=float, default=None,
                   help="stop starting questions after this long (resume later)")
    r.add_argument("--sensitivity", type=Path, default=BASE_RUN / "sensitivity.json")
    for p in (b, r):
        p.add_argument("--out", type=Path, default=DEFAULT_OUT)
        p.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
        add_common(p, "quiet", help="no progress lines on stderr")
    s = sub.add_parser("summarize")
    s.add_argument("--out", type=Path, default=DEFAULT_OUT)
    s.add_argument("--cache", type=Path, default=CONTEXT_CACHE)
    s.add_argument("--tokens", type=int, nargs="+", default=list(LENGTHS))
    args = ap.parse_args(argv)
    if args.cmd == "build":
        cmd_build(args)
    elif args.cmd == "run":
        cmd_run(args)
    else:
        summarize(args.out, args.cache, tuple(args.tokens))
    return 0


if __name__ == "__main__":
    run_main(main)
