"""KV-cache quantisation, simulated exactly by quantise-dequantise of the cache tensors.

Asymmetric uniform quantisation in groups of ``group_size`` consecutive elements along
``head_dim`` (per token, per KV head, separately for K and V; the same grouping as the
payload model): ``scale = (max - min) / (2^bits - 1)``, ``q = round((x - min) / scale)``,
``x' = q * scale + min``. ``bits >= 16`` leaves a tensor unchanged. Per-layer bit widths
give mixed precision.

The arithmetic is written once (:func:`group_codes`); :func:`quant_dequant` applies it in
one go, and :func:`quantize_groups` / :func:`dequantize_groups` are its two halves as a
real cache would store them (packed codes, fp16 scale and zero-point), which the profiler
(``models.profiling``) times.
"""

from __future__ import annotations

from typing import Any

import torch

from models.units import KV_GROUP_SIZE


def _group_width(head_dim: int, group_size: int) -> int:
    """The group width used for ``head_dim`` (at most ``head_dim``); ValueError unless it
    divides ``head_dim``."""
    g = min(group_size, head_dim)
    if head_dim % g:
        raise ValueError(f"group size {g} must divide head_dim {head_dim}")
    return g


def group_codes(x: torch.Tensor, bits: int, group_size: int = KV_GROUP_SIZE
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantisation codes of ``x`` (..., head_dim) in groups along the last dim:
    ``(q, scale, lo)``, each grouped (..., head_dim / g, g or 1), ``q`` in ``x``'s dtype."""
    d = x.shape[-1]
    g = _group_width(d, group_size)
    xg = x.reshape(*x.shape[:-1], d // g, g)
    lo = xg.amin(dim=-1, keepdim=True)
    hi = xg.amax(dim=-1, keepdim=True)
    levels = (1 << bits) - 1
    scale = (hi - lo).clamp_min(1e-12) / levels
    q = torch.clamp(torch.round((xg - lo) / scale), 0, levels)
    return q, scale, lo


def quant_dequant(x: torch.Tensor, bits: int, group_size: int = KV_GROUP_SIZE) -> torch.Tensor:
    """Quantise-dequantise ``x`` (..., head_dim) at ``bits`` in groups along the last dim."""
    if bits >= 16:
        return x
    q, scale, lo = group_codes(x, bits, group_size)
    return (q * scale + lo).reshape(x.shape)


def quantize_groups(x: torch.Tensor, bits: int, group_size: int = KV_GROUP_SIZE,
                    meta_dtype: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantise half of :func:`quant_dequant` (:func:`group_codes`), then pack.

    Returns ``(packed uint8, scale, zero)``; INT4 packs two values per byte (even index in
    the low nibble). ``scale``/``zero`` are cast to ``meta_dtype`` (default float16, the
    2 B each that the payload model counts).
    """
    meta_dtype = torch.float16 if meta_dtype is None else meta_dtype
    _group_width(x.shape[-1], group_size)
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    q, scale, lo = group_codes(x, bits, group_size)
    q = q.to(torch.uint8)
    if bits == 4:
        q = q[..., 0::2] | (q[..., 1::2] << 4)
    return q, scale.to(meta_dtype), lo.to(meta_dtype)


def dequantize_groups(packed: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
                      bits: int, dtype: Any) -> torch.Tensor:
    """Dequantise half: unpack (INT4 nibbles), ``q x scale + zero`` in ``dtype``, ungroup.
    With ``x``'s dtype for ``dtype`` and the metadata kept in it, this equals
    :func:`quant_dequant` bit for bit."""
    if bits == 4:
        q = torch.stack((packed & 0xF, packed >> 4), dim=-1)
        q = q.reshape(*packed.shape[:-1], packed.shape[-1] * 2)
    else:
        q = packed
    x = q.to(dtype) * scale.to(dtype) + zero.to(dtype)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def quantize_cache(cache, layer_bits: list[int], group_size: int = KV_GROUP_SIZE,
                   positions: slice | None = None) -> None:
    """Quantise-dequantise a transformers ``DynamicCache`` in place, layer ``l`` at
    ``layer_bits[l]``; ``positions`` limits it to a slice of the sequence (the shipped part)."""
    sl = positions if positions is not None else slice(None)
    for layer, bits in zip(cache.layers, layer_bits, strict=True):
        if bits >= 16:
            continue
        layer.keys[:, :, sl, :] = quant_dequant(layer.keys[:, :, sl, :], bits, group_size)
        layer.values[:, :, sl, :] = quant_dequant(layer.values[:, :, sl, :], bits, group_size)


def uniform_bits(layers: int, bits: int) -> list[int]:
    return [bits] * layers


def mixed_bits(sensitivity: list[float], high_fraction: float = 0.25, high: int = 8,
               low: int = 4) -> list[int]:
    """INT8 for the ``high_fraction`` most sensitive layers (measured), INT4 elsewhere."""
    n = len(sensitivity)
    n_high = max(1, round(high_fraction * n))
    top = set(sorted(range(n), key=lambda i: -sensitivity[i])[:n_high])
    return [high if i in top else low for i in range(n)]


def install_quantized_attention(model, layer_bits: list[int] | None,
                                group_size: int = KV_GROUP_SIZE):
    """Make every attention layer quantise-dequantise K and V *inside* attention (so one
    forward pass, e.g. for perplexity, sees quantised K/V). ``None`` restores eager."""
    from transformers import AttentionInterface
    from transformers.models.qwen2.modeling_qwen2 import eager_attention_forward

    if layer_bits is None:
        model.config._attn_implementation = "eager"
        return

    def attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kw):
        bits = layer_bits[module.layer_idx]
        return eager_attention_forward(module, query, quant_dequant(key, bits, group_size),
                                       quant_dequant(value, bits, group_size),
                                       attention_mask, scaling=scaling, dropout=dropout, **kw)

    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register("scoutsim_kvquant", attention)
    # the causal mask is built per implementation: register the eager one for ours (without
    # it transformers passes no mask and attention would see future tokens)
    AttentionMaskInterface.register("scoutsim_kvquant", eager_mask)
    model.config._attn_implementation = "scoutsim_kvquant"
