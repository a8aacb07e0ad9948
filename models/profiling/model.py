"""The model under test: a ``transformers`` Qwen2 with random weights, its KV caches (growing
``DynamicCache``; preallocated static cache for CUDA graphs), one-forward closures, CUDA-graph
capture, and the check that the static / graph path gives the eager path's logits."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from models.arch import ModelArch


def qwen2_config(arch: ModelArch):
    """A transformers ``Qwen2Config`` with ``arch``'s shapes (SDPA attention, no sliding)."""
    from transformers import Qwen2Config

    if arch.hidden_size != arch.attention_heads * arch.head_dim:
        raise ValueError(f"{arch.name}: hidden_size != attention_heads x head_dim")
    return Qwen2Config(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.attention_heads,
        num_key_value_heads=arch.kv_heads,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        tie_word_embeddings=arch.tied_embeddings,
        use_sliding_window=False,
        use_cache=True,
        attn_implementation="sdpa",
    )


def build_model(arch: ModelArch, dtype: Any, device: Any):
    """``Qwen2ForCausalLM`` with random weights, built directly on ``device`` in ``dtype``."""
    import torch
    from transformers import Qwen2ForCausalLM

    config = qwen2_config(arch)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.to(dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model


def cache_kw(model: Any) -> str:
    """Name of the forward's cache argument: ``cache`` (transformers >= 5.2x) or
    ``past_key_values`` (earlier 5.x)."""
    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _static_kv_class():
    from transformers.cache_utils import Cache

    class StaticKV(Cache):
        """Preallocated KV buffers at fixed addresses, for CUDA-graph capture.

        Duck-types the parts of transformers' ``Cache`` a Qwen2 forward uses (``update``,
        ``get_seq_length``). ``update`` writes the new keys/values at ``write_pos`` (a device
        tensor the caller sets) and returns the whole buffer, so the cache must be sized to
        exactly the tokens attended to (no mask is applied).
        """

        is_compileable = True

        def __init__(self, keys: list, values: list, write_pos: Any, seen: int) -> None:
            # Cache.__init__ is not called on purpose: its layer objects are not used.
            self.keys, self.values = keys, values
            self.write_pos = write_pos
            self.seen = seen
            self.layers: list = []

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            k, v = self.keys[layer_idx], self.values[layer_idx]
            k.index_copy_(2, self.write_pos, key_states)
            v.index_copy_(2, self.write_pos, value_states)
            return k, v

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return self.seen

        def __len__(self) -> int:
            return len(self.keys)

    return StaticKV


# Passing the per-layer-type masks as a dict makes the transformers forward skip mask
# creation (its "already prepared, e.g. by generate" path); None = no mask, so SDPA runs
# causal for a prefill (q_len > 1) and unmasked for a decode step over an exactly-sized cache.
NO_MASK: dict[str, None] = {"full_attention": None, "sliding_attention": None}


def random_kv(arch: ModelArch, batch: int, tokens: int, dtype: Any, device: Any) -> list:
    """[(K, V)] per layer of random KV, each (batch, kv_heads, tokens, head_dim)."""
    import torch

    shape = (batch, arch.kv_heads, tokens, arch.head_dim)
    return [
        (torch.randn(shape, dtype=dtype, device=device), torch.randn(shape, dtype=dtype,
                                                                     device=device))
        for _ in range(arch.layers)
    ]


def dynamic_cache(model: Any, kv: list):
    """A transformers ``DynamicCache`` holding ``kv``."""
    from transformers import DynamicCache

    try:
        return DynamicCache(ddp_cache_data=kv, config=model.config)
    except TypeError:
        cache = DynamicCache()
        for i, (k, v) in enumerate(kv):
            cache.update(k, v, i)
        return cache


def static_cache(arch: ModelArch, batch: int, length: int, write_from: int, new_tokens: int,
                 dtype: Any, device: Any, kv: list | None = None):
    """A :func:`_static_kv_class` cache of ``length`` tokens whose next forward writes
    ``new_tokens`` tokens at ``write_from``; filled with ``kv`` (copied) or random values."""
    import torch

    shape = (batch, arch.kv_heads, length, arch.head_dim)
    keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
    values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        if kv is not None:
            n = kv[i][0].shape[2]
            k[:, :, :n].copy_(kv[i][0])
            v[:, :, :n].copy_(kv[i][1])
        else:
            k.normal_()
            v.normal_()
    pos = torch.arange(write_from, write_from + new_tokens, device=device)
    return _static_kv_class()(keys, values, pos, write_from)


def forward_fn(model: Any, ids: Any, cache: Any = None, position_ids: Any = None,
               static: bool = False) -> Callable[[], Any]:
    """A no-argument closure running one forward (logits of the last token only)."""
    kw: dict[str, Any] = {"input_ids": ids, "use_cache": True, "logits_to_keep": 1}
    if cache is not None:
        kw[cache_kw(model)] = cache
    if position_ids is not None:
        kw["position_ids"] = position_ids
    if static:
        kw["attention_mask"] = NO_MASK
    return lambda: model(**kw).logits


def capture_graph(fn: Callable[[], Any], warmup: int = 2) -> tuple[Any, Any]:
    """Warm ``fn`` up on a side stream, capture it as a CUDA graph; (graph, static output)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


def relative_l2(a: Any, b: Any) -> float:
    """||a - b|| / ||b|| in float32."""
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_static_matches_eager(model: Any, arch: ModelArch, dtype: Any, device: Any,
                               use_graph: bool, tokens: int = 48, batch: int = 2) -> dict:
    """Relative L2 error of the static-cache (optionally CUDA-graph) forward against the eager
    DynamicCache forward, for a decode step and a prefill on the same inputs and cache."""
    import torch

    def run_once(fn):
        """One call of ``fn``, through a captured CUDA graph when ``use_graph``."""
        if not use_graph:
            return fn()
        graph, static_out = capture_graph(fn)
        graph.replay()
        torch.cuda.synchronize()
        return static_out

    out: dict[str, float] = {}
    gen = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, arch.vocab_size, (batch, 1), generator=gen).to(device)
    kv = random_kv(arch, batch, tokens, dtype, device)
    pos = torch.full((batch, 1), tokens, device=device, dtype=torch.long)
    ref = forward_fn(model, ids, dynamic_cache(model, [(k.clone(), v.clone()) for k, v in kv]),
                     pos)()
    st = static_cache(arch, batch, tokens + 1, tokens, 1, dtype, device, kv)
    fn = forward_fn(model, ids, st, pos, static=True)
    got = run_once(fn)
    out["decode"] = relative_l2(got, ref)
    pids = torch.randint(0, arch.vocab_size, (batch, tokens), generator=gen).to(device)
    ref = forward_fn(model, pids)()
    st = static_cache(arch, batch, tokens, 0, tokens, dtype, device)
    ppos = torch.arange(tokens, device=device).expand(batch, tokens)
    fn = forward_fn(model, pids, st, ppos, static=True)
    got = run_once(fn)
    out["prefill"] = relative_l2(got, ref)
    return out
