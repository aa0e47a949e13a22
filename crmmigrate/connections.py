"""What every database connection crmmigrate opens shares, source or target: timeouts; sessions
the database itself keeps read-only (a source's, the report's); and for a target, the errors
about the database itself (full, not a database) said plainly.

A server that accepts the connection and then never answers (a firewall that drops packets, a
hung proxy) would otherwise hold a command forever: psycopg and PyMySQL wait without limit by
default. The connection must be made within CONNECT_TIMEOUT_SECONDS, and one statement may run
for STATEMENT_TIMEOUT_SECONDS (a bulk load's index build over millions of rows takes a minute
or two: an hour is a server that stopped answering). A URL that sets its own
`connect_timeout`, `options`, `read_timeout` or `write_timeout` keeps it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from crmmigrate.errors import CrmMigrateError, NotADatabase, TargetFull

CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_SECONDS = 3600


def create_engine(url: str | URL, **options: Any) -> sa.Engine:
    """SQLAlchemy's engine for `url`, with the timeouts bound on its connections."""
    url = sa.make_url(url)
    arguments = _timeout_arguments(url)
    engine = sa.create_engine(url, connect_args={**arguments, **options.pop("connect_args", {})}, **options)
    if arguments.get("read_timeout") == CONNECT_TIMEOUT_SECONDS:
        sa.event.listen(engine, "connect", _statement_reads)
    return engine


def _timeout_arguments(url: URL) -> dict[str, Any]:
    """The driver's connect arguments that bound the connection and each statement."""
    backend = url.get_backend_name()
    given = set(url.query)
    arguments: dict[str, Any] = {}
    if backend == "postgresql":
        arguments["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        # Server side: the statement is cancelled and the transaction rolled back.
        arguments["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}"
    elif backend in ("mysql", "mariadb"):
        arguments["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        # PyMySQL reads the server's greeting with its read timeout: the connect timeout until
        # connected (`_statement_reads` lengthens it then); mysqlclient's connect timeout
        # covers the greeting.
        pymysql = url.get_driver_name() == "pymysql"
        arguments["read_timeout"] = CONNECT_TIMEOUT_SECONDS if pymysql else STATEMENT_TIMEOUT_SECONDS
        arguments["write_timeout"] = STATEMENT_TIMEOUT_SECONDS
    return {key: value for key, value in arguments.items() if key not in given}


def _statement_reads(dbapi_connection: Any, _record: Any) -> None:
    """A PyMySQL connection made: from now on one answer may take a statement's time (PyMySQL
    reads the attribute before every read; it has no public setter)."""
    if hasattr(dbapi_connection, "_read_timeout"):
        dbapi_connection._read_timeout = STATEMENT_TIMEOUT_SECONDS


# What makes a session read-only in the database itself: it refuses to write, whatever the query.
_READ_ONLY_SESSION = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}


def read_only(engine: sa.Engine) -> sa.Engine:
    """Every connection of `engine` made read-only by the database itself: what only reads (a
    source, the report) cannot write, and the database, not only this code, guarantees it."""
    statement = _READ_ONLY_SESSION.get(engine.dialect.name)
    if statement is not None:
        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()
            # PostgreSQL's SET is transactional: the driver opened a transaction for it, and
            # the rollback that ends SQLAlchemy's first look at the connection would undo it.
            dbapi_connection.commit()

        engine.dispose()  # a connection made before the listener (a connect check) is not kept
    return engine


# What a database says when its disk (or its configured size) is full: SQLite's SQLITE_FULL,
# PostgreSQL's SQLSTATE 53100, MySQL's and MariaDB's "disk full" and "table is full".
_SQLITE_FULL = ("SQLITE_FULL",)
_SQLITE_NOT_A_DATABASE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_MYSQL_FULL = (1021, 1114)


def _full(error: BaseException) -> bool:
    if getattr(error, "sqlite_errorname", None) in _SQLITE_FULL:
        return True
    if getattr(error, "sqlstate", None) == "53100":
        return True
    args = getattr(error, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in _MYSQL_FULL


def guard_target(engine: sa.Engine, shown: str) -> None:
    """Turn what a target database says about itself, rather than about a row, into an error the
    CLI reports without the SQL and its parameters: a full disk, a file that is no database.
    `shown` is the target's URL as it may be shown (no password). On SQLite the file is read
    at once, so a CSV or text file given as the target is refused before anything is done."""

    @sa.event.listens_for(engine, "handle_error")
    def _translate(context: sa.engine.ExceptionContext) -> CrmMigrateError | None:
        error = context.original_exception
        if _full(error):
            return TargetFull(
                f"the target database is full: {_first_line(error)}.", file=shown,
                hint="Free disk space (or raise the database's size limit) and run again: rows "
                "committed so far stay loaded and a rerun goes on from them.")
        if getattr(error, "sqlite_errorname", None) in _SQLITE_NOT_A_DATABASE:
            return NotADatabase(
                f"this file is not a SQLite database ({_first_line(error)}).", file=shown,
                hint="Give the path of a SQLite database, or of a file that does not exist yet "
                "(it is created), e.g. sqlite:///crm.db.")
        return None

    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA schema_version")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(error).__name__
