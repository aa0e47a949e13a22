"""The clean stage's value normalisers: real values in several languages and scripts, and the
contract every normaliser keeps for any string (never raises, never blanks or fills a value,
idempotent)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crmmigrate import countries
from crmmigrate.clean.normalisers import (
    NORMALISERS,
    DateDecision,
    Outcome,
    PhoneOptions,
    collapse,
    company,
    company_key,
    country,
    date,
    decide_date_order,
    email,
    invisible,
    legal_form,
    mojibake,
    nfc,
    person_name,
    phone,
    text,
    trim,
    website,
)
from crmmigrate.mapping.config import DateParse
from crmmigrate.mapping.transforms import Invalid, parse_datetime
from crmmigrate.validate import checks

# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Acme  ", "Acme"),
        ("\u00a0Müller GmbH\u00a0", "Müller GmbH"),
        ("\u3000北京\u3000", "北京"),
        ("\u2009Иванов\u202f", "Иванов"),
        ("\tDvořák\n", "Dvořák"),
        ("a  b", "a  b"),  # inner spaces are collapse's business
    ],
)
def test_trim(value: str, expected: str) -> None:
    assert trim(value) == Outcome(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Rue  de la   Paix", "Rue de la Paix"),
        ("Hauptstraße\n12", "Hauptstraße 12"),
        ("ул.\u00a0\u00a0Ленина,\t5", "ул. Ленина, 5"),
        ("  Náměstí  Míru ", "Náměstí Míru"),
    ],
)
def test_collapse(value: str, expected: str) -> None:
    assert collapse(value).value == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Benoi\u0302t", "Benoît"),
        ("Dvor\u030ca\u0301k", "Dvořák"),
        ("Mu\u0308ller", "Müller"),
        ("\u0418\u0306\u0435\u0308", "Йё"),  # и + breve, е + diaeresis
        ("北京", "北京"),
    ],
)
def test_nfc(value: str, expected: str) -> None:
    assert nfc(value).value == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\ufeffAcme", "Acme"),
        ("Mül\u00adler", "Müller"),
        ("Ива\u200bнов", "Иванов"),
        ("\u200e+49 30 1234567\u200f", "+49 30 1234567"),
        ("a\x00b\x07c", "abc"),
        ("line\x0bbreak", "line\nbreak"),  # a separator stays a separator
        ("کتاب\u200cها", "کتاب\u200cها"),  # ZWNJ spells Persian words: kept
        ("👩\u200d💻", "👩\u200d💻"),  # ZWJ spells emoji: kept
        ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
    ],
)
def test_invisible(value: str, expected: str) -> None:
    assert invisible(value).value == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("BenoÃ®t", "Benoît"),
        ("ÐŸÐµÑ‚Ñ€Ð¾Ð²", "Петров"),
        ("MÃ¼ller GmbH", "Müller GmbH"),
        ("Å½ilina", "Žilina"),
        ("ÄŒeskÃ¡ spoÅ™itelna", "Česká spořitelna"),
        ("ZÃ¼rich & â€œCoâ€\x9d", "Zürich & “Co”"),
        # correct text in any script, curly quotes and ligatures included, is not touched
        ("Петров", "Петров"),
        ("北京市朝阳区", "北京市朝阳区"),
        ("Αθήνα", "Αθήνα"),
        ("“quoted” ﬁne", "“quoted” ﬁne"),
        ("naïve résumé, Ørsted", "naïve résumé, Ørsted"),
    ],
)
def test_mojibake(value: str, expected: str) -> None:
    assert mojibake(value).value == expected


def test_text_chains_invisible_nfc_trim_collapse() -> None:
    assert text(" \ufeff Benoi\u0302t \u200b  Dupont\u00a0 ").value == "Benoît Dupont"


# --- phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "context", "expected"),
    [
        ("8 (383) 873-77-84", {"country": "RU"}, "+73838737784"),
        ("8 (383) 873-77-84", {"country": "Россия"}, "+73838737784"),
        ("8 (383) 873-77-84", {"region": "RU"}, "+73838737784"),
        # A label before the number, in several languages.
        ("tel. +7 4012482611", {}, "+74012482611"),
        ("Tel: +49 30 901820", {}, "+4930901820"),
        ("тел. 8 (383) 873-77-84", {"region": "RU"}, "+73838737784"),
        ("电话：+86 10 6552 9988", {}, "+861065529988"),
        ("007 383 376 89 63", {}, "+73833768963"),
        ("001 512 534 3897", {}, "+15125343897"),
        ("+86-284-6798931", {}, "+862846798931"),
        ("14157844971", {}, "+14157844971"),
        ("14157844971.0", {}, "+14157844971"),
        ("1.4157844971E+10", {}, "+14157844971"),
        ("14157844971", {"country": "RU"}, "+14157844971"),  # no RU number: read as +1
        ("+1 212 555 0100 ext. 42", {}, "+12125550100;ext=42"),
        ("(212) 555-0100 x42", {"country": "US"}, "+12125550100;ext=42"),
        ("+7 495 123-45-67 доб. 123", {}, "+74951234567;ext=123"),
        ("+12125550100;ext=42", {}, "+12125550100;ext=42"),
        ("tel:+1-212-555-0100", {}, "+12125550100"),
        ("030 1234567", {"country": "Deutschland"}, "+49301234567"),
        ("+49 (0) 30 1234567", {}, "+49301234567"),
        ("0049 (0)30 1234567", {}, "+49301234567"),
        ("01 23 45 67 89", {"country": "France"}, "+33123456789"),
        ("602 123 456", {"country": "Česko"}, "+420602123456"),
        ("0905 123 456", {"country": "Slovensko"}, "+421905123456"),
        ("010-12345678", {"country": "中国"}, "+861012345678"),
        ("138 0013 8000", {"country": "CN"}, "+8613800138000"),
        ("+7 383 873 77 84", {"country": "DE"}, "+73838737784"),  # its own +7 wins
        ("8 (383) 873-77-84", {"country": "RU", "region": "US"}, "+73838737784"),  # country wins
        ("+73838737784", {}, "+73838737784"),
    ],
)
def test_phone(value: str, context: dict[str, str], expected: str) -> None:
    assert phone(value, **context) == Outcome(expected)


@pytest.mark.parametrize(
    ("value", "context", "note"),
    [
        ("12345", {"country": "US"}, "not a possible phone number in US"),
        # Scientific notation that lost digits is never padded into a number.
        ("7.91612E+10", {"region": "RU"}, "left as is: a spreadsheet wrote it in scientific notation and lost its last digits"),
        ("4.9151E+12", {}, "left as is: a spreadsheet wrote it in scientific notation and lost its last digits"),
        ("+1 555 0100 000", {}, "not a valid phone number"),
        ("+7 000 000 00 00", {}, "not a valid phone number"),
        ("8-800-555-35-35", {}, "left as is: no country code, and not a valid number with one"),
        ("030 1234567", {}, "left as is: no country code, and no region to read it in"),
        ("n/a", {}, "not a phone number: it has letters or signs besides the number"),
        ("+7 383 873-77-84, +7 383 873-77-85", {}, "not a phone number: it has letters or signs besides the number"),
        ("1-800-FLOWERS", {"country": "US"}, "not a phone number: it has letters or signs besides the number"),
        ("555-CALL-NOW", {"country": "DE"}, "not a phone number: it has letters or signs besides the number"),
        ("555-CALL-NOW", {"country": "CN"}, "not a phone number: it has letters or signs besides the number"),
        ("+49 30 +1234", {}, "not a phone number: '+' only starts one"),
        ("---", {"country": "DE"}, "not a phone number: no digits"),
    ],
)
def test_phone_left_as_is_with_reason(value: str, context: dict[str, str], note: str) -> None:
    assert phone(value, **context) == Outcome(value, note)


@pytest.mark.parametrize(("value", "country"), [
    ("555-CALL-NOW", "DE"), ("+1-800-FLOWERS", "US"), ("+49 30 901820 ext. 42", "DE"),
    ("8 (383) 873-77-84 доб. 12", "RU"), ("Tel. +49 30 901820", "DE"), ("+49 30 901820 #", "DE"),
])
def test_phone_clean_and_validation_agree_on_what_is_not_digits(value: str, country: str) -> None:
    """What clean leaves alone for letters or signs, validation refuses for the same reason;
    what validation accepts, clean reads."""
    cleaned = phone(value, country=country)
    judged = checks.phone(country)(value)
    letters = "it has letters or signs besides the number"
    assert (cleaned.note == f"not a phone number: {letters}") == (judged == f"invalid phone: {letters}")
    assert (judged is None) == (cleaned.note is None)


def test_phone_output_is_what_validation_accepts_and_phonenumbers_reads_back() -> None:
    out = phone("+1 212 555 0100 ext. 42").value
    assert checks.phone("US")(out) is None
    parsed = phonenumbers.parse(out, None)
    assert (parsed.country_code, parsed.national_number, parsed.extension) == (1, 2125550100, "42")


def test_phone_region_option_takes_any_country_name_and_rejects_typos() -> None:
    assert PhoneOptions(region="Deutschland").region == "DE"
    assert PhoneOptions().region is None
    with pytest.raises(ValidationError, match="unknown region"):
        PhoneOptions(region="Germanie")
    with pytest.raises(ValidationError, match="regoin"):
        PhoneOptions.model_validate({"regoin": "DE"})


# --- email ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (" John.Smith@Example.COM ", {}, "john.smith@example.com"),
        ("mailto:anna@example.de", {}, "anna@example.de"),
        ("<MAILTO:anna@example.de>", {}, "anna@example.de"),
        ("mailto:<Jan.Novak@Seznam.CZ>", {}, "jan.novak@seznam.cz"),
        ("Jean.Dupont@Orange.FR", {"lower_local": False}, "Jean.Dupont@orange.fr"),
        ("Иван.Петров@Почта.РФ", {}, "иван.петров@почта.рф"),  # Unicode stays Unicode
        ("Müller@Bücher.DE", {}, "müller@bücher.de"),
        ("wang@QQ.com", {}, "wang@qq.com"),
        ("info@xn--bcher-kva.de", {}, "info@xn--bcher-kva.de"),  # punycode is not decoded
        ("anna@gmial.com", {"fix_typos": True}, "anna@gmail.com"),
        ("ANNA@Hotmal.com", {"fix_typos": True}, "anna@hotmail.com"),
        ("petrov@yandex.ry", {"fix_typos": True}, "petrov@yandex.ru"),
    ],
)
def test_email(value: str, options: dict[str, bool], expected: str) -> None:
    assert email(value, **options) == Outcome(expected)


@pytest.mark.parametrize(
    ("value", "expected", "typo_of"),
    [
        ("anna@gmial.com", "anna@gmial.com", "gmail.com"),
        ("Anna@GMAIL.CON", "anna@gmail.con", "gmail.com"),
        ("bob@yahooo.com", "bob@yahooo.com", "yahoo.com"),
        ("bob@hotmal.com", "bob@hotmal.com", "hotmail.com"),
        ("ivan@mail.rv", "ivan@mail.rv", "mail.ru"),
        ("li@qq.con", "li@qq.con", "qq.com"),
        ("hans@gmx.dd", "hans@gmx.dd", "gmx.de"),
        ("anna@outlok.com", "anna@outlok.com", "outlook.com"),
    ],
)
def test_email_typo_is_noted_not_fixed_by_default(value: str, expected: str, typo_of: str) -> None:
    domain = expected.partition("@")[2]
    assert email(value) == Outcome(expected, f"domain {domain!r} looks like a typo of {typo_of!r}")


@pytest.mark.parametrize(
    "value",
    ["a@gmx.at", "a@cloud.com", "a@mail.com", "a@yandex.ua", "a@126.com", "a@hotmail.fr", "a@acme.de"],
)
def test_email_real_neighbours_of_common_domains_are_no_typos(value: str) -> None:
    assert email(value, fix_typos=True) == Outcome(value)


@pytest.mark.parametrize(
    "value",
    [
        "not an email",
        "John <john@example.com>",
        "a@@b.com",
        "anna@localhost",
        "Anna Smith@Example.COM",  # invalid: not even lower-cased
        "ANNA@EXAMPLE",
        "mailto:",
        "x" * 250 + "@Example.com",
    ],
)
def test_email_invalid_is_left_exactly_as_it_was(value: str) -> None:
    outcome = email(value)
    assert outcome.value == value
    assert outcome.note


# --- website --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("HTTPS://www.Example.COM/about?x=1", {}, "example.com"),
        ("www.acme.de", {}, "acme.de"),
        ("http://www.www.example.com", {}, "example.com"),
        ("https://www.example.com/", {"keep_www": True}, "www.example.com"),
        ("HTTPS://www.Example.COM/About/?x=1#top", {"keep_path": True}, "example.com/About"),
        ("http://example.com:8080/app/", {"keep_path": True}, "example.com:8080/app"),
        ("https://example.com:443/app", {"keep_path": True}, "example.com/app"),
        ("https://www.Bücher.de", {}, "bücher.de"),
        ("http://пример.рф/контакты", {}, "пример.рф"),
        ("www.seznam.cz/", {}, "seznam.cz"),
        ("https://www.baidu.com/s?wd=1", {}, "baidu.com"),
        ("example.com.", {}, "example.com"),
        ("http://192.168.0.1/", {}, "192.168.0.1"),  # validation takes an IP address as a host
        ("www.com", {}, "www.com"),  # "com" alone is no host
    ],
)
def test_website(value: str, options: dict[str, bool], expected: str) -> None:
    assert website(value, **options) == Outcome(expected)


@pytest.mark.parametrize(
    ("value", "note"),
    [
        ("n/a", "not a web address of a named host"),
        ("-", "not a web address of a named host"),
        ("info@example.com", "not a web address: it looks like an email address"),
        ("ftp://files.example.com", "not a web address: ftp is no web scheme"),
        ("Acme Corp website", "not a web address: it has spaces"),
        ("http://localhost/", "not a web address of a named host"),
        ("http://[::1", "not a web address"),
        ("example.com:99999", "not a web address"),
    ],
)
def test_website_not_a_url_is_left_with_reason(value: str, note: str) -> None:
    assert website(value) == Outcome(value, note)


# --- country --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Deutschland", "DE"),
        ("Slovensko", "SK"),
        ("Россия", "RU"),
        ("中国", "CN"),
        ("USA", "US"),
        ("PRC", "CN"),
        (" germany ", "DE"),
        ("Česká republika", "CZ"),
        ("Německo", "DE"),
        ("Rakúsko", "AT"),
        ("Royaume-Uni", "GB"),
        ("Magyarország", "HU"),
        ("Ελλάδα", "GR"),
        ("Вьетнам", "VN"),
        ("fr", "FR"),
        ("DE", "DE"),
    ],
)
def test_country(value: str, expected: str) -> None:
    assert country(value) == Outcome(expected)


def test_country_unknown_is_left_with_reason() -> None:
    assert country("Atlantis") == Outcome("Atlantis", "not a country name or code crmmigrate knows")


def test_country_codes_are_their_own_code() -> None:
    # Idempotence for every result country can give: a code reads as itself.
    assert all(country(c.alpha_2).value == c.alpha_2 for c in pycountry.countries)
    # And every extra name points at a real code.
    assert {code for code in countries._OTHER_NAMES} <= {c.alpha_2 for c in pycountry.countries}


# --- company --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ACME corp.", "ACME Corp."),
        ("acme inc", "acme Inc"),
        ("Acme ,Inc.", "Acme, Inc."),
        ("Acme,Inc.", "Acme, Inc."),
        ("  Siemens   ag ", "Siemens AG"),
        ("mustermann gmbh & co. kg", "mustermann GmbH & Co. KG"),
        ("ооо « Мегаполис »", "ООО «Мегаполис»"),
        ('ООО " Ромашка "', 'ООО "Ромашка"'),
        ("Firma » Alpha « GmbH", "Firma »Alpha« GmbH"),
        ("Wydawnictwo „ Znak ” sp. z o.o.", "Wydawnictwo „Znak” sp. z o.o."),
        ("Acme “Best” Ltd", "Acme “Best” Ltd"),
        ("«Альфа» и «Омега»", "«Альфа» и «Омега»"),  # not one pair » и «
        ("Acme ( UK ) Ltd", "Acme (UK) Ltd"),
        ("ŠKODA AUTO A.S.", "ŠKODA AUTO a.s."),
        ("Novák spol. s r.o.", "Novák spol. s r.o."),
        ("Firma SP. Z O.O.", "Firma sp. z o.o."),
        ("Firma Sp. z o.o.", "Firma Sp. z o.o."),  # an accepted spelling stays
        ("sarl Dupont", "SARL Dupont"),
        ("ип Иванов И.И.", "ИП Иванов И.И."),
        ("Société Générale sa", "Société Générale SA"),
        ("华为技术有限公司", "华为技术有限公司"),
        ("Hotel & Spa", "Hotel & Spa"),  # an everyday word, not S.p.A.
        ("GmbH", "GmbH"),
        ("deShawn Holdings LLC", "deShawn Holdings LLC"),
    ],
)
def test_company(value: str, expected: str) -> None:
    assert company(value).value == expected


@pytest.mark.parametrize(
    ("names", "key"),
    [
        (["ACME Corp.", "Acme Corporation", "Acme, Inc.", "ACME INC", "acme", "Acme Ltd"], "acme"),
        (["ООО «Мегаполис»", "Мегаполис ООО", 'ООО "Мегаполис"',
          "Общество с ограниченной ответственностью «Мегаполис»"], "мегаполис"),
        (["Megapolis LLC", "Megapolis L.L.C."], "megapolis"),
        (["Mustermann GmbH", "Mustermann GmbH & Co. KG", "MUSTERMANN GMBH"], "mustermann"),
        (["Société Générale SA", "SOCIETE GENERALE S.A.", "Societe Generale"], "societe generale"),
        (["SARL Dupont", "Dupont SARL"], "dupont"),
        (["ŠKODA AUTO a.s.", "Škoda Auto"], "skoda auto"),
        (["Αθήνα Α.Ε.", "ΑΘΗΝΑ"], "αθηνα"),
        (["Pekárna Novák spol. s r.o.", "Pekárna Novák s.r.o."], "pekarna novak"),
        (["Firma Kowalski Sp. z o.o.", "Firma Kowalski"], "firma kowalski"),
        (["华为技术有限公司", "华为技术"], "华为技术"),
        (["腾讯科技股份有限公司", "腾讯科技"], "腾讯科技"),
        (["トヨタ自動車株式会社", "トヨタ自動車"], "トヨタ自動車"),
        (["株式会社東芝", "東芝"], "東芝"),
        (["(주)삼성전자", "삼성전자 주식회사", "㈜삼성전자"], "삼성전자"),
        (["Tencent Holdings Co., Ltd.", "Tencent Holdings"], "tencent holdings"),
        (["ＡＣＭＥ　Ｉｎｃ．", "ACME"], "acme"),
        (["Ёлка АО", "Елка"], "елка"),
    ],
)
def test_company_key_matches_names_across_legal_forms(names: list[str], key: str) -> None:
    assert {name: company_key(name) for name in names} == dict.fromkeys(names, key)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Hotel & Spa", "hotel spa"),  # "Spa" is no S.p.A.
        ("Known As", "known as"),  # "As" is no A/S
        ("Мой Мир", "мой мир"),  # й stays й
        ("İSTANBUL Holding", "istanbul holding"),
        ("グーグル合同会社", "グーグル"),  # kana keep their marks
        ("McDonald's", "mcdonalds"),
        ("AG", "ag"),  # a name that is only a legal form keeps it
        ("Acme Ltd (UK)", "acme ltd uk"),  # only at the ends
        ("AO Smith", "ao smith"),  # AO is a prefix only in Cyrillic
        ("---", ""),
    ],
)
def test_company_key_keeps_what_is_not_a_legal_form(name: str, key: str) -> None:
    assert company_key(name) == key


@pytest.mark.parametrize(
    ("name", "form"),
    [
        ("Acme, Inc.", "Inc."),
        ("Acme Incorporated", "Inc."),
        ("ООО «Мегаполис»", "ООО"),
        ("Mustermann GmbH & Co. KG", "GmbH & Co. KG"),
        ("Pekárna Novák spol. s r.o.", "s.r.o."),
        ("Firma sp. z o.o.", "sp. z o.o."),
        ("华为技术有限公司", "有限公司"),
        ("株式会社東芝", "株式会社"),
        ("Acme Pty Ltd", "Pty Ltd"),
        ("Magyar Telekom Nyrt.", "Nyrt."),
        ("ФОП Шевченко", "ФОП"),
        ("Acme", None),
        ("GmbH", None),
    ],
)
def test_legal_form(name: str, form: str | None) -> None:
    assert legal_form(name) == form


# --- person name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("JOHN MCDONALD", {}, "John McDonald"),
        ("o'brien", {}, "O'Brien"),
        ("ANNE-MARIE D'ANGELO", {}, "Anne-Marie D'Angelo"),
        ("MARIA DE LA CRUZ", {}, "Maria de la Cruz"),
        ("LUDWIG VAN BEETHOVEN", {}, "Ludwig van Beethoven"),
        ("VAN DER BERG", {}, "Van der Berg"),
        ("ursula von der leyen", {}, "Ursula von der Leyen"),
        ("MARINE LE PEN", {}, "Marine Le Pen"),  # le only after a particle
        ("JOÃO DOS SANTOS", {}, "João dos Santos"),
        ("LEONARDO DA VINCI", {}, "Leonardo da Vinci"),
        ("MACDONALD", {}, "MacDonald"),
        ("MACK", {}, "Mack"),
        ("MACY", {}, "Macy"),
        ("MACHADO", {}, "Machado"),
        ("macintosh", {}, "Macintosh"),
        ("macintosh", {"mac_all": True}, "MacIntosh"),
        ("machado", {"mac_all": True}, "Machado"),
        ("MARIA DE LA CRUZ", {"lower_particles": False}, "Maria De La Cruz"),
        ("ИВАНОВ ИВАН ИВАНОВИЧ", {}, "Иванов Иван Иванович"),
        ("петрова-водкина", {}, "Петрова-Водкина"),
        ("П'ЯТНИЦЬКИЙ", {}, "П'ятницький"),
        ("ΠΑΠΑΔΟΠΟΥΛΟΣ", {}, "Παπαδοπουλος"),  # final sigma
        ("DVOŘÁK", {}, "Dvořák"),
        ("ŠŤASTNÝ", {}, "Šťastný"),
        ("MÜLLER-LÜDENSCHEIDT", {}, "Müller-Lüdenscheidt"),
        ("FRANÇOIS", {}, "François"),
        # as typed: mixed case, or no case at all
        ("DeShawn", {}, "DeShawn"),
        ("McDonald", {}, "McDonald"),
        ("van Dyke", {}, "van Dyke"),
        ("王小明", {}, "王小明"),
        ("山田 太郎", {}, "山田 太郎"),
        ("王 XIAOMING", {}, "王 Xiaoming"),
    ],
)
def test_person_name(value: str, options: dict[str, bool], expected: str) -> None:
    assert person_name(value, **options) == Outcome(expected)


# --- date -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "order", "ambiguous", "contradictory"),
    [
        (["25.12.2021", "01.02.2021", "2021-01-01"], "dmy", False, False),
        (["12/25/2021", "01/02/2021"], "mdy", False, False),
        (["01/02/2021", "03/04/2021 10:00"], None, True, False),
        (["13/01/2021", "01/13/2021"], None, False, True),
        (["2021-01-01", "2021/02/03"], "ymd", False, False),
        (["", "n/a", "hello"], None, False, False),
        ([], None, False, False),
    ],
)
def test_decide_date_order(
    values: list[str], order: str | None, ambiguous: bool, contradictory: bool
) -> None:
    decision = decide_date_order(values)
    assert (decision.order, decision.ambiguous, decision.contradictory) == (order, ambiguous, contradictory)


def test_decide_date_order_counts_rows_as_the_profile_does() -> None:
    decision = decide_date_order(["25.12.2021", "25.12.2021", "01.02.2021", "2021-01-01", "31.02.2021"])
    assert decision == DateDecision(
        "dmy", day_first=2, month_first=0, either=1, year_first=1, invalid=1
    )


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        ("25.12.2021", None, "2021-12-25"),  # one reading only: no order needed
        ("03/04/2021", "mdy", "2021-03-04"),
        ("03/04/2021", "dmy", "2021-04-03"),
        ("3.4.21", "dmy", "2021-04-03"),
        ("25.12.2021 14:30", "dmy", "2021-12-25T14:30:00"),
        ("12/25/2021 2:30 PM", "mdy", "2021-12-25T14:30:00"),
        ("2021-03-04", "dmy", "2021-03-04"),
        ("2021-03-04T10:00:00", None, "2021-03-04T10:00:00"),
        ("2021-03-04 10:00", None, "2021-03-04T10:00:00"),
        ("2021-03-04T10:00:00.5", None, "2021-03-04T10:00:00.5"),  # ISO already: no precision lost
        ("2021/03/04", "ymd", "2021-03-04"),
        ("12 Mar 2021", None, "2021-03-12"),
        (" 04.03.2021 ", "dmy", "2021-03-04"),
    ],
)
def test_date(value: str, order: str | None, expected: str) -> None:
    assert date(value, order=order) == Outcome(expected)


@pytest.mark.parametrize(
    ("value", "order", "note"),
    [
        ("03/04/2021", None,
         "left as is: day and month could be either way round, and the column's order is not decided"),
        ("13/01/2021", "mdy", "left as is: not a date: month 13 does not exist (read as MM/DD/YYYY)"),
        ("31.02.2021", "dmy", "left as is: not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)"),
        ("2021-02-30", None, "left as is: not a date: day 30 does not exist in February 2021 (read as YYYY-MM-DD)"),
        ("soon", "dmy", "left as is: not a recognisable date (read as dmy)"),
    ],
)
def test_date_unreadable_is_left_with_reason(value: str, order: str | None, note: str) -> None:
    assert date(value, order=order) == Outcome(value, note)


@settings(max_examples=300, deadline=None)
@given(
    value=st.from_regex(r"[0-9]{1,2}[./-][0-9]{1,2}[./-]([0-9]{2}|[0-9]{4})( [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?",
                        fullmatch=True),
    order=st.sampled_from([None, "dmy", "mdy"]),
)
def test_date_reads_as_the_mapping_date_transform_does(value: str, order: str | None) -> None:
    # The clean stage's fast path for nn/nn/yyyy must agree with the mapping's parse_datetime.
    dayfirst = {None: None, "dmy": True, "mdy": False}[order]
    try:
        moment = parse_datetime(value, DateParse(dayfirst=dayfirst))
    except Invalid:
        assert date(value, order=order).value == value
        return
    expected = moment.isoformat(timespec="seconds") if ":" in value else moment.date().isoformat()
    assert date(value, order=order) == Outcome(expected)


# --- registry and contract ------------------------------------------------------------------


def test_registry_entries_follow_the_engine_contract() -> None:
    assert set(NORMALISERS) == {
        "trim", "collapse", "nfc", "invisible", "mojibake", "text", "phone", "email", "website",
        "country", "company", "person_name", "date",
    }
    for name, entry in NORMALISERS.items():
        assert entry.name == name
        assert entry.doc and "\n" not in entry.doc
        assert entry.options.model_config.get("extra") == "forbid"
        entry.options()  # every option has a default
        with pytest.raises(ValidationError):
            entry.options.model_validate({"no_such_option": 1})
    assert NORMALISERS["phone"].row_context == ("country",)
    assert all(e.row_context == () for n, e in NORMALISERS.items() if n != "phone")


def test_registry_calls_as_the_engine_will() -> None:
    entry = NORMALISERS["phone"]
    options = entry.options.model_validate({"region": "US"})
    outcome = entry.fn("8 (383) 873-77-84", **options.model_dump(), country="Россия")
    assert outcome == Outcome("+73838737784")
    entry = NORMALISERS["date"]
    order = decide_date_order(["25.12.2021", "03.04.2021"]).order
    outcome = entry.fn("03.04.2021", **entry.options.model_validate({"order": order}).model_dump())
    assert outcome == Outcome("2021-04-03")


# Each registry entry with option sets worth exercising, and its row context.
CALLS = [
    ("trim", {}), ("collapse", {}), ("nfc", {}), ("invisible", {}), ("mojibake", {}), ("text", {}),
    ("phone", {"region": None, "country": None}),
    ("phone", {"region": "DE", "country": None}),
    ("phone", {"region": None, "country": "RU"}),
    ("email", {}), ("email", {"fix_typos": True, "lower_local": False}),
    ("website", {}), ("website", {"keep_www": True, "keep_path": True}),
    ("country", {}), ("company", {}),
    ("person_name", {}), ("person_name", {"mac_all": True, "lower_particles": False}),
    ("date", {"order": None}), ("date", {"order": "dmy"}), ("date", {"order": "mdy"}),
    ("date", {"order": "ymd"}),
]
CALL_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in CALLS]

# Arbitrary Unicode, plus text shaped like what each normaliser expects, so the properties
# reach past the "not a ..." early exits.
_SHAPED = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 +()-./x#;=ext", max_size=30),
    st.from_regex(r"\s*(\+|00)?[1-9][0-9 ()-]{6,16}(\s*(ext\.?|x)\s*[0-9]{1,4})?\s*", fullmatch=True),
    st.from_regex(r"\s*(mailto:)?<?[A-Za-zÀ-ÿа-я0-9._%+-]{1,12}@[A-Za-zа-я0-9-]{1,10}\.[A-Za-z]{2,4}>?\s*",
                  fullmatch=True),
    st.from_regex(r"(https?://)?(www\.)*[A-Za-z0-9ü-]{1,10}(\.[A-Za-z]{2,5}){1,2}(:[0-9]{1,5})?(/[A-Za-z0-9./]*)?",
                  fullmatch=True),
    st.from_regex(r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}( [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?", fullmatch=True),
    st.lists(st.sampled_from(["ACME", "acme", "Inc.", "inc", "ООО", "«Ромашка»", "GmbH", "&", "Co.", "KG",
                              "s.r.o.", "spol.", "MAC", "mcdonald", "DE", "LA", "van", "der", "O'BRIEN",
                              "有限公司", "株式会社", ",", "\"", "(", ")", "Spa", "AS"]),
             max_size=6).map(" ".join),
    st.text(alphabet=st.characters(categories=["Lu", "Ll", "Zs", "Pd", "Po"]), max_size=20),
)


def _call(name: str, options: dict[str, object], value: str) -> Outcome:
    return NORMALISERS[name].fn(value, **options)


@pytest.mark.parametrize(("name", "options"), CALLS, ids=CALL_IDS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_SHAPED)
def test_contract_for_any_text(name: str, options: dict[str, object], value: str) -> None:
    outcome = _call(name, options, value)  # never raises
    assert isinstance(outcome, Outcome) and isinstance(outcome.value, str)
    if not value.strip():
        assert outcome.value == value  # a blank stays the same blank
    else:
        assert outcome.value.strip()  # never made blank
    again = _call(name, options, outcome.value)
    assert again.value == outcome.value  # idempotent


@settings(max_examples=200, deadline=None)
@given(value=st.text())
def test_company_key_and_legal_form_never_raise(value: str) -> None:
    key = company_key(value)
    assert key == key.casefold() and key == " ".join(key.split())
    assert legal_form(value) is None or isinstance(legal_form(value), str)


def _key_by_letter(name: str) -> str:
    """company_key's folding as its rule reads, one character at a time."""
    from crmmigrate.clean.normalisers import _JOINING, _find_forms, _fold_letter, _strip_glued

    text = " ".join(unicodedata.normalize("NFKC", name).split())
    tokens = text.split(" ")
    start, end, _ = _find_forms(tokens)
    text, _ = _strip_glued(" ".join(tokens[start:end]))
    folded = []
    for ch in text.casefold():
        if ch in _JOINING or "\u0300" <= ch <= "\u036f":
            continue
        folded.append(" " if unicodedata.category(ch)[0] in "PSZC" else _fold_letter(ch))
    return " ".join("".join(folded).split())


@settings(max_examples=300, deadline=None)
@given(value=st.text() | st.sampled_from(["ACME Corp.", "ООО «Ёлка»", "İstanbul A.Ş.", "株式会社トヨタ", "(株)ソニー",
                                          "Ｓｏｎｙ　株式会社", "Café ﬁne Ltd", "Σίσυφος Α.Ε.", "McDonald's"]))
def test_company_key_folds_each_character_as_its_rule_says(value: str) -> None:
    # company_key folds through a translate table filled a character at a time; this is the
    # plain loop it stands for.
    assert company_key(value) == _key_by_letter(value)


def test_every_glued_legal_form_has_a_character_outside_ascii() -> None:
    # _strip_glued skips ASCII names on this ground.
    from crmmigrate.clean.normalisers import _spellings

    assert all(not spelling.tokens[0].isascii() for spelling in _spellings()[1])


@settings(max_examples=100, deadline=None)
@given(values=st.lists(_SHAPED, max_size=10))
def test_decide_date_order_never_raises(values: list[str]) -> None:
    decision = decide_date_order(values)
    assert decision.order in ("dmy", "mdy", "ymd", None)
    assert not (decision.ambiguous and decision.contradictory)


# --- the vectorised certainties agree with the normalisers ----------------------------------------

BULK_VALUES = [
    "Acme", " Acme ", "ACME  inc", "anna", "ANNA", "Anna-Maria", "McDonald", "O'BRIEN", "王伟", "Müller", "BenoÃ®t",
    "+49 30 901820", "+4930901820", "+7 (383) 873-77-84", "+44 (0)20 7946 0958", "+1 212 555 0100 ext. 42",
    "+1-212-555-0100", "+86 10 6552 9988", "+39 06 1234 5678", "+12", "8 (383) 873-77-84",
    "a@b.com", "A@B.com", "bob@gmial.com", "x@yahooo.com", "user@firm.de", "user at firm",
    "2024-01-31", "2024-01-31T10:00:00", "31.01.2024", "2024-02-30", "DE", "de", "Germany", "XX",
    "cruz.com", "www.cruz.com", "HTTPS://Cruz.com/about", "shop.co.uk", "a-.com", "x.123", "münchen.de",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"(www\.)?[a-z0-9-]{1,12}(\.[a-z0-9-]{1,8}){1,3}", fullmatch=True), min_size=1,
                max_size=20))
def test_domains_the_website_bulk_takes_are_what_website_gives(values):
    certain = NORMALISERS["website"].bulk(pd.Series(values, dtype="str"))
    for value, result in zip(values, certain, strict=True):
        if result is not None and result is not pd.NA:
            assert (website(value).value, website(value).note) == (result, None), value


@pytest.mark.parametrize("name", [n for n, entry in NORMALISERS.items() if entry.bulk is not None])
def test_bulk_certainties_are_what_the_normaliser_gives(name):
    entry = NORMALISERS[name]
    values = pd.Series(BULK_VALUES, dtype="str")
    certain = entry.bulk(values)
    assert certain.notna().any(), "the bulk path should be certain of some of these"
    for value, result in zip(BULK_VALUES, certain, strict=True):
        if result is None or result is pd.NA:
            continue
        outcome = entry.fn(value)
        assert (outcome.value, outcome.note) == (result, None), value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=20))
def test_bulk_certainties_hold_for_any_text(values):
    for name, entry in NORMALISERS.items():
        if entry.bulk is None:
            continue
        certain = entry.bulk(pd.Series(values, dtype="str"))
        for value, result in zip(values, certain, strict=True):
            if result is None or result is pd.NA:
                continue
            assert entry.fn(value).value == result, (name, value)


# Regions whose national prefix is a plain rule (the bulk reads their national numbers) and ones
# whose rule rewrites the number or that have none (it must leave theirs alone or get them right).
PHONE_REGIONS = ("US", "CA", "DE", "AT", "CH", "FR", "GB", "IT", "RU", "KZ", "NL", "ES", "PL", "SE",
                 "AU", "IN", "CN", "KR", "JP", "BR", "AR", "MX", "BY", "LT", "SM", "GG", "JE", "AG",
                 "PR", "HU", "FI", "NZ", "SG", "CO", "BO", "LU", "CR", "NF", "VA")
PHONE_TYPES = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
               phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE)
_SEPARATED = {  # the national digits written in the styles legacy systems use
    "digits": lambda d: d,
    "spaces": lambda d: " ".join(d[i:i + 3] for i in range(0, len(d), 3)),
    "dashes": lambda d: "-".join(d[i:i + 4] for i in range(0, len(d), 4)),
    "dots": lambda d: ".".join(d[i:i + 3] for i in range(0, len(d), 3)),
    "slash": lambda d: f"{d[:4]}/{d[4:]}",
    "paren": lambda d: f"({d[:3]}) {d[3:6]}-{d[6:]}",
    "padded": lambda d: f"  {d[:3]} {d[3:]} ",
    "zero paren": lambda d: f"(0){d}",
}


def _example_digits(region: str, kind: phonenumbers.PhoneNumberType) -> str | None:
    number = phonenumbers.example_number_for_type(region, kind)
    return None if number is None else phonenumbers.national_significant_number(number)


@st.composite
def written_phones(draw: st.DrawFn) -> tuple[str, str | None, str | None]:
    """A phone value as a legacy export holds it, with the region and country `phone` is
    called with: real numbers of many regions written nationally (with and without the trunk
    prefix, in every separator style), with their country code (with "+", "00" or bare),
    changed a digit, cut or lengthened, with extensions (written every way, and ones that are
    not), labels, letters, or garbage."""
    region = draw(st.sampled_from(PHONE_REGIONS))
    kind = draw(st.sampled_from(PHONE_TYPES))
    nsn = _example_digits(region, kind) or _example_digits(region, PHONE_TYPES[0]) or "2125550100"
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk = metadata.national_prefix or ""
    digits = draw(st.sampled_from([nsn, trunk + nsn, f"{metadata.country_code}{nsn}",
                                   f"00{metadata.country_code}{nsn}", "1" + nsn]))
    edit = draw(st.sampled_from(["none", "none", "digit", "cut", "longer", "random"]))
    if edit == "digit" and digits:
        at = draw(st.integers(0, len(digits) - 1))
        digits = digits[:at] + draw(st.sampled_from("0123456789")) + digits[at + 1:]
    elif edit == "cut":
        digits = digits[: draw(st.integers(0, len(digits)))]
    elif edit == "longer":
        digits += draw(st.text("0123456789", min_size=1, max_size=4))
    elif edit == "random":
        digits = draw(st.text("0123456789", min_size=1, max_size=18))
    style = draw(st.sampled_from(sorted(_SEPARATED)))
    value = _SEPARATED[style](digits) if digits else digits
    extension = draw(st.sampled_from([" ext. 42", "x42", " x 7", "#42", ";ext=42", ", ext 0", " доб. 42",
                                      " Durchwahl 3", " x 12345678901", " ext.", " x42 x43", " 42"]))
    value = draw(st.sampled_from([value, value, value, f"+{value.strip()}", f"{value}{extension}",
                                  f"+{value.strip()}{extension}", f"tel. {value}", f"{value}A", f"{value}.0",
                                  f"{value}\t", f"\t{value}", f"{value}–1", draw(st.text(max_size=12))]))
    context_region = draw(st.sampled_from([region, region, None, "DE", "Germany"]))
    country = draw(st.sampled_from([None, None, "", " ", region, "United States", "Deutschland", "Atlantis"]))
    return value, context_region, country


def _bulk_phone_agrees(values: list[str], regions: list[str | None], countries_given: list[str | None]) -> int:
    """The phone bulk's results, where it gives one, are `phone`'s for the same value, region
    and country, and `phone` says nothing there. How many it gave."""
    context = pd.DataFrame({"region": regions, "country": countries_given}, dtype=object)
    certain = NORMALISERS["phone"].bulk(pd.Series(values, dtype="str"), context)
    given = 0
    for value, region, country_, result in zip(values, regions, countries_given, certain, strict=True):
        if result is None or result is pd.NA:
            continue
        given += 1
        country_ = country_ if isinstance(country_, str) and country_.strip() else None
        assert phone(value, region=region, country=country_) == Outcome(result), (value, region, country_)
    return given


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(written_phones(), min_size=1, max_size=30))
def test_bulk_phone_in_context_is_what_phone_gives(rows):
    values, regions, countries_given = map(list, zip(*rows, strict=True))
    _bulk_phone_agrees(values, regions, countries_given)


def test_bulk_phone_reads_national_numbers_in_their_rows_region(monkeypatch):
    """Realistic US contacts (bench/realistic.py's formats) and the German export's numbers:
    the bulk takes the national ones, in the record's country, else the given region."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    from realistic import _phone_text

    rng = np.random.default_rng(3)
    numbers = rng.integers(2_000_000_000, 9_999_999_999, 3000)
    # Numbers of real US area codes, as make_crm draws them (the others `phone` reads as
    # international numbers without their "+", which the bulk leaves to it).
    numbers = numbers[[phonenumbers.is_valid_number(phonenumbers.parse(str(n), "US")) for n in numbers]]
    numbers[:20] = -1  # missing
    us = [v for v in _phone_text(numbers, rng.integers(0, 5, len(numbers))) if v is not None]
    us[::10] = [f"{v} ext. {n}" for v, n in zip(us[::10], rng.integers(100, 999, len(us[::10])), strict=True)]
    exports = Path(__file__).parents[1] / "examples" / "exports"
    contacts = pd.read_csv(exports / "kontakte.csv", dtype=str, encoding="cp1252")
    accounts = pd.read_csv(exports / "accounts.csv", dtype=str, sep=";", encoding="utf-8-sig")
    german = [v for v in [*contacts["Telefon"], *contacts["Mobil"], *accounts["Telefon"]] if isinstance(v, str)]
    values = us + german + german
    regions = ["US"] * len(us) + ["DE"] * len(german) + [None] * len(german)
    countries_given = [None] * len(us) + [None] * len(german) + ["Deutschland"] * len(german)
    given = _bulk_phone_agrees(values, regions, countries_given)
    clean = sum(phone(v, region=r, country=c).note is None for v, r, c in zip(values, regions, countries_given))
    assert given == clean > 0.9 * len(values)  # every number that cleans without a word
    certain = NORMALISERS["phone"].bulk(pd.Series(["312 555 0100 x42", "030 1234567"], dtype="str"),
                                        pd.DataFrame({"region": ["US", "US"], "country": [None, "DE"]}))
    assert certain.tolist() == ["+13125550100;ext=42", "+49301234567"]  # the record's country wins


def test_bulk_phone_without_context_reads_only_numbers_with_their_country_code():
    certain = NORMALISERS["phone"].bulk(pd.Series(["(312) 555-0100", "+1 312 555 0100"], dtype="str"))
    assert certain.tolist() == [None, "+13125550100"]


def test_the_gates_fast_path_takes_a_cleaned_extension_exactly_as_the_gate_does():
    """phone writes an extension as ";ext=" after the number; the gate's vectorised check
    judges such a value as the number before it, which is what the gate's one-by-one check
    (phonenumbers, reading RFC 3966's ";ext=") says too."""
    rng = np.random.default_rng(5)
    numbers = sorted({phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                      for region in PHONE_REGIONS for kind in PHONE_TYPES
                      if (number := phonenumbers.example_number_for_type(region, kind)) is not None})
    numbers += [n[:-1] + str(rng.integers(10)) for n in numbers] + [n[:-1] for n in numbers]
    extensions = [str(rng.integers(0, 10 ** rng.integers(1, 10))) for _ in numbers]
    written = [f"{n};ext={e}" for n, e in zip(numbers, extensions, strict=True)]
    fast = checks.phones_certainly_valid(pd.Series(written, dtype="str")).to_numpy()
    assert fast.tolist() == checks.phones_certainly_valid(pd.Series(numbers, dtype="str")).tolist()
    assert fast.sum() > len(numbers) / 3
    for value, certain in zip(written, fast, strict=True):
        if certain:
            assert checks.phone(None)(value) is None and checks.phone("DE")(value) is None, value
    odd = ["+13125550100 ;ext=42", "+13125550100;ext=", "+13125550100;ext=12345678901", "3125550100;ext=4"]
    assert not checks.phones_certainly_valid(pd.Series(odd, dtype="str")).any()
