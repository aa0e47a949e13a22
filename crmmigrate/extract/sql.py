"""Read a table or a query from a database through a SQLAlchemy URL.

Rows are fetched chunk by chunk with a server-side cursor where the driver has one, so a table
larger than memory is read in bounded memory. A row's provenance label is its primary key when
reading a table that has one, else its position in the result. Passwords in the URL are masked
in every report, note and error.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from crmmigrate.connections import create_engine, read_only
from crmmigrate.errors import (
    BadQuery,
    BadSourceURL,
    CrmMigrateError,
    SourceUnreachable,
    UnknownTable,
    did_you_mean,
)
from crmmigrate.extract.base import (
    Extraction,
    Source,
    cell_to_str,
    require_one_of,
    unique_columns,
)
from crmmigrate.model import PROVENANCE
from crmmigrate.passwords import mask_text, mask_url

# The dialect+driver crmmigrate installs, for URLs whose default driver is not installed
# (mysql:// means mysqlclient).
_INSTALLED_DRIVER = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_URL_FORM = (
    "Write it as dialect+driver://user:password@host:port/database, e.g. "
    "postgresql+psycopg://crm@db.example.com:5432/legacy, mysql+pymysql://crm@db/legacy or "
    "sqlite:///legacy.db."
)
_STATEMENT_END = re.compile(r"[\s;]+$")


# Rows read to estimate how long a row is when a table is split into parts.
SAMPLE_ROWS = 1_000


@dataclass(frozen=True)
class KeyRange:
    """The rows of a table whose primary key `column` is above `after` and at most
    `through`, each bound None for the table's first or last row."""

    column: str
    after: Any = None
    through: Any = None

    def bounds(self, selectable: sa.TableClause, key: list[str], *, file: str) -> list[Any]:
        """The WHERE conditions of this range on the table, whose key is `key`. The values are
        bound untyped, so the database compares them as the column's own type and collation:
        SQLAlchemy would cast a bind typed from its value (::VARCHAR), and PostgreSQL would
        then compare a citext key as text, with case, not as citext orders it."""
        if key != [self.column]:
            raise BadQuery(
                f"the table's primary key is {', '.join(key) or 'gone'}, not {self.column!r} "
                "as when it was split into parts to read.",
                file=file,
                hint="The table changed while it was read; read it again.",
            )
        (column,) = selectable.c
        untyped = sa.types.NullType()
        conditions = []
        if self.after is not None:
            conditions.append(column > sa.bindparam(None, self.after, type_=untyped))
        if self.through is not None:
            conditions.append(column <= sa.bindparam(None, self.through, type_=untyped))
        return conditions


class SqlExtraction(Extraction):
    """A table, or the result of a query, read from a database."""

    def __init__(self, source: Source, *, keys: KeyRange | None = None) -> None:
        """`keys`: read only the rows of the table in that range of its primary key (a part,
        see crmmigrate.extract.partitions)."""
        require_one_of(source, "table", "query")
        self._keys = keys
        url = _parse_url(source.location)
        self._url_shown = mask_url(source.location)
        what = source.table if source.table is not None else "query"
        super().__init__(
            source, name=source.name or what, file=f"{self._url_shown}#{what}", format="sql"
        )
        self._url = url
        if source.query is not None:
            _check_query(source.query, url.get_backend_name(), file=self.report.file)
        self._engine = self._create_engine()

    def _create_engine(self) -> sa.Engine:
        url = self._url
        try:
            # One connection serves one read; a pool would only keep it open afterwards.
            engine = create_engine(_read_only_url(url), poolclass=NullPool)
        except NoSuchModuleError:
            raise BadSourceURL(
                f"SQLAlchemy has no database dialect {url.drivername!r}.",
                file=self._url_shown,
                hint="Start the URL with postgresql+psycopg://, mysql+pymysql://, "
                "mariadb+pymysql:// or sqlite:///, or install the package that provides "
                "this dialect.",
            ) from None
        except ImportError as exc:
            dialect = f"{url.get_backend_name()}+{url.get_driver_name()}"
            installed = _INSTALLED_DRIVER.get(url.get_backend_name())
            hint = (
                f"Write the URL as {installed}://... to use the driver crmmigrate installs."
                if installed and installed != dialect
                else "Install that driver into crmmigrate's Python environment with pip."
            )
            raise BadSourceURL(
                f"the database driver for {dialect!r} is not installed (no module {exc.name!r}).",
                file=self._url_shown,
                hint=hint,
            ) from None
        # Every session of a source is read only, whatever the query: the database itself
        # refuses to write (a SQLite file is also opened with mode=ro).
        return read_only(engine)

    def _chunks(self) -> Iterator[pd.DataFrame]:
        try:
            with self._connect() as conn:
                if self.source.table is not None:
                    result, label = self._read_table(conn, self.source.table)
                else:
                    result, label = self._read_query(conn, self.source.query or "")
                with result:
                    yield from self._frames(result, label)
        finally:
            self._engine.dispose()

    def _connect(self) -> Connection:
        database = self._url.database
        if (
            self._url.get_backend_name() == "sqlite"
            and database
            and database != ":memory:"
            and not database.startswith("file:")
            and not Path(database).is_file()
        ):
            # SQLite would silently create an empty database and report every table missing.
            raise SourceUnreachable(
                "no such SQLite database file.",
                file=self._url_shown,
                hint="Check the path: sqlite:///relative/path.db or sqlite:////absolute/path.db.",
            )
        try:
            return self._engine.connect()
        except DBAPIError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: DBAPIError) -> SourceUnreachable:
        return SourceUnreachable(
            f"cannot connect to the database: {self._reason(exc)}.",
            file=self._url_shown,
            hint="Check the host, port, database name, user and password in the URL, and that "
            "the server is running and accepts connections from this machine.",
        )

    def _read_table(
        self, conn: Connection, table: str
    ) -> tuple[CursorResult[Any], Callable[[Sequence[Any]], str]]:
        selectable, _ = self._table(conn, table)
        key = [column.name for column in selectable.c]
        statement = sa.select(sa.literal_column("*")).select_from(selectable)
        statement = statement.order_by(*selectable.c)
        if self._keys is not None:
            statement = statement.where(*self._keys.bounds(selectable, key, file=self.report.file))
        result = self._execute(conn, lambda c: c.execute(statement))
        if not key:
            self.report.notes.append(
                f"table {table!r} has no primary key: rows are labelled by their position "
                "(from 1) in the order the database returned them, which it does not promise "
                "to keep between reads."
            )
            return result, _positions()
        if len(key) == 1:
            self.report.notes.append(
                f"rows are labelled by the primary key {key[0]!r} and read in its order."
            )
        else:
            self.report.notes.append(
                f"rows are labelled by the primary key ({', '.join(key)}), values joined "
                "with '|', and read in its order."
            )
        keys = list(result.keys())
        positions = [keys.index(column) for column in key]
        return result, lambda row: "|".join(cell_to_str(row[i]) or "" for i in positions)

    def _table(self, conn: Connection, table: str) -> tuple[sa.TableClause, sa.Inspector]:
        """The table with its primary key's columns (none if it has no key), checked to exist."""
        schema, _, name = table.rpartition(".")
        try:
            inspector = sa.inspect(conn)
            self._check_table_exists(inspector, schema or None, name)
            key = inspector.get_pk_constraint(name, schema=schema or None)["constrained_columns"]
        except DBAPIError as exc:
            raise self._unreachable(exc) from None
        return sa.table(name, *(sa.column(c) for c in key), schema=schema or None), inspector

    def key_ranges(self, target_bytes: int) -> list[KeyRange]:
        """The table split by its primary key into ranges of rows about `target_bytes` long
        (as text, a byte a delimiter), in the whole read's order; empty when it is not split:
        a query, a table with no key or one of several columns, a key of a type whose
        comparison might not follow its order (anything but integers and text: a MySQL ENUM
        sorts by its number, compares by its text), a NULL key (SQLite allows one), a table
        of one part, or a database that cannot number the rows (no window functions).

        The split points are the key of every Nth row, counted by the database in the key's
        order (ROW_NUMBER() OVER (ORDER BY key)), so they hold for text keys in any collation:
        each range is then read with `key > after AND key <= through`, which the database
        compares in the column's collation, the one it orders by. A table that changes
        between the reads still has each row in one range only."""
        if self.source.table is None:
            return []
        try:
            with self._connect() as conn:
                selectable, inspector = self._table(conn, self.source.table)
                if len(selectable.c) != 1 or not self._comparable(inspector, selectable):
                    return []
                try:
                    return self._split(conn, selectable, target_bytes)
                except DBAPIError:
                    # Whatever it is, the whole read meets it again and says so.
                    return []
        finally:
            self._engine.dispose()

    def _comparable(self, inspector: sa.Inspector, selectable: sa.TableClause) -> bool:
        """Whether the key's type compares as it orders: integers and text, no enumerations."""
        (key,) = selectable.c
        try:
            with warnings.catch_warnings():
                # A type SQLAlchemy does not know comes back as NullType, with a warning.
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                columns = inspector.get_columns(selectable.name, schema=selectable.schema)
        except DBAPIError:
            return False
        kind = next((c["type"] for c in columns if c["name"] == key.name), None)
        if isinstance(kind, (sa.Enum, mysql.SET)):
            return False
        return isinstance(kind, (sa.Integer, sa.String))

    def _split(self, conn: Connection, selectable: sa.TableClause, target_bytes: int) -> list[KeyRange]:
        (key,) = selectable.c
        if conn.execute(sa.select(key).select_from(selectable).where(key.is_(None)).limit(1)).first():
            return []
        sample = conn.execute(
            sa.select(sa.literal_column("*")).select_from(selectable).order_by(key).limit(SAMPLE_ROWS)
        ).all()
        width = sum(len((cell_to_str(v) or "").encode()) + 1 for row in sample for v in row)
        if len(sample) < SAMPLE_ROWS and width <= target_bytes:
            return []
        rows = max(1, target_bytes * len(sample) // max(width, 1))
        # Every Nth key but the last row's, which would leave an empty range after it.
        order = {"order_by": key}
        numbered = sa.select(
            key.label("k"),
            sa.func.row_number().over(**order).label("n"),
            sa.func.lead(sa.literal_column("1")).over(**order).label("more"),
        ).select_from(selectable).subquery()
        points = conn.execute(
            sa.select(numbered.c.k)
            .where(numbered.c.n % sa.literal_column(str(rows)) == 0, numbered.c.more.is_not(None))
            .order_by(numbered.c.n)
        ).scalars().all()
        if not points or any(type(p) not in (int, str) for p in points):
            return []
        edges = [None, *points, None]
        return [KeyRange(key.name, a, b) for a, b in itertools.pairwise(edges)]

    def _check_table_exists(self, inspector: sa.Inspector, schema: str | None, name: str) -> None:
        if inspector.has_table(name, schema=schema):
            return
        if schema is not None:
            # Dialects leave system schemas (pg_catalog) out of this list, so it is only
            # consulted once the table is known to be missing.
            schemas = inspector.get_schema_names()
            if schema not in schemas:
                raise UnknownTable(
                    f"the database has no schema {schema!r} (table {self.source.table!r}).",
                    file=self._url_shown,
                    hint=_suggestion(schema, schemas, "schemas"),
                )
        tables = [
            *inspector.get_table_names(schema=schema),
            *inspector.get_view_names(schema=schema),
        ]
        raise UnknownTable(
            f"the database has no table {self.source.table!r}.",
            file=self._url_shown,
            hint=_suggestion(name, tables, "tables"),
        )

    def _read_query(
        self, conn: Connection, query: str
    ) -> tuple[CursorResult[Any], Callable[[Sequence[Any]], str]]:
        # Sent as written: no bind parameters, so ':name' and '%' in literals reach the
        # database untouched. A trailing ';' would break the cursor declaration on PostgreSQL.
        sql = _STATEMENT_END.sub("", query)
        result = self._execute(
            conn, lambda c: c.execution_options(no_parameters=True).exec_driver_sql(sql)
        )
        if not result.returns_rows:
            result.close()
            raise BadQuery(
                "the query returns no rows: it is not a SELECT.",
                file=self.report.file,
                hint="Give a SELECT (or WITH ... SELECT) that returns the records to read.",
            )
        self.report.notes.append(
            "rows are labelled by their position (from 1) in the query's result; add an "
            "ORDER BY to the query to keep the labels stable between reads."
        )
        return result, _positions()

    def _execute(
        self, conn: Connection, run: Callable[[Connection], CursorResult[Any]]
    ) -> CursorResult[Any]:
        chunk_rows = self.source.chunk_rows
        streaming = conn.execution_options(stream_results=True, yield_per=chunk_rows)
        if conn.dialect.supports_server_side_cursors:
            self.report.notes.append(f"read {chunk_rows} rows at a time with a server-side cursor.")
        else:
            self.report.notes.append(
                f"read {chunk_rows} rows at a time ({conn.dialect.name} has no server-side "
                "cursors; its driver fetches rows as they are asked for)."
            )
        try:
            return run(streaming)
        except DBAPIError as exc:
            raise self._rejected(exc) from None

    def _rejected(self, exc: DBAPIError) -> CrmMigrateError:
        if exc.connection_invalidated:
            return SourceUnreachable(
                f"lost the connection to the database while reading: {self._reason(exc)}.",
                file=self.report.file,
                hint="Check the server is up and run the extraction again.",
            )
        if self.source.table is not None:
            return BadQuery(
                f"the database refused to read the table: {self._reason(exc)}.",
                file=self.report.file,
                hint="Check that the user in the URL may SELECT from it.",
            )
        return BadQuery(
            f"the database rejected the query: {self._reason(exc)}.",
            file=self.report.file,
            hint="Fix the query (try it in the database's own client first).",
        )

    def _frames(
        self, result: CursorResult[Any], label: Callable[[Sequence[Any]], str]
    ) -> Iterator[pd.DataFrame]:
        columns = self._columns(list(result.keys()))
        self.report.columns = columns
        partitions = result.partitions(self.source.chunk_rows)
        while True:
            try:
                rows = next(partitions, None)
            except DBAPIError as exc:
                raise self._rejected(exc) from None
            if rows is None:
                return
            yield self.frame(
                columns,
                [[cell_to_str(value) for value in row] for row in rows],
                [label(row) for row in rows],
            )

    def _columns(self, names: list[str]) -> list[str]:
        reserved = [n for n in names if n in PROVENANCE]
        if reserved:
            raise BadQuery(
                f"the result has a column named {reserved[0]!r}, which crmmigrate reserves "
                "for provenance.",
                file=self.report.file,
                hint=f"Read it with a query that renames it: SELECT {reserved[0]} AS "
                f"legacy{reserved[0]}, ...",
            )
        columns, notes = unique_columns(names, file=self.report.file)
        self.report.notes.extend(notes)
        return columns

    def _reason(self, exc: DBAPIError) -> str:
        """The database's own message, first line only, with any password masked."""
        args = getattr(exc.orig, "args", ())
        # PyMySQL and mysqlclient put (error code, message) in args.
        text = str(args[1] if len(args) == 2 and isinstance(args[0], int) else exc.orig)
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        reason = lines[0].rstrip(".") if lines else type(exc.orig).__name__
        return mask_text(reason, self.source.location)


def _read_only_url(url: URL) -> URL:
    """A SQLite file path as a URI opened with mode=ro (a `file:` URI or :memory: as given)."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:"):
        return url
    return url.set(
        database="file:" + urllib.parse.quote(database),
        query={**url.query, "mode": "ro", "uri": "true"},
    )


# What may hide a ';' or a keyword from the check of a query: comments, literals, quoted names,
# each only where the database reads it so (PostgreSQL's '#' is an operator, not a comment).
_HIDING = {
    "comment": r"--[^\n]*|/\*.*?(?:\*/|\Z)",
    "mysql": r"#[^\n]*|`(?:[^`]|``)*(?:`|\Z)",
    "postgresql": r"\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?(?:\$(?P=tag)\$|\Z)",
    "sqlite": r"\[[^\]]*(?:\]|\Z)|`(?:[^`]|``)*(?:`|\Z)",
}
_HIDING["mariadb"] = _HIDING["mysql"]
_STRING = {
    # In MySQL and in PostgreSQL's E'...' strings a backslash escapes the next character;
    # in standard SQL strings it is an ordinary one.
    True: r"'(?:[^'\\]|\\.|'')*(?:'|\Z)|\"(?:[^\"\\]|\\.|\"\")*(?:\"|\Z)",
    False: r"'(?:[^']|'')*(?:'|\Z)|\"(?:[^\"]|\"\")*(?:\"|\Z)",
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")


def _bare(sql: str, backend: str, backslash_escapes: bool) -> str:
    """The query with comments, literals and quoted names blanked out, left to right."""
    parts = [_HIDING["comment"], *([_HIDING[backend]] if backend in _HIDING else []),
             _STRING[backslash_escapes]]
    return re.sub("|".join(parts), " ", sql, flags=re.DOTALL)


def _check_query(query: str, backend: str, *, file: str) -> None:
    """Refuse anything but one SELECT (or WITH ... SELECT): a source is only ever read. The
    session is read only as well; this check names the query before anything is sent.
    Backslashes are read both ways (MySQL's escape, or a plain character), so a ';' that one
    reading hides inside a literal is still found by the other."""
    shown = " ".join(query.split())
    shown = repr(shown if len(shown) <= 120 else shown[:117] + "...")
    hint = "Give one SELECT (or WITH ... SELECT) that returns the records to read."
    for backslash_escapes in (False, True):
        bare = _STATEMENT_END.sub("", _bare(query, backend, backslash_escapes))
        words = [w.lower() for w in _WORD.findall(bare)]
        if ";" in bare:
            raise BadQuery(
                f"the query {shown} holds more than one statement: a source is only read, "
                "with one query.", file=file, hint=hint)
        if not words or words[0] not in ("select", "with") or not bare.lstrip(" (").lower().startswith(words[0]):
            raise BadQuery(
                f"the query {shown} is not a SELECT: a source is only read, never changed.",
                file=file, hint=hint)
        if "into" in words:
            raise BadQuery(
                f"the query {shown} has INTO: it would write a table or a file, and a source "
                "is only read.", file=file, hint=hint)


def _parse_url(location: str) -> URL:
    try:
        return make_url(location)
    except (ArgumentError, ValueError):
        raise BadSourceURL(
            "this is not a SQLAlchemy URL.", file=mask_url(location), hint=_URL_FORM
        ) from None


def _positions() -> Callable[[Sequence[Any]], str]:
    counter = itertools.count(1)
    return lambda row: str(next(counter))


def _suggestion(name: str, choices: list[str], kind: str) -> str:
    close = did_you_mean(name, choices)
    if close is not None:
        return f"Did you mean {close!r}?"
    if not choices:
        return f"The database has no {kind} this user can see; check the database in the URL."
    listed = ", ".join(sorted(choices)[:10])
    more = f" and {len(choices) - 10} more" if len(choices) > 10 else ""
    return f"It has {kind}: {listed}{more}."
