"""Clean canonical contacts; print, per field, crmmigrate's time beside the libraries it uses
called directly over the same values.

    python bench/bench_clean.py [--rows 1000000]

The contacts are bench_validate's (2% invalid values), with dirt planted the way legacy exports
carry it: phones written nationally and with separators, emails in capitals with padding, names
in capitals, countries by name, day-first dates. crmmigrate's clean runs the shipped rules over
all 14 fields it touches (every text field tidied and mojibake-repaired, phones to E.164 in the
record's country, emails, countries, person names, dates with the day/month order decided from
the column), with its change log and notes; its time per field is read from its progress
callback (told after each field), the rest of its total is the copy of the frame and the change log and notes assembled.

The reference, in the same run and over the same rows, calls each library once per distinct
value of the field (as crmmigrate does) and maps the results back with pandas, with no change
log, notes or gate check:
- text fields: `" ".join(v.split())`, `unicodedata.normalize("NFC")`, then `ftfy.fix_text`
  with encoding repair only (crmmigrate's ftfy settings);
- first and last name: the same, then `str.title()` when the name is all capitals or all
  lower case;
- email: `strip().lower()`, then `email_validator.validate_email` (no DNS);
- phone and mobile: `phonenumbers.parse` in the record's country (its ISO code, else DE),
  `is_valid_number`, `format_number(E164)`, per distinct (number, country);
- mailing_country: `pycountry.countries.lookup(v).alpha_2` ("Deutschland" is not a name
  pycountry knows: it stays, where crmmigrate's own table reads it);
- created_at: `datetime.fromisoformat`, else `dateutil.parser.parse(dayfirst=True)`, to ISO.
No time is scaled: both sides run over every row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import make_contacts  # noqa: E402

from crmmigrate.clean import clean, load_cleaning  # noqa: E402
from crmmigrate.model import MODEL  # noqa: E402


def dirty_contacts(rows: int) -> pd.DataFrame:
    contacts, _ = make_contacts(rows)
    rng = np.random.default_rng(11)
    pick = lambda share: rng.random(rows) < share  # noqa: E731
    contacts = contacts.astype(object)
    national = pick(0.3)
    contacts.loc[national, "phone"] = contacts.loc[national, "phone"].str.replace("+49 30 ", "030 / ", regex=False)
    shouty = pick(0.1)
    contacts.loc[shouty, "email"] = " " + contacts.loc[shouty, "email"].str.upper() + " "
    contacts.loc[pick(0.1), "last_name"] = "SMITH"
    contacts.loc[pick(0.2), "mailing_country"] = "Deutschland"
    day_first = pick(0.2)
    stamps = pd.to_datetime(contacts.loc[day_first, "created_at"], errors="coerce")
    contacts.loc[day_first, "created_at"] = stamps.dt.strftime("%d.%m.%Y %H:%M").fillna("31.02.2020")
    return contacts.astype("str")


TEXT_FIELDS = ("title", "department", "mailing_street", "mailing_city", "mailing_postal_code",
               "mailing_state", "owner")


def mapped(values: pd.Series, fn) -> tuple[pd.Series, float]:
    """`fn` once per distinct value, mapped back onto every row; and the seconds it took."""
    start = time.perf_counter()
    present = values.dropna()
    results = {value: fn(value) for value in present.unique()}
    out = values.map(results)
    return out, time.perf_counter() - start


def direct_libraries(frame: pd.DataFrame) -> dict[str, float]:
    """Per field, the seconds of the libraries called directly (see the module's docstring)."""
    import unicodedata

    import email_validator
    import ftfy
    import phonenumbers
    import pycountry
    from dateutil import parser as dateutil_parser

    config = ftfy.TextFixerConfig(
        unescape_html=False, remove_terminal_escapes=False, fix_encoding=True, restore_byte_a0=True,
        replace_lossy_sequences=False, decode_inconsistent_utf8=True, fix_c1_controls=False,
        fix_latin_ligatures=False, fix_character_width=False, uncurl_quotes=False,
        fix_line_breaks=False, fix_surrogates=False, remove_control_chars=False, normalization=None,
        explain=False,
    )

    def tidy(value: str) -> str:
        return ftfy.fix_text(unicodedata.normalize("NFC", " ".join(value.split())), config)

    def name(value: str) -> str:
        value = tidy(value)
        return value.title() if value.isupper() or value.islower() else value

    def email(value: str) -> str:
        address = value.strip().lower()
        try:
            email_validator.validate_email(address, check_deliverability=False)
        except email_validator.EmailNotValidError:
            return value
        return address

    def country(value: str) -> str:
        try:
            return pycountry.countries.lookup(value).alpha_2
        except LookupError:
            return value

    def created(value: str) -> str:
        try:
            return dt.datetime.fromisoformat(value).isoformat()
        except ValueError:
            pass
        try:
            return dateutil_parser.parse(value, dayfirst=True).isoformat()
        except (ValueError, OverflowError):
            return value

    seconds: dict[str, float] = {}
    for field in ("first_name", "last_name"):
        seconds[field] = mapped(frame[field], name)[1]
    seconds["email"] = mapped(frame["email"], email)[1]
    codes, seconds["mailing_country"] = mapped(frame["mailing_country"], country)
    for field in ("phone", "mobile"):
        start = time.perf_counter()
        regions = codes.where(codes.isin(phonenumbers.SUPPORTED_REGIONS), "DE")
        cache: dict[tuple[str, str], str] = {}
        out = []
        for number, region in zip(frame[field], regions, strict=True):
            if not isinstance(number, str):
                out.append(number)
                continue
            key = (number, region)
            if key not in cache:
                try:
                    parsed = phonenumbers.parse(number, region)
                    cache[key] = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                                  if phonenumbers.is_valid_number(parsed) else number)
                except phonenumbers.NumberParseException:
                    cache[key] = number
            out.append(cache[key])
        pd.Series(out, index=frame.index, dtype=object)
        seconds[field] = time.perf_counter() - start
    for field in TEXT_FIELDS:
        seconds[field] = mapped(frame[field], tidy)[1]
    seconds["created_at"] = mapped(frame["created_at"], created)[1]
    return seconds


class FieldClock:
    """crmmigrate's clean tells its progress after each field: the time between two tellings
    is that field's."""

    def __init__(self, fields: list[str]) -> None:
        self.fields, self.times, self.last = fields, {}, None

    def __call__(self, stage: str, item: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if self.last is not None and len(self.times) < len(self.fields):
            self.times[self.fields[len(self.times)]] = now - self.last
        self.last = now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    data = dirty_contacts(args.rows)
    rules = load_cleaning()
    entity = MODEL.entity("contact")
    fields = [f.name for f in entity.fields if f.name in data and rules.steps("contact", f)]
    clock = FieldClock(fields)
    start = time.perf_counter()
    result = clean({"contact": data}, rules=rules, region="DE", progress=clock)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    direct = direct_libraries(data)
    print(f"{args.rows:,} contacts, {len(fields)} fields cleaned ({len(result.changes):,} values changed, "
          f"{len(result.notes):,} noted); crmmigrate's peak RSS {peak:,.0f} MB")
    print(f"{'field':22}{'distinct':>10}{'crmmigrate s':>14}{'libraries s':>13}{'ratio':>8}   steps")
    steps = {r.field: "+".join(r.steps) for r in result.fields}
    for field in fields:
        mine, theirs = clock.times.get(field, float("nan")), direct[field]
        print(f"{field:22}{data[field].nunique():>10,}{mine:>14.2f}{theirs:>13.2f}{mine / theirs:>7.1f}x   {steps[field]}")
    rest = seconds - sum(clock.times.values())
    print(f"{'(copy, logs, notes)':22}{'':>10}{rest:>14.2f}")
    total = sum(direct.values())
    print(f"{'total':22}{'':>10}{seconds:>14.2f}{total:>13.2f}{seconds / total:>7.1f}x   "
          f"({args.rows / seconds:,.0f} vs {args.rows / total:,.0f} rows/s)")
    for f in result.fields:
        if f.changed or f.notes:
            print(f"  {f.field:<20}{f.changed:>10,} changed  {dict(f.by_rule)}  {f.notes:,} noted")


if __name__ == "__main__":
    main()
