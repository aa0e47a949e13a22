"""Value checks by field type. Each takes a column and returns, per row, why its value is
invalid (None where it is valid or empty); empties are the `required` check's business.

Checks judge each distinct value once: legacy columns repeat values (picklists, cities,
owners), and the libraries that know what a valid email or phone number is are per-value
Python. Surrounding whitespace is not an error here; cleaning removes it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from crmmigrate import countries, parallel
from crmmigrate.dates import ISO_DATE, ISO_DATETIME, parses_as_iso
from crmmigrate.model import Field, FieldType
from crmmigrate.validate.rules import FieldRule

Judge = Callable[[str], str | None]  # a stripped value -> the reason it is invalid, or None

# Addresses email-validator certainly accepts: dot-atom local part, ASCII domain of letter/digit
# labels and an alphabetic TLD that is not special-use. Anything else goes to email-validator.
_SPECIAL = "|".join(sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES))
PLAIN_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    rf"(?!(?:{_SPECIAL})$)[A-Za-z]{{2,63}}$"
)


def judge_column(
    values: pd.Series,
    judge: Judge,
    *,
    fast_valid: re.Pattern[str] | Callable[[pd.Series], pd.Series] | None = None,
) -> pd.Series:
    """Per row, the reason `judge` gives for its stripped value; each distinct value judged
    once. `fast_valid` (a regex, or a vectorized test) marks values certainly valid, which
    are not judged one by one."""
    present = values.notna()
    stripped = values[present].astype(str).str.strip()
    stripped = stripped[stripped != ""]
    reasons = pd.Series(None, index=values.index, dtype=object)
    if stripped.empty:
        return reasons
    candidates = stripped
    if isinstance(fast_valid, re.Pattern):
        candidates = stripped[~stripped.str.fullmatch(fast_valid.pattern)]
    elif fast_valid is not None:
        candidates = stripped[~fast_valid(stripped)]
    if candidates.empty:
        return reasons
    distinct = pd.unique(candidates)
    verdicts = dict(zip(distinct, parallel.each(judge, list(distinct)), strict=True))
    found = candidates.map(verdicts)
    found = found[found.notna()]
    reasons[found.index] = found
    return reasons


def email(value: str) -> str | None:
    if len(value) > 254:
        return "email longer than 254 characters"
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return f"invalid email: {exc}"
    return None


_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
          "voicemail", "fixed_line", "mobile")
_SEPARATORS = r"[\s().\-/\u00a0]"


def _matches(array: pa.Array, lengths: np.ndarray, desc: phonenumbers.PhoneNumberDesc | None) -> np.ndarray:
    """phonenumbers' `_is_number_matching_desc`, over an array: length, then the pattern."""
    if desc is None or desc.national_number_pattern is None:
        return np.zeros(len(array), dtype=bool)
    fits = np.isin(lengths, desc.possible_length) if desc.possible_length else True
    pattern = pc.match_substring_regex(array, f"^(?:{desc.national_number_pattern})$")
    return pattern.to_numpy(zero_copy_only=False) & fits


# Country codes by their number of digits (no code is the start of another).
_CODES = {size: {str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if len(str(c)) == size}
          for size in (1, 2, 3)}


_E164_EXTENSION = r"\+[0-9]+;ext=[0-9]{1,10}"


def phones_certainly_valid(values: pd.Series) -> pd.Series:
    """Vectorized: numbers written with +country code that phonenumbers itself calls valid.

    `is_valid_number` finds the number's region (a country code's only region; for a code
    several regions share, as +1 and +44 are, the first in phonenumbers' order whose leading
    digits the number starts with, or, for a region without them, whose number types it
    matches), then asks that the national number match the region's general description and
    one of its number types (by possible lengths, then pattern). That is evaluated here with
    the library's own metadata, for many numbers at once. Everything else (national formats,
    national numbers starting with the national prefix, which the library may strip) is left
    for phonenumbers to judge one by one. A number as clean writes it with an extension
    ("+13125550100;ext=42") is the number's validity: phonenumbers reads ";ext=" as RFC 3966
    writes it and judges the number before it."""
    clean_extension = values.str.fullmatch(_E164_EXTENSION).fillna(False).astype(bool)
    if clean_extension.any():
        values = values.where(~clean_extension, values.str.replace(r";ext=[0-9]+$", "", regex=True))
    digits = values.str.replace(_SEPARATORS, "", regex=True)
    international = digits.str.fullmatch(r"\+[1-9]\d{5,16}")
    valid = pd.Series(False, index=values.index)
    if not international.any():
        return valid
    digits = digits[international]
    code = pd.Series(None, index=digits.index, dtype=object)
    for size in (1, 2, 3):  # country codes are a prefix code: one of these is the number's
        prefix = digits.str.slice(1, 1 + size)
        code = code.where(code.notna() | ~prefix.isin(_CODES[size]), prefix)
    for country_code, rows in digits.groupby(code, sort=False).groups.items():
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(country_code)]
        main = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(int(country_code), regions[0])
        if main is None:
            continue
        national = digits[rows].str.slice(1 + len(str(country_code)))
        prefix = main.national_prefix_for_parsing or main.national_prefix
        plain = (~national.str.match(f"(?:{prefix})")).to_numpy(dtype=bool) if prefix else np.ones(len(rows), bool)
        valid[rows] = plain & _valid_in_regions(national, regions, int(country_code))
    return valid


def _valid_in_regions(national: pd.Series, regions: tuple[str, ...], country_code: int) -> np.ndarray:
    """phonenumbers' region for each national number of a country code, and whether the
    number is valid there (`region_code_for_number`, then `is_valid_number_for_region`)."""
    valid = np.zeros(len(national), dtype=bool)
    left = np.arange(len(national))  # numbers whose region is not found yet
    for region in regions:
        if not len(left):
            break
        if len(regions) == 1:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        else:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        part = national.iloc[left]
        array = pa.array(part.tolist(), type=pa.string())
        lengths = part.str.len().to_numpy()
        if len(regions) > 1 and metadata.leading_digits is not None:
            mine = pc.match_substring_regex(array, f"^(?:{metadata.leading_digits})").to_numpy(zero_copy_only=False)
            if not mine.any():
                continue
            valid[left[mine]] = _typed(array.filter(pa.array(mine)), lengths[mine], metadata)
        else:  # the number's region when it is valid there (the only region: whatever it is)
            typed = _typed(array, lengths, metadata)
            mine = typed if len(regions) > 1 else np.ones(len(left), dtype=bool)
            valid[left[mine]] = typed[mine]
        left = left[~mine]
    return valid


def _typed(array: pa.Array, lengths: np.ndarray, metadata: phonenumbers.PhoneMetadata) -> np.ndarray:
    """phonenumbers' `_number_type_helper(...) != UNKNOWN`: the general description and one of
    the number types match."""
    typed = np.zeros(len(array), dtype=bool)
    for name in _TYPES:
        typed |= _matches(array, lengths, getattr(metadata, name))
    return _matches(array, lengths, metadata.general_desc) & typed


NO_REGION = ("invalid phone: no country code, and neither the record's country nor a phone_region "
             "says where it is (set phone_region for its source in migration.yaml)")


# What a phone field may hold besides its number: a label before it ("tel.", "Phone:", "тел.",
# "电话：") and an extension after it ("x42", "ext. 42", ";ext=42" as clean writes it, "доб. 42",
# "Durchwahl 42", "poste 42", "转42"). Clean drops the label and writes the extension as ";ext=".
PHONE_EXTENSION = re.compile(
    r"\s*[,;]?\s*(?:ext(?:ension)?|x|#|доб(?:авочный)?|durchwahl|dw|poste|内线|分机|转)"
    r"\s*[.:=]?\s*([0-9]{1,10})\s*$",
    re.IGNORECASE,
)
PHONE_LABEL = re.compile(
    r"^\s*(?:tel(?:ephone)?|phone|ph|mob(?:ile)?|cell|telefon|тел(?:ефон)?|т|моб(?:ильный)?|电话|手机)"
    r"\s*(?:[.:：]\s*|\s+|(?=\+))",
    re.IGNORECASE,
)
PHONE_PUNCTUATION = "+()-./\u2010\u2011\u2012\u2013\u2014\u2212"
NOT_DIGITS = "it has letters or signs besides the number"


def phone_parts(value: str) -> tuple[str, str | None]:
    """A phone value's number, without its label, and its extension (None without one)."""
    main, extension = value.strip(), None
    if found := PHONE_EXTENSION.search(main):
        main, extension = main[: found.start()], found.group(1)
    return PHONE_LABEL.sub("", main, count=1).strip(), extension


def not_digits(number: str) -> str | None:
    """Why a phone number (`phone_parts`' first part) is not one a phone can dial: letters or
    other signs among its digits. phonenumbers reads "555-CALL-NOW" and "+1-800-FLOWERS" as
    the digits of their keypad letters, but a CRM's phone field must hold the number dialled."""
    if all(ch.isdecimal() or ch.isspace() or ch in PHONE_PUNCTUATION for ch in number):
        return None
    return NOT_DIGITS


class phone:  # noqa: N801 - used like the other judges, a function of one value
    """Phone numbers with phonenumbers; a class so a process pool can take it."""

    def __init__(self, region: str | None) -> None:
        self.region = region if isinstance(region, str) and region else None  # a frame's missing one is NaN

    def __call__(self, value: str) -> str | None:
        if problem := not_digits(phone_parts(value)[0]):
            return f"invalid phone: {problem}"
        # "00" is the international prefix most of the world dials; exports are full of it,
        # and phonenumbers reads it so only for regions whose prefix it is.
        if value.startswith("00") and len(value) > 4:
            value = "+" + value[2:]
        if self.region is None and not phone_parts(value)[0].startswith("+"):
            # Nothing says which country's plan a national number is written in: guessing one
            # would make it valid or invalid by accident.
            return NO_REGION
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException as exc:
            return f"invalid phone: {exc._msg}"
        if not phonenumbers.is_valid_number(number):
            return (f"invalid phone: not a valid number (read in {self.region} where it has no "
                    "country code)")
        return None


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\u00a1-\uffff-]{1,63}(?<!-)$")


def url(value: str) -> str | None:
    target = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(target)
    except ValueError:
        return "invalid URL"
    host = parts.hostname or ""
    labels = host.split(".")
    if parts.scheme not in ("http", "https") or len(labels) < 2 or not all(_HOST_LABEL.match(x) for x in labels):
        return "invalid URL: no web address host"
    if labels[-1].isdigit() and not all(x.isdigit() for x in labels):
        return "invalid URL: no web address host"
    return None


def country(value: str) -> str | None:
    return None if countries.to_alpha2(value) else "not a country"


def currency(value: str) -> str | None:
    return None if pycountry.currencies.get(alpha_3=value.upper()) else "not an ISO 4217 currency code"


def date(value: str) -> str | None:
    if not ISO_DATE.match(value):
        return "not a date (YYYY-MM-DD); map it with a date transform"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return "not a real date"
    return None


def datetime(value: str) -> str | None:
    if not ISO_DATETIME.match(value):
        return "not a date-time (YYYY-MM-DDTHH:MM:SS); map it with a datetime transform"
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "not a real date-time"
    return None


def number(rule: FieldRule, *, whole: bool) -> Judge:
    def run(value: str) -> str | None:
        try:
            parsed = float(value)
        except ValueError:
            return "not a number; map it with a number transform"
        if whole and not parsed.is_integer():
            return "not a whole number"
        if rule.min is not None and parsed < rule.min:
            return f"below the minimum {rule.min:g}"
        if rule.max is not None and parsed > rule.max:
            return f"above the maximum {rule.max:g}"
        return None

    return run


def boolean(value: str) -> str | None:
    return None if value in ("true", "false") else "not true/false; map it with a boolean transform"


def entity_name(names: tuple[str, ...]) -> Judge:
    return lambda value: None if value in names else f"not an entity ({', '.join(names)})"


def judge_for(
    field: Field, rule: FieldRule, *, entities: tuple[str, ...]
) -> tuple[Judge, re.Pattern[str] | Callable[[pd.Series], pd.Series] | None] | None:
    """The per-value check a field's type calls for, with its fast path if it has one. Phones
    are judged per record region by the caller; picklists, lengths, required values, ids and
    pointers are vectorized there too."""
    by_type: dict[FieldType, Judge] = {
        FieldType.EMAIL: email,
        FieldType.URL: url,
        FieldType.COUNTRY: country,
        FieldType.CURRENCY: currency,
        FieldType.DATE: date,
        FieldType.DATETIME: datetime,
        FieldType.BOOLEAN: boolean,
        FieldType.ENTITY_NAME: entity_name(entities),
    }
    fast: dict[FieldType, re.Pattern[str] | Callable[[pd.Series], pd.Series]] = {
        FieldType.EMAIL: PLAIN_EMAIL,
        FieldType.DATE: parses_as_iso(ISO_DATE),
        FieldType.DATETIME: parses_as_iso(ISO_DATETIME),
    }
    if field.type in by_type:
        return by_type[field.type], fast.get(field.type)
    if field.type in (FieldType.DECIMAL, FieldType.INTEGER):
        return number(rule, whole=field.type is FieldType.INTEGER), None
    return None
