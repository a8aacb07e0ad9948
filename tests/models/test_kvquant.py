"""KV quantisation (models/kvquant.py): the quantise / dequantise halves that the profiler
times are exactly :func:`quant_dequant` split in two."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from models.kvquant import (  # noqa: E402
    dequantize_groups,
    group_codes,
    quant_dequant,
    quantize_groups,
)
from models.units import KV_GROUP_SIZE  # noqa: E402


def test_quantize_halves_match_kvquant() -> None:
    x = torch.randn(6, 2, 10, 128, generator=torch.Generator().manual_seed(0))
    for bits in (8, 4):
        packed, scale, zero = quantize_groups(x, bits, 64, meta_dtype=torch.float32)
        assert packed.dtype == torch.uint8
        assert packed.shape == (6, 2, 10, 2, 64 * bits // 8)  # INT4: two per byte
        assert scale.shape == zero.shape == (6, 2, 10, 2, 1)
        out = dequantize_groups(packed, scale, zero, bits, torch.float32)
        assert out.shape == x.shape
        assert torch.equal(out, quant_dequant(x, bits, 64))
    with pytest.raises(ValueError, match="must divide"):
        quantize_groups(torch.zeros(1, 96), 8, 64)
    with pytest.raises(ValueError, match="must divide"):  # checked before the bit width
        quantize_groups(torch.zeros(1, 96), 3, 64)
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        quantize_groups(torch.zeros(1, 64), 16)


def test_halves_in_bf16_and_default_fp16_metadata() -> None:
    x = torch.randn(3, 2, 5, 64, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    for bits in (8, 4):
        packed, scale, zero = quantize_groups(x, bits, meta_dtype=torch.bfloat16)
        assert torch.equal(dequantize_groups(packed, scale, zero, bits, torch.bfloat16),
                           quant_dequant(x, bits))
        packed, scale, zero = quantize_groups(x, bits)  # what a cache stores: fp16 metadata
        assert scale.dtype == zero.dtype == torch.float16
        q, s, lo = group_codes(x, bits)
        assert torch.equal(scale, s.to(torch.float16)) and torch.equal(zero, lo.to(torch.float16))
        low = q.to(torch.uint8)[..., 0::2] if bits == 4 else q.to(torch.uint8)
        assert torch.equal(packed & 0xF if bits == 4 else packed, low)


def test_group_codes_range_and_default_group_size() -> None:
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(2))
    q, scale, lo = group_codes(x, 4)
    assert q.shape == (2, 256 // KV_GROUP_SIZE, KV_GROUP_SIZE)
    assert float(q.min()) == 0.0 and float(q.max()) == 15.0
    assert torch.equal(quant_dequant(x, 4), (q * scale + lo).reshape(x.shape))
    assert torch.equal(quant_dequant(x, 4), quant_dequant(x, 4, KV_GROUP_SIZE))
    assert quant_dequant(x, 16) is x
