"""Encoded KV payloads: raw | zstd | entropy, from the measured table of encoded sizes.

``raw`` is :func:`models.payload.kv_payload_breakdown` unchanged (the default: results do not
move). ``zstd`` and ``entropy`` replace the kept context's quantised data bytes by
``elements x bits_per_element / 8`` with the bits per element **measured** by
``python -m models.kvsize`` (``models/data/kv_bits_entropy.csv``, codec :mod:`models.kvcodec`),
per precision (INT8 layers at the INT8 figure, INT4 layers at the INT4 figure: ``mixed`` mixes
them), at the request's context length: linear in log(tokens) between the measured lengths,
held at the nearest one outside them (noted ``clamped``). The fp16 metadata, the question's
BF16 KV, BF16 layers and the indices stay raw (not measured encoded). A model without rows in
the table uses the largest measured model (most KV elements per token) as a proxy (noted).
The encode and decode seconds (measured on a 2-core x86 CPU, per element, interpolated the
same way) are returned for the compute path: encode on the edge, decode in the cloud.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.arch import ModelArch
from models.errors import InputError, unknown_name
from models.payload import (
    DEFAULT_GROUP_SIZE,
    MixedPrecision,
    _arch,
    _layer_bits,
    kv_payload_breakdown,
)

ENCODINGS = ("raw", "zstd", "entropy")
DEFAULT_TABLE = Path(__file__).parent / "data" / "kv_bits_entropy.csv"
_PRECISION_OF_BITS = {8: "int8", 4: "int4"}
#: KV elements per token of each measured model (the proxy is the largest)
_ELEMENTS_PER_TOKEN: dict[str, float] = {}


@dataclass(frozen=True)
class Curve:
    """Bits per element and codec seconds per element of one (model, precision, codec) vs
    context tokens (sorted)."""

    tokens: tuple[float, ...]
    bits: tuple[float, ...]
    encode_s_per_element: tuple[float, ...]
    decode_s_per_element: tuple[float, ...]

    def at(self, tokens: int) -> tuple[float, float, float, bool]:
        """(bits, encode s/element, decode s/element, clamped) at ``tokens``."""
        xs = [math.log(t) for t in self.tokens]
        x = math.log(max(tokens, 1))
        clamped = x < xs[0] or x > xs[-1]
        x = min(max(x, xs[0]), xs[-1])
        for i in range(len(xs) - 1):
            if xs[i] <= x <= xs[i + 1]:
                w = 0.0 if xs[i + 1] == xs[i] else (x - xs[i]) / (xs[i + 1] - xs[i])
                return (*(a[i] + w * (a[i + 1] - a[i]) for a in
                          (self.bits, self.encode_s_per_element, self.decode_s_per_element)),
                        clamped)
        return self.bits[0], self.encode_s_per_element[0], self.decode_s_per_element[0], clamped


@lru_cache(maxsize=4)
def load_curves(path: str = str(DEFAULT_TABLE)) -> dict[tuple[str, str, str], Curve]:
    """The table's ``all``-layer rows as curves keyed (model, precision, codec)."""
    p = Path(path)
    if not p.exists():
        raise InputError("encoded-KV table not found (python -m models.kvsize table)", path)
    with open(p, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    pts: dict[tuple[str, str, str], dict[float, tuple[float, float, float]]] = {}
    for r in rows:
        if r["layer_group"] != "all" or r["codec"] == "raw":
            continue
        el = float(r["elements"])
        _ELEMENTS_PER_TOKEN[r["model"]] = el / float(r["context_tokens"])
        pts.setdefault((r["model"], r["precision"], r["codec"]), {})[
            float(r["context_tokens"])] = (float(r["bits_per_element"]),
                                           float(r["encode_s"]) / el, float(r["decode_s"]) / el)
    return {k: Curve(tuple(sorted(v)), *(tuple(v[t][i] for t in sorted(v)) for i in range(3)))
            for k, v in pts.items()}


@dataclass(frozen=True)
class EncodedKV:
    """A KV payload under an encoding: bytes on the wire, codec seconds, a note."""

    encoding: str
    total_bytes: int
    raw_total_bytes: int
    encode_s: float
    decode_s: float
    note: str


def _curve(curves: dict, model: str, precision: str, codec: str) -> tuple[Curve, str]:
    c = curves.get((model, precision, codec))
    if c is not None:
        return c, ""
    measured = sorted({m for m, p, k in curves if p == precision and k == codec})
    if not measured:
        raise InputError(f"no {codec} rows for {precision} in the encoded-KV table")
    proxy = max(measured, key=lambda m: _ELEMENTS_PER_TOKEN.get(m, 0.0))  # the largest
    return curves[(proxy, precision, codec)], f"proxy {proxy}"


def encoded_kv(arch: ModelArch | str, context_tokens: int, precision: str,
               retention: float = 1.0, question_tokens: int = 0,
               group_size: int = DEFAULT_GROUP_SIZE, mixed: MixedPrecision | None = None,
               encoding: str = "raw", table: str | Path = DEFAULT_TABLE) -> EncodedKV:
    """Bytes and codec seconds of a KV payload under ``encoding`` (see the module doc)."""
    if encoding not in ENCODINGS:
        raise unknown_name("KV encoding", encoding, list(ENCODINGS))
    a = _arch(arch)
    raw = kv_payload_breakdown(a, context_tokens, precision, retention, question_tokens,
                               group_size, mixed)
    bits = _layer_bits(a, precision, mixed if precision == "mixed" else None)
    if encoding == "raw" or all(b == 16 for b in bits):
        note = "" if encoding == "raw" else "bf16 sent raw (encoding not measured)"
        return EncodedKV(encoding, raw.total_bytes, raw.total_bytes, 0.0, 0.0, note)
    curves = load_curves(str(table))
    layer_elements = 2 * a.kv_heads * a.head_dim * raw.kept_tokens
    coded_bits = raw_bits = 0.0
    enc_s = dec_s = 0.0
    notes = set()
    for b in bits:
        if b == 16:
            continue
        curve, proxy = _curve(curves, a.name, _PRECISION_OF_BITS[b], encoding)
        bpe, e, d, clamped = curve.at(raw.kept_tokens)
        if proxy:
            notes.add(proxy)
        if clamped:
            notes.add(f"clamped to {curve.tokens[0]:g}-{curve.tokens[-1]:g} tok")
        coded_bits += layer_elements * bpe
        raw_bits += layer_elements * b
        enc_s += layer_elements * e
        dec_s += layer_elements * d
    saved = int(raw_bits // 8) - math.ceil(coded_bits / 8)
    total = raw.total_bytes - saved
    return EncodedKV(encoding, total, raw.total_bytes, enc_s, dec_s, "; ".join(sorted(notes)))
