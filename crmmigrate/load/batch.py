"""The batch path of a load: a source's records written `batch_rows` at a time, each batch with
its id_map entries in one transaction; a batch the database refuses is written again row by row,
so only the refused rows are rejected, with the database's reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate.load.dialects import Dialect, copy_csv
from crmmigrate.load.rows import Prepared
from crmmigrate.model import Entity

if TYPE_CHECKING:
    from crmmigrate.load.engine import LoadReport, SourceLoad


class BatchLoader:
    """The loader's batch path (a part of `engine._EntityLoader`, whose attributes below it
    reads and whose `_advance` and `ledger` (its IdMap) it calls)."""

    connection: sa.Connection
    table: sa.Table
    dialect: Dialect
    entity: Entity
    batch_rows: int
    nested: bool
    refusals: tuple[type[Exception], ...]

    def _write_source(self, prepared: Prepared, existing: pa.Table, stats: SourceLoad, report: LoadReport,
                      total: int) -> None:
        """Split the records into new, changed and unchanged against the table, and write them
        batch by batch."""
        rows = prepared.rows
        new, changed, ids = split(rows, existing)
        stats.unchanged += int((~new & ~changed).sum())
        for start in range(0, len(rows), self.batch_rows):
            stop = min(start + self.batch_rows, len(rows))
            self._batch(rows.slice(start, stop - start), prepared.origins.iloc[start:stop],
                        new[start:stop], changed[start:stop], ids[start:stop], stats, report)
            self._advance(stop - start, total)

    def _batch(self, rows: pa.Table, origins: pd.DataFrame, new: np.ndarray, changed: np.ndarray,
               ids: np.ndarray, stats: SourceLoad, report: LoadReport) -> None:
        try:
            with self._transaction():
                self._write(rows, new, changed, ids)
            stats.inserted += int(new.sum())
            stats.updated += int(changed.sum())
            return
        except self.refusals as refused:
            not_interrupted(refused)
        # Find the rows the database refuses; save every other one.
        for i in np.flatnonzero(new | changed):
            one = np.zeros(len(rows), dtype=bool)
            one[i] = True
            try:
                with self._transaction():
                    self._write(rows, new & one, changed & one, ids, row_by_row=True)
                if new[i]:
                    stats.inserted += 1
                else:
                    stats.updated += 1
            except self.refusals as exc:
                not_interrupted(exc)
                reason = "database refused: " + _first_line(exc)
                stats.rejected += 1
                origin = origins.iloc[i]
                try:
                    with self._transaction():
                        self.ledger.write(pd.DataFrame({"source": [origin["_source"]], "legacy_id": [origin["legacy_id"]],
                                                   "target_id": [None], "status": ["rejected"], "reason": [reason]}))
                except self.refusals as ledger_exc:
                    not_interrupted(ledger_exc)
                    # The value the database refused may not fit id_map either; the
                    # reject file still has the row, and says so.
                    reason += "; not recorded in id_map: " + _first_line(ledger_exc)
                report.rejects.append({**origin.to_dict(), "entity": self.entity.name, "reason": reason})

    def _transaction(self):
        """A batch's transaction; within a dry run, a savepoint of the run's one transaction.
        SQLAlchemy begins a transaction on the first read: end it before a batch begins."""
        if self.nested:
            return self.connection.begin_nested()
        if self.connection.in_transaction():
            self.connection.commit()
        return self.connection.begin()

    def _write(self, rows: pa.Table, new: np.ndarray, changed: np.ndarray, ids: np.ndarray, *,
               row_by_row: bool = False) -> None:
        """Insert the new rows and update the changed ones of a batch, and record them in id_map."""
        if new.any():
            inserted = rows.filter(pa.array(new))
            fresh = self.dialect.reserve_ids(self.connection, self.table, len(inserted), row_by_row=row_by_row)
            if fresh is not None:
                numbered = inserted.add_column(0, "id", pa.array(fresh, pa.int64()))
                if self.dialect.copies(row_by_row):
                    copy_csv(self.connection.connection.driver_connection, self.table.name, numbered)
                else:
                    self._insert(numbered)
            else:
                self._insert(inserted)
                found = self._ids(inserted.column("legacy_id").to_pylist(), inserted.column("legacy_source")[0].as_py())
                fresh = np.array([found[v] for v in inserted.column("legacy_id").to_pylist()], dtype=np.int64)
            ids[new] = fresh
        if changed.any():
            self._update(rows.filter(pa.array(changed)), ids[changed])
        written = new | changed
        if written.any():
            self.ledger.write(pd.DataFrame({
                "source": rows.column("legacy_source").filter(pa.array(written)).to_pandas(),
                "legacy_id": rows.column("legacy_id").filter(pa.array(written)).to_pandas(),
                "target_id": ids[written], "status": "loaded", "reason": None}))

    def _parameters(self, rows: pa.Table) -> list[tuple]:
        """Rows as tuples of what the driver takes, converted by SQLAlchemy's own column types
        (JSON columns are JSON text already). SQLite's dates are written by Arrow in
        SQLAlchemy's format; text goes as it is."""
        dialect = self.connection.dialect
        columns = []
        for name in rows.column_names:
            values = rows.column(name)
            if self.dialect.temporal_as_text and pa.types.is_temporal(values.type):
                values = values.cast(pa.string())  # "2020-01-02", "2020-01-02 03:04:05.000000"
            process = None if name in ("custom", "quarantine") or pa.types.is_string(values.type) else \
                self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process:
                columns.append([process(v) if v is not None else None for v in values.to_pylist()])
            elif pa.types.is_string(values.type):
                columns.append(values.to_numpy(zero_copy_only=False))
            else:
                columns.append(values.to_pylist())
        return list(zip(*columns, strict=True))

    def _insert(self, rows: pa.Table) -> None:
        names = ", ".join(self._quoted(c) for c in rows.column_names)
        self.connection.exec_driver_sql(
            f"INSERT INTO {self._quoted(self.table.name)} ({names}) VALUES ({self.dialect.placeholders(self.connection, rows.num_columns)})",
            self._parameters(rows))

    def _update(self, rows: pa.Table, ids: np.ndarray) -> None:
        mark = self.dialect.mark(self.connection)
        sets = ", ".join(f"{self._quoted(c)} = {mark}" for c in rows.column_names)
        self.connection.exec_driver_sql(
            f"UPDATE {self._quoted(self.table.name)} SET {sets} WHERE id = {mark}",
            [(*r, int(i)) for r, i in zip(self._parameters(rows), ids, strict=True)])

    def _quoted(self, name: str) -> str:
        return self.dialect.quoted(self.connection, name)

    def _ids(self, legacy_ids: list[str], source: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(legacy_ids), 5000):
            chunk = legacy_ids[start : start + 5000]
            query = sa.select(self.table.c.legacy_id, self.table.c.id).where(
                self.table.c.legacy_source == source, self.table.c.legacy_id.in_(chunk))
            found.update(dict(self.connection.execute(query).all()))
        return found


def split(rows: pa.Table, existing: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which prepared rows are new and which changed against the table's (legacy_id, id,
    row_hash), and the target ids of those already there (0 for new ones)."""
    at = pc.index_in(rows.column("legacy_id"), value_set=existing.column("legacy_id"))
    new = at.is_null()
    changed = pc.and_(pc.invert(new), pc.not_equal(existing.column("row_hash").take(at), rows.column("row_hash")))
    ids = pc.fill_null(existing.column("id").take(at), 0)
    return (new.to_numpy(zero_copy_only=False), pc.fill_null(changed, False).to_numpy(zero_copy_only=False),
            ids.to_numpy(zero_copy_only=False).copy())


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def not_interrupted(refused: BaseException) -> None:
    """A refusal of the database, unless it was raised while a Ctrl-C (KeyboardInterrupt) or an
    exit was under way: then that is raised instead. Ctrl-C in a statement makes SQLAlchemy close
    the connection, and the clean-up after it (a rollback, a detach) fails on the closed
    connection with a driver error, which would be taken for a refusal of the rows: the load
    would go on batch by batch, or row by row, and Ctrl-C be ignored."""
    seen: set[int] = set()
    cause = refused.__context__
    while cause is not None and id(cause) not in seen:
        if not isinstance(cause, Exception):
            raise cause from None
        seen.add(id(cause))
        cause = cause.__context__
