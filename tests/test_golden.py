"""Golden outputs: the default run's JSON summary, one sweep's rows, one network run's
records, compared byte for byte with ``tests/golden/``.

A deliberate change of results rewrites them: ``python -m pytest tests/test_golden.py
--update-golden``, then review ``git diff tests/golden`` and commit it with the change that
moved them (the diff is the record of what moved).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

GOLDEN = Path(__file__).parent / "golden"
ENV_KEYS = ("PATH", "HOME", "LANG", "SYSTEMROOT")


def _check(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text)
        pytest.skip(f"rewrote {path}")
    assert path.exists(), f"{path} missing: run pytest tests/test_golden.py --update-golden"
    expected = path.read_text()
    if text != expected:
        diff = [f"line {i + 1}: expected {a!r}, got {b!r}" for i, (a, b) in
                enumerate(zip(expected.splitlines(), text.splitlines(), strict=False)) if a != b]
        pytest.fail(f"{name} differs from the golden output ({len(diff)} lines differ; "
                    "--update-golden rewrites it if the change is intended):\n"
                    + "\n".join(diff[:10]))


def _cli(*args: str, cwd: Path = REPO) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k in ENV_KEYS}
    env.update(OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(REPO), PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout


def test_default_scenario_json(update_golden):
    """``python -m sim.run --json``: the README's default scenario."""
    _check("default_scenario.json", _cli("-m", "sim.run", "--json"), update_golden)


def test_sweep_rows(tmp_path, update_golden):
    """``python -m experiments.sweep`` on a small spec: rows.csv."""
    spec = tmp_path / "golden.toml"
    spec.write_text('[sweep]\nname = "golden"\nseed = 3\nreplications = 2\n'
                    '[fixed]\npolicies = ["int8", "scout", "adaptive", "edge-local"]\n'
                    'requests = 60\ntrace = "traces/3g.csv"\n'
                    '[axes]\ndeadline_s = [1.0, 4.0]\n')
    _cli("-m", "experiments.sweep", str(spec), "--out", str(tmp_path / "out"), "--quiet")
    _check("sweep_rows.csv", (tmp_path / "out" / "rows.csv").read_text(), update_golden)


def test_network_run(tmp_path, update_golden):
    """``python -m sim.run --users 5 --cloud-serving continuous``: requests.csv."""
    _cli("-m", "sim.run", "--users", "5", "--cloud-serving", "continuous", "--requests", "25",
         "--policy", "int8,scout,mpc,edge-local", "--out", str(tmp_path / "net"))
    _check("network_requests.csv", (tmp_path / "net" / "requests.csv").read_text(),
           update_golden)
