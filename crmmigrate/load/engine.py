"""Load canonical datasets into the target schema: parents first, idempotent, batch by batch.

For each entity (in load order) and source, the rows already in the target are read once by
legacy id with their row hash, so every row is new (inserted; COPY on PostgreSQL), changed
(updated by id) or unchanged (not written: a rerun is a no-op). Each batch and its id_map
entries commit together; a batch the database refuses is retried row by row, so only the
refused rows are rejected, with the database's reason. Invalid values follow the design's
policy: an invalid key rejects the row; an invalid general value or a pointer to no record is
loaded empty and kept in `quarantine` with its reason.

A big first load (`bulk_rows` new records, more than the table holds) goes in bulk on
PostgreSQL and SQLite instead: one transaction for the source, the table's indexes dropped
and built again after its rows, records prepared piece by piece while the database takes the
previous piece. A kill leaves the table as it was; a refusal sends the source batch by batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate.connections import create_engine, guard_target
from crmmigrate.errors import CrmMigrateError, TooLong
from crmmigrate.load.dialects import StagingFailed, copy_csv, dialect_for, upsert
from crmmigrate.load.lock import target_lock
from crmmigrate.load.rows import Prepared, RowPreparer, arrow_text, die_with_parent, rejected_entries
from crmmigrate.load.schema import ID_MAP, build_metadata, init_target, source_name_problem, table_name
from crmmigrate.model import MODEL, Entity
from crmmigrate.passwords import mask_text, mask_url
from crmmigrate.validate.result import ValidationResult

BATCH_ROWS = 10_000
BULK_ROWS = 50_000  # new rows of a source from which it is loaded in bulk (indexes built after)
REJECT_COLUMNS = ("_source", "_file", "_row", "entity", "legacy_id", "reason")

# What other modules import from here (copy_csv and die_with_parent live in dialects and rows).
__all__ = ["BATCH_ROWS", "BULK_ROWS", "LEDGER_KEY", "LoadReport", "SourceLoad", "TargetUnreachable", "connect",
           "copy_csv", "die_with_parent", "load", "write_ledger"]


class TargetUnreachable(CrmMigrateError):
    """A target database that cannot be opened or written."""


def connect(url: str) -> sa.Engine:
    """An engine for the target; a SQLite file is created, other databases must exist."""
    try:
        # Custom fields and quarantined values are people's text: store it readable.
        engine = create_engine(url, json_serializer=lambda o: json.dumps(o, ensure_ascii=False))
        guard_target(engine, mask_url(url))
        with engine.connect():
            pass
        dialect_for(engine).set_up(engine)
    except sa.exc.ArgumentError as exc:
        raise TargetUnreachable(f"not a database URL: {exc}.", hint="e.g. sqlite:///crm.db") from None
    except (sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise TargetUnreachable(f"{mask_url(url)}: no driver for it ({exc}).") from None
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise TargetUnreachable(f"{mask_url(url)}: cannot connect: {mask_text(reason, url)}.") from None
    return engine


@dataclass
class SourceLoad:
    """What loading did to one source's records of one entity."""

    entity: str
    source: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    quarantined: int = 0  # values loaded empty and kept in quarantine

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class LoadReport:
    run_id: str
    target: str
    dry_run: bool
    sources: list[SourceLoad] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # entity -> why it was not loaded

    def rejects_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rejects, columns=list(REJECT_COLUMNS), dtype="str")


Progress = Callable[[str, int, int], None]  # entity, rows done, rows in all


def load(
    engine: sa.Engine,
    datasets: dict[str, pd.DataFrame],
    *,
    validation: ValidationResult,
    run_id: str,
    entities: list[str] | None = None,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    bulk_rows: int = BULK_ROWS,
    progress: Progress | None = None,
) -> LoadReport:
    """Load `entities` (default: every dataset) in load order into the target. A source with
    `bulk_rows` new records or more (0: never), more than its table holds, is loaded in bulk
    on PostgreSQL and SQLite: one transaction, the table's indexes built after its rows; the
    others batch by batch, `batch_rows` records per transaction. The target's lock is held
    throughout (a run holds it already): another run loading at once is refused, TargetBusy."""
    for frame in datasets.values():
        for source in frame["_source"].astype(str).unique():
            if problem := source_name_problem(source):
                raise TooLong(f"{problem}.", hint="Give the source a shorter name (--name).")
    init_target(engine)
    metadata = build_metadata()
    report = LoadReport(run_id, mask_url(engine.url), dry_run)
    wanted = [e for e in MODEL.load_order() if e in datasets and (entities is None or e in entities)]
    with target_lock(engine), engine.connect() as connection:
        outer = connection.begin() if dry_run else None
        for name in wanted:
            loader = _EntityLoader(connection, metadata, MODEL.entity(name), validation, run_id,
                                   batch_rows, bulk_rows, progress, nested=dry_run)
            loader.load(datasets[name], report)
        if outer is not None:
            outer.rollback()
        elif connection.in_transaction():
            connection.commit()
    return report


class _EntityLoader(RowPreparer):
    def __init__(self, connection: sa.Connection, metadata: sa.MetaData, entity: Entity,
                 validation: ValidationResult, run_id: str, batch_rows: int, bulk_rows: int,
                 progress: Progress | None, *, nested: bool) -> None:
        self.connection = connection
        self.entity = entity
        self.table = metadata.tables[table_name(entity.name)]
        self.id_map = metadata.tables[ID_MAP]
        self.validation = validation
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.bulk_rows = bulk_rows
        self.progress = progress
        self.nested = nested
        self.dialect = dialect_for(connection)
        self.columns = [c.name for c in self.table.columns if c.name != "id"]
        # COPY talks to the driver directly, so its errors come unwrapped by SQLAlchemy.
        self.refusals = (sa.exc.DBAPIError, connection.dialect.loaded_dbapi.Error)
        self.done = 0

    # -- writing ------------------------------------------------------------------------------

    def load(self, frame: pd.DataFrame, report: LoadReport) -> None:
        failures = self._failures
        pointers = self._pointer_maps()
        self.done = 0
        for source, part in frame.groupby("_source", sort=False):
            stats = SourceLoad(self.entity.name, str(source), rows=len(part))
            report.sources.append(stats)
            existing = self._existing(str(source))
            legacy = arrow_text(part["id"])
            repeats = self._repeats(part, legacy)
            if self._bulk(legacy, existing) and self._load_bulk(
                    str(source), part, failures, pointers, repeats, existing, stats, report, len(frame)):
                continue
            prepared = self._prepare(part, failures, pointers, repeats)
            rejected = prepared.rejected
            for item in rejected.to_dict("records"):
                report.rejects.append({**item, "entity": self.entity.name})
            with self._transaction():
                self._ledger(rejected_entries(rejected))
            stats.rejected += len(rejected)
            stats.quarantined = prepared.quarantined
            self._write_source(prepared, existing, stats, report, len(frame))
        self._self_pointers(frame)

    def _write_source(self, prepared: Prepared, existing: pa.Table, stats: SourceLoad, report: LoadReport,
                      total: int) -> None:
        """Split the records into new, changed and unchanged against the table, and write them
        batch by batch."""
        rows = prepared.rows
        new, changed, ids = _split(rows, existing)
        stats.unchanged += int((~new & ~changed).sum())
        for start in range(0, len(rows), self.batch_rows):
            stop = min(start + self.batch_rows, len(rows))
            self._batch(rows.slice(start, stop - start), prepared.origins.iloc[start:stop],
                        new[start:stop], changed[start:stop], ids[start:stop], stats, report)
            self._advance(stop - start, total)

    def _advance(self, rows: int, total: int) -> None:
        self.done += rows
        if self.progress:
            self.progress(self.entity.name, self.done, total)

    def _existing(self, source: str) -> pa.Table:
        """The source's rows already in the table: legacy_id, id, row_hash. A row whose id_map
        entry does not say it is loaded as that row (a later run rejected the record, a hand
        edit) has an empty hash: it counts as changed, so writing it writes its entry too."""
        schema = pa.schema([("legacy_id", pa.string()), ("id", pa.int64()), ("row_hash", pa.string())])
        t, m = self.table.c, self.id_map.c
        entry = sa.and_(m.entity == self.entity.name, m.source == t.legacy_source, m.legacy_id == t.legacy_id)
        ledgered = sa.case((sa.and_(m.status == "loaded", m.target_id == t.id), t.row_hash), else_=sa.literal(""))
        rows = self._fetch(sa.select(t.legacy_id, t.id, ledgered).select_from(self.table.outerjoin(self.id_map, entry))
                           .where(t.legacy_source == source))
        return pa.table([pa.array([r[i] for r in rows], t) for i, t in enumerate(schema.types)], schema=schema)

    def _fetch(self, query: sa.Select) -> list[tuple]:
        return self.dialect.fetch(self.connection, query)

    def _bulk(self, legacy: pa.Array, existing: pa.Table) -> bool:
        """Whether to load a source in bulk (`_load_bulk`): worth it once its new records number
        `bulk_rows` and outnumber the rows already in the table."""
        if not self.bulk_rows or not self.dialect.can_bulk(self.nested):
            return False
        legacy = pc.unique(legacy.drop_null())
        new = len(legacy) - int(pc.sum(pc.is_in(legacy, value_set=existing.column("legacy_id"))).as_py() or 0)
        if new < self.bulk_rows:
            return False
        total = self.connection.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
        return new >= total

    def _batch(self, rows: pa.Table, origins: pd.DataFrame, new: np.ndarray, changed: np.ndarray,
               ids: np.ndarray, stats: SourceLoad, report: LoadReport) -> None:
        try:
            with self._transaction():
                self._write(rows, new, changed, ids)
            stats.inserted += int(new.sum())
            stats.updated += int(changed.sum())
            return
        except self.refusals:
            pass
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
                reason = "database refused: " + _first_line(exc)
                stats.rejected += 1
                origin = origins.iloc[i]
                try:
                    with self._transaction():
                        self._ledger(pd.DataFrame({"source": [origin["_source"]], "legacy_id": [origin["legacy_id"]],
                                                   "target_id": [None], "status": ["rejected"], "reason": [reason]}))
                except self.refusals as ledger_exc:
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
            self._ledger(pd.DataFrame({
                "source": rows.column("legacy_source").filter(pa.array(written)).to_pandas(),
                "legacy_id": rows.column("legacy_id").filter(pa.array(written)).to_pandas(),
                "target_id": ids[written], "status": "loaded", "reason": None}))

    def _load_bulk(self, source: str, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict,
                   repeats: pd.Series, existing: pa.Table, stats: SourceLoad, report: LoadReport,
                   total: int) -> bool:
        """A big source in one transaction, the way the databases' manuals advise: the table's
        indexes (and PostgreSQL's foreign keys) are dropped, the records written with the ids
        the loader gives them, the indexes built again, the id_map entries written in one go.
        The records are prepared piece by piece while the previous piece is written: on
        PostgreSQL into one COPY, on SQLite into a staging file by ADBC's Arrow ingest, copied
        into the table by SQLite itself. False when the database refused something: nothing
        is kept, and the caller loads the source batch by batch to find the rows it refuses."""
        done = self.done
        try:
            streamed, rejected = self.dialect.bulk_write(
                self.connection, self.table, self.columns, self._transaction,
                lambda send, first: self._stream(frame, failures, pointers, repeats, existing, send, first, total),
                lambda dropped, streamed: self._finish_bulk(source, dropped, streamed))
        except (*self.refusals, StagingFailed):
            self.done = done
            return False
        for item in rejected.to_dict("records"):
            report.rejects.append({**item, "entity": self.entity.name})
        stats.rejected += len(rejected)
        stats.quarantined = sum(p.quarantined for p in streamed.pieces)
        stats.inserted += streamed.counts["new"]
        stats.updated += streamed.counts["changed"]
        stats.unchanged += streamed.counts["unchanged"]
        return True

    def _stream(self, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict, repeats: pd.Series,
                existing: pa.Table, send: Callable[[pa.Table], None], next_id: int, total: int) -> _Streamed:
        """Prepare the records piece by piece, send the new ones (with ids from `next_id`) and
        keep what the rest of the load needs: changed rows, id_map entries, counts."""
        streamed = _Streamed(next_id=next_id)
        for piece in self._pieces(frame, failures, pointers, repeats):
            streamed.pieces.append(piece)
            rows = piece.rows
            new, changed, ids = _split(rows, existing)
            ids[new] = np.arange(streamed.next_id, streamed.next_id + int(new.sum()), dtype=np.int64)
            streamed.next_id += int(new.sum())
            if new.any():
                send(rows.filter(pa.array(new)).add_column(0, "id", pa.array(ids[new], pa.int64())))
            if changed.any():
                streamed.changes.append((rows.filter(pa.array(changed)), ids[changed]))
            written = new | changed
            streamed.entries.append(pa.table({"legacy_id": rows.column("legacy_id").filter(pa.array(written)),
                                              "target_id": pa.array(ids[written], pa.int64())}))
            streamed.counts["new"] += int(new.sum())
            streamed.counts["changed"] += int(changed.sum())
            streamed.counts["unchanged"] += int((~written).sum())
            self._advance(len(piece.rows) + len(piece.rejected), total)
        return streamed

    def _finish_bulk(self, source: str, dropped: list[sa.Constraint], streamed: _Streamed) -> pd.DataFrame:
        """After the new rows: update the changed ones, build the indexes, write id_map;
        returns the rejected records."""
        for rows, ids in streamed.changes:
            self._update(rows, ids)
        self.dialect.build_indexes(self.connection, self.table, dropped)
        loaded = pa.concat_tables(streamed.entries)
        self._bulk_ledger(source, loaded)
        rejected = pd.concat([p.rejected for p in streamed.pieces], ignore_index=True)
        # A record rejected as a repeat shares its legacy id with the loaded one, which keeps
        # the id_map entry (as an upsert of both would leave it).
        repeat = pc.is_in(pa.array(rejected["legacy_id"], pa.string()),
                          value_set=loaded.column("legacy_id")).to_numpy(zero_copy_only=False)
        self._ledger(rejected_entries(rejected[~repeat]))
        return rejected

    def _bulk_ledger(self, source: str, loaded: pa.Table) -> None:
        """The loaded entries of a bulk load: COPYed into id_map when it holds nothing for the
        source but this run's own entries (its key built after them when they outnumber what
        id_map holds), upserted otherwise."""
        count = loaded.num_rows
        entries = pa.table({
            "entity": pa.repeat(pa.scalar(self.entity.name), count),
            "source": pa.repeat(pa.scalar(source), count),
            "legacy_id": loaded.column("legacy_id"),
            "target_id": loaded.column("target_id"),
            "status": pa.repeat(pa.scalar("loaded"), count),
            "reason": pa.nulls(count, pa.string()),
            "run_id": pa.repeat(pa.scalar(self.run_id), count),
        })
        if self.dialect.ledger_from_table(self.connection, self.table, self.entity.name, source, self.run_id,
                                          LEDGER_COLUMNS, _LEDGER_CHANGES):
            return
        if not self._clear_ledger(source, entries.column("legacy_id")):
            self._ledger(entries.drop_columns(["entity", "run_id"]).to_pandas())
            return
        key = next(c for c in self.id_map.constraints if isinstance(c, sa.PrimaryKeyConstraint))
        held = self.connection.execute(sa.select(sa.func.count()).select_from(self.id_map)).scalar_one()
        if count >= held:
            self.connection.execute(sa.schema.DropConstraint(key))
            copy_csv(self.connection.connection.driver_connection, ID_MAP, entries)
            self.connection.execute(sa.schema.AddConstraint(key))
        else:
            copy_csv(self.connection.connection.driver_connection, ID_MAP, entries.sort_by("legacy_id"))

    def _clear_ledger(self, source: str, legacy: pa.ChunkedArray) -> bool:
        """Whether id_map can take this source's entries as plain rows: it holds none for the
        source but this run's own (rows extract or validation rejected), which are dropped where
        the records are loaded after all (a repeated legacy id). Otherwise they are upserted."""
        held = self.connection.execute(
            sa.select(self.id_map.c.legacy_id, self.id_map.c.run_id).where(
                self.id_map.c.entity == self.entity.name, self.id_map.c.source == source)).all()
        if any(run != self.run_id for _, run in held):
            return False
        if not held:
            return True
        mine = pa.array([legacy_id for legacy_id, _ in held], pa.string())
        superseded = pc.filter(mine, pc.is_in(mine, value_set=pc.unique(legacy))).to_pylist()
        for start in range(0, len(superseded), 5000):
            self.connection.execute(self.id_map.delete().where(
                self.id_map.c.entity == self.entity.name, self.id_map.c.source == source,
                self.id_map.c.legacy_id.in_(superseded[start : start + 5000])))
        return True

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

    def _quoted(self, name: str) -> str:
        return self.dialect.quoted(self.connection, name)

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

    def _ids(self, legacy_ids: list[str], source: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(legacy_ids), 5000):
            chunk = legacy_ids[start : start + 5000]
            query = sa.select(self.table.c.legacy_id, self.table.c.id).where(
                self.table.c.legacy_source == source, self.table.c.legacy_id.in_(chunk))
            found.update(dict(self.connection.execute(query).all()))
        return found

    def _ledger(self, entries: pd.DataFrame) -> None:
        write_ledger(self.connection, self.id_map, self.entity.name, self.run_id, entries)

    def _self_pointers(self, frame: pd.DataFrame) -> None:
        """Second pass for a hierarchy (account.parent_id): every record has its id now."""
        fields = [f for f in self.entity.pointers if f.target == self.entity.name]
        if not fields:
            return
        ids = dict(self.connection.execute(
            sa.select(self.id_map.c.legacy_id, self.id_map.c.target_id).where(
                self.id_map.c.entity == self.entity.name, self.id_map.c.status == "loaded")).all())
        failures = self._failures
        where = frame["_file"].astype(str) + "\x1f" + frame["_row"].astype(str)
        for f in fields:
            bad = set(failures.loc[failures["field"] == f.name, "_file"] + "\x1f"
                      + failures.loc[failures["field"] == f.name, "_row"])
            child = pd.Series(arrow_text(frame["id"]).to_pandas(), dtype=object).map(ids)
            parent = pd.Series(arrow_text(frame[f.name]).to_pandas(), dtype=object).map(ids)
            ok = child.notna() & parent.notna() & ~where.isin(bad)
            updates = [{"_id": int(c), "_parent": int(p)} for c, p in zip(child[ok], parent[ok], strict=True)]
            if updates:
                with self._transaction():
                    self.connection.execute(
                        self.table.update().where(self.table.c.id == sa.bindparam("_id"))
                        .values({f.name: sa.bindparam("_parent")}), updates)


@dataclass
class _Streamed:
    """What streaming a bulk load's records left for the rest of it."""

    next_id: int
    pieces: list[Prepared] = field(default_factory=list)
    entries: list[pa.Table] = field(default_factory=list)  # legacy_id, target_id of rows written
    changes: list[tuple[pa.Table, np.ndarray]] = field(default_factory=list)  # changed rows, their ids
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0})


LEDGER_COLUMNS = ("entity", "source", "legacy_id", "target_id", "status", "reason", "run_id")
LEDGER_KEY = ("entity", "source", "legacy_id")
_LEDGER_CHANGES = ("target_id", "status", "reason", "run_id")


def write_ledger(connection: sa.Connection, id_map: sa.Table, entity: str, run_id: str,
                 entries: pd.DataFrame | list[dict]) -> None:
    """Record where records ended: upsert their id_map entries (source, legacy_id, target_id,
    status, reason) by (entity, source, legacy id)."""
    entries = pd.DataFrame(entries, columns=["source", "legacy_id", "target_id", "status", "reason"])
    if entries.empty:
        return
    # A legacy id its source repeats has one entry: an upsert may not touch a key twice.
    entries = entries.drop_duplicates(["source", "legacy_id"], keep="last")
    rows = pa.table({
        "entity": pa.array([entity] * len(entries), pa.string()),
        "source": pa.array(entries["source"].astype(str), pa.string()),
        "legacy_id": pa.array(entries["legacy_id"].astype(str), pa.string()),
        "target_id": pa.array(pd.array(entries["target_id"], dtype="Int64"), pa.int64(), from_pandas=True),
        "status": pa.array(entries["status"].astype(str), pa.string()),
        "reason": pa.array(entries["reason"].astype(object).where(entries["reason"].notna(), None), pa.string()),
        "run_id": pa.array([run_id] * len(entries), pa.string()),
    })
    upsert(connection, id_map, rows, LEDGER_KEY)


def _split(rows: pa.Table, existing: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


