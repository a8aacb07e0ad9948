"""The closed form's shortcuts change no number: one request shape's costs as broadcasts
equal the per-request lookup, and a run with glibc's heap left as it is gives the same
records, bit for bit, as one with freed memory kept mapped (:mod:`sim.heap`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from sim.heap import keep_freed_memory
from sim.vectorized import _shape_costs, _shape_keys
from sim.workload import make_workload

REPO = Path(__file__).resolve().parents[2]


def test_one_shape_broadcasts_what_the_lookup_gives():
    part = make_workload(requests=50, seed=3, interval_s=1.0, context_tokens=170)
    keys = np.unique(_shape_keys(part))
    assert len(keys) == 1
    table = {"payload_bytes": np.array([123.0]), "edge_s": np.array([0.25])}
    fast = _shape_costs(keys, table, part)
    looked_up = {f: v[np.searchsorted(keys, _shape_keys(part))] for f, v in table.items()}
    for f in table:
        assert np.array_equal(fast[f], looked_up[f])
        assert fast[f].shape == (50,)


def test_several_shapes_are_looked_up():
    part = make_workload(requests=200, seed=4, interval_s=1.0, context_tokens="uniform:10:90")
    keys = np.unique(_shape_keys(part))
    assert len(keys) > 1
    table = {"edge_s": np.arange(len(keys), dtype=float)}
    got = _shape_costs(keys, table, part)["edge_s"]
    assert np.array_equal(got, np.searchsorted(keys, _shape_keys(part)).astype(float))


_RUN = """
import sys
from sim.scenario import Scenario
from sim.simulation import run
res = run(Scenario(policies=["int8", "scout"], trace="traces/lte.csv", requests=3000,
                   transport=sys.argv[1]))
res.requests.to_csv(sys.stdout, index=False)
"""


def test_kept_freed_memory_changes_no_record():
    assert keep_freed_memory() in (True, False)
    assert keep_freed_memory() == keep_freed_memory()  # once per process
    outs = []
    for keep in ("1", "0"):
        env = {**os.environ, "SCOUTSIM_KEEP_FREED_MEMORY": keep, "PYTHONPATH": str(REPO)}
        for transport in ("fluid", "tcp"):
            outs.append(subprocess.run([sys.executable, "-c", _RUN, transport], cwd=REPO,
                                       env=env, check=True, capture_output=True,
                                       text=True).stdout)
    assert outs[0] == outs[2] and outs[1] == outs[3]
    assert len(outs[0].splitlines()) == 6001
