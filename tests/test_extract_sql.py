"""The SQL reader against a real SQLite file, PostgreSQL and MariaDB: exact values, primary-key
provenance, queries, chunking, server-side cursors, errors, and passwords kept out of sight."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from crmmigrate.errors import (
    BadQuery,
    BadSourceURL,
    BadUsage,
    CrmMigrateError,
    SourceUnreachable,
    UnknownTable,
)
from crmmigrate.extract import Source, open_source
from crmmigrate.extract.sql import SqlExtraction
from crmmigrate.model import FILE_COLUMN, PROVENANCE, ROW_COLUMN, SOURCE_COLUMN

PASSWORD = "Tr0ub4dor&3"
NAMES = ["Ромашка ООО", "北京科技有限公司", "Café Müller – São Paulo", "Ærø ApS"]


class Scratch:
    """Uniquely named tables on one database, dropped when the test ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.dialect = self.engine.dialect.name
        self._drops: list[str] = []
        with self.engine.connect():
            pass  # creates a SQLite file, so even a test that makes no table has a database

    def table(self, columns: str, rows: list[tuple[Any, ...]], *, schema: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        qualified = f"{schema}.{name}" if schema else name
        options = " DEFAULT CHARSET=utf8mb4" if self.dialect == "mysql" else ""
        self.execute(f"CREATE TABLE {qualified} ({columns}){options}")
        self._drops.append(f"DROP TABLE {qualified}")
        if rows:
            binds = ", ".join(f":c{i}" for i in range(len(rows[0])))
            self.execute(
                f"INSERT INTO {qualified} VALUES ({binds})",
                [{f"c{i}": v for i, v in enumerate(row)} for row in rows],
            )
        return qualified

    def schema(self) -> str:
        name = f"s_{uuid.uuid4().hex[:10]}"
        self.execute(f"CREATE SCHEMA {name}")
        self._drops.append(f"DROP SCHEMA {name} CASCADE")
        return name

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []

    def drop_all(self) -> None:
        for statement in reversed(self._drops):
            self.execute(statement)
        self.engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Any:
    scratch = Scratch(f"sqlite:///{tmp_path / 'legacy.db'}")
    yield scratch
    scratch.drop_all()


@pytest.fixture
def pg(postgres_url: str) -> Any:
    scratch = Scratch(postgres_url)
    yield scratch
    scratch.drop_all()


@pytest.fixture
def maria(mariadb_url: str) -> Any:
    scratch = Scratch(mariadb_url)
    yield scratch
    scratch.drop_all()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db(request: pytest.FixtureRequest) -> Scratch:
    """The same behaviour checked on every database the reader is tested against."""
    fixture = {"sqlite": "sqlite_db", "postgres": "pg", "mariadb": "maria"}[request.param]
    return request.getfixturevalue(fixture)


def read(url: str, **options: Any) -> tuple[pd.DataFrame, SqlExtraction]:
    extraction = open_source(Source(location=url, **options))
    assert isinstance(extraction, SqlExtraction)
    return extraction.read(), extraction


def records(frame: pd.DataFrame) -> list[dict[str, str | None]]:
    """The source columns of every row, with pandas' missing marker as None."""
    data = frame.drop(columns=list(PROVENANCE)).astype(object)
    return data.where(data.notna(), None).to_dict("records")


def error_text(exc: pytest.ExceptionInfo[CrmMigrateError]) -> str:
    return str(exc.value)


# --- values and provenance, on every database ---------------------------------------------


def test_table_rows_are_strings_labelled_by_primary_key_in_key_order(db: Scratch) -> None:
    table = db.table(
        "id INTEGER PRIMARY KEY, name VARCHAR(100), city VARCHAR(100), note VARCHAR(100)",
        [
            (30, NAMES[2], "São Paulo", None),
            (7, NAMES[0], "Москва", "VIP"),
            (12, NAMES[1], "北京", ""),
        ],
    )
    frame, extraction = read(db.url, table=table)

    assert records(frame) == [
        {"id": "7", "name": NAMES[0], "city": "Москва", "note": "VIP"},
        {"id": "12", "name": NAMES[1], "city": "北京", "note": None},
        {"id": "30", "name": NAMES[2], "city": "São Paulo", "note": None},
    ]
    assert frame[ROW_COLUMN].tolist() == ["7", "12", "30"]
    assert frame[SOURCE_COLUMN].tolist() == [table] * 3
    assert set(frame[FILE_COLUMN]) == {f"{db.url}#{table}"}
    assert extraction.report.format == "sql"
    assert extraction.report.rows == 3
    assert extraction.report.columns == ["id", "name", "city", "note"]
    assert "rows are labelled by the primary key 'id' and read in its order." in (
        extraction.report.notes
    )


def test_composite_primary_key_labels_join_the_key_values(db: Scratch) -> None:
    table = db.table(
        "opportunity_id VARCHAR(20), contact_id INTEGER, role VARCHAR(40), "
        "PRIMARY KEY (opportunity_id, contact_id)",
        [("OPP-2", 5, "Buyer"), ("OPP-1", 9, "Champion"), ("OPP-1", 7, "Economic buyer")],
    )
    frame, extraction = read(db.url, table=table)

    assert frame[ROW_COLUMN].tolist() == ["OPP-1|7", "OPP-1|9", "OPP-2|5"]
    assert records(frame)[0] == {
        "opportunity_id": "OPP-1",
        "contact_id": "7",
        "role": "Economic buyer",
    }
    assert any(
        "(opportunity_id, contact_id), values joined with '|'" in n for n in extraction.report.notes
    )


def test_table_without_primary_key_is_labelled_by_position(db: Scratch) -> None:
    table = db.table(
        "phone VARCHAR(30), called_at VARCHAR(30)", [("+7 495 123", "x"), ("555", None)]
    )
    frame, extraction = read(db.url, table=table, name="call_log")

    assert records(frame) == [
        {"phone": "+7 495 123", "called_at": "x"},
        {"phone": "555", "called_at": None},
    ]
    assert frame[ROW_COLUMN].tolist() == ["1", "2"]
    assert frame[SOURCE_COLUMN].tolist() == ["call_log", "call_log"]
    assert any("has no primary key" in n for n in extraction.report.notes)


def test_query_is_sent_as_written_and_labelled_by_position(db: Scratch) -> None:
    table = db.table(
        "id INTEGER PRIMARY KEY, name VARCHAR(100)",
        [(1, NAMES[0]), (2, "10:30 call"), (3, "50% off")],
    )
    # A ':word' or '%' in a literal must reach the database untouched, and a trailing ';'
    # pasted from a SQL client must not break the cursor.
    query = (
        f"SELECT id, name, 'at :noon' AS remark FROM {table} WHERE name LIKE '%0%' ORDER BY id;\n"
    )
    frame, extraction = read(db.url, query=query)

    assert records(frame) == [
        {"id": "2", "name": "10:30 call", "remark": "at :noon"},
        {"id": "3", "name": "50% off", "remark": "at :noon"},
    ]
    assert frame[ROW_COLUMN].tolist() == ["1", "2"]
    assert set(frame[SOURCE_COLUMN]) == {"query"}
    assert set(frame[FILE_COLUMN]) == {f"{db.url}#query"}
    assert any("position (from 1) in the query's result" in n for n in extraction.report.notes)


def test_chunks_of_3_rows_over_10_rows_give_the_same_frame(db: Scratch) -> None:
    table = db.table(
        "id INTEGER PRIMARY KEY, name VARCHAR(100)",
        [(i, f"{NAMES[i % 4]} {i}") for i in range(10, 0, -1)],
    )
    whole, _ = read(db.url, table=table)
    chunks = list(open_source(Source(location=db.url, table=table, chunk_rows=3)).chunks())

    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole[ROW_COLUMN].tolist() == [str(i) for i in range(1, 11)]


def test_empty_table_gives_its_columns_and_no_rows(db: Scratch) -> None:
    table = db.table("id INTEGER PRIMARY KEY, name VARCHAR(100)", [])
    frame, extraction = read(db.url, table=table)

    assert list(frame.columns) == ["id", "name", *PROVENANCE]
    assert len(frame) == 0 and extraction.report.rows == 0


def test_unknown_table_suggests_the_close_name(db: Scratch) -> None:
    table = db.table("id INTEGER PRIMARY KEY", [])
    with pytest.raises(UnknownTable) as exc:
        read(db.url, table=table[:-1])
    assert error_text(exc) == (
        f"{db.url}: the database has no table {table[:-1]!r}. Did you mean {table!r}?"
    )


def test_query_the_database_rejects_gives_its_message(db: Scratch) -> None:
    with pytest.raises(BadQuery) as exc:
        read(db.url, query="SELECT name FROM WHERE accounts")
    text = error_text(exc)
    assert text.startswith(f"{db.url}#query: the database rejected the query: ")
    assert "syntax" in text.lower()
    assert "\n" not in text and "Traceback" not in text


def test_query_that_returns_no_rows_is_refused_and_changes_nothing(db: Scratch) -> None:
    table = db.table("id INTEGER PRIMARY KEY", [(1,), (2,)])
    with pytest.raises(BadQuery):
        read(db.url, query=f"DELETE FROM {table}")
    assert db.execute(f"SELECT count(*) FROM {table}") == [(2,)]


# --- typed values, per database -----------------------------------------------------------


def test_sqlite_typed_columns_become_exact_strings(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, revenue REAL, "
            "amount NUMERIC, founded DATE, logo BLOB)"
        )
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?)",
            [
                (9007199254740993, NAMES[3], None, None, None, None),
                (1, NAMES[0], 1234.5, 1000, "2019-03-01", b"\x89PNG"),
                (2, NAMES[1], 0.1, "12.75", "2024-02-29", None),
                (3, NAMES[2], 1e16, 7, None, b""),
            ],
        )
    conn.close()
    frame, _ = read(f"sqlite:///{path}", table="accounts")

    assert records(frame) == [
        {
            "id": "1",
            "name": NAMES[0],
            "revenue": "1234.5",
            "amount": "1000",
            "founded": "2019-03-01",
            "logo": "89504e47",
        },
        {
            "id": "2",
            "name": NAMES[1],
            "revenue": "0.1",
            "amount": "12.75",
            "founded": "2024-02-29",
            "logo": None,
        },
        {
            "id": "3",
            "name": NAMES[2],
            "revenue": "1e+16",
            "amount": "7",
            "founded": None,
            "logo": None,
        },
        {
            "id": "9007199254740993",
            "name": NAMES[3],
            "revenue": None,
            "amount": None,
            "founded": None,
            "logo": None,
        },
    ]
    assert frame[ROW_COLUMN].tolist() == ["1", "2", "3", "9007199254740993"]


@pytest.mark.postgres
def test_postgres_typed_columns_become_exact_strings(pg: Scratch) -> None:
    table = pg.table(
        "id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12,2), ratio DOUBLE PRECISION, "
        "closed DATE, created TIMESTAMP, due TIME, active BOOLEAN, blob BYTEA, extra JSONB, "
        "tags TEXT[], ref UUID",
        [
            (
                1,
                NAMES[0],
                Decimal("1234.50"),
                0.1,
                dt.date(2024, 2, 29),
                dt.datetime(2024, 1, 2, 3, 4, 5, 600000),
                dt.time(8, 5),
                True,
                b"\x00\xff",
                '{"industry": "Лес", "size": 12}',
                ["vip", "日本"],
                uuid.UUID("12345678-1234-5678-1234-567812345678"),
            ),
            (
                2,
                NAMES[1],
                Decimal("100.00"),
                None,
                None,
                dt.datetime(2024, 1, 2),
                None,
                False,
                None,
                None,
                None,
                None,
            ),
        ],
    )
    frame, _ = read(pg.url, table=table)

    assert records(frame) == [
        {
            "id": "1",
            "name": NAMES[0],
            "amount": "1234.50",
            "ratio": "0.1",
            "closed": "2024-02-29",
            "created": "2024-01-02T03:04:05.600000",
            "due": "08:05:00",
            "active": "true",
            "blob": "00ff",
            "extra": '{"size": 12, "industry": "Лес"}',
            "tags": '["vip", "日本"]',
            "ref": "12345678-1234-5678-1234-567812345678",
        },
        {
            "id": "2",
            "name": NAMES[1],
            "amount": "100",
            "ratio": None,
            "closed": None,
            "created": "2024-01-02",
            "due": None,
            "active": "false",
            "blob": None,
            "extra": None,
            "tags": None,
            "ref": None,
        },
    ]


@pytest.mark.mariadb
def test_mariadb_typed_columns_become_exact_strings(maria: Scratch) -> None:
    table = maria.table(
        "id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,2), "
        "ratio DOUBLE, closed DATE, created DATETIME(3), talk TIME, active TINYINT(1), "
        "blob_ BLOB, extra JSON",
        [
            (
                18446744073709551615,
                NAMES[0],
                Decimal("1234.50"),
                0.1,
                dt.date(2024, 2, 29),
                dt.datetime(2024, 1, 2, 3, 4, 5, 600000),
                dt.timedelta(hours=26, minutes=5),
                1,
                b"\x00\xff",
                '{"industry": "Лес"}',
            ),
            (
                2,
                NAMES[1],
                Decimal("100.00"),
                None,
                None,
                dt.datetime(2024, 1, 2),
                None,
                0,
                None,
                None,
            ),
        ],
    )
    frame, _ = read(maria.url, table=table)

    assert records(frame) == [
        {
            "id": "2",
            "name": NAMES[1],
            "amount": "100",
            "ratio": None,
            "closed": None,
            "created": "2024-01-02",
            "talk": None,
            "active": "0",
            "blob_": None,
            "extra": None,
        },
        {
            "id": "18446744073709551615",
            "name": NAMES[0],
            "amount": "1234.50",
            "ratio": "0.1",
            "closed": "2024-02-29",
            "created": "2024-01-02T03:04:05.600000",
            "talk": "26:05:00",
            "active": "1",
            "blob_": "00ff",
            "extra": '{"industry": "Лес"}',
        },
    ]


# --- PostgreSQL and MariaDB specifics ----------------------------------------------------


@pytest.mark.postgres
def test_postgres_schema_qualified_table(pg: Scratch) -> None:
    schema = pg.schema()
    table = pg.table("id INTEGER PRIMARY KEY, name TEXT", [(1, NAMES[2])], schema=schema)
    frame, extraction = read(pg.url, table=table)

    assert records(frame) == [{"id": "1", "name": NAMES[2]}]
    assert frame[SOURCE_COLUMN].tolist() == [table]
    assert extraction.report.file == f"{pg.url}#{table}"


@pytest.mark.postgres
def test_postgres_unknown_schema_suggests_the_close_name(pg: Scratch) -> None:
    schema = pg.schema()
    with pytest.raises(UnknownTable) as exc:
        read(pg.url, table=f"{schema[:-1]}.accounts")
    assert f"no schema {schema[:-1]!r}" in error_text(exc)
    assert error_text(exc).endswith(f"Did you mean {schema!r}?")


@pytest.mark.postgres
def test_postgres_reads_with_a_server_side_cursor(postgres_url: str) -> None:
    app = f"crm_{uuid.uuid4().hex[:10]}"
    query = "SELECT n FROM generate_series(1, 1000000) AS n"
    extraction = open_source(
        Source(location=f"{postgres_url}?application_name={app}", query=query, chunk_rows=1000)
    )
    chunks = extraction.chunks()
    assert len(next(chunks)) == 1000
    # With a server-side cursor the rest of the million rows wait on the server.
    observer = sa.create_engine(postgres_url, poolclass=NullPool)
    with observer.connect() as conn:
        running = conn.execute(
            sa.text("SELECT query FROM pg_stat_activity WHERE application_name = :app"),
            {"app": app},
        ).scalar_one()
    chunks.close()
    assert running.startswith("FETCH FORWARD")
    assert "read 1000 rows at a time with a server-side cursor." in extraction.report.notes


@pytest.mark.mariadb
def test_mariadb_reads_with_a_server_side_cursor(mariadb_url: str) -> None:
    tag = f"crm_{uuid.uuid4().hex[:10]}"
    query = f"SELECT seq /* {tag} */ FROM seq_1_to_1000000"
    extraction = open_source(Source(location=mariadb_url, query=query, chunk_rows=1000))
    chunks = extraction.chunks()
    assert len(next(chunks)) == 1000
    # Still sending: the server streams rows as they are fetched instead of all at once.
    observer = sa.create_engine(mariadb_url, poolclass=NullPool)
    with observer.connect() as conn:
        running = conn.execute(
            sa.text(
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE info = :query AND command = 'Query'"
            ),
            {"query": query},
        ).scalar_one()
    chunks.close()
    assert running == 1


@pytest.mark.postgres
def test_postgres_connection_is_closed_after_reading_failing_or_stopping(pg: Scratch) -> None:
    table = pg.table("id INTEGER PRIMARY KEY", [(i,) for i in range(1, 11)])
    app = f"crm_{uuid.uuid4().hex[:10]}"
    url = f"{pg.url}?application_name={app}"

    read(url, table=table)
    with pytest.raises(BadQuery):
        read(url, query="SELECT 1/0")
    stopped = open_source(Source(location=url, table=table, chunk_rows=3)).chunks()
    next(stopped)
    stopped.close()

    # The client has closed its connections; the server ends their backends a moment later, and
    # under load that moment can be long: wait for it, within a bound.
    deadline = time.monotonic() + 30
    while (open_connections := pg.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'")) != [(0,)] \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_connections == [(0,)]


@pytest.mark.postgres
def test_postgres_unknown_database_is_unreachable(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(SourceUnreachable) as exc:
        read(url, table="accounts")
    assert error_text(exc).startswith(f"{url}: cannot connect to the database: ")
    assert 'database "no_such_db" does not exist' in error_text(exc)


@pytest.mark.mariadb
def test_mariadb_rejected_password_is_unreachable_and_masked(mariadb_url: str) -> None:
    url = mariadb_url.replace("root@", f"root:{PASSWORD}@")
    with pytest.raises(SourceUnreachable) as exc:
        read(url, table="accounts")
    masked = mariadb_url.replace("root@", "root:***@")
    assert error_text(exc).startswith(f"{masked}: cannot connect to the database: Access denied")
    assert PASSWORD not in error_text(exc)


# --- errors that need no server ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://crm:{PASSWORD}@127.0.0.1:1/legacy",
        f"mysql+pymysql://crm:{PASSWORD}@127.0.0.1:1/legacy",
    ],
)
def test_server_not_listening_is_unreachable_quickly_and_masked(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnreachable) as exc:
        read(url, table="accounts")
    assert time.monotonic() - started < 5
    text = error_text(exc)
    assert text.startswith(url.replace(PASSWORD, "***") + ": cannot connect to the database: ")
    assert "refused" in text
    assert PASSWORD not in text


def test_password_is_masked_in_the_report() -> None:
    extraction = open_source(
        Source(
            location=f"postgresql+psycopg://crm:{PASSWORD}@db.example.com/legacy"
            f"?sslmode=require&sslpassword={PASSWORD}",
            table="sales.accounts",
        )
    )
    assert extraction.report.file == (
        "postgresql+psycopg://crm:***@db.example.com/legacy?sslmode=require&sslpassword=***"
        "#sales.accounts"
    )
    assert extraction.name == "sales.accounts"
    assert PASSWORD not in repr(extraction.report.as_dict())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"postgresql+psycopg://crm:{PASSWORD}@db:port/legacy",
            "postgresql+psycopg://crm:***@db:port/legacy: this is not a SQLAlchemy URL.",
        ),
        (
            f"nosuchdb://crm:{PASSWORD}@db/legacy",
            "nosuchdb://crm:***@db/legacy: SQLAlchemy has no database dialect 'nosuchdb'.",
        ),
        (
            f"mysql://crm:{PASSWORD}@db/legacy",
            "mysql://crm:***@db/legacy: the database driver for 'mysql+mysqldb' is not installed "
            "(no module 'MySQLdb'). Write the URL as mysql+pymysql://... to use the driver "
            "crmmigrate installs.",
        ),
    ],
)
def test_bad_url_says_what_to_write(url: str, expected: str) -> None:
    with pytest.raises(BadSourceURL) as exc:
        open_source(Source(location=url, table="accounts"))
    assert error_text(exc).startswith(expected)
    assert PASSWORD not in error_text(exc)


def test_missing_sqlite_file_is_unreachable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(SourceUnreachable) as exc:
        read(f"sqlite:///{path}", table="accounts")
    assert error_text(exc).startswith(f"sqlite:///{path}: no such SQLite database file.")
    assert not path.exists()


def test_file_that_is_not_a_database_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    path.write_text("id,name\n1,Acme\n", encoding="utf-8")
    with pytest.raises(SourceUnreachable) as exc:
        read(f"sqlite:///{path}", table="accounts")
    assert "file is not a database" in error_text(exc)


@pytest.mark.parametrize("options", [{}, {"table": "accounts", "query": "SELECT 1"}])
def test_table_or_query_exactly_one(options: dict[str, str]) -> None:
    with pytest.raises(BadUsage, match="give exactly one of --table, --query"):
        open_source(Source(location="sqlite:///crm.db", **options))


def test_result_column_named_like_provenance_is_refused(sqlite_db: Scratch) -> None:
    with pytest.raises(BadQuery) as exc:
        read(sqlite_db.url, query="SELECT 1 AS id, 'x' AS _row")
    assert "column named '_row', which crmmigrate reserves for provenance" in error_text(exc)


def test_repeated_result_columns_are_numbered(sqlite_db: Scratch) -> None:
    frame, extraction = read(sqlite_db.url, query="SELECT 1 AS id, 2 AS id")
    assert records(frame) == [{"id": "1", "id_2": "2"}]
    assert "header 'id' appears more than once; column 2 is 'id_2'" in extraction.report.notes
