"""Throughput and RTT estimators from what the sender has observed.

Each estimator consumes timestamped samples (one per completed transfer: its goodput in
bytes/s, or one RTT in s) in time order and predicts the next value at a time ``now``.
They never see the trace.

- ``ewma``: exponentially weighted moving average, ``x <- a*sample + (1-a)*x`` (a = 0.3).
- ``harmonic``: harmonic mean of the last ``k`` samples (robust to one fast outlier; the
  estimator of FESTIVE and MPC).
- ``min``: minimum of the last ``k`` samples (conservative).
- ``robust``: the harmonic mean divided by ``1 + max relative error`` of its last ``k``
  predictions (robustMPC, Yin et al. SIGCOMM 2015): it discounts itself after surprises.

Staleness. A sender that stops sending (e.g. answers locally after a bad spell) gets no new
samples, and a pessimistic estimate would then never be revised. Samples older than
``max_age_s`` (default 30 s) are therefore dropped, and with no recent sample every
estimator returns the long-run mean of all samples so far (the ``prior`` before the first).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from models.errors import InputError


class Estimator:
    """Base: ``update(sample, t_s)`` then ``estimate(now_s)``."""

    def __init__(self, prior: float, max_age_s: float = 30.0):
        self.prior = prior
        self.max_age_s = max_age_s
        self.count = 0
        self.total = 0.0
        self.last_t_s = -float("inf")

    def update(self, sample: float, t_s: float) -> None:
        self.count += 1
        self.total += sample
        self.last_t_s = t_s
        self._update(sample, t_s)

    def long_run(self) -> float:
        """Mean of every sample so far (the prior before any)."""
        return self.total / self.count if self.count else self.prior

    def stale(self, now_s: float) -> bool:
        return now_s - self.last_t_s > self.max_age_s

    def estimate(self, now_s: float) -> float:
        # ``stale`` written out: estimate is on every decision's path
        if now_s - self.last_t_s > self.max_age_s:
            return self.long_run()
        return self._estimate(now_s)

    def _update(self, sample: float, t_s: float) -> None:
        raise NotImplementedError

    def _estimate(self, now_s: float) -> float:
        raise NotImplementedError


class Ewma(Estimator):
    def __init__(self, prior: float, alpha: float = 0.3, max_age_s: float = 30.0):
        super().__init__(prior, max_age_s)
        if not 0 < alpha <= 1:
            raise InputError(f"EWMA alpha must be in (0, 1], not {alpha}")
        self.alpha = alpha
        self.value = prior

    def _update(self, sample: float, t_s: float) -> None:
        self.value = sample if self.count == 1 else (
            self.alpha * sample + (1 - self.alpha) * self.value)

    def _estimate(self, now_s: float) -> float:
        return self.value

    # the base class's update and estimate with their calls written out (the same
    # operations): every adaptive decision reads two EWMAs and feeds them a sample each
    def update(self, sample: float, t_s: float) -> None:
        self.count += 1
        self.total += sample
        self.last_t_s = t_s
        self.value = sample if self.count == 1 else (
            self.alpha * sample + (1 - self.alpha) * self.value)

    def estimate(self, now_s: float) -> float:
        if now_s - self.last_t_s > self.max_age_s:
            return self.long_run()
        return self.value


class Windowed(Estimator):
    """Keeps the last ``k`` (time, sample) pairs; subclasses reduce the recent ones."""

    def __init__(self, prior: float, k: int = 5, max_age_s: float = 30.0):
        super().__init__(prior, max_age_s)
        if k < 1:
            raise InputError(f"estimator window must be >= 1, not {k}")
        self.samples: deque[tuple[float, float]] = deque(maxlen=k)

    def _update(self, sample: float, t_s: float) -> None:
        self.samples.append((t_s, sample))

    def recent(self, now_s: float) -> list[float]:
        return [x for t, x in self.samples if now_s - t <= self.max_age_s]


class HarmonicMean(Windowed):
    def _estimate(self, now_s: float) -> float:
        xs = self.recent(now_s)
        if not xs:
            return self.long_run()
        if any(x <= 0 for x in xs):
            return 0.0
        return len(xs) / sum(1.0 / x for x in xs)


class WindowMin(Windowed):
    def _estimate(self, now_s: float) -> float:
        xs = self.recent(now_s)
        return min(xs) if xs else self.long_run()


class Robust(Estimator):
    """``base / (1 + max |error| / actual)`` over the last ``k`` recent predictions."""

    def __init__(self, base: Estimator, k: int = 5):
        super().__init__(base.prior, base.max_age_s)
        self.base = base
        self.errors: deque[tuple[float, float]] = deque(maxlen=k)

    def _update(self, sample: float, t_s: float) -> None:
        if self.base.count > 0 and sample > 0:
            predicted = self.base.estimate(t_s)
            self.errors.append((t_s, abs(predicted - sample) / sample))
        self.base.update(sample, t_s)

    def _estimate(self, now_s: float) -> float:
        errs = [e for t, e in self.errors if now_s - t <= self.max_age_s]
        return self.base.estimate(now_s) / (1.0 + (max(errs) if errs else 0.0))


ESTIMATORS: dict[str, Callable[..., Estimator]] = {
    "ewma": lambda prior, k, age: Ewma(prior, max_age_s=age),
    "harmonic": lambda prior, k, age: HarmonicMean(prior, k, age),
    "min": lambda prior, k, age: WindowMin(prior, k, age),
    "robust": lambda prior, k, age: Robust(HarmonicMean(prior, k, age), k),
}


def make_estimator(name: str, prior: float, k: int = 5, max_age_s: float = 30.0) -> Estimator:
    """Build an estimator by name (``ewma``, ``harmonic``, ``min``, ``robust``)."""
    if name not in ESTIMATORS:
        raise InputError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](prior, k, max_age_s)
