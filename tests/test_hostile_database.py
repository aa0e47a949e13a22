"""Hostile and careless databases, from issue 16: a source is only ever read; a target that never
answers, is not a database, holds someone else's tables, is full, or is given names longer than
its columns gets a clear message and exit 2 (never a hang, never exit 3); and runs over one or
two accounts or contacts succeed. Each case on SQLite and, where it differs, PostgreSQL and
MariaDB."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool, Pool
from typer.testing import CliRunner, Result

import crmmigrate.connections
import crmmigrate.extract.sql
from tests.conftest import empty_database
from crmmigrate.cli import app
from crmmigrate.errors import BadQuery
from crmmigrate.extract import Source, open_source

runner = CliRunner()
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
            pytest.param("mariadb", marks=pytest.mark.mariadb)]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on each backend, dropped afterwards."""
    yield from empty_database(request, request.param, tmp_path)


def execute(url: str, *statements: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            rows: list[tuple] = []
            for statement in statements:
                result = connection.exec_driver_sql(statement)
                rows = [tuple(r) for r in result] if result.returns_rows else []
            return rows
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def project(folder: Path, target: str, accounts: list[str], contacts: list[str] | None = None, *,
            name: str | None = None, extra: str = "") -> Path:
    """A migration of `accounts` (Id,Name,Web lines) and, when given, `contacts`
    (Id,Acc,First,Last,Email lines) into `target`."""
    (folder / "accounts.csv").write_text("Id,Name,Web\n" + "".join(f"{a}\n" for a in accounts), encoding="utf-8")
    (folder / "accounts.yaml").write_text(
        "entity: account\nfields:\n  id: Id\n  name: Name\n  website: Web\n", encoding="utf-8")
    named = f", name: {name}" if name else ""
    sources = f"  - {{location: accounts.csv, mapping: accounts.yaml{named}}}\n"
    if contacts is not None:
        (folder / "contacts.csv").write_text(
            "Id,Acc,First,Last,Email\n" + "".join(f"{c}\n" for c in contacts), encoding="utf-8")
        (folder / "contacts.yaml").write_text(
            "entity: contact\nfields:\n  id: Id\n  account_id: Acc\n  first_name: First\n  last_name: Last\n"
            "  email: Email\n", encoding="utf-8")
        sources += "  - {location: contacts.csv, mapping: contacts.yaml}\n"
    config = folder / "migration.yaml"
    config.write_text(f"target: '{target}'\nrun_dir: runs\n{extra}sources:\n{sources}", encoding="utf-8")
    return config


def id_map(url: str) -> list[tuple]:
    return sorted(execute(url, "SELECT entity, source, legacy_id, status FROM id_map"))


# --- 1. a source is only ever read ------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "DROP TABLE victim",
    "SELECT * FROM victim; DROP TABLE victim",
    "select 1 /* ; */ ; delete from victim",
    "SELECT 'a\\'; DROP TABLE victim; -- '",
    "SELECT * INTO copied FROM victim",
])
def test_a_query_that_is_not_one_select_is_refused_by_name_and_changes_nothing(database, query, tmp_path):
    execute(database, "CREATE TABLE victim (id INTEGER PRIMARY KEY)", "INSERT INTO victim VALUES (1)")
    out = tmp_path / "out.csv"

    result = invoke("extract", database, "--query", query, "-o", str(out))

    assert result.exit_code == 2, result.output
    assert "the query " in result.output and query.split()[0] in result.output
    assert "a source is only read" in result.output
    assert execute(database, "SELECT id FROM victim") == [(1,)]
    assert not out.exists()


WIPE = {  # a SELECT that writes: the check of the query passes it, the session must not
    "postgresql": "CREATE FUNCTION wipe() RETURNS int AS 'DELETE FROM victim; SELECT 1' LANGUAGE sql",
    "mysql": "CREATE FUNCTION wipe() RETURNS int MODIFIES SQL DATA BEGIN DELETE FROM victim; RETURN 1; END",
}


def test_a_source_session_is_read_only_even_past_the_query_check(database, monkeypatch):
    """The database itself refuses to write through a source's connection: the check of the
    query is a message, the read-only session (SQLite: mode=ro) is the guarantee."""
    execute(database, "CREATE TABLE victim (id INTEGER PRIMARY KEY)", "INSERT INTO victim VALUES (1)")
    dialect = sa.make_url(database).get_backend_name()
    if dialect == "sqlite":  # no function can write: past the check, then
        monkeypatch.setattr(crmmigrate.extract.sql, "_check_query", lambda *a, **k: None)
        statements = ["DELETE FROM victim", "DROP TABLE victim"]
    else:
        execute(database, WIPE[dialect])
        statements = ["SELECT wipe() AS done"]

    for statement in statements:
        with pytest.raises(BadQuery, match="(?i)the database rejected the query: .*read.?only"):
            open_source(Source(location=database, query=statement)).read()

    assert execute(database, "SELECT id FROM victim") == [(1,)]
    frame = open_source(Source(location=database, query="WITH v AS (SELECT id FROM victim) SELECT id FROM v")).read()
    assert frame["id"].tolist() == ["1"]


# --- 2. connect and statement timeouts, target included ----------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
@pytest.mark.parametrize("command", ["target init", "target check", "run", "extract"])
def test_a_server_that_never_answers_fails_within_the_connect_timeout(silent_server, scheme, command,
                                                                      tmp_path, monkeypatch):
    monkeypatch.setattr(crmmigrate.connections, "CONNECT_TIMEOUT_SECONDS", 1)
    url = f"{scheme}://crm:secret@127.0.0.1:{silent_server}/crm"
    config = project(tmp_path, url, ["A1,Acme,acme.com"])
    args = {"target init": ["target", "init", url], "target check": ["target", "check", url],
            "run": ["run", str(config)],
            "extract": ["extract", url, "--query", "SELECT 1", "-o", str(tmp_path / "x.csv")]}[command]
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(invoke(*args)), daemon=True)

    worker.start()
    worker.join(timeout=60)  # a bound far above the 1 s timeout, not a timing assertion

    assert not worker.is_alive(), f"{command} still waits on a server that never answers"
    (result,) = results
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "cannot connect" in text and ("timed out" in text or "timeout expired" in text)
    assert "secret" not in result.output


@pytest.mark.postgres
def test_postgres_sessions_have_a_statement_timeout(postgres_url):
    engine = crmmigrate.connections.create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "1h"
    engine.dispose()


@pytest.mark.mariadb
def test_mariadb_answers_may_take_a_statement_once_connected(mariadb_url, monkeypatch):
    monkeypatch.setattr(crmmigrate.connections, "CONNECT_TIMEOUT_SECONDS", 1)
    engine = crmmigrate.connections.create_engine(mariadb_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT SLEEP(2)").scalar() == 0  # longer than the connect timeout
    engine.dispose()


# --- 3. a target path that is not a database ---------------------------------------------------


@pytest.mark.parametrize("content", ["Id,Name\n1,Acme\n", "just some notes\n" * 100])
@pytest.mark.parametrize("command", ["target init", "target check", "run"])
def test_a_target_file_that_is_not_a_database_is_refused(tmp_path, content, command):
    path = tmp_path / "some.csv"
    path.write_text(content, encoding="utf-8")
    url = f"sqlite:///{path}"
    config = project(tmp_path, url, ["A1,Acme,acme.com"])
    args = {"target init": ["target", "init", url], "target check": ["target", "check", url],
            "run": ["run", str(config)]}[command]

    result = invoke(*args)

    assert result.exit_code == 2, result.output
    assert f"{url}: this file is not a SQLite database" in result.output
    assert path.read_text(encoding="utf-8") == content


# --- 4. tables named like the target's that are someone else's ---------------------------------


@pytest.mark.parametrize("command", ["target init", "run"])
def test_foreign_tables_named_like_the_targets_are_refused_and_nothing_is_created(database, command, tmp_path):
    execute(database, "CREATE TABLE account (id INTEGER PRIMARY KEY, name VARCHAR(50))",
            "CREATE TABLE id_map (k VARCHAR(50), v VARCHAR(50))")
    config = project(tmp_path, database, ["A1,Acme,acme.com"])

    result = invoke(*(["target", "init", database] if command == "target init" else ["run", str(config)]))

    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "tables named like the target schema's that are not crmmigrate's" in text
    assert "'account' has no column legacy_source" in text and "'id_map' has no column entity" in text
    assert tables(database) == {"account", "id_map"}
    assert invoke("target", "check", database).exit_code == 1


def test_a_target_crmmigrate_made_is_taken_again(database):
    assert invoke("target", "init", database).exit_code == 0
    again = invoke("target", "init", database)
    assert again.exit_code == 0 and "the schema was there already" in again.output


# --- 5. names longer than the target's columns -------------------------------------------------


def test_a_legacy_id_longer_than_the_target_holds_is_rejected_with_its_reason(database, tmp_path):
    long_id = "x" * 300
    config = project(tmp_path, database, [f"{long_id},Acme,acme.com", "A2,Beta,beta.org"])

    result = invoke("run", str(config))

    assert result.exit_code == 0, result.output
    assert id_map(database) == [("account", "accounts", "A2", "loaded"), ("account", "accounts", "row 2", "rejected")]
    (rejects,) = tmp_path.glob("runs/*/extracted/accounts.rejects.csv")
    reject = pd.read_csv(rejects, dtype=str).to_dict("records")
    assert [r["reason"] for r in reject] == [
        "id: legacy id 'xxxxxxxxxxxxxxxxxxxx'... is 300 characters long; the target keeps at most 255"]
    assert reject[0]["raw"] == long_id  # nothing typed into the old system is lost
    assert invoke("run", str(config)).exit_code == 0  # and a rerun agrees with id_map


def test_the_loader_rejects_a_legacy_id_too_long_on_its_own(tmp_path):
    """`crmmigrate load` has no run around it: the loader itself rejects the record."""
    project(tmp_path, "sqlite:///unused.db", ["y" * 256 + ",Acme,acme.com", "A2,Beta,beta.org"])
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    rejects = tmp_path / "rejects.csv"

    result = invoke("load", f"{tmp_path / 'accounts.yaml'}={tmp_path / 'accounts.csv'}", "--target", url,
                    "--rejects", str(rejects))

    assert result.exit_code == 0, result.output
    assert id_map(url) == [("account", "accounts", "A2", "loaded"), ("account", "accounts", "row 2", "rejected")]
    assert "is 256 characters long; the target keeps at most 255" in rejects.read_text(encoding="utf-8")


def test_a_source_name_longer_than_the_target_holds_is_refused_before_anything_is_loaded(database, tmp_path):
    config = project(tmp_path, database, ["A1,Acme,acme.com"], name="s" * 200)

    result = invoke("run", str(config))

    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "is 200 characters long; the target keeps at most 120" in text
    assert f"{config}, line" in text
    assert "account" not in tables(database)


# --- 6. a full disk ----------------------------------------------------------------------------


@pytest.mark.parametrize("bulk_rows", [0, 100], ids=["batches", "bulk"])
def test_a_full_sqlite_target_says_so_without_the_sql(tmp_path, bulk_rows):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    accounts = [f"A{i},Company {i:04d} {'qwertyuiop' * 6},c{i}.example.com" for i in range(3000)]
    config = project(tmp_path, url, accounts, extra=f"bulk_rows: {bulk_rows}\nbatch_rows: 500\n")
    assert invoke("target", "init", url).exit_code == 0
    pages = sqlite3.connect(tmp_path / "crm.db").execute("PRAGMA page_count").fetchone()[0]

    def tiny(dbapi_connection, _record) -> None:  # the target may grow by a few pages only
        if isinstance(dbapi_connection, sqlite3.Connection):
            if dbapi_connection.execute("PRAGMA database_list").fetchone()[2] == str(tmp_path / "crm.db"):
                dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 60}")

    sa.event.listen(Pool, "connect", tiny)
    try:
        result = invoke("run", str(config))
    finally:
        sa.event.remove(Pool, "connect", tiny)

    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"{url}: the target database is full: database or disk is full." in text
    assert "INSERT" not in text and "Company 0001" not in text and "bug" not in text


# --- 7. one or two accounts or contacts --------------------------------------------------------

SMALL = {
    "no account": ([], None),
    "1 account": (["A1,Acme Corp,acme.com"], None),
    "2 accounts apart": (["A1,Acme Corp,acme.com", "A2,Zeta Holdings,zeta.org"], None),
    "2 accounts alike": (["A1,Acme Corp,acme.com", "A2,Acme Corp,acme.com"], None),
    "1 contact": (["A1,Acme Corp,acme.com"], ["C1,A1,Ann,Lee,ann@acme.com"]),
    "2 contacts apart": (["A1,Acme Corp,acme.com"], ["C1,A1,Ann,Lee,ann@acme.com", "C2,A1,Bob,Kim,bob@acme.com"]),
    "2 contacts alike": (["A1,Acme Corp,acme.com"], ["C1,A1,Ann,Lee,ann@acme.com", "C2,A1,Ann,Lee,ann@acme.com"]),
}


@pytest.mark.parametrize("case", list(SMALL))
def test_runs_and_dedupe_over_one_or_two_records_succeed(case, tmp_path):
    accounts, contacts = SMALL[case]
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    config = project(tmp_path, url, accounts, contacts)
    datasets = [f"{tmp_path / 'accounts.yaml'}={tmp_path / 'accounts.csv'}"]
    if contacts is not None:
        datasets.append(f"{tmp_path / 'contacts.yaml'}={tmp_path / 'contacts.csv'}")

    run = invoke("run", str(config))
    found = invoke("dedupe", "find", *datasets, "-o", str(tmp_path / "dedupe"))

    assert run.exit_code == 0, run.output
    assert found.exit_code == 0, found.output
    records = len(accounts) + len(contacts or [])
    entries = id_map(url)
    assert len(entries) == records  # every record accounted for, once
    assert {status for *_, status in entries} <= {"loaded", "merged"}
