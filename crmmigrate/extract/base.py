"""What every reader shares: the source description, the report, rejects, and the frame shape.

A reader turns one source into DataFrame chunks of strings. Typing is the mapping's job, so a
reader never guesses a type; it only turns a typed cell (Excel, JSON, SQL) into its plain text.
Every row carries the provenance columns of the canonical model.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from crmmigrate.config import Strict
from crmmigrate.errors import BadUsage, InputBeyondLimits, MalformedInput
from crmmigrate.model import PROVENANCE

_NULL = pa.scalar(None, pa.large_string())
# Arrow text as pandas' string dtype (NaN for missing), for every extractor that hands over Arrow.
STR_TYPES = {pa.large_string(): pd.StringDtype("pyarrow", na_value=float("nan"))}

Format = Literal["csv", "excel", "json", "jsonl", "sql", "parquet"]

DEFAULT_CHUNK_ROWS = 100_000
HEADER_SCAN_ROWS = 30


class ReadOptions(Strict):
    """Every choice about reading a source that can be forced instead of detected, defined
    once: a mapping's `source:` holds these, and the command line's source options are these
    (tests/test_source_options.py holds them to it)."""

    name: str | None = Field(None, description="source name recorded in provenance")
    format: Format | None = Field(None, description="forced format; detected when not given")
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = Field(
        None, ge=0, description="1-based row of the header; 0 means the file has none"
    )
    sheet: str | None = Field(None, description="Excel sheet name, or its number from 1")
    records: str | None = Field(None, description="JSON: dotted path to the array of records")
    table: str | None = None
    query: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
        value = named.get(value.lower(), value)
        if len(value) != 1:
            raise ValueError(f"a delimiter is one character (or tab), not {value!r}")
        return value


class Source(ReadOptions):
    """Where records come from and every choice that can be forced about how to read them."""

    location: str = Field(description="file path, or a SQLAlchemy URL for a database")
    chunk_rows: int = Field(DEFAULT_CHUNK_ROWS, ge=1)

    @property
    def is_url(self) -> bool:
        return "://" in self.location


@dataclass
class Reject:
    """A row that could not become a record, kept with where it was and why."""

    source: str
    file: str
    row: str
    reason: str
    raw: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


REJECT_COLUMNS = ("_source", "_file", "_row", "reason", "raw")


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def describe_delimiter(delimiter: str) -> str:
    name = DELIMITER_NAMES.get(delimiter)
    return f"{delimiter!r} ({name})" if name else repr(delimiter)


# What an ExtractReport counts, as opposed to what it says was chosen.
_COUNTS = ("rows", "rejected", "skipped_blank", "skipped_above_header")


@dataclass
class ExtractReport:
    """What was read and every choice made while reading it, forced or detected."""

    source: str
    file: str
    format: str
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    encoding_confidence: float | None = None
    encoding_forced: bool = False
    delimiter: str | None = None
    delimiter_forced: bool = False
    header_row: int | None = None
    header_forced: bool = False
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    records_path: str | None = None
    rejected: int = 0
    skipped_blank: int = 0
    skipped_above_header: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def combine(cls, parts: Sequence[ExtractReport]) -> ExtractReport:
        """The report of a source read in parts (crmmigrate.extract.partitions): the parts'
        counts added up. Every other field is a choice made once for the whole source, so the
        parts must agree on it."""
        if not parts:
            raise ValueError("a source is read in one part at least")
        whole = replace(parts[0], columns=list(parts[0].columns), sheets=list(parts[0].sheets),
                        notes=list(parts[0].notes))
        choices = {k: v for k, v in parts[0].as_dict().items() if k not in _COUNTS}
        for part in parts[1:]:
            if {k: v for k, v in part.as_dict().items() if k not in _COUNTS} != choices:
                raise ValueError(f"the reports of {whole.file} differ in more than counts")
            for name in _COUNTS:
                setattr(whole, name, getattr(whole, name) + getattr(part, name))
        return whole

    def describe(self) -> str:
        """How the source was read, on one line, each choice marked forced or detected."""

        def how(forced: bool) -> str:
            return "forced" if forced else "detected"

        parts = [f"read {self.file} as {self.format}"]
        if self.encoding:
            encoding = how(self.encoding_forced)
            if self.encoding_confidence is not None and not self.encoding_forced:
                encoding += f", confidence {self.encoding_confidence:.2f}"
            parts.append(f"encoding {self.encoding} ({encoding})")
        if self.delimiter:
            parts.append(
                f"delimiter {describe_delimiter(self.delimiter)} ({how(self.delimiter_forced)})"
            )
        if self.sheet:
            parts.append(f"sheet {self.sheet}")
        if self.records_path:
            parts.append(f"records {self.records_path}")
        if self.header_row == 0:
            parts.append("no header row")
        elif self.header_row is not None:
            parts.append(f"header row {self.header_row} ({how(self.header_forced)})")
        parts.append(f"{self.rows:,} rows")
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected (run extract to see them)")
        return "; ".join(parts)


class Extraction(ABC):
    """One source being read. Iterate `chunks()`; `report` and `rejects` are complete after."""

    def __init__(self, source: Source, *, name: str, file: str, format: Format) -> None:
        self.source = source
        self.report = ExtractReport(source=name, file=file, format=format)
        self.rejects: list[Reject] = []
        self._done = False

    @property
    def name(self) -> str:
        return self.report.source

    @abstractmethod
    def _chunks(self) -> Iterator[pd.DataFrame]:
        """Yield frames built with `self.frame(...)`; fill the report as reading goes."""

    def chunks(self) -> Iterator[pd.DataFrame]:
        if self._done:
            raise RuntimeError("an Extraction can be read once; open the source again")
        for chunk in self._chunks():
            self.report.rows += len(chunk)
            yield chunk
        self.report.rejected = len(self.rejects)
        self._done = True

    def read(self) -> pd.DataFrame:
        """The whole source as one frame (use `chunks()` for files larger than memory)."""
        frames = list(self.chunks())
        if not frames:
            return self.frame(self.report.columns, [], [])
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def reject(self, row: int | str, reason: str, raw: str) -> None:
        self.rejects.append(Reject(self.name, self.report.file, str(row), reason, raw))

    def frame(
        self, columns: Sequence[str], rows: Sequence[Sequence[str | None]], locators: Sequence[str]
    ) -> pd.DataFrame:
        """A chunk: the source columns as strings, then the provenance columns."""
        count, width = len(rows), len(columns)
        if any(len(row) != width for row in rows):
            raise ValueError("every row must have one value per column")
        # Every value in one Arrow array, row after row, then each column taken from it (into
        # memory of its own, which a column kept alone does not hold the others by): no Python
        # tuple per column (zip(*rows)), and one conversion instead of one per column.
        flat = pa.array(list(itertools.chain.from_iterable(rows)), type=pa.large_string())
        # An empty CSV field, an empty Excel cell and a JSON null all mean: no value.
        flat = pc.if_else(pc.equal(flat, ""), _NULL, flat)
        positions = np.arange(count * width, dtype=np.int64).reshape(count, width)
        arrays = [flat.take(pa.array(positions[:, at])) for at in range(width)]
        arrays.append(pa.array([self.name] * count, type=pa.large_string()))
        arrays.append(pa.array([self.report.file] * count, type=pa.large_string()))
        arrays.append(pa.array(list(locators), type=pa.large_string()))
        table = pa.Table.from_arrays(arrays, names=[*columns, *PROVENANCE])
        return table.to_pandas(types_mapper=STR_TYPES.get)


def rejects_frame(rejects: Sequence[Reject]) -> pd.DataFrame:
    return pd.DataFrame(
        [(r.source, r.file, r.row, r.reason, r.raw) for r in rejects],
        columns=list(REJECT_COLUMNS),
        dtype="str",
    )


def cell_to_str(value: Any) -> str | None:
    """The plain text of a typed cell: what an engineer would see, with no float noise."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        # JSON columns and arrays (PostgreSQL json, jsonb, text[]) arrive as Python objects;
        # their JSON text is what the database shows, where str() would give Python syntax.
        return json.dumps(value, ensure_ascii=False, default=cell_to_str)
    return str(value)


def _duration(value: dt.timedelta) -> str:
    """[-]HH:MM:SS[.ffffff], hours past 24 included: how MySQL shows a TIME and Excel [h]:mm."""
    sign = "-" if value < dt.timedelta(0) else ""
    micro = abs(value) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(micro, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micro:06d}" if micro else text


MESSAGE_CHARS = 200
# A header cell longer than this is a value or a whole line, not the name of a column.
MAX_NAME_CHARS = 1_000


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A value fit for a message or note: a 10 MB header cell must not become a 10 MB line."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def unique_columns(
    names: Sequence[str | None],
    *,
    file: str,
    hint: str = "Rename that column in the file, or force --header-row 0.",
    line: int | None = None,
) -> tuple[list[str], list[str]]:
    """Header names made usable: blanks named by position, repeats numbered. Returns notes.

    `hint` says how to get rid of a reserved name, which depends on the format."""
    notes: list[str] = []
    result: list[str] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(names, start=1):
        name = (raw or "").strip()
        if not name:
            name = f"column_{position}"
            notes.append(f"column {position} has no header; named it {name!r}")
        if len(name) > MAX_NAME_CHARS:
            raise InputBeyondLimits(
                f"column {position} of the header is {len(name):,} characters long, which is "
                f"no column name (crmmigrate takes at most {MAX_NAME_CHARS:,}): "
                f"{shorten(name, 60)!r}.",
                file=file,
                line=line,
                hint=hint,
            )
        if name in PROVENANCE:
            raise MalformedInput(
                f"the header has a column named {name!r}, which crmmigrate reserves for "
                "provenance.",
                file=file,
                hint=hint,
            )
        if name in seen:
            seen[name] += 1
            renamed = f"{name}_{seen[name]}"
            notes.append(
                f"header {shorten(name)!r} appears more than once; column {position} is "
                f"{shorten(renamed)!r}"
            )
            name = renamed
        seen.setdefault(name, 1)
        result.append(name)
    return result, notes


def find_header_row(rows: Sequence[Sequence[str | None]]) -> int:
    """Index of the header among the first rows of a sheet or file.

    Title rows ("Export from OldCRM, 2019-03-01"), blank rows and notes sit above real headers.
    The header is the first row as wide as the table below it whose cells are mostly filled
    and textual, and that is followed by a row of the same width. Width is the number of
    fields a row has, not how many are filled: data rows often end in empty fields.

    A header may repeat a name or leave some blank (`id,,name,,`); taking the record below it
    for the header would lose that record. So a textual row of the table's width with blank
    names is the header when the row below it, which would otherwise win, reads as data:
    a blank name between two others, or values shaped like those of the next row (ids,
    emails, dates) say so.
    """
    lengths = [len(r) for r in rows if _width(r)]
    if not lengths:
        return 0
    counts = Counter(lengths)
    table_width = max(counts, key=lambda w: (counts[w], w))
    needed = max(1, math.ceil(table_width * 0.6))
    gapped: int | None = None  # the row just above, if it is a header with blank names
    for i, row in enumerate(rows):
        cells = _filled(row[:table_width])
        if len(row) > table_width or not cells:
            gapped = None
            continue
        textual = sum(1 for t in cells if not _looks_numeric(t)) >= 0.8 * len(cells)
        if textual and len(cells) >= needed:
            following = [r for r in rows[i + 1 : i + 4] if _width(r)]
            if not following or any(len(r) == table_width for r in following):
                if gapped is not None and gapped == i - 1 and _reads_as_data(row, following):
                    return gapped
                return i
        named = textual and len(cells) >= 2 and len(row) == table_width
        gapped = i if named and len(set(cells)) == len(cells) and len(cells) < needed else None
        if gapped is not None and _has_inner_gap(row):
            following = [r for r in rows[i + 1 : i + 4] if _width(r)]
            if following and len(following[0]) == table_width:
                return i
    return 0


def _filled(row: Sequence[str | None]) -> list[str]:
    return [str(c).strip() for c in row if c is not None and str(c).strip()]


def _has_inner_gap(row: Sequence[str | None]) -> bool:
    marks = "".join("x" if c is not None and str(c).strip() else "." for c in row)
    return bool(re.search(r"x\.+x", marks))


_SHAPE = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "a" * 52 + "9" * 10,
)


def _shape(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text.strip().translate(_SHAPE))


def _reads_as_data(row: Sequence[str | None], below: Sequence[Sequence[str | None]]) -> bool:
    """Whether a row holds values shaped like those of the row below (A1 over A2, a@x.com
    over b@y.org): an id or an email is not a header name."""
    if not below:
        return False
    for value, under in zip(row, below[0]):
        if not value or not under:
            continue
        shape = _shape(str(value))
        if any(c in shape for c in "9@") and shape == _shape(str(under)):
            return True
    return False


def _width(row: Sequence[str | None]) -> int:
    width = len(row)
    while width and (row[width - 1] is None or str(row[width - 1]).strip() == ""):
        width -= 1
    return width


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("-", "").replace("/", "")
    return stripped.replace(" ", "").isdigit()


def require_one_of(source: Source, *names: str) -> None:
    given = [n for n in names if getattr(source, n) is not None]
    if len(given) != 1:
        raise BadUsage(f"give exactly one of {', '.join('--' + n for n in names)}.")
