"""Records built from columns (:func:`sim.records.records_frame`) column by column, each in
its dtype, equal what ``pd.DataFrame(columns).astype(RECORD_DTYPES)`` made: the values,
the dtypes (text as ``str``), and the extra columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.records import RECORD_COLUMNS, RECORD_DTYPES, records_frame


def _columns(n: int, rng: np.random.Generator, text_arrays: bool) -> dict:
    cols: dict = {}
    for name in RECORD_COLUMNS:
        dtype = RECORD_DTYPES.get(name)
        if dtype is None:
            cols[name] = (np.array([f"{name}-{i % 3}" for i in range(n)], dtype=object)
                          if text_arrays else f"{name}-value")
        elif dtype == "bool":
            cols[name] = rng.random(n) < 0.5
        elif dtype == "int64":
            cols[name] = rng.integers(0, 10**9, n) if n % 2 else rng.integers(0, 99, n
                                                                              ).astype(float)
        else:
            cols[name] = np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 100)
    cols["estimate_mbps"] = np.nan  # one value for every record, as the engines give it
    cols["retention"] = 0.25
    cols["link_start_s"] = np.inf if n % 3 == 0 else cols["link_start_s"]
    return cols


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
@pytest.mark.parametrize("text_arrays", [False, True])
def test_records_frame_equals_the_frame_then_astype(n, text_arrays):
    rng = np.random.default_rng(n)
    cols = _columns(n, rng, text_arrays)
    old = pd.DataFrame(cols, columns=list(RECORD_COLUMNS), index=range(n)).astype(
        RECORD_DTYPES)
    new = records_frame(cols)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert list(new.dtypes) == list(old.dtypes)
    with_extra = records_frame(cols, "scout", trace="lte")
    assert list(with_extra.columns) == ["policy", *RECORD_COLUMNS, "trace"]
    pd.testing.assert_frame_equal(with_extra.iloc[:, 1:-1], old, check_exact=True)


def test_a_non_finite_number_in_an_integer_column_is_refused():
    cols = _columns(4, np.random.default_rng(0), False)
    cols["payload_bytes"] = np.array([1.0, np.nan, 3.0, 4.0])
    with pytest.raises(ValueError, match="payload_bytes"):
        records_frame(cols)
