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
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate import parallel
from crmmigrate.connections import create_engine, guard_target
from crmmigrate.errors import CrmMigrateError, TooLong
from crmmigrate.load.dialects import StagingFailed, copy_csv, dialect_for, upsert
from crmmigrate.load.lock import target_lock
from crmmigrate.load.schema import (
    ID_MAP,
    build_metadata,
    init_target,
    source_name_problem,
    table_name,
    too_long_id_reason,
    too_long_ids,
)
from crmmigrate.model import ANY_ENTITY, MODEL, Entity, FieldClass, FieldType
from crmmigrate.passwords import mask_text, mask_url
from crmmigrate.validate.result import ValidationResult

BATCH_ROWS = 10_000
BULK_ROWS = 50_000  # new rows of a source from which it is loaded in bulk (indexes built after)
BULK_PIECE_ROWS = 100_000  # records prepared at a time while the database takes the ones before
PIECES_AHEAD = 3  # pieces the forked preparers may have ready before they are written
PREPARERS = 2  # forked processes preparing pieces (on a machine with more than one core)
REJECT_COLUMNS = ("_source", "_file", "_row", "entity", "legacy_id", "reason")


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


@dataclass
class _Prepared:
    """One source's records ready for the table: `rows` in the table's column order (no `id`),
    `origins` aligned with them, and the records rejected by policy."""

    rows: pa.Table
    origins: pd.DataFrame  # _source, _file, _row, legacy_id
    rejected: pd.DataFrame  # the same plus reason
    quarantined: int


class _EntityLoader:
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

    # -- preparing rows, column by column (a cutover moves millions of them) ------------------

    @cached_property
    def _failures(self) -> pd.DataFrame:
        """This entity's failing values: _file, _row, field, reason (the last reason per value),
        read once per loader."""
        found = self.validation.failures
        mine = found.loc[found["entity"] == self.entity.name, ["_file", "_row", "field", "reason"]]
        mine = mine.astype(str)
        return mine.drop_duplicates(["_file", "_row", "field"], keep="last")

    def _pointer_maps(self) -> dict[str, tuple[pa.Array, pa.Array]]:
        """Per target entity: its legacy ids and their target ids (null when two sources share
        the legacy id, so a pointer to it is ambiguous)."""
        maps: dict[str, tuple[pa.Array, pa.Array]] = {}
        targets = {f.target for f in self.entity.pointers if f.target != ANY_ENTITY}
        if any(f.target == ANY_ENTITY for f in self.entity.pointers):
            targets |= set(MODEL.names)
        m = self.id_map.c
        for target in sorted(targets):
            rows = self._fetch(
                sa.select(m.legacy_id, sa.case((sa.func.count(sa.distinct(m.target_id)) == 1, sa.func.min(m.target_id))))
                .where(m.entity == target, m.target_id.is_not(None), m.status.in_(("loaded", "merged")))
                .group_by(m.legacy_id))
            maps[target] = (pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.int64()))
        return maps

    def _repeats(self, frame: pd.DataFrame, ids: pa.Array) -> pd.Series:
        """Per record of a source, why it is rejected as a repeat of an earlier legacy id (or
        None); `ids` are its legacy ids as `_arrow_text` gives them."""
        reasons = pd.Series(None, index=frame.index, dtype=object)
        if pc.count_distinct(ids).as_py() == len(ids) - ids.null_count:
            return reasons  # the usual case: no legacy id repeats
        legacy = pd.Series(ids.to_pandas(), dtype=object, index=frame.index)
        repeated = legacy.notna() & legacy.duplicated(keep="first")
        if repeated.any():
            first = frame["_row"].astype(str).groupby(legacy).transform("first")
            reasons[repeated] = "id: legacy id repeated (first at row " + first[repeated] + ")"
        return reasons

    def _prepare(self, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict,
                 repeats: pd.Series) -> _Prepared:
        """`repeats`: `_repeats` of the whole source, aligned with `frame` (a piece of it)."""
        frame = frame.reset_index(drop=True)
        count = len(frame)
        where = frame["_file"].astype(str) + "\x1f" + frame["_row"].astype(str)
        failing = failures.assign(at=pd.Index(where).get_indexer(failures["_file"] + "\x1f" + failures["_row"]))
        failing = failing[failing["at"] >= 0]
        # One key per record in id_map, whatever happens to it: legacy ids without padding.
        legacy = _arrow_text(frame["id"])
        legacy_list = pd.Series(legacy.to_pandas(), dtype=object)
        origins = pd.DataFrame({"_source": frame["_source"].astype(str), "_file": frame["_file"].astype(str),
                                "_row": frame["_row"].astype(str), "legacy_id": legacy_list})
        reasons = pd.Series(None, index=frame.index, dtype=object)
        keys = failing[failing["field"].isin([f.name for f in self.entity.fields if f.cls is FieldClass.KEY])]
        if len(keys):
            joined = (keys["field"] + ": " + keys["reason"]).groupby(keys["at"]).agg("; ".join)
            reasons[joined.index] = joined
        reasons = reasons.where(reasons.notna(), repeats.reset_index(drop=True))
        unfit = too_long_ids(frame["id"])
        if unfit.any():  # rejected, and keyed in id_map by its row: the id does not fit there
            reasons[unfit] = [too_long_id_reason(str(i)) for i in frame.loc[unfit, "id"]]
            origins.loc[unfit, "legacy_id"] = None

        quarantine: dict[int, list[dict]] = {}
        columns: dict[str, pa.Array] = {}
        unloadable: dict[int, list[str]] = {}  # per row, the required fields it has no value for
        for f in self.entity.fields:
            if f.name == "id":
                continue
            bad = failing[failing["field"] == f.name]
            values = _arrow_text(frame[f.name])
            if len(bad):
                at = bad["at"].to_numpy()
                originals = frame[f.name].iloc[at].astype(object).tolist()
                for i, value, reason in zip(at.tolist(), originals, bad["reason"].tolist(), strict=True):
                    quarantine.setdefault(i, []).append({"field": f.name, "value": _text(value), "reason": reason})
                invalid = np.zeros(count, dtype=bool)
                invalid[at] = True
                values = pc.if_else(pa.array(invalid), pa.scalar(None, pa.string()), values)
            if f.is_pointer:
                columns[f.name] = self._resolve(f, values, frame, pointers, quarantine)
            else:
                columns[f.name] = _typed(f.type, values)
            if f.required and not f.is_pointer and columns[f.name].null_count:
                for i in np.flatnonzero(columns[f.name].is_null().to_numpy(zero_copy_only=False)).tolist():
                    unloadable.setdefault(i, []).append(f.name)
        for i, names in unloadable.items():
            if pd.isna(reasons.iat[i]):
                reasons.iat[i] = _required_reason(names, quarantine.get(i, []))

        custom = _arrow_text(frame["_custom"])
        quarantine_text = [None] * count
        for i, entries in quarantine.items():
            quarantine_text[i] = json.dumps(entries, ensure_ascii=False)
        # What the row says, resolved pointers included: a rerun writes only rows whose hash moved.
        said = [pc.fill_null(columns[f.name].cast(pa.string()) if f.name != "id" else legacy, "\x00")
                for f in self.entity.fields] + [pc.fill_null(custom, "\x00")]
        joined = pc.binary_join_element_wise(*said, "\x1f")
        digests = pd.util.hash_array(joined.to_numpy(zero_copy_only=False), categorize=False)
        table = pa.table({
            "legacy_source": pa.array(origins["_source"], type=pa.string()),
            "legacy_id": legacy,
            **columns,
            "custom": custom,
            "quarantine": pa.array(quarantine_text, type=pa.string()),
            "row_hash": pa.array(digests, pa.uint64()).cast(pa.string()),
            "run_id": pa.array([self.run_id] * count, type=pa.string()),
        }).select(self.columns)
        kept = reasons.isna().to_numpy()
        rejected = origins[~kept].assign(reason=reasons[~kept])
        return _Prepared(table.filter(pa.array(kept)), origins[kept].reset_index(drop=True),
                         rejected.reset_index(drop=True),
                         sum(len(q) for i, q in quarantine.items() if kept[i]))

    def _resolve(self, f, values: pa.Array, frame: pd.DataFrame, pointers: dict,
                 quarantine: dict[int, list[dict]]) -> pa.Array:
        """Legacy pointer values as target ids; a value that leads nowhere is quarantined.
        A pointer into the entity itself is set in a second pass, once every record has an id."""
        if f.target == self.entity.name:
            return pa.nulls(len(values), pa.int64())
        if f.target == ANY_ENTITY:
            targets = _arrow_text(frame[f.target_from])
            found = pa.nulls(len(values), pa.int64())
            for target in pc.unique(targets).to_pylist():
                if target is not None:
                    mine = pc.equal(targets, target)
                    found = pc.if_else(mine, _lookup(values, pointers.get(target)), found)
            kinds = targets.to_pylist()
        else:
            found = _lookup(values, pointers.get(f.target))
            kinds = None
        lost = np.flatnonzero(pc.and_(values.is_valid(), found.is_null()).to_numpy(zero_copy_only=False))
        originals = frame[f.name].iloc[lost].astype(object).tolist()
        for i, value in zip(lost.tolist(), originals, strict=True):
            target = kinds[i] if kinds is not None else f.target
            quarantine.setdefault(i, []).append({"field": f.name, "value": _text(value),
                                                 "reason": f"points to no loaded {target} (or to several)"})
        return found

    # -- writing ------------------------------------------------------------------------------

    def load(self, frame: pd.DataFrame, report: LoadReport) -> None:
        failures = self._failures
        pointers = self._pointer_maps()
        self.done = 0
        for source, part in frame.groupby("_source", sort=False):
            stats = SourceLoad(self.entity.name, str(source), rows=len(part))
            report.sources.append(stats)
            existing = self._existing(str(source))
            legacy = _arrow_text(part["id"])
            repeats = self._repeats(part, legacy)
            if self._bulk(legacy, existing) and self._load_bulk(
                    str(source), part, failures, pointers, repeats, existing, stats, report, len(frame)):
                continue
            prepared = self._prepare(part, failures, pointers, repeats)
            rejected = prepared.rejected
            for item in rejected.to_dict("records"):
                report.rejects.append({**item, "entity": self.entity.name})
            with self._transaction():
                self._ledger(_rejected_entries(rejected))
            stats.rejected += len(rejected)
            stats.quarantined = prepared.quarantined
            self._write_source(prepared, existing, stats, report, len(frame))
        self._self_pointers(frame)

    def _write_source(self, prepared: _Prepared, existing: pa.Table, stats: SourceLoad, report: LoadReport,
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
        self._ledger(_rejected_entries(rejected[~repeat]))
        return rejected

    def _pieces(self, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict,
                repeats: pd.Series) -> Iterator[_Prepared]:
        """A source's records prepared BULK_PIECE_ROWS at a time. With more than one core, a
        forked process prepares them while this one writes (both would hold Python's GIL):
        it inherits the records, and sends back each piece as Arrow and pandas columns."""
        starts = range(0, len(frame), BULK_PIECE_ROWS)
        if len(starts) < 2 or parallel.cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
            for start in starts:
                yield self._prepare(frame.iloc[start : start + BULK_PIECE_ROWS], failures, pointers,
                                    repeats.iloc[start : start + BULK_PIECE_ROWS])
            return
        global _FORKED
        _FORKED = (self, frame, failures, pointers, repeats)
        try:
            with ProcessPoolExecutor(PREPARERS, mp_context=multiprocessing.get_context("fork"),
                                     initializer=die_with_parent, initargs=(os.getpid(),)) as preparer:
                ahead = deque(preparer.submit(_prepare_forked, start) for start in starts[:PIECES_AHEAD])
                for start in starts[PIECES_AHEAD:]:
                    piece = ahead.popleft().result()
                    ahead.append(preparer.submit(_prepare_forked, start))
                    yield piece
                while ahead:
                    yield ahead.popleft().result()
        finally:
            _FORKED = None

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
            child = pd.Series(_arrow_text(frame["id"]).to_pandas(), dtype=object).map(ids)
            parent = pd.Series(_arrow_text(frame[f.name]).to_pandas(), dtype=object).map(ids)
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
    pieces: list[_Prepared] = field(default_factory=list)
    entries: list[pa.Table] = field(default_factory=list)  # legacy_id, target_id of rows written
    changes: list[tuple[pa.Table, np.ndarray]] = field(default_factory=list)  # changed rows, their ids
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0})


# What a forked preparer inherits: the loader, the source's records, its failures, the pointer
# maps, the repeats (set just before the fork, so nothing is pickled on the way there).
_FORKED: tuple[_EntityLoader, pd.DataFrame, pd.DataFrame, dict, pd.Series] | None = None


def die_with_parent(parent: int) -> None:
    """A forked preparer ends with the run that forked it: a pool's workers outlive a parent
    killed with SIGKILL, and would keep its database connections (a bulk load's open
    transaction, the target's lock) alive for ever."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # killed before that
        os._exit(1)


def _prepare_forked(start: int) -> _Prepared:
    loader, frame, failures, pointers, repeats = _FORKED  # type: ignore[misc]
    return loader._prepare(frame.iloc[start : start + BULK_PIECE_ROWS], failures, pointers,
                           repeats.iloc[start : start + BULK_PIECE_ROWS])


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


def _rejected_entries(rejected: pd.DataFrame) -> pd.DataFrame:
    """id_map entries of rejected records (a record with no legacy id is keyed by its row)."""
    return pd.DataFrame({"source": rejected["_source"],
                         "legacy_id": rejected["legacy_id"].fillna("row " + rejected["_row"]),
                         "target_id": None, "status": "rejected", "reason": rejected["reason"]})


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _required_reason(names: list[str], quarantined: list[dict]) -> str:
    """Why a row lacking required fields `names` is rejected: a value that was there but
    invalid is named with its reason (it was not empty); the others are empty."""
    invalid = {q["field"]: q for q in reversed(quarantined) if q["value"] is not None and str(q["value"]).strip()}
    empty = [n for n in names if n not in invalid]
    said = [f"required field {n} invalid, {invalid[n]['value']!r}: {invalid[n]['reason']}"
            for n in names if n in invalid]
    if empty:
        said.append(f"required field(s) {', '.join(empty)} empty")
    return "; ".join(said)


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _arrow_text(column: pd.Series) -> pa.Array:
    """Text stripped of padding, blanks as nulls, as one Arrow string array."""
    values = pa.array(column.astype("str"), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.string())
    # Unicode-aware trimming costs four times the ASCII one: only for columns that need it.
    ascii_only = pc.all(pc.string_is_ascii(values)).as_py() is not False
    values = pc.ascii_trim_whitespace(values) if ascii_only else pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _lookup(values: pa.Array, mapping: tuple[pa.Array, pa.Array] | None) -> pa.Array:
    """Legacy ids as target ids through `mapping` (legacy ids, their target ids); null where
    there is none."""
    if mapping is None:
        return pa.nulls(len(values), pa.int64())
    keys, ids = mapping
    return ids.take(pc.index_in(values, value_set=keys))


def _typed(kind: FieldType, text: pa.Array) -> pa.Array:
    """Canonical text values (validated already) as the Arrow type of their column."""
    if kind in (FieldType.DATE, FieldType.DATETIME):
        moments = pd.to_datetime(text.to_pandas(), errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
        stamps = pa.array(moments, type=pa.timestamp("us"), from_pandas=True)
        return stamps.cast(pa.date32()) if kind is FieldType.DATE else stamps
    if kind is FieldType.INTEGER:
        distinct = pc.unique(text).drop_null()
        whole = pa.array([int(Decimal(v)) for v in distinct.to_pylist()], pa.int64())
        return whole.take(pc.index_in(text, value_set=distinct))
    if kind is FieldType.BOOLEAN:
        return pc.equal(text, "true")
    return text  # decimals too: the database reads their canonical text exactly
