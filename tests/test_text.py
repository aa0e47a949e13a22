"""Text columns in Arrow: trimmed blanks, and membership as pandas' isin answers it."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from crmmigrate.text import among, trimmed

words = st.one_of(st.none(), st.text("ab \u00e9", max_size=3))


@given(st.lists(words, max_size=30), st.lists(st.text("ab \u00e9", max_size=3), max_size=10))
def test_among_is_pandas_isin_for_text(values, wanted):
    for dtype in ("str", object):
        column = pd.Series(values, dtype=dtype, index=range(100, 100 + len(values)))
        expected = pd.Series([v is not None and v in set(wanted) for v in values], index=column.index)
        pd.testing.assert_series_equal(among(column, wanted), expected, check_dtype=False)
        pd.testing.assert_series_equal(among(column, pd.Series(wanted, dtype="str")), expected, check_dtype=False)


def test_trimmed_makes_blanks_missing_and_numbers_text():
    assert trimmed(pd.Series([" a ", "", "  ", None, "b"], dtype=object)).to_pylist() == ["a", None, None, None, "b"]
    assert trimmed(pd.Series([1, 2], dtype=object)).to_pylist() == ["1", "2"]
