"""Model architectures as data (Qwen2.5 family), from the models' public config.json files.

Fields follow Hugging Face ``config.json`` names where one exists. ``params`` is the total
parameter count (embeddings included), used by the roofline for weight bytes and FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import unknown_name


@dataclass(frozen=True)
class ModelArch:
    """A decoder-only transformer's shape. Counts are plain integers; no units beyond counts."""

    name: str
    layers: int  # num_hidden_layers
    kv_heads: int  # num_key_value_heads (GQA)
    head_dim: int  # hidden_size / num_attention_heads
    hidden_size: int
    attention_heads: int
    intermediate_size: int
    vocab_size: int
    params: int  # total parameters
    tied_embeddings: bool = False

    def kv_elements_per_token(self) -> int:
        """K and V elements stored per token across all layers: 2 x layers x kv_heads x head_dim."""
        return 2 * self.layers * self.kv_heads * self.head_dim

    def kv_bytes_per_token(self, bytes_per_element: float = 2.0) -> float:
        """KV-cache bytes per token at a given element size (2 for BF16)."""
        return self.kv_elements_per_token() * bytes_per_element


# Source: Qwen/Qwen2.5-{0.5B,1.5B,3B,7B,14B,32B,72B}-Instruct config.json on Hugging Face
# (num_hidden_layers, num_key_value_heads, hidden_size, num_attention_heads,
# intermediate_size, vocab_size, tie_word_embeddings); parameter counts from the model cards.
_QWEN25 = [
    # name, layers, kv_heads, head_dim, hidden, heads, inter, vocab, params, tied
    ("qwen2.5-0.5b", 24, 2, 64, 896, 14, 4864, 151936, 494_032_768, True),
    ("qwen2.5-1.5b", 28, 2, 128, 1536, 12, 8960, 151936, 1_543_714_304, True),
    ("qwen2.5-3b", 36, 2, 128, 2048, 16, 11008, 151936, 3_085_938_688, True),
    ("qwen2.5-7b", 28, 4, 128, 3584, 28, 18944, 152064, 7_615_616_512, False),
    ("qwen2.5-14b", 48, 8, 128, 5120, 40, 13824, 152064, 14_770_033_664, False),
    ("qwen2.5-32b", 64, 8, 128, 5120, 40, 27648, 152064, 32_763_876_352, False),
    ("qwen2.5-72b", 80, 8, 128, 8192, 64, 29568, 152064, 72_706_203_648, False),
]

ARCHS: dict[str, ModelArch] = {
    row[0]: ModelArch(*row) for row in _QWEN25
}
# The Coder variants share their base model's architecture.
for _size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b"):
    _base = ARCHS[f"qwen2.5-{_size}"]
    ARCHS[f"qwen2.5-coder-{_size}"] = ModelArch(f"qwen2.5-coder-{_size}", *[
        getattr(_base, f) for f in (
            "layers", "kv_heads", "head_dim", "hidden_size", "attention_heads",
            "intermediate_size", "vocab_size", "params", "tied_embeddings")
    ])


def get_arch(name: str) -> ModelArch:
    """Look up an architecture by name (case-insensitive); InputError if unknown."""
    key = name.strip().lower()
    if key not in ARCHS:
        raise unknown_name("model", name, list(ARCHS))
    return ARCHS[key]
