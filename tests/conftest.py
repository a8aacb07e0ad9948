"""Shared fixtures: paths, an ``ideal``-device scenario builder for analytic tests, and the
``--update-golden`` switch that rewrites the golden outputs in ``tests/golden/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def ideal_scenario(**kw) -> Scenario:
    """A scenario whose devices take zero time, so latencies are pure network."""
    base = dict(edge_device="ideal", cloud_device="ideal", quality_cache="none",
                count_return_latency=False, question_tokens=0, answer_tokens=1)
    base.update(kw)
    return Scenario(**base)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current code instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def shared_traces() -> Path:
    path = SHARED / "traces"
    if not path.exists():
        pytest.skip("../shared/traces is absent (tests that read real traces need it)")
    return path


# CI runs derandomised Hypothesis examples (reproducible); local runs explore new ones.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
