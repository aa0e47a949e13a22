"""Load canonical datasets into the target schema: parents first, idempotent, batch by batch.

For each entity (in load order) and source, the rows already in the target are read once by
legacy id with their row hash, so every row is new (inserted; COPY on PostgreSQL), changed
(updated by id) or unchanged (not written: a rerun is a no-op). Each batch and its id_map
entries commit together; a batch the database refuses is retried row by row, so only the
refused rows are rejected, with the database's reason. Invalid values follow the design's
policy: an invalid key rejects the row; an invalid general value or a pointer to no record is
loaded empty and kept in `quarantine` with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crmmigrate.errors import CrmMigrateError
from crmmigrate.load.schema import ID_MAP, build_metadata, init_target, table_name
from crmmigrate.model import ANY_ENTITY, MODEL, Entity, FieldClass, FieldType
from crmmigrate.validate.result import ValidationResult

BATCH_ROWS = 10_000
REJECT_COLUMNS = ("_source", "_file", "_row", "entity", "legacy_id", "reason")


class TargetUnreachable(CrmMigrateError):
    """A target database that cannot be opened or written."""


def masked(url: str | sa.URL) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def connect(url: str) -> sa.Engine:
    """An engine for the target; a SQLite file is created, other databases must exist."""
    try:
        # Custom fields and quarantined values are people's text: store it readable.
        engine = sa.create_engine(url, json_serializer=lambda o: json.dumps(o, ensure_ascii=False))
        with engine.connect():
            pass
        if engine.dialect.name == "sqlite":
            _sqlite_transactions(engine)
    except sa.exc.ArgumentError as exc:
        raise TargetUnreachable(f"not a database URL: {exc}.", hint="e.g. sqlite:///crm.db") from None
    except (sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise TargetUnreachable(f"{masked(url)}: no driver for it ({exc}).") from None
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise TargetUnreachable(f"{masked(url)}: cannot connect: {reason}.") from None
    return engine


def _sqlite_transactions(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not Python's sqlite3 module, begin transactions: otherwise savepoints
    (batches inside a dry run) do not work (SQLAlchemy's documented pysqlite recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN")


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
    progress: Progress | None = None,
) -> LoadReport:
    """Load `entities` (default: every dataset) in load order into the target."""
    init_target(engine)
    metadata = build_metadata()
    report = LoadReport(run_id, masked(engine.url), dry_run)
    wanted = [e for e in MODEL.load_order() if e in datasets and (entities is None or e in entities)]
    with engine.connect() as connection:
        outer = connection.begin() if dry_run else None
        for name in wanted:
            loader = _EntityLoader(connection, metadata, MODEL.entity(name), validation, run_id,
                                   batch_rows, progress, nested=dry_run)
            loader.load(datasets[name], report)
        if outer is not None:
            outer.rollback()
        elif connection.in_transaction():
            connection.commit()
    return report


class _EntityLoader:
    def __init__(self, connection: sa.Connection, metadata: sa.MetaData, entity: Entity,
                 validation: ValidationResult, run_id: str, batch_rows: int,
                 progress: Progress | None, *, nested: bool) -> None:
        self.connection = connection
        self.entity = entity
        self.table = metadata.tables[table_name(entity.name)]
        self.id_map = metadata.tables[ID_MAP]
        self.validation = validation
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.progress = progress
        self.nested = nested
        self.postgres = connection.dialect.name == "postgresql"
        # COPY talks to the driver directly, so its errors come unwrapped by SQLAlchemy.
        self.refusals = (sa.exc.DBAPIError, connection.dialect.loaded_dbapi.Error)

    # -- preparing rows ---------------------------------------------------------------------

    def _failures(self, frame: pd.DataFrame) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """(file, row) -> [(field, reason)] of this entity's failing values."""
        found = self.validation.failures
        mine = found[found["entity"] == self.entity.name]
        by_row: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for file, row, name, reason in zip(mine["_file"], mine["_row"], mine["field"], mine["reason"], strict=True):
            by_row.setdefault((str(file), str(row)), []).append((name, reason))
        return by_row

    def _pointer_maps(self) -> dict[str, dict[str, int | None]]:
        """Per target entity: legacy id -> target id (None when two sources share the id)."""
        maps: dict[str, dict[str, int | None]] = {}
        targets = {f.target for f in self.entity.pointers if f.target != ANY_ENTITY}
        if any(f.target == ANY_ENTITY for f in self.entity.pointers):
            targets |= set(MODEL.names)
        for target in targets:
            rows = self.connection.execute(
                sa.select(self.id_map.c.legacy_id, self.id_map.c.target_id).where(
                    self.id_map.c.entity == target, self.id_map.c.target_id.is_not(None),
                    self.id_map.c.status.in_(("loaded", "merged")))
            )
            mapping: dict[str, int | None] = {}
            for legacy, target_id in rows:
                mapping[legacy] = target_id if mapping.get(legacy, target_id) == target_id else None
            maps[target] = mapping
        return maps

    def _prepare(self, frame: pd.DataFrame, failures: dict, pointers: dict) -> tuple[list[dict], list[dict], list[dict]]:
        """Rows ready for the table, their provenance, and the rows rejected by policy; column
        by column, since a cutover moves millions of rows."""
        frame = frame.reset_index(drop=True)
        count = len(frame)
        where = list(zip(frame["_file"].astype(str), frame["_row"].astype(str), strict=True))
        problems: list[dict[str, str]] = [dict(failures.get(w, [])) for w in where] if failures else [{}] * count
        # One key per record in id_map, whatever happens to it: legacy ids without padding.
        legacy = [v.strip() if isinstance(v, str) else v for v in _values(frame["id"])]
        origins = [{"_source": s, "_file": f, "_row": r, "legacy_id": i}
                   for s, (f, r), i in zip(frame["_source"].astype(str), where, legacy, strict=True)]
        quarantine: list[list[dict]] = [[] for _ in range(count)]
        columns: dict[str, Any] = {}
        rejected_reason: list[str | None] = [None] * count
        key_fields = {f.name for f in self.entity.fields if f.cls is FieldClass.KEY}
        for i, found in enumerate(problems):
            keys = [k for k in found if k in key_fields]
            if keys:
                rejected_reason[i] = "; ".join(f"{k}: {found[k]}" for k in keys)
        for f in self.entity.fields:
            if f.name == "id":
                continue
            raw = _values(frame[f.name])
            for i, found in enumerate(problems):
                if f.name in found:
                    quarantine[i].append({"field": f.name, "value": raw[i], "reason": found[f.name]})
                    raw[i] = None
            if f.is_pointer:
                columns[f.name] = self._resolve_column(f, raw, frame, pointers, quarantine)
            else:
                columns[f.name] = _typed_column(f.type, raw)
        for f in self.entity.fields:
            if f.required and not f.is_pointer and f.name != "id":
                for i in np.flatnonzero(pd.isna(columns[f.name])):
                    rejected_reason[i] = rejected_reason[i] or f"required field(s) {f.name} empty"
        resolved = pd.DataFrame({f.name: columns[f.name] for f in self.entity.pointers}, index=frame.index)
        hashed = pd.concat([frame[list(self.entity.field_names) + ["_custom"]].astype(str), resolved.astype(str)], axis=1)
        digests = pd.util.hash_pandas_object(hashed, index=False).to_numpy()
        custom = _values(frame["_custom"])
        names = ["legacy_source", "legacy_id", *columns, "custom", "quarantine", "row_hash", "run_id"]
        values = [
            frame["_source"].astype(str).tolist(),
            legacy,
            *[list(c) for c in columns.values()],
            [json.loads(c) if isinstance(c, str) else None for c in custom],
            [q or None for q in quarantine],
            [format(int(d), "016x") for d in digests],
            [self.run_id] * count,
        ]
        rows, kept, rejected = [], [], []
        for i, row in enumerate(zip(*values, strict=True)):
            if rejected_reason[i]:
                rejected.append({**origins[i], "reason": rejected_reason[i]})
                continue
            rows.append(dict(zip(names, row, strict=True)))
            kept.append(origins[i])
        return rows, kept, rejected

    def _resolve_column(self, f, raw: list, frame: pd.DataFrame, pointers: dict,
                        quarantine: list[list[dict]]) -> list[int | None]:
        """Legacy pointer values as target ids; a value that leads nowhere is quarantined.
        A pointer into the entity itself is set in a second pass, once every record has an id."""
        if f.target == self.entity.name:
            return [None] * len(raw)
        values = [v.strip() if isinstance(v, str) and v.strip() else None for v in raw]
        if f.target == ANY_ENTITY:
            targets = _values(frame[f.target_from])
            found = [pointers.get(str(t), {}).get(v) if v is not None else None for t, v in zip(targets, values, strict=True)]
        else:
            table = pointers.get(f.target, {})
            found = [table.get(v) if v is not None else None for v in values]
        for i, (value, target_id) in enumerate(zip(values, found, strict=True)):
            if value is not None and target_id is None:
                target = targets[i] if f.target == ANY_ENTITY else f.target
                quarantine[i].append({"field": f.name, "value": raw[i],
                                      "reason": f"points to no loaded {target} (or to several)"})
        return found

    # -- writing ----------------------------------------------------------------------------

    def load(self, frame: pd.DataFrame, report: LoadReport) -> None:
        failures = self._failures(frame)
        pointers = self._pointer_maps()
        done = 0
        for source, part in frame.groupby("_source", sort=False):
            stats = SourceLoad(self.entity.name, str(source), rows=len(part))
            report.sources.append(stats)
            existing = self._existing(str(source))
            rows, origins, rejected = self._prepare(part, failures, pointers)
            for item in rejected:
                report.rejects.append({**item, "entity": self.entity.name})
            with self._transaction():
                self._ledger([{"source": source, "legacy_id": item["legacy_id"] or f"row {item['_row']}",
                               "target_id": None, "status": "rejected", "reason": item["reason"]}
                              for item in rejected])
            stats.rejected += len(rejected)
            for start in range(0, len(rows), self.batch_rows):
                batch = rows[start : start + self.batch_rows]
                self._batch(batch, origins[start : start + self.batch_rows], existing, stats, report)
                done += len(batch)
                if self.progress:
                    self.progress(self.entity.name, done, len(frame))
            stats.quarantined = sum(len(r["quarantine"] or []) for r in rows)
        self._self_pointers(frame)

    def _existing(self, source: str) -> dict[str, tuple[int, str]]:
        query = sa.select(self.table.c.legacy_id, self.table.c.id, self.table.c.row_hash).where(
            self.table.c.legacy_source == source)
        return {legacy: (target, digest) for legacy, target, digest in self.connection.execute(query)}

    def _batch(self, batch: list[dict], origins: list[dict], existing: dict, stats: SourceLoad,
               report: LoadReport) -> None:
        new = [r for r in batch if r["legacy_id"] not in existing]
        changed = [r for r in batch if r["legacy_id"] in existing and existing[r["legacy_id"]][1] != r["row_hash"]]
        stats.unchanged += len(batch) - len(new) - len(changed)
        try:
            with self._transaction():
                self._write(new, changed, existing)
            stats.inserted += len(new)
            stats.updated += len(changed)
        except self.refusals:
            # Find the rows the database refuses; save every other one.
            for row, origin in zip(batch, origins, strict=True):
                if row not in new and row not in changed:
                    continue
                try:
                    with self._transaction():
                        self._write([row] if row in new else [], [row] if row in changed else [], existing)
                    if row in new:
                        stats.inserted += 1
                    else:
                        stats.updated += 1
                except self.refusals as exc:
                    reason = "database refused: " + _first_line(exc)
                    stats.rejected += 1
                    try:
                        with self._transaction():
                            self._ledger([{"source": row["legacy_source"], "legacy_id": row["legacy_id"],
                                           "target_id": None, "status": "rejected", "reason": reason}])
                    except self.refusals as ledger_exc:
                        # The value the database refused may not fit id_map either; the
                        # reject file still has the row, and says so.
                        reason += "; not recorded in id_map: " + _first_line(ledger_exc)
                    report.rejects.append({**origin, "entity": self.entity.name, "reason": reason})

    def _transaction(self):
        """A batch's transaction; within a dry run, a savepoint of the run's one transaction.
        SQLAlchemy begins a transaction on the first read: end it before a batch begins."""
        if self.nested:
            return self.connection.begin_nested()
        if self.connection.in_transaction():
            self.connection.commit()
        return self.connection.begin()

    def _write(self, new: list[dict], changed: list[dict], existing: dict) -> None:
        columns = [c.name for c in self.table.columns if c.name != "id"]
        if new:
            if self.postgres:
                # Ids come from the table's sequence up front, so nothing needs looking up
                # after COPY (a fresh table has no statistics and the lookup would scan it).
                ids = self._reserve_ids(len(new))
                self._copy([{"id": i, **r} for i, r in zip(ids, new, strict=True)], ["id", *columns])
                found = {r["legacy_id"]: i for i, r in zip(ids, new, strict=True)}
            else:
                self.connection.execute(self.table.insert(), [{c: r.get(c) for c in columns} for r in new])
                found = self._ids([r["legacy_id"] for r in new], new[0]["legacy_source"])
            for r in new:
                existing[r["legacy_id"]] = (found[r["legacy_id"]], r["row_hash"])
        if changed:
            update = self.table.update().where(self.table.c.id == sa.bindparam("_id")).values(
                {c: sa.bindparam(c) for c in columns})
            self.connection.execute(update, [{**{c: r.get(c) for c in columns},
                                              "_id": existing[r["legacy_id"]][0]} for r in changed])
            for r in changed:
                existing[r["legacy_id"]] = (existing[r["legacy_id"]][0], r["row_hash"])
        written = new + changed
        if written:
            self._ledger([{"source": r["legacy_source"], "legacy_id": r["legacy_id"],
                           "target_id": existing[r["legacy_id"]][0], "status": "loaded", "reason": None}
                          for r in written])

    def _reserve_ids(self, count: int) -> list[int]:
        sequence = self.connection.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": f'"{self.table.name}"'}).scalar_one()
        rows = self.connection.execute(
            sa.text("SELECT nextval(:sequence) FROM generate_series(1, :count)"),
            {"sequence": sequence, "count": count})
        return [r[0] for r in rows]

    def _copy(self, values: list[dict], columns: list[str]) -> None:
        """PostgreSQL's COPY: the fast path for new rows (none of them is in the table yet)."""
        raw = self.connection.connection.driver_connection
        quoted = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cursor, cursor.copy(f'COPY "{self.table.name}" ({quoted}) FROM STDIN') as copy:
            for value in values:
                copy.write_row([json.dumps(value[c], ensure_ascii=False) if c in ("custom", "quarantine")
                                and value[c] is not None else value[c] for c in columns])

    def _ids(self, legacy_ids: list[str], source: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(legacy_ids), 5000):
            chunk = legacy_ids[start : start + 5000]
            query = sa.select(self.table.c.legacy_id, self.table.c.id).where(
                self.table.c.legacy_source == source, self.table.c.legacy_id.in_(chunk))
            found.update(dict(self.connection.execute(query).all()))
        return found

    def _ledger(self, entries: list[dict]) -> None:
        write_ledger(self.connection, self.id_map, self.entity.name, self.run_id, entries)

    def _self_pointers(self, frame: pd.DataFrame) -> None:
        """Second pass for a hierarchy (account.parent_id): every record has its id now."""
        fields = [f for f in self.entity.pointers if f.target == self.entity.name]
        if not fields:
            return
        ids = {legacy: target for legacy, target in self.connection.execute(
            sa.select(self.id_map.c.legacy_id, self.id_map.c.target_id).where(
                self.id_map.c.entity == self.entity.name, self.id_map.c.status == "loaded"))}
        invalid = self._failures(frame)
        for f in fields:
            updates = []
            for record in frame.to_dict("records"):
                value = _text(record.get(f.name))
                legacy = _text(record.get("id"))
                bad = any(n == f.name for n, _ in invalid.get((str(record["_file"]), str(record["_row"])), []))
                if value and not bad and value.strip() in ids and legacy and legacy.strip() in ids:
                    updates.append({"_id": ids[legacy.strip()], "_parent": ids[value.strip()]})
            if updates:
                with self._transaction():
                    self.connection.execute(
                        self.table.update().where(self.table.c.id == sa.bindparam("_id"))
                        .values({f.name: sa.bindparam("_parent")}), updates)


LEDGER_COLUMNS = ("entity", "source", "legacy_id", "target_id", "status", "reason", "run_id")
LEDGER_KEY = ("entity", "source", "legacy_id")


def write_ledger(connection: sa.Connection, id_map: sa.Table, entity: str, run_id: str,
                 entries: list[dict]) -> None:
    """Record where records ended: upsert their id_map entries by (entity, source, legacy id).
    PostgreSQL copies them into a staging table and upserts from it in one statement."""
    if not entries:
        return
    rows = [
        {"entity": entity, "source": str(e["source"]), "legacy_id": str(e["legacy_id"]),
         "target_id": e["target_id"], "status": e["status"], "reason": e["reason"], "run_id": run_id}
        for e in entries
    ]
    dialect = connection.dialect.name
    if dialect == "postgresql":
        _ledger_postgres(connection, rows)
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert
    else:
        keys = {(r["source"], r["legacy_id"]) for r in rows}
        for source, legacy in keys:
            connection.execute(id_map.delete().where(id_map.c.entity == entity, id_map.c.source == source,
                                                     id_map.c.legacy_id == legacy))
        connection.execute(id_map.insert(), rows)
        return
    statement = insert(id_map)
    changes = {c: getattr(statement.inserted if dialect != "sqlite" else statement.excluded, c)
               for c in ("target_id", "status", "reason", "run_id")}
    if dialect == "sqlite":
        statement = statement.on_conflict_do_update(index_elements=list(LEDGER_KEY), set_=changes)
    else:
        statement = statement.on_duplicate_key_update(changes)
    connection.execute(statement, rows)


def _ledger_postgres(connection: sa.Connection, rows: list[dict]) -> None:
    raw = connection.connection.driver_connection
    columns = ", ".join(LEDGER_COLUMNS)
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS id_map_stage (LIKE id_map INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY id_map_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in LEDGER_COLUMNS])
        cursor.execute(
            f"INSERT INTO id_map ({columns}) SELECT {columns} FROM id_map_stage "
            "ON CONFLICT (entity, source, legacy_id) DO UPDATE SET target_id = EXCLUDED.target_id, "
            "status = EXCLUDED.status, reason = EXCLUDED.reason, run_id = EXCLUDED.run_id")
        cursor.execute("DELETE FROM id_map_stage")


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _values(column: pd.Series) -> list[Any]:
    """A column as a Python list with None for every missing value (never NaN: MySQL refuses
    it, and other databases would store it as a number)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
            for v in column.astype(object)]


def _typed_column(kind: FieldType, raw: list) -> list[Any]:
    """Canonical text values (validated already) as the Python values their column takes."""
    text = pd.Series([v.strip() if isinstance(v, str) and v.strip() else None for v in raw], dtype=object)
    present = text.notna()
    if kind in (FieldType.DATE, FieldType.DATETIME):
        moments = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
        if kind is FieldType.DATE:
            return [m.date() if ok else None for m, ok in zip(moments, moments.notna(), strict=True)]
        return [m.to_pydatetime() if ok else None for m, ok in zip(moments, moments.notna(), strict=True)]
    if kind in (FieldType.DECIMAL, FieldType.INTEGER):
        convert = Decimal if kind is FieldType.DECIMAL else (lambda v: int(Decimal(v)))
        table = {v: convert(v) for v in pd.unique(text[present])}
        return [table[v] if v is not None else None for v in text]
    if kind is FieldType.BOOLEAN:
        return [None if v is None else v == "true" for v in text]
    return [v if isinstance(v, str) else None for v in text]


