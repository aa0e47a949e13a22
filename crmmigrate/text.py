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


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # the ASCII characters str.isspace() counts


def strip(values: pa.Array) -> pa.Array:
    """Each value with what str.strip() takes off taken off. Arrow's Unicode trim agrees with
    str.strip(); its ASCII one leaves U+001C to U+001F, so the ASCII path (a quarter of the
    Unicode one's cost, for arrays that are all ASCII) names its characters."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return pc.ascii_trim(values, _ASCII_WHITESPACE)
    return pc.utf8_trim_whitespace(values)


def trimmed(column: pd.Series) -> pa.Array:
    """The values trimmed, null where blank."""
    array = strip(_arrow(column))
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
