"""Value normalisers for the clean stage: each tidies one value and says why when it leaves one
alone.

    phone("8 (383) 873-77-84", country="RU")   -> Outcome("+73838737784")
    email("Anna@GMIAL.com")                    -> Outcome("anna@gmial.com",
                                                  note="domain 'gmial.com' looks like a typo of 'gmail.com'")
    company_key("ООО «Мегаполис»")             -> "мегаполис"

The contract the clean engine relies on, for every normaliser in `NORMALISERS` and any string:

- it never raises;
- a blank value (empty or whitespace only) comes back as it was, and a non-blank one never comes
  back blank: cleaning neither drops nor invents data;
- it is idempotent: normalising a normalised value changes nothing;
- a value it cannot normalise comes back unchanged with a note saying why, and so does a value it
  only reports on (a likely typo, unless asked to fix typos); it never turns one invalid value
  into another.

The engine validates a rule's options with the normaliser's `options` model and calls
`fn(value, **options.model_dump(), **context)`, where `context` holds the `row_context` values
of the record (the record's country, for phone numbers).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import ftfy
import numpy as np
import pandas as pd
import phonenumbers
import pycountry
from pydantic import BaseModel, field_validator
from rapidfuzz import process
from rapidfuzz.distance import OSA

from crmmigrate import countries
from crmmigrate.config import StrictMutable
from crmmigrate.dates import (
    ISO_DATE,
    ISO_DATETIME,
    ISO_DATETIME_T,
    NUMERIC_DATE,
    YEAR_FIRST,
    DateOrder,
    parses_as_iso,
    read_dates,
    read_numeric,
)
from crmmigrate.mapping.config import DateParse
from crmmigrate.mapping.transforms import Invalid, parse_datetime
from crmmigrate.validate import checks


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a normaliser made of a value: the value to keep (the input itself when unchanged)
    and, when it reported or left something alone, why."""

    value: str
    note: str | None = None


NormaliserFn = Callable[..., Outcome]


@dataclass(frozen=True, slots=True)
class Normaliser:
    """A normaliser as rules name it: its function, its options and the per-row context the
    engine must pass it as keyword arguments."""

    name: str
    fn: NormaliserFn
    options: type[BaseModel]
    row_context: tuple[str, ...]
    doc: str
    # Vectorised: for many values at once, what `fn` would give where that is certain and
    # says nothing (NA elsewhere: `fn` decides those one by one). Millions of clean values
    # must not cost a call each.
    bulk: Callable[..., pd.Series] | None = None
    # Whether `bulk` takes the rows' context too, `bulk(values, context)`: a frame, index for
    # index, of the keyword arguments `fn` gets per row besides the rule's options (for phone,
    # the region and the country), as the engine would pass them.
    bulk_context: bool = False


def _keeps_blanks(fn: NormaliserFn) -> NormaliserFn:
    """The contract, made sure of for every normaliser: a blank value is not touched, a
    non-blank one is never made blank, and a result that normalising would change again (some
    Unicode letters change length when their case does) is not given: the input is kept."""

    @functools.wraps(fn)
    def run(value: str, **options: object) -> Outcome:
        if not value.strip():
            return Outcome(value)
        outcome = fn(value, **options)
        if outcome.value == value:
            return outcome
        if not outcome.value.strip():
            return Outcome(value, "left as is: normalising would leave nothing")
        if fn(outcome.value, **options).value != outcome.value:
            return Outcome(value, "left as is: normalising does not settle on one value")
        return outcome

    return run


# --- text -----------------------------------------------------------------------------------

# Characters that show nothing and mean nothing in CRM data: zero-width space, word joiner and
# invisible operators, BOM, soft hyphen, bidi marks and embeddings. ZWJ and ZWNJ stay: they
# spell emoji and Persian or Indic words. Control characters go, except tab and line breaks;
# the ones that separate (vertical tab from Excel cells, form feed, NEL, file/group/record/unit
# separators) become a line break, so the words they separated stay apart.
_INVISIBLE = [0x00AD, 0x034F, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F),
              *range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF, *range(0xFFF9, 0xFFFC)]
_BREAKS = [0x0B, 0x0C, 0x85, *range(0x1C, 0x20)]
_KEPT_CONTROLS = {0x09, 0x0A, 0x0D}


@functools.cache
def _invisible_table() -> dict[int, str | None]:
    controls = [c for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in _KEPT_CONTROLS]
    table: dict[int, str | None] = dict.fromkeys([*controls, *_INVISIBLE])
    table.update(dict.fromkeys(_BREAKS, "\n"))
    return table


def _same(value: str, new: str, note: str | None = None) -> Outcome:
    return Outcome(value if new == value else new, note)


@_keeps_blanks
def trim(value: str) -> Outcome:
    """Leading and trailing whitespace removed, no-break and other Unicode spaces included."""
    return _same(value, value.strip())


@_keeps_blanks
def collapse(value: str) -> Outcome:
    """Every run of whitespace (line breaks included) made one space; the ends trimmed."""
    return _same(value, " ".join(value.split()))


@_keeps_blanks
def nfc(value: str) -> Outcome:
    """Unicode NFC: a letter and its combining accent made the one precomposed letter."""
    return _same(value, unicodedata.normalize("NFC", value))


@_keeps_blanks
def invisible(value: str) -> Outcome:
    """Zero-width characters, BOM, soft hyphens, bidi marks and control characters removed."""
    return _same(value, value.translate(_invisible_table()))


@functools.cache
def _mojibake_config() -> ftfy.TextFixerConfig:
    # Encoding repair only: quotes, ligatures, widths, line breaks, HTML entities and
    # normalisation are other normalisers' business (or nobody's).
    return ftfy.TextFixerConfig(
        unescape_html=False,
        remove_terminal_escapes=False,
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=False,
        decode_inconsistent_utf8=True,
        fix_c1_controls=False,
        fix_latin_ligatures=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        fix_surrogates=False,
        remove_control_chars=False,
        normalization=None,
        explain=False,
    )


# ftfy fixes one layer of mis-decoding per pass; text decoded wrongly twice needs two.
_MOJIBAKE_PASSES = 3


@_keeps_blanks
def mojibake(value: str) -> Outcome:
    """UTF-8 text that was decoded as Windows-1252 or Latin-1 repaired ("BenoÃ®t" -> "Benoît");
    correct text in any script is left alone."""
    fixed = value
    for _ in range(_MOJIBAKE_PASSES):
        again = ftfy.fix_text(fixed, _mojibake_config())
        if again == fixed:
            return _same(value, fixed)
        fixed = again
    return Outcome(value, "left as is: the encoding repair does not settle")


@_keeps_blanks
def text(value: str) -> Outcome:
    """invisible, nfc, trim and collapse, in that order: the usual tidying of a text field."""
    note = None
    current = value
    for step in (invisible, nfc, trim, collapse):
        outcome = step(current)
        current, note = outcome.value, outcome.note or note
    return _same(value, current, note)


# --- phone ----------------------------------------------------------------------------------

_PHONE_FORMATTING = re.compile(r"[\s()\-./\u2010\u2011\u2012\u2013\u2014\u2212]")
# Phone numbers saved by a spreadsheet as numbers: "14157844971.0", "1.4157844971E+10".
_EXCEL_FLOAT = re.compile(r"([0-9]+)\.0+", re.ASCII)
_EXCEL_SCIENTIFIC = re.compile(r"[0-9]\.[0-9]+[eE]\+?[0-9]{1,2}", re.ASCII)
_INTERNATIONAL_DIGITS = (8, 15)  # a country code and a subscriber number, without the +


class PhoneOptions(StrictMutable):
    """`region`: the country to read numbers without a country code in, when the record has
    none (an ISO code or any name `country` knows)."""

    region: str | None = None

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = countries.to_alpha2(value)
        if code is None or code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}: give an ISO 3166 country code such as DE")
        return code


def _region(name: str | None) -> str | None:
    code = countries.to_alpha2(name) if isinstance(name, str) and name else None  # no region: None or NaN
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _parse_phone(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None


class _DigitsLost(ValueError):
    """A number a spreadsheet shows in scientific notation with fewer digits than it has."""


def _spreadsheet_digits(text: str) -> str:
    """A number a spreadsheet stored as a float ("14157844971.0", "1.4157844971E+10") as its
    digits. Scientific notation that does not carry every digit ("7.91612E+10") lost the last
    ones: filling them with zeros would invent a number, so it is refused."""
    if found := _EXCEL_FLOAT.fullmatch(text):
        return found.group(1)
    if _EXCEL_SCIENTIFIC.fullmatch(text):
        try:
            number = Decimal(text)
        except InvalidOperation:  # cannot happen for the pattern; kept as it was
            return text
        mantissa = text.lower().split("e")[0].replace(".", "").lstrip("0")
        if number != number.to_integral_value() or len(mantissa) < len(str(int(number))):
            raise _DigitsLost(text)
        return str(int(number))
    return text


@_keeps_blanks
def phone(value: str, *, region: str | None = None, country: str | None = None) -> Outcome:
    """A phone number in E.164 ("+73838737784"), an extension as ";ext=42" after it.

    The number's own country code (written "+7" or "007") wins; then the record's `country`;
    then the option `region`. Digits alone that are no valid number in the region (or when
    there is none) are tried as an international number without its "+": a spreadsheet keeps
    "+14157844971" as 14157844971. A number that does not parse, is not possible, or is
    possible but not valid, is left as it was with the reason: the rule is never to turn one
    invalid value into another.
    """
    main, extension = checks.phone_parts(value)
    try:
        main = _spreadsheet_digits(main)
    except _DigitsLost:
        return Outcome(value, "left as is: a spreadsheet wrote it in scientific notation and lost its last digits")
    if problem := checks.not_digits(main):
        return Outcome(value, f"not a phone number: {problem}")
    compact = _PHONE_FORMATTING.sub("", main)
    if "+" in compact[1:]:
        return Outcome(value, "not a phone number: '+' only starts one")
    if not any(ch.isdecimal() for ch in compact):
        return Outcome(value, "not a phone number: no digits")
    if compact.startswith("00") and len(compact) > 4 and compact[2] != "0":
        compact = "+" + compact[2:]  # the international prefix most of the world dials
    digits_only = compact.isascii() and compact.isdigit() and not compact.startswith("0")
    as_international = (
        digits_only and _INTERNATIONAL_DIGITS[0] <= len(compact) <= _INTERNATIONAL_DIGITS[1]
    )
    local = _region(country) or _region(region)
    if compact.startswith("+"):
        number, read_in = _parse_phone(compact, None), None
    elif local is not None:
        number, read_in = _parse_phone(compact, local), local
    elif not as_international:
        return Outcome(value, "left as is: no country code, and no region to read it in")
    else:
        number, read_in = None, None
    if as_international and (number is None or not phonenumbers.is_valid_number(number)):
        international = _parse_phone("+" + compact, None)
        if international is not None and phonenumbers.is_valid_number(international):
            number = international
        elif number is None:
            return Outcome(value, "left as is: no country code, and not a valid number with one")
    where = f" in {read_in}" if read_in else ""
    if number is None:
        return Outcome(value, f"not a phone number{where}: it does not parse")
    if not phonenumbers.is_possible_number(number):
        return Outcome(value, f"not a possible phone number{where}")
    if not phonenumbers.is_valid_number(number):
        return Outcome(value, f"not a valid phone number{where}")
    extension = extension or number.extension
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _same(value, f"{e164};ext={extension}" if extension else e164)


# --- email ----------------------------------------------------------------------------------

# Mail providers whose domain people mistype, and that a typo is compared with.
COMMON_EMAIL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "aol.com", "icloud.com", "me.com", "protonmail.com", "yahoo.co.uk",
    "hotmail.co.uk", "mail.ru", "yandex.ru", "rambler.ru", "inbox.ru", "list.ru", "bk.ru",
    "ukr.net", "qq.com", "163.com", "126.com", "sina.com", "gmx.de", "gmx.net", "web.de",
    "t-online.de", "orange.fr", "free.fr", "wanadoo.fr", "laposte.net", "seznam.cz",
    "centrum.cz", "azet.sk",
)
# Real domains one or two letters from a common one: never reported as typos.
_REAL_NEIGHBOURS = (
    "mail.com", "email.com", "gmx.com", "gmx.at", "gmx.ch", "ymail.com", "cloud.com",
    "mac.com", "live.de", "live.fr", "outlook.de", "outlook.fr", "hotmail.de", "hotmail.fr",
    "hotmail.it", "hotmail.es", "yahoo.de", "yahoo.fr", "yahoo.es", "yahoo.it", "yahoo.co.jp",
    "yandex.com", "yandex.ua", "yandex.by", "yandex.kz", "ya.ru", "internet.ru", "139.com",
    "yeah.net", "foxmail.com", "sohu.com", "email.cz", "post.cz", "atlas.cz", "centrum.sk",
    "post.sk", "sfr.fr", "pm.me", "proton.me",
)
# Domains of personal mailboxes, anyone's: two addresses there say nothing of an employer.
PERSONAL_EMAIL_DOMAINS = frozenset(COMMON_EMAIL_DOMAINS + _REAL_NEIGHBOURS)
# Below this length a domain one letter off a common one is as likely another real domain.
_TYPO_MIN_LENGTH = 6
# From this length a domain two letters off (with the same top-level domain) is a typo too.
_TYPO_TWO_FROM = 10


def _domain_typo(domain: str) -> str | None:
    """The common mail domain `domain` is likely a typo of, or None."""
    if domain in COMMON_EMAIL_DOMAINS or domain in _REAL_NEIGHBOURS or len(domain) < _TYPO_MIN_LENGTH:
        return None
    found = process.extractOne(domain, COMMON_EMAIL_DOMAINS, scorer=OSA.distance, score_cutoff=2)
    if found is None:
        return None
    common, distance = found[0], found[1]
    if distance <= 1:
        return common
    same_tld = common.rpartition(".")[2] == domain.rpartition(".")[2]
    return common if same_tld and len(common) >= _TYPO_TWO_FROM else None


class EmailOptions(StrictMutable):
    """`lower_local`: lower-case the part before @ too (mail systems treat it without case).
    `fix_typos`: correct a likely typo of a common mail domain; otherwise it is only noted."""

    lower_local: bool = True
    fix_typos: bool = False


_MAILTO = "mailto:"


@_keeps_blanks
def email(value: str, *, lower_local: bool = True, fix_typos: bool = False) -> Outcome:
    """An email address trimmed, without "mailto:" or <>, its domain (and by default its local
    part) lower-cased; Unicode domains stay Unicode. A likely typo of a common mail domain
    ("gmial.com") is noted, and fixed only with `fix_typos`. An address that would still be
    invalid (by the same check validation uses) is left exactly as it was."""
    address, before = value.strip(), None
    while address != before:
        before = address
        if address[: len(_MAILTO)].lower() == _MAILTO:
            address = address[len(_MAILTO) :].strip()
        if address.startswith("<") and address.endswith(">"):
            address = address[1:-1].strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return Outcome(value, "not an email address: no @")
    local = local.lower() if lower_local else local
    domain = domain.lower()
    reason = checks.email(f"{local}@{domain}")
    if reason is not None:
        return Outcome(value, reason)
    typo = _domain_typo(domain)
    if typo is None:
        return _same(value, f"{local}@{domain}")
    if fix_typos:
        return _same(value, f"{local}@{typo}")
    return _same(value, f"{local}@{domain}", f"domain {domain!r} looks like a typo of {typo!r}")


# --- website --------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DEFAULT_PORTS = (80, 443)


class WebsiteOptions(StrictMutable):
    """`keep_www`: keep a leading "www.". `keep_path`: keep the path after the domain (and a
    port other than 80 or 443); the query and fragment are dropped either way."""

    keep_www: bool = False
    keep_path: bool = False


@_keeps_blanks
def website(value: str, *, keep_www: bool = False, keep_path: bool = False) -> Outcome:
    """A web address as its lower-case domain: "HTTPS://www.Example.COM/about?x=1" ->
    "example.com". Internationalised domains stay in Unicode. Anything that is no http(s)
    address of a named host is left as it was."""
    address = value.strip()
    if any(ch.isspace() for ch in address):
        return Outcome(value, "not a web address: it has spaces")
    try:
        parts = urlsplit(address if _SCHEME.match(address) else f"http://{address}")
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return Outcome(value, "not a web address")
    if parts.scheme not in ("http", "https"):
        return Outcome(value, f"not a web address: {parts.scheme} is no web scheme")
    if "@" in parts.netloc:
        return Outcome(value, "not a web address: it looks like an email address")
    while not keep_www and host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    site = host
    if keep_path:
        site += f":{port}" if port is not None and port not in _DEFAULT_PORTS else ""
        site += parts.path.rstrip("/")
    if checks.url(site) is not None:
        return Outcome(value, "not a web address of a named host")
    return _same(value, site)


# --- country --------------------------------------------------------------------------------


@_keeps_blanks
def country(value: str) -> Outcome:
    """A country as its ISO 3166 alpha-2 code: "Deutschland", "Россия", "中国", "USA" -> DE, RU,
    CN, US."""
    code = countries.to_alpha2(value)
    if code is None:
        return Outcome(value, "not a country name or code crmmigrate knows")
    return _same(value, code)


# --- company --------------------------------------------------------------------------------

# Legal forms by their canonical display, with the spellings people write. A spelling with
# spaces is several tokens; one of CJK characters is matched inside the name as well, since
# those scripts write no spaces ("华为技术有限公司").
LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    # English
    "Inc.": ("Inc.", "Incorporated"),
    "Corp.": ("Corp.", "Corporation"),
    "Co.": ("Co.", "CO", "Company", "& Co.", "and Company"),
    "Co., Ltd.": ("Co., Ltd.", "Co. Ltd.", "Co., Limited", "Company Limited"),
    "LLC": ("LLC", "L.L.C.", "Limited Liability Company"),
    "LLP": ("LLP", "L.L.P."),
    "LP": ("LP", "L.P."),
    "Ltd.": ("Ltd.", "Limited", "Ltd"),
    "PLC": ("PLC", "Plc", "P.L.C.", "Public Limited Company"),
    "Pty Ltd": ("Pty Ltd", "Pty. Ltd.", "Pty Limited", "Proprietary Limited", "Pty"),
    # German, Austrian, Swiss
    "GmbH & Co. KG": ("GmbH & Co. KG", "GmbH & Co KG", "GmbH und Co. KG", "GmbH + Co. KG"),
    "GmbH": ("GmbH", "Gesellschaft mit beschränkter Haftung", "mbH", "Ges.m.b.H.", "Ges.mbH"),
    "gGmbH": ("gGmbH",),
    "UG (haftungsbeschränkt)": ("UG (haftungsbeschränkt)", "UG"),
    "AG": ("AG", "Aktiengesellschaft"),
    "KG": ("KG", "Kommanditgesellschaft"),
    "OHG": ("OHG", "oHG"),
    "e.V.": ("e.V.", "e. V."),
    "KGaA": ("KGaA",),
    "SE": ("SE",),
    # French, Belgian, Swiss, Spanish, Italian, Portuguese
    "SA": ("SA", "S.A.", "S.A", "Spółka Akcyjna"),
    "SAS": ("SAS", "S.A.S."),
    "SASU": ("SASU",),
    "SARL": ("SARL", "S.A.R.L.", "Sàrl"),
    "EURL": ("EURL",),
    "SNC": ("SNC",),
    "SCI": ("SCI",),
    "S.L.": ("S.L.", "SL"),
    "S.L.U.": ("S.L.U.", "SLU"),
    "S.p.A.": ("S.p.A.", "SpA", "S.P.A."),
    "S.r.l.": ("S.r.l.", "Srl", "SRL", "S.R.L."),
    "Lda.": ("Lda.",),
    "Ltda.": ("Ltda.",),
    # Dutch, Nordic, Baltic
    "B.V.": ("B.V.", "BV"),
    "N.V.": ("N.V.", "NV"),
    "AB": ("AB", "Aktiebolag"),
    "Oy": ("Oy",),
    "Oyj": ("Oyj",),
    "A/S": ("A/S", "AS"),
    "ApS": ("ApS",),
    "ASA": ("ASA",),
    # Czech, Slovak, Polish, Hungarian
    "s.r.o.": ("s.r.o.", "spol. s r.o.", "spol. s r. o.", "s. r. o.", "spol.s r.o.", "s.r.o"),
    "a.s.": ("a.s.", "a. s."),
    "v.o.s.": ("v.o.s.", "v. o. s."),
    "sp. z o.o.": ("sp. z o.o.", "Sp. z o.o.", "sp. z o. o.", "Sp. z o. o.", "sp.z o.o.", "Sp.z o.o.",
                   "spółka z ograniczoną odpowiedzialnością"),
    "Kft.": ("Kft.",),
    "Zrt.": ("Zrt.",),
    "Nyrt.": ("Nyrt.",),
    "Bt.": ("Bt.",),
    # Greek
    "Α.Ε.": ("Α.Ε.", "ΑΕ", "Ανώνυμη Εταιρεία"),
    "Ε.Π.Ε.": ("Ε.Π.Ε.", "ΕΠΕ"),
    "Ι.Κ.Ε.": ("Ι.Κ.Ε.", "ΙΚΕ"),
    # Russian, Ukrainian, Belarusian, Kazakh (and their Latin transliterations)
    "ООО": ("ООО", "OOO", "Общество с ограниченной ответственностью"),
    "ЗАО": ("ЗАО", "ZAO", "Закрытое акционерное общество"),
    "ОАО": ("ОАО", "OAO", "Открытое акционерное общество"),
    "ПАО": ("ПАО", "PAO", "Публичное акционерное общество"),
    "НАО": ("НАО", "Непубличное акционерное общество"),
    "АО": ("АО", "Акционерное общество"),
    "ИП": ("ИП", "Индивидуальный предприниматель"),
    "ТОВ": ("ТОВ", "Товариство з обмеженою відповідальністю"),
    "ПрАТ": ("ПрАТ",),
    "ПАТ": ("ПАТ",),
    "ПП": ("ПП",),
    "ФОП": ("ФОП", "Фізична особа-підприємець"),
    "ТОО": ("ТОО",),
    "ОДО": ("ОДО",),
    "ЧУП": ("ЧУП",),
    "УП": ("УП",),
    # Chinese, Japanese, Korean
    "股份有限公司": ("股份有限公司",),
    "有限责任公司": ("有限责任公司", "有限責任公司"),
    "有限公司": ("有限公司",),
    "集团": ("集团", "集團"),
    "公司": ("公司",),
    "株式会社": ("株式会社", "(株)", "（株）", "㈱", "K.K.", "KK", "Kabushiki Kaisha"),
    "有限会社": ("有限会社", "(有)", "（有）"),
    "合同会社": ("合同会社",),
    "주식회사": ("주식회사", "(주)", "（주）", "㈜"),
}
# Forms also written before the name ("ООО «Мегаполис»", "SARL Dupont", "株式会社東芝").
_PREFIX_FORMS = frozenset({
    "ООО", "ЗАО", "ОАО", "ПАО", "НАО", "АО", "ИП", "ТОВ", "ПрАТ", "ПАТ", "ПП", "ФОП", "ТОО", "ОДО",
    "ЧУП", "УП", "SAS", "SASU", "SARL", "EURL", "SNC", "SCI", "株式会社", "有限会社", "合同会社", "주식회사",
})
# Forms that are also everyday words ("Hotel & Spa", "known as"): they count only as the table
# spells them, or abbreviated with a dot.
_EVERYDAY = frozenset({"spa", "as", "co", "se", "ug", "sl", "bt"})
# Quotes and brackets around a token that do not belong to it.
_TOKEN_EDGES = ",;:()[]{}«»\"'“”„‘’<>"


def _is_glued(spelling: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in spelling)


@dataclass(frozen=True, slots=True)
class _Spelling:
    canonical: str
    tokens: tuple[str, ...]  # each without its quotes or brackets
    prefix: bool


@functools.cache
def _spellings() -> tuple[tuple[_Spelling, ...], tuple[_Spelling, ...]]:
    """Token spellings, longest first, and glued (CJK) spellings, longest first."""
    tokens, glued = [], []
    for canonical, spellings in LEGAL_FORMS.items():
        for spelling in spellings:
            prefix = canonical in _PREFIX_FORMS
            if _is_glued(spelling):
                glued.append(_Spelling(canonical, (spelling,), prefix))
            else:
                parts = tuple(_core(p) for p in spelling.split())
                tokens.append(_Spelling(canonical, parts, prefix))
    tokens.sort(key=lambda s: -len(s.tokens))
    glued.sort(key=lambda s: -len(s.tokens[0]))
    return tuple(tokens), tuple(glued)


def _core(token: str) -> str:
    return token.strip(_TOKEN_EDGES) or token


def _token_is(token: str, spelling: str, *, exact: bool = False) -> bool:
    """Whether a name's token is written as a legal form's token; a trailing dot is optional."""
    core, want = _core(token), spelling
    if core.rstrip(".") == want.rstrip("."):
        return True
    if exact or core.casefold().rstrip(".") != want.casefold().rstrip("."):
        return False
    return want.casefold().rstrip(".") not in _EVERYDAY or core.endswith(".")


@dataclass(frozen=True, slots=True)
class _Found:
    """A legal form found in a name: which, where (token indexes, or None for a glued one)."""

    spelling: _Spelling
    start: int
    end: int


def _token_key(token: str) -> str:
    return _core(token).casefold().rstrip(".")


@functools.cache
def _spellings_by_edge() -> tuple[dict[str, list[_Spelling]], dict[str, list[_Spelling]]]:
    """Token spellings by their last token, and prefix spellings by their first (folded),
    longest first: a name's end token says which few spellings can match there."""
    by_last: dict[str, list[_Spelling]] = {}
    by_first: dict[str, list[_Spelling]] = {}
    for spelling in _spellings()[0]:
        by_last.setdefault(_token_key(spelling.tokens[-1]), []).append(spelling)
        if spelling.prefix:
            by_first.setdefault(_token_key(spelling.tokens[0]), []).append(spelling)
    return by_last, by_first


def _matches(tokens: Sequence[str], spelling: _Spelling) -> bool:
    return all(_token_is(t, s) for t, s in zip(tokens, spelling.tokens, strict=True))


def _find_forms(tokens: Sequence[str]) -> tuple[int, int, list[_Found]]:
    """The legal forms at either end of a name's tokens, outermost first (the end before the
    start), and the token range left for the name itself (never empty: a name that is only a
    legal form keeps it)."""
    by_last, by_first = _spellings_by_edge()
    start, end, found = 0, len(tokens), []
    changed = True
    while changed and end - start > 1:
        changed = False
        for spelling in by_last.get(_token_key(tokens[end - 1]), ()):
            n = len(spelling.tokens)
            if end - start > n and _matches(tokens[end - n : end], spelling):
                found.append(_Found(spelling, end - n, end))
                end, changed = end - n, True
                break
        if changed:
            continue
        for spelling in by_first.get(_token_key(tokens[start]), ()):
            n = len(spelling.tokens)
            if end - start > n and _matches(tokens[start : start + n], spelling):
                found.append(_Found(spelling, start, start + n))
                start, changed = start + n, True
                break
    return start, end, found


def _strip_glued(name: str) -> tuple[str, list[str]]:
    """A name without the CJK legal forms glued to its ends, and their canonical names."""
    if name.isascii():  # every glued form has a CJK or full-width character
        return name, []
    _, glued = _spellings()
    found = []
    changed = True
    while changed:
        changed = False
        for spelling in glued:
            form = spelling.tokens[0]
            rest = name.strip()
            if rest.endswith(form) and rest[: -len(form)].strip(_TOKEN_EDGES + " "):
                name, changed = rest[: -len(form)], True
            elif spelling.prefix and rest.startswith(form) and rest[len(form) :].strip(_TOKEN_EDGES + " "):
                name, changed = rest[len(form) :], True
            if changed:
                found.append(spelling.canonical)
                break
    return name, found


@functools.cache
def _spellings_by_size() -> dict[tuple[str, int], list[_Spelling]]:
    found: dict[tuple[str, int], list[_Spelling]] = {}
    for spelling in _spellings()[0]:
        found.setdefault((spelling.canonical, len(spelling.tokens)), []).append(spelling)
    return found


def _recase(token: str, spelling: str) -> str:
    """A token in the table's casing, keeping its own quotes, brackets and trailing dot."""
    core = _core(token)
    lead = token[: token.index(core)] if core in token else ""
    trail = token[len(lead) + len(core) :]
    dotted = spelling.rstrip(".") + ("." if core.endswith(".") else "")
    return lead + dotted + trail


_SPACE_BEFORE_COMMA = re.compile(r"\s+(?=[,;])")
_COMMA_WORD = re.compile(r",(?=[^\W\d_])")
# Quote and bracket pairs, in the styles of the languages at hand: «ru, fr», »de«, „de“, „pl”,
# “en”, "ascii", (round), [square]. A pair opens at the start or after a space and closes at
# the end or before a space or punctuation, so »a« in «x» y «z» is not taken for a pair.
_PAIRS = [
    re.compile(rf"(?:(?<=\s)|^)({re.escape(o)})\s*([^{re.escape(o + c)}]*?)\s*({re.escape(c)})(?=$|[\s,.;:!?)\]])")
    for o, c in (("«", "»"), ("»", "«"), ("„", "“"), ("„", "”"), ("“", "”"), ('"', '"'), ("(", ")"), ("[", "]"))
]


_OPENERS = frozenset("«»„“\"([")  # what a pair of _PAIRS opens with


def _tidy(name: str) -> str:
    name = " ".join(name.split())
    name = _COMMA_WORD.sub(", ", _SPACE_BEFORE_COMMA.sub("", name))
    if not _OPENERS.isdisjoint(name):
        for pair in _PAIRS:
            name = pair.sub(r"\1\2\3", name)
    return name


@_keeps_blanks
def company(value: str) -> Outcome:
    """A company name tidied: spaces collapsed, none before a comma or inside quotes and
    brackets, and the legal form at either end in its usual casing ("ACME corp." -> "ACME
    Corp.", "ооо «Ромашка»" -> "ООО «Ромашка»"). The rest of the name keeps its case."""
    tokens = _tidy(value).split(" ")
    _, _, found = _find_forms(tokens)
    for form in found:
        written = tokens[form.start : form.end]
        same_size = _spellings_by_size()[(form.spelling.canonical, len(written))]
        if any(all(_token_is(t, s, exact=True) for t, s in zip(written, other.tokens, strict=True))
               for other in same_size):
            continue  # written as the table spells it already
        tokens[form.start : form.end] = [
            _recase(t, s) for t, s in zip(written, form.spelling.tokens, strict=True)
        ]
    return _same(value, " ".join(tokens))


def _fold_letter(ch: str) -> str:
    """A letter without its accents, in the scripts where people drop them (Latin, Greek).
    Cyrillic keeps й (и with a breve is another letter) but ё becomes е, as it is written as
    often as not; other scripts' marks are part of the letter (Japanese ガ is not カ)."""
    name = unicodedata.name(ch, "")
    if name.startswith(("LATIN", "GREEK")):
        return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return "е" if ch == "ё" else ch


_JOINING = frozenset("'’.")  # apostrophes and dots join ("McDonald's", "A.B.C."); others separate


def company_key(name: str) -> str:
    """A company's match key for dedupe: legal forms at either end removed (in any language),
    case, accents, quotes and punctuation folded away. "ACME Corp.", "Acme Corporation" and
    "Acme, Inc." give "acme"; "ООО «Мегаполис»" and "Мегаполис ООО" give "мегаполис". Empty
    when the name has no letters or digits."""
    text = " ".join(unicodedata.normalize("NFKC", name).split())
    tokens = text.split(" ")
    start, end, _ = _find_forms(tokens)
    text, _ = _strip_glued(" ".join(tokens[start:end]))
    return " ".join(text.casefold().translate(_KEY_CHARS).split())


class _KeyChars(dict):
    """What each character becomes in a company key, worked out once per character (a
    million names hold a few hundred distinct ones): nothing for joining marks and stray
    accents (casefolded İ has one), a space for punctuation, symbols, separators and controls,
    the letter without its accents otherwise. A `str.translate` table."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch in _JOINING or "\u0300" <= ch <= "\u036f":
            out = ""
        elif unicodedata.category(ch)[0] in "PSZC":
            out = " "
        else:
            out = _fold_letter(ch)
        self[code] = out
        return out


_KEY_CHARS = _KeyChars()


def legal_form(name: str) -> str | None:
    """The canonical legal form a company name carries at either end ("Acme, Inc." -> "Inc.",
    "ООО «Мегаполис»" -> "ООО"), or None. When it has several, the outermost at the end."""
    tokens = " ".join(unicodedata.normalize("NFKC", name).split()).split(" ")
    start, end, found = _find_forms(tokens)
    if found:
        return found[0].spelling.canonical
    _, glued = _strip_glued(" ".join(tokens[start:end]))
    return glued[0] if glued else None


# --- person name ----------------------------------------------------------------------------

# Lower-cased when not the first word: "LUDWIG VAN BEETHOVEN" -> "Ludwig van Beethoven".
_PARTICLES = frozenset({"van", "von", "de", "del", "della", "di", "da", "du", "des", "dos",
                        "das", "do", "ter", "ten", "zu", "af", "av", "bin"})
# Lower-cased only after a particle: "de la Cruz", "van der Berg", but "Marine Le Pen".
_ARTICLES = frozenset({"der", "den", "la", "le", "las", "los", "lo", "het", "l"})
# Mac names, capitalised after "Mac" without the option: Mack, Macy, Machado are no such names.
_MAC_NAMES = frozenset({
    "macdonald", "macleod", "mackenzie", "macgregor", "macarthur", "macmillan", "macintyre",
    "mackay", "macneil", "maclean", "macpherson", "macdougall", "macaulay", "macinnes",
    "mackinnon", "maclachlan", "macrae", "macqueen", "macfarlane", "maccallum", "macdonnell",
    "macgillivray", "mackintosh", "maclaren", "macnamara", "macneill", "macbride", "macdermott",
})
_NOT_MAC = frozenset({"machado", "macias", "machin", "macedo", "maciel", "macedonia", "machete",
                      "mackey", "mackie", "macomber", "macari", "machell", "macaluso"})
_MAC_ALL_FROM = 6  # with mac_all, "Mac" + at least 3 letters
_APOSTROPHES = "'’ʼ"
_ELISIONS = frozenset("odl")  # O'Brien, D'Angelo, L'Estrange: capital after the apostrophe
_LETTERS = re.compile(r"[^\W\d_]+")


class PersonNameOptions(StrictMutable):
    """`mac_all`: capitalise after "Mac" in every name of six letters or more, not only known
    Mac names. `lower_particles`: write van, von, de la, di, da, dos in lower case when they
    do not start the name."""

    mac_all: bool = False
    lower_particles: bool = True


def _capitalised(word: str, mac_all: bool) -> str:
    lower = word.lower()
    if lower.startswith("mc") and len(lower) > 2:
        return "Mc" + lower[2:].capitalize()
    is_mac = lower in _MAC_NAMES or (
        mac_all and lower.startswith("mac") and len(lower) >= _MAC_ALL_FROM and lower not in _NOT_MAC
    )
    if is_mac:
        return "Mac" + lower[3:].capitalize()
    return word.capitalize()


@_keeps_blanks
def person_name(value: str, *, mac_all: bool = False, lower_particles: bool = True) -> Outcome:
    """A name written all in capitals or all in lower case put in name case: "JOHN MCDONALD"
    -> "John McDonald", "o'brien" -> "O'Brien", "ИВАНОВ" -> "Иванов", "MARIA DE LA CRUZ" ->
    "Maria de la Cruz". A name in mixed case is left as typed ("DeShawn", "van Dyke"), and so
    is one without case (Chinese, Japanese)."""
    has_upper = any(ch.isupper() for ch in value)
    has_lower = any(ch.islower() for ch in value)
    if has_upper == has_lower:
        return Outcome(value)
    words = list(_LETTERS.finditer(value))
    parts, position, after_particle = [], 0, False
    for index, found in enumerate(words):
        word, start = found.group(), found.start()
        before = value[position:start]
        parts.append(before)
        lower = word.lower()
        particle = lower in _PARTICLES or (after_particle and lower in _ARTICLES)
        follows_apostrophe = before != "" and before[-1] in _APOSTROPHES and before[:-1] == ""
        if follows_apostrophe and index > 0:
            previous = words[index - 1].group()
            elided = len(previous) == 1 and previous.lower() in _ELISIONS and previous.isascii()
            parts.append(word.capitalize() if elided else lower)
        elif lower_particles and particle and 0 < index < len(words) - 1 and before.isspace():
            parts.append(lower)
        else:
            parts.append(_capitalised(word, mac_all))
        after_particle = particle and not follows_apostrophe
        position = found.end()
    parts.append(value[position:])
    return _same(value, "".join(parts))


# --- date -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DateDecision:
    """The order of day and month a date column is written in, and the evidence: rows (of the
    values given) that can only be read one way, either way, year first, or not at all.

    `order` is None when the values do not decide it: `ambiguous` when no day-month value says
    which comes first, `contradictory` when some can only be day-first and others only
    month-first (two systems' dates mixed: split them by source)."""

    order: DateOrder | None
    day_first: int = 0
    month_first: int = 0
    either: int = 0
    year_first: int = 0
    invalid: int = 0
    ambiguous: bool = False
    contradictory: bool = False


def decide_date_order(values: Iterable[str]) -> DateDecision:
    """The day-month order of a column's dates, from the same evidence `profile` reports: a
    value like 13.01.2024 can only be day-first, 01/13/2024 only month-first."""
    patterns = list(read_dates(values).values())
    day_month = [p for p in patterns if p.pattern not in YEAR_FIRST]
    counts = {
        "day_first": sum(p.day_first for p in day_month),
        "month_first": sum(p.month_first for p in day_month),
        "either": sum(p.either for p in day_month),
        "year_first": sum(p.rows - p.invalid for p in patterns if p.pattern in YEAR_FIRST),
        "invalid": sum(p.invalid for p in patterns),
    }
    day, month = counts["day_first"], counts["month_first"]
    if day and month:
        return DateDecision(None, **counts, contradictory=True)
    if day:
        return DateDecision("dmy", **counts)
    if month:
        return DateDecision("mdy", **counts)
    if counts["either"]:
        return DateDecision(None, **counts, ambiguous=True)
    return DateDecision("ymd" if counts["year_first"] else None, **counts)


class DateOptions(StrictMutable):
    """`order`: how the column writes day and month ("dmy", "mdy", "ymd"), as
    `decide_date_order` decided it; unset, only values with one reading are converted."""

    order: DateOrder | None = None


_DAYFIRST: dict[str | None, bool | None] = {"dmy": True, "mdy": False, "ymd": None, None: None}


def _read_date(text: str, dayfirst: bool | None) -> tuple[dt.datetime | None, str]:
    if found := NUMERIC_DATE.fullmatch(text):
        return read_numeric(found, dayfirst)
    try:
        return parse_datetime(text, DateParse(dayfirst=dayfirst)), ""
    except (Invalid, ValueError, OverflowError) as exc:
        return None, str(exc)


@_keeps_blanks
def date(value: str, *, order: DateOrder | None = None) -> Outcome:
    """A date as ISO "YYYY-MM-DD", a date with a time as "YYYY-MM-DDTHH:MM:SS", reading
    nn/nn/yyyy in the column's `order`. An ISO value stays as it is; one that cannot be read
    in that order is left with the reason. Two-digit years are read as Python does: 69-99 in
    the 1900s, 00-68 in the 2000s."""
    stripped = value.strip()
    if checks.date(stripped) is None or (
        ISO_DATETIME_T.match(stripped) and checks.datetime(stripped) is None
    ):
        return _same(value, stripped)
    moment, reason = _read_date(stripped, _DAYFIRST[order])
    if moment is None:
        if order is None and _read_date(stripped, True)[0] is not None:
            return Outcome(value, "left as is: day and month could be either way round, and the "
                                  "column's order is not decided")
        read = f" (read as {order})" if order and "(read as " not in reason else ""
        return Outcome(value, f"left as is: {reason.removeprefix('is ')}{read}")
    has_time = ":" in stripped or moment.time() != dt.time() or moment.tzinfo is not None
    if not has_time:
        return _same(value, moment.date().isoformat())
    spec = "seconds" if moment.microsecond == 0 else "auto"
    return _same(value, moment.isoformat(timespec=spec))


# --- registry -------------------------------------------------------------------------------


class NoOptions(StrictMutable):
    """This normaliser takes no options."""


def _entry(fn: NormaliserFn, doc: str, options: type[BaseModel] = NoOptions,
           row_context: tuple[str, ...] = (), bulk: Callable[..., pd.Series] | None = None,
           bulk_context: bool = False) -> tuple[str, Normaliser]:
    return fn.__name__, Normaliser(fn.__name__, fn, options, row_context, doc, bulk, bulk_context)


# --- vectorised certainties -----------------------------------------------------------------
# Each returns, per value, the normaliser's result where it is certain without a call, else NA.

_TIDY_ASCII = r"[\x21-\x7e]+(?: [\x21-\x7e]+)*"  # printable ASCII words, one space between


def _where(values: pd.Series, certain: pd.Series, result: pd.Series | None = None) -> pd.Series:
    chosen = values if result is None else result
    return chosen.astype(object).where(certain.fillna(False).astype(bool), None)


def _bulk_tidy_ascii(values: pd.Series) -> pd.Series:
    """Whitespace, Unicode and mojibake steps leave tidy printable ASCII as it is."""
    return _where(values, values.str.fullmatch(_TIDY_ASCII))


def _bulk_person_name(values: pd.Series) -> pd.Series:
    """A name in mixed case (or in a script without case) is left as typed. Case as Python
    sees it, which the per-value normaliser uses: Arrow (ASCII names, in bulk) knows the same
    there, but its newer Unicode tables case letters Python's do not yet (Garay's 𐵐), so the
    other names are judged by Python, one by one."""
    ascii_ = values.str.isascii().fillna(False).astype(bool).to_numpy()
    mixed = (~((values != values.str.lower()) ^ (values != values.str.upper()))).fillna(False).to_numpy(dtype=bool, copy=True)
    mixed[~ascii_] = [isinstance(v, str) and not ((v != v.lower()) ^ (v != v.upper()))
                      for v in values.to_numpy(dtype=object)[~ascii_]]
    return _where(values, pd.Series(mixed, index=values.index))


def _bulk_email(values: pd.Series) -> pd.Series:
    """A plain lower-case address at a domain that is no typo of a common one stays as it is."""
    plain = values.str.fullmatch(checks.PLAIN_EMAIL.pattern) & (values == values.str.lower())
    domains = values.str.replace(r"(?s)^.*@", "", regex=True)  # after the last @, in Arrow
    typos = [d for d in domains[plain].unique() if _domain_typo(d) is not None]
    return _where(values, plain & ~domains.isin(typos))


_COMPACT_PHONE = r"\+[0-9][0-9 ()./-]*"
# A number written nationally: digits and the usual separators, nothing else (no "+", letters,
# extension or label: those go one by one).
_NATIONAL_PHONE = r"[ ()./-]*[0-9][0-9 ()./-]*"


def _bulk_phone(values: pd.Series, context: pd.DataFrame | None = None) -> pd.Series:
    """A number written with its country code, separators aside, whose digits phonenumbers'
    metadata says are a valid number: E.164 is those digits (the number's own code wins over
    any region, so no context is needed). With `context` (per value, the `region` and `country`
    `phone` is called with), also a number written nationally in its row's region
    (`_national_phones`). An extension after either, as `checks.phone_parts` finds it, is
    written ";ext=" after the number, as `phone` writes it."""
    # `phone` reads the number without its extension, which needs a word or a sign besides
    # digits and separators: only values with one are split, with Python's `re` as `phone` does.
    main = values.str.strip().to_numpy(dtype=object)
    extension = np.full(len(values), None, dtype=object)
    other = values.str.contains(r"[^0-9 ()./+-]").fillna(False).to_numpy(dtype=bool)
    if other.any():
        odd = pd.Series(values.to_numpy(dtype=object)[other], dtype=object).str.strip()
        extension[other] = odd.str.extract(checks.PHONE_EXTENSION, expand=False).to_numpy(dtype=object)
        main[other] = odd.str.replace(checks.PHONE_EXTENSION, "", n=1, regex=True).to_numpy(dtype=object)
    main = pd.Series(main, index=values.index, dtype="str")
    candidate = main.str.fullmatch(_COMPACT_PHONE) & ~main.str.contains("(0)", regex=False)
    compact = main.str.replace(r"[ ()./-]", "", regex=True).where(candidate)
    valid = checks.phones_certainly_valid(compact.where(candidate, ""))
    found = _where(main, candidate & valid, compact).to_numpy(dtype=object, copy=True)
    if context is not None:
        national = _national_phones(main, _phone_regions(context)).to_numpy()
        found = np.where(pd.notna(found), found, national)
    with_extension = pd.notna(found) & pd.notna(extension)
    found[with_extension] = found[with_extension] + ";ext=" + extension[with_extension]
    return pd.Series(found, index=values.index, dtype=object)


def _phone_regions(context: pd.DataFrame) -> pd.Series:
    """Per row, the region `phone` reads a number without a country code in: the record's
    country's, else the given region's (None for neither). Each distinct value looked up once."""
    def each(column: pd.Series) -> pd.Series:
        codes, distinct = pd.factorize(column.astype(object), use_na_sentinel=True)
        found = np.array([_region(v) for v in distinct] + [None], dtype=object)
        return pd.Series(found[codes], index=column.index, dtype=object)  # -1 (missing): None

    country = each(context["country"]) if "country" in context else pd.Series(None, index=context.index, dtype=object)
    region = each(context["region"]) if "region" in context else pd.Series(None, index=context.index, dtype=object)
    return country.where(country.notna(), region)


@functools.cache
def _national_plan(region: str) -> tuple[str, str | None, str, tuple[int, ...], tuple[int, ...]] | None:
    """How phonenumbers.parse reads digits without a country code in `region`, where it is a
    plain rule: its country code, the national prefix it strips (a pattern; None: none), the
    international prefix, and the national lengths it strips the prefix for (possible, not
    local-only). None for a region whose prefix rule rewrites the number (a carrier code or an
    area code put in, as Argentina, Brazil, Japan and +1's islands do): those go one by one."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None or metadata.national_prefix_transform_rule:
        return None
    general = metadata.general_desc
    if general is None or not general.possible_length or metadata.international_prefix is None:
        return None
    return (str(metadata.country_code), metadata.national_prefix_for_parsing or None,
            metadata.international_prefix, tuple(general.possible_length),
            tuple(general.possible_length_local_only or ()))


def _national_phones(values: pd.Series, regions: pd.Series) -> pd.Series:
    """`phone` of a number written nationally, where certain: `phonenumbers.parse(digits,
    region)` as the library does it for plain digits (no international prefix, no leading
    country code: those readings are its own guesswork; the national prefix stripped when the
    rest has a possible length), the region's country code put before it, and the result kept
    only where `checks.phones_certainly_valid` calls it valid, since only then is the stripping
    certainly what the library does (it keeps the prefix when the rest is not viable)."""
    candidates = np.full(len(values), None, dtype=object)
    shaped = (values.str.fullmatch(_NATIONAL_PHONE).fillna(False).to_numpy(dtype=bool)
              & regions.notna().to_numpy()
              & ~values.str.strip().str.fullmatch(_EXCEL_FLOAT.pattern).fillna(False).to_numpy(dtype=bool))
    at = np.flatnonzero(shaped)
    if not len(at):
        return pd.Series(candidates, index=values.index, dtype=object)
    digits = pd.Series(values.iloc[at].str.replace(r"[ ()./-]", "", regex=True).to_numpy(), dtype=object)
    located = regions.iloc[at].to_numpy()
    for region, rows in pd.Series(located).groupby(located, sort=False).indices.items():
        plan = _national_plan(region)
        if plan is None:
            continue
        code, prefix, international, lengths, local_only = plan
        written = digits.iloc[rows]
        # "00" is read as "+" by `phone` itself; the region's own international prefix and a
        # leading country code are readings phonenumbers weighs case by case.
        ambiguous = written.str.startswith("00") | written.str.startswith(code) | _starts(written, international)
        national = written
        if prefix and prefix.isdigit():
            national = written.where(~written.str.startswith(prefix), written.str.slice(len(prefix)))
        elif prefix:  # with Python's `re`, as phonenumbers matches it
            national = written.str.replace(f"^(?:{prefix})", "", n=1, regex=True)
        size = national.str.len()
        fits = (size.isin(lengths) & ~size.isin(local_only) & ~ambiguous).to_numpy(dtype=bool)
        candidates[at[rows[fits]]] = ("+" + code + national[fits]).to_numpy()
    found = pd.Series(candidates, index=values.index, dtype=object)
    valid = checks.phones_certainly_valid(found.fillna("").astype("str")).to_numpy(dtype=bool)
    return found.where(valid, None)


def _starts(digits: pd.Series, pattern: str) -> pd.Series:
    """Whether each of `digits` (object dtype) starts with a match of a metadata pattern, as
    phonenumbers' `re.match` finds it; a plain string of digits without a regex."""
    if pattern.isdigit():
        return digits.str.startswith(pattern)
    return digits.str.match(f"(?:{pattern})")


# A host name as `website` leaves it: lower-case ASCII labels, a top-level domain of letters.
_PLAIN_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"


def _bulk_website(values: pd.Series) -> pd.Series:
    """An address written as its plain lower-case domain (no scheme, path or www.) is what
    `website` would make of it."""
    return _where(values, values.str.fullmatch(_PLAIN_DOMAIN) & ~values.str.startswith("www."))


def _bulk_date(values: pd.Series) -> pd.Series:
    """ISO dates and date-times that parse stay as they are."""
    iso = pd.Series(False, index=values.index)
    for pattern in (ISO_DATE, ISO_DATETIME):
        iso |= parses_as_iso(pattern)(values).fillna(False).astype(bool)
    return _where(values, iso)


@functools.cache
def _alpha2_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def _bulk_country(values: pd.Series) -> pd.Series:
    return _where(values, values.isin(_alpha2_codes()))


NORMALISERS: dict[str, Normaliser] = dict([
    _entry(trim, "strip leading and trailing whitespace, no-break and Unicode spaces included", bulk=_bulk_tidy_ascii),
    _entry(collapse, "make every run of whitespace one space", bulk=_bulk_tidy_ascii),
    _entry(nfc, "Unicode NFC: precomposed accented letters", bulk=_bulk_tidy_ascii),
    _entry(invisible, "remove zero-width characters, BOM, soft hyphens, bidi marks and control characters", bulk=_bulk_tidy_ascii),
    _entry(mojibake, "repair text decoded in the wrong encoding (BenoÃ®t -> Benoît)", bulk=_bulk_tidy_ascii),
    _entry(text, "invisible, nfc, trim and collapse: the usual tidying of a text field", bulk=_bulk_tidy_ascii),
    _entry(phone, "phone numbers in E.164, read in the record's country or the given region",
           PhoneOptions, ("country",), bulk=_bulk_phone, bulk_context=True),
    _entry(email, "email addresses trimmed and lower-cased, typos of common mail domains noted", EmailOptions, bulk=_bulk_email),
    _entry(website, "web addresses as their lower-case domain", WebsiteOptions, bulk=_bulk_website),
    _entry(country, "countries as ISO 3166 alpha-2 codes", bulk=_bulk_country),
    _entry(company, "company names tidied, legal forms in their usual casing"),
    _entry(person_name, "names in capitals or lower case put in name case (McDonald, O'Brien, van der)",
           PersonNameOptions, bulk=_bulk_person_name),
    _entry(date, "dates as YYYY-MM-DD (and date-times as YYYY-MM-DDTHH:MM:SS) in the column's order",
           DateOptions, bulk=_bulk_date),
])
