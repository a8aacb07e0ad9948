"""Request workload: arrivals, sizes and deadlines, drawn once and shared by every policy.

All randomness comes from ``numpy.random.SeedSequence([seed, STREAM])`` streams that no
policy can advance, so every policy in a run sees identical requests (common random numbers,
paired comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from models.errors import InputError
from models.request import Request
from sim.limits import MAX_TOKENS

WORKLOAD_STREAM = 1  # stream id for the workload's generator


@dataclass(frozen=True)
class TokenDistribution:
    """Context-length distribution, parsed from a spec string.

    ``170`` (fixed), ``normal:MEAN:SD``, ``lognormal:MEDIAN:SIGMA``, ``uniform:LOW:HIGH``
    (integers, inclusive). Draws are rounded and raised to at least 1; a value or draw
    above ``max_tokens`` (:data:`MAX_TOKENS`) is an error, never silently capped (a run
    must not record one context length and simulate another).
    """

    kind: str
    a: float
    b: float = 0.0
    max_tokens: int = MAX_TOKENS

    @classmethod
    def parse(cls, spec: str | int) -> TokenDistribution:
        """Parse ``N`` or ``KIND:A:B``; InputError on anything else."""
        text = str(spec).strip()
        parts = text.split(":")
        try:
            if len(parts) == 1:
                value = float(parts[0])
                if not math.isfinite(value) or value != int(value) or value < 1:
                    raise ValueError
            else:
                kind, a, b = parts[0].lower(), float(parts[1]), float(parts[2])
        except (ValueError, IndexError):
            raise InputError(
                f"context tokens {text!r}: expected N, normal:MEAN:SD, lognormal:MEDIAN:SIGMA "
                "or uniform:LOW:HIGH") from None
        if len(parts) == 1:
            if value > MAX_TOKENS:
                raise InputError(f"context tokens {text!r}: at most {MAX_TOKENS:,} tokens per "
                                 "request")
            return cls("fixed", value)
        if kind not in ("normal", "lognormal", "uniform") or len(parts) != 3:
            raise InputError(f"context tokens {text!r}: unknown distribution {kind!r}")
        if not (a > 0 and b >= 0 and math.isfinite(a) and math.isfinite(b)):
            raise InputError(f"context tokens {text!r}: parameters must be positive")
        if kind == "uniform" and b < a:
            raise InputError(f"context tokens {text!r}: HIGH must be >= LOW")
        if kind == "uniform" and b > MAX_TOKENS:
            raise InputError(f"context tokens {text!r}: at most {MAX_TOKENS:,} tokens per "
                             "request")
        return cls(kind, a, b)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (int64); a fixed value is one read-only value seen ``n`` times."""
        if self.kind == "fixed":
            return np.broadcast_to(np.int64(max(round(self.a), 1)), (n,))
        if self.kind == "normal":
            x = rng.normal(self.a, self.b, n)
        elif self.kind == "lognormal":
            x = self.a * np.exp(rng.normal(0.0, self.b, n))
        else:
            x = rng.integers(int(self.a), int(self.b) + 1, n)
        if x.dtype == float:
            np.rint(x, out=x)
        over = int(np.count_nonzero(x > self.max_tokens))
        if over:
            raise InputError(f"context tokens {self.kind}:{self.a:g}:{self.b:g}: {over:,} of "
                             f"{n:,} draws exceed {self.max_tokens:,} tokens per request; "
                             "lower the distribution's parameters")
        np.maximum(x, 1, out=x)
        return x.astype(np.int64, copy=False)


@dataclass(frozen=True)
class Workload:
    """Columns of a request stream (numpy arrays of equal length; a column that is the same
    for every request is one read-only value broadcast to the length, 8 bytes in all)."""

    arrival_s: np.ndarray
    context_tokens: np.ndarray
    question_tokens: np.ndarray
    answer_tokens: np.ndarray
    deadline_s: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)

    def request(self, i: int) -> Request:
        """The ``i``-th request as an object."""
        return Request(i, float(self.arrival_s[i]), int(self.context_tokens[i]),
                       int(self.question_tokens[i]), int(self.answer_tokens[i]),
                       float(self.deadline_s[i]))

    def requests(self) -> list[Request]:
        return list(self.iter_requests())

    def slice(self, start: int, stop: int) -> Workload:
        """Requests ``start`` to ``stop - 1`` (views, no copy)."""
        return Workload(*(getattr(self, f.name)[start:stop] for f in fields(self)))

    def iter_requests(self, chunk: int = 1 << 14) -> Iterator[Request]:
        """The requests as objects, made ``chunk`` at a time (a run over millions of
        requests never holds them all)."""
        for start in range(0, len(self), chunk):
            part = self.slice(start, start + chunk)
            cols = zip(part.arrival_s.tolist(), part.context_tokens.tolist(),
                       part.question_tokens.tolist(), part.answer_tokens.tolist(),
                       part.deadline_s.tolist(), strict=True)
            yield from (Request(i, *c) for i, c in enumerate(cols, start))


def make_workload(*, requests: int, seed: int, arrival: str = "poisson",
                  rate_per_s: float | None = None, interval_s: float | None = None,
                  context_tokens: str | int = 170, question_tokens: int = 0,
                  answer_tokens: int = 16, deadline_s: float = 2.0, device: int = 0) -> Workload:
    """Draw a workload. Poisson arrivals need ``rate_per_s``; periodic ones ``interval_s``
    (or ``rate_per_s``, then the interval is 1/rate). The first request arrives at 0 s for
    periodic arrivals and after one exponential gap for Poisson ones. ``device`` picks the
    device's stream: device 0's is the single-device run's (so a cell of one reproduces
    it), device d > 0 draws from its own."""
    if requests < 1:
        raise InputError(f"requests must be >= 1, not {requests}")
    if not (deadline_s > 0 and math.isfinite(deadline_s)):
        raise InputError(f"deadline must be a positive number of seconds, not {deadline_s}")
    if not (0 <= question_tokens <= MAX_TOKENS and 1 <= answer_tokens <= MAX_TOKENS):
        raise InputError(f"question tokens must be in [0, {MAX_TOKENS}] and answer tokens in "
                         f"[1, {MAX_TOKENS}]")
    if interval_s is None and rate_per_s is not None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise InputError(f"rate must be a positive number of requests/s, not {rate_per_s}")
        interval_s = 1.0 / rate_per_s
    if interval_s is None or not (interval_s > 0 and math.isfinite(interval_s)):
        raise InputError(f"arrival interval must be positive, not {interval_s}")
    if device < 0:
        raise InputError(f"device index must be >= 0, not {device}")
    entropy = [seed, WORKLOAD_STREAM] + ([device] if device else [])
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    if arrival == "poisson":
        arrivals = rng.exponential(interval_s, requests)
        np.cumsum(arrivals, out=arrivals)
    elif arrival == "periodic":
        arrivals = np.arange(requests) * interval_s
    else:
        raise InputError(f"arrival process must be 'poisson' or 'periodic', not {arrival!r}")
    ctx = TokenDistribution.parse(context_tokens).draw(rng, requests)
    return Workload(
        arrival_s=arrivals.astype(float, copy=False),
        context_tokens=ctx,
        question_tokens=np.broadcast_to(np.int64(question_tokens), (requests,)),
        answer_tokens=np.broadcast_to(np.int64(answer_tokens), (requests,)),
        deadline_s=np.broadcast_to(np.float64(deadline_s), (requests,)),
    )
