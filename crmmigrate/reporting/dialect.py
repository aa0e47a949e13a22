"""The little SQL the report needs that SQLite, PostgreSQL and MariaDB write differently, in
one place (as splink keeps one dialect class per database), so the queries in the sections
are written once.

Everything else a report asks is portable SQLAlchemy Core: GROUP BY, CASE, window functions
(SQLite 3.25+, PostgreSQL, MariaDB 10.2+), recursive CTEs, EXTRACT (SQLAlchemy compiles it to
strftime on SQLite). Ages are judged against cutoff dates computed in Python and bound as
parameters, so no date arithmetic against "today" is needed in SQL at all.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

# The report's engines are read-only (crmmigrate.connections owns how); bench_report imports it here.
from crmmigrate.connections import read_only

__all__ = ["day", "days_between", "exact", "read_only", "week_start"]


class days_between(FunctionElement):  # noqa: N801 - reads as the SQL function it stands for
    """`end - start` in days (fractional) for two date or datetime columns."""

    type = sa.Float()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)  # str(statement), in logs and debugging: SQLite's form
@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(julianday({end}) - julianday({start}))"


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(EXTRACT(EPOCH FROM (CAST({end} AS TIMESTAMP) - CAST({start} AS TIMESTAMP))) / 86400.0)"


@compiles(days_between, "mysql")
@compiles(days_between, "mariadb")
def _days_mysql(element: days_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(TIMESTAMPDIFF(SECOND, {start}, {end}) / 86400.0)"


class week_start(FunctionElement):  # noqa: N801
    """The Monday of the ISO week a date or datetime falls in, as a date."""

    type = sa.Date()
    inherit_cache = True
    name = "week_start"


@compiles(week_start)
@compiles(week_start, "sqlite")
def _week_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(arg, **kw) for arg in element.clauses)
    # 'weekday 1' moves forward to the next Monday, or stays on one: from six days back it
    # lands on the Monday of the date's own week.
    return f"date({value}, '-6 days', 'weekday 1')"


@compiles(week_start, "postgresql")
def _week_postgresql(element: week_start, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(date_trunc('week', CAST({value} AS TIMESTAMP)) AS DATE)"


@compiles(week_start, "mysql")
@compiles(week_start, "mariadb")
def _week_mysql(element: week_start, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"DATE_SUB(DATE({value}), INTERVAL WEEKDAY({value}) DAY)"


class exact(FunctionElement):  # noqa: N801
    """A text column compared and grouped byte for byte. MariaDB's default collation takes
    'Closed Won', 'closed won' and 'Closed Won ' for one value, and even its binary collation
    ignores trailing spaces; that is the noise a picklist report must tell apart, and the
    same data must give the same groups on every database. SQLite and PostgreSQL compare
    bytes (or by a deterministic collation) already."""

    inherit_cache = True
    name = "exact"

    def __init__(self, column: sa.ColumnElement, dialect: sa.Dialect | None = None) -> None:
        # `dialect` is not needed (each database compiles its own form); taken so callers
        # written when it was are unchanged.
        super().__init__(column)
        self.type = column.type


@compiles(exact)
def _exact(element: exact, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(arg, **kw) for arg in element.clauses)
    return value


@compiles(exact, "mysql")
@compiles(exact, "mariadb")
def _exact_mysql(element: exact, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(arg, **kw) for arg in element.clauses)
    # Converted first: a table of a latin1 database has no utf8mb4 collation of its own.
    collation = "utf8mb4_nopad_bin" if getattr(compiler.dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
    return f"(CONVERT({value} USING utf8mb4) COLLATE {collation})"


def day(column: sa.ColumnElement) -> sa.ColumnElement:
    """The date of a datetime column (DATE() on SQLite and MariaDB; date() is a cast on
    PostgreSQL), so a date is compared with a date, not with a timestamp of that day."""
    return sa.func.date(column)


