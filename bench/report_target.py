"""A loaded target to report on: a CRM of N contacts as crmmigrate's load leaves it, fast.

    python bench/report_target.py --contacts 100000 [--seed 11] [--postgres URL]

`make_target(contacts, seed)` returns, per table of `crmmigrate.load.schema.build_metadata()`,
the rows (a DataFrame of the table's columns, target ids already assigned, values stored as the
loader stores them). Per contact: about 0.28 accounts, 0.69 opportunities (most with contact
roles), 0.23 cases, 0.3 leads and 1.2 activities. What it models, and from what:

- People's names at their real frequencies (Faker's en_US census tables, as bench/realistic.py
  draws them); owners: 40 sales reps, a few of whom hold most records (a Zipf law).
- Accounts: sizes skewed (most contacts at a few big accounts, a third of the accounts with no
  contact and no opportunity); industry and country as exports write them ('US', 'USA',
  'United States'); a hierarchy of parents (chains up to 5 deep), a few cycles (A -> B -> A, as
  a target edited after the load can hold), and parents that pointed to no account (the loader
  left them empty and kept the legacy value in `quarantine`).
- Opportunities: a real stage mix (Prospecting ... Closed Won, Closed Lost) with the usual
  probability per stage, a few contradicting it (Closed Won at 10%); amounts log-normal per
  stage with rare outliers (a value typed with three zeros too many); close dates bunched at
  quarter ends, open ones past due, a few before the opportunity was created; picklist noise
  ('closed won', 'Closed-Won', 'Clsoed Won', ' Negotiation').
- Contact roles on about 65% of opportunities, a primary one on most of those.
- Cases: statuses and priorities (with noise), opened/closed times, a few closed before opened.
- Activities (call, email, meeting, visit, task) on contacts, accounts, opportunities and cases,
  per owner and week; a few completed years before they were due.
- Leads by source and status, some already known as contacts (the same email).

`sqlite_target(contacts, seed)` builds (or finds, cached under bench/.cache keyed by N and
seed) a SQLite file; `postgres_target(url, contacts, seed)` builds (or finds) a schema of that
name in the database `bench_report`. Both insert straight into the tables (SQLite executemany,
PostgreSQL COPY), then build the schema's indexes and ANALYZE, as a bulk load would leave it.
Deterministic by seed; vectorised (numpy, pandas).
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic import _weighted  # noqa: E402

from crmmigrate.load.schema import build_metadata  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
DATABASE = "bench_report"
RUN_ID = "bench-report"
# A version of what make_target makes: a cached target built by an older generator is rebuilt.
GENERATOR = 1

# stage, share, usual probability, median amount
# (Salesforce's standard probabilities, as rules/reports.yaml ships them.)
STAGES = [("Prospecting", 12, 10, 8_000), ("Qualification", 10, 10, 10_000), ("Needs Analysis", 6, 20, 15_000),
          ("Value Proposition", 5, 50, 20_000), ("Id. Decision Makers", 3, 60, 25_000),
          ("Perception Analysis", 2, 70, 25_000), ("Proposal", 7, 75, 30_000), ("Negotiation", 5, 90, 40_000),
          ("Closed Won", 28, 100, 25_000), ("Closed Lost", 22, 0, 20_000)]
STAGE_NOISE = {"Closed Won": ["closed won", "Closed-Won", "Clsoed Won", "CLOSED WON", "Closed Won "],
               "Closed Lost": ["closed lost", "Closed - Lost", "Closed Lsot"],
               "Negotiation": [" Negotiation", "negotiation", "Negotation"],
               "Prospecting": ["prospecting", "Prospectng"], "Proposal": ["Propsal", "proposal"]}
INDUSTRY = {"Technology": 14, "Manufacturing": 10, "Healthcare": 9, "Finance": 7, "Retail": 7, "Construction": 6,
            "Consulting": 6, "Education": 4, "Insurance": 3, "Transportation": 3, "Hospitality": 3, "Energy": 2,
            "Media": 2, "Government": 1, "Other": 4}
INDUSTRY_NOISE = ["technology", "Tech nology", "Health care", "healthcare", "Manufactoring", "Finance "]
COUNTRIES = {"US": 40, "USA": 15, "United States": 10, "DE": 8, "Germany": 3, "GB": 7, "UK": 3, "FR": 4, "CA": 5,
             "NL": 2, "ES": 2, "IT": 1}
CASE_STATUS = {"Closed": 68, "New": 9, "In Progress": 12, "Escalated": 3, "On Hold": 4}
CASE_STATUS_NOISE = ["closed", "Closed ", "In progress", "in-progress", "Clossed"]
PRIORITY = {"Low": 30, "Medium": 45, "High": 20, "Critical": 5}
ORIGIN = {"Phone": 35, "Email": 35, "Web": 18, "Chat": 8, "Social": 2, "In Person": 2}
ROLES = {"Decision Maker": 25, "Economic Buyer": 15, "Business User": 30, "Technical Buyer": 15, "Influencer": 10,
         "Other": 5}
LEAD_SOURCE = {"Web": 30, "Referral": 12, "Trade Show": 10, "Cold Call": 8, "Partner": 8, "Purchased List": 10,
               "Webinar": 8, "Email": 7, "Advertisement": 5, "Phone Inquiry": 2}
LEAD_SOURCE_NOISE = ["web", "Web ", "Trade-Show", "Tradeshow", "referal"]
LEAD_STATUS = {"New": 25, "Contacted": 25, "Qualified": 15, "Unqualified": 20, "Converted": 15}
ACTIVITY_TYPE = {"call": 35, "email": 35, "meeting": 15, "visit": 5, "task": 10}
ACTIVITY_STATUS = {"Completed": 70, "Open": 10, "Not Started": 8, "In Progress": 5, "Missed": 4, "Deferred": 3}
SUBJECTS = ["Follow-up", "Intro call", "Pricing question", "Demo", "Contract review", "Renewal", "Onboarding",
            "Invoice query", "Login problem", "Feature request", "Quarterly review", "Site visit"]


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    names = np.array(list(table), dtype=object)
    weights = np.array(list(table.values()), dtype=float)
    return rng.choice(names, n, p=weights / weights.sum())


def _noise(rng: np.random.Generator, values: np.ndarray, variants: dict[str, list[str]] | list[str],
           share: float) -> np.ndarray:
    """`share` of the values replaced by a misspelt variant of themselves (a dict: per value) or
    by one of the `variants` (a list)."""
    out = values.copy()
    hit = rng.random(len(out)) < share
    if isinstance(variants, list):
        out[hit] = rng.choice(np.array(variants, dtype=object), hit.sum())
        return out
    for value, spellings in variants.items():
        at = hit & (values == value)
        out[at] = rng.choice(np.array(spellings, dtype=object), at.sum())
    return out


def _zipf_owner(rng: np.random.Generator, owners: np.ndarray, n: int) -> np.ndarray:
    weights = 1 / np.arange(1, len(owners) + 1) ** 0.9
    return rng.choice(owners, n, p=weights / weights.sum())


def _stamps(seconds: np.ndarray) -> np.ndarray:
    """Seconds since 2000-01-01 as the loader stores a DATETIME (SQLAlchemy's text on SQLite)."""
    stamps = pd.Timestamp("2000-01-01") + pd.to_timedelta(seconds, unit="s")
    return stamps.strftime("%Y-%m-%d %H:%M:%S.000000").to_numpy(dtype=object)


def _days(days: np.ndarray) -> np.ndarray:
    dates = pd.Timestamp("2000-01-01") + pd.to_timedelta(days, unit="D")
    return dates.strftime("%Y-%m-%d").to_numpy(dtype=object)


def _blank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = values.astype(object, copy=True)
    out[mask] = None
    return out


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` first and last names at their US census frequencies (Faker's tables)."""
    from faker.providers.person.en_US import Provider as Person

    firsts, first_p = _weighted(Person.first_names_female | Person.first_names_male)
    lasts, last_p = _weighted(Person.last_names)
    return rng.choice(firsts, n, p=first_p), rng.choice(lasts, n, p=last_p)


def _frame(entity_ids: np.ndarray, prefix: str, columns: dict[str, np.ndarray], sources=None) -> pd.DataFrame:
    n = len(entity_ids)
    frame = pd.DataFrame({"id": entity_ids + 1,
                          "legacy_source": sources if sources is not None else np.full(n, "crm", dtype=object),
                          "legacy_id": pd.Series(entity_ids).map(lambda i: f"{prefix}{i:07d}").to_numpy(dtype=object)})
    for name, values in columns.items():
        frame[name] = values
    frame["row_hash"] = pd.Series(entity_ids).map(lambda i: f"{i:032x}").to_numpy(dtype=object)
    frame["run_id"] = RUN_ID
    return frame


def make_target(contacts: int, seed: int = 11, as_of: str = "2025-06-30") -> dict[str, pd.DataFrame]:
    """The rows of every entity table of a target holding `contacts` contacts; see the module's
    docstring. `as_of` is the day the data was exported: nothing is created after it."""
    rng = np.random.default_rng(seed)
    end = int((pd.Timestamp(as_of) - pd.Timestamp("2000-01-01")).days)
    start = end - 10 * 365
    first, last = _names(rng, 200)
    owners = pd.unique(first + " " + last)[:40]  # 40 sales reps; _zipf_owner gives a few most records
    tables: dict[str, pd.DataFrame] = {}

    # Accounts.
    n_acc = max(10, round(contacts * 0.28))
    acc = np.arange(n_acc)
    first, last = _names(rng, n_acc)
    trade = rng.choice(np.array(["Systems", "Dental", "Logistics", "Partners", "Foods", "Group", "Labs",
                                 "Construction", "Consulting", "Motors"], dtype=object), n_acc)
    legal = rng.choice(np.array(["Inc", "LLC", "Corp", "Ltd", "", "GmbH"], dtype=object), n_acc)
    name = (last + " " + trade + " " + legal).astype(str)
    name = np.char.strip(name.astype(str)).astype(object)
    industry = _noise(rng, _pick(rng, INDUSTRY, n_acc), INDUSTRY_NOISE, 0.02)
    industry = _blank(industry, rng.random(n_acc) < 0.12)
    country = _blank(_pick(rng, COUNTRIES, n_acc), rng.random(n_acc) < 0.05)
    acc_created = rng.integers(start * 86400, end * 86400, n_acc)
    # The hierarchy: 15% have a parent among the accounts before them (no cycle), whose parent
    # may have one too; a few cycles; 1% had a parent the export did not hold.
    parent = np.full(n_acc, -1, dtype=np.int64)
    child = rng.random(n_acc) < 0.15
    child[:20] = False
    below = np.flatnonzero(child)
    # Parents are drawn among the first tenth of the accounts, which themselves have parents
    # among the first hundredth...: chains of up to about 5.
    parent[below] = (rng.random(len(below)) * np.maximum(below // 10, 1)).astype(np.int64)
    parent[below] = np.minimum(parent[below], below - 1)
    cycles = max(1, contacts // 50_000)
    cycle_at = rng.choice(np.arange(n_acc // 2, n_acc - 3), cycles, replace=False)
    for k, a in enumerate(cycle_at):
        length = 2 + k % 2
        members = [a + j for j in range(length)]
        for j, m in enumerate(members):
            parent[m] = members[(j + 1) % length]
    quarantine = np.full(n_acc, None, dtype=object)
    lost = (parent < 0) & (rng.random(n_acc) < 0.01)
    quarantine[lost] = [json.dumps([{"field": "parent_id", "value": f"X{i:07d}", "reason": "points to no account"}])
                        for i in np.flatnonzero(lost)]
    acc_owner = _zipf_owner(rng, owners, n_acc)
    tables["account"] = _frame(acc, "A", {
        "name": name, "parent_id": np.where(parent >= 0, parent + 1, pd.NA).astype(object),
        "industry": industry, "phone": None, "website": None, "email": None, "billing_street": None,
        "billing_city": None, "billing_postal_code": None, "billing_state": None, "billing_country": country,
        "owner": acc_owner, "created_at": _stamps(acc_created), "custom": None, "quarantine": quarantine},
        sources=rng.choice(np.array(["crm", "sales_reps"], dtype=object), n_acc, p=[0.85, 0.15]))

    # Contacts: most at a few big accounts (an account's weight is Zipf), a third of the accounts
    # none; 4% without an account.
    account_weight = 1 / np.arange(1, n_acc + 1) ** 0.75
    account_weight[rng.random(n_acc) < 0.45] = 0  # no contact at all
    order = rng.permutation(n_acc)
    account_weight = account_weight[np.argsort(order)]
    account_p = account_weight / account_weight.sum()
    con = np.arange(contacts)
    con_account = rng.choice(n_acc, contacts, p=account_p)
    no_account = rng.random(contacts) < 0.04
    first, last = _names(rng, contacts)
    local = pd.Series(first).str.lower() + "." + pd.Series(last).str.lower()
    email = (local + pd.Series(con % 1000).astype(str) + "@example" + pd.Series(con_account % 97).astype(str)
             + ".com").to_numpy(dtype=object)
    email = _blank(email, rng.random(contacts) < 0.12)
    con_quarantine = np.full(contacts, None, dtype=object)
    lost = no_account & (rng.random(contacts) < 0.3)
    con_quarantine[lost] = [json.dumps([{"field": "account_id", "value": f"X{i:07d}",
                                         "reason": "points to no account"}]) for i in np.flatnonzero(lost)]
    tables["contact"] = _frame(con, "C", {
        "account_id": np.where(no_account, pd.NA, con_account + 1).astype(object), "first_name": first,
        "last_name": last, "email": email, "phone": None, "mobile": None, "title": None, "department": None,
        "mailing_street": None, "mailing_city": None, "mailing_postal_code": None, "mailing_state": None,
        "mailing_country": None,
        "owner": np.where(rng.random(contacts) < 0.8, acc_owner[con_account], _zipf_owner(rng, owners, contacts)),
        "created_at": _stamps(np.maximum(acc_created[con_account] + rng.integers(0, 400 * 86400, contacts),
                                         start * 86400).clip(max=end * 86400)),
        "custom": None, "quarantine": con_quarantine})

    # Leads: a tenth already known as contacts (the same email, in another case now and then).
    n_lead = round(contacts * 0.3)
    first, last = _names(rng, n_lead)
    lead_email = (pd.Series(first).str.lower() + "_" + pd.Series(last).str.lower() + "@lead.example").to_numpy(
        dtype=object)
    known = (rng.random(n_lead) < 0.1) & True
    from_contact = rng.integers(0, contacts, n_lead)
    contact_email = tables["contact"]["email"].to_numpy(dtype=object)[from_contact]
    known &= pd.notna(contact_email)
    upper = known & (rng.random(n_lead) < 0.2)
    lead_email[known] = contact_email[known]
    lead_email[upper] = pd.Series(contact_email[upper], dtype=object).str.upper().to_numpy(dtype=object)
    lead_email = _blank(lead_email, rng.random(n_lead) < 0.1)
    tables["lead"] = _frame(np.arange(n_lead), "L", {
        "first_name": first, "last_name": last,
        "company": (last + " " + rng.choice(np.array(["Inc", "LLC", "Group"], dtype=object), n_lead)),
        "email": lead_email, "phone": None, "title": None,
        "source": _blank(_noise(rng, _pick(rng, LEAD_SOURCE, n_lead), LEAD_SOURCE_NOISE, 0.03),
                         rng.random(n_lead) < 0.1),
        "status": _pick(rng, LEAD_STATUS, n_lead), "owner": _zipf_owner(rng, owners, n_lead),
        "created_at": _stamps(rng.integers((end - 3 * 365) * 86400, end * 86400, n_lead)),
        "custom": None, "quarantine": None}, sources=np.full(n_lead, "call_centre", dtype=object))

    # Opportunities, at accounts with contacts mostly.
    n_opp = round(contacts * 0.69)
    opp = np.arange(n_opp)
    opp_account = np.where(rng.random(n_opp) < 0.8, con_account[rng.integers(0, contacts, n_opp)],
                           rng.integers(0, n_acc, n_opp))
    no_account = rng.random(n_opp) < 0.01
    stage_names = np.array([s[0] for s in STAGES], dtype=object)
    share = np.array([s[1] for s in STAGES], dtype=float)
    stage_i = rng.choice(len(STAGES), n_opp, p=share / share.sum())
    created = np.maximum(acc_created[opp_account], start * 86400) + rng.integers(0, 3 * 365 * 86400, n_opp)
    created = np.minimum(created, end * 86400 - 86400)
    close = created // 86400 + rng.integers(14, 270, n_opp)
    # Most deals whose close date is long gone were closed; a few were left open (past due).
    stale = (close < end - 60) & (stage_i < 8) & (rng.random(n_opp) < 0.92)
    stage_i[stale] = rng.choice([8, 9], stale.sum(), p=[0.55, 0.45])
    stage = _noise(rng, stage_names[stage_i], STAGE_NOISE, 0.03)
    probability = np.array([s[2] for s in STAGES], dtype=float)[stage_i]
    wrong = rng.random(n_opp) < 0.02
    probability[wrong] = rng.choice([0.0, 10.0, 50.0, 90.0, 100.0], wrong.sum())
    probability = np.where(rng.random(n_opp) < 0.04, np.nan, probability)
    median = np.array([s[3] for s in STAGES], dtype=float)[stage_i]
    amount = np.round(median * rng.lognormal(0, 0.8, n_opp), 2)
    outlier = rng.random(n_opp) < 0.002
    amount[outlier] *= 1000
    amount = np.where(rng.random(n_opp) < 0.03, np.nan, amount)
    # Reps close at the end of the quarter: a fifth moved to its last week.
    quarter = pd.to_datetime(_days(close)).to_period("Q").end_time.normalize()
    last_days = ((quarter - pd.Timestamp("2000-01-01")).days.to_numpy() - rng.integers(0, 7, n_opp))
    bunch = rng.random(n_opp) < 0.2
    close = np.where(bunch, last_days, close)
    backwards = rng.random(n_opp) < 0.01
    close = np.where(backwards, created // 86400 - rng.integers(1, 400, n_opp), close)
    opp_quarantine = np.full(n_opp, None, dtype=object)
    opp_quarantine[no_account] = [json.dumps([{"field": "account_id", "value": f"X{i:07d}",
                                               "reason": "points to no account"}]) for i in np.flatnonzero(no_account)]
    tables["opportunity"] = _frame(opp, "O", {
        "account_id": np.where(no_account, pd.NA, opp_account + 1).astype(object),
        "name": rng.choice(np.array(SUBJECTS, dtype=object), n_opp) + " " + pd.Series(opp).astype(str).to_numpy(),
        "stage": stage, "amount": _blank(amount, np.isnan(amount)),
        "currency": rng.choice(np.array(["USD", "EUR", "GBP"], dtype=object), n_opp, p=[0.8, 0.12, 0.08]),
        "close_date": _days(close), "probability": _blank(probability, np.isnan(probability)),
        "owner": np.where(rng.random(n_opp) < 0.7, acc_owner[opp_account], _zipf_owner(rng, owners, n_opp)),
        "created_at": _stamps(created), "custom": None, "quarantine": opp_quarantine})

    # Contact roles on 65% of opportunities: one to three contacts, a primary on 75% of those.
    with_roles = np.flatnonzero(rng.random(n_opp) < 0.65)
    per = rng.choice([1, 2, 3], len(with_roles), p=[0.55, 0.3, 0.15])
    role_opp = np.repeat(with_roles, per)
    nth = np.arange(len(role_opp)) - np.repeat(np.cumsum(per) - per, per)
    n_role = len(role_opp)
    primary = (nth == 0) & np.repeat(rng.random(len(with_roles)) < 0.75, per)
    tables["opportunity_contact_role"] = _frame(np.arange(n_role), "R", {
        "opportunity_id": role_opp + 1, "contact_id": rng.integers(0, contacts, n_role) + 1,
        "role": _blank(_pick(rng, ROLES, n_role), rng.random(n_role) < 0.1), "is_primary": primary,
        "custom": None, "quarantine": None})

    # Cases.
    n_case = round(contacts * 0.23)
    case_contact = rng.integers(0, contacts, n_case)
    status = _noise(rng, _pick(rng, CASE_STATUS, n_case), CASE_STATUS_NOISE, 0.02)
    opened = rng.integers((end - 5 * 365) * 86400, end * 86400, n_case)
    closed = opened + (rng.exponential(5, n_case) * 86400).astype(np.int64)
    is_closed = pd.Series(status).str.strip().str.lower().str.startswith("clos").to_numpy()
    backwards = is_closed & (rng.random(n_case) < 0.01)
    closed = np.where(backwards, opened - rng.integers(3600, 90 * 86400, n_case), closed)
    closed = np.minimum(closed, end * 86400)
    tables["case"] = _frame(np.arange(n_case), "K", {
        "account_id": np.where(tables["contact"]["account_id"].isna().to_numpy()[case_contact], pd.NA,
                               con_account[case_contact] + 1).astype(object),
        "contact_id": case_contact + 1, "subject": rng.choice(np.array(SUBJECTS, dtype=object), n_case),
        "status": status, "priority": _blank(_noise(rng, _pick(rng, PRIORITY, n_case), ["high", "HIGH", "Hgh"], 0.02),
                                             rng.random(n_case) < 0.05),
        "origin": _pick(rng, ORIGIN, n_case), "opened_at": _stamps(opened),
        "closed_at": _blank(_stamps(closed), ~is_closed), "description": None, "custom": None, "quarantine": None},
        sources=np.full(n_case, "call_centre", dtype=object))

    # Activities: on contacts mostly, then opportunities, accounts and cases (60% of cases get one).
    n_act = round(contacts * 1.2)
    related = rng.choice(np.array(["contact", "opportunity", "account", "case"], dtype=object), n_act,
                         p=[0.55, 0.25, 0.08, 0.12])
    sizes = {"contact": contacts, "opportunity": n_opp, "account": n_acc, "case": max(1, int(n_case * 0.6))}
    related_id = np.zeros(n_act, dtype=np.int64)
    for entity, size in sizes.items():
        at = related == entity
        related_id[at] = rng.integers(0, size, at.sum()) + 1
    due = rng.integers((end - 4 * 365) * 86400, (end + 30) * 86400, n_act)
    act_status = _pick(rng, ACTIVITY_STATUS, n_act)
    done = act_status == "Completed"
    completed = due - rng.integers(-2 * 86400, 5 * 86400, n_act)
    years_early = done & (rng.random(n_act) < 0.005)
    completed = np.where(years_early, due - rng.integers(2 * 365 * 86400, 6 * 365 * 86400, n_act), completed)
    tables["activity"] = _frame(np.arange(n_act), "V", {
        "type": _noise(rng, _pick(rng, ACTIVITY_TYPE, n_act), ["Call", "E-mail", "Meeting "], 0.01),
        "subject": rng.choice(np.array(SUBJECTS, dtype=object), n_act), "related_entity": related,
        "related_id": related_id, "due_at": _stamps(due), "completed_at": _blank(_stamps(completed), ~done),
        "status": act_status, "owner": _zipf_owner(rng, owners, n_act), "custom": None, "quarantine": None})
    return tables


def _ordered(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    return frame[[c.name for c in table.columns]]


def _create(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """The tables without their indexes (built after the rows, as a bulk load does)."""
    saved = {t.name: set(t.indexes) for t in metadata.sorted_tables}
    for table in metadata.sorted_tables:
        table.indexes.clear()
    try:
        metadata.create_all(engine)
    finally:
        for table in metadata.sorted_tables:
            table.indexes.update(saved[table.name])


def _indexes(engine: sa.Engine, metadata: sa.MetaData) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn)


def load_sqlite(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    metadata = build_metadata()
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
    _create(engine, metadata)
    engine.dispose()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=OFF")
    for table in metadata.sorted_tables:
        if table.name not in tables:
            continue
        frame = _ordered(tables[table.name], table)
        columns = [frame[c].to_numpy(dtype=object, copy=True) for c in frame.columns]
        for values in columns:
            values[pd.isna(values)] = None
        rows = zip(*[_plain(v) for v in columns])
        names = ", ".join(f'"{c}"' for c in frame.columns)
        raw.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(frame.columns))})',
                        rows)
        raw.commit()
    raw.execute("PRAGMA journal_mode=DELETE")
    raw.close()
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
    _indexes(engine, metadata)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _plain(values: np.ndarray) -> list:
    """Python values SQLite's driver takes (numpy scalars it does not)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def load_postgres(url: str, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    metadata = build_metadata()
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    _create(engine, metadata)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table in metadata.sorted_tables:
                if table.name not in tables:
                    continue
                frame = _ordered(tables[table.name], table)
                text = io.StringIO()
                frame.to_csv(text, index=False, header=False, na_rep="\\N")
                names = ", ".join(f'"{c}"' for c in frame.columns)
                with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT csv, NULL \'\\N\')') as copy:
                    copy.write(text.getvalue())
                raw.commit()
            for table in metadata.sorted_tables:  # the sequences after explicit ids
                if table.name in tables and len(tables[table.name]):
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                   f"{int(tables[table.name]['id'].max())})")
        raw.commit()
    _indexes(engine, metadata)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def counts(tables: dict[str, pd.DataFrame]) -> str:
    return ", ".join(f"{len(frame):,} {name}" for name, frame in tables.items())


def sqlite_target(contacts: int, seed: int = 11, *, cache: Path = CACHE, log=print) -> Path:
    """The SQLite file of a target of `contacts` contacts, built once per (N, seed) and kept."""
    path = cache / f"report_{contacts}_s{seed}_g{GENERATOR}.db"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables = make_target(contacts, seed)
    made = time.perf_counter() - started
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    load_sqlite(partial, tables)
    partial.rename(path)
    log(f"  built {path.name}: {counts(tables)}; generated in {made:.1f} s, "
        f"loaded in {time.perf_counter() - started - made:.1f} s")
    return path


def postgres_database(url: str) -> str:
    """The URL of the database `bench_report` on the server of `url`, created when missing."""
    admin = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").first():
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    return sa.make_url(url).set(database=DATABASE).render_as_string(hide_password=False)


def postgres_schema(contacts: int, seed: int) -> str:
    return f"n{contacts}_s{seed}_g{GENERATOR}"


def postgres_target(url: str, contacts: int, seed: int = 11, *, log=print) -> tuple[str, str]:
    """(database URL, schema) of a target of `contacts` contacts in PostgreSQL, built once per
    (N, seed): a schema of that name in the database `bench_report`, kept for reruns."""
    database = postgres_database(url)
    schema = postgres_schema(contacts, seed)
    engine = sa.create_engine(database, poolclass=NullPool)
    with engine.connect() as conn:
        done = conn.exec_driver_sql(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %(s)s",
            {"s": schema}).scalar()
    engine.dispose()
    if done == "complete":
        return database, schema
    started = time.perf_counter()
    tables = make_target(contacts, seed)
    made = time.perf_counter() - started
    load_postgres(database, schema, tables)
    engine = sa.create_engine(database, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"COMMENT ON SCHEMA {schema} IS 'complete'")
    engine.dispose()
    log(f"  built PostgreSQL schema {schema}: {counts(tables)}; generated in {made:.1f} s, "
        f"loaded in {time.perf_counter() - started - made:.1f} s")
    return database, schema


def postgres_engine(database: str, schema: str) -> sa.Engine:
    """An engine whose connections see the target's tables in `schema` (search_path)."""
    return sa.create_engine(database, poolclass=NullPool, connect_args={"options": f"-csearch_path={schema}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", default=None, help="also build it in PostgreSQL (server URL)")
    args = parser.parse_args()
    print(sqlite_target(args.contacts, args.seed))
    if args.postgres:
        print(postgres_target(args.postgres, args.contacts, args.seed))


if __name__ == "__main__":
    main()
