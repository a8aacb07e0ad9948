"""Synthetic capacity traces: a two-state Markov chain with a capped lognormal AR(1).

Model (1-s samples; capacities in Mbit/s)
-----------------------------------------
- A two-state Markov chain, *good* / *outage*, one step per second. From good it enters an
  outage with probability ``p_outage_start`` per second; an outage ends with probability
  ``1 / mean_outage_s`` per second (geometric durations, mean ``mean_outage_s`` s).
- A latent Gaussian AR(1) ``z_t = phi z_{t-1} + sqrt(1 - phi^2) e_t`` (stationary N(0, 1)),
  running every second whatever the state.
- Capacity in second ``t``: in the good state ``Y_t = min(exp(mu + sigma_log z_t), max_mbps)``,
  a lognormal of mean ``mean_mbps_good`` (``mu = log(mean_mbps_good) - sigma_log^2 / 2``)
  capped at ``max_mbps``; ``outage_mbps`` in an outage.
- Optional RTT: i.i.d. lognormal per second with mean ``rtt_mean_ms`` and standard deviation
  ``rtt_jitter_ms``.

Fitting (:func:`fit_report`, moment matching)
---------------------------------------------
Each source trace is resampled to 1-s means (:func:`sim.traces.stats.resample_1s`) and the
seconds of all files are pooled (each second counts once; pairs of consecutive seconds never
straddle two files). Targets: pooled mean ``M``, variance ``V`` (so CV ``sqrt(V)/M``), lag-1
autocorrelation ``r`` (:func:`sim.traces.stats.lag1_autocorr`) and outage fraction ``pi``
(fraction of seconds below 0.1 Mbit/s).

1. *Outages*: outage seconds are those below 0.1 Mbit/s; ``outage_mbps`` (``c``) is their
   mean; ``mean_outage_s`` = outage seconds / number of outage runs (a run cut by a file's
   end counts as a run). ``max_mbps`` is the largest pooled 1-s capacity.
2. *Raw good-state estimates* (reported in the fit's ``raw`` diagnostics, not used as
   parameters): mean and sd of log capacity over good seconds, and the lag-1
   autocorrelation of log capacity over pairs of consecutive good seconds.
3. *Correction so that the mixture's moments match.* The raw log-space estimates do not
   reproduce the linear-space CV and lag-1 of the mixture (heavy tails, files of different
   levels pooled together, outages, the cap), so the parameters are solved numerically
   so that the model's *population* mean, variance, lag-1 autocorrelation and outage
   fraction equal the targets (:func:`model_moments`). With ``pi_c`` the chain's stationary
   outage probability, ``p_end = 1 / mean_outage_s`` and ``p_start = p_end pi_c / (1 - pi_c)``:

   - ``E[Y] = (M - pi_c c) / (1 - pi_c)`` and ``E[Y^2] = (V + M^2 - pi_c c^2) / (1 - pi_c)``
     give ``mu`` and ``sigma_log`` (closed-form capped-lognormal moments, nested root
     finding);
   - ``pi = pi_c + (1 - pi_c) P(Y < 0.1)`` (the lognormal's own low tail also counts as
     outage) gives ``pi_c`` by fixed-point iteration;
   - ``r V + M^2 = E[X_t X_t+1] = P_gg E[Y_t Y_t+1] + 2 pi_c p_end E[Y] c + P_oo c^2`` with
     ``P_gg = (1 - pi_c)(1 - p_start)``, ``P_oo = pi_c (1 - p_end)`` gives ``phi``
     (``E[Y_t Y_t+1]`` by quadrature over ``z_t`` of the closed-form conditional mean).

   When a target is out of the model's reach the parameter is clipped and ``exact`` is
   False (with a note saying which).

Generation (:func:`generate`) is deterministic for a seed: ``numpy.random.SeedSequence(seed)``
spawns independent streams for the AR(1) noise, the chain and the RTT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import brentq
from scipy.signal import lfilter
from scipy.stats import norm

from models.errors import InputError, unknown_name
from models.files import check_output_file
from sim.traces.stats import OUTAGE_MBPS, pooled_1s_stats, resample_1s
from sim.traces.trace import BYTES_PER_S_PER_MBPS, Trace

TRACES_DIR = Path(__file__).resolve().parents[2] / "traces"
DEFAULT_PARAMS = TRACES_DIR / "params.json"
"""Fitted parameters of the shipped kinds (``lte``, ``5g``, ``3g``, ``broadband``)."""

PHI_MAX = 0.999
MBPS_DECIMALS = 4  # generated capacities are rounded to 0.0001 Mbit/s (100 bit/s)
RTT_DECIMALS = 3


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of the synthetic model (see the module docstring).

    Attributes:
        mean_mbps_good: mean capacity in the good state, Mbit/s.
        sigma_log: standard deviation of log capacity in the good state (natural log).
        phi: lag-1 coefficient of the latent AR(1) of log capacity, per 1-s step.
        p_outage_start: probability per second of entering an outage from the good state.
        mean_outage_s: mean outage duration, s (geometric; >= 1).
        outage_mbps: capacity during an outage, Mbit/s (>= 0).
        max_mbps: cap on the good-state capacity, Mbit/s (the largest 1-s capacity of the
            sources when fitted), or None for no cap. ``mean_mbps_good`` is the mean of the
            lognormal *before* the cap.
        rtt_mean_ms: mean RTT, ms, or None for a trace without RTT.
        rtt_jitter_ms: standard deviation of the RTT, ms (None when ``rtt_mean_ms`` is).
    """

    mean_mbps_good: float
    sigma_log: float
    phi: float
    p_outage_start: float
    mean_outage_s: float
    outage_mbps: float
    max_mbps: float | None = None
    rtt_mean_ms: float | None = None
    rtt_jitter_ms: float | None = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> InputError:
            return InputError(f"synthetic parameters: {msg}")

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise bad(f"{f.name} must be a finite number, not {v!r}")
        if not self.mean_mbps_good > 0:
            raise bad(f"mean_mbps_good must be > 0, not {self.mean_mbps_good}")
        if self.sigma_log < 0:
            raise bad(f"sigma_log must be >= 0, not {self.sigma_log}")
        if not -1 < self.phi < 1:
            raise bad(f"phi must be in (-1, 1), not {self.phi}")
        if not 0 <= self.p_outage_start < 1:
            raise bad(f"p_outage_start must be in [0, 1), not {self.p_outage_start}")
        if self.mean_outage_s < 1:
            raise bad(f"mean_outage_s must be >= 1 s, not {self.mean_outage_s}")
        if self.outage_mbps < 0:
            raise bad(f"outage_mbps must be >= 0, not {self.outage_mbps}")
        if self.max_mbps is not None and not self.max_mbps > 0:
            raise bad(f"max_mbps must be > 0, not {self.max_mbps}")
        if (self.rtt_mean_ms is None) != (self.rtt_jitter_ms is None):
            raise bad("give both rtt_mean_ms and rtt_jitter_ms, or neither")
        if self.rtt_mean_ms is not None and (self.rtt_mean_ms <= 0 or self.rtt_jitter_ms < 0):
            raise bad("rtt_mean_ms must be > 0 and rtt_jitter_ms >= 0")

    @property
    def outage_fraction_chain(self) -> float:
        """Stationary probability of the chain's outage state."""
        p_end = 1.0 / self.mean_outage_s
        return self.p_outage_start / (self.p_outage_start + p_end)

    def to_dict(self) -> dict[str, float | None]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "parameters") -> SyntheticParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown synthetic parameter(s) {', '.join(unknown)}", source)
        try:
            return cls(**d)
        except TypeError as err:
            raise InputError(f"bad synthetic parameters: {err}", source) from None


# --------------------------------------------------------------------------- moments
_Z = np.linspace(-10.0, 10.0, 8001)  # quadrature grid for the lag-1 cross moment
_PDF = norm.pdf(_Z)


def _capped_mean(mu: np.ndarray | float, s: float, cap: float) -> np.ndarray | float:
    """E[min(exp(mu + s Z), cap)] for Z ~ N(0, 1) (``cap`` may be inf)."""
    mu = np.asarray(mu, dtype=float)
    if s <= 0:
        return np.minimum(np.exp(mu), cap)
    full = np.exp(mu + s * s / 2)
    if math.isinf(cap):
        return full
    lk = math.log(cap)
    return full * norm.cdf((lk - mu - s * s) / s) + cap * norm.sf((lk - mu) / s)


def _capped_m2(mu: float, s: float, cap: float) -> float:
    """E[min(exp(mu + s Z), cap)^2]."""
    if s <= 0:
        return min(math.exp(mu), cap) ** 2
    full = math.exp(2 * mu + 2 * s * s)
    if math.isinf(cap):
        return full
    lk = math.log(cap)
    return float(full * norm.cdf((lk - mu - 2 * s * s) / s) + cap * cap * norm.sf((lk - mu) / s))


def _capped_cross(mu: float, s: float, cap: float, phi: float) -> float:
    """E[Y_t Y_{t+1}] for ``Y = min(exp(mu + s z), cap)`` with ``z`` a unit AR(1) of lag-1
    coefficient ``phi``: closed form without a cap, else the conditional capped mean
    integrated over a fine grid of ``z_t``."""
    if s <= 0:
        return min(math.exp(mu), cap) ** 2
    if math.isinf(cap):
        return math.exp(2 * mu + s * s * (1 + phi))
    g = np.minimum(np.exp(mu + s * _Z), cap)
    inner = _capped_mean(mu + s * phi * _Z, s * math.sqrt(max(0.0, 1 - phi * phi)), cap)
    return float(trapezoid(g * inner * _PDF, _Z))


def _good_moments(p: SyntheticParams) -> tuple[float, float, float, float]:
    """Good-state (E[Y], E[Y^2], E[Y_t Y_t+1], P(Y < 0.1)) for parameters ``p``."""
    s = p.sigma_log
    mu = math.log(p.mean_mbps_good) - s * s / 2
    cap = math.inf if p.max_mbps is None else p.max_mbps
    return (float(_capped_mean(mu, s, cap)), _capped_m2(mu, s, cap),
            _capped_cross(mu, s, cap, p.phi), _p_below(mu, s, OUTAGE_MBPS))


def model_moments(p: SyntheticParams) -> dict[str, float]:
    """Population (stationary) statistics of the model's 1-s capacity series.

    Returns ``mean_mbps``, ``cv``, ``lag1_autocorr`` and ``outage_fraction`` (seconds below
    0.1 Mbit/s, counting both the chain's outages and the lognormal's own low tail).
    """
    pi = p.outage_fraction_chain
    p_end = 1.0 / p.mean_outage_s
    c = p.outage_mbps
    ey, ey2, eyy, q = _good_moments(p)
    mean = (1 - pi) * ey + pi * c
    var = (1 - pi) * ey2 + pi * c * c - mean * mean
    exx = (1 - pi) * (1 - p.p_outage_start) * eyy + 2 * pi * p_end * ey * c \
        + pi * (1 - p_end) * c * c
    lag1 = (exx - mean * mean) / var if var > 0 else float("nan")
    out = (1 - pi) * q + (pi if c < OUTAGE_MBPS else 0.0)
    return {"mean_mbps": mean, "cv": math.sqrt(max(var, 0.0)) / mean, "lag1_autocorr": lag1,
            "outage_fraction": out}


def _p_below(mu: float, s: float, x: float) -> float:
    """P(exp(mu + s Z) < x)."""
    if s <= 0:
        return float(math.exp(mu) < x)
    return float(norm.cdf((math.log(x) - mu) / s))


# --------------------------------------------------------------------------- fitting
@dataclass
class FitReport:
    """What :func:`fit_report` found: parameters, targets and diagnostics."""

    params: SyntheticParams
    target: dict[str, float]
    model: dict[str, float]
    raw: dict[str, float | None]
    exact: bool
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params.to_dict(), "target": self.target, "model": self.model,
                "raw": self.raw, "exact": self.exact, "notes": self.notes}


def _runs(mask: np.ndarray) -> int:
    """Number of runs of True in a boolean array."""
    if mask.size == 0:
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))


def _series_of(items: Sequence[Trace | np.ndarray]) -> list[np.ndarray]:
    out = []
    for it in items:
        x = resample_1s(it) if isinstance(it, Trace) else np.asarray(it, dtype=float)
        if x.size:
            out.append(x)
    return out


def _mu_for_mean(m1: float, s: float, cap: float) -> float:
    """``mu`` with E[min(exp(mu + s Z), cap)] = m1 (requires m1 < cap)."""
    base = math.log(m1) - s * s / 2
    if math.isinf(cap):
        return base
    lo, hi = base - 1.0, math.log(cap) + 10 * s + 10
    return brentq(lambda mu: float(_capped_mean(mu, s, cap)) - m1, lo, hi, xtol=1e-13)


def _solve_marginal(m1: float, m2: float, cap: float) -> tuple[float, float, bool]:
    """(mu, s, exact): the capped lognormal with mean ``m1`` and second moment ``m2``."""
    if m2 <= m1 * m1 * (1 + 1e-12):
        return math.log(m1), 0.0, m2 >= m1 * m1 * (1 - 1e-9)
    if math.isinf(cap):
        s = math.sqrt(math.log(m2 / (m1 * m1)))
        return _mu_for_mean(m1, s, cap), s, True

    def f(s: float) -> float:
        return _capped_m2(_mu_for_mean(m1, s, cap), s, cap) - m2

    s_hi = 6.0
    if f(s_hi) < 0:
        return _mu_for_mean(m1, s_hi, cap), s_hi, False
    s = brentq(f, 1e-6, s_hi, xtol=1e-12)
    return _mu_for_mean(m1, s, cap), s, True


def _outages(xs: list[np.ndarray], allx: np.ndarray) -> tuple[int, int, float, float]:
    """(outage seconds, outage runs, mean outage capacity, mean outage length in s)."""
    out_masks = [x < OUTAGE_MBPS for x in xs]
    n_out = int(sum(m.sum() for m in out_masks))
    n_runs = sum(_runs(m) for m in out_masks)
    c = float(allx[allx < OUTAGE_MBPS].mean()) if n_out else 0.0
    mean_outage_s = max(1.0, n_out / n_runs) if n_runs else 1.0
    return n_out, n_runs, c, mean_outage_s


def _log_lag1(xs: list[np.ndarray], logs_good: np.ndarray) -> float | None:
    """Lag-1 autocorrelation of log capacity over consecutive good seconds (None if undefined)."""
    lm, lv = float(logs_good.mean()), float(logs_good.var())
    num, pairs = 0.0, 0
    for x in xs:
        ok = (x[:-1] >= OUTAGE_MBPS) & (x[1:] >= OUTAGE_MBPS)
        if ok.any():
            a, b = np.log(x[:-1][ok]) - lm, np.log(x[1:][ok]) - lm
            num += float(np.dot(a, b))
            pairs += int(ok.sum())
    if pairs and lv > 0:
        return num / pairs / lv
    return None


def _raw_estimates(xs: list[np.ndarray], n_out: int, n_runs: int) -> dict[str, float | None]:
    """Raw log-space estimates over the good seconds, and the outage counts."""
    good = [x[x >= OUTAGE_MBPS] for x in xs]
    logs_good = np.log(np.concatenate(good)) if sum(g.size for g in good) else np.zeros(0)
    raw: dict[str, float | None] = {
        "log_mean_good": float(logs_good.mean()) if logs_good.size else None,
        "sigma_log_raw": float(logs_good.std()) if logs_good.size else None,
        "phi_log_raw": None,
        "outage_seconds": n_out,
        "outage_runs": n_runs,
    }
    if logs_good.size > 1:
        raw["phi_log_raw"] = _log_lag1(xs, logs_good)
    return raw


def _solve_mixture(M: float, V: float, pi: float, c: float, max_mbps: float,
                   notes: list[str]) -> tuple[float, float, float]:
    """(chain outage fraction, mu, s) matching mean ``M`` and variance ``V``; notes misses."""
    ex2 = V + M * M
    pi_c = pi
    for _ in range(100):  # fixed point on the chain's outage fraction
        pi_c = min(pi_c, 0.99)
        m1 = (M - pi_c * c) / (1 - pi_c)
        m2 = (ex2 - pi_c * c * c) / (1 - pi_c)
        mu, s, ok = _solve_marginal(m1, m2, max_mbps)
        q = _p_below(mu, s, OUTAGE_MBPS)
        new = max(0.0, (pi - q) / (1 - q)) if q < 1 else 0.0
        done = abs(new - pi_c) < 1e-12
        pi_c = new
        if done:
            break
    m1 = (M - pi_c * c) / (1 - pi_c)
    mu, s, ok = _solve_marginal(m1, (ex2 - pi_c * c * c) / (1 - pi_c), max_mbps)
    if not ok:
        notes.append("the capped lognormal cannot reach the target variance; sigma_log clipped")
    if pi_c == 0.0 and pi < _p_below(mu, s, OUTAGE_MBPS) - 1e-9:
        notes.append("the lognormal's own tail below 0.1 Mbit/s exceeds the target outage "
                     "fraction; no chain outages")
    return pi_c, mu, s


def _outage_entry(p_end: float, pi_c: float, notes: list[str]) -> tuple[float, float]:
    """(outage entry probability, chain outage fraction), the probability clipped below 1."""
    p_start = p_end * pi_c / (1 - pi_c) if pi_c > 0 else 0.0
    if p_start >= 1:
        notes.append("outage entry probability clipped to 0.999")
        p_start = 0.999
        pi_c = p_start / (p_start + p_end)
    return p_start, pi_c


def _solve_phi(mu: float, s: float, max_mbps: float, yy: float, notes: list[str]) -> float:
    """The good state's log AR(1) coefficient whose lag-1 cross moment is ``yy`` (clipped)."""
    phi = 0.0
    if s > 0:
        def h(ph: float) -> float:
            return _capped_cross(mu, s, max_mbps, ph) - yy

        if h(PHI_MAX) < 0:
            phi = PHI_MAX
            notes.append(f"target lag-1 beyond reach: phi clipped to {PHI_MAX}")
        elif h(-PHI_MAX) > 0:
            phi = -PHI_MAX
            notes.append(f"target lag-1 beyond reach: phi clipped to {-PHI_MAX}")
        else:
            phi = brentq(h, -PHI_MAX, PHI_MAX, xtol=1e-13)
    return phi


def fit_report(traces: Sequence[Trace | np.ndarray], *, cap: bool = True) -> FitReport:
    """Fit the model to traces (or to 1-s series in Mbit/s) by moment matching.

    See the module docstring for the method. ``cap`` (default) caps the good state at the
    largest 1-s capacity of the sources (``max_mbps``). Raises :class:`InputError` when
    there is nothing to fit (no whole second of data, or zero capacity throughout).
    """
    xs = _series_of(traces)
    if not xs:
        raise InputError("nothing to fit: the traces have no whole second of data")
    target = pooled_1s_stats(xs)
    allx = np.concatenate(xs)
    M = target["mean_mbps"]
    if not M > 0:
        raise InputError("nothing to fit: the traces carry no data")
    V = float(allx.var())
    r = target["lag1_autocorr"]
    r = 0.0 if math.isnan(r) else r
    pi = target["outage_fraction"]
    notes: list[str] = []  # one per approximation: the fit is exact when there are none

    # 1. outages from run lengths
    n_out, n_runs, c, mean_outage_s = _outages(xs, allx)
    p_end = 1.0 / mean_outage_s
    max_mbps = float(allx.max()) if cap else math.inf
    # 2. raw log-space estimates over good seconds
    raw = _raw_estimates(xs, n_out, n_runs)
    # 3. solve the mixture's moments, then the lag-1 autocorrelation
    pi_c, mu, s = _solve_mixture(M, V, pi, c, max_mbps, notes)
    p_start, pi_c = _outage_entry(p_end, pi_c, notes)
    p_gg = (1 - pi_c) * (1 - p_start)
    ey = float(_capped_mean(mu, s, max_mbps))
    yy = (r * V + M * M - 2 * pi_c * p_end * ey * c - pi_c * (1 - p_end) * c * c) / p_gg
    phi = _solve_phi(mu, s, max_mbps, yy, notes)
    params = SyntheticParams(
        mean_mbps_good=math.exp(mu + s * s / 2), sigma_log=s, phi=phi, p_outage_start=p_start,
        mean_outage_s=mean_outage_s, outage_mbps=c,
        max_mbps=None if math.isinf(max_mbps) else max_mbps, **_fit_rtt(traces))
    return FitReport(params, target, model_moments(params), raw, not notes, notes)


def _fit_rtt(traces: Sequence[Trace | np.ndarray]) -> dict[str, float | None]:
    """Time-weighted RTT mean and sd (ms) when every input is a trace with RTT."""
    ts = [t for t in traces if isinstance(t, Trace)]
    if not ts or len(ts) != len(traces) or any(t.rtt_s is None for t in ts):
        return {}
    w = np.concatenate([np.diff(np.append(t.times_s, t.duration_s)) for t in ts])
    v = np.concatenate([t.rtt_s for t in ts]) * 1e3
    mean = float(np.dot(w, v) / w.sum())
    if not mean > 0:
        return {}
    sd = math.sqrt(float(np.dot(w, (v - mean) ** 2) / w.sum()))
    return {"rtt_mean_ms": mean, "rtt_jitter_ms": sd}


def fit(traces: Sequence[Trace | np.ndarray]) -> SyntheticParams:
    """Fitted :class:`SyntheticParams` (see :func:`fit_report` for the diagnostics)."""
    return fit_report(traces).params


# --------------------------------------------------------------------------- generation
def _chain(p: SyntheticParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """Outage indicator for ``n`` seconds (stationary start, geometric sojourns)."""
    out = np.zeros(n, dtype=bool)
    if p.p_outage_start <= 0:
        return out
    p_end = 1.0 / p.mean_outage_s
    state = bool(rng.random() < p.outage_fraction_chain)
    t = 0
    while t < n:
        d = int(rng.geometric(p_end if state else p.p_outage_start))
        if state:
            out[t:t + d] = True
        t += d
        state = not state
    return out


def generate_series(p: SyntheticParams, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` 1-s capacity samples (Mbit/s) and RTTs (ms, or None), rounded as written."""
    ss = np.random.SeedSequence(seed)
    s_z, s_chain, s_rtt = ss.spawn(3)
    e = np.random.default_rng(s_z).standard_normal(n)
    if n > 1 and p.phi != 0:
        rest, _ = lfilter([math.sqrt(1 - p.phi**2)], [1.0, -p.phi], e[1:], zi=[p.phi * e[0]])
        z = np.concatenate(([e[0]], rest))
    else:
        z = e
    mu = math.log(p.mean_mbps_good) - p.sigma_log**2 / 2
    mbps = np.exp(mu + p.sigma_log * z)
    if p.max_mbps is not None:
        mbps = np.minimum(mbps, p.max_mbps)
    outage = _chain(p, n, np.random.default_rng(s_chain))
    mbps = np.where(outage, p.outage_mbps, mbps)
    mbps = np.array([float(f"{v:.{MBPS_DECIMALS}f}") for v in mbps])
    rtt = None
    if p.rtt_mean_ms is not None:
        cv2 = (p.rtt_jitter_ms / p.rtt_mean_ms) ** 2
        sr = math.sqrt(math.log1p(cv2))
        r = p.rtt_mean_ms * np.exp(sr * np.random.default_rng(s_rtt).standard_normal(n)
                                   - sr * sr / 2)
        rtt = np.array([float(f"{v:.{RTT_DECIMALS}f}") for v in r])
    return mbps, rtt


def generate(p: SyntheticParams, duration_s: float, seed: int, *,
             name: str = "synthetic") -> Trace:
    """A synthetic trace of ``ceil(duration_s)`` 1-s samples, deterministic for ``seed``.

    Capacities are rounded to 0.0001 Mbit/s and RTTs to 0.001 ms, exactly as
    :func:`write_csv` writes them, so the trace equals the file read back.
    """
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise InputError(f"duration must be a positive number of seconds, not {duration_s}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    n = int(math.ceil(duration_s))
    mbps, rtt = generate_series(p, n, int(seed))
    if not mbps.any():
        raise InputError("generated trace has zero capacity throughout; check the parameters")
    return Trace.from_arrays(np.arange(n, dtype=float), mbps * BYTES_PER_S_PER_MBPS,
                             None if rtt is None else rtt / 1e3, last_duration_s=1.0,
                             name=name)


def csv_text(trace: Trace) -> str:
    """A 1-s synthetic trace as canonical CSV text with fixed decimals: ``time_s`` as
    integers, ``bandwidth_mbps`` with 4 decimals, ``rtt_ms`` with 3 (same trace, same
    bytes on every machine)."""
    has_rtt = trace.rtt_s is not None
    if not np.round(trace.capacity_bytes_per_s / BYTES_PER_S_PER_MBPS, MBPS_DECIMALS).any():
        raise InputError(f"the generated trace rounds to 0 Mbit/s ({MBPS_DECIMALS} decimals) "
                         "in every sample; check the parameters", trace.name)
    lines = ["time_s,bandwidth_mbps" + (",rtt_ms" if has_rtt else "")]
    for i, t in enumerate(trace.times_s):
        row = f"{t:.0f},{trace.capacity_bytes_per_s[i] / BYTES_PER_S_PER_MBPS:.{MBPS_DECIMALS}f}"
        if has_rtt:
            row += f",{trace.rtt_s[i] * 1e3:.{RTT_DECIMALS}f}"
        lines.append(row)
    return "\n".join(lines) + "\n"


def write_csv(trace: Trace, path: str | Path) -> None:
    """Write :func:`csv_text` of ``trace`` to ``path`` (temp + rename; only ever over a
    regular file)."""
    path = check_output_file(path, "trace")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(csv_text(trace))
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write trace: {err}", str(path)) from None


# --------------------------------------------------------------------------- kinds
def _read_json(path: Path) -> Any:
    """A parameter file's JSON; InputError naming the file when it is missing or bad."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("parameter file not found", str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read parameters: {err}", str(path)) from None


def load_kinds(path: str | Path = DEFAULT_PARAMS) -> dict[str, dict[str, Any]]:
    """The ``kinds`` table of a parameter file (``traces/params.json`` by default)."""
    path = Path(path)
    data = _read_json(path)
    kinds = data.get("kinds") if isinstance(data, dict) else None
    if not isinstance(kinds, dict):
        raise InputError("no 'kinds' table", str(path))
    return kinds


def kind_params(kind: str, path: str | Path = DEFAULT_PARAMS) -> SyntheticParams:
    """Fitted parameters of a shipped kind (``lte``, ``5g``, ``3g``, ``broadband``)."""
    kinds = load_kinds(path)
    if kind not in kinds:
        raise unknown_name("trace kind", kind, list(kinds))
    return SyntheticParams.from_dict(kinds[kind]["params"], str(path))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def drop_shared_second_rows(trace: Trace, below_mbps: float) -> Trace:
    """Remove the low rows that share a wall-clock second with another row, closing the gaps.

    For G-NetTrack logs (read by :mod:`sim.traces.gnettrack`, which spreads the ``k`` rows
    of one second over ``[s + j/k, s + (j+1)/k)``): a row that shares its second is a segment
    shorter than 1 s or starting at a fractional second. In the UCC 5G bulk-download logs
    those rows sit at the restart between two downloads of the download loop, at ~0 kbit/s;
    they are the application's pause, not the radio's. Segments below ``below_mbps``
    (Mbit/s) that share a second are cut out and the rest is spliced together.
    """
    seg = np.diff(np.append(trace.times_s, trace.duration_s))
    mbps = trace.capacity_bytes_per_s / BYTES_PER_S_PER_MBPS
    shared = (seg < 1 - 1e-6) | (np.abs(trace.times_s - np.round(trace.times_s)) > 1e-6)
    keep = ~(shared & (mbps < below_mbps))
    if not keep.any():
        raise InputError("every row would be dropped", trace.name)
    seg_k = seg[keep]
    times = np.concatenate(([0.0], np.cumsum(seg_k)[:-1]))
    rtt = None if trace.rtt_s is None else trace.rtt_s[keep]
    return Trace.from_arrays(times, trace.capacity_bytes_per_s[keep], rtt,
                             last_duration_s=float(seg_k[-1]), end=trace.end, name=trace.name)


def read_source(src: dict[str, Any], root: str | Path) -> Trace:
    """Read one source of a kind (``{"path", "format", "direction", "select",
    "cooked_convention", "drop_shared_second_below_mbps"}``; path relative to ``root``, i.e.
    ../shared/traces). The shipped ``broadband`` kind was fitted with its FCC cooked files
    read ``from-timestamp`` (scoutsim's reading then), and ``params.json`` says so."""
    from sim.traces import read_trace

    t = read_trace(Path(root) / src["path"], fmt=src.get("format"),
                   direction=src.get("direction", "up"), columns=src.get("columns"),
                   select=src.get("select"),
                   cooked_convention=src.get("cooked_convention", "pensieve"))
    below = src.get("drop_shared_second_below_mbps")
    if below is not None:
        t = drop_shared_second_rows(t, float(below))
    return t


def kind_source_series(kind: dict[str, Any], root: str | Path) -> list[np.ndarray]:
    """The 1-s series (Mbit/s) a kind is fitted to: each source read, cleaned, resampled to
    1-s means and multiplied by the kind's ``scale`` (an uplink/downlink ratio, or 1)."""
    scale = float(kind.get("scale", 1.0))
    return [resample_1s(read_source(src, root)) * scale for src in kind["sources"]]


def params_from_file(path: str | Path, kind: str | None = None) -> SyntheticParams:
    """Parameters from a JSON file: a kinds file (pick ``kind``), a ``fit --json`` output
    (``{"params": {...}, ...}``) or a bare parameter object."""
    p = Path(path)
    data = _read_json(p)
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", str(p))
    if "kinds" in data:
        if kind is None:
            raise InputError(f"file holds several kinds ({', '.join(data['kinds'])}); "
                             "pick one with --kind", str(p))
        return kind_params(kind, p)
    if "params" in data and isinstance(data["params"], dict):
        data = data["params"]
    return SyntheticParams.from_dict(data, str(p))


__all__ = [
    "DEFAULT_PARAMS", "FitReport", "SyntheticParams", "fit", "fit_report", "generate",
    "generate_series", "kind_params", "kind_source_series", "load_kinds", "model_moments",
    "params_from_file", "write_csv",
]
