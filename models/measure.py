"""Measurement harness: real models, per-question JSON lines, aggregated quality cache.

Subcommands (``python -m models.measure ...``):

- ``calibrate --scout S --cloud C``: per-layer KV sensitivity of each model (KL divergence
  of the first answer token when only that layer's context KV is INT4), on calibration
  questions taken from the *end* of the data set (disjoint from the first ``--limit``
  questions that ``run`` measures). Mixed precision keeps the 25% most sensitive layers at
  INT8 (measured, not assumed). Writes ``OUT/sensitivity.json``.
- ``run --scout S --cloud C --limit N``: one JSON line per question (resumable: questions
  already in the file are skipped; each line is flushed and fsynced). Per question: both
  models' position scores for every selection method, scout-vs-cloud top-k overlap, Jaccard
  and Spearman per method and retention; the cloud's answer with nothing masked, with its
  KV masked to the scout's Q2C selection, to its own Q2C and SnapKV selections and to a
  random one, and with its context KV at INT8 / INT4 / mixed; the scout's own answer at
  full precision, INT8 / INT4 / mixed and pruned to its own Q2C selection (the simulator's
  ``kv`` mode); F1 / EM of each; timings.
- ``perplexity``: WikiText-2 perplexity of each model with K/V quantised inside attention.
- ``summarize``: per-question lines -> ``quality_measured.csv`` rows (mean, 95% CI, n, with
  provenance) and the paired tests the review demanded (Q2C vs SnapKV, scout vs cloud-own;
  Wilcoxon, Holm and Bonferroni).

``S`` and ``C`` are a GGUF file, a saved folder or a Hugging Face id; ``python -m models.kit
fetch qwen-coder-pair --dir DIR --fp32-copy`` prepares the offline pair.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from models.cli import add_common, command, make_parser, run_main
from models.errors import InputError
from models.squad import Question, best_f1_em, file_sha256, load_squad
from models.units import KV_GROUP_SIZE

HARNESS_VERSION = "1.1"  # 1.1: independent random draws for scout and cloud
RETENTIONS_OVERLAP = (1.0, 0.75, 0.5, 0.25, 0.1)
RETENTIONS_ANSWER = (0.75, 0.5, 0.25)
DEFAULT_SQUAD = Path(__file__).resolve().parents[2] / "shared" / "qa" / "expmrc-squad-dev.json"
DEFAULT_WIKITEXT = (Path(__file__).resolve().parents[2] / "shared" / "text"
                    / "wikitext-2-raw-test.txt")
CALIBRATION_QUESTIONS = 8


def _load(path: str, name: str, threads: int | None):
    from models.harness import LM

    return LM(path, name, threads)


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def append_line(path: Path, record: dict) -> None:
    """Append one JSON line durably (flush + fsync): a kill loses at most this line, and a
    line torn by an earlier kill is closed first so it cannot swallow this one."""
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(record, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def done_ids(path: Path) -> set[str]:
    """Question ids already measured; a torn last line (killed mid-write) is ignored."""
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text().splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError):
            continue
    return ids


# ---------------------------------------------------------------------------- calibrate
def layer_sensitivity(lm, questions: list[Question],
                      group_size: int = KV_GROUP_SIZE) -> list[float]:
    """Mean KL(full || layer-l-only INT4) of the first answer token, per layer."""
    import torch

    totals = np.zeros(lm.layers)
    for q in questions:
        prompt = lm.build_prompt(q.context, q.question)
        _, cache, _, _ = lm.prefill(prompt.ids, attentions=False)
        base = lm.cache_tensors(cache, prompt.c1)
        ref = lm.first_token_logprobs(base, prompt, None)
        for layer in range(lm.layers):
            bits = [16] * lm.layers
            bits[layer] = 4
            lp = lm.first_token_logprobs(base, prompt, bits, group_size)
            totals[layer] += float(torch.sum(ref.exp() * (ref - lp)))
    return (totals / len(questions)).tolist()


def cmd_calibrate(args) -> None:
    questions = load_squad(args.squad)[-CALIBRATION_QUESTIONS:]
    out = {"harness_version": HARNESS_VERSION, "questions": [q.id for q in questions],
           "method": "mean KL of the first answer token, one layer's context KV at INT4"}
    for role, path in (("scout", args.scout), ("cloud", args.cloud)):
        lm = _load(path, role, args.threads)
        t0 = time.perf_counter()
        out[role] = {"model": path, "sensitivity": layer_sensitivity(lm, questions),
                     "seconds": time.perf_counter() - t0}
        _log(args, f"{role}: {lm.layers} layers, {out[role]['seconds']:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sensitivity.json").write_text(json.dumps(out, indent=1) + "\n")


# ---------------------------------------------------------------------------- run
def measure_question(scout, cloud, q: Question, mixed: dict[str, list[int]],
                     group_size: int = KV_GROUP_SIZE,
                     retentions: tuple[float, ...] = RETENTIONS_ANSWER) -> dict:
    """Every measurement of one question (see the module docstring); the masked answers at
    each of ``retentions`` (the long-context runs, ``models.longctx``, use 50% alone)."""
    from models.selection import METHODS, jaccard, overlap, scores, spearman, top_k

    prompt = cloud.build_prompt(q.context, q.question)
    sp = scout.build_prompt(q.context, q.question)
    if sp.ids != prompt.ids:
        raise InputError("scout and cloud tokenise differently; pick a pair with one tokenizer")
    rec: dict = {"id": q.id, "harness_version": HARNESS_VERSION,
                 "context_tokens": prompt.c1 - prompt.c0,
                 "question_tokens": prompt.q1 - prompt.q0, "prompt_tokens": len(prompt.ids),
                 "timings_s": {}, "answers": {}}
    span = (prompt.c0, prompt.c1, prompt.q0, prompt.q1)
    s_logits, s_cache, s_attn, rec["timings_s"]["scout_prefill"] = scout.prefill(prompt.ids)
    c_logits, c_cache, c_attn, rec["timings_s"]["cloud_prefill"] = cloud.prefill(prompt.ids)
    seed = int.from_bytes(q.id.encode()[:8].ljust(8, b"\0"), "little") % (2**32)
    # independent random draws for the two models (chance-level overlap = retention)
    s_scores = {m: scores(m, s_attn, *span, seed=seed + 1) for m in METHODS}
    c_scores = {m: scores(m, c_attn, *span, seed=seed) for m in METHODS}
    del s_attn, c_attn
    rec["overlap"] = {}
    for m in METHODS:
        rec["overlap"][m] = {
            "spearman": spearman(s_scores[m], c_scores[m]),
            **{f"{r:g}": {"overlap": overlap(top_k(s_scores[m], r), top_k(c_scores[m], r)),
                          "jaccard": jaccard(top_k(s_scores[m], r), top_k(c_scores[m], r))}
               for r in RETENTIONS_OVERLAP},
        }
    # answer-span coverage: does a top-k set contain a gold answer's tokens?
    rec["answer_in_topk"] = answer_coverage(cloud, q, prompt, c_scores)

    def grade(key: str, result: tuple[str, int, float]) -> None:
        text, ntok, secs = result
        f1, em = best_f1_em(text, q.answers)
        rec["answers"][key] = {"text": text, "f1": f1, "em": em, "tokens": ntok,
                               "seconds": secs}

    grade("cloud/full", cloud.answer_from(c_logits, c_cache, len(prompt.ids)))
    base = cloud.cache_tensors(c_cache, prompt.c1)
    del c_cache
    variants: list[tuple[str, np.ndarray | None, list[int] | None]] = []
    for r in retentions:
        variants.append((f"cloud/scout-q2c-last/{r:g}", top_k(s_scores["q2c-last"], r), None))
        for m in ("q2c-last", "snapkv", "random"):
            variants.append((f"cloud/own-{m}/{r:g}", top_k(c_scores[m], r), None))
    for name, bits in (("int8", [8] * cloud.layers), ("int4", [4] * cloud.layers),
                       ("mixed", mixed["cloud"])):
        variants.append((f"cloud/kv-{name}", None, bits))
    results = cloud.answers(base, prompt, [(k, b) for _, k, b in variants], group_size)
    for (key, _, _), res in zip(variants, results, strict=True):
        grade(key, res)
    grade("scout/full", scout.answer_from(s_logits, s_cache, len(prompt.ids)))
    s_base = scout.cache_tensors(s_cache, prompt.c1)
    del s_cache
    variants = [(f"scout/kv-{name}", None, bits) for name, bits in (
        ("int8", [8] * scout.layers), ("int4", [4] * scout.layers), ("mixed", mixed["scout"]))]
    variants += [(f"scout/own-q2c-last/{r:g}", top_k(s_scores["q2c-last"], r), None)
                 for r in retentions]
    results = scout.answers(s_base, prompt, [(k, b) for _, k, b in variants], group_size)
    for (key, _, _), res in zip(variants, results, strict=True):
        grade(key, res)
    return rec


def answer_coverage(lm, q: Question, prompt, c_scores: dict) -> dict:
    """Fraction of the first gold answer's context tokens inside each method's top-50%
    (answer tokens located with the tokenizer's character offsets)."""
    from models.selection import top_k

    start, end = q.answer_starts[0], q.answer_starts[0] + len(q.answers[0])
    enc = lm.tokenizer(q.context, add_special_tokens=False, return_offsets_mapping=True)
    span = np.array([i for i, (a, b) in enumerate(enc["offset_mapping"])
                     if a < end and b > start and i < prompt.c1 - prompt.c0])
    out = {}
    for m, s in c_scores.items():
        out[m] = float(np.isin(span, top_k(s, 0.5)).mean()) if len(span) else float("nan")
    return out


def cmd_run(args) -> None:
    questions = load_squad(args.squad)[: args.limit]
    sens_path = args.out / "sensitivity.json"
    if not sens_path.exists():
        raise InputError("run calibrate first (mixed precision needs measured sensitivities)",
                         str(sens_path))
    from models.kvquant import mixed_bits

    sens = json.loads(sens_path.read_text())
    mixed = {role: mixed_bits(sens[role]["sensitivity"]) for role in ("scout", "cloud")}
    out_file = args.out / "questions.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    done = done_ids(out_file)
    todo = [q for q in questions if q.id not in done]
    _log(args, f"{len(done)} done, {len(todo)} to go -> {out_file}")
    if not todo:
        return
    scout = _load(args.scout, "scout", args.threads)
    cloud = _load(args.cloud, "cloud", args.threads)
    for i, q in enumerate(todo, 1):
        t0 = time.perf_counter()
        rec = measure_question(scout, cloud, q, mixed)
        rec["timings_s"]["total"] = time.perf_counter() - t0
        append_line(out_file, rec)
        _log(args, f"[{len(done) + i}/{len(questions)}] {q.id} "
             f"{rec['timings_s']['total']:.1f} s cloud F1 {rec['answers']['cloud/full']['f1']:.2f}")


# ---------------------------------------------------------------------------- perplexity
def perplexity(lm, text: str, layer_bits: list[int] | None, *, chunk: int = 512,
               chunks: int = 4, group_size: int = KV_GROUP_SIZE) -> tuple[float, int]:
    """exp(mean NLL) over ``chunks`` independent windows of ``chunk`` tokens, with K/V
    quantised inside attention (``layer_bits``; None = unquantised)."""
    import torch

    from models.kvquant import install_quantized_attention

    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"][: chunk * chunks]
    install_quantized_attention(lm.model, layer_bits, group_size)
    nll, n = 0.0, 0
    try:
        with torch.no_grad():
            for i in range(0, len(ids) - 1, chunk):
                window = torch.tensor([ids[i:i + chunk]])
                if window.shape[1] < 2:
                    break
                logits = lm.model(input_ids=window).logits[0, :-1]
                target = window[0, 1:]
                nll += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                n += len(target)
    finally:
        install_quantized_attention(lm.model, None)
    return float(np.exp(nll / n)), n


def cmd_perplexity(args) -> None:
    from models.kvquant import mixed_bits

    text = Path(args.wikitext).read_text().replace("\r\n", "\n")
    sens = json.loads((args.out / "sensitivity.json").read_text())
    out = {"harness_version": HARNESS_VERSION, "wikitext": str(args.wikitext),
           "wikitext_sha256": file_sha256(args.wikitext), "line_endings": "CRLF -> LF",
           "chunk_tokens": args.chunk, "chunks": args.chunks, "results": []}
    for role, path in (("scout", args.scout), ("cloud", args.cloud)):
        lm = _load(path, role, args.threads)
        for name, bits in (("bf16", None), ("int8", [8] * lm.layers), ("int4", [4] * lm.layers),
                           ("mixed", mixed_bits(sens[role]["sensitivity"]))):
            t0 = time.perf_counter()
            ppl, n = perplexity(lm, text, bits, chunk=args.chunk, chunks=args.chunks)
            out["results"].append({"role": role, "model": path, "precision": name,
                                   "perplexity": ppl, "tokens": n,
                                   "seconds": time.perf_counter() - t0})
            _log(args, f"{role} {name}: perplexity {ppl:.2f} over {n} tokens")
    (args.out / "perplexity.json").write_text(json.dumps(out, indent=1) + "\n")


# ---------------------------------------------------------------------------- main
def provenance(args) -> dict:
    return {"harness_version": HARNESS_VERSION,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "hardware": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}"}


def _log(args, line: str) -> None:
    """A progress line on stderr (runs take hours on a CPU), unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(line, file=sys.stderr, flush=True)


@command
def main(argv: list[str] | None = None) -> int:
    """The sub-commands of the module docstring; bad input -> ``error: ...`` and 2."""
    ap = make_parser("python -m models.measure", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("calibrate", "run", "perplexity"):
        p = sub.add_parser(name)
        p.add_argument("--scout", required=True, help="scout model: GGUF, folder or HF id")
        p.add_argument("--cloud", required=True, help="cloud model: GGUF, folder or HF id")
        p.add_argument("--out", type=Path, default=Path("models/data/measurements/qwen-coder-pair"))
        p.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
        p.add_argument("--threads", type=int, default=None)
        add_common(p, "quiet", help="no progress lines on stderr")
        if name == "run":
            p.add_argument("--limit", type=int, default=200)
        if name == "perplexity":
            p.add_argument("--wikitext", type=Path, default=DEFAULT_WIKITEXT)
            p.add_argument("--chunk", type=int, default=512)
            p.add_argument("--chunks", type=int, default=4)
    s = sub.add_parser("summarize")
    s.add_argument("--out", type=Path, default=Path("models/data/measurements/qwen-coder-pair"))
    s.add_argument("--cache", type=Path, default=Path("models/data/quality_measured.csv"))
    args = ap.parse_args(argv)
    if args.cmd == "calibrate":
        cmd_calibrate(args)
    elif args.cmd == "run":
        cmd_run(args)
    elif args.cmd == "perplexity":
        cmd_perplexity(args)
    else:
        from models.summarize import summarize

        summarize(args.out, args.cache)
    return 0


if __name__ == "__main__":
    run_main(main)
