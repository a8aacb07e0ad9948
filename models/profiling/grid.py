"""What the profiler measures: the grids of (context length, batch) points per op, and the
KV precisions of the (de)quantisation ops."""

from __future__ import annotations

from dataclasses import dataclass

#: KV precisions of the ``quantize_*`` / ``dequantize_*`` ops -> bits
QUANT_BITS: dict[str, int] = {"int8": 8, "int4": 4}


@dataclass(frozen=True)
class Grid:
    """What to measure: prefill (contexts x batches), decode (lengths x batches), KV ops."""

    contexts: tuple[int, ...]
    batches: tuple[int, ...]
    decode_lengths: tuple[int, ...]
    decode_batches: tuple[int, ...]
    quant_lengths: tuple[int, ...]


_CONTEXTS = (128, 170, 256, 512, 1024, 2048, 4096, 8192)  # powers of two plus 170
_LENGTHS = (128, 170, 512, 2048, 8192)
GPU_GRID = Grid(_CONTEXTS, (1, 4, 16), _LENGTHS, (1, 4, 16), _LENGTHS)
CPU_GRID = Grid(
    (128, 170, 256, 512, 1024, 2048), (1, 4), (128, 512, 2048), (1, 4), (128, 170, 512, 2048)
)
QUICK_GRID = Grid((128, 170, 512), (1, 4), (128, 512), (1, 4), (128, 512))
