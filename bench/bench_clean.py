"""Clean canonical contacts; print the time beside a plain per-row loop with the same libraries.

    python bench/bench_clean.py [--rows 1000000] [--reference-rows 100000]

The contacts are bench_validate's (2% invalid values), with dirt planted the way legacy exports
carry it: phones written nationally and with separators, emails in capitals with padding, names
in capitals, countries by name, day-first dates. crmmigrate's clean (the shipped rules: every
text field tidied and mojibake-repaired, phones to E.164 in the record's country, emails,
countries, person names, dates with the day/month order decided from the column) is timed
against, on the first `--reference-rows` of the same rows, the obvious loop: for each row,
phonenumbers.parse + format_number, email.strip().lower(), pycountry lookup, str.title(),
datetime.strptime. The loop's time is scaled to the full row count.
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


def reference(frame: pd.DataFrame) -> float:
    import phonenumbers
    import pycountry

    start = time.perf_counter()
    for phone, email, last, country, created in zip(frame["phone"], frame["email"], frame["last_name"],
                                                    frame["mailing_country"], frame["created_at"], strict=True):
        try:
            number = phonenumbers.parse(phone, "DE")
            if phonenumbers.is_valid_number(number):
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        email.strip().lower() if isinstance(email, str) else None
        last.title() if isinstance(last, str) else None
        try:
            pycountry.countries.lookup(country)
        except LookupError:
            pass
        for fmt in ("%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M"):
            try:
                dt.datetime.strptime(created, fmt)
                break
            except (ValueError, TypeError):
                continue
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    args = parser.parse_args()
    data = dirty_contacts(args.rows)
    start = time.perf_counter()
    result = clean({"contact": data}, rules=load_cleaning(), region="DE")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loop = reference(data.head(args.reference_rows)) * args.rows / min(args.rows, args.reference_rows)
    print(f"{args.rows:,} contacts, 16 fields ({len(result.changes):,} values changed, "
          f"{len(result.notes):,} noted)")
    print(f"{'':28}{'seconds':>10}{'rows/s':>12}")
    print(f"{'crmmigrate clean':28}{seconds:>10.1f}{args.rows / seconds:>12,.0f}   peak RSS {peak:,.0f} MB")
    print(f"{'per-row loop, 5 fields':28}{loop:>10.1f}{args.rows / loop:>12,.0f}   (timed on "
          f"{min(args.rows, args.reference_rows):,} rows, scaled)")
    for f in result.fields:
        if f.changed or f.notes:
            print(f"  {f.field:<16}{f.changed:>10,} changed  {dict(f.by_rule)}  {f.notes:,} noted")


if __name__ == "__main__":
    main()
