"""Real-model plumbing for the measurement harness: prompts, prefills, masked and
quantised answers. fp32, eager attention (attention probabilities are needed); on the CPU by
default, or on any torch device (``device=``: the long-context runs used ``cuda``).

Masking semantics (what Scout does in the cloud): the cloud prefills prefix + context once;
the cache is then cut to the kept context positions (prefix kept), and the question and
answer run against the pruned cache with their original position ids. Dropping positions
and masking them agree to ~3e-5 in logits (tested). KV quantisation semantics (what a shipped
cache is): the prefix + context cache is quantise-dequantised, then the question and answer
run against it at full precision.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.kvquant import quantize_cache
from models.units import KV_GROUP_SIZE


def device_name(device: str) -> str:
    """Where a run computes, for its records: the GPU's name and the host's cores, or the
    CPU's architecture and cores (``device``: a torch device string)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ({os.cpu_count()} host cores)"
    return f"{platform.machine()} CPU ({os.cpu_count()} cores)"


INSTRUCTION = ("Answer the question with a short span copied from the context. "
               "Reply with the answer only.\n\nContext: ")
MAX_NEW_TOKENS = 16


@dataclass
class Prompt:
    """Token ids of one prompt and its spans: context ``[c0, c1)``, question ``[q0, q1)``."""

    ids: list[int]
    c0: int
    c1: int
    q0: int
    q1: int


class LM:
    """A causal LM loaded for measurement (fp32, eager attention, no grad), on ``device``."""

    def __init__(self, path: str | Path, name: str | None = None, threads: int | None = None,
                 device: str = "cpu", tokenizer: str | Path | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        p = Path(path)
        kw = {}
        if p.suffix == ".gguf":
            kw["gguf_file"] = p.name
            p = p.parent
        # a GGUF's tokenizer is converted on every load (slow); a saved copy loads at once
        self.tokenizer = (AutoTokenizer.from_pretrained(tokenizer) if tokenizer
                          else AutoTokenizer.from_pretrained(p, **kw))
        self.model = AutoModelForCausalLM.from_pretrained(p, dtype=torch.float32,
                                                          attn_implementation="eager", **kw)
        import inspect

        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.device = torch.device(device)
        self.model.to(self.device)
        self.model.eval()
        self.name = name or Path(path).name
        self.layers = self.model.config.num_hidden_layers
        stop = {self.tokenizer.eos_token_id}
        for t in ("<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(t)
            if isinstance(tid, int) and tid >= 0 and tid != self.tokenizer.unk_token_id:
                stop.add(tid)
        self.stop_ids = {s for s in stop if s is not None}

    def _kv(self, cache) -> dict:
        """The cache as the installed transformers takes it: ``cache=`` (5.2x) or
        ``past_key_values=`` (earlier 5.x, e.g. 5.17, which silently ignores ``cache=``)."""
        return {self._cache_kw: cache}

    def _t(self, data) -> torch.Tensor:
        """An integer tensor on the model's device."""
        return torch.tensor(data, device=self.device)

    # ------------------------------------------------------------------ prompts
    def build_prompt(self, context: str, question: str) -> Prompt:
        """Chat-formatted prompt, assembled from separately tokenised segments so the
        context and question spans are exact (both models of a pair share the tokenizer)."""
        c_mark, q_mark = "\x00CTX\x00", "\x00QST\x00"
        content = f"{INSTRUCTION}{c_mark}\n\nQuestion: {q_mark}"
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False,
            add_generation_prompt=True)
        prefix, rest = text.split(c_mark)
        middle, suffix = rest.split(q_mark)

        def enc(s: str) -> list[int]:
            return self.tokenizer(s, add_special_tokens=False)["input_ids"]

        a, c, m, q, z = enc(prefix), enc(context), enc(middle), enc(question), enc(suffix)
        c0 = len(a)
        c1 = c0 + len(c)
        q0 = c1 + len(m)
        q1 = q0 + len(q)
        return Prompt(a + c + m + q + z, c0, c1, q0, q1)

    # ------------------------------------------------------------------ forward passes
    @torch.no_grad()
    def prefill(self, ids: list[int], attentions: bool = True):
        """Full prefill: (last-position logits, cache, attentions or None, seconds)."""
        from transformers import DynamicCache

        t0 = time.perf_counter()
        cache = DynamicCache()
        out = self.model(input_ids=self._t([ids]), **self._kv(cache), use_cache=True,
                         output_attentions=attentions)
        return out.logits[0, -1], out.past_key_values, out.attentions, time.perf_counter() - t0

    @staticmethod
    def cache_tensors(cache, upto: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(K, V) of every layer for positions ``< upto`` (a causal prefix: identical to a
        prefill of ``ids[:upto]`` alone)."""
        return [(layer.keys[:, :, :upto].clone(), layer.values[:, :, :upto].clone())
                for layer in cache.layers]

    @torch.no_grad()
    def answer(self, base: list[tuple[torch.Tensor, torch.Tensor]], prompt: Prompt, *,
               keep_context: np.ndarray | None = None, layer_bits: list[int] | None = None,
               group_size: int = KV_GROUP_SIZE) -> tuple[str, int, float]:
        """Greedy answer from the prefix+context cache ``base``, with the context cut to
        ``keep_context`` (indices into the context) and/or quantised at ``layer_bits``.
        Returns (text, generated tokens, seconds)."""
        return self.answers(base, prompt, [(keep_context, layer_bits)], group_size)[0]

    @torch.no_grad()
    def answers(self, base: list[tuple[torch.Tensor, torch.Tensor]], prompt: Prompt,
                variants: list[tuple[np.ndarray | None, list[int] | None]],
                group_size: int = KV_GROUP_SIZE) -> list[tuple[str, int, float]]:
        """Several (keep_context, layer_bits) variants at once: variants whose caches have
        the same length are decoded as one batch (identical results, one pass over the
        weights per step); each result's seconds is its batch's time / batch size."""
        from transformers import DynamicCache

        results: list[tuple[str, int, float] | None] = [None] * len(variants)
        groups: dict[int, list[int]] = {}
        for i, (keep, _) in enumerate(variants):
            n = prompt.c1 if keep is None else prompt.c0 + len(keep)
            groups.setdefault(n, []).append(i)
        for members in groups.values():
            t0 = time.perf_counter()
            per_layer: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in base]
            for i in members:
                keep, bits = variants[i]
                cache = DynamicCache()
                for li, (k, v) in enumerate(base):
                    if keep is not None:
                        idx = self._t(np.concatenate([np.arange(prompt.c0),
                                                      prompt.c0 + np.asarray(keep)]))
                        k, v = k[:, :, idx], v[:, :, idx]
                    cache.update(k.clone(), v.clone(), li)
                if bits is not None:
                    quantize_cache(cache, bits, group_size)
                for li, layer in enumerate(cache.layers):
                    per_layer[li].append((layer.keys, layer.values))
            batch = DynamicCache()
            for li, kvs in enumerate(per_layer):
                batch.update(torch.cat([k for k, _ in kvs]), torch.cat([v for _, v in kvs]), li)
            rest = prompt.ids[prompt.c1:]
            b = len(members)
            pos = torch.arange(prompt.c1, prompt.c1 + len(rest),
                               device=self.device)[None].expand(b, -1)
            out = self.model(input_ids=self._t([rest] * b), **self._kv(batch), position_ids=pos,
                             use_cache=True)
            texts = self._greedy_batch(out.logits[:, -1], batch, prompt.c1 + len(rest))
            secs = (time.perf_counter() - t0) / b
            for i, (text, ntok) in zip(members, texts, strict=True):
                results[i] = (text, ntok, secs)
        return results  # type: ignore[return-value]

    def _greedy_batch(self, logits: torch.Tensor, cache, next_pos: int) -> list[tuple[str, int]]:
        """Greedy decoding of a batch; each row stops at a stop token or a line break."""
        b = logits.shape[0]
        tokens: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        for step in range(MAX_NEW_TOKENS):
            nxt = torch.argmax(logits, dim=-1).tolist()
            for r, tok in enumerate(nxt):
                if done[r]:
                    continue
                if tok in self.stop_ids:
                    done[r] = True
                    continue
                tokens[r].append(tok)
                text = self.tokenizer.decode(tokens[r], skip_special_tokens=True)
                if "\n" in text.strip("\n") or (text.endswith("\n") and text.strip()):
                    done[r] = True
            if all(done):
                break
            feed = self._t([[t] for t in nxt])
            o = self.model(input_ids=feed, **self._kv(cache),
                           position_ids=torch.full((b, 1), next_pos + step, device=self.device),
                           use_cache=True)
            logits = o.logits[:, -1]
        return [(self.tokenizer.decode(t, skip_special_tokens=True).strip().split("\n")[0],
                 len(t)) for t in tokens]

    @torch.no_grad()
    def answer_from(self, logits: torch.Tensor, cache, next_pos: int) -> tuple[str, int, float]:
        """Greedy answer continuing a full prefill (nothing masked or quantised)."""
        from transformers import DynamicCache

        t0 = time.perf_counter()
        fresh = DynamicCache()
        for i, layer in enumerate(cache.layers):
            fresh.update(layer.keys.clone(), layer.values.clone(), i)

        class _Out:
            pass

        out = _Out()
        out.logits = logits[None, None]
        return self._greedy(out, fresh, next_pos, t0)

    def _greedy(self, out, cache, next_pos: int, t0: float) -> tuple[str, int, float]:
        tokens: list[int] = []
        logits = out.logits[0, -1]
        for step in range(MAX_NEW_TOKENS):
            tok = int(torch.argmax(logits))
            if tok in self.stop_ids:
                break
            tokens.append(tok)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if "\n" in text.strip("\n") or (text.endswith("\n") and text.strip()):
                break
            o = self.model(input_ids=self._t([[tok]]), **self._kv(cache),
                           position_ids=self._t([[next_pos + step]]), use_cache=True)
            logits = o.logits[0, -1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip().split("\n")[0]
        return text, len(tokens), time.perf_counter() - t0

    @torch.no_grad()
    def first_token_logprobs(self, base, prompt: Prompt, layer_bits: list[int] | None,
                             group_size: int = KV_GROUP_SIZE) -> torch.Tensor:
        """Log-probabilities of the first answer token given a (quantised) context cache."""
        from transformers import DynamicCache

        cache = DynamicCache()
        for i, (k, v) in enumerate(base):
            cache.update(k.clone(), v.clone(), i)
        if layer_bits is not None:
            quantize_cache(cache, layer_bits, group_size)
        rest = prompt.ids[prompt.c1:]
        pos = torch.arange(prompt.c1, prompt.c1 + len(rest), device=self.device)[None]
        out = self.model(input_ids=self._t([rest]), **self._kv(cache), position_ids=pos,
                         use_cache=True)
        return torch.log_softmax(out.logits[0, -1].float(), dim=-1)
