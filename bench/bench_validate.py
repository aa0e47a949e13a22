"""Validate 1M generated canonical contacts; print time beside plain pandera with the same checks.

    python bench/bench_validate.py [--rows 1000000]

The reference is a pandera DataFrameSchema written the usual way: the same checks (required,
unique id, lengths, email-validator, phonenumbers, ISO date-times, country, pointers into
200k accounts) as element-wise pandera Checks, validated lazily. crmmigrate runs the same
rules through its own schema (distinct values judged once, a vectorized path for plainly valid
emails). Each side runs in its own process; both must find the same number of errors.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

PLANTED = 0.02  # share of bad values per checked field


def make_contacts(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = np.arange(rows)
    accounts = pd.DataFrame({"id": [f"A{i:06d}" for i in range(rows // 5)]})
    last = np.array(["Smith", "Müller", "Петров", "García", "Brown", "王", "Kowalski", "Rossi"])
    first = np.array(["Anna", "John", "Иван", "José", "Mary", "伟", "Piotr", "Luca"])
    bad = lambda: rng.random(rows) < PLANTED  # noqa: E731 - a fresh mask per field
    email = pd.Series([f"user{i}@firm{i % 5000}.com" for i in index], dtype=object)
    email[bad()] = "user at firm"
    phone = pd.Series([f"+49 30 {1000000 + (i * 7919) % 8999999}" for i in index], dtype=object)
    phone[bad()] = "12"
    created = pd.Series(
        (pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3650 * 86400, rows), unit="s"))
        .strftime("%Y-%m-%dT%H:%M:%S"), dtype=object)
    created[bad()] = "31.02.2020"
    account = pd.Series(accounts["id"].to_numpy()[rng.integers(0, len(accounts), rows)], dtype=object)
    account[rng.random(rows) < PLANTED / 4] = "A-GONE"
    last_name = pd.Series(last[rng.integers(0, len(last), rows)], dtype=object)
    last_name[rng.random(rows) < PLANTED / 4] = None
    frame = pd.DataFrame({
        "id": [f"C{i:07d}" for i in index], "account_id": account,
        "first_name": first[rng.integers(0, len(first), rows)], "last_name": last_name,
        "email": email, "phone": phone, "mobile": None, "title": "Manager", "department": None,
        "mailing_street": None, "mailing_city": "Berlin", "mailing_postal_code": "10115",
        "mailing_state": None, "mailing_country": "DE", "owner": "migration", "created_at": created,
    }).astype("str")
    frame["_source"], frame["_file"], frame["_row"] = "bench", "bench.csv", (index + 2).astype(str)
    return frame, accounts


def run_crmmigrate(rows: int) -> dict:
    from crmmigrate.validate import load_rules, load_thresholds, validate
    from crmmigrate.validate.rules import ValidationRules

    contacts, accounts = make_contacts(rows)
    account_frame = pd.DataFrame({"id": accounts["id"], "name": "Acme"}).astype("str")
    from crmmigrate.model import MODEL
    for name in MODEL.entity("account").field_names:
        account_frame[name] = account_frame.get(name, None)
    account_frame["_source"], account_frame["_file"], account_frame["_row"] = "bench", "a.csv", "1"
    rules = ValidationRules(phone_region="DE", entities=load_rules().entities)
    start = time.perf_counter()
    result = validate({"account": account_frame, "contact": contacts}, rules=rules,
                      thresholds=load_thresholds())
    seconds = time.perf_counter() - start
    errors = {c.field: c.errors for c in result.entity("contact").checks if c.errors}
    return {"seconds": seconds, "errors": errors}


def run_pandera(rows: int) -> dict:
    import datetime as dt

    import email_validator
    import pandera.pandas as pa
    import phonenumbers
    from pandera.errors import SchemaErrors

    from crmmigrate import countries

    contacts, accounts = make_contacts(rows)
    known = set(accounts["id"])

    def email_ok(value: str) -> bool:
        try:
            email_validator.validate_email(value.strip(), check_deliverability=False)
            return True
        except email_validator.EmailNotValidError:
            return False

    def phone_ok(value: str) -> bool:
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(value.strip(), "DE"))
        except phonenumbers.NumberParseException:
            return False

    def datetime_ok(value: str) -> bool:
        try:
            dt.datetime.fromisoformat(value)
            return len(value) >= 10 and value[4] == "-"
        except ValueError:
            return False

    length = lambda n: pa.Check.str_length(max_value=n)  # noqa: E731
    schema = pa.DataFrameSchema({
        "id": pa.Column(str, nullable=False, unique=True),
        "account_id": pa.Column(str, nullable=True, checks=pa.Check.isin(known)),
        "first_name": pa.Column(str, nullable=True, checks=length(80)),
        "last_name": pa.Column(str, nullable=False, checks=length(80)),
        "email": pa.Column(str, nullable=True, checks=pa.Check(email_ok, element_wise=True)),
        "phone": pa.Column(str, nullable=True, checks=pa.Check(phone_ok, element_wise=True)),
        "mailing_country": pa.Column(str, nullable=True, checks=pa.Check(
            lambda v: countries.to_alpha2(v) is not None, element_wise=True)),
        "created_at": pa.Column(str, nullable=True, checks=pa.Check(datetime_ok, element_wise=True)),
    }, coerce=False)
    start = time.perf_counter()
    try:
        schema.validate(contacts, lazy=True)
        cases = pd.DataFrame(columns=["column", "index"])
    except SchemaErrors as exc:
        cases = exc.failure_cases
    seconds = time.perf_counter() - start
    errors = cases.dropna(subset=["index"]).groupby("column")["index"].nunique().to_dict()
    return {"seconds": seconds, "errors": {k: int(v) for k, v in errors.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["crmmigrate", "pandera"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (run_crmmigrate if args.child == "crmmigrate" else run_pandera)(args.rows)
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    print(f"{args.rows:,} canonical contacts, {PLANTED:.0%} bad values per checked field, "
          f"pointers into {args.rows // 5:,} accounts")
    results = {}
    for side in ("crmmigrate", "pandera"):
        done = subprocess.run([sys.executable, __file__, "--child", side, "--rows", str(args.rows)],
                              capture_output=True, text=True, check=True)
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    c, p = results["crmmigrate"], results["pandera"]
    print(f"{'':30}{'crmmigrate':>12}{'plain pandera':>16}")
    print(f"{'seconds (validation only)':30}{c['seconds']:>12.1f}{p['seconds']:>16.1f}")
    print(f"{'rows/s':30}{args.rows / c['seconds']:>12,.0f}{args.rows / p['seconds']:>16,.0f}")
    print(f"{'peak memory (MB, max RSS)':30}{c['max_rss_mb']:>12,.0f}{p['max_rss_mb']:>16,.0f}")
    for field in sorted(set(c["errors"]) | set(p["errors"])):
        print(f"{'errors: ' + field:30}{c['errors'].get(field, 0):>12,}{p['errors'].get(field, 0):>16,}")


if __name__ == "__main__":
    main()
