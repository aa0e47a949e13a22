"""A small loaded target with planted dirt, for the report's tests: rows written straight into
the target schema (build_metadata), so each finding's exact count is known by construction.

The day reports are counted to is AS_OF, 2025-06-01 (a Sunday). What is planted, by section:

pipeline      14 opportunities; open: O1-O9, O11, O12, O14 (12; "Clsoed Won" is no closed stage)
              past due: O11, O14; probability contradicting stage: O10 (Closed Won at 10),
              O12 ("negotiation" at 20, Negotiation is 90); amount outlier: O9 (100000 among
              Prospecting EUR 1000-1700); closing in the last 14 days of a quarter: O9, O12
accounts      10; hierarchy A1 > A2 > A3 (depth 3); parent missing: A5 (quarantined pointer),
              A6 (points at no row); cycles: A7 <> A8 and A9 its own parent (3 accounts), A10
              under the cycle but not in it; no contact and no opportunity: A4-A10 (7)
contacts      4; without an account: C3, C4; roles on O1 (2, one primary), O2, O10 (primary)
cases         6; open: K1 (2 days), K2 (61 days), K5 (over a year); with an activity: K1, K3
              (X3 points at account 2, not case 2)
activities    5; X2 completed 877 days before it was due
leads         4; open: L1, L2; known as contacts by email: L1, L2 (other case)
picklists     variants: account.industry 'technology', account.owner 'ann', opportunity.stage
              'negotiation' and 'Clsoed Won', role 'decision maker', case.status 'closed ',
              lead.source 'web'
dates         O10 closes before created, K3 closed before opened (and K6, whose closed_at the
              load left empty and kept in quarantine), X2 completed before due,
              A4 created in 2052
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmmigrate.load import connect
from crmmigrate.load.schema import build_metadata
from tests.conftest import empty_database

AS_OF = dt.date(2025, 6, 1)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _quarantined(field: str, value: str) -> list[dict]:
    return [{"field": field, "value": value, "reason": "points to no loaded account (or to several)"}]


def _accounts() -> list[dict]:
    rows = [
        (1, "Acme", None, "Ann", "Technology", "DE"),
        (2, "Acme Child", 1, "Ann", "Technology", "DE"),
        (3, "Acme Grandchild", 2, "Bob", "Retail", "FR"),
        (4, "Loner", None, "Bob", "technology", "US"),
        (5, "Lost Parent", None, "ann", None, None),
        (6, "Dangling", 999, None, None, None),
        (7, "Cycle One", 8, None, None, None),
        (8, "Cycle Two", 7, None, None, None),
        (9, "Own Parent", 9, None, None, None),
        (10, "Under Cycle", 7, None, None, None),
    ]
    accounts = [{"id": i, "legacy_id": f"A{i}", "name": name, "parent_id": parent, "owner": owner,
                 "industry": industry, "billing_country": country} for i, name, parent, owner, industry, country in rows]
    accounts[4]["quarantine"] = _quarantined("parent_id", "A99")
    accounts[3]["created_at"] = t("2052-01-01T00:00:00")  # 2025 typed as 2052
    accounts[0]["created_at"] = t("2025-06-01T23:59:00")  # on the day itself: not in the future
    return accounts


def _opportunities() -> list[dict]:
    rows = [
        *[(i, "Prospecting", 900 + 100 * i, "EUR", "2025-07-10", 10, "Ann", 1) for i in range(1, 9)],
        (9, "Prospecting", 100000, "EUR", "2025-06-25", 10, "Bob", 3),
        (10, "Closed Won", 5000, "EUR", "2025-03-01", 10, "Ann", 1),
        (11, "Negotiation", 2000, "USD", "2025-05-01", 80, "Bob", 3),
        (12, "negotiation", 3000, "USD", "2025-12-20", 20, "Ann", 2),
        (13, "Closed Lost", None, "USD", "2024-01-01", None, "Bob", 3),
        (14, "Clsoed Won", 4000, "USD", "2025-02-01", 100, "Ann", 1),
    ]
    created = {10: "2025-04-01T09:00:00", 13: "2023-06-01T09:00:00"}
    return [{"id": i, "legacy_id": f"O{i}", "name": f"Deal {i}", "stage": stage, "amount": amount, "currency": cur,
             "close_date": d(close), "probability": prob, "owner": owner, "account_id": account,
             "created_at": t(created.get(i, "2025-01-01T09:00:00"))}
            for i, stage, amount, cur, close, prob, owner, account in rows]


def planted() -> dict[str, list[dict]]:
    """Every table's rows (target ids fixed, so pointers are known)."""
    return {
        "account": _accounts(),
        "contact": [
            {"id": 1, "legacy_id": "C1", "account_id": 1, "first_name": "Ann", "last_name": "Smith",
             "email": "ann@acme.com", "owner": "Ann"},
            {"id": 2, "legacy_id": "C2", "account_id": 2, "first_name": "Bob", "last_name": "Jones",
             "email": "bob@acme.com", "owner": "Bob"},
            {"id": 3, "legacy_id": "C3", "account_id": None, "last_name": "Free", "email": "cy@free.org",
             "owner": "Bob"},
            {"id": 4, "legacy_id": "C4", "account_id": None, "last_name": "Lost", "owner": "Ann",
             "quarantine": _quarantined("account_id", "A404")},
        ],
        "lead": [
            {"id": 1, "legacy_id": "L1", "last_name": "Smith", "company": "Acme", "email": "ann@acme.com",
             "source": "Web", "status": "New", "owner": "Ann", "created_at": t("2025-05-01T10:00:00")},
            {"id": 2, "legacy_id": "L2", "last_name": "Jones", "company": "Acme", "email": "BOB@Acme.com",
             "source": "web", "status": "Contacted", "owner": "Bob", "created_at": t("2024-01-01T10:00:00")},
            {"id": 3, "legacy_id": "L3", "last_name": "Gone", "company": "Old", "email": None,
             "source": "Referral", "status": "Converted", "owner": "Bob", "created_at": t("2024-03-01T10:00:00")},
            {"id": 4, "legacy_id": "L4", "last_name": "New", "company": "Newco", "email": "new@x.com",
             "source": "Trade Show", "status": "Unqualified", "owner": "Ann", "created_at": t("2025-05-31T10:00:00")},
        ],
        "opportunity": _opportunities(),
        "opportunity_contact_role": [
            {"id": 1, "legacy_id": "R1", "opportunity_id": 1, "contact_id": 1, "role": "Decision Maker",
             "is_primary": True},
            {"id": 2, "legacy_id": "R2", "opportunity_id": 1, "contact_id": 2, "role": "Evaluator", "is_primary": False},
            {"id": 3, "legacy_id": "R3", "opportunity_id": 2, "contact_id": 2, "role": "Decision Maker",
             "is_primary": False},
            {"id": 4, "legacy_id": "R4", "opportunity_id": 10, "contact_id": 1, "role": "decision maker",
             "is_primary": True},
        ],
        "case": [
            {"id": 1, "legacy_id": "K1", "account_id": 1, "subject": "Broken", "status": "New", "priority": "High",
             "opened_at": t("2025-05-30T10:00:00")},
            {"id": 2, "legacy_id": "K2", "account_id": 2, "subject": "Slow", "status": "In Progress",
             "priority": "Low", "opened_at": t("2025-04-01T10:00:00")},
            {"id": 3, "legacy_id": "K3", "account_id": 1, "subject": "Done", "status": "Closed", "priority": "Medium",
             "opened_at": t("2025-01-01T10:00:00"), "closed_at": t("2024-12-01T10:00:00")},
            {"id": 4, "legacy_id": "K4", "account_id": 3, "subject": "Old", "status": "closed ", "priority": "High",
             "opened_at": t("2023-01-01T10:00:00"), "closed_at": t("2023-02-01T10:00:00")},
            {"id": 5, "legacy_id": "K5", "account_id": 3, "subject": "Ancient", "status": "Escalated",
             "priority": None, "opened_at": t("2020-01-01T10:00:00")},
            {"id": 6, "legacy_id": "K6", "account_id": 3, "subject": "Kept", "status": "Closed", "priority": "Low",
             "opened_at": t("2024-05-18T09:24:00"),
             "quarantine": [{"field": "closed_at", "value": "2024-05-18T03:24:00", "reason": "before opened_at"}]},
        ],
        "activity": [
            {"id": 1, "legacy_id": "X1", "type": "call", "related_entity": "case", "related_id": 1, "owner": "Ann",
             "due_at": t("2025-05-30T10:00:00"), "completed_at": t("2025-05-30T11:00:00")},
            {"id": 2, "legacy_id": "X2", "type": "email", "related_entity": "case", "related_id": 3, "owner": "Bob",
             "due_at": t("2025-05-26T10:00:00"), "completed_at": t("2023-01-01T10:00:00")},
            {"id": 3, "legacy_id": "X3", "type": "meeting", "related_entity": "account", "related_id": 2,
             "owner": "Ann", "due_at": t("2025-05-27T10:00:00")},
            {"id": 4, "legacy_id": "X4", "type": "task", "related_entity": None, "related_id": None, "owner": "Bob",
             "due_at": t("2025-06-01T18:00:00")},
            {"id": 5, "legacy_id": "X5", "type": "call", "related_entity": None, "related_id": None, "owner": "Ann",
             "due_at": t("2025-06-02T08:00:00")},
        ],
    }


def plant(engine: sa.Engine, data: dict[str, list[dict]] | None = None) -> None:
    """The target schema with `data` (default: `planted()`) inserted, foreign keys unchecked
    (a pointer to a missing row is part of the dirt)."""
    data = planted() if data is None else data
    metadata = build_metadata()
    metadata.create_all(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET session_replication_role = replica")
        elif engine.dialect.name in ("mysql", "mariadb"):
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in metadata.sorted_tables:
            rows = data.get(table.name)
            if not rows:
                continue
            for row in rows:  # one at a time: a JSON column left out is SQL NULL, not JSON 'null'
                connection.execute(table.insert(), {"legacy_source": "legacy", "row_hash": "x", "run_id": "r1",
                                                    **{k: v for k, v in row.items() if v is not None}})


@contextmanager
def planted_target(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                   data: dict[str, list[dict]] | None = None) -> Iterator[str]:
    """The URL of a fresh database of `backend` holding the planted target."""
    databases = empty_database(request, backend, tmp_path)
    url = next(databases)
    engine = connect(url)
    try:
        plant(engine, data)
    finally:
        engine.dispose()
    try:
        yield url
    finally:
        databases.close()
