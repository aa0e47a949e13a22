"""Text columns in Arrow, where pandas' own ways are slow at a million rows."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(column: pd.Series) -> pa.Array:
    """The column as Arrow text: text (or blanks) straight in, other values (numbers, dates...)
    as their text."""
    try:
        array = pa.array(column, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(column.astype("str"), type=pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def trimmed(column: pd.Series) -> pa.Array:
    """The values trimmed, null where blank."""
    array = pc.utf8_trim_whitespace(_arrow(column))
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def among(column: pd.Series, values: Iterable | pa.Array) -> pd.Series:
    """`column.isin(values)` for text (True where the value is one of `values`, which may be
    Arrow text; a missing value is in none): pandas' isin on its text dtype makes an Arrow
    scalar of every value it is given, seconds for a few hundred thousand."""
    if isinstance(values, pa.Array):
        wanted = values.cast(pa.large_string())
    else:
        listed = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        wanted = _arrow(listed.dropna())
    found = pc.is_in(_arrow(column), value_set=wanted, skip_nulls=True)
    return pd.Series(pc.fill_null(found, False).to_numpy(zero_copy_only=False), index=column.index)
