"""Load canonical datasets into the target schema: parents first, idempotent, batch by batch.

For each entity (in load order) and source, the rows already in the target are read once by
legacy id with their row hash, so every row is new (inserted; COPY on PostgreSQL), changed
(updated by id) or unchanged (not written: a rerun is a no-op). Each batch and its id_map
entries commit together; a batch the database refuses is retried row by row, so only the
refused rows are rejected, with the database's reason. Invalid values follow the design's
policy: an invalid key rejects the row; an invalid general value or a pointer to no record is
loaded empty and kept in `quarantine` with its reason.

A big first load (`bulk_rows` new records, more than the table holds) goes in bulk on
PostgreSQL, SQLite and MariaDB instead: one transaction for the source (on PostgreSQL and
SQLite the table's indexes dropped and built again after its rows), records prepared piece by
piece while the database takes the previous piece. A kill leaves the table as it was; a
refusal sends the source batch by batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from crmmigrate import parallel
from crmmigrate.connections import create_engine, guard_target
from crmmigrate.errors import CrmMigrateError, TooLong
from crmmigrate.load.batch import BatchLoader
from crmmigrate.load.bulk import BulkLoader
from crmmigrate.load.dialects import copy_csv, dialect_for
from crmmigrate.load.id_map import IdMap
from crmmigrate.load.lock import target_lock
from crmmigrate.load.rows import RowPreparer, arrow_text, rejected_entries
from crmmigrate.load.schema import ID_MAP, build_metadata, init_target, source_name_problem, table_name
from crmmigrate.model import MODEL, Entity
from crmmigrate.passwords import mask_text, mask_url
from crmmigrate.progress import Progress
from crmmigrate.validate.result import ValidationResult

BATCH_ROWS = 10_000
BULK_ROWS = 50_000  # new rows of a source from which it is loaded in bulk (indexes built after)
REJECT_COLUMNS = ("_source", "_file", "_row", "entity", "legacy_id", "reason")

# What other modules import from here (copy_csv lives in dialects).
__all__ = ["BATCH_ROWS", "BULK_ROWS", "LoadReport", "SourceLoad", "TargetUnreachable", "connect", "copy_csv",
           "load"]


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


def one_database_per_thread(engine: sa.Engine) -> bool:
    """Whether `engine` is an in-memory SQLite database: a connection per thread, each its own
    empty database, so that what is done with it stays on one thread."""
    return isinstance(engine.pool, sa.pool.SingletonThreadPool)


def side_by_side(engine: sa.Engine, *, held: bool) -> bool:
    """Whether reads of the target may run side by side, each on a connection of its own, one
    per core: the caller holds the target's lock (`held`: a run, after its load), so no one
    writes to it while they read, and its connections share one database. Else they run one
    after another, in one read transaction."""
    return held and not one_database_per_thread(engine) and parallel.cores() > 1


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
    on PostgreSQL, SQLite and MariaDB: one transaction (the table's indexes built after its rows
    but on MariaDB); the others batch by batch, `batch_rows` records per transaction. The target's lock is held
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
            if progress is not None:  # the rows it refused count as through too
                progress("load", name, len(datasets[name]), len(datasets[name]))
        if outer is not None:
            outer.rollback()
        elif connection.in_transaction():
            connection.commit()
    return report


class _EntityLoader(RowPreparer, BulkLoader, BatchLoader):
    def __init__(self, connection: sa.Connection, metadata: sa.MetaData, entity: Entity,
                 validation: ValidationResult, run_id: str, batch_rows: int, bulk_rows: int,
                 progress: Progress | None, *, nested: bool) -> None:
        self.connection = connection
        self.entity = entity
        self.table = metadata.tables[table_name(entity.name)]
        self.validation = validation
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.bulk_rows = bulk_rows
        self.progress = progress
        self.nested = nested
        self.dialect = dialect_for(connection)
        self.ledger = IdMap(connection, metadata.tables[ID_MAP], entity.name, run_id, self.dialect)
        self.columns = [c.name for c in self.table.columns if c.name != "id"]
        # COPY talks to the driver directly, so its errors come unwrapped by SQLAlchemy.
        self.refusals = (sa.exc.DBAPIError, connection.dialect.loaded_dbapi.Error)
        self.done = 0

    def load(self, frame: pd.DataFrame, report: LoadReport) -> None:
        failures = self._failures
        pointers = self._pointer_maps()
        self.done = 0
        for source, part in frame.groupby("_source", sort=False):
            stats = SourceLoad(self.entity.name, str(source), rows=len(part))
            report.sources.append(stats)
            existing = self.ledger.existing(self.table, str(source))
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
                self.ledger.write(rejected_entries(rejected))
            stats.rejected += len(rejected)
            stats.quarantined = prepared.quarantined
            self._write_source(prepared, existing, stats, report, len(frame))
        self._self_pointers(frame)

    def _advance(self, rows: int, total: int) -> None:
        self.done += rows
        if self.progress:
            self.progress("load", self.entity.name, self.done, total)

    def _self_pointers(self, frame: pd.DataFrame) -> None:
        """Second pass for a hierarchy (account.parent_id): every record has its id now."""
        fields = [f for f in self.entity.pointers if f.target == self.entity.name]
        if not fields:
            return
        ids = self.ledger.loaded_ids()
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


