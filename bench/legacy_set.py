"""A realistic legacy migration project: every entity's export as an old CRM writes it.

    python bench/legacy_set.py --contacts 100000 [--seed 7] [--folder DIR]

writes (or finds, cached under bench/.cache/legacy_<N>_<seed>/) the set and prints its folder
and rows per file; `crmmigrate run <folder>/migration.yaml` migrates it into <folder>/target.db.

`make_legacy_set(folder, contacts, seed)` writes, per contact, about 0.283 accounts, 1 contact,
0.46 leads, 0.69 opportunities with their contact roles and 0.23 cases (the proportions of the
1M-contact set of issue 20: 283k accounts, 460k leads, 690k deals, 230k cases), each in the
format it arrives in from a new user's legacy systems:

| file | entity | format |
|---|---|---|
| accounts.csv | account | CSV, UTF-8 with a byte-order mark, `;` separated, US dates with AM/PM |
| contacts.csv | contact | CSV in cp1252, `,` separated, accented names (José García, Zoë), day-first dates |
| leads.xlsx | lead | an Excel sheet "Leads": a title, a subtitle and a blank row above the header; Excel dates |
| opportunities.csv | opportunity | CSV, UTF-8, amounts with thousands separators, US dates |
| opportunity_contact_roles.csv | opportunity_contact_role | CSV, UTF-8, `true`/`false` |
| cases.jsonl | case | JSON Lines, UTC timestamps with a Z |

with the column names the old CRM exports ("Account Name", "Billing Zip/Postal Code", "Contact
Owner", ...), a mapping per file in mappings/ and a migration.yaml (target sqlite:///target.db,
beside it; every source's phone_region US, as the exports are a US company's).

What is in the data, and from what:
- Accounts and contacts: `realistic.make_crm` (names at their census frequencies, namesakes,
  company sizes skewed, about 5% of accounts and 10% of contacts known duplicates, varied as
  re-entries are), plus prospect accounts nobody has a contact at (bought lists, trade fairs:
  realistic's company and account makers again, their phones and domains kept apart from the
  others') to reach 0.283 accounts per contact; a hierarchy (8% of accounts with a parent).
  Contacts' Hispanic names written with their accents most of the time, as people type their own.
- Leads: 12% are people already held as contacts (their email, often in another case), the
  others new people (census names) at a company of the CRM or a new one; sources and statuses
  at report_target's mix with its picklist noise; owners a Zipf law over the CRM's reps.
- Opportunities: report_target's stage mix (with its misspellings, 'Clsoed Won'), the usual
  probability per stage with a few contradicting it, log-normal amounts per stage with rare
  outliers, mostly at accounts with contacts; contact roles (one to three, a primary most of
  the time) on 75% of the deals at such accounts, each a contact of the deal's account.
- Cases: report_target's statuses, priorities and origins (with noise), opened and closed times.
- Dirt, as a real export has it, under the default thresholds (gate passes): 1-3% invalid emails
  and phones, picklist values the mapping does not cover, amounts such as "TBD", pointers to
  records the export does not hold (0.3%), a few blank account names and close dates.

Deterministic by seed; vectorised (numpy, pandas). The xlsx is written with openpyxl's
write_only mode, most of the time the generation takes: the cache makes reruns instant.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic import (  # noqa: E402
    FUNCTIONS,
    FUNCTION_P,
    PHONE_P,
    _accounts,
    _cities,
    _companies,
    _new_numbers,
    _phone_text,
    _slug,
    _titles,
    _weighted,
    make_crm,
)
from report_target import (  # noqa: E402
    CASE_STATUS,
    CASE_STATUS_NOISE,
    INDUSTRY_NOISE,
    LEAD_SOURCE,
    LEAD_SOURCE_NOISE,
    LEAD_STATUS,
    ORIGIN,
    PRIORITY,
    ROLES,
    STAGE_NOISE,
    STAGES,
    SUBJECTS,
    _blank,
    _names,
    _noise,
    _pick,
    _zipf_owner,
)

CACHE = Path(__file__).resolve().parent / ".cache"
# A version of what make_legacy_set writes: a cached set written by an older generator is rebuilt.
GENERATOR = 1
STAMP = ".generated.json"

PER_CONTACT = {"account": 0.283, "lead": 0.46, "opportunity": 0.69, "case": 0.23}
AS_OF = pd.Timestamp("2025-06-30")  # the day of the export: nothing is created after it

# How people whose name has an accent write it (most of the time) in a CRM that lets them.
ACCENTED = {"Jose": "José", "Maria": "María", "Rene": "René", "Renee": "Renée", "Andre": "André", "Zoe": "Zoë",
            "Chloe": "Chloé", "Noe": "Noé", "Raul": "Raúl", "Ramon": "Ramón", "Ines": "Inés", "Angel": "Ángel",
            "Jesus": "Jesús", "Monica": "Mónica", "Sofia": "Sofía", "Ivan": "Iván", "Joel": "Joël",
            "Garcia": "García", "Rodriguez": "Rodríguez", "Martinez": "Martínez", "Hernandez": "Hernández",
            "Lopez": "López", "Gonzalez": "González", "Perez": "Pérez", "Sanchez": "Sánchez", "Ramirez": "Ramírez",
            "Gomez": "Gómez", "Diaz": "Díaz", "Jimenez": "Jiménez", "Munoz": "Muñoz", "Alvarez": "Álvarez",
            "Nunez": "Núñez", "Pena": "Peña", "Ibanez": "Ibáñez", "Chavez": "Chávez", "Gutierrez": "Gutiérrez",
            "Ruiz": "Ruíz", "Vazquez": "Vázquez", "Fernandez": "Fernández", "Muller": "Müller", "Benitez": "Benítez"}
# The old CRM's industries: the canonical picklist where it has the value, and its own words.
LEGACY_INDUSTRY = {"Real Estate": "Other", "Legal": "Other", "Services": "Other"}
PRODUCTS = ["New Business", "Renewal", "Upsell", "Add-on Licences", "Services", "Expansion", "Pilot", "Support Plan"]
BAD_EMAIL = ["n/a", "none", "{local}@{domain_root}", "{local}@@{domain}", "{local} @{domain}", "{local}.{domain}"]
BAD_PHONE = ["n/a", "TBD", "555-01", "0", "call reception", "123456"]
BAD_AMOUNT = ["TBD", "12k?", "see notes", "n/a"]

ACCOUNT_COLUMNS = {  # canonical -> the old CRM's export column
    "id": "Account ID", "name": "Account Name", "parent_id": "Parent Account ID", "industry": "Industry",
    "phone": "Phone", "website": "Website", "email": "Email", "billing_street": "Billing Street",
    "billing_city": "Billing City", "billing_postal_code": "Billing Zip/Postal Code",
    "billing_state": "Billing State/Province", "billing_country": "Billing Country", "owner": "Account Owner",
    "created_at": "Created Date"}
CONTACT_COLUMNS = {
    "id": "Contact ID", "account_id": "Account ID", "first_name": "First Name", "last_name": "Last Name",
    "email": "Email", "phone": "Business Phone", "mobile": "Mobile Phone", "title": "Job Title",
    "department": "Department", "mailing_street": "Mailing Street", "mailing_city": "Mailing City",
    "mailing_postal_code": "Mailing Zip", "mailing_state": "Mailing State", "mailing_country": "Mailing Country",
    "owner": "Contact Owner", "created_at": "Created On"}
LEAD_COLUMNS = {
    "id": "Lead ID", "first_name": "First Name", "last_name": "Last Name", "company": "Company", "email": "Email",
    "phone": "Phone", "title": "Title", "source": "Lead Source", "status": "Lead Status", "owner": "Lead Owner",
    "created_at": "Created"}
OPPORTUNITY_COLUMNS = {
    "id": "Opportunity ID", "account_id": "Account ID", "name": "Opportunity Name", "stage": "Stage",
    "amount": "Amount", "currency": "Currency", "close_date": "Close Date", "probability": "Probability (%)",
    "owner": "Opportunity Owner", "created_at": "Created Date"}
ROLE_COLUMNS = {"id": "Contact Role ID", "opportunity_id": "Opportunity ID", "contact_id": "Contact ID",
                "role": "Role", "is_primary": "Is Primary"}
CASE_COLUMNS = {"id": "CaseNumber", "account_id": "AccountId", "contact_id": "ContactId", "subject": "Subject",
                "status": "Status", "priority": "Priority", "origin": "Origin", "opened_at": "CreatedDate",
                "closed_at": "ClosedDate", "description": "Description"}

# file, mapping, the mapping's text: the source (how to read it), its fields and what is kept.
SOURCES = ("accounts", "contacts", "leads", "opportunities", "opportunity_contact_roles", "cases")


def _spoil(rng: np.random.Generator, values: np.ndarray, share: float, bad: list[str]) -> np.ndarray:
    """`share` of the present values replaced by one of `bad` ({local}, {domain}, {domain_root}
    filled from the value when it is an email)."""
    out = values.astype(object, copy=True)
    hit = np.flatnonzero(pd.notna(out) & (rng.random(len(out)) < share))
    picks = rng.integers(0, len(bad), len(hit))
    for i, k in zip(hit, picks, strict=True):
        value = str(out[i])
        local, _, domain = value.partition("@")
        out[i] = bad[k].format(local=local, domain=domain or "example.com",
                               domain_root=(domain or "example.com").rsplit(".", 1)[0])
    return out


def _shares(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _stamp(values, fmt: str) -> np.ndarray:
    """Timestamps (ISO text or datetimes) written with strftime `fmt`, None where missing."""
    stamps = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce")
    out = stamps.dt.strftime(fmt).to_numpy(dtype=object)
    out[stamps.isna().to_numpy()] = None
    return out


def _accent(rng: np.random.Generator, names: pd.Series, share: float = 0.7) -> pd.Series:
    accented = names.map(ACCENTED)
    use = accented.notna() & (rng.random(len(names)) < share)
    return names.where(~use, accented)


def _prospects(rng: np.random.Generator, count: int, taken_phones: set[int], taken_domains: set[str]
               ) -> pd.DataFrame:
    """`count` account rows (about 5% of them copies of another) of companies nobody in the CRM
    works at, made as realistic makes its accounts; phones and domains none of the others have."""
    from faker.providers.person.en_US import Provider as Person

    cities = _cities(rng)
    companies = _companies(rng, count, cities, _weighted(Person.last_names))
    domain = companies["domain"].to_numpy(dtype=object)
    for attempt in range(10):
        # pandas' isin hashes; np.isin on text compares every pair (an hour at 1M contacts).
        clash = (pd.Series(domain).isin(taken_domains) | pd.Series(domain).duplicated()).to_numpy()
        if not clash.any():
            break
        suffix = pd.Series(rng.integers(2, 1000, clash.sum())).astype(str).to_numpy(dtype=object)
        stem = pd.Series(domain[clash]).str.rsplit(".", n=1).str[0].to_numpy(dtype=object)
        domain[clash] = stem + ("-" if attempt else "") + suffix + ".com"
    companies["domain"] = domain
    accounts, _, _ = _accounts(rng, companies, np.ones(count, dtype=np.int64), taken_phones)
    return accounts


def _digits(values) -> np.ndarray:
    digits = pd.Series(values, dtype=object).str.replace(r"\D", "", regex=True).str[-10:]
    digits = pd.to_numeric(digits.where(digits.str.len() == 10), errors="coerce")
    return digits.dropna().astype(np.int64).to_numpy()


def _email_domains(*columns) -> set[str]:
    found: set[str] = set()
    for values in columns:
        text = pd.Series(values, dtype=object).dropna().str.lower()
        text = text.str.replace(r"^(https?://)?(www\.)?", "", regex=True).str.split("/").str[0]
        found.update(text.str.split("@").str[-1].unique().tolist())
    return found


def _accounts_frame(rng: np.random.Generator, crm, contacts: int) -> pd.DataFrame:
    accounts = crm.accounts.drop(columns=["_file", "_row"]).copy()
    # Companies enough that with their copies (realistic's 5% of the rows) the accounts add up.
    extra = max(0, round((contacts * PER_CONTACT["account"] - len(accounts)) * 0.95))
    if extra:
        taken = set(_digits(pd.concat([accounts["phone"], crm.contacts["phone"], crm.contacts["mobile"]])).tolist())
        domains = _email_domains(accounts["website"], accounts["email"], crm.contacts["email"])
        more = _prospects(rng, extra, taken, domains)
        more["id"] = [f"A{len(accounts) + i:07d}" for i in range(len(more))]
        more["_source"] = rng.choice(np.array(["purchased list", "trade fair", "crm"], dtype=object), len(more),
                                     p=[0.5, 0.2, 0.3])
        accounts = pd.concat([accounts, more.astype(object)], ignore_index=True)
    n = len(accounts)
    # The hierarchy: a parent among the accounts before it (no cycle); a few to no account held.
    parent = np.full(n, None, dtype=object)
    child = np.flatnonzero((rng.random(n) < 0.08) & (np.arange(n) > 10))
    ids = accounts["id"].to_numpy(dtype=object)
    parent[child] = ids[(rng.random(len(child)) * np.maximum(child // 5, 1)).astype(np.int64)]
    lost = rng.random(n) < 0.003
    parent[lost] = [f"A9{i:06d}" for i in np.flatnonzero(lost)]
    accounts["parent_id"] = parent
    industry = accounts["industry"].to_numpy(dtype=object)
    accounts["industry"] = _noise(rng, industry, INDUSTRY_NOISE, 0.02)
    accounts["name"] = _blank(accounts["name"].to_numpy(dtype=object), rng.random(n) < 0.002)
    accounts["phone"] = _spoil(rng, accounts["phone"].to_numpy(dtype=object), 0.01, BAD_PHONE)
    accounts["email"] = _spoil(rng, accounts["email"].to_numpy(dtype=object), 0.02, BAD_EMAIL)
    accounts["created_at"] = _stamp(accounts["created_at"], "%m/%d/%Y %I:%M %p")
    accounts = accounts.rename(columns={**ACCOUNT_COLUMNS, "_source": "Account Source"})
    return accounts[[*ACCOUNT_COLUMNS.values(), "Account Source"]]


def _contacts_frame(rng: np.random.Generator, crm) -> pd.DataFrame:
    contacts = crm.contacts.drop(columns=["_file", "_row"]).copy()
    n = len(contacts)
    contacts["first_name"] = _accent(rng, contacts["first_name"])
    contacts["last_name"] = _accent(rng, contacts["last_name"])
    account = contacts["account_id"].to_numpy(dtype=object, copy=True)
    account[rng.random(n) < 0.03] = None  # private contacts: no account
    lost = rng.random(n) < 0.003
    account[lost] = [f"A8{i:06d}" for i in np.flatnonzero(lost)]
    contacts["account_id"] = account
    contacts["email"] = _spoil(rng, contacts["email"].to_numpy(dtype=object), 0.015, BAD_EMAIL)
    contacts["phone"] = _spoil(rng, contacts["phone"].to_numpy(dtype=object), 0.01, BAD_PHONE)
    contacts["mobile"] = _spoil(rng, contacts["mobile"].to_numpy(dtype=object), 0.01, BAD_PHONE)
    contacts["created_at"] = _stamp(contacts["created_at"], "%d/%m/%Y %H:%M")
    contacts = contacts.rename(columns={**CONTACT_COLUMNS, "_source": "Contact Source"})
    return contacts[[*CONTACT_COLUMNS.values(), "Contact Source"]]


def _leads_frame(rng: np.random.Generator, crm, count: int, owners: np.ndarray) -> pd.DataFrame:
    contacts = crm.contacts
    accounts = crm.accounts
    first, last = _names(rng, count)
    first = first.astype(object)
    last = last.astype(object)
    # The company: one of the CRM's accounts for half, a new one for the others.
    known_company = rng.random(count) < 0.5
    company = np.empty(count, dtype=object)
    names = accounts["name"].to_numpy(dtype=object)
    company[known_company] = names[rng.integers(0, len(names), known_company.sum())]
    new_last = _names(rng, (~known_company).sum())[1]
    trade = rng.choice(np.array(["Systems", "Dental", "Logistics", "Partners", "Foods", "Labs", "Construction",
                                 "Consulting", "Motors", "Realty"], dtype=object), len(new_last))
    legal = rng.choice(np.array([" Inc", " LLC", "", " Corp", " Group"], dtype=object), len(new_last))
    company[~known_company] = new_last + " " + trade + legal
    domain = _slug(pd.Series(company, dtype=object)).to_numpy(dtype=object) + ".com"
    local = (_slug(pd.Series(first, dtype=object)) + "." + _slug(pd.Series(last, dtype=object))).to_numpy(dtype=object)
    email = np.where(rng.random(count) < 0.7, local + "@" + domain,
                     local + pd.Series(rng.integers(1, 99, count)).astype(str).to_numpy(dtype=object) + "@gmail.com")
    email = _blank(email.astype(object), rng.random(count) < 0.12)
    area = rng.choice(np.array([212, 213, 312, 713, 602, 215, 210, 619, 214, 512, 415, 206, 303, 617]), count)
    phone = _phone_text(_new_numbers(rng, area, set()), rng.choice(5, count, p=PHONE_P))
    phone = _blank(phone, rng.random(count) < 0.2)
    title = _titles(rng, rng.choice(len(FUNCTIONS), count, p=FUNCTION_P / FUNCTION_P.sum()))
    # 12% are people the CRM holds as contacts: their name, company and email (another case now and then).
    known = np.flatnonzero(rng.random(count) < 0.12)
    person = rng.integers(0, len(contacts), len(known))
    with_email = pd.notna(contacts["email"].to_numpy(dtype=object)[person])
    known, person = known[with_email], person[with_email]
    first[known] = contacts["first_name"].to_numpy(dtype=object)[person]
    last[known] = contacts["last_name"].to_numpy(dtype=object)[person]
    contact_email = contacts["email"].to_numpy(dtype=object)[person]
    upper = rng.random(len(known)) < 0.2
    contact_email[upper] = pd.Series(contact_email[upper], dtype=object).str.upper().to_numpy(dtype=object)
    email[known] = contact_email
    works_at = pd.Series(contacts["account_id"].to_numpy(dtype=object)[person], dtype=object)
    company[known] = works_at.map(accounts.set_index("id")["name"]).fillna(pd.Series(company[known])).to_numpy(
        dtype=object)
    last = _blank(last, rng.random(count) < 0.003)
    email = _spoil(rng, email, 0.03, BAD_EMAIL)
    created = AS_OF - pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, count), unit="s")
    return pd.DataFrame({
        "Lead ID": [f"L{i:07d}" for i in range(count)], "First Name": first, "Last Name": last,
        "Company": company, "Email": email, "Phone": phone, "Title": title,
        "Lead Source": _blank(_noise(rng, _pick(rng, LEAD_SOURCE, count), LEAD_SOURCE_NOISE, 0.03),
                              rng.random(count) < 0.1),
        "Lead Status": _pick(rng, LEAD_STATUS, count), "Lead Owner": _zipf_owner(rng, owners, count),
        "Created": created.floor("s").to_pydatetime()})


def _opportunities_frame(rng: np.random.Generator, accounts: pd.DataFrame, contacts: pd.DataFrame, count: int,
                         owners: np.ndarray) -> pd.DataFrame:
    account_ids = accounts["Account ID"].to_numpy(dtype=object)
    contact_account = contacts["Account ID"].dropna().to_numpy(dtype=object)
    # Mostly at accounts people work at (big accounts more deals), else anywhere; 1% at none.
    at = np.where(rng.random(count) < 0.8, contact_account[rng.integers(0, len(contact_account), count)],
                  account_ids[rng.integers(0, len(account_ids), count)]).astype(object)
    at[rng.random(count) < 0.01] = None
    lost = rng.random(count) < 0.003
    at[lost] = [f"A7{i:06d}" for i in np.flatnonzero(lost)]
    stage_names = np.array([s[0] for s in STAGES], dtype=object)
    stage_i = rng.choice(len(STAGES), count, p=_shares([s[1] for s in STAGES]))
    created = AS_OF.value // 10**9 - rng.integers(30 * 86400, 6 * 365 * 86400, count)
    close = created + rng.integers(14, 270, count) * 86400
    closed = stage_i >= 8
    # An open deal closes in the coming months; now and then its date has passed unnoticed.
    ahead = ~closed & (rng.random(count) < 0.9)
    close[ahead] = AS_OF.value // 10**9 + rng.integers(1, 200, ahead.sum()) * 86400
    probability = np.array([s[2] for s in STAGES], dtype=float)[stage_i]
    wrong = rng.random(count) < 0.02
    probability[wrong] = rng.choice([0.0, 10.0, 50.0, 90.0, 100.0], wrong.sum())
    probability_text = pd.Series(probability).map(lambda p: f"{p:.0f}").to_numpy(dtype=object)
    probability_text = _blank(probability_text, rng.random(count) < 0.04)
    amount = np.round(np.array([s[3] for s in STAGES], dtype=float)[stage_i] * rng.lognormal(0, 0.8, count), 2)
    amount[rng.random(count) < 0.002] *= 1000  # three zeros too many
    amount_text = np.where(rng.random(count) < 0.6, pd.Series(amount).map("{:,.2f}".format),
                           pd.Series(amount).map("{:.2f}".format)).astype(object)
    amount_text = _spoil(rng, _blank(amount_text, rng.random(count) < 0.03), 0.01, BAD_AMOUNT)
    name_of = accounts.set_index("Account ID")["Account Name"]
    product = rng.choice(np.array(PRODUCTS, dtype=object), count)
    year = pd.to_datetime(close, unit="s").year.astype(str).to_numpy(dtype=object)
    company = pd.Series(at, dtype=object).map(name_of).fillna("Unknown").str[:90].to_numpy(dtype=object)
    close_text = _blank(pd.to_datetime(close, unit="s").strftime("%m/%d/%Y").to_numpy(dtype=object),
                        rng.random(count) < 0.005)
    return pd.DataFrame({
        "Opportunity ID": [f"O{i:07d}" for i in range(count)], "Account ID": at,
        "Opportunity Name": company + " - " + product + " " + year,
        "Stage": _noise(rng, stage_names[stage_i], STAGE_NOISE, 0.03), "Amount": amount_text,
        "Currency": rng.choice(np.array(["USD", "EUR", "GBP", "CAD"], dtype=object), count, p=[0.85, 0.07, 0.04, 0.04]),
        "Close Date": close_text, "Probability (%)": probability_text,
        "Opportunity Owner": _zipf_owner(rng, owners, count),
        "Created Date": pd.to_datetime(created, unit="s").strftime("%m/%d/%Y %I:%M %p").to_numpy(dtype=object)})


def _roles_frame(rng: np.random.Generator, opportunities: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """One to three contacts of the deal's own account on 75% of the deals at an account with
    contacts; a primary on 80% of those."""
    people = contacts[["Contact ID", "Account ID"]].dropna()
    people = people.sort_values("Account ID", kind="stable")
    codes, accounts = pd.factorize(people["Account ID"], sort=True)
    starts = np.searchsorted(codes, np.arange(len(accounts)))
    sizes = np.bincount(codes, minlength=len(accounts))
    opp_account = accounts.get_indexer(opportunities["Account ID"].fillna(""))
    with_roles = np.flatnonzero((opp_account >= 0) & (rng.random(len(opportunities)) < 0.75))
    per = rng.choice([1, 2, 3], len(with_roles), p=[0.55, 0.3, 0.15])
    role_opp = np.repeat(with_roles, per)
    account = opp_account[role_opp]
    pick = starts[account] + (rng.random(len(role_opp)) * sizes[account]).astype(np.int64)
    contact = people["Contact ID"].to_numpy(dtype=object)[pick]
    nth = np.arange(len(role_opp)) - np.repeat(np.cumsum(per) - per, per)
    frame = pd.DataFrame({"opp": role_opp, "contact": contact, "nth": nth}).drop_duplicates(["opp", "contact"])
    n = len(frame)
    contact = frame["contact"].to_numpy(dtype=object, copy=True)
    lost = rng.random(n) < 0.002
    contact[lost] = [f"C9{i:06d}" for i in np.flatnonzero(lost)]
    primary = (frame["nth"].to_numpy() == 0) & (rng.random(n) < 0.8)
    return pd.DataFrame({
        "Contact Role ID": [f"R{i:07d}" for i in range(n)],
        "Opportunity ID": opportunities["Opportunity ID"].to_numpy(dtype=object)[frame["opp"].to_numpy()],
        "Contact ID": contact, "Role": _blank(_pick(rng, ROLES, n), rng.random(n) < 0.1),
        "Is Primary": np.where(primary, "true", "false").astype(object)})


def _cases_frame(rng: np.random.Generator, contacts: pd.DataFrame, count: int) -> pd.DataFrame:
    person = rng.integers(0, len(contacts), count)
    contact = contacts["Contact ID"].to_numpy(dtype=object)[person]
    account = contacts["Account ID"].to_numpy(dtype=object)[person]
    contact = _blank(contact, rng.random(count) < 0.05)  # a call from the account's switchboard
    status = _noise(rng, _pick(rng, CASE_STATUS, count), CASE_STATUS_NOISE, 0.02)
    opened = AS_OF.value // 10**9 - rng.integers(3600, 5 * 365 * 86400, count)
    closed = np.minimum(opened + (rng.exponential(5, count) * 86400).astype(np.int64), AS_OF.value // 10**9)
    is_closed = pd.Series(status).str.strip().str.lower().str.startswith("clos").to_numpy()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    description = np.where(rng.random(count) < 0.3, None,
                           rng.choice(np.array(["Customer called about this.", "See email thread.\nCalled back.",
                                                "Escalated to tier 2", "Fixed by config change; customer confirmed."],
                                               dtype=object), count)).astype(object)
    return pd.DataFrame({
        "CaseNumber": [f"K{i:07d}" for i in range(count)], "AccountId": account, "ContactId": contact,
        "Subject": rng.choice(np.array(SUBJECTS, dtype=object), count), "Status": status,
        "Priority": _blank(_noise(rng, _pick(rng, PRIORITY, count), ["high", "HIGH", "Hgh"], 0.02),
                           rng.random(count) < 0.05),
        "Origin": _pick(rng, ORIGIN, count),
        "CreatedDate": pd.to_datetime(opened, unit="s").strftime(stamp).to_numpy(dtype=object),
        "ClosedDate": _blank(pd.to_datetime(closed, unit="s").strftime(stamp).to_numpy(dtype=object), ~is_closed),
        "Description": description})


def _write_xlsx(path: Path, frame: pd.DataFrame, title: str) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append([title])
    sheet.append([f"Exported {AS_OF:%d %B %Y} by the sales team; {len(frame):,} leads"])
    sheet.append([])
    sheet.append(list(frame.columns))
    columns = [frame[c].to_numpy(dtype=object) for c in frame.columns]
    for values in columns:
        values[pd.isna(values)] = None
    for row in zip(*columns, strict=True):
        sheet.append(row)
    book.save(path)


def _write_csv(path: Path, frame: pd.DataFrame, *, encoding: str, sep: str = ",") -> None:
    frame.to_csv(path, index=False, sep=sep, encoding=encoding, lineterminator="\r\n")


def _mapping_texts() -> dict[str, str]:
    industries = sorted({*LEGACY_INDUSTRY, "Healthcare", "Technology", "Finance", "Insurance", "Construction",
                         "Manufacturing", "Consulting", "Retail", "Education", "Transportation", "Hospitality"})
    industry_map = "\n".join(f"            {v}: {LEGACY_INDUSTRY.get(v, v)}" for v in industries)

    def identity(values, indent: int = 12) -> str:
        return "\n".join(f"{' ' * indent}{v}: {v}" for v in values)

    def plain(columns: dict[str, str], skip: tuple[str, ...] = ()) -> str:
        return "\n".join(f"  {field}: {column}" for field, column in columns.items() if field not in skip)

    return {
        "accounts": f"""# The old CRM's account export (accounts.csv): UTF-8 with BOM, ";" separated, US dates.
entity: account
description: Legacy CRM accounts
source: {{name: accounts, encoding: utf-8-sig, delimiter: ";"}}
fields:
{plain(ACCOUNT_COLUMNS, ("industry", "created_at"))}
  industry:
    from: Industry
    transforms:
      - map:
          values:
{industry_map}
  created_at: {{from: Created Date, transforms: [{{datetime: {{formats: ["%m/%d/%Y %I:%M %p"]}}}}]}}
custom: [Account Source]
""",
        "contacts": f"""# The old CRM's contact export (contacts.csv): cp1252, ",", day-first dates.
entity: contact
description: Legacy CRM contacts
source: {{name: contacts, encoding: cp1252, delimiter: ","}}
fields:
{plain(CONTACT_COLUMNS, ("created_at",))}
  created_at: {{from: Created On, transforms: [{{datetime: {{formats: ["%d/%m/%Y %H:%M"]}}}}]}}
custom: [Contact Source]
""",
        "leads": f"""# The sales team's lead sheet (leads.xlsx): sheet "Leads", the header on row 4 under a
# title, a subtitle and a blank row; Created holds real Excel dates.
entity: lead
description: Sales team's lead sheet
source: {{name: leads, sheet: Leads, header_row: 4}}
fields:
{plain(LEAD_COLUMNS, ("source", "status", "created_at"))}
  source:
    from: Lead Source
    transforms:
      - map:
          values:
{identity(LEAD_SOURCE)}
  status:
    from: Lead Status
    transforms:
      - map:
          values:
{identity(LEAD_STATUS)}
  created_at: {{from: Created, transforms: [{{datetime: {{formats: ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]}}}}]}}
""",
        "opportunities": f"""# The old CRM's opportunity export (opportunities.csv): UTF-8, ",", amounts with
# thousands separators ("12,500.00"), US dates; "TBD" amounts are left for validation.
entity: opportunity
description: Legacy CRM opportunities
source: {{name: opportunities, encoding: utf-8, delimiter: ","}}
fields:
{plain(OPPORTUNITY_COLUMNS, ("stage", "amount", "close_date", "probability", "created_at"))}
  stage:
    from: Stage
    transforms:
      - map:
          values:
{identity([s[0] for s in STAGES])}
  amount: {{from: Amount, transforms: [{{number: {{decimal: "."}}}}]}}
  close_date: {{from: Close Date, transforms: [{{date: {{formats: ["%m/%d/%Y"]}}}}]}}
  probability: {{from: Probability (%), transforms: [number]}}
  created_at: {{from: Created Date, transforms: [{{datetime: {{formats: ["%m/%d/%Y %I:%M %p"]}}}}]}}
""",
        "opportunity_contact_roles": f"""# The old CRM's contact roles (opportunity_contact_roles.csv): UTF-8, ",".
entity: opportunity_contact_role
description: Legacy CRM opportunity contact roles
source: {{name: opportunity_contact_roles, encoding: utf-8, delimiter: ","}}
fields:
{plain(ROLE_COLUMNS, ("is_primary",))}
  is_primary: {{from: Is Primary, transforms: [boolean]}}
""",
        "cases": f"""# The support desk's cases (cases.jsonl): JSON Lines, UTC timestamps with a Z.
entity: case
description: Support desk cases
source: {{name: cases, format: jsonl}}
fields:
{plain(CASE_COLUMNS, ("status", "priority", "opened_at", "closed_at"))}
  status:
    from: Status
    transforms:
      - map:
          values:
{identity(CASE_STATUS)}
  priority:
    from: Priority
    transforms:
      - map:
          values:
{identity(PRIORITY)}
  opened_at: {{from: CreatedDate, transforms: [{{datetime: {{formats: ["%Y-%m-%dT%H:%M:%SZ"]}}}}]}}
  closed_at: {{from: ClosedDate, transforms: [{{datetime: {{formats: ["%Y-%m-%dT%H:%M:%SZ"]}}}}]}}
""",
    }


FILES = {"accounts": "accounts.csv", "contacts": "contacts.csv", "leads": "leads.xlsx",
         "opportunities": "opportunities.csv", "opportunity_contact_roles": "opportunity_contact_roles.csv",
         "cases": "cases.jsonl"}


def migration_yaml(folder: Path, target: str = "sqlite:///target.db", run_dir: str | None = None,
                   absolute: bool = False) -> str:
    """migration.yaml of the set in `folder`: its six sources (paths relative to the folder, or
    absolute for a config written elsewhere), `target`, and `run_dir` when given."""
    base = f"{folder.resolve()}/" if absolute else ""
    lines = ["# A legacy migration project made by bench/legacy_set.py.", f"target: {target}"]
    if run_dir:
        lines.append(f"run_dir: {run_dir}")
    lines.append("sources:")
    for name in SOURCES:
        lines.append(f"  - {{location: {base}{FILES[name]}, mapping: {base}mappings/{name}.yaml, phone_region: US}}")
    return "\n".join(lines) + "\n"


def make_legacy_set(folder: Path, contacts: int, seed: int = 7) -> dict[str, int]:
    """Write the legacy set of about `contacts` contacts into `folder` (see the module's
    docstring); returns the rows per file."""
    folder = Path(folder)
    (folder / "mappings").mkdir(parents=True, exist_ok=True)
    crm = make_crm(contacts, seed)
    rng = np.random.default_rng(seed + 1_000)
    accounts = _accounts_frame(rng, crm, contacts)
    people = _contacts_frame(rng, crm)
    owners = pd.unique(crm.accounts["owner"].to_numpy(dtype=object))
    leads = _leads_frame(rng, crm, round(contacts * PER_CONTACT["lead"]), owners)
    opportunities = _opportunities_frame(rng, accounts, people, round(contacts * PER_CONTACT["opportunity"]), owners)
    roles = _roles_frame(rng, opportunities, people)
    cases = _cases_frame(rng, people, round(contacts * PER_CONTACT["case"]))
    _write_csv(folder / FILES["accounts"], accounts, encoding="utf-8-sig", sep=";")
    _write_csv(folder / FILES["contacts"], people, encoding="cp1252")
    _write_xlsx(folder / FILES["leads"], leads, "Leads - all regions")
    _write_csv(folder / FILES["opportunities"], opportunities, encoding="utf-8")
    _write_csv(folder / FILES["opportunity_contact_roles"], roles, encoding="utf-8")
    cases.to_json(folder / FILES["cases"], orient="records", lines=True, force_ascii=False)
    for name, text in _mapping_texts().items():
        (folder / "mappings" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (folder / "migration.yaml").write_text(migration_yaml(folder), encoding="utf-8")
    rows = {"accounts": len(accounts), "contacts": len(people), "leads": len(leads),
            "opportunities": len(opportunities), "opportunity_contact_roles": len(roles), "cases": len(cases)}
    (folder / STAMP).write_text(json.dumps({"generator": GENERATOR, "contacts": contacts, "seed": seed,
                                            "rows": rows}), encoding="utf-8")
    return rows


def cached_legacy_set(contacts: int, seed: int = 7, *, cache: Path = CACHE, log=print) -> Path:
    """The folder of the legacy set of `contacts` contacts, written once per (N, seed) under
    `cache` and kept; rewritten when an older generator wrote it."""
    folder = cache / f"legacy_{contacts}_{seed}"
    stamp = folder / STAMP
    if stamp.exists() and json.loads(stamp.read_text()).get("generator") == GENERATOR:
        return folder
    partial = cache / f"legacy_{contacts}_{seed}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    rows = make_legacy_set(partial, contacts, seed)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    log(f"  wrote {folder.name}: {rows_text(rows)} in {time.perf_counter() - started:.1f} s")
    return folder


def rows_text(rows: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {name}" for name, n in rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, default=None, help="write here instead of the cache")
    args = parser.parse_args()
    if args.folder:
        print(rows_text(make_legacy_set(args.folder, args.contacts, args.seed)))
        print(args.folder)
        return
    folder = cached_legacy_set(args.contacts, args.seed)
    print(rows_text(json.loads((folder / STAMP).read_text())["rows"]))
    print(folder)


if __name__ == "__main__":
    main()
