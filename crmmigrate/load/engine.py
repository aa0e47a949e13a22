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

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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
        """Rows ready for the table, their provenance, and the rows rejected by policy."""
        rows, origins, rejected = [], [], []
        records = frame.to_dict("records")
        for record in records:
            where = (str(record.get("_file")), str(record.get("_row")))
            problems = dict(failures.get(where, []))
            origin = {"_source": record.get("_source"), "_file": where[0], "_row": where[1],
                      "legacy_id": _text(record.get("id"))}
            keys = [f for f in problems if self.entity.field(f).cls is FieldClass.KEY]
            if keys:
                rejected.append({**origin, "reason": "; ".join(f"{k}: {problems[k]}" for k in keys)})
                continue
            quarantine = []
            row: dict[str, Any] = {"legacy_source": record["_source"], "legacy_id": _text(record["id"]).strip()}
            legacy_pointers: dict[str, str] = {}
            for f in self.entity.fields:
                if f.name == "id":
                    continue
                value = _text(record.get(f.name))
                if f.name in problems:
                    quarantine.append({"field": f.name, "value": value, "reason": problems[f.name]})
                    row[f.name] = None
                    continue
                if f.is_pointer:
                    legacy_pointers[f.name] = value
                    row[f.name] = self._resolve(f, value, record, pointers, quarantine)
                else:
                    row[f.name] = _typed(f.type, value)
            missing = [f.name for f in self.entity.fields
                       if f.required and not f.is_pointer and f.name != "id" and row.get(f.name) is None]
            if missing:
                rejected.append({**origin, "reason": f"required field(s) {', '.join(missing)} empty"})
                continue
            custom = record.get("_custom")
            row["custom"] = json.loads(custom) if isinstance(custom, str) else None
            row["quarantine"] = quarantine or None
            resolved = [str(row.get(f.name)) for f in self.entity.pointers]
            row["row_hash"] = _hash(record, self.entity, resolved)
            row["run_id"] = self.run_id
            row["_pointers"] = legacy_pointers
            rows.append(row)
            origins.append(origin)
        return rows, origins, rejected

    def _resolve(self, f, value: str | None, record: dict, pointers: dict, quarantine: list) -> int | None:
        if value is None or not value.strip():
            return None
        target = record.get(f.target_from) if f.target == ANY_ENTITY else f.target
        if f.target == self.entity.name:
            return None  # set in a second pass, once every record of the entity has its id
        found = pointers.get(str(target), {}).get(value.strip(), None)
        if found is None:
            quarantine.append({"field": f.name, "value": value,
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
            values = [{c: r.get(c) for c in columns} for r in new]
            if self.postgres:
                self._copy(values, columns)
            else:
                self.connection.execute(self.table.insert(), values)
            ids = self._ids([r["legacy_id"] for r in new], new[0]["legacy_source"])
            for r in new:
                existing[r["legacy_id"]] = (ids[r["legacy_id"]], r["row_hash"])
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


def _typed(kind: FieldType, value: str | None) -> Any:
    """A canonical text value as the Python value its column takes (validated already)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if kind is FieldType.DATE:
        return dt.date.fromisoformat(value)
    if kind is FieldType.DATETIME:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if kind is FieldType.DECIMAL:
        return Decimal(value)
    if kind is FieldType.INTEGER:
        return int(Decimal(value))
    if kind is FieldType.BOOLEAN:
        return value == "true"
    return value


def _hash(record: dict, entity: Entity, resolved: list[str]) -> str:
    """What a record says, and where its pointers lead, so a rerun can tell changed records
    from unchanged ones."""
    parts = [_text(record.get(f.name)) or "" for f in entity.fields] + resolved
    parts.append(_text(record.get("_custom")) or "")
    return hashlib.md5("\x1f".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()


