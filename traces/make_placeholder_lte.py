"""Generate the placeholder ``traces/lte.csv`` (until the fitted generators of the trace
issue replace it). Run from the repo root: ``python traces/make_placeholder_lte.py``.

Model: 1-s samples, log-capacity AR(1) (lag-1 coefficient PHI) with lognormal marginal of
mean MEAN_MBPS and coefficient of variation CV, plus an on/off Markov outage process
(stationary outage fraction OUTAGE_FRACTION, mean outage MEAN_OUTAGE_S) during which the
capacity is OUTAGE_MBPS. Targets were read by hand off the NYU-METS LTE trace ``7Train1.csv``
(iPerf uplink from an LTE phone; 1 sample/s): mean 6.81 Mbit/s, CV 0.81, lag-1
autocorrelation 0.885, 1.0% of seconds below 0.1 Mbit/s.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SEED = 20261129
DURATION_S = 600
MEAN_MBPS = 6.81
CV = 0.81
PHI = 0.9
OUTAGE_FRACTION = 0.01
MEAN_OUTAGE_S = 3.0
OUTAGE_MBPS = 0.05


def generate(seed: int = SEED, duration_s: int = DURATION_S) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log(1 + CV**2))
    mu = math.log(MEAN_MBPS) - sigma**2 / 2
    z = np.empty(duration_s)
    z[0] = rng.normal()
    for i in range(1, duration_s):
        z[i] = PHI * z[i - 1] + math.sqrt(1 - PHI**2) * rng.normal()
    mbps = np.exp(mu + sigma * z)
    p_end = 1 / MEAN_OUTAGE_S
    p_start = p_end * OUTAGE_FRACTION / (1 - OUTAGE_FRACTION)
    out = False
    for i in range(duration_s):
        out = (rng.random() >= p_end) if out else (rng.random() < p_start)
        if out:
            mbps[i] = OUTAGE_MBPS
    return mbps


if __name__ == "__main__":
    mbps = generate()
    path = Path(__file__).with_name("lte.csv")
    with open(path, "w") as f:
        f.write("time_s,bandwidth_mbps\n")
        for i, v in enumerate(mbps):
            f.write(f"{i},{v:.4f}\n")
    print(f"wrote {path}: mean {mbps.mean():.2f} Mbit/s, CV {mbps.std() / mbps.mean():.2f}, "
          f"lag-1 {np.corrcoef(mbps[:-1], mbps[1:])[0, 1]:.2f}, "
          f"outage {np.mean(mbps < 0.1):.3f}")
