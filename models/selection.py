"""Position selection from a model's attention: which context positions matter.

All methods score the context positions ``[c0, c1)`` of one prompt from the attention
probabilities of a full prefill (``attentions``: one tensor per layer, shape
``(1, heads, seq, seq)``), then keep the top ``round(r x n)`` (at least 1) positions:

- ``q2c-last`` (**default**, Paper A and its code): attention of the question tokens
  ``[q0, q1)`` to each context position in the **last layer**, mean over heads and
  question tokens.
- ``q2c-mean`` (Paper B): the same, averaged over **all layers**.
- ``snapkv``: attention of an observation window (the last ``window`` prompt tokens) to
  each context position, summed over the window, averaged over heads and layers, then
  max-pooled along positions with kernel ``pool`` (SnapKV, Li et al. 2024, uses the window
  and pooling per head and layer; one shared position set is kept here, as Scout needs).
- ``h2o``: accumulated attention (H2O, Zhang et al. 2023): each context position's
  attention received from every later query, summed over queries, averaged over heads
  and layers.
- ``random``: a seeded random score (the chance baseline).
"""

from __future__ import annotations

import numpy as np
import torch

METHODS = ("q2c-last", "q2c-mean", "snapkv", "h2o", "random")
DEFAULT_METHOD = "q2c-last"


def scores(method: str, attentions, c0: int, c1: int, q0: int, q1: int, *,
           window: int = 16, pool: int = 7, seed: int = 0) -> np.ndarray:
    """Importance score of each context position (higher = keep)."""
    if method == "random":
        return np.random.default_rng(seed).random(c1 - c0)
    if method in ("q2c-last", "q2c-mean"):
        layers = attentions[-1:] if method == "q2c-last" else attentions
        s = torch.stack([a[0, :, q0:q1, c0:c1].mean(dim=(0, 1)) for a in layers]).mean(0)
        return s.float().cpu().numpy()
    if method == "snapkv":
        seq = attentions[0].shape[-1]
        w0 = max(c1, seq - window)
        s = torch.stack([a[0, :, w0:seq, c0:c1].sum(dim=1).mean(dim=0)
                         for a in attentions]).mean(0)
        s = torch.nn.functional.max_pool1d(s[None, None], pool, stride=1,
                                           padding=pool // 2)[0, 0]
        return s.float().cpu().numpy()
    if method == "h2o":
        s = torch.stack([a[0, :, c0:, c0:c1].sum(dim=1).mean(dim=0) for a in attentions])
        return s.mean(0).float().cpu().numpy()
    raise ValueError(f"unknown selection method {method!r}; known: {', '.join(METHODS)}")


def kept_count(n: int, retention: float) -> int:
    """round-half-up of n x r, at least 1 (as in models.payload)."""
    return max(1, min(n, int(np.floor(n * retention + 0.5))))


def top_k(score: np.ndarray, retention: float) -> np.ndarray:
    """Indices (sorted) of the top ``round(r x n)`` scores; ties broken by position."""
    k = kept_count(len(score), retention)
    order = np.lexsort((np.arange(len(score)), -score))
    return np.sort(order[:k])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """|A & B| / |A| for two top-k sets of equal size."""
    return len(np.intersect1d(a, b)) / max(1, len(a))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return len(np.intersect1d(a, b)) / max(1, len(np.union1d(a, b)))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)
