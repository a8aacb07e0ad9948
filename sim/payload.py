"""CLI: bytes each protocol sends for one request, plus a check of the published payload claims.

    python -m sim.payload --model qwen2.5-7b --tokens 170 [--retention 0.5] [--question-tokens 0]
                          [--cloud-has-context] [--group-size 64] [--encoding raw|zstd|entropy]
                          [--json]

``--encoding zstd|entropy``: the KV rows' bytes are the measured coded sizes
(:mod:`models.kvencoding`, ``models/data/kv_bits_entropy.csv``), with the codec's CPU seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence

from models.arch import get_arch
from models.cli import Parser, add_common, command, run_main
from models.errors import InputError
from models.kvencoding import ENCODINGS, encoded_kv
from models.payload import (
    DEFAULT_GROUP_SIZE,
    INT16_MAX_POSITIONS,
    encode_indices,
    kept_count,
    kv_bytes_per_token,
    kv_payload_bytes,
    payload_table,
    scout_payload_bytes,
)
from sim.limits import MAX_TOKENS

PUBLISHED_KV_BYTES = 9.7e6  # "9.7 MB" BF16 KV of the 7B model for one SQuAD context
PUBLISHED_SCOUT_BYTES = 336  # "336 bytes" Scout payload
PUBLISHED_RATIO_QUOTED = "28,800x"
PUBLISHED_CONTEXT_RANGE = (160, 180)  # around the ~170-token average SQuAD v2 context


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m sim.payload", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="architecture name, e.g. qwen2.5-7b")
    p.add_argument("--tokens", type=int, required=True, help="context tokens")
    p.add_argument("--retention", type=float, default=1.0,
                   help="fraction of context positions kept, in (0, 1] (default 1.0)")
    p.add_argument("--question-tokens", type=int, default=0, help="question tokens (default 0)")
    p.add_argument("--cloud-has-context", action="store_true",
                   help="the cloud already holds the context text (Scout sends no context text)")
    p.add_argument("--group-size", type=int, default=DEFAULT_GROUP_SIZE,
                   help=f"quantisation group size in elements (default {DEFAULT_GROUP_SIZE})")
    p.add_argument("--encoding", choices=ENCODINGS, default="raw",
                   help="KV encoding: raw packed codes (default), zstd or entropy (measured)")
    add_common(p, "json", help="print a JSON object instead of a table")
    return p


def _encoded_row(row, arch, args: argparse.Namespace):
    """A KV row under ``--encoding``: the coded bytes, the raw bytes and codec times in notes."""
    enc = encoded_kv(arch, args.tokens, row.precision, args.retention, args.question_tokens,
                     args.group_size, encoding=args.encoding)
    note = (f"{args.encoding} {enc.total_bytes:,} of raw {enc.raw_total_bytes:,} B "
            f"({enc.total_bytes / enc.raw_total_bytes:.1%}); encode {enc.encode_s * 1e3:.1f} ms, "
            f"decode {enc.decode_s * 1e3:.1f} ms (2-core CPU)")
    if enc.note:
        note += f"; {enc.note}"
    return dataclasses.replace(row, bytes=enc.total_bytes, notes=note)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def published_check(model: str, tokens: int, retention: float, question_tokens: int,
                    cloud_has_context: bool) -> dict[str, object]:
    """Numbers behind the published '9.7 MB / 336 B = 28,869x' claim at these settings."""
    arch = get_arch(model)
    kv_bf16 = kv_payload_bytes(arch, tokens, "bf16")  # full context, no question
    kept = kept_count(tokens, retention)
    enc = encode_indices(tokens, kept=kept)
    scout = scout_payload_bytes(tokens, retention, question_tokens, cloud_has_context)
    sent = retention < 1.0 and kept < tokens
    relevant = (PUBLISHED_CONTEXT_RANGE[0] <= tokens <= PUBLISHED_CONTEXT_RANGE[1]
                or PUBLISHED_SCOUT_BYTES in enc.all_sizes.values())
    return {
        "bf16_bytes_per_token": kv_bytes_per_token(arch, "bf16"),
        "bf16_kv_context_bytes": kv_bf16,
        "kept": kept,
        "n_total": tokens,
        "index_encodings": dict(enc.all_sizes),
        "chosen_encoding": enc.name,
        "indices_sent": sent,
        "ratio_bf16_kv_to_indices": _ratio(kv_bf16, enc.bytes) if sent else None,
        "ratio_bf16_kv_to_scout_total": _ratio(kv_bf16, scout.total_bytes),
        "scout_total_bytes": scout.total_bytes,
        "published_relevant": relevant,
        "published_ratio": PUBLISHED_KV_BYTES / PUBLISHED_SCOUT_BYTES,
        "exact_ratio_to_336": kv_bf16 / PUBLISHED_SCOUT_BYTES,
    }


def _fmt_ratio(x: object) -> str:
    return f"{x:,.0f}x" if isinstance(x, float) else "n/a"


def _render(args: argparse.Namespace, rows: list, check: dict[str, object]) -> str:
    ctx = "cloud holds the context" if args.cloud_has_context else "cloud lacks the context"
    lines = [
        f"Payload per request: {args.model}, {args.tokens} context tokens, retention "
        f"{args.retention:g}, {args.question_tokens} question tokens, {ctx}, "
        f"group size {args.group_size}",
        "",
        f"{'mode':<11} {'precision':<9} {'retention':>9} {'bytes':>12}  {'encoding':<12} notes",
    ]
    for r in rows:
        ret = "-" if r.retention is None else f"{r.retention:.2f}"
        lines.append(f"{r.mode:<11} {r.precision or '-':<9} {ret:>9} {r.bytes:>12,}  "
                     f"{r.encoding:<12} {r.notes}")
    sizes = check["index_encodings"]
    assert isinstance(sizes, dict)
    kv = check["bf16_kv_context_bytes"]
    assert isinstance(kv, int)
    enc_text = ", ".join(f"{k} {v:,} B" for k, v in sizes.items())
    lines += [
        "",
        "Published-claim check",
        f"  BF16 KV of the full context: {args.tokens:,} tok x {check['bf16_bytes_per_token']:,} "
        f"B/tok = {kv:,} B ({kv / 1e6:,.2f} MB)",
        f"  scout index encodings, {check['kept']:,} of {args.tokens:,} positions kept: {enc_text}"
        f" -> {check['chosen_encoding']}",
    ]
    if check["indices_sent"]:
        lines.append(
            f"  BF16 KV / scout indices only: {kv:,} / {sizes[check['chosen_encoding']]:,} B = "
            f"{_fmt_ratio(check['ratio_bf16_kv_to_indices'])}")
    else:
        lines.append("  BF16 KV / scout indices only: n/a (nothing dropped: no indices sent)")
    lines += [
        f"  BF16 KV / whole scout payload ({check['scout_total_bytes']:,} B, text included): "
        f"{_fmt_ratio(check['ratio_bf16_kv_to_scout_total'])}",
    ]
    if check["published_relevant"]:
        lines += [
            f"  published: 9.7 MB / 336 B = {check['published_ratio']:,.0f}x (quoted as "
            f"\"{PUBLISHED_RATIO_QUOTED}\"); exact here: {kv:,} / 336 = "
            f"{check['exact_ratio_to_336']:,.1f}x",
            "  336 B = 84 indices x int32 (4 B; half of ~168 positions) or 168 x int16 (2 B);"
            f" a bitmap of {args.tokens} positions is {(args.tokens + 7) // 8} B, and the"
            " context text the cloud may also need is ~4 B/token",
        ]
    if args.tokens > INT16_MAX_POSITIONS:
        lines.append(f"  (int16 indices need <= {INT16_MAX_POSITIONS:,} positions: not offered)")
    return "\n".join(lines)


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on bad input, with one 'error: ...' line)."""
    args = _parser().parse_args(argv)
    for flag, value, low in (("--tokens", args.tokens, 1),
                             ("--question-tokens", args.question_tokens, 0)):
        if not low <= value <= MAX_TOKENS:
            raise InputError(f"{flag} {value} is outside [{low}, {MAX_TOKENS:,}]")
    arch = get_arch(args.model)
    args.model = arch.name
    rows = payload_table(arch, args.tokens, args.retention, args.question_tokens,
                         args.cloud_has_context, args.group_size)
    if args.encoding != "raw":
        rows = [_encoded_row(r, arch, args) if r.mode == "kv" else r for r in rows]
    check = published_check(arch.name, args.tokens, args.retention, args.question_tokens,
                            args.cloud_has_context)
    if args.json:
        out = {
            "model": args.model,
            "tokens": args.tokens,
            "retention": args.retention,
            "question_tokens": args.question_tokens,
            "cloud_has_context": args.cloud_has_context,
            "group_size": args.group_size,
            "encoding": args.encoding,
            "rows": [r.as_dict() for r in rows],
            "index_encodings": {
                "n_total": check["n_total"],
                "kept": check["kept"],
                "chosen": check["chosen_encoding"],
                "sent": check["indices_sent"],
                "sizes": check["index_encodings"],
            },
            "published_check": check,
        }
        print(json.dumps(out, indent=2))
    else:
        print(_render(args, rows, check))
    return 0


if __name__ == "__main__":
    run_main(main)
