"""Dates as legacy exports write them: the one place that knows their orders, month names,
ISO shapes and how a written date is read. The stages (profile, map, clean, validate) ask
this module; none of them keeps a table of formats or months of its own.

    read_formats("31.12.2021", DAY_FIRST_FORMATS)    -> datetime(2021, 12, 31)
    not_a_date("31.02.2021", ("%d.%m.%Y",), "...")   -> "is not a date: day 31 does not exist
                                                         in February 2021 (read as DD.MM.YYYY)"
    date_reading("nn.nn.yyyy", "13.01.2024")         -> "day-first"
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# How a column writes day and month: a setting (clean's `order`), decided from the values.
DateOrder = Literal["dmy", "mdy", "ymd"]

# What the values of one date pattern say about the order (the profile's verdict).
# "invalid": no value of the pattern is a date in either order (32/13/2020), so none says
# anything about the order; such values are counted as invalid, never as ambiguous.
PatternOrder = Literal["year-first", "day-first", "month-first", "ambiguous", "contradictory", "invalid"]

# Month names in English, lower case, as strptime reads them in the C locale.
MONTH_NAMES = [m.lower() for m in calendar.month_name[1:]]
MONTH_ABBRS = [m.lower() for m in calendar.month_abbr[1:]]

# --- ISO ------------------------------------------------------------------------------------

# The canonical text of a date and a date-time, as validate accepts them.
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")
# The start of a date-time as clean writes it (with the T and seconds).
ISO_DATETIME_T = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)


def parses_as_iso(pattern: re.Pattern[str]) -> Callable[[pd.Series], pd.Series]:
    """Vectorized: values of the ISO shape that pandas parses as real dates are valid."""

    def test(values: pd.Series) -> pd.Series:
        shaped = values.str.fullmatch(pattern.pattern)
        parsed = pd.to_datetime(values.where(shaped), errors="coerce", format="ISO8601", utc=True)
        return shaped & parsed.notna()

    return test


# --- strptime formats -----------------------------------------------------------------------

ISO_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")
DAY_FIRST_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%y", "%d/%m/%y", "%d-%m-%y")
MONTH_FIRST_FORMATS = ("%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y", "%m/%d/%y", "%m-%d-%y", "%m.%d.%y")
# Month-name formats a date transform reads without being told its formats.
MONTH_NAME_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y", "%d. %B %Y")
# Month-name formats `suggest` proposes for a column: wider, as each is checked on the values.
SUGGESTED_MONTH_NAME_FORMATS = (
    "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y", "%b %d, %Y", "%B %d, %Y",
    "%b %d %Y", "%B %d %Y", "%d. %B %Y",
)
# Only values shaped like "05 Mar 2021" or "March 5, 2021" are tried with strptime, which is
# slow: a column of a million addresses must not cost a million failed parses per format.
_MONTH_NAME_DATE = re.compile(
    r"[0-9]{1,2}\.?[ -][A-Za-z]{3,9}\.?[ -][0-9]{2,4}|[A-Za-z]{3,9}\.? [0-9]{1,2},? [0-9]{4}"
)
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S", " %I:%M %p", " %I:%M:%S %p")


def _times(fmt: str) -> tuple[str, ...]:
    """The times a value of `fmt` may carry after it: none when the format has its own."""
    return ("",) if re.search("%[HIMS]", fmt) else _TIMES


def strptime(text: str, fmt: str) -> dt.datetime | None:
    """`text` read in exactly `fmt`, or None."""
    try:
        return dt.datetime.strptime(text, fmt)
    except ValueError:
        return None


def read_formats(value: str, formats: tuple[str, ...] | list[str]) -> dt.datetime | None:
    """The moment the first of `formats` reads `value` as, each with any of the usual times
    after it; None when none does."""
    for fmt in formats:
        for time in _times(fmt):
            try:
                return dt.datetime.strptime(value, fmt + time)
            except ValueError:
                continue
    return None


# The directives `read_exactly` reads, as they are written when padded: those whose text says
# its number outright (no two-digit year with its century pivot, no names, weekdays, zones).
_EXACT = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "I": r"\d{2}", "M": r"\d{2}",
          "S": r"\d{2}", "p": "AM|PM"}
_PARTS = {"Y": pc.year, "m": pc.month, "d": pc.day, "H": pc.hour, "M": pc.minute, "S": pc.second}


def _exact_pattern(fmt: str) -> str | None:
    """A regular expression of the values `fmt` writes, a named group per directive; None when
    a directive is not one `read_exactly` reads, comes twice, or is %I without %p."""
    parts: list[str] = []
    at = 0
    while at < len(fmt):
        if fmt[at] != "%":
            parts.append(re.escape(fmt[at]))
            at += 1
            continue
        name = fmt[at + 1 : at + 2]
        if name not in _EXACT or f"(?P<{name}>" in "".join(parts):
            return None
        parts.append(f"(?P<{name}>{_EXACT[name]})")
        at += 2
    pattern = "".join(parts)
    return None if ("(?P<I>" in pattern) != ("(?P<p>" in pattern) else f"^{pattern}$"


def read_exactly(values: np.ndarray, fmt: str) -> np.ndarray:
    """The moments `values` (text) name in `fmt`, read all at once by Arrow, where each is
    written exactly as `fmt` writes it (padded, in range, the day one the month has): then
    `strptime(value, fmt)` reads that moment too. NaT for every other value, and for all of
    them when `fmt` holds a directive `_EXACT` does not read: leave those to `read_formats`."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[s]")
    pattern = _exact_pattern(fmt)
    if pattern is None or not len(values):
        return out
    text = pa.array(values, type=pa.string())
    groups = pc.extract_regex(text, pattern=pattern)
    moment = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    # Arrow reads 31.02.2021 as 3 March and takes unpadded numbers: the moment's parts must be
    # the numbers written.
    ok = pc.and_(groups.is_valid(), moment.is_valid())
    # Arrow reads year 0000, which strptime (and Python's datetime) does not.
    ok = pc.and_(ok, pc.greater_equal(pc.year(moment), 1))
    names = {groups.type.field(i).name for i in range(groups.type.num_fields)}
    for name in names:
        written = pc.struct_field(groups, name)
        if name == "p":
            same = pc.equal(written, pc.if_else(pc.less(pc.hour(moment), 12), "AM", "PM"))
        elif name == "I":
            same = pc.equal(pc.cast(written, pa.int64()), pc.add(pc.remainder(pc.add(pc.hour(moment), 11), 12), 1))
        else:
            same = pc.equal(pc.cast(written, pa.int64()), _PARTS[name](moment))
        ok = pc.and_(ok, same)
    found = ok.fill_null(False).to_numpy(zero_copy_only=False)
    out[found] = moment.filter(found).to_numpy(zero_copy_only=False).astype("datetime64[s]")
    return out


def read_in_order(values: np.ndarray, formats: tuple[str, ...] | list[str]) -> np.ndarray:
    """What `read_formats` reads each of `values` (text) as, where that can be told in bulk:
    the formats (each with the usual times after it) in its order, each reading exactly
    (`read_exactly`) the values none before it took. A value a format reads exactly is its
    reading unless a format before it might read the value too (strptime's own pattern for it
    matches): that one is left to `read_formats`, as is every value no format reads exactly.
    NaT for those."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[s]")
    left = np.arange(len(values))
    before: list[re.Pattern[str]] = []  # the candidates tried, as strptime matches them
    for fmt in formats:
        for time in _times(fmt):
            if not len(left):
                return out
            read = read_exactly(values[left], fmt + time)
            hit = ~np.isnat(read)
            if before and hit.any():
                taken = np.flatnonzero(hit)
                hit[taken] = [not any(p.fullmatch(v) for p in before) for v in values[left[taken]]]
            out[left[hit]] = read[hit]
            left = left[~hit]
            pattern = _strptime_pattern(fmt + time)
            if pattern is None:  # what it reads cannot be told: the rest are read one by one
                return out
            before.append(pattern)
    return out


def _strptime_pattern(fmt: str) -> re.Pattern[str] | None:
    """The regular expression `datetime.strptime` matches a value of `fmt` with (a value it
    does not match in full, strptime does not read), from Python's own cache of them; None
    where it cannot be had."""
    try:
        import _strptime

        with _strptime._cache_lock:
            return _strptime._TimeRE_cache.compile(fmt)
    except Exception:  # noqa: BLE001 - a Python without it: no format after the first in bulk
        return None


def month_name_format(text: str) -> str | None:
    """The first of `SUGGESTED_MONTH_NAME_FORMATS` that reads a date written with a month
    name ("05 Mar 2021" -> "%d %b %Y"), or None."""
    if _MONTH_NAME_DATE.fullmatch(text) is None:
        return None
    for fmt in SUGGESTED_MONTH_NAME_FORMATS:
        if strptime(" ".join(text.split()), fmt) is not None:
            return fmt
    return None


# What a strptime directive matches, and how a reader writes it. Names are matched in English,
# as strptime reads them in the C locale.
_DIRECTIVES = {
    "d": (r"(?P<d>\d{1,2})", "DD"), "m": (r"(?P<m>\d{1,2})", "MM"),
    "Y": (r"(?P<Y>\d{4})", "YYYY"), "y": (r"(?P<y>\d{2})", "YY"),
    "b": (rf"(?P<b>{'|'.join(MONTH_ABBRS)})", "Mon"), "B": (rf"(?P<B>{'|'.join(MONTH_NAMES)})", "Month"),
    "H": (r"(?P<H>\d{1,2})", "hh"), "I": (r"(?P<I>\d{1,2})", "hh"), "M": (r"(?P<M>\d{1,2})", "mm"),
    "S": (r"(?P<S>\d{1,2})", "ss"), "p": (r"(?:am|pm)", "AM/PM"), "f": (r"\d{1,6}", "ffffff"),
    "z": (r"(?:[+-]\d{2}:?\d{2}|z)", "+hhmm"), "%": ("%", "%"),
}
_DIRECTIVE = re.compile(r"%(.)|(\s+)|([^%\s]+)")


def format_shown(fmt: str) -> str:
    """A strptime format as people write it: "%d.%m.%Y" -> "DD.MM.YYYY"."""
    return _DIRECTIVE.sub(lambda m: _DIRECTIVES.get(m.group(1), (None, m.group()))[1]
                          if m.group(1) else m.group(), fmt)


def _shape(fmt: str) -> re.Pattern[str] | None:
    """A pattern for the values written in `fmt`, whatever their numbers; None for a format
    with a directive it does not know."""
    parts = []
    for found in _DIRECTIVE.finditer(fmt):
        code, space, literal = found.groups()
        if code is not None:
            if code not in _DIRECTIVES:
                return None
            parts.append(_DIRECTIVES[code][0])
        else:
            parts.append(r"\s+" if space else re.escape(literal))
    return re.compile("".join(parts), re.IGNORECASE)


def _impossible(parts: dict[str, str | None]) -> str | None:
    """Which part of a date or time written in a format does not exist, if one does not."""
    number = {k: int(v) for k, v in parts.items() if v is not None and v.isdigit()}
    if "Y" in number:
        year = number["Y"]
    elif "y" in number:  # as strptime reads two digits: 69-99 in the 1900s, 00-68 in the 2000s
        year = number["y"] + (1900 if number["y"] >= 69 else 2000)
    else:
        year = 1900  # strptime's year when the format has none
    if "b" in parts or "B" in parts:
        name = (parts.get("b") or parts.get("B") or "").lower()
        month = (MONTH_ABBRS if parts.get("b") else MONTH_NAMES).index(name) + 1
    else:
        month = number.get("m", 1)
    if not 1 <= month <= 12:
        return f"month {month} does not exist"
    day = number.get("d", 1)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return f"day {day} does not exist in {calendar.month_name[month]} {year}"
    for code, name, top in (("H", "hour", 23), ("M", "minute", 59), ("S", "second", 61)):
        if number.get(code, 0) > top:
            return f"{name} {number[code]} does not exist"
    if "I" in number and not 1 <= number["I"] <= 12:
        return f"hour {number['I']} does not exist on a 12-hour clock"
    return None


def not_a_date(text: str, formats: tuple[str, ...] | list[str], otherwise: str) -> str:
    """Why a value that none of `formats` read (with any of the times `read_formats` allows)
    is no date: "is not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)",
    for each format whose shape it has; `otherwise` when it has none of their shapes."""
    reasons: list[str] = []
    for fmt in formats:
        for time in _times(fmt):
            shape = _shape(fmt + time)
            found = shape.fullmatch(text) if shape else None
            why = _impossible(found.groupdict()) if found else None
            if why:
                reason = f"{why} (read as {format_shown(fmt + time)})"
                if reason not in reasons:
                    reasons.append(reason)
                break
    return f"is not a date: {'; '.join(reasons)}" if reasons else otherwise


# nn/nn/yyyy with an optional time: the common shape, read with its one strptime format rather
# than a tour of every format (same result, a hundred times faster).
NUMERIC_DATE = re.compile(
    r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})(?:([ T])[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?", re.ASCII
)


def read_numeric(found: re.Match[str], dayfirst: bool | None) -> tuple[dt.datetime | None, str]:
    """A `NUMERIC_DATE` match read day-first, month-first or (None) whichever reads it alone;
    the moment, or None and why not."""
    sep, year, time, seconds = found.group(2), found.group(4), found.group(5), found.group(6)
    tail = "%Y" if len(year) == 4 else "%y"
    tail += f"{time}%H:%M" + (":%S" if seconds else "") if time else ""
    day_format, month_format = f"%d{sep}%m{sep}{tail}", f"%m{sep}%d{sep}{tail}"
    day_first = strptime(found.group(), day_format) if dayfirst is not False else None
    month_first = strptime(found.group(), month_format) if dayfirst is not True else None
    if dayfirst is None and day_first and month_first and day_first != month_first:
        return None, "is ambiguous: day and month could be either way round"
    moment = day_first or month_first
    if moment:
        return moment, ""
    tried = [f for f, read in ((day_format, dayfirst is not False), (month_format, dayfirst is not True)) if read]
    return None, not_a_date(found.group(), tried, "is not a recognisable date")


# --- date patterns and their readings (what profile reports) ---------------------------------

# Date patterns: label, regex. The "nn" ones are day-first or month-first; the values decide.
YEAR_FIRST = ("yyyy-mm-dd", "yyyy/mm/dd")
DATE_PATTERNS = (
    ("yyyy-mm-dd", r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"),
    ("yyyy/mm/dd", r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}"),
    ("nn.nn.yyyy", r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}"),
    ("nn.nn.yy", r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{2}"),
    ("nn/nn/yyyy", r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}"),
    ("nn/nn/yy", r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}"),
    ("nn-nn-yyyy", r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}"),
    ("nn-nn-yy", r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{2}"),
)
TIME_SUFFIX = " hh:mm"
TIME = (
    r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?: ?[AaPp]\.?[Mm]\.?)?(?: ?(?:Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2}))?)"
)
_DATE_PARTS = re.compile(r"([0-9]+)[-./]([0-9]+)[-./]([0-9]+)")


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def date_reading(pattern: str, value: str) -> str:
    """How a value of a date pattern reads: "year-first", "day-first", "month-first",
    "either" (both readings are real dates) or "invalid" (no reading is)."""
    found = _DATE_PARTS.match(value.strip())
    if found is None:  # cannot happen for a value of a date shape
        return "invalid"
    a, b, c = (int(p) for p in found.groups())
    if pattern in YEAR_FIRST:
        return "year-first" if _is_date(a, b, c) else "invalid"
    # A two-digit year is read in the 2000s, a leap century, so 29.02.yy is never rejected.
    year = c if len(found.group(3)) == 4 else 2000 + c
    day_first = _is_date(year, b, a)
    month_first = _is_date(year, a, b)
    if day_first and month_first:
        return "either"
    if day_first:
        return "day-first"
    if month_first:
        return "month-first"
    return "invalid"


@dataclass
class DatePattern:
    """The rows of one column that look like one date pattern, and what they say about the
    order of day and month. Counts are rows."""

    pattern: str
    rows: int = 0
    day_first: int = 0
    month_first: int = 0
    either: int = 0
    invalid: int = 0
    day_first_example: str | None = None
    month_first_example: str | None = None
    invalid_example: str | None = None

    @property
    def order(self) -> PatternOrder:
        if self.pattern in YEAR_FIRST:
            return "year-first"
        if self.day_first and self.month_first:
            return "contradictory"
        if self.day_first:
            return "day-first"
        if self.month_first:
            return "month-first"
        return "ambiguous" if self.either else "invalid"

    @property
    def format(self) -> str:
        """The pattern with its order decided, e.g. "dd.mm.yyyy", or as is when undecided."""
        if self.order == "day-first":
            return self.pattern.replace("nn", "dd", 1).replace("nn", "mm", 1)
        if self.order == "month-first":
            return self.pattern.replace("nn", "mm", 1).replace("nn", "dd", 1)
        return self.pattern

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "order": self.order,
            "format": self.format,
            "rows": self.rows,
            "day_first": self.day_first,
            "month_first": self.month_first,
            "either": self.either,
            "invalid": self.invalid,
            "day_first_example": self.day_first_example,
            "month_first_example": self.month_first_example,
            "invalid_example": self.invalid_example,
        }


def add_reading(dates: dict[str, DatePattern], pattern: str, value: str, count: int) -> None:
    """Count `count` rows of `value`, of date pattern `pattern`, into its `DatePattern`."""
    found = dates.setdefault(pattern, DatePattern(pattern))
    found.rows += count
    reading = date_reading(pattern, value)
    if reading == "day-first":
        found.day_first += count
        found.day_first_example = found.day_first_example or value
    elif reading == "month-first":
        found.month_first += count
        found.month_first_example = found.month_first_example or value
    elif reading == "either":
        found.either += count
    elif reading == "invalid":
        found.invalid += count
        found.invalid_example = found.invalid_example or value


# A value of a date pattern, a time after it or not; group "p<i>" is DATE_PATTERNS[i]. The
# same patterns, in the same order, as the first of profile's shapes.
_DATE_SHAPE = re.compile("|".join(f"(?P<p{i}>{rx}(?:{TIME})?)" for i, (_, rx) in enumerate(DATE_PATTERNS)))


def date_pattern_of(value: str) -> str | None:
    """The date pattern of a stripped value ("nn.nn.yyyy" for "13.01.2024 10:30"), or None
    when it has none."""
    found = _DATE_SHAPE.fullmatch(value)
    return DATE_PATTERNS[int(found.lastgroup[1:])][0] if found and found.lastgroup else None


def read_dates(values: Iterable[str | None]) -> dict[str, DatePattern]:
    """The date patterns among `values` and how their rows read, as profile reports a
    column's dates, without profiling the rest of it: blanks and values of no date pattern
    are left out, a value is read stripped."""
    counts = Counter(v.strip() for v in values if isinstance(v, str))
    dates: dict[str, DatePattern] = {}
    for value, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        pattern = date_pattern_of(value) if value else None
        if pattern is not None:
            add_reading(dates, pattern, value, count)
    return dates
