"""What every section's queries share: the connection, the target's tables, the rules, the
day ages are counted to, and the few ways a result becomes a Table, a Finding or a metric.

Every query aggregates in the database: a table is GROUP BY rows (as many as there are groups,
never records), a finding is a COUNT plus at most `rules.examples` records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crmmigrate.reporting import dialect
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.model import Chart, Finding, Section, Severity, Table
from crmmigrate.reporting.rules import ReportRules
from crmmigrate.validate.rules import ValidationRules


def plain(value: Any) -> Any:
    """A database value as JSON holds it: a number, text, an ISO date, or None. Fractions are
    rounded to 4 places, so every database's arithmetic gives the same figures."""
    if isinstance(value, Decimal | float):
        return round(float(value), 4)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def norm(column: sa.ColumnElement) -> sa.ColumnElement:
    """A picklist value as the rules' lists are compared with it: lower case, outer spaces
    trimmed ("closed won " is closed, whatever its spelling says of the data's tidiness)."""
    return sa.func.lower(sa.func.trim(column))


def lowered(values: Sequence[str]) -> list[str]:
    return [v.strip().lower() for v in values]


def count_if(condition: sa.ColumnElement) -> sa.ColumnElement:
    """How many rows of a group meet `condition`: an integer on every database (MariaDB's SUM
    of integers is a decimal)."""
    return sa.func.count(sa.case((condition, 1)))


def share(count: float, of: float) -> float | None:
    return count / of if of else None


_COUNTED = "_crmmigrate_found"  # the column `counted_examples` counts in


@dataclass
class Context:
    connection: sa.Connection
    tables: dict[str, sa.Table]
    rules: ReportRules
    as_of: dt.date
    validation: ValidationRules  # the picklist choices: which of a field's variants is meant

    @property
    def dialect(self) -> sa.Dialect:
        return self.connection.dialect

    def days_ago(self, days: int) -> dt.datetime:
        """The start of the day `days` days before the as-of day: ages are judged against
        cutoffs like this one, bound as parameters, with no date arithmetic in SQL."""
        return dt.datetime.combine(self.as_of - dt.timedelta(days=days), dt.time())

    def exact(self, column: sa.ColumnElement) -> sa.ColumnElement:
        """A text column grouped byte for byte on every database (see dialect.exact)."""
        return dialect.exact(column)

    def t(self, name: str) -> sa.Table:
        return self.tables[name]

    def rows(self, statement: sa.Executable) -> list[list[Any]]:
        return [[plain(v) for v in row] for row in self.connection.execute(statement)]

    def scalar(self, statement: sa.Executable) -> Any:
        return plain(self.connection.execute(statement).scalar())

    def count(self, table: sa.Table, *where: sa.ColumnElement) -> int:
        statement = sa.select(sa.func.count()).select_from(table)
        if where:
            statement = statement.where(*where)
        return int(self.scalar(statement) or 0)

    def counts(self, table: sa.Table, *conditions: sa.ColumnElement) -> list[int]:
        """How many rows of `table` meet each condition, in one pass over it (a condition
        counted by a query of its own is a scan of its own)."""
        row = self.connection.execute(sa.select(*[count_if(c) for c in conditions]).select_from(table)).one()
        return [int(plain(v) or 0) for v in row]

    def examples(self, statement: sa.Select) -> list[dict[str, Any]]:
        """At most `rules.examples` records of a SELECT whose columns are labelled (the
        record's legacy_source and legacy_id first, by convention)."""
        if self.rules.examples == 0:
            return []
        result = self.connection.execute(statement.limit(self.rules.examples))
        return [{key: plain(value) for key, value in row._mapping.items()} for row in result]

    def counted_examples(self, statement: sa.Select) -> tuple[int, list[dict[str, Any]]]:
        """How many records a SELECT (as `examples` takes it) finds, and at most
        `rules.examples` of them, in one query: where finding them is the work (a subquery
        built over a whole table), it is done once rather than once for each."""
        counted = statement.add_columns(sa.func.count().over().label(_COUNTED))
        rows = self.connection.execute(counted.limit(max(self.rules.examples, 1))).all()
        found = int(plain(rows[0]._mapping[_COUNTED])) if rows else 0
        return found, [{key: plain(value) for key, value in row._mapping.items() if key != _COUNTED}
                       for row in rows[:self.rules.examples]]

    def table(self, key: str, title: str, statement: sa.Select | None = None, *, rows: list[list[Any]] | None = None,
              columns: list[str] | None = None, order: Callable[[list[Any]], Any] | None = None,
              chart: Chart = "none", x: str | None = None, y: list[str] | None = None, series: str | None = None,
              note: str = "") -> Table:
        """A Table of a grouped SELECT's rows (or `rows` made in Python), sorted by `order`
        (a sort key, e.g. `biggest_first`), cut to the rules' `table_rows`, what is cut
        counted. Rows are sorted here, not by the database: PostgreSQL sorts text by its
        locale, SQLite and MariaDB (as grouped) byte by byte, and ties must fall alike."""
        if rows is None:
            assert statement is not None
            rows = self.rows(statement)
            columns = columns or [c.name for c in statement.selected_columns]
        if order is not None:
            rows = sorted(rows, key=order)
        limit = self.rules.table_rows
        return Table(key=key, title=title, columns=list(columns or []), rows=rows[:limit], chart=chart, x=x,
                     y=list(y or []), series=series, note=note, truncated=max(len(rows) - limit, 0))


def finding(key: str, title: str, count: int, of: int, *, severity: Severity = "warning",
            examples: list[dict[str, Any]] | None = None, hint: str = "", table: str | None = None) -> Finding:
    return Finding(key=key, title=title, count=int(count), of=int(of), severity=severity,
                   examples=examples or [], hint=hint, table=table)


def set_metric(section: Section, name: str, value: float | None) -> None:
    """A metric of the report (named in METRICS); one that cannot be computed (no records to
    judge) is left out, and a gate check on it fails only when required."""
    assert name in METRICS, name
    if value is not None:
        section.metrics[name] = float(value)


def quarantined(table: sa.Table, field: str, reason: str | None = None) -> sa.ColumnElement:
    """The record's quarantine holds a value of `field` (a pointer that led nowhere, a date
    out of order), for `reason` when given. The loader writes it as JSON text,
    '[{"field": "parent_id", "value": "A99", "reason": "..."}]'; matched as text, so no
    database's JSON functions are needed."""
    text = sa.cast(table.c.quarantine, sa.Text)

    def pattern(space: str) -> str:  # json.dumps writes ": " between key and value; compact JSON ":"
        return f'%"field":{space}"{field}"%' + (f'"reason":{space}"{reason}%' if reason else "")

    return sa.or_(text.like(pattern(" ")), text.like(pattern("")))


def quarantined_value(quarantine: object, field: str) -> object:
    """The value a record's quarantine kept for `field` (for an example), or None."""
    try:
        entries = json.loads(quarantine) if isinstance(quarantine, str) else quarantine
        return next(e.get("value") for e in entries or [] if isinstance(e, dict) and e.get("field") == field)
    except (ValueError, StopIteration, TypeError):
        return None


def _value_key(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def in_order(*at: int) -> Callable[[list[Any]], Any]:
    """A row sort key: the values at these positions, ascending, None last."""
    return lambda row: [_value_key(row[i]) for i in at]


def biggest_first(count: int, *ties: int) -> Callable[[list[Any]], Any]:
    """A row sort key: the value at `count` descending, then the values at `ties` ascending
    (default: every column before `count`, the group's keys), None last."""
    ties = ties or tuple(range(count))
    return lambda row: [-(row[count] or 0), *(_value_key(row[i]) for i in ties)]


def provenance(table: sa.Table) -> list[sa.ColumnElement]:
    """The columns every example starts with: where the record came from in the old system."""
    return [table.c.legacy_source, table.c.legacy_id]
