"""A field's text as the dedupe stage reads it: trimmed, blank as missing, in Arrow."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def trimmed(column: pd.Series) -> pa.Array:
    """The values trimmed, null where blank; text (or blanks) goes straight into Arrow, other
    values (numbers, dates...) as their text."""
    try:
        array = pa.array(column, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(column.astype("str"))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)
