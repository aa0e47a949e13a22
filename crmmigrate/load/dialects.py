"""What differs between the target databases, one class per database, so the loader says
`self.dialect.x()` where it would branch on PostgreSQL, SQLite or MariaDB (as Splink keeps one
`SplinkDialect` per backend): quoting and placeholders, where a row's id comes from (a
sequence, the table's highest id), the upsert, COPY against a staging file for a bulk load,
dropping and building indexes, SQLite's transaction setup, and reading rows through the driver.

`Dialect` itself is a database crmmigrate is not tested on: portable SQL, no bulk path.
"""

from __future__ import annotations

import gc
import itertools
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from crmmigrate.load.schema import ID_MAP

SQLITE_BULK_CACHE_KB = 512 * 1024  # SQLite's page cache during a bulk load (default: 2 MB)
COPY_ROWS = 50_000  # rows per piece of CSV handed to COPY
INSERT_ROWS = 20_000  # rows per executemany where the database has no bulk path

# A bulk load's writing, as the loader gives it to the database: `stream(send, first id)`
# prepares and sends the records, `finish(dropped constraints, streamed)` does the rest.
Stream = Callable[[Callable[[pa.Table], None], int], Any]
Finish = Callable[[list[sa.Constraint], Any], Any]


class StagingFailed(Exception):
    """The staging file refused a piece (a full disk, say): the source goes batch by batch."""


class Dialect:
    """A database as the loader meets it."""

    temporal_as_text = False  # whether dates and times are bound as text (Arrow's, SQLAlchemy's format)

    def set_up(self, engine: sa.Engine) -> None:
        """What the engine needs before the loader uses it: nothing but on SQLite."""

    @staticmethod
    def quoted(connection: sa.Connection, name: str) -> str:
        return connection.dialect.identifier_preparer.quote(name)

    @staticmethod
    def mark(connection: sa.Connection) -> str:
        """The driver's placeholder for one value."""
        return "?" if connection.dialect.paramstyle == "qmark" else "%s"

    def placeholders(self, connection: sa.Connection, count: int) -> str:
        return ", ".join([self.mark(connection)] * count)

    @staticmethod
    def fetch(connection: sa.Connection, query: sa.Select) -> list[tuple]:
        """A query's rows as the driver gives them: without SQLAlchemy's row objects, which cost
        more than the query when there are millions of rows (and without its column types' result
        processing: JSON comes as text, except from PostgreSQL's driver, which parses it)."""
        compiled = query.compile(connection, compile_kwargs={"render_postcompile": True})
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(str(compiled), tuple(compiled.params[k] for k in compiled.positiontup)
                           if compiled.positional else compiled.params)
            with collector_paused():
                return cursor.fetchall()
        finally:
            cursor.close()

    def fetch_committed(self, engine: sa.Engine, query: sa.Select, schema: pa.Schema) -> pa.Table:
        """A query's rows, as committed, as Arrow columns of `schema` (one per selected column,
        in order), read through the driver (`fetch`) on a connection of their own. Not through
        ADBC on SQLite, though it reads Arrow faster: its driver links a SQLite of its own, and
        two SQLite libraries on one file in one process undo each other's locks (closing either's
        handle drops the process's POSIX locks on the file: the run's readers would lose theirs)."""
        with engine.connect() as connection:
            rows = self.fetch(connection, query)

        def column(at: int, kind: pa.DataType) -> pa.Array:
            values = [row[at] for row in rows]  # by index: zip(*rows) makes an iterator per row
            if pa.types.is_string(kind):  # a text column holds text, but SQLite keeps what it is given
                values = [v if v is None or isinstance(v, str) else str(v) for v in values]
            return pa.array(values, kind)

        with collector_paused():
            return pa.table([column(at, field.type) for at, field in enumerate(schema)], schema=schema)

    def upsert(self, connection: sa.Connection, table: sa.Table, rows: pa.Table, key: tuple[str, ...]) -> None:
        """Insert `rows` (Arrow columns named as the table's; JSON columns as JSON text) into
        `table`, updating every other column of the rows whose `key` is there already. PostgreSQL
        copies them into a staging table and upserts from it in one statement; SQLite and MariaDB
        upsert in one executemany."""
        if not rows.num_rows:
            return
        self._upsert(connection, table, rows, key, [c for c in rows.column_names if c not in key])

    def insert_rows(self, connection: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
        """`rows` (Arrow columns named as the table's) inserted into `table`, which no index or
        constraint refuses them (a temporary table of the run's own making): the driver's
        executemany of plain tuples, in pieces (SQLAlchemy's per-row parameter handling would
        take longer than the database)."""
        quote = connection.dialect.identifier_preparer.quote
        statement = (f"INSERT INTO {connection.dialect.identifier_preparer.format_table(table)} "
                     f"({', '.join(quote(c) for c in rows.column_names)}) "
                     f"VALUES ({self.placeholders(connection, rows.num_columns)})")
        for start in range(0, rows.num_rows, INSERT_ROWS):
            piece = rows.slice(start, INSERT_ROWS)
            connection.exec_driver_sql(statement, list(zip(*(c.to_pylist() for c in piece.columns), strict=True)))

    def _upsert(self, connection: sa.Connection, table: sa.Table, rows: pa.Table, key: tuple[str, ...],
                changes: list[str]) -> None:
        """One executemany of the database's upsert; where none is known, the keys' rows
        deleted and the rows inserted."""
        names = rows.column_names
        parameters = list(zip(*(rows.column(c).to_pylist() for c in names), strict=True))
        clause = self._on_conflict(connection.dialect.identifier_preparer.quote, key, changes)
        if clause is not None:
            connection.exec_driver_sql(f"{self._insert_into(connection, table, names)} VALUES "
                                       f"({', '.join([self._upsert_mark] * len(names))}) {clause}", parameters)
            return
        for values in {tuple(r[names.index(c)] for c in key) for r in parameters}:
            connection.execute(table.delete().where(*(table.c[c] == v for c, v in zip(key, values, strict=True))))
        documents = {c for c in names if isinstance(table.c[c].type, sa.JSON)}  # JSON text, parsed
        connection.execute(table.insert(), [
            {c: json.loads(v) if c in documents and v is not None else v for c, v in zip(names, r, strict=True)}
            for r in parameters])

    _upsert_mark = "?"

    def _on_conflict(self, quote: Callable[[str], str], key: tuple[str, ...], changes: list[str]) -> str | None:
        """What the upsert says of a key that is there already; None: no upsert known."""
        return None

    def _insert_into(self, connection: sa.Connection, table: sa.Table, names: list[str]) -> str:
        return f"INSERT INTO {self.quoted(connection, table.name)} ({', '.join(self.quoted(connection, c) for c in names)})"

    # -- ids of new rows ----------------------------------------------------------------------

    def reserve_ids(self, connection: sa.Connection, table: sa.Table, count: int, *,
                    row_by_row: bool) -> np.ndarray | list[int] | None:
        """The ids of `count` rows about to be inserted, or None: the database numbers them and
        the loader looks them up after."""
        return None

    def copies(self, row_by_row: bool) -> bool:
        """Whether a batch's new rows (ids reserved) go by COPY rather than an INSERT."""
        return False

    def first_free_id(self, connection: sa.Connection, table: sa.Table) -> int:
        """The first id of the rows a bulk load inserts, the table's write lock held."""
        return connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one() + 1

    # -- the bulk path ------------------------------------------------------------------------

    def can_bulk(self, nested: bool) -> bool:
        """Whether a big first load may go in bulk (`nested`: inside a dry run's transaction)."""
        return False  # a database crmmigrate does not know: batch by batch

    def bulk_write(self, connection: sa.Connection, table: sa.Table, columns: list[str],
                   transaction: Callable[[], Any], stream: Stream, finish: Finish) -> tuple[Any, Any]:
        """Write a bulk load's records; returns what `stream` and `finish` returned."""
        raise NotImplementedError

    def drop_indexes(self, connection: sa.Connection, table: sa.Table) -> list[sa.Constraint]:
        """Drop the table's indexes and, on PostgreSQL, its foreign keys (SQLite enforces
        none); returns the constraints dropped. The key stays: other tables' foreign keys
        need it. The table's write lock comes first: the ids are the loader's."""
        for index in table.indexes:
            connection.execute(sa.schema.DropIndex(index))
        return []

    def build_indexes(self, connection: sa.Connection, table: sa.Table, constraints: list[sa.Constraint]) -> None:
        for index in table.indexes:
            connection.execute(sa.schema.CreateIndex(index))
        for constraint in constraints:
            connection.execute(sa.schema.AddConstraint(constraint))
        connection.exec_driver_sql(f"ANALYZE {self.quoted(connection, table.name)}")

    def ledger_from_table(self, connection: sa.Connection, table: sa.Table, entity: str, source: str,
                          run_id: str, columns: tuple[str, ...], changes: tuple[str, ...]) -> bool:
        """Write a bulk load's loaded id_map entries from the rows just loaded, by the database
        itself; False where the loader writes them."""
        return False


class SQLiteDialect(Dialect):
    temporal_as_text = True  # "2020-01-02", "2020-01-02 03:04:05.000000"

    def set_up(self, engine: sa.Engine) -> None:
        """Let SQLAlchemy, not Python's sqlite3 module, begin transactions: otherwise savepoints
        (batches inside a dry run) do not work (SQLAlchemy's documented pysqlite recipe)."""

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN")

    def _on_conflict(self, quote: Callable[[str], str], key: tuple[str, ...], changes: list[str]) -> str:
        return (f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET "
                + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in changes))

    def reserve_ids(self, connection: sa.Connection, table: sa.Table, count: int, *,
                    row_by_row: bool) -> np.ndarray:
        # A write transaction holds SQLite's only write lock: the next ids are ours.
        first = self.first_free_id(connection, table)
        return np.arange(first, first + count, dtype=np.int64)

    def can_bulk(self, nested: bool) -> bool:
        return not nested  # a dry run's one transaction: SQLite cannot attach a staging file in it

    def bulk_write(self, connection: sa.Connection, table: sa.Table, columns: list[str],
                   transaction: Callable[[], Any], stream: Stream, finish: Finish) -> tuple[Any, Any]:
        """Into a staging file by ADBC's Arrow ingest, copied into the table by SQLite itself."""
        with self._staging_file(connection) as staged:
            with _sqlite_stage(staged) as send:
                # Ids from 0 here; the table's next free id is added when copied.
                streamed = stream(send, 0)
            with self._attached(connection, staged), transaction():
                dropped = self.drop_indexes(connection, table)
                first = self.first_free_id(connection, table)
                if streamed.next_id:
                    names = ", ".join(self.quoted(connection, c) for c in columns)
                    connection.exec_driver_sql(
                        f"INSERT INTO main.{self.quoted(connection, table.name)} (id, {names}) "
                        f"SELECT id + ?, {names} FROM {_STAGE}.staged ORDER BY id", (first,))
                return streamed, finish(dropped, streamed)

    @contextmanager
    def _staging_file(self, connection: sa.Connection) -> Iterator[Path]:
        """Where a SQLite bulk load stages its rows: beside the target (on its disk, which has
        room for them), removed after, and before if a killed load left one."""
        database = connection.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            with tempfile.TemporaryDirectory(prefix="crmmigrate-") as folder:
                yield Path(folder) / "staged.db"
            return
        staged = Path(database).with_name(Path(database).name + ".crmmigrate-staging")
        staged.unlink(missing_ok=True)
        try:
            yield staged
        finally:
            staged.unlink(missing_ok=True)

    @contextmanager
    def _attached(self, connection: sa.Connection, staged: Path) -> Iterator[None]:
        """SQLite with the staging file attached (outside any transaction, as SQLite requires)
        and a page cache big enough for the table's indexes."""
        if connection.in_transaction():
            connection.commit()
        raw = connection.connection.driver_connection
        raw.execute(f"ATTACH DATABASE ? AS {_STAGE}", (str(staged),))
        before = raw.execute("PRAGMA cache_size").fetchone()[0]
        raw.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KB}")

        def detached() -> None:
            if connection.in_transaction():
                connection.rollback()
            raw.execute(f"PRAGMA cache_size = {int(before)}")
            raw.execute(f"DETACH DATABASE {_STAGE}")

        try:
            yield
        except BaseException:
            # The error that came is the one told: SQLAlchemy closes the connection on Ctrl-C in
            # a statement, and the detach's own error ("a closed database", a driver error)
            # would stand in for it, taken for a refusal and the source loaded batch by batch.
            with suppress(Exception):
                detached()
            raise
        detached()

    def insert_rows(self, connection: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
        """Into a staging file by ADBC's Arrow ingest (in a folder of its own: the target's
        disk is not written to), then copied into the table by SQLite itself. The connection's
        transaction is committed first (SQLite attaches a file only outside one) and the
        rows are committed with it: the table is a temporary one."""
        with tempfile.TemporaryDirectory(prefix="crmmigrate-") as folder:
            staged = Path(folder) / "staged.db"
            with _sqlite_stage(staged) as send:
                send(rows)
            with self._attached(connection, staged):
                quote = connection.dialect.identifier_preparer.quote
                names = ", ".join(quote(c) for c in rows.column_names)
                connection.exec_driver_sql(f"INSERT INTO {connection.dialect.identifier_preparer.format_table(table)} "
                                           f"({names}) SELECT {names} FROM {_STAGE}.staged")
                connection.commit()

    def ledger_from_table(self, connection: sa.Connection, table: sa.Table, entity: str, source: str,
                          run_id: str, columns: tuple[str, ...], changes: tuple[str, ...]) -> bool:
        # Written by SQLite itself from the rows just loaded (this run's, of this source).
        connection.exec_driver_sql(
            f"INSERT INTO {ID_MAP} ({', '.join(columns)}) SELECT ?, legacy_source, legacy_id, id, "
            f"'loaded', NULL, run_id FROM {self.quoted(connection, table.name)} WHERE legacy_source = ? AND run_id = ? "
            "ORDER BY legacy_id ON CONFLICT (entity, source, legacy_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in changes), (entity, source, run_id))
        return True


class PostgresDialect(Dialect):
    def insert_rows(self, connection: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
        """COPY, as the loader writes, and the table analysed: a fresh table has no statistics
        to plan joins by."""
        copy_csv(connection.connection.driver_connection, table.name, rows)
        connection.exec_driver_sql(f"ANALYZE {self.quoted(connection, table.name)}")

    def _upsert(self, connection: sa.Connection, table: sa.Table, rows: pa.Table, key: tuple[str, ...],
                changes: list[str]) -> None:
        quote = connection.dialect.identifier_preparer.quote
        target = quote(table.name)
        columns = ", ".join(quote(c) for c in rows.column_names)
        stage = quote(f"{table.name}_stage")
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {target} INCLUDING DEFAULTS) "
                           "ON COMMIT DELETE ROWS")
            copy_csv(raw, f"{table.name}_stage", rows)
            cursor.execute(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage} "
                f"ORDER BY {', '.join(quote(c) for c in key)} "
                f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET "
                + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in changes))
            cursor.execute(f"DELETE FROM {stage}")

    def reserve_ids(self, connection: sa.Connection, table: sa.Table, count: int, *,
                    row_by_row: bool) -> list[int] | None:
        if row_by_row:
            return None
        # Ids come from the table's sequence up front, so nothing needs looking up
        # after COPY (a fresh table has no statistics and the lookup would scan it).
        rows = connection.execute(sa.text("SELECT nextval(:sequence) FROM generate_series(1, :count)"),
                                  {"sequence": self._sequence(connection, table), "count": count})
        return [r[0] for r in rows]

    def copies(self, row_by_row: bool) -> bool:
        return not row_by_row

    def first_free_id(self, connection: sa.Connection, table: sa.Table) -> int:
        return connection.execute(sa.text("SELECT nextval(:s)"), {"s": self._sequence(connection, table)}).scalar_one()

    def _sequence(self, connection: sa.Connection, table: sa.Table) -> str:
        return connection.execute(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                                  {"table": self.quoted(connection, table.name)}).scalar_one()

    def can_bulk(self, nested: bool) -> bool:
        return True

    def bulk_write(self, connection: sa.Connection, table: sa.Table, columns: list[str],
                   transaction: Callable[[], Any], stream: Stream, finish: Finish) -> tuple[Any, Any]:
        """Into one COPY, in one transaction."""
        with transaction():
            dropped = self.drop_indexes(connection, table)
            first = self.first_free_id(connection, table)
            with self._copy_sink(connection, table, columns) as send:
                streamed = stream(send, first)
            # Move the sequence past the ids taken (the table's lock kept anyone else out).
            connection.execute(sa.text("SELECT setval(:s, :last, :called)"), {
                "s": self._sequence(connection, table), "last": max(streamed.next_id - 1, first),
                "called": streamed.next_id > first})
            return streamed, finish(dropped, streamed)

    @contextmanager
    def _copy_sink(self, connection: sa.Connection, table: sa.Table,
                   columns: list[str]) -> Iterator[Callable[[pa.Table], None]]:
        """PostgreSQL's COPY into the table, fed by psycopg's queued writer: a thread sends each
        piece while the next one is prepared."""
        from psycopg.copy import QueuedLibpqWriter

        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(
                _copy_statement(table.name, ["id", *columns]), writer=QueuedLibpqWriter(cursor)) as copy:
            yield lambda rows: _send_csv(copy, rows)

    def drop_indexes(self, connection: sa.Connection, table: sa.Table) -> list[sa.Constraint]:
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        connection.exec_driver_sql(f"LOCK TABLE {self.quoted(connection, table.name)} IN EXCLUSIVE MODE")
        constraints = [c for c in table.constraints if isinstance(c, sa.ForeignKeyConstraint)]
        for constraint in constraints:
            connection.execute(sa.schema.DropConstraint(constraint))
        super().drop_indexes(connection, table)
        return constraints


class MariaDBDialect(Dialect):
    _upsert_mark = "%s"

    def set_up(self, engine: sa.Engine) -> None:
        """PyMySQL's connections ask the server for LOAD DATA LOCAL (a client must, when it
        connects), but send only the piece the bulk path's own statement names, from memory,
        while that statement runs (`_loaded_data`, `_send_piece`): a server that asks for a
        file at any other time, or for any other one, is refused, and no file is written."""
        if engine.dialect.driver != "pymysql":
            return
        _sending_pieces()

        @sa.event.listens_for(engine, "do_connect")
        def _local_files(_dialect, _record, _arguments, parameters) -> None:  # type: ignore[no-untyped-def]
            parameters.setdefault("local_infile", True)

        @sa.event.listens_for(engine, "connect")
        def _not_now(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection._local_infile = False
            dbapi_connection._crmmigrate_piece = None  # a piece only while its statement runs

        engine.dispose()  # the connection `connect` made to check the target was made without

    def _on_conflict(self, quote: Callable[[str], str], key: tuple[str, ...], changes: list[str]) -> str:
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in changes)

    def can_bulk(self, nested: bool) -> bool:
        return not nested

    def bulk_write(self, connection: sa.Connection, table: sa.Table, columns: list[str],
                   transaction: Callable[[], Any], stream: Stream, finish: Finish) -> tuple[Any, Any]:
        """By LOAD DATA LOCAL INFILE of CSV pieces written by Arrow, in one transaction (InnoDB
        undoes it whole on a kill or a refusal). The indexes stay: MariaDB commits a DROP INDEX
        on its own, so a killed load would leave the table without them. The ids are the
        loader's from the table's highest, that row and the gap after it locked against other
        writers until the commit."""
        raw = connection.connection.driver_connection
        if (not hasattr(raw, "_local_infile") or not _sending_pieces()
                or not connection.exec_driver_sql("SELECT @@local_infile").scalar()):
            raise StagingFailed("the server or its driver takes no LOAD DATA LOCAL INFILE")
        with transaction():
            first = connection.exec_driver_sql(
                f"SELECT COALESCE(MAX(id), 0) + 1 FROM {self.quoted(connection, table.name)} FOR UPDATE").scalar_one()
            with _loaded_data(connection, table, ["id", *columns]) as send:
                streamed = stream(send, first)
            return streamed, finish([], streamed)

    def build_indexes(self, connection: sa.Connection, table: sa.Table, constraints: list[sa.Constraint]) -> None:
        """Nothing: the bulk path keeps the indexes (and ANALYZE TABLE would commit the load
        early; InnoDB samples the table's statistics again itself after a load this size)."""

    def ledger_from_table(self, connection: sa.Connection, table: sa.Table, entity: str, source: str,
                          run_id: str, columns: tuple[str, ...], changes: tuple[str, ...]) -> bool:
        # Written by MariaDB itself from the rows just loaded (this run's, of this source).
        connection.exec_driver_sql(
            f"INSERT INTO {ID_MAP} ({', '.join(columns)}) SELECT %s, legacy_source, legacy_id, id, "
            f"'loaded', NULL, run_id FROM {self.quoted(connection, table.name)} WHERE legacy_source = %s "
            "AND run_id = %s ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in changes),
            (entity, source, run_id))
        return True


_DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgresDialect,
    "sqlite": SQLiteDialect,
    "mysql": MariaDBDialect,
    "mariadb": MariaDBDialect,
}


_pauses = 0  # collector_paused blocks under way, in every thread
_pausing = threading.Lock()
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a result's rows come as tuples. None of them can
    be in a cycle, but every 700 new ones start a collection, and ever more of those walk every
    object the process holds: a million rows' fetch took twice as long with it on. The collector
    is the process's, so overlapping pauses (the report's threads) are counted: the last one to
    end turns it back on, if it was on before the first."""
    global _pauses, _was_enabled
    with _pausing:
        if not _pauses:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pausing:
            _pauses -= 1
            if not _pauses and _was_enabled:
                gc.enable()


def dialect_for(bind: sa.Engine | sa.Connection) -> Dialect:
    """The dialect of an engine's or connection's database, chosen by its name."""
    return _DIALECTS.get(bind.dialect.name, Dialect)()


def fetch(connection: sa.Connection, query: sa.Select) -> list[tuple]:
    return dialect_for(connection).fetch(connection, query)


def upsert(connection: sa.Connection, table: sa.Table, rows: pa.Table, key: tuple[str, ...]) -> None:
    dialect_for(connection).upsert(connection, table, rows, key)


def copy_csv(raw: Any, table: str, rows: pa.Table) -> None:
    """PostgreSQL's COPY of Arrow columns, written as CSV by Arrow."""
    with raw.cursor() as cursor, cursor.copy(_copy_statement(table, rows.column_names)) as copy:
        _send_csv(copy, rows)


def _copy_statement(table: str, columns: list[str]) -> str:
    """COPY of a table's columns from CSV on standard input (PostgreSQL's quoting of names)."""
    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'
    return f"COPY {quoted(table)} ({', '.join(quoted(c) for c in columns)}) FROM STDIN (FORMAT csv)"


def _send_csv(copy: Any, rows: pa.Table) -> None:
    """Arrow columns into a running COPY, as CSV pieces."""
    for chunk in _csv_pieces(rows):
        copy.write(chunk)


def _csv_pieces(rows: pa.Table) -> Iterator[bytes]:
    """Arrow columns as CSV for COPY (NULL unquoted and empty, every value quoted), in pieces,
    so no Python touches a row."""
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    for start in range(0, rows.num_rows, COPY_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(rows.slice(start, COPY_ROWS), sink, options)
        yield sink.getvalue().to_pybytes()


@contextmanager
def _loaded_data(connection: sa.Connection, table: sa.Table, names: list[str]) -> Iterator[Callable[[pa.Table], None]]:
    """MariaDB's LOAD DATA LOCAL INFILE of the columns `names` into `table`, a piece at a time, each written as CSV by
    Arrow into memory and sent by a thread while the next piece is prepared: the statement
    names the piece, and the driver sends it from memory when the server asks for it
    (`_send_piece`), so nothing is written to disk. With LOCAL, MariaDB takes a value it cannot
    store, or a repeated key, as a warning and goes on (it cannot stop the client's data
    midway): a piece with any warning, or fewer rows taken than sent, is refused here, so the
    source goes batch by batch and those rows are found with the database's reason. The
    separators are given in hex, which no sql_mode reads otherwise (NO_BACKSLASH_ESCAPES would
    make '\\n' two characters)."""
    import pymysql

    raw = connection.connection.driver_connection
    quote = connection.dialect.identifier_preparer.quote
    booleans = {c.name for c in table.columns if isinstance(c.type, sa.Boolean)}
    statement = (f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(table.name)} CHARACTER SET utf8mb4 "
                 "FIELDS TERMINATED BY 0x2c OPTIONALLY ENCLOSED BY 0x22 ESCAPED BY '' "
                 f"LINES TERMINATED BY 0x0a ({', '.join(quote(n) for n in names)})")
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", null_string="NULL")
    numbers = itertools.count()

    def load(name: str, data: pa.Buffer, count: int) -> None:
        with raw.cursor() as cursor:
            raw._local_infile, raw._crmmigrate_piece = True, (name, data)
            try:
                taken = cursor.execute(statement, (name,))
            finally:
                raw._local_infile, raw._crmmigrate_piece = False, None
            # The count, not SHOW WARNINGS alone: that lists only what max_error_count keeps.
            cursor.execute("SELECT @@warning_count")
            warned = cursor.fetchone()[0]
            said = cursor.fetchall() if warned and cursor.execute("SHOW WARNINGS LIMIT 1") else []
        if warned or taken != count:
            reason = said[0][2] if said else (f"{warned} warning(s)" if warned else f"{count - taken} of {count} "
                                                                                    "rows not taken")
            raise pymysql.err.DataError(said[0][1] if said else 0, reason)

    with _one_piece_behind("crmmigrate-load-data", load) as loading:
        def send(rows: pa.Table) -> None:
            rows = rows.select(names)
            # A boolean as 1 or 0 (Arrow writes true and false, which MariaDB reads as 0).
            rows = pa.table([c.cast(pa.int8()) if n in booleans else c
                             for n, c in zip(names, rows.columns, strict=True)], names=names)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(rows, sink, options)
            loading(f"crmmigrate-piece-{next(numbers)}.csv", sink.getvalue(), rows.num_rows)
        yield send


@contextmanager
def _one_piece_behind(name: str, work: Callable[..., None]) -> Iterator[Callable[..., None]]:
    """`work` done on a thread of its own (`name`), a piece at a time, while the caller makes the
    next piece: each call waits for the piece before it (whose error it raises), then hands its
    own over; leaving waits for the last (the transaction around it must not end before). When
    the caller fails while a piece is under way, that piece is waited for first, and its own
    refusal is the error raised, as the earlier of the two: the database refusing piece N sends
    the source batch by batch, whatever went wrong making piece N+1. Ctrl-C (any error that is
    not an Exception) is the one raised, never taken for a piece's refusal; and no piece is
    left running on a connection being closed."""
    pending: list[Future] = []
    with ThreadPoolExecutor(1, thread_name_prefix=name) as thread:
        def hand_over(*piece: Any) -> None:
            if pending:
                pending.pop().result()
            pending.append(thread.submit(work, *piece))
        try:
            yield hand_over
        except Exception:
            while pending:
                refused = pending.pop().exception()
                if refused is not None:
                    raise refused  # the caller's error stays as its context
            raise
        except BaseException:
            with suppress(Exception):
                while pending:
                    pending.pop().result()
            raise
        while pending:
            pending.pop().result()


_piece_sender: list[bool] = []  # set once PyMySQL sends pieces through `_send_piece`


def _sending_pieces() -> bool:
    """PyMySQL made to send a LOAD DATA LOCAL piece from memory (`_send_piece`), once per
    process; False where this PyMySQL has no such hook (then there is no bulk path)."""
    if not _piece_sender:
        try:
            import pymysql.connections as driver
        except ImportError:
            return False
        original = getattr(driver, "_send_local_file", None)
        if original is None:
            _piece_sender.append(False)
            return False

        def _send_piece(filename: str, conn: Any) -> None:
            """What a server asking for a file is sent: on a connection of crmmigrate's bulk
            path, the piece its statement names and nothing else; on any other, what PyMySQL
            would send."""
            piece = getattr(conn, "_crmmigrate_piece", None)
            if not hasattr(conn, "_crmmigrate_piece"):
                original(filename, conn)
                return
            asked = filename.decode("utf-8", "replace") if isinstance(filename, bytes) else filename
            if piece is None or asked != piece[0]:
                raise driver.err.OperationalError(
                    2000, f"crmmigrate refused to send {asked!r}: not the piece its statement names")
            data = memoryview(piece[1])
            size = min(conn.max_allowed_packet, 16 * 1024)
            for start in range(0, len(data), size):
                conn.write_packet(bytes(data[start:start + size]))

        driver._send_local_file = _send_piece
        _piece_sender.append(True)
    return _piece_sender[0]


_STAGE = "crmmigrate_stage"  # the staging file's name while attached to a SQLite target


@contextmanager
def _sqlite_stage(path: Path) -> Iterator[Callable[[pa.Table], None]]:
    """A staging SQLite file that Arrow pieces go into through ADBC's ingest (a C loop, run by
    a thread, where sqlite3's executemany would make a Python object per value). Dates and
    times go as SQLAlchemy writes them."""
    import adbc_driver_sqlite.dbapi as adbc

    connection = adbc.connect(str(path))
    pieces = itertools.count()

    def ingest(rows: pa.Table, mode: str) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.adbc_ingest("staged", rows, mode=mode)
        except adbc.Error as exc:
            raise StagingFailed(str(exc)) from exc

    try:
        with _one_piece_behind("crmmigrate-stage", ingest) as staging:
            def send(rows: pa.Table) -> None:
                rows = pa.table([c.cast(pa.string()) if pa.types.is_temporal(c.type) else c for c in rows.columns],
                                names=rows.column_names)
                staging(rows, "append" if next(pieces) else "create")
            yield send
        connection.commit()
    finally:
        connection.close()
