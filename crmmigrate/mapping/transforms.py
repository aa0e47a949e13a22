"""The transforms of a mapping, each a function of one non-empty string value.

A transform returns the new value (None for "no value") or raises `Invalid` with the reason;
the engine then keeps the value as it was for validation to count, and records the reason.
Typed results are canonical text: dates `YYYY-MM-DD`, date-times `YYYY-MM-DDTHH:MM:SS`,
numbers as plain decimals with the digits written (`1234.50`), booleans `true`/`false`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import numpy as np

from crmmigrate.dates import (
    DAY_FIRST_FORMATS,
    ISO_FORMATS,
    MONTH_FIRST_FORMATS,
    MONTH_NAME_FORMATS,
    not_a_date,
    read_formats,
    read_in_order,
)
from crmmigrate.mapping.config import (
    BooleanParse,
    DateParse,
    NumberParse,
    RegexExtract,
    RegexReplace,
    Split,
    Step,
    ValueMap,
)

Transform = Callable[[str], "str | None"]


class Invalid(ValueError):
    """A value a transform cannot turn into what the field needs."""


def _blank(value: str) -> str | None:
    return value if value.strip() else None


def collapse(value: str) -> str | None:
    return _blank(" ".join(value.split()))


def split_name(part: str) -> Transform:
    """First or last name from a full name: "Last, First" is understood; particles such as
    "van der" or "de la" stay with the last name; one word is a last name."""
    particles = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le",
                 "ter", "ten", "bin", "al", "dos", "das", "st.", "zu"}

    def run(value: str) -> str | None:
        text = " ".join(value.split())
        if "," in text:
            last, _, first = (p.strip() for p in text.partition(","))
        else:
            words = text.split(" ")
            cut = len(words) - 1
            while cut > 1 and words[cut - 1].lower() in particles:
                cut -= 1
            first, last = " ".join(words[:cut]), " ".join(words[cut:])
            if len(words) == 1:
                first, last = "", words[0]
        return _blank(first if part == "first" else last)

    return run


def regex_extract(options: RegexExtract) -> Transform:
    pattern = re.compile(options.pattern)

    def run(value: str) -> str | None:
        found = pattern.search(value)
        if not found:
            raise Invalid(f"does not match /{options.pattern}/")
        return _blank(found.group(options.group) or "")

    return run


def regex_replace(options: RegexReplace) -> Transform:
    pattern = re.compile(options.pattern)
    return lambda value: _blank(pattern.sub(options.with_, value))


def split(options: Split) -> Transform:
    def run(value: str) -> str | None:
        parts = value.split(options.sep)
        try:
            return _blank(parts[options.index].strip())
        except IndexError:
            raise Invalid(f"has no part {options.index} when split on {options.sep!r}") from None

    return run


class PicklistMap:
    """A value map that remembers the values no entry covered, for the report."""

    def __init__(self, options: ValueMap) -> None:
        self.options = options
        fold = (lambda s: s) if options.case_sensitive else (lambda s: s.strip().casefold())
        self.fold = fold
        self.values = {fold(k): v for k, v in options.values.items()}
        self.unmapped: set[str] = set()

    def __call__(self, value: str) -> str | None:
        key = self.fold(value)
        if key in self.values:
            return self.values[key]
        self.unmapped.add(value)
        return self.options.default if self.options.default is not None else value


def parse_datetime(value: str, options: DateParse) -> dt.datetime:
    """The moment a value names, by the given formats or, without them, by the common ones.
    A value of a format's shape that names no day (31.02.2021) is invalid with the part that
    does not exist; others with the formats tried."""
    text = " ".join(value.split())
    if options.formats:
        found = read_formats(text, options.formats)
        if found is None:
            raise Invalid(not_a_date(text, options.formats,
                                     f"is not a date in the format(s) {', '.join(options.formats)}"))
        return found
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    found = read_formats(text, ISO_FORMATS) or read_formats(text, MONTH_NAME_FORMATS)
    if found is not None:
        return found
    day_first = read_formats(text, DAY_FIRST_FORMATS)
    month_first = read_formats(text, MONTH_FIRST_FORMATS)
    if options.dayfirst is True:
        found = day_first
    elif options.dayfirst is False:
        found = month_first
    elif day_first and month_first and day_first != month_first:
        raise Invalid(
            "is ambiguous: day and month could be either way round (set dayfirst or formats)"
        )
    else:
        found = day_first or month_first
    if found is None:
        tried = {True: DAY_FIRST_FORMATS, False: MONTH_FIRST_FORMATS}.get(
            options.dayfirst, DAY_FIRST_FORMATS + MONTH_FIRST_FORMATS
        )
        raise Invalid(not_a_date(text, (*ISO_FORMATS, *MONTH_NAME_FORMATS, *tried), "is not a recognisable date"))
    return found


def date(options: DateParse) -> Transform:
    def read(value: str) -> str:
        return parse_datetime(value, options).date().isoformat()

    read.bulk = lambda values: _read_in_bulk(values, options, "D")  # type: ignore[attr-defined]
    return read


def datetime(options: DateParse) -> Transform:
    def read(value: str) -> str:
        return parse_datetime(value, options).isoformat(timespec="seconds")

    read.bulk = lambda values: _read_in_bulk(values, options, "s")  # type: ignore[attr-defined]
    return read


def _read_in_bulk(values: np.ndarray, options: DateParse, unit: str) -> dict[str, str]:
    """What `parse_datetime` gives, as canonical text to the `unit` ("D": a date, "s": a
    date-time), for the distinct `values` that the mapping's formats read exactly as written,
    in the order parse_datetime tries them (`read_in_order`: a million in about a second, where
    strptime takes 20-40 us each); the rest are left to it, value by value. Without formats,
    none."""
    if not options.formats:
        return {}
    # Only text parse_datetime would read as given (it folds runs of whitespace first).
    values = np.asarray([v for v in values if isinstance(v, str) and v == " ".join(v.split())], dtype=object)
    read = read_in_order(values, options.formats)
    found = ~np.isnat(read)
    return dict(zip(values[found], np.datetime_as_string(read[found], unit=unit).tolist(), strict=True))


_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_GROUPED = re.compile(r"^\d{1,3}([.,]\d{3})+$")
# A currency sign or ISO code before or after an amount ("€ 1.234,50", "1234 RUB").
_CURRENCY = re.compile(r"^\s*(?:[A-Z]{3}|[$€£¥₽₹₴]|руб\.?)\s*|\s*(?:[A-Z]{3}|[$€£¥₽₹₴]|руб\.?|р\.)\s*$")


def parse_number(value: str, mark: str) -> Decimal:
    """A number written with either decimal mark and any thousands separators."""
    text = _CURRENCY.sub("", value.strip())
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()").replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    text = text.replace("'", "").replace("’", "")
    if text.endswith("-"):
        negative, text = True, text[:-1]
    if mark == "auto":
        mark = _decimal_mark(text, value)
    thousands = "," if mark == "." else "."
    whole, _, fraction = text.partition(mark)
    # A thousands separator stands only between groups of three digits: "246000,00" read
    # with "." as decimal mark is not 24600000 but not a number in that convention at all.
    if thousands in fraction or mark in fraction or (
        thousands in whole and not _GROUPED.match(whole.lstrip("+-"))
    ):
        raise Invalid(f"is not a number written with {mark!r} as decimal mark")
    text = whole.replace(thousands, "") + ("." + fraction if fraction or mark in text else "")
    if not _NUMBER.match(text):
        raise Invalid("is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Invalid("is not a number") from None
    return -number if negative else number


def _decimal_mark(text: str, value: str) -> str:
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        return "." if text.rfind(".") > text.rfind(",") else ","
    if not dots and not commas:
        return "."
    mark = "." if dots else ","
    if dots + commas > 1:
        return "," if mark == "." else "."  # repeated: a thousands separator
    digits_after = len(text) - text.rfind(mark) - 1
    if digits_after == 3 and text.lstrip("+-")[0] != "0":
        raise Invalid(f"is ambiguous: {value!r} could use {mark!r} as decimal mark or thousands "
                      "separator (set decimal)")
    return mark


def number(options: NumberParse) -> Transform:
    def read(value: str) -> str:
        return format(parse_number(value, options.decimal), "f")

    read.bulk = lambda values: _numbers_in_bulk(values, options.decimal)  # type: ignore[attr-defined]
    return read


_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_COMMA_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")


def _numbers_in_bulk(values: np.ndarray, mark: str) -> dict[str, str]:
    """What `number` gives for the distinct values in the two shapes most amounts take, plain
    ("12500.5", "-3") and grouped with commas ("12,500.00"), where the decimal mark leaves no
    doubt; a regular expression each instead of parse_number's cleaning. The rest (signs,
    spaces, currencies, other marks, the ambiguous "12,500" or "1.500") are left to it."""
    out: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        if _PLAIN.fullmatch(value):
            fraction = value.partition(".")[2]
            if fraction and (mark == "," or (mark == "auto" and len(fraction) == 3
                                             and value.lstrip("+-")[0] != "0")):
                continue  # "." as thousands separator, or "1.500" either way round
            out[value] = format(Decimal(value), "f")
        elif mark != "," and _COMMA_GROUPED.fullmatch(value) and (
                mark == "." or "." in value or value.count(",") > 1):
            out[value] = format(Decimal(value.replace(",", "")), "f")
    return out


def integer(value: str) -> str:
    parsed = parse_number(value, "auto" if "," in value or "." in value else ".")
    if parsed != parsed.to_integral_value():
        raise Invalid("is not a whole number")
    return str(int(parsed))


TRUE_WORDS = ("true", "t", "yes", "y", "1", "x", "on", "ja", "j", "wahr", "oui", "vrai", "sí",
              "si", "verdadero", "sim", "tak", "да", "д", "是", "对", "真", "はい")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "nein", "falsch", "non", "faux", "falso",
               "não", "nie", "нет", "н", "否", "不", "假", "いいえ")


def boolean(options: BooleanParse) -> Transform:
    truths = {w.casefold() for w in (options.true or TRUE_WORDS)}
    falsehoods = {w.casefold() for w in (options.false or FALSE_WORDS)}

    def run(value: str) -> str:
        word = value.strip().casefold()
        if word in truths:
            return "true"
        if word in falsehoods:
            return "false"
        raise Invalid("is not a yes/no value")

    return run


def compile_step(step: Step, lookups: dict[int, Transform]) -> Transform:
    """The function a transform step stands for. Lookups are built by the engine, which
    reads their sources."""
    name, options = step.name, step.options
    simple: dict[str, Transform] = {
        "strip": lambda v: _blank(v.strip()),
        "collapse": collapse,
        "upper": lambda v: _blank(v.upper()),
        "lower": lambda v: _blank(v.lower()),
        "title": lambda v: _blank(v.title()),
        "integer": integer,
    }
    if name in simple:
        return simple[name]
    builders: dict[str, Callable[[object], Transform]] = {
        "regex_extract": regex_extract,
        "regex_replace": regex_replace,
        "split": split,
        "split_name": split_name,
        "map": PicklistMap,
        "date": date,
        "datetime": datetime,
        "number": number,
        "boolean": boolean,
    }
    if name in builders:
        return builders[name](options)
    if name == "lookup":
        return lookups[id(step)]
    raise AssertionError(f"transform {name} is handled by the engine")  # default
