"""Lossless entropy codec for quantised KV codes (CacheGen-style), and zstd for comparison.

Input: the integer codes of a quantised cache (:func:`models.kvquant.group_codes`), one array
per block = one layer's K or V, shape ``(kv_heads, tokens, head_dim)``, values in
``[0, 2^bits)``. The fp16 scale/zero-point metadata is not coded here; it is shipped raw
(4 B per group, as :mod:`models.payload` counts it).

**entropy** (``encode`` / ``decode``): per block, the symbols are either the codes themselves
(``value``) or, per channel (head, dim), their deltas along tokens (``delta``: the first
token against 0, then ``q[t] - q[t-1]``); the block keeps whichever the model prices lower.
The probability model is one categorical distribution per block (per layer and K/V: the
"layer group" of the channels it holds), the block's own symbol histogram with its counts
scaled to at most 4,095; it is **sent in the stream and counted in its size**: per block one
mode byte, the symbol range (two LEB128 varints) and one varint per count in the range, plus
the coded words' count; a stream header gives the block shapes and bit widths. The symbols
are range-coded with ``constriction`` (``stream.queue.RangeEncoder``, 32-bit words).

**zstd** (:func:`zstd_size`): the packed codes as a real cache stores them (one byte per INT8
code; two INT4 codes per byte, :func:`models.kvquant.quantize_groups`' order), zstd level 3.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

MAX_COUNT = 4095  # scaled histogram counts fit 2 varint bytes
MODES = ("value", "delta")


# --- varints ---------------------------------------------------------------------------------

def _put_varint(out: io.BytesIO, v: int) -> None:
    if v < 0:
        raise ValueError(f"varint of a negative value {v}")
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.write(bytes((byte | 0x80,)))
        else:
            out.write(bytes((byte,)))
            return


def _get_varint(buf: io.BytesIO) -> int:
    v = shift = 0
    while True:
        b = buf.read(1)
        if not b:
            raise ValueError("truncated KV stream")
        v |= (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            return v


def _zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def _unzigzag(v: int) -> int:
    return v // 2 if v % 2 == 0 else -(v + 1) // 2


# --- symbols and model -----------------------------------------------------------------------

def _symbols(codes: np.ndarray, mode: str) -> np.ndarray:
    """Block codes (heads, tokens, dim) -> flat int64 symbols of ``mode``."""
    x = codes.astype(np.int64)
    if mode == "delta":
        x = np.diff(x, axis=1, prepend=0)
    return x.ravel()


def _unsymbols(sym: np.ndarray, shape: tuple[int, int, int], mode: str) -> np.ndarray:
    x = sym.reshape(shape)
    if mode == "delta":
        x = np.cumsum(x, axis=1)
    return x


def _scaled_counts(sym: np.ndarray) -> tuple[int, np.ndarray]:
    """(lowest symbol, histogram over [lo, hi] scaled to <= MAX_COUNT, non-zero kept >= 1)."""
    lo = int(sym.min())
    counts = np.bincount(sym - lo)
    top = int(counts.max())
    if top > MAX_COUNT:
        scaled = np.rint(counts * (MAX_COUNT / top)).astype(np.int64)
        scaled[(counts > 0) & (scaled == 0)] = 1
        counts = scaled
    return lo, counts


def _model_cost_bits(sym: np.ndarray) -> float:
    """Coded size estimate (bits) of ``sym`` under its scaled histogram, model included."""
    lo, counts = _scaled_counts(sym)
    raw = np.bincount(sym - lo)
    p = counts / counts.sum()
    nz = raw > 0
    data = -float((raw[nz] * np.log2(p[nz])).sum())
    model = 8 * sum(1 if c < 128 else 2 for c in counts.tolist()) + 32
    return data + model


def _categorical(counts: np.ndarray):
    import constriction

    return constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)


# --- public API ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One coded block's shape and bit width (for decoding)."""

    heads: int
    tokens: int
    dim: int
    bits: int


def encode(blocks: list[np.ndarray], bits: list[int]) -> bytes:
    """Entropy-code the blocks' integer codes (each ``(heads, tokens, dim)`` in
    ``[0, 2^bits)``); the returned bytes hold everything :func:`decode` needs."""
    import constriction

    if len(blocks) != len(bits):
        raise ValueError(f"{len(blocks)} blocks but {len(bits)} bit widths")
    out = io.BytesIO()
    _put_varint(out, len(blocks))
    for codes, b in zip(blocks, bits, strict=True):
        if codes.ndim != 3:
            raise ValueError(f"a block must be (heads, tokens, dim), got shape {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= 1 << b):
            raise ValueError(f"codes outside [0, 2^{b})")
        for v in (*codes.shape, b):
            _put_varint(out, int(v))
    for codes in blocks:
        if codes.size == 0:
            continue
        cand = {m: _symbols(codes, m) for m in MODES}
        mode = min(MODES, key=lambda m: _model_cost_bits(cand[m]))
        sym = cand[mode]
        lo, counts = _scaled_counts(sym)
        out.write(bytes((MODES.index(mode),)))
        _put_varint(out, _zigzag(lo))
        _put_varint(out, len(counts) - 1)
        for c in counts.tolist():
            _put_varint(out, c)
        if len(counts) == 1:  # one symbol only: the model says it all, no coded words
            words = np.zeros(0, dtype=np.uint32)
        else:
            enc = constriction.stream.queue.RangeEncoder()
            enc.encode((sym - lo).astype(np.int32), _categorical(counts))
            words = enc.get_compressed()
        _put_varint(out, len(words))
        out.write(words.astype("<u4").tobytes())
    return out.getvalue()


def decode(data: bytes) -> list[np.ndarray]:
    """Inverse of :func:`encode`: the blocks' codes (int64), exactly."""
    import constriction

    buf = io.BytesIO(data)
    n = _get_varint(buf)
    shapes = [Block(*(_get_varint(buf) for _ in range(4))) for _ in range(n)]
    blocks = []
    for s in shapes:
        shape = (s.heads, s.tokens, s.dim)
        size = s.heads * s.tokens * s.dim
        if size == 0:
            blocks.append(np.zeros(shape, dtype=np.int64))
            continue
        mode = MODES[buf.read(1)[0]]
        lo = _unzigzag(_get_varint(buf))
        counts = np.array([_get_varint(buf) for _ in range(_get_varint(buf) + 1)])
        words = np.frombuffer(buf.read(4 * _get_varint(buf)), dtype="<u4").astype(np.uint32)
        if len(counts) == 1:
            sym = np.full(size, lo, dtype=np.int64)
        else:
            dec = constriction.stream.queue.RangeDecoder(words)
            sym = dec.decode(_categorical(counts), size).astype(np.int64) + lo
        blocks.append(_unsymbols(sym, shape, mode))
    if buf.read(1):
        raise ValueError("trailing bytes after the KV stream")
    return blocks


def pack(codes: np.ndarray, bits: int) -> bytes:
    """Codes as a cache stores them: INT8 one byte each; INT4 two per byte (even index in the
    low nibble, along the last axis, as :func:`models.kvquant.quantize_groups`)."""
    q = codes.astype(np.uint8)
    if bits == 4:
        q = q[..., 0::2] | (q[..., 1::2] << 4)
    elif bits != 8:
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    return q.tobytes()


def zstd_size(blocks: list[np.ndarray], bits: list[int], level: int = 3) -> tuple[int, bytes]:
    """(bytes, stream) of the packed codes of every block, concatenated, zstd at ``level``."""
    import zstandard

    raw = b"".join(pack(c, b) for c, b in zip(blocks, bits, strict=True))
    comp = zstandard.ZstdCompressor(level=level).compress(raw)
    return len(comp), comp


def zstd_decode(comp: bytes) -> bytes:
    """The packed codes back from a :func:`zstd_size` stream."""
    import zstandard

    return zstandard.ZstdDecompressor().decompress(comp)


def raw_bytes(blocks: list[np.ndarray], bits: list[int]) -> int:
    """Bytes of the packed codes (what the payload model counts as KV data)."""
    return sum(math.ceil(c.size * b / 8) for c, b in zip(blocks, bits, strict=True))
