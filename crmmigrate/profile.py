"""Profile: what is in each column of a source, before any mapping is written.

    profile = profile_source(Source(location="accounts.csv"), top=5)
    profile.column("created").dates        # nn/nn/yyyy, day-first or month-first, and the evidence
    profile.column("amount").warnings      # mixed decimal marks, padding, case variants, ...
    profile.as_dict()                      # the same, for JSON

A source is read chunk by chunk. Each chunk only adds its `value_counts()` to one Counter per
column, so the work per chunk is bounded by the chunk and the result does not depend on how
the source was cut into chunks. Shapes, masks and warnings are computed once at the end, over
the distinct values with their counts.

Shapes are a profiler's guesses from the look of a value ("email-like", "nn/nn/yyyy"), never
a validation: that is the job of the rules. Dates are checked against the calendar only to
decide which reading of nn/nn/yyyy the values allow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmmigrate.dates import DATE_PATTERNS, TIME, TIME_SUFFIX, DatePattern, add_reading
from crmmigrate.errors import BadUsage
from crmmigrate.extract import ExtractReport, Source, open_source
from crmmigrate.model import PROVENANCE

DEFAULT_TOP = 5

# A column counts as a date (or number) column when at least this share of its filled values
# has a date (number) shape. Below that, a stray date in a notes column is not worth a warning.
KIND_SHARE = 0.5

# How many value variants a warning quotes as examples.
EXAMPLES = 3

TEXT = "text"
EMAIL = "email"
URL = "url"
PHONE = "phone"
INTEGER = "integer"
DECIMAL_POINT = "decimal ."
DECIMAL_COMMA = "decimal ,"
AMBIGUOUS_POINT = "1.234 ambiguous"
AMBIGUOUS_COMMA = "1,234 ambiguous"
GROUPED_COMMA = "1,234.50"
GROUPED_POINT = "1.234,50"
GROUPED_SPACE_COMMA = "1 234,50"
GROUPED_SPACE_POINT = "1 234.50"
GROUPED_APOSTROPHE = "1'234.50"

NUMBER_SHAPES = (
    INTEGER,
    DECIMAL_POINT,
    DECIMAL_COMMA,
    AMBIGUOUS_POINT,
    AMBIGUOUS_COMMA,
    GROUPED_COMMA,
    GROUPED_POINT,
    GROUPED_SPACE_COMMA,
    GROUPED_SPACE_POINT,
    GROUPED_APOSTROPHE,
)

_PRE = r"(?:[$€£¥] ?)?[+-]?"  # a currency symbol or sign does not change a number's shape
_POST = r"(?: ?[$€£¥%])?"
_LEAD = r"[1-9][0-9]{0,2}"  # the first group of a grouped number: 1 to 3 digits, no leading 0
_SPACES = "[ \u00a0\u202f]"  # space, no-break space, narrow no-break space (French exports)

# Tried in this order; the first that matches the whole (stripped) value wins.
_SHAPES: list[tuple[str, str]] = [
    *((label + TIME_SUFFIX, rx + TIME) for label, rx in DATE_PATTERNS),
    *DATE_PATTERNS,
    (PHONE, r"\+[0-9]{7,15}"),  # E.164 before integer: +4930123456 is no number
    (INTEGER, rf"{_PRE}[0-9]+{_POST}"),
    (AMBIGUOUS_POINT, rf"{_PRE}{_LEAD}\.[0-9]{{3}}{_POST}"),
    (AMBIGUOUS_COMMA, rf"{_PRE}{_LEAD},[0-9]{{3}}{_POST}"),
    (DECIMAL_POINT, rf"{_PRE}[0-9]*\.[0-9]+{_POST}"),
    (DECIMAL_COMMA, rf"{_PRE}[0-9]*,[0-9]+{_POST}"),
    (GROUPED_COMMA, rf"{_PRE}{_LEAD}(?:,[0-9]{{3}})+(?:\.[0-9]+)?{_POST}"),
    (GROUPED_POINT, rf"{_PRE}{_LEAD}(?:\.[0-9]{{3}})+(?:,[0-9]+)?{_POST}"),
    (GROUPED_SPACE_COMMA, rf"{_PRE}{_LEAD}(?:{_SPACES}[0-9]{{3}})+(?:,[0-9]+)?{_POST}"),
    (GROUPED_SPACE_POINT, rf"{_PRE}{_LEAD}(?:{_SPACES}[0-9]{{3}})+\.[0-9]+{_POST}"),
    (GROUPED_APOSTROPHE, rf"{_PRE}{_LEAD}(?:['’][0-9]{{3}})+(?:\.[0-9]+)?{_POST}"),
    (EMAIL, r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+"),
    (URL, r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S+|(?:[a-z0-9-]+\.)+[a-z]{2,24}(?:[/?#]\S*)?"),
    (PHONE, r"\+?(?:\([0-9]+\)|[0-9])[0-9 ()./-]*[0-9](?: ?(?:x|ext\.?) ?[0-9]+)?"),
]
_GROUPS = {f"s{i}": label for i, (label, _) in enumerate(_SHAPES)}
_SHAPE_RE = re.compile("|".join(f"(?P<s{i}>{rx})" for i, (_, rx) in enumerate(_SHAPES)))
_PHONE_DIGITS = (7, 15)

def shape_of(value: str) -> str:
    """The shape of one value, e.g. "email", "nn/nn/yyyy hh:mm", "1.234,50" or "text"."""
    match = _SHAPE_RE.fullmatch(value.strip())
    if match is None:
        return TEXT
    label = _GROUPS[match.lastgroup or ""]
    if label == PHONE:
        digits = sum(c.isdigit() for c in value)
        if not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
            return TEXT
    return label


class _MaskTable(dict[int, str]):
    """str.translate table: upper-case letters to A, other letters to a, digits to 9."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        if char.isdecimal():
            mask = "9"
        elif char.isalpha():
            mask = "A" if char.isupper() else "a"
        else:
            mask = char
        self[codepoint] = mask
        return mask


_MASK_TABLE = _MaskTable()
_LETTER_RUNS = re.compile(r"(?<=a)a+|(?<=A)A+")  # a template string (\1) is 4x slower


def mask_of(value: str) -> str:
    """A character mask: letter runs collapsed ("Aa" for "Berlin"), digits kept one by one
    because their count matters (postal codes, phone numbers): "Main 12" -> "Aa 99"."""
    return _LETTER_RUNS.sub("", value.strip().translate(_MASK_TABLE))


def decimal_mark(shape: str, value: str) -> str | None:
    """The decimal mark a number of this shape uses, or None when its look does not say."""
    if shape in (DECIMAL_POINT, GROUPED_COMMA, GROUPED_SPACE_POINT):
        return "."
    if shape in (DECIMAL_COMMA, GROUPED_POINT):
        return ","
    if shape == GROUPED_SPACE_COMMA:
        return "," if "," in value else None
    if shape == GROUPED_APOSTROPHE:
        return "." if "." in value else None
    return None


@dataclass
class ValueCount:
    """A value (or shape, or mask) and how many rows have it."""

    value: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count}


@dataclass
class ProfileWarning:
    """Something in a column a mapping must deal with. `code` is stable; `message` explains."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class ColumnProfile:
    """One source column: how full it is, its values, their shapes, and what to look at.

    `rows = filled + blank + missing`: missing is no value at all, blank is an empty or
    whitespace-only one. Distinct values, top values, shapes and masks count filled rows only.
    """

    name: str
    rows: int = 0
    filled: int = 0
    blank: int = 0
    missing: int = 0
    distinct: int = 0
    top: list[ValueCount] = field(default_factory=list)
    shapes: list[ValueCount] = field(default_factory=list)
    masks: list[ValueCount] = field(default_factory=list)
    dates: list[DatePattern] = field(default_factory=list)
    decimal_marks: dict[str, int] = field(default_factory=dict)
    padded: int = 0
    warnings: list[ProfileWarning] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        return self.filled / self.rows if self.rows else 0.0

    def shape_count(self, shape: str) -> int:
        return sum(s.count for s in self.shapes if s.value == shape)

    def warning(self, code: str) -> ProfileWarning | None:
        return next((w for w in self.warnings if w.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "filled": self.filled,
            "blank": self.blank,
            "missing": self.missing,
            "fill_rate": self.fill_rate,
            "distinct": self.distinct,
            "top": [v.as_dict() for v in self.top],
            "shapes": [v.as_dict() for v in self.shapes],
            "masks": [v.as_dict() for v in self.masks],
            "dates": [d.as_dict() for d in self.dates],
            "decimal_marks": dict(self.decimal_marks),
            "padded": self.padded,
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass
class Profile:
    """Every column of a source, and how the source was read (when it was read from one)."""

    rows: int
    columns: list[ColumnProfile]
    extract: ExtractReport | None = None
    top: int = DEFAULT_TOP

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r}; columns: {', '.join(c.name for c in self.columns)}")

    @property
    def warnings(self) -> int:
        return sum(len(c.warnings) for c in self.columns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "extract": self.extract.as_dict() if self.extract is not None else None,
            "rows": self.rows,
            "top": self.top,
            "columns": [c.as_dict() for c in self.columns],
        }


class Profiler:
    """Accumulates chunks (`add`) and builds the `Profile` at the end (`profile`)."""

    def __init__(self, *, top: int = DEFAULT_TOP) -> None:
        if top < 0:
            raise BadUsage(f"--top is a number of values, 0 or more, not {top}.")
        self.top = top
        self.rows = 0
        # Every non-missing value with its row count, blank ones included; per column.
        self.counts: dict[str, Counter[str]] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        """Count one chunk's values; provenance columns are skipped."""
        for name in chunk.columns:
            if name in PROVENANCE:
                continue
            values = chunk[name]
            if values.dtype != "str":
                values = values.astype("str")
            counts = values.value_counts(dropna=True, sort=False)
            self.counts.setdefault(str(name), Counter()).update(
                dict(zip(counts.index.tolist(), counts.tolist(), strict=True))
            )
        self.rows += len(chunk)

    def profile(
        self, *, columns: Sequence[str] = (), extract: ExtractReport | None = None
    ) -> Profile:
        """The profile of everything added. `columns` gives the order (and columns that had
        no chunk at all); columns seen only in chunks follow in the order first seen."""
        names = list(dict.fromkeys([*columns, *self.counts]))
        profiles = [
            _profile_column(name, self.counts.get(name, Counter()), self.rows, self.top)
            for name in names
            if name not in PROVENANCE
        ]
        return Profile(rows=self.rows, columns=profiles, extract=extract, top=self.top)


def profile_chunks(
    chunks: Iterable[pd.DataFrame],
    *,
    top: int = DEFAULT_TOP,
    columns: Sequence[str] = (),
    extract: ExtractReport | None = None,
) -> Profile:
    """Profile DataFrame chunks of strings (as `Extraction.chunks()` yields them)."""
    profiler = Profiler(top=top)
    for chunk in chunks:
        profiler.add(chunk)
    return profiler.profile(columns=columns, extract=extract)


def profile_source(source: Source, *, top: int = DEFAULT_TOP) -> Profile:
    """Read a source chunk by chunk and profile it; the extraction report comes with it."""
    profiler = Profiler(top=top)
    extraction = open_source(source)
    for chunk in extraction.chunks():
        profiler.add(chunk)
    return profiler.profile(columns=extraction.report.columns, extract=extraction.report)


def _sorted(counter: Counter[str], limit: int | None = None) -> list[ValueCount]:
    """Most rows first, then by value, so ties come out the same however chunks were cut."""
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    if limit is not None:
        items = items[:limit]
    return [ValueCount(value, count) for value, count in items]


def _profile_column(name: str, counts: Counter[str], rows: int, top: int) -> ColumnProfile:
    column = ColumnProfile(name=name, rows=rows)
    shapes: Counter[str] = Counter()
    masks: Counter[str] = Counter()
    marks: Counter[str] = Counter()
    mark_examples: dict[str, str] = {}
    dates: dict[str, DatePattern] = {}
    padded_examples: list[str] = []
    # Values by their case- and whitespace-folded key: the first seen, then any variants.
    first_by_key: dict[str, tuple[str, int]] = {}
    variants: dict[str, list[tuple[str, int]]] = {}

    # Most frequent first (ties by value), so the top values are the first ones seen and the
    # first value seen of a kind is the example worth quoting, however chunks were cut.
    for value, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        stripped = value.strip()
        if not stripped:
            column.blank += count
            continue
        column.filled += count
        column.distinct += 1
        if len(column.top) < top:
            column.top.append(ValueCount(value, count))
        if stripped != value:
            column.padded += count
            if len(padded_examples) < EXAMPLES:
                padded_examples.append(value)
        shape = shape_of(stripped)
        shapes[shape] += count
        masks[mask_of(stripped)] += count
        if shape in _NUMBER_SHAPES:
            mark = decimal_mark(shape, stripped)
            if mark is not None:
                marks[mark] += count
                mark_examples.setdefault(mark, stripped)
        elif shape in _DATE_SHAPES:
            add_reading(dates, _DATE_SHAPES[shape], stripped, count)
        key = " ".join(stripped.split()).casefold()
        first = first_by_key.setdefault(key, (value, count))
        if first[0] != value:
            variants.setdefault(key, [first]).append((value, count))

    column.missing = rows - column.filled - column.blank
    column.shapes = _sorted(shapes)
    column.masks = _sorted(masks, top)
    column.dates = sorted(dates.values(), key=lambda d: (-d.rows, d.pattern))
    column.decimal_marks = dict(sorted(marks.items()))
    column.warnings = [
        *_date_warnings(column),
        *_decimal_warnings(column, mark_examples),
        *_padding_warnings(column, padded_examples),
        *_variant_warnings(variants),
    ]
    return column


_NUMBER_SHAPES = frozenset(NUMBER_SHAPES)
_DATE_SHAPES = {
    **{label: label for label, _ in DATE_PATTERNS},
    **{label + TIME_SUFFIX: label for label, _ in DATE_PATTERNS},
}


def _share(column: ColumnProfile, shapes: Iterable[str]) -> float:
    wanted = set(shapes)
    counted = sum(s.count for s in column.shapes if s.value in wanted)
    return counted / column.filled if column.filled else 0.0


def _date_warnings(column: ColumnProfile) -> list[ProfileWarning]:
    if not column.dates or _share(column, _DATE_SHAPES) < KIND_SHARE:
        return []
    warnings = []
    for d in column.dates:
        if d.order == "ambiguous":
            warnings.append(
                ProfileWarning(
                    "ambiguous-dates",
                    f"{d.either:,} date(s) look like {d.pattern} but no value says whether the "
                    "day or the month comes first (both parts are 12 or less in every one); "
                    "give the date format explicitly in the mapping.",
                )
            )
        elif d.order == "contradictory":
            warnings.append(
                ProfileWarning(
                    "contradictory-dates",
                    f"dates {d.pattern} disagree on the order: {d.day_first:,} can only be "
                    f"day-first (e.g. {d.day_first_example!r}) and {d.month_first:,} can only "
                    f"be month-first (e.g. {d.month_first_example!r}); they probably come from "
                    "different systems, so split them by source before mapping.",
                )
            )
        if d.invalid:
            warnings.append(
                ProfileWarning(
                    "invalid-dates",
                    f"{d.invalid:,} value(s) look like {d.pattern} but are no date in any "
                    f"reading (e.g. {d.invalid_example!r}).",
                )
            )
    if len(column.dates) > 1:
        listed = ", ".join(f"{d.pattern} ({d.rows:,})" for d in column.dates)
        warnings.append(
            ProfileWarning(
                "mixed-date-patterns",
                f"dates come in {len(column.dates)} patterns: {listed}; the mapping needs "
                "one format for each.",
            )
        )
    return warnings


def _decimal_warnings(column: ColumnProfile, examples: dict[str, str]) -> list[ProfileWarning]:
    marks = column.decimal_marks
    if len(marks) < 2 or _share(column, NUMBER_SHAPES) < KIND_SHARE:
        return []
    return [
        ProfileWarning(
            "mixed-decimal-marks",
            f"numbers use both decimal marks: {marks['.']:,} with '.' (e.g. {examples['.']!r}) "
            f"and {marks[',']:,} with ',' (e.g. {examples[',']!r}); parse each with its own "
            "mark, or they will be read a thousand times too large or small.",
        )
    ]


def _padding_warnings(column: ColumnProfile, examples: list[str]) -> list[ProfileWarning]:
    if not column.padded:
        return []
    quoted = ", ".join(repr(e) for e in examples)
    return [
        ProfileWarning(
            "padded-values",
            f"{column.padded:,} value(s) have leading or trailing whitespace (e.g. {quoted}).",
        )
    ]


def _variant_warnings(variants: dict[str, list[tuple[str, int]]]) -> list[ProfileWarning]:
    groups = list(variants.values())
    if not groups:
        return []
    rows = sum(count for g in groups for _, count in g)
    # The group touching the most rows is the one worth quoting.
    biggest = max(groups, key=lambda g: sum(c for _, c in g))
    quoted = ", ".join(f"{v!r} ({c:,})" for v, c in biggest[:EXAMPLES])
    return [
        ProfileWarning(
            "case-variants",
            f"{len(groups):,} value(s) are written in several ways that differ only by case or "
            f"whitespace, in {rows:,} rows (e.g. {quoted}).",
        )
    ]
