"""The loader against SQLite, PostgreSQL and MariaDB: schema, upsert, rerun, refusals, ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.load import TargetUnreachable, check_target, connect, load
from crmmigrate.load.gate import loadable
from crmmigrate.model import MODEL
from crmmigrate.validate import load_rules, load_thresholds, validate


def dataset(entity: str, rows: list[dict[str, str | None]], source: str = "legacy") -> pd.DataFrame:
    columns = list(MODEL.entity(entity).field_names)
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns, dtype="str")
    frame["_custom"] = [r.get("_custom") for r in rows]
    frame["_issues"] = None
    frame["_source"] = source
    frame["_file"] = f"{entity}.csv"
    frame["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return frame


def sample_data() -> dict[str, pd.DataFrame]:
    accounts = dataset("account", [
        {"id": "A1", "name": "Acme", "industry": "Technology", "created_at": "2020-01-02T03:04:05",
         "_custom": '{"Region": "Москва"}'},
        {"id": "A2", "name": "Acme Child", "parent_id": "A1"},
        {"id": "A3", "name": "Globex", "parent_id": "A2", "email": "not an email"},
    ])
    contacts = dataset("contact", [
        {"id": "C1", "account_id": "A1", "last_name": "Müller", "email": "m@acme.com"},
        {"id": "C2", "account_id": "A9", "last_name": "王"},          # orphan: quarantined
        {"id": "C3", "account_id": "A3", "last_name": None},          # key missing: rejected
    ])
    opps = dataset("opportunity", [
        {"id": "O1", "account_id": "A1", "name": "Big", "stage": "Prospecting",
         "close_date": "2024-05-01", "amount": "1234.50", "probability": "10"},
    ])
    return {"account": accounts, "contact": contacts, "opportunity": opps}


def run_load(engine: sa.Engine, data: dict[str, pd.DataFrame], run_id: str = "r1", **options):
    result = validate(data, rules=load_rules(), thresholds=load_thresholds())
    return load(engine, data, validation=result, run_id=run_id, entities=list(data), **options)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def target(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'crm.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database(request.getfixturevalue(f"{request.param}_url")) as engine:
        yield engine


@contextmanager
def fresh_database(base: str) -> Iterator[sa.Engine]:
    """A new empty database on the server of `base`, dropped afterwards."""
    name = f"crm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = connect(str(sa.make_url(base).set(database=name)))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


def table(engine: sa.Engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {engine.dialect.identifier_preparer.quote(name)} ORDER BY id"), conn)


def ledger(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT entity, source, legacy_id, status FROM id_map ORDER BY entity, legacy_id"))]


def test_load_resolves_pointers_keeps_invalid_values_and_records_the_ledger(target):
    report = run_load(target, sample_data())

    assert check_target(target) == []
    accounts = table(target, "account")
    ids = dict(zip(accounts["legacy_id"], accounts["id"], strict=True))
    assert accounts["parent_id"].tolist()[:1] == [None] or pd.isna(accounts["parent_id"].iloc[0])
    assert int(accounts.loc[accounts.legacy_id == "A2", "parent_id"].iloc[0]) == ids["A1"]
    assert int(accounts.loc[accounts.legacy_id == "A3", "parent_id"].iloc[0]) == ids["A2"]
    globex = accounts[accounts.legacy_id == "A3"].iloc[0]
    assert globex["email"] is None or pd.isna(globex["email"])
    assert "not an email" in str(globex["quarantine"])
    assert "Москва" in str(accounts.loc[accounts.legacy_id == "A1", "custom"].iloc[0])
    contacts = table(target, "contact")
    assert contacts["legacy_id"].tolist() == ["C1", "C2"]
    assert int(contacts["account_id"].iloc[0]) == ids["A1"]
    assert pd.isna(contacts["account_id"].iloc[1])
    assert "A9" in str(contacts["quarantine"].iloc[1])
    opp = table(target, "opportunity").iloc[0]
    assert str(opp["close_date"])[:10] == "2024-05-01"
    assert float(opp["amount"]) == 1234.5
    assert ledger(target) == [
        ("account", "legacy", "A1", "loaded"), ("account", "legacy", "A2", "loaded"),
        ("account", "legacy", "A3", "loaded"), ("contact", "legacy", "C1", "loaded"),
        ("contact", "legacy", "C2", "loaded"), ("contact", "legacy", "C3", "rejected"),
        ("opportunity", "legacy", "O1", "loaded"),
    ]
    assert [(s.entity, s.inserted, s.rejected) for s in report.sources] == [
        ("account", 3, 0), ("contact", 2, 1), ("opportunity", 1, 0)]
    assert report.rejects[0]["reason"] == "last_name: missing required value"


def test_a_rerun_changes_nothing_and_a_changed_row_updates_one_target_row(target):
    data = sample_data()
    run_load(target, data)
    before = table(target, "contact")

    again = run_load(target, data, run_id="r2")

    assert [(s.inserted, s.updated) for s in again.sources] == [(0, 0), (0, 0), (0, 0)]
    assert table(target, "contact").equals(before)
    data["contact"].loc[0, "email"] = "new@acme.com"
    changed = run_load(target, data, run_id="r3")
    assert [(s.entity, s.updated) for s in changed.sources if s.updated] == [("contact", 1)]
    after = table(target, "contact")
    assert after["email"].tolist()[0] == "new@acme.com"
    assert after["id"].tolist() == before["id"].tolist()


def test_dry_run_commits_nothing(target):
    report = run_load(target, sample_data(), dry_run=True)

    assert report.sources[0].inserted == 3
    assert table(target, "account").empty
    assert ledger(target) == []


@pytest.mark.parametrize("server", [pytest.param("postgres", marks=pytest.mark.postgres),
                                    pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_rows_the_database_refuses_are_rejected_with_its_reason_and_the_batch_saved(request, server):
    with fresh_database(request.getfixturevalue(f"{server}_url")) as engine:
        data = {"account": dataset("account", [
            {"id": "A1", "name": "Acme"}, {"id": "A" * 300, "name": "Globex"},
            {"id": "A3", "name": "Initech"}])}
        report = run_load(engine, data)

        # Validation has no length for ids; the database's column has one, and says so.
        assert table(engine, "account")["legacy_id"].tolist() == ["A1", "A3"]
        assert report.sources[0].rejected == 1
        reason = report.rejects[0]["reason"]
        assert reason.startswith("database refused: ")
        assert "too long" in reason.lower()
        assert [r[3] for r in ledger(engine)] == ["loaded", "loaded"]  # too long for id_map too


def test_a_hierarchy_cycle_is_loaded_without_parents_and_kept_in_quarantine(target):
    data = {"account": dataset("account", [
        {"id": "A", "name": "a", "parent_id": "B"}, {"id": "B", "name": "b", "parent_id": "A"}])}

    run_load(target, data)

    accounts = table(target, "account")
    assert accounts["parent_id"].isna().all()
    assert all("in a parent cycle" in str(q) for q in accounts["quarantine"])


def test_the_gate_holds_back_failing_entities_and_their_children():
    data = sample_data()
    data["contact"].loc[2, "last_name"] = "Lee"
    data["account"] = dataset("account", [{"id": f"A{i}", "name": "n", "email": "bad"} for i in range(10)])
    result = validate(data, rules=load_rules(), thresholds=load_thresholds())

    order, held = loadable(result)

    assert order == []
    assert held == {"account": "gate failed: account.email",
                    "contact": "points into account, which is held back",
                    "opportunity": "points into account, which is held back"}
    assert loadable(result, allow_failing=True)[0] == ["account", "contact", "opportunity"]


@pytest.mark.mariadb
def test_a_password_never_appears_in_a_connection_error(mariadb_url):
    url = str(sa.make_url(mariadb_url).set(password="s3cret-pw", username="nobody"))

    with pytest.raises(TargetUnreachable) as caught:
        connect(url)

    assert "s3cret-pw" not in str(caught.value)
    assert "***" in str(caught.value)


def test_target_commands(tmp_path):
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'crm.db'}"

    created = runner.invoke(app, ["target", "init", url])
    assert created.exit_code == 0
    assert "created 8 table(s)" in created.stdout
    assert runner.invoke(app, ["target", "check", url]).stdout.strip().endswith("matches the target schema")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE "case"'))
    engine.dispose()
    checked = runner.invoke(app, ["target", "check", url])
    assert checked.exit_code == 1
    assert "table 'case' is missing" in checked.stdout
