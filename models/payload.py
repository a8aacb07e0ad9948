"""Payload model: exact bytes each edge->cloud protocol puts on the wire for one request.

Everything here is a count of bytes (``*_bytes``) or of tokens/positions; no time, no network.

Precisions of a shipped KV-cache (K and V of every layer, every KV head, ``head_dim`` elements):

* ``bf16``  2 bytes/element, no metadata.
* ``int8``  1 byte/element.
* ``int4``  4 bits/element, two elements per byte, packed per group (a group never shares a
  byte with the next group, so a group of ``g`` elements takes ``ceil(g / 2)`` bytes).
* ``mixed`` per-layer mix (KVTuner-style): INT4 everywhere except a set of "sensitive" layers
  kept at INT8; see :class:`MixedPrecision` for the default layer set.

Quantisation metadata (``int8``, ``int4`` and the quantised layers of ``mixed``): asymmetric
quantisation in groups of ``group_size`` consecutive elements along ``head_dim``, separately
per token, per layer, per KV head, and for K and for V. Each group stores one fp16 scale and
one fp16 zero-point = 4 bytes. Default ``group_size`` = 64 (``models.units.KV_GROUP_SIZE``);
it must divide ``head_dim`` (:class:`InputError` otherwise). BF16 carries no metadata.

Retention < 1 (only the kept context positions are shipped): the payload also carries the kept
positions' indices (the cloud needs them for the RoPE positions / the attention mask). The
indices are encoded with the smallest of four encodings (:func:`encode_indices`):

* ``int16``  2 bytes per kept index (only when the context has <= 65,536 positions),
* ``int32``  4 bytes per kept index,
* ``bitmap`` one bit per context position, ``ceil(n / 8)`` bytes (bit ``p % 8`` of byte
  ``p // 8``, least significant bit first),
* ``delta-varint`` unsigned LEB128 varint of the first index, then of each gap to the next
  index. Exact when the actual index set is given; when only counts are known the kept
  positions are assumed evenly spread, ``i * n // k`` for ``i`` in ``0..k-1``.

Ties are broken in the order bitmap, int16, delta-varint, int32. Question tokens are always
shipped in full (they are not subject to retention) and need no indices: they follow the context.

**The question's KV is shipped at full precision (BF16, no metadata) whatever the context's
precision**: only the context KV is quantised or pruned. This is what the measured quality
rows measure (``models.harness``: the prefix + context cache is quantised or cut, and the
question is then run against it at full precision), so bytes and quality describe the same
operating point.

Text (Scout and cloud-text modes): ``ceil(tokens * text_bytes_per_token)`` bytes, default
4 bytes/token (the published rule of thumb); callers with the real text pass its UTF-8 length.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from models.arch import ModelArch, get_arch
from models.errors import InputError, unknown_name
from models.units import KV_GROUP_SIZE

PRECISIONS: tuple[str, ...] = ("bf16", "int8", "int4", "mixed")
BITS: dict[str, int] = {"bf16": 16, "int8": 8, "int4": 4}
METADATA_BYTES_PER_GROUP = 4  # fp16 scale + fp16 zero-point
DEFAULT_GROUP_SIZE = KV_GROUP_SIZE  # alias of models.units.KV_GROUP_SIZE (64)
TEXT_BYTES_PER_TOKEN = 4.0  # published rule of thumb for English text
INDEX_ENCODINGS: tuple[str, ...] = ("bitmap", "int16", "delta-varint", "int32")  # tie order
INT16_MAX_POSITIONS = 65536  # indices 0..65535 fit an unsigned 16-bit integer
_ALLOWED_LAYER_BITS = (4, 8, 16)  # 16 = BF16 (no metadata)


# ---------------------------------------------------------------------------------------------
# Small validators
# ---------------------------------------------------------------------------------------------


def _count(name: str, value: object) -> int:
    """A non-negative integer count, or InputError."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name} must be an integer, got {value!r}") from None
    if n < 0:
        raise InputError(f"{name} must be >= 0, got {n}")
    return n


def _check_retention(retention: float) -> float:
    """Retention as a float in (0, 1], or InputError."""
    try:
        r = float(retention)
    except (TypeError, ValueError):
        raise InputError(f"retention must be a number in (0, 1], got {retention!r}") from None
    if not (0.0 < r <= 1.0):  # also rejects NaN
        raise InputError(f"retention must be in (0, 1], got {retention!r}")
    return r


def _check_group_size(arch: ModelArch, group_size: int) -> int:
    """Group size (elements) that divides head_dim, or InputError."""
    g = _count("group_size", group_size)
    if g == 0 or arch.head_dim % g != 0:
        raise InputError(
            f"group_size must be a positive divisor of head_dim={arch.head_dim} "
            f"for {arch.name}, got {group_size}"
        )
    return g


def _arch(arch: ModelArch | str) -> ModelArch:
    return arch if isinstance(arch, ModelArch) else get_arch(arch)


def _round_half_up(x: float) -> int:
    """Round half up, after removing float noise below 1e-9."""
    return math.floor(round(x, 9) + 0.5)


def _ceil(x: float) -> int:
    """Ceiling, after removing float noise below 1e-9."""
    return math.ceil(round(x, 9))


def kept_count(tokens: int, retention: float) -> int:
    """Number of kept positions: round-half-up of tokens x retention, >= 1 when tokens > 0.

    ``retention`` must be in (0, 1] (InputError otherwise).
    """
    n = _count("tokens", tokens)
    r = _check_retention(retention)
    if n == 0:
        return 0
    return min(n, max(1, _round_half_up(n * r)))


# ---------------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixedPrecision:
    """Per-layer KV precision: ``low_bits`` everywhere except ``high_bits`` on sensitive layers.

    The layer set, in order of priority:

    1. ``bits_per_layer``: explicit bits for every layer (length = number of layers);
    2. ``high_layers``: explicit indices of the high-precision layers (e.g. measured
       sensitivities from the measurement harness);
    3. default: ``n_high = round_half_up(high_fraction x layers)`` layers at ``high_bits``:
       the first ``ceil(n_high / 2)`` and the last ``floor(n_high / 2)`` layers
       (Qwen2.5-7B, 28 layers, 0.25: 7 layers = 0-3 and 25-27 at INT8, 21 at INT4).

    Allowed bits: 4, 8 (quantised, with group metadata) and 16 (BF16, no metadata).
    """

    high_bits: int = 8
    low_bits: int = 4
    high_fraction: float = 0.25
    high_layers: tuple[int, ...] | None = None
    bits_per_layer: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("high_bits", "low_bits"):
            if getattr(self, name) not in _ALLOWED_LAYER_BITS:
                raise InputError(
                    f"{name} must be one of {_ALLOWED_LAYER_BITS}, got {getattr(self, name)!r}"
                )
        if not (0.0 <= float(self.high_fraction) <= 1.0):
            raise InputError(f"high_fraction must be in [0, 1], got {self.high_fraction!r}")
        if self.high_layers is not None and self.bits_per_layer is not None:
            raise InputError("give either high_layers or bits_per_layer, not both")
        if self.high_layers is not None:
            object.__setattr__(self, "high_layers", tuple(self.high_layers))
        if self.bits_per_layer is not None:
            bits = tuple(self.bits_per_layer)
            bad = [b for b in bits if b not in _ALLOWED_LAYER_BITS]
            if bad:
                raise InputError(
                    f"bits_per_layer values must be in {_ALLOWED_LAYER_BITS}, got {bad[0]!r}"
                )
            object.__setattr__(self, "bits_per_layer", bits)

    def layer_bits(self, layers: int) -> list[int]:
        """Bits per element of each of ``layers`` layers."""
        n_layers = _count("layers", layers)
        if self.bits_per_layer is not None:
            if len(self.bits_per_layer) != n_layers:
                raise InputError(
                    f"bits_per_layer has {len(self.bits_per_layer)} entries, "
                    f"the model has {n_layers} layers"
                )
            return list(self.bits_per_layer)
        high = set(self.high_layer_indices(n_layers))
        return [self.high_bits if i in high else self.low_bits for i in range(n_layers)]

    def high_layer_indices(self, layers: int) -> list[int]:
        """Sorted indices of the layers at ``high_bits`` (see the class docstring)."""
        n_layers = _count("layers", layers)
        if self.bits_per_layer is not None:
            return [i for i, b in enumerate(self.layer_bits(n_layers)) if b == self.high_bits]
        if self.high_layers is not None:
            out = sorted(set(self.high_layers))
            for i in out:
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_layers:
                    raise InputError(f"high layer index {i!r} is not in 0..{n_layers - 1}")
            return out
        n_high = min(n_layers, _round_half_up(self.high_fraction * n_layers))
        first = math.ceil(n_high / 2)
        last = n_high - first
        return list(range(first)) + list(range(n_layers - last, n_layers))

    def describe(self, layers: int) -> str:
        """One-line summary, e.g. ``8-bit layers 0-3,25-27 (7/28); 4-bit layers 4-24 (21/28)``."""
        by_bits: dict[int, list[int]] = {}
        for i, b in enumerate(self.layer_bits(layers)):
            by_bits.setdefault(b, []).append(i)
        return "; ".join(
            f"{b}-bit layers {_ranges(idx)} ({len(idx)}/{layers})"
            for b, idx in sorted(by_bits.items(), reverse=True)
        )


def _ranges(indices: list[int]) -> str:
    """Compact ``0-3,25-27`` form of sorted indices."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# ---------------------------------------------------------------------------------------------
# KV bytes per token
# ---------------------------------------------------------------------------------------------


def _layer_bits(arch: ModelArch, precision: str, mixed: MixedPrecision | None) -> list[int]:
    p = precision.strip().lower() if isinstance(precision, str) else precision
    if p not in PRECISIONS:
        raise unknown_name("precision", str(precision), list(PRECISIONS))
    if mixed is not None and p != "mixed":
        raise InputError(f"a MixedPrecision was given with precision {precision!r}; use 'mixed'")
    if p == "mixed":
        return (mixed or MixedPrecision()).layer_bits(arch.layers)
    return [BITS[p]] * arch.layers


def _per_token_bytes(
    arch: ModelArch, precision: str, group_size: int, mixed: MixedPrecision | None
) -> tuple[int, int]:
    """(data bytes, metadata bytes) of one token's K and V across all layers."""
    bits = _layer_bits(arch, precision, mixed)
    layer_elements = 2 * arch.kv_heads * arch.head_dim  # K and V, one token, one layer
    if all(b == 16 for b in bits):
        return 2 * layer_elements * len(bits), 0
    g = _check_group_size(arch, group_size)
    groups = layer_elements // g
    data = 0
    meta = 0
    for b in bits:
        if b == 16:
            data += 2 * layer_elements
        else:
            data += groups * ((g * b + 7) // 8)  # packed per group
            meta += groups * METADATA_BYTES_PER_GROUP
    return data, meta


def kv_bytes_per_token(
    arch: ModelArch | str,
    precision: str = "bf16",
    group_size: int = DEFAULT_GROUP_SIZE,
    mixed: MixedPrecision | None = None,
) -> int:
    """KV-cache bytes of one token (data + quantisation metadata), all layers, K and V."""
    data, meta = _per_token_bytes(_arch(arch), precision, group_size, mixed)
    return data + meta


# ---------------------------------------------------------------------------------------------
# Index encodings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexEncoding:
    """The chosen encoding of a kept-position set: ``name``, its size ``bytes``, all sizes.

    ``all_sizes`` maps each applicable encoding name to its size in bytes (``int16`` is
    absent when the context has more than 65,536 positions).
    """

    name: str
    bytes: int
    all_sizes: dict[str, int]


def _check_positions(positions: Sequence[int] | np.ndarray, n_total: int | None) -> np.ndarray:
    """Sorted unique positions as int64, or InputError (duplicates, negatives, >= n_total)."""
    arr = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError("kept positions must be a flat sequence of integers")
    arr = np.sort(arr.astype(np.int64))
    if arr[0] < 0:
        raise InputError(f"kept position {int(arr[0])} is negative")
    if n_total is not None and arr[-1] >= n_total:
        raise InputError(f"kept position {int(arr[-1])} is not below n_total={n_total}")
    if np.any(np.diff(arr) == 0):
        raise InputError("kept positions contain duplicates")
    return arr


def evenly_spread_positions(n_total: int, kept: int) -> np.ndarray:
    """``kept`` positions spread evenly over ``n_total``: ``i * n_total // kept``."""
    n = _count("n_total", n_total)
    k = _count("kept", kept)
    if k > n:
        raise InputError(f"kept={k} exceeds n_total={n}")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    return (np.arange(k, dtype=np.int64) * n) // k


def _varint_lengths(values: np.ndarray) -> np.ndarray:
    """LEB128 length in bytes of each non-negative value (1 byte per 7 bits, at least 1)."""
    v = values.astype(np.uint64)
    lengths = np.ones(v.shape, dtype=np.int64)
    for j in range(1, 10):
        lengths += v >= np.uint64(1 << (7 * j))
    return lengths


def delta_varint_size(positions: Sequence[int] | np.ndarray) -> int:
    """Bytes of :func:`delta_varint_encode` of ``positions`` (without encoding them)."""
    arr = _check_positions(positions, None)
    if arr.size == 0:
        return 0
    deltas = np.concatenate([arr[:1], np.diff(arr)])
    return int(_varint_lengths(deltas).sum())


def encode_indices(
    n_total: int,
    kept_positions: Sequence[int] | np.ndarray | None = None,
    kept: int | None = None,
) -> IndexEncoding:
    """Smallest encoding of a kept-position set over ``n_total`` context positions.

    Give the actual ``kept_positions`` (exact delta-varint size) or only the count ``kept``
    (delta-varint sized for evenly spread positions ``i * n_total // kept``). Ties are broken
    in the order bitmap, int16, delta-varint, int32.
    """
    n = _count("n_total", n_total)
    if kept_positions is None and kept is None:
        raise InputError("encode_indices needs kept_positions or kept")
    if kept_positions is not None:
        arr = _check_positions(kept_positions, n)
        if kept is not None and _count("kept", kept) != arr.size:
            raise InputError(f"kept={kept} but {arr.size} kept positions were given")
    else:
        arr = evenly_spread_positions(n, kept)  # type: ignore[arg-type]
    k = int(arr.size)
    sizes: dict[str, int] = {"bitmap": (n + 7) // 8}
    if n <= INT16_MAX_POSITIONS:
        sizes["int16"] = 2 * k
    sizes["delta-varint"] = delta_varint_size(arr)
    sizes["int32"] = 4 * k
    best = min(sizes, key=lambda name: (sizes[name], INDEX_ENCODINGS.index(name)))
    return IndexEncoding(best, sizes[best], sizes)


def delta_varint_encode(positions: Sequence[int] | np.ndarray) -> bytes:
    """Unsigned LEB128 of the first position, then of each gap (positions sorted first)."""
    arr = _check_positions(positions, None)
    out = bytearray()
    prev = 0
    for p in arr.tolist():
        v = p - prev
        prev = p
        while True:
            byte = v & 0x7F
            v >>= 7
            if v:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return bytes(out)


def delta_varint_decode(data: bytes) -> list[int]:
    """Inverse of :func:`delta_varint_encode`; InputError on a truncated varint."""
    positions: list[int] = []
    value = shift = 0
    prev = 0
    in_varint = False
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        in_varint = True
        if not byte & 0x80:
            prev += value
            positions.append(prev)
            value = shift = 0
            in_varint = False
    if in_varint:
        raise InputError("truncated delta-varint data")
    return positions


def bitmap_encode(n_total: int, positions: Sequence[int] | np.ndarray) -> bytes:
    """``ceil(n_total / 8)`` bytes; position p sets bit ``p % 8`` of byte ``p // 8`` (LSB first)."""
    n = _count("n_total", n_total)
    arr = _check_positions(positions, n)
    bits = np.zeros(n, dtype=np.uint8)
    bits[arr] = 1
    return np.packbits(bits, bitorder="little").tobytes()


def bitmap_decode(data: bytes, n_total: int) -> list[int]:
    """Inverse of :func:`bitmap_encode`; InputError on a wrong length or bits past n_total."""
    n = _count("n_total", n_total)
    if len(data) != (n + 7) // 8:
        raise InputError(f"bitmap of {n} positions needs {(n + 7) // 8} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if bits[n:].any():
        raise InputError(f"bitmap has bits set past position {n - 1}")
    return np.flatnonzero(bits[:n]).tolist()


def index_list_encode(positions: Sequence[int] | np.ndarray, width_bytes: int) -> bytes:
    """Sorted positions as little-endian unsigned integers of 2 (int16) or 4 (int32) bytes."""
    if width_bytes not in (2, 4):
        raise InputError(f"width_bytes must be 2 or 4, got {width_bytes!r}")
    arr = _check_positions(positions, None)
    if arr.size and arr[-1] >= 1 << (8 * width_bytes):
        raise InputError(f"position {int(arr[-1])} does not fit {width_bytes} bytes")
    return arr.astype("<u2" if width_bytes == 2 else "<u4").tobytes()


def index_list_decode(data: bytes, width_bytes: int) -> list[int]:
    """Inverse of :func:`index_list_encode`."""
    if width_bytes not in (2, 4) or len(data) % width_bytes:
        raise InputError(f"{len(data)} bytes is not a list of {width_bytes}-byte indices")
    return np.frombuffer(data, dtype="<u2" if width_bytes == 2 else "<u4").astype(int).tolist()


def encode_positions(name: str, n_total: int, positions: Sequence[int] | np.ndarray) -> bytes:
    """Encode kept positions with the named encoding (one of :data:`INDEX_ENCODINGS`)."""
    n = _count("n_total", n_total)
    arr = _check_positions(positions, n)
    if name == "bitmap":
        return bitmap_encode(n, arr)
    if name == "delta-varint":
        return delta_varint_encode(arr)
    if name == "int16":
        if n > INT16_MAX_POSITIONS:
            raise InputError(f"int16 indices need n_total <= {INT16_MAX_POSITIONS}, got {n}")
        return index_list_encode(arr, 2)
    if name == "int32":
        return index_list_encode(arr, 4)
    raise unknown_name("index encoding", name, list(INDEX_ENCODINGS))


def decode_positions(name: str, data: bytes, n_total: int) -> list[int]:
    """Inverse of :func:`encode_positions`."""
    if name == "bitmap":
        return bitmap_decode(data, n_total)
    if name == "delta-varint":
        return delta_varint_decode(data)
    if name == "int16":
        return index_list_decode(data, 2)
    if name == "int32":
        return index_list_decode(data, 4)
    raise unknown_name("index encoding", name, list(INDEX_ENCODINGS))


# ---------------------------------------------------------------------------------------------
# KV payload
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KVPayload:
    """Bytes of a shipped KV-cache: data + quantisation metadata + kept-position indices."""

    model: str
    precision: str
    context_tokens: int
    kept_tokens: int  # kept context positions
    question_tokens: int
    kv_data_bytes: int
    metadata_bytes: int
    index_bytes: int
    index_encoding: str  # "none" when retention = 1
    total_bytes: int


def _kept(
    context_tokens: int,
    retention: float,
    kept_positions: Sequence[int] | np.ndarray | None,
) -> tuple[int, IndexEncoding | None]:
    """(kept count, index encoding or None when nothing is dropped)."""
    n = _count("context_tokens", context_tokens)
    r = _check_retention(retention)
    if kept_positions is not None:
        arr = _check_positions(kept_positions, n)
        if arr.size == n:
            return n, None
        return int(arr.size), encode_indices(n, kept_positions=arr)
    k = kept_count(n, r)
    if r >= 1.0 or k == n:
        return k, None
    return k, encode_indices(n, kept=k)


def kv_payload_breakdown(
    arch: ModelArch | str,
    context_tokens: int,
    precision: str,
    retention: float = 1.0,
    question_tokens: int = 0,
    group_size: int = DEFAULT_GROUP_SIZE,
    mixed: MixedPrecision | None = None,
    kept_positions: Sequence[int] | np.ndarray | None = None,
) -> KVPayload:
    """KV of the kept context tokens at ``precision`` (with metadata and indices) plus all
    question tokens at full precision (BF16, no metadata: see the module docstring).

    ``kept_positions`` (optional, the actual kept context positions) overrides the kept count
    from ``retention`` and makes the delta-varint size exact.
    """
    a = _arch(arch)
    q = _count("question_tokens", question_tokens)
    kept, enc = _kept(context_tokens, retention, kept_positions)
    data_pt, meta_pt = _per_token_bytes(a, precision, group_size, mixed)
    question_pt, _ = _per_token_bytes(a, "bf16", group_size, None)
    data = kept * data_pt + q * question_pt
    index_bytes = enc.bytes if enc else 0
    return KVPayload(
        model=a.name,
        precision=precision.strip().lower(),
        context_tokens=int(context_tokens),
        kept_tokens=kept,
        question_tokens=q,
        kv_data_bytes=data,
        metadata_bytes=kept * meta_pt,
        index_bytes=index_bytes,
        index_encoding=enc.name if enc else "none",
        total_bytes=data + kept * meta_pt + index_bytes,
    )


def kv_payload_bytes(
    arch: ModelArch | str,
    context_tokens: int,
    precision: str,
    retention: float = 1.0,
    question_tokens: int = 0,
    group_size: int = DEFAULT_GROUP_SIZE,
    mixed: MixedPrecision | None = None,
) -> int:
    """Exact bytes of a shipped KV-cache (see :func:`kv_payload_breakdown`)."""
    return kv_payload_breakdown(
        arch, context_tokens, precision, retention, question_tokens, group_size, mixed
    ).total_bytes


# ---------------------------------------------------------------------------------------------
# Text, Scout, cloud-text, edge-local
# ---------------------------------------------------------------------------------------------


def text_bytes(tokens: int, text_bytes_per_token: float = TEXT_BYTES_PER_TOKEN) -> int:
    """Bytes of text of ``tokens`` tokens: ``ceil(tokens x text_bytes_per_token)``."""
    n = _count("tokens", tokens)
    rate = float(text_bytes_per_token)
    if not (rate >= 0.0) or math.isinf(rate):
        raise InputError(f"text_bytes_per_token must be >= 0, got {text_bytes_per_token!r}")
    return _ceil(n * rate)


@dataclass(frozen=True)
class ScoutPayload:
    """Bytes of a Scout request: kept-position indices + question text + context text."""

    context_tokens: int
    kept_tokens: int
    question_tokens: int
    index_bytes: int
    index_encoding: str  # "none" when retention = 1
    question_text_bytes: int
    context_text_bytes: int  # 0 when the cloud already holds the context
    total_bytes: int


def scout_payload_bytes(
    context_tokens: int,
    retention: float,
    question_tokens: int = 0,
    cloud_has_context: bool = False,
    text_bytes_per_token: float = TEXT_BYTES_PER_TOKEN,
    context_text_bytes: int | None = None,
    question_text_bytes: int | None = None,
    kept_positions: Sequence[int] | np.ndarray | None = None,
) -> ScoutPayload:
    """Scout payload: indices over the context positions + question text (always) + context
    text (unless ``cloud_has_context``). ``*_text_bytes`` override the per-token estimate with
    the real UTF-8 length; ``kept_positions`` gives the actual kept set (exact delta-varint).
    """
    n = _count("context_tokens", context_tokens)
    q = _count("question_tokens", question_tokens)
    kept, enc = _kept(n, retention, kept_positions)
    q_text = (
        _count("question_text_bytes", question_text_bytes)
        if question_text_bytes is not None
        else text_bytes(q, text_bytes_per_token)
    )
    if cloud_has_context:
        c_text = 0
    elif context_text_bytes is not None:
        c_text = _count("context_text_bytes", context_text_bytes)
    else:
        c_text = text_bytes(n, text_bytes_per_token)
    index_bytes = enc.bytes if enc else 0
    return ScoutPayload(
        context_tokens=n,
        kept_tokens=kept,
        question_tokens=q,
        index_bytes=index_bytes,
        index_encoding=enc.name if enc else "none",
        question_text_bytes=q_text,
        context_text_bytes=c_text,
        total_bytes=index_bytes + q_text + c_text,
    )


def cloud_text_payload_bytes(
    context_tokens: int,
    question_tokens: int = 0,
    cloud_has_context: bool = False,
    text_bytes_per_token: float = TEXT_BYTES_PER_TOKEN,
    context_text_bytes: int | None = None,
    question_text_bytes: int | None = None,
) -> int:
    """Cloud-text payload: text of the context (unless the cloud holds it) + the question."""
    n = _count("context_tokens", context_tokens)
    q = _count("question_tokens", question_tokens)
    q_text = (
        _count("question_text_bytes", question_text_bytes)
        if question_text_bytes is not None
        else text_bytes(q, text_bytes_per_token)
    )
    if cloud_has_context:
        return q_text
    if context_text_bytes is not None:
        return _count("context_text_bytes", context_text_bytes) + q_text
    return text_bytes(n, text_bytes_per_token) + q_text


def edge_local_payload_bytes() -> int:
    """Edge-local mode: nothing leaves the device, 0 bytes."""
    return 0


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayloadRow:
    """One row of :func:`payload_table`: a mode's payload ``bytes`` for one request."""

    mode: str  # kv | scout | cloud-text | edge-local
    precision: str | None  # bf16 | int8 | int4 | mixed for kv, else None
    retention: float | None  # None where retention does not apply
    bytes: int
    encoding: str  # index encoding, "none", "utf-8 text" or "-"
    notes: str

    def as_dict(self) -> dict[str, object]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def payload_table(
    arch: ModelArch | str,
    context_tokens: int,
    retention: float,
    question_tokens: int = 0,
    cloud_has_context: bool = False,
    group_size: int = DEFAULT_GROUP_SIZE,
    mixed: MixedPrecision | None = None,
    text_bytes_per_token: float = TEXT_BYTES_PER_TOKEN,
    context_text_bytes: int | None = None,
    question_text_bytes: int | None = None,
) -> list[PayloadRow]:
    """Bytes per mode: KV at bf16/int8/int4/mixed, Scout, cloud-text, edge-local."""
    a = _arch(arch)
    r = _check_retention(retention)
    rows: list[PayloadRow] = []
    for p in PRECISIONS:
        kv = kv_payload_breakdown(
            a, context_tokens, p, r, question_tokens, group_size,
            mixed if p == "mixed" else None,
        )
        notes = f"{kv.kept_tokens}+{kv.question_tokens} tok KV {kv.kv_data_bytes:,}"
        if kv.question_tokens and p != "bf16":
            notes += " (question at bf16)"
        if kv.metadata_bytes:
            notes += f" + meta {kv.metadata_bytes:,} (g={group_size})"
        if kv.index_bytes:
            notes += f" + idx {kv.index_bytes:,}"
        if p == "mixed":
            notes += f"; {(mixed or MixedPrecision()).describe(a.layers)}"
        rows.append(PayloadRow("kv", p, r, kv.total_bytes, kv.index_encoding, notes))
    sc = scout_payload_bytes(
        context_tokens, r, question_tokens, cloud_has_context, text_bytes_per_token,
        context_text_bytes, question_text_bytes,
    )
    ctx_note = "cloud holds context" if cloud_has_context else f"ctx text {sc.context_text_bytes:,}"
    rows.append(PayloadRow(
        "scout", None, r, sc.total_bytes, sc.index_encoding,
        f"idx {sc.index_bytes:,} ({sc.kept_tokens}/{sc.context_tokens} kept) + "
        f"q text {sc.question_text_bytes:,} + {ctx_note}",
    ))
    ct = cloud_text_payload_bytes(
        context_tokens, question_tokens, cloud_has_context, text_bytes_per_token,
        context_text_bytes, question_text_bytes,
    )
    rows.append(PayloadRow(
        "cloud-text", None, None, ct, "utf-8 text",
        "question text only (cloud holds context)" if cloud_has_context
        else "context + question text",
    ))
    rows.append(PayloadRow("edge-local", None, None, edge_local_payload_bytes(), "-",
                           "nothing leaves the device"))
    return rows
