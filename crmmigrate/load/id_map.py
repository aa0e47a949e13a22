"""id_map, the ledger in the target (entity, source, legacy id -> target id, status, reason,
run id): where every extracted record ended. Its one owner: every read and write of its entries
goes through here, the loader's (`IdMap`: one entity's entries on the load's connection), a
run's own (`Ledger`: rows extract rejected, filters removed, the gate held back, dedupe merged,
and the statuses the run checks its figures against) and repair's. The table is defined in
schema.py; the report's reconciliation joins it in its own SQL (reporting/reconcile.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate.load.dialects import Dialect, copy_csv, dialect_for, fetch, upsert
from crmmigrate.load.schema import ID_MAP, build_metadata

_CHUNK = 5000  # legacy ids per IN list

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
    upsert_entries(connection, id_map, rows)


def upsert_entries(connection: sa.Connection, id_map: sa.Table, rows: pa.Table) -> None:
    """Entries (Arrow columns named as id_map's) upserted by (entity, source, legacy id)."""
    upsert(connection, id_map, rows, LEDGER_KEY)


def delete_entries(connection: sa.Connection, id_map: sa.Table, entity: str, source: str,
                   legacy_ids: list[str]) -> None:
    """The entries of a source's `legacy_ids` removed."""
    m = id_map.c
    for start in range(0, len(legacy_ids), _CHUNK):
        connection.execute(id_map.delete().where(m.entity == entity, m.source == source,
                                                 m.legacy_id.in_(legacy_ids[start : start + _CHUNK])))


class IdMap:
    """One entity's id_map entries as a load reads and writes them, on the load's connection
    (inside its transactions)."""

    def __init__(self, connection: sa.Connection, table: sa.Table, entity: str, run_id: str,
                 dialect: Dialect) -> None:
        self.connection = connection
        self.table = table
        self.entity = entity
        self.run_id = run_id
        self.dialect = dialect

    def write(self, entries: pd.DataFrame) -> None:
        write_ledger(self.connection, self.table, self.entity, self.run_id, entries)

    def existing(self, records: sa.Table, source: str) -> pa.Table:
        """The source's rows already in the table: legacy_id, id, row_hash. A row whose id_map
        entry does not say it is loaded as that row (a later run rejected the record, a hand
        edit) has an empty hash: it counts as changed, so writing it writes its entry too."""
        schema = pa.schema([("legacy_id", pa.string()), ("id", pa.int64()), ("row_hash", pa.string())])
        t, m = records.c, self.table.c
        entry = sa.and_(m.entity == self.entity, m.source == t.legacy_source, m.legacy_id == t.legacy_id)
        ledgered = sa.case((sa.and_(m.status == "loaded", m.target_id == t.id), t.row_hash), else_=sa.literal(""))
        rows = self.dialect.fetch(self.connection, sa.select(t.legacy_id, t.id, ledgered)
                                  .select_from(records.outerjoin(self.table, entry)).where(t.legacy_source == source))
        return pa.table([pa.array([r[i] for r in rows], t) for i, t in enumerate(schema.types)], schema=schema)

    def write_bulk(self, records: sa.Table, source: str, loaded: pa.Table) -> None:
        """The loaded entries of a bulk load: COPYed into id_map when it holds nothing for the
        source but this run's own entries (its key built after them when they outnumber what
        id_map holds), upserted otherwise."""
        count = loaded.num_rows
        entries = pa.table({
            "entity": pa.repeat(pa.scalar(self.entity), count),
            "source": pa.repeat(pa.scalar(source), count),
            "legacy_id": loaded.column("legacy_id"),
            "target_id": loaded.column("target_id"),
            "status": pa.repeat(pa.scalar("loaded"), count),
            "reason": pa.nulls(count, pa.string()),
            "run_id": pa.repeat(pa.scalar(self.run_id), count),
        })
        if self.dialect.ledger_from_table(self.connection, records, self.entity, source, self.run_id,
                                          LEDGER_COLUMNS, _LEDGER_CHANGES):
            return
        if not self._clear(source, entries.column("legacy_id")):
            self.write(entries.drop_columns(["entity", "run_id"]).to_pandas())
            return
        key = next(c for c in self.table.constraints if isinstance(c, sa.PrimaryKeyConstraint))
        held = self.connection.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
        if count >= held:
            self.connection.execute(sa.schema.DropConstraint(key))
            copy_csv(self.connection.connection.driver_connection, ID_MAP, entries)
            self.connection.execute(sa.schema.AddConstraint(key))
        else:
            copy_csv(self.connection.connection.driver_connection, ID_MAP, entries.sort_by("legacy_id"))

    def _clear(self, source: str, legacy: pa.ChunkedArray) -> bool:
        """Whether id_map can take this source's entries as plain rows: it holds none for the
        source but this run's own (rows extract or validation rejected), which are dropped where
        the records are loaded after all (a repeated legacy id). Otherwise they are upserted."""
        held = self.connection.execute(
            sa.select(self.table.c.legacy_id, self.table.c.run_id).where(
                self.table.c.entity == self.entity, self.table.c.source == source)).all()
        if any(run != self.run_id for _, run in held):
            return False
        if not held:
            return True
        mine = pa.array([legacy_id for legacy_id, _ in held], pa.string())
        superseded = pc.filter(mine, pc.is_in(mine, value_set=pc.unique(legacy))).to_pylist()
        delete_entries(self.connection, self.table, self.entity, source, superseded)
        return True

    def pointer_targets(self, target: str) -> list[tuple]:
        """A target entity's legacy ids and their target ids (null when two sources share the
        legacy id, so a pointer to it is ambiguous)."""
        m = self.table.c
        return self.dialect.fetch(self.connection,
            sa.select(m.legacy_id, sa.case((sa.func.count(sa.distinct(m.target_id)) == 1, sa.func.min(m.target_id))))
            .where(m.entity == target, m.target_id.is_not(None), m.status.in_(("loaded", "merged")))
            .group_by(m.legacy_id))

    def loaded_ids(self) -> dict[str, int]:
        """The entity's loaded legacy ids and their target ids."""
        m = self.table.c
        return dict(self.connection.execute(
            sa.select(m.legacy_id, m.target_id).where(m.entity == self.entity, m.status == "loaded")).all())


class Ledger:
    """A run's own reads and writes of id_map, each in a transaction of its own unless it is
    given the connection of one."""

    def __init__(self, engine: sa.Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self.table = build_metadata().tables[ID_MAP]

    def write(self, connection: sa.Connection, entity: str, entries: pd.DataFrame | list[dict]) -> None:
        write_ledger(connection, self.table, entity, self.run_id, entries)

    def record(self, entity: str, entries: pd.DataFrame | list[dict]) -> None:
        with self.engine.begin() as connection:
            self.write(connection, entity, entries)

    def loaded(self, entities: list[str]) -> set[tuple[str, str, str]]:
        """(entity, source, legacy id) of the records of `entities` already in the target."""
        t = self.table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(t.c.entity, t.c.source, t.c.legacy_id).where(
                t.c.entity.in_(entities), t.c.status == "loaded"))
            return {(str(e), str(s), str(i)) for e, s, i in rows}

    def pointable(self, entities: list[str]) -> dict[str, set[str]]:
        """Per entity, the legacy ids a pointer may lead to in the target: those the loader
        resolves (loaded, or merged into a loaded survivor)."""
        t = self.table
        found: dict[str, set[str]] = {e: set() for e in entities}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(t.c.entity, t.c.legacy_id).where(
                t.c.entity.in_(entities), t.c.target_id.is_not(None), t.c.status.in_(("loaded", "merged"))))
            for entity, legacy in rows:
                found[str(entity)].add(str(legacy).strip())
        return found

    def held(self, connection: sa.Connection, entity: str) -> list[tuple]:
        """The entity's loaded and merged entries: source, legacy id, target id, status, reason, run id."""
        t = self.table
        return fetch(connection, sa.select(t.c.source, t.c.legacy_id, t.c.target_id, t.c.status,
                                           t.c.reason, t.c.run_id)
                     .where(t.c.entity == entity, t.c.status.in_(("loaded", "merged"))))

    def loaded_before(self, entity: str, sources: list[str]) -> dict[tuple[str, str], str]:
        t = self.table
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(t.c.source, t.c.legacy_id, t.c.status).where(
                t.c.entity == entity, t.c.source.in_(sources), t.c.status.in_(("loaded", "merged"))))
            return {(str(s), str(i)): str(status) for s, i, status in rows}

    def statuses(self, entity: str, source: str, legacy: pa.Array) -> pa.Array:
        """The status id_map holds for each of a source's `legacy` ids (Arrow text), null where
        it holds none. Its rows are read as the driver gives them (a source has millions, and
        SQLAlchemy's row objects would cost more than the query)."""
        t = self.table
        rows = dialect_for(self.engine).fetch_committed(
            self.engine, sa.select(t.c.legacy_id, t.c.status).where(t.c.entity == entity, t.c.source == source),
            pa.schema([("legacy_id", pa.string()), ("status", pa.string())]))
        # Backwards: an id held twice (the key forbids it; a hand may not have) finds its last.
        backwards = pa.array(np.arange(rows.num_rows - 1, -1, -1, dtype=np.int64))
        held, statuses = (rows.column(name).take(backwards).combine_chunks() for name in ("legacy_id", "status"))
        return statuses.take(pc.index_in(legacy, value_set=held))
