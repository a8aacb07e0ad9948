"""Segment lookups on a sorted array by a bucket index: ``np.searchsorted``'s answers,
exactly, in a few passes over the keys instead of a binary search per key.

A binary search over a trace's few hundred segment starts costs ~30-40 ns per key in
``np.searchsorted`` (a mispredicted branch per level), which made the searches most of a
closed-form run's arithmetic. :class:`BucketIndex` cuts the key range into equal buckets
and stores, per bucket, the answer at a grid point at or below every key of the bucket
(computed by ``np.searchsorted`` itself); the answer for a key is that lower bound plus the
number of the next few sorted values that still count (``<=`` the key for ``side="right"``,
``<`` for ``"left"``): a count of comparisons with the sorted values themselves, so the
same integers as the search, with no rounding of its own. Keys outside the range (or NaN)
and sorted arrays whose buckets would hold too many values are left to
``np.searchsorted`` (:meth:`BucketIndex.search` returns None).
"""

from __future__ import annotations

import numpy as np

#: at most this many sorted values may lie within two buckets' span (else no index)
MAX_PER_BUCKETS = 6
#: buckets per sorted value, and their cap
BUCKETS_PER_VALUE = 4
MAX_BUCKETS = 1 << 22


class BucketIndex:
    """``np.searchsorted(values, keys, side)`` for keys in ``[0, high]`` (``values`` sorted,
    ``high`` positive and finite); ``usable`` is False where the values cluster too
    tightly for a small count per key."""

    def __init__(self, values: np.ndarray, high: float, side: str):
        self.side = side
        values = np.asarray(values, dtype=float)
        m = int(min(MAX_BUCKETS, max(1, BUCKETS_PER_VALUE * len(values))))
        self.scale = m / high  # key * scale: its bucket (up to rounding)
        # grid points b / scale for b = -1 .. m + 3; a key of bucket b (its position as
        # rounded, 0 <= b <= m + 1) lies at or above point b - 1 and at or below point
        # b + 2 (the rounding moves it by far less than a bucket)
        grid = np.arange(-1, m + 4, dtype=float) / self.scale
        at = np.searchsorted(values, grid, side=side)
        self.low = at[:m + 2]  # the answer at point b - 1, for b = 0 .. m + 1
        self.top = m + 1
        self.width = int(np.max(at[3:m + 5] - at[:m + 2])) if len(values) else 0
        self.usable = self.width <= MAX_PER_BUCKETS
        # the sorted values, padded so that low + width stays inside
        self.padded = np.concatenate((values, np.full(self.width + 1, np.inf)))

    def search(self, keys: np.ndarray) -> np.ndarray | None:
        """The insertion points of ``keys`` (1-D floats), or None when a key is outside
        ``[0, high]`` (NaN included) or the index is not usable."""
        if not self.usable or not keys.size:
            return None
        pos = keys * self.scale
        if not (pos.min() >= 0 and pos.max() <= self.top):  # NaN fails both
            return None
        j = self.low[pos.astype(np.intp)]
        if not self.width:
            return j
        padded, right = self.padded, self.side == "right"
        count = None
        for m in range(self.width):  # how many of the next values still count (int8 sums)
            hit = (padded[m:][j] <= keys) if right else (padded[m:][j] < keys)
            if count is None:
                count = hit.view(np.int8)
            else:
                count += hit.view(np.int8)
        j += count
        return j


def searchsorted(owner: object, name: str, values: np.ndarray, high: float, keys: np.ndarray,
                 side: str) -> np.ndarray:
    """``np.searchsorted(values, keys, side=side)`` for 1-D float ``keys``, through the
    :class:`BucketIndex` of ``values`` (keys in ``[0, high]``) cached on ``owner`` under
    ``name``: built once a call brings as many keys as the index would have buckets (its
    cost, about one search's), used by every call after that."""
    cache = owner.__dict__.setdefault("_bucket_index", {})
    index = cache.get(name)
    if index is None and keys.size >= BUCKETS_PER_VALUE * len(values):
        index = cache[name] = BucketIndex(values, high, side)
    out = None if index is None else index.search(keys)
    return np.searchsorted(values, keys, side=side) if out is None else out
