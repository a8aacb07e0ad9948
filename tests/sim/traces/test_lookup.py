"""The bucket index (:mod:`sim.traces.lookup`) gives ``np.searchsorted``'s insertion points,
exactly, on sorted arrays with repeats and clusters, keys on and between the values, both
sides; and hands back what it cannot answer."""

from __future__ import annotations

import numpy as np
import pytest

from sim.traces.lookup import BucketIndex, searchsorted


def _sorted_values(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    n = int(rng.integers(1, 400))
    gaps = rng.choice([0.0, 1e-12, 1e-3, 1.0, 50.0], size=n, p=[0.1, 0.05, 0.2, 0.5, 0.15])
    values = np.cumsum(gaps * rng.random(n))
    values -= values[0]
    return values, float(values[-1] + rng.random() + 1e-3)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("side", ["left", "right"])
def test_the_index_is_searchsorted(seed, side):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        values, high = _sorted_values(rng)
        index = BucketIndex(values, high, side)
        keys = np.concatenate([rng.random(500) * high, values, np.nextafter(values, -1.0),
                               np.nextafter(values, 2 * high), [0.0, high]])
        keys = keys[(keys >= 0) & (keys <= high)]
        got = index.search(keys)
        if not index.usable:
            assert got is None
            continue
        assert np.array_equal(got, np.searchsorted(values, keys, side=side))
        assert np.array_equal(searchsorted(index, "x", values, high, keys, side),
                              np.searchsorted(values, keys, side=side))


def test_keys_it_cannot_answer_go_back():
    values = np.array([0.0, 1.0, 2.5, 4.0])
    index = BucketIndex(values, 5.0, "right")
    for keys in ([-1e-9, 1.0], [1.0, 10.0], [np.nan, 2.0], [], [np.inf]):
        assert index.search(np.array(keys, dtype=float)) is None
    # the cached helper answers them all the same, through np.searchsorted
    holder = type("Holder", (), {})()
    keys = np.array([np.nan, -3.0, 0.5, 4.0, 9.0])
    for _ in range(2):
        assert np.array_equal(searchsorted(holder, "v", values, 5.0, keys, "right"),
                              np.searchsorted(values, keys, side="right"))


def test_clustered_values_are_left_to_searchsorted():
    values = np.concatenate(([0.0], np.full(50, 1.0), [3.0]))  # a 50-fold repeat
    index = BucketIndex(values, 4.0, "left")
    assert not index.usable
    assert index.search(np.array([0.5, 1.0])) is None


def test_the_index_is_built_only_for_enough_keys():
    holder = type("Holder", (), {})()
    values = np.linspace(0.0, 10.0, 101)
    searchsorted(holder, "v", values, 11.0, np.array([0.5, 3.0]), "right")
    assert "v" not in holder.__dict__.get("_bucket_index", {})
    keys = np.linspace(0.0, 11.0, 1000)
    assert np.array_equal(searchsorted(holder, "v", values, 11.0, keys, "right"),
                          np.searchsorted(values, keys, side="right"))
    assert "v" in holder._bucket_index
