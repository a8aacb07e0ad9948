"""What one measured point runs: ``setup()`` closures that build a point's inputs and return
the call to time (a decode step, a prefill, a KV quantise or dequantise), and the
torch.profiler diagnosis of eager decode steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from models.arch import ModelArch
from models.profiling.model import (
    cache_kw,
    dynamic_cache,
    forward_fn,
    random_kv,
    static_cache,
)

#: ``setup()``: builds a point's inputs, returns the no-argument call to time
Setup = Callable[[], Callable[[], Any]]
#: ``ids(batch, tokens)``: random token ids on the device
Ids = Callable[[int, int], Any]


def decode_setup(model: Any, arch: ModelArch, stack: str, L: int, b: int, ids: Ids,
                 dev: Any, dt: Any) -> Setup:
    """One decode step of ``b`` sequences on a cache of ``L`` random tokens: static cache
    sized ``L + 1`` (``compiled``) or a DynamicCache that grows by a token per call
    (``eager``, as in generation)."""
    import torch

    def setup():
        x = ids(b, 1)
        if stack == "compiled":
            kv = static_cache(arch, b, L + 1, L, 1, dt, dev)
            pos = torch.full((b, 1), L, device=dev, dtype=torch.long)
            return forward_fn(model, x, kv, pos, static=True)
        cache = dynamic_cache(model, random_kv(arch, b, L, dt, dev))
        state = {"pos": L}
        kw = {"input_ids": x, "use_cache": True, "logits_to_keep": 1,
              cache_kw(model): cache}

        def step():  # the cache grows by one token per call, as in generation
            kw["position_ids"] = torch.full((b, 1), state["pos"], device=dev,
                                            dtype=torch.long)
            state["pos"] += 1
            return model(**kw).logits

        return step

    return setup


def prefill_setup(model: Any, arch: ModelArch, stack: str, n: int, b: int, ids: Ids,
                  dev: Any, dt: Any) -> Setup:
    """One prefill of ``b`` x ``n`` tokens from an empty cache (static for ``compiled``)."""
    import torch

    def setup():
        x = ids(b, n)
        if stack == "compiled":
            kv = static_cache(arch, b, n, 0, n, dt, dev)
            pos = torch.arange(n, device=dev).expand(b, n)
            return forward_fn(model, x, kv, pos, static=True)
        return forward_fn(model, x)

    return setup


def quant_setup(arch: ModelArch, kind: str, bits: int, n: int, dev: Any, dt: Any) -> Setup:
    """``kind`` ("quantize" or "dequantize") at ``bits`` of one random KV tensor of ``n``
    tokens, (2 x layers, kv_heads, n, head_dim) (:mod:`models.kvquant`'s halves)."""
    import torch

    from models.kvquant import dequantize_groups, quantize_groups

    def kv():
        return torch.randn((2 * arch.layers, arch.kv_heads, n, arch.head_dim), dtype=dt,
                           device=dev)

    def setup():
        if kind == "quantize":
            x = kv()
            return lambda: quantize_groups(x, bits)
        packed, scale, zero = quantize_groups(kv(), bits)
        return lambda: dequantize_groups(packed, scale, zero, bits, dt)

    return setup


def diagnose_decode(model: Any, arch: ModelArch, label: str, ids: Ids, dev: Any, dt: Any,
                    cuda: bool) -> list[str]:
    """Where an eager decode step's time goes: torch.profiler over 3 steps at cache 512,
    batch 1 and 16 -> wall per step, GPU kernel time per step, kernels per step, and the
    top CPU ops by self time; one line per batch."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    lines = []
    for b in (1, 16):
        step = decode_setup(model, arch, "eager", 512, b, ids, dev, dt)()
        for _ in range(2):
            step()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        with profile(activities=acts) as prof:
            for _ in range(3):
                step()
            if cuda:
                torch.cuda.synchronize()
        wall = (time.perf_counter() - t) / 3
        lines.append(_diagnosis_line(prof.key_averages(), label, b, wall))
        del step
    return lines


def _diagnosis_line(events: Any, label: str, b: int, wall: float) -> str:
    """One :func:`diagnose_decode` line from torch.profiler's averages over 3 steps."""
    gpu_us = sum(getattr(e, "self_device_time_total", 0.0) for e in events) / 3
    kernels = sum(e.count for e in events
                  if getattr(e, "self_device_time_total", 0.0) > 0) / 3
    cpu_ms = sum(e.self_cpu_time_total for e in events) / 3 / 1e3
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:6]
    tops = "; ".join(f"{e.key} {e.self_cpu_time_total / 3 / 1e3:.1f} ms" for e in top)
    return (f"diagnose: {label} eager decode cache 512 batch {b}: wall "
            f"{wall * 1e3:.1f} ms/step (profiled), GPU busy {gpu_us / 1e3:.1f} "
            f"ms/step, {kernels:.0f} kernels/step, profiled CPU ops {cpu_ms:.1f} "
            f"ms/step; top self-CPU ops per step: "
            f"{tops}")
