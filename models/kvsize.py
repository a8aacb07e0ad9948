"""Measured encoded KV sizes: prefill a real model, quantise as the harness does, encode.

``python -m models.kvsize run --model DIR --name NAME --source squad|wikitext [--tokens N]
[--limit N] --out FILE.jsonl [--max-minutes M]`` prefills each item (SQuAD: the harness's
chat prompt of the first question of each of the first ``--limit`` distinct contexts, the
prefix + context positions ``[0, c1)`` that the harness quantises; WikiText-2 test:
consecutive windows of ``--tokens`` tokens),
quantises every layer's K and V at INT8 and INT4 with :func:`models.kvquant.group_codes`
(groups of 64 along head_dim, per token and head), and codes the integer codes layer by layer
with :mod:`models.kvcodec` (entropy and zstd), decoding each stream and checking it returns
the exact codes. One JSON line per item; items already in ``FILE`` are skipped (resumable).

``python -m models.kvsize table --inputs F1 F2 ... --out models/data/kv_bits_entropy.csv``
aggregates them: bits per element (mean over items, t-based 95% CI) per model, source,
context length, precision, layer group (quarters of the layers, and ``all``) and codec
(``raw`` packed codes, ``zstd``, ``entropy``), with the mean encode/decode seconds per item
(whole cache, this CPU, one thread per core) on the ``all`` rows.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np

from models.cli import command, make_parser, run_main
from models.errors import InputError

PRECISIONS = {"int8": 8, "int4": 4}
CODECS = ("raw", "zstd", "entropy")
COLUMNS = ("model", "source", "context_tokens", "n", "precision", "layer_group", "codec",
           "bits_per_element", "ci_low", "ci_high", "encode_s", "decode_s", "timed_n",
           "elements")
#: the CPU whose codec seconds the table keeps (records before ``codec_host`` was recorded
#: were all measured there)
TIMING_HOST = "x86_64 CPU (2 cores)"


def layer_codes(keys, values, bits: int) -> list[np.ndarray]:
    """[K codes, V codes] of one layer, each (heads, tokens, head_dim) int64, from cache
    tensors (1, heads, tokens, head_dim), quantised exactly as :mod:`models.kvquant`."""
    from models.kvquant import group_codes

    out = []
    for x in (keys[0], values[0]):
        q, _, _ = group_codes(x.float().cpu(), bits)  # quantised on the CPU wherever prefilled
        out.append(q.reshape(x.shape).numpy().astype(np.int64))
    return out


def measure_item(cache, upto: int) -> dict:
    """Per precision and layer: raw, zstd and entropy bytes, elements, codec seconds."""
    from models import kvcodec

    rec: dict = {}
    for name, bits in PRECISIONS.items():
        sizes = {c: [] for c in CODECS}
        times = {"zstd_enc": 0.0, "zstd_dec": 0.0, "entropy_enc": 0.0, "entropy_dec": 0.0}
        elements = []
        for layer in cache.layers:
            blocks = layer_codes(layer.keys[:, :, :upto], layer.values[:, :, :upto], bits)
            b = [bits, bits]
            elements.append(sum(x.size for x in blocks))
            sizes["raw"].append(kvcodec.raw_bytes(blocks, b))
            t0 = time.perf_counter()
            nz, comp = kvcodec.zstd_size(blocks, b)
            t1 = time.perf_counter()
            back = kvcodec.zstd_decode(comp)
            t2 = time.perf_counter()
            if back != b"".join(kvcodec.pack(x, bits) for x in blocks):
                raise AssertionError("zstd did not return the packed codes")
            stream = kvcodec.encode(blocks, b)
            t3 = time.perf_counter()
            dec = kvcodec.decode(stream)
            t4 = time.perf_counter()
            if not all(np.array_equal(x, y) for x, y in zip(blocks, dec, strict=True)):
                raise AssertionError("entropy codec did not return the exact codes")
            sizes["zstd"].append(nz)
            sizes["entropy"].append(len(stream))
            times["zstd_enc"] += t1 - t0
            times["zstd_dec"] += t2 - t1
            times["entropy_enc"] += t3 - t2
            times["entropy_dec"] += t4 - t3
        rec[name] = {"elements": elements, **sizes, "seconds": times}
    return rec


def _items(args, lm) -> list[tuple[str, list[int], int]]:
    """(id, token ids, positions to encode) of the run's items."""
    if args.source == "squad":
        from models.squad import load_squad

        out, seen = [], set()
        for q in load_squad(args.squad):  # one item per distinct context, in file order
            if q.context in seen:
                continue
            seen.add(q.context)
            p = lm.build_prompt(q.context, q.question)
            out.append((q.id, p.ids, p.c1))
            if len(out) == args.limit:
                break
        return out
    text = Path(args.wikitext).read_text(encoding="utf-8")
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    n = args.tokens
    return [(f"wikitext-{n}-{i}", ids[i * n:(i + 1) * n], n)
            for i in range(min(args.limit, len(ids) // n))]


def cmd_run(args) -> None:
    import torch

    from models.harness import LM, device_name
    from models.measure import append_line, done_ids

    if args.source == "wikitext" and not args.tokens:
        raise InputError("--source wikitext needs --tokens")
    lm = LM(args.model, args.name, threads=args.threads, device=args.device,
            tokenizer=args.tokenizer)
    lm.model.set_attn_implementation("sdpa")  # no attentions needed: the faster kernel
    device = device_name(args.device)
    codec_host = device_name("cpu")  # the codecs always run on the host's CPU
    done = done_ids(args.out)
    start = time.monotonic()
    for item_id, ids, upto in _items(args, lm):
        if item_id in done:
            continue
        if args.max_minutes and time.monotonic() - start > 60 * args.max_minutes:
            print(f"stopping after {args.max_minutes} min (rerun to continue)")
            break
        with torch.no_grad():
            _, cache, _, secs = lm.prefill(ids, attentions=False)
        cfg = lm.model.config
        rec = {"id": item_id, "model": args.name, "source": args.source, "tokens": upto,
               "layers": lm.layers, "kv_heads": cfg.num_key_value_heads,
               "head_dim": cache.layers[0].keys.shape[-1], "prefill_s": secs,
               "device": device, "codec_host": codec_host,
               **measure_item(cache, upto)}
        append_line(args.out, rec)
        print(f"{item_id}: {upto} tok, int8 entropy "
              f"{8 * sum(rec['int8']['entropy']) / sum(rec['int8']['elements']):.2f} b/el, "
              f"int4 {8 * sum(rec['int4']['entropy']) / sum(rec['int4']['elements']):.2f} b/el",
              flush=True)


def _ci(x: np.ndarray) -> tuple[float, float]:
    from models.summarize import t_interval

    return t_interval(x) if len(x) > 1 else (math.nan, math.nan)


def layer_groups(layers: int) -> list[tuple[str, range]]:
    """``all`` and the four quarters of the layers, named by their layer ranges."""
    out = [("all", range(layers))]
    edges = [round(i * layers / 4) for i in range(5)]
    out += [(f"L{a}-{b - 1}", range(a, b)) for a, b in zip(edges, edges[1:], strict=False)]
    return out


def table_rows(recs: list[dict], timing_host: str = TIMING_HOST) -> list[dict]:
    """Aggregate per-item records into :data:`COLUMNS` rows. Sizes from every record; codec
    seconds only from the records whose codecs ran on ``timing_host`` (``timed_n`` of them),
    so that one CPU sets the compute path's codec time wherever the prefills ran."""
    keyed: dict[tuple, list[dict]] = {}
    seen = set()
    for r in recs:
        # one record per distinct context: questions sharing a paragraph have the same KV
        sig = (r["model"], r["source"], r["tokens"], tuple(r["int8"]["entropy"]))
        if sig in seen:
            continue
        seen.add(sig)
        length = r["tokens"] if r["source"] == "wikitext" else "squad"
        keyed.setdefault((r["model"], r["source"], length), []).append(r)
    rows = []
    for (model, source, _length), group in sorted(keyed.items(), key=lambda kv: str(kv[0])):
        ctx = int(np.median([r["tokens"] for r in group]))
        for prec in PRECISIONS:
            for gname, layers in layer_groups(group[0]["layers"]):
                for codec in CODECS:
                    x = np.array([8 * sum(r[prec][codec][i] for i in layers)
                                  / sum(r[prec]["elements"][i] for i in layers) for r in group])
                    lo, hi = _ci(x)
                    enc = dec = n_timed = ""
                    if gname == "all" and codec != "raw":
                        timed = [r for r in group if r.get("codec_host", TIMING_HOST)
                                 == timing_host]
                        if not timed:
                            raise InputError(f"no record of {model} {source} {ctx} tokens "
                                             f"had its codecs timed on {timing_host!r}",
                                             "--timing-host")
                        enc = float(np.mean([r[prec]["seconds"][f"{codec}_enc"]
                                             for r in timed]))
                        dec = float(np.mean([r[prec]["seconds"][f"{codec}_dec"]
                                             for r in timed]))
                        n_timed = len(timed)
                    if gname == "all" and codec == "raw":
                        enc = dec = 0.0
                        n_timed = len(group)
                    rows.append({"model": model, "source": source, "context_tokens": ctx,
                                 "n": len(group), "precision": prec, "layer_group": gname,
                                 "codec": codec, "bits_per_element": float(x.mean()),
                                 "ci_low": lo, "ci_high": hi, "encode_s": enc,
                                 "decode_s": dec, "timed_n": n_timed,
                                 "elements": int(np.mean([sum(r[prec]["elements"][i]
                                                              for i in layers)
                                                          for r in group]))})
    return rows


def markdown(rows: list[dict]) -> str:
    """The README's two tables from :func:`table_rows`' rows: per (model, source, length,
    precision) the zstd and entropy bits per element with CIs, entropy / raw, and the codec
    seconds; then the entropy bits per layer group on the SQuAD contexts."""
    def ci(r: dict) -> str:
        b = float(r["bits_per_element"])
        if r["ci_low"] == "" or math.isnan(float(r["ci_low"])):
            return f"{b:.2f}"
        return f"{b:.2f} [{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}]"

    at = {(r["model"], r["source"], int(r["context_tokens"]), r["precision"], r["layer_group"],
           r["codec"]): r for r in rows}
    keys = sorted({k[:4] for k in at})
    out = ["| model | source | context tokens (median) | n | precision | zstd bits/el [95% CI] "
           "| entropy bits/el [95% CI] | entropy / raw | encode / decode s (entropy) | zstd "
           "encode / decode s | timed on the 2-core CPU (n) |", "|---" * 11 + "|"]
    for model, source, tokens, prec in keys:
        z, e = at[model, source, tokens, prec, "all", "zstd"], at[model, source, tokens, prec,
                                                                 "all", "entropy"]
        raw = float(at[model, source, tokens, prec, "all", "raw"]["bits_per_element"])
        out.append(f"| {model} | {source} | {tokens} | {e['n']} | {prec} | {ci(z)} | {ci(e)} | "
                   f"{float(e['bits_per_element']) / raw:.1%} | {float(e['encode_s']):.3f} / "
                   f"{float(e['decode_s']):.3f} | {float(z['encode_s']):.3f} / "
                   f"{float(z['decode_s']):.3f} | {e['timed_n']} |")
    out += ["", "| model | precision | entropy bits/el by layer group [95% CI] |", "|---|---|---|"]
    for model, source, tokens, prec in keys:
        if source != "squad":
            continue
        groups = [r for k, r in at.items() if k[:4] == (model, source, tokens, prec)
                  and k[4] != "all" and k[5] == "entropy"]
        out.append(f"| {model} | {prec} | "
                   + "; ".join(f"{r['layer_group']} {ci(r)}" for r in groups) + " |")
    return "\n".join(out)


def cmd_table(args) -> None:
    recs = []
    for path in args.inputs:
        for line in Path(path).read_text().splitlines():
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line
    if not recs:
        raise InputError("no kvsize records", ", ".join(map(str, args.inputs)))
    rows = table_rows(recs, args.timing_host)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        f.write("# python -m models.kvsize table; bits per element of the quantised KV codes "
                "(metadata excluded), mean over items with t-based 95% CI; encode_s/decode_s: "
                f"mean seconds per item for the whole cache, codecs run on {args.timing_host} "
                "(timed_n items; prefills on CPU or GPU, see the records)\n")
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    print(f"{len(recs)} items -> {args.out} ({len(rows)} rows)")
    if args.markdown:
        print(markdown(rows))


@command
def main(argv: list[str] | None = None) -> int:
    """``run`` / ``table``; bad input -> ``error: ...`` and 2."""
    from models.measure import DEFAULT_SQUAD, DEFAULT_WIKITEXT

    ap = make_parser("python -m models.kvsize", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="measure encoded KV sizes, one JSON line per item")
    r.add_argument("--model", required=True, help="model folder, GGUF or HF id")
    r.add_argument("--name", required=True, help="model name in the records")
    r.add_argument("--source", choices=("squad", "wikitext"), required=True)
    r.add_argument("--tokens", type=int, default=0, help="wikitext window, tokens")
    r.add_argument("--limit", type=int, default=200, help="items (questions or windows)")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    r.add_argument("--wikitext", type=Path, default=DEFAULT_WIKITEXT)
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--tokenizer", help="a saved copy of the model's tokenizer (a GGUF's is "
                   "converted on every load)")
    r.add_argument("--device", default="cpu", help="where to prefill: cpu, cuda, ... (fp32 "
                   "on any; quantisation and the codecs run on the host's CPU)")
    r.add_argument("--max-minutes", type=float, default=None)
    t = sub.add_parser("table", help="aggregate records into the CSV table")
    t.add_argument("--inputs", type=Path, nargs="+", required=True)
    t.add_argument("--out", type=Path, default=Path("models/data/kv_bits_entropy.csv"))
    t.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    t.add_argument("--timing-host", default=TIMING_HOST,
                   help="keep codec seconds only from records whose codecs ran here")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        cmd_run(args)
    else:
        cmd_table(args)
    return 0


if __name__ == "__main__":
    run_main(main)
