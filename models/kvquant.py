"""KV-cache quantisation, simulated exactly by quantise-dequantise of the cache tensors.

Asymmetric uniform quantisation in groups of ``group_size`` consecutive elements along
``head_dim`` (per token, per KV head, separately for K and V; the same grouping as the
payload model): ``scale = (max - min) / (2^bits - 1)``, ``q = round((x - min) / scale)``,
``x' = q * scale + min``. ``bits >= 16`` leaves a tensor unchanged. Per-layer bit widths
give mixed precision.
"""

from __future__ import annotations

import torch


def quant_dequant(x: torch.Tensor, bits: int, group_size: int = 64) -> torch.Tensor:
    """Quantise-dequantise ``x`` (..., head_dim) at ``bits`` in groups along the last dim."""
    if bits >= 16:
        return x
    d = x.shape[-1]
    g = min(group_size, d)
    if d % g:
        raise ValueError(f"group size {g} must divide head_dim {d}")
    shape = x.shape
    xg = x.reshape(*shape[:-1], d // g, g)
    lo = xg.amin(dim=-1, keepdim=True)
    hi = xg.amax(dim=-1, keepdim=True)
    levels = (1 << bits) - 1
    scale = (hi - lo).clamp_min(1e-12) / levels
    q = torch.clamp(torch.round((xg - lo) / scale), 0, levels)
    return (q * scale + lo).reshape(shape)


def quantize_cache(cache, layer_bits: list[int], group_size: int = 64,
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


def install_quantized_attention(model, layer_bits: list[int] | None, group_size: int = 64):
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
