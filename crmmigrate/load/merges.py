"""Merged records in the target: nothing a merge takes away is lost, and a merge can be undone.

A merged record has no row of its own: its id_map entry is `merged`, with its survivor's target
id. Its own values, which the survivor's row holds only where survivorship took them, are kept in
`merged_record` (one entry per entity, source and legacy id), written in the transaction that
writes the merged id_map entries:

- a record merged for the first time, or now with other values or another survivor, gets its
  entry written; one merged as the last run merged it is not written again;
- a record an earlier run merged that is no longer merged (an `apart` decision: the loader has
  loaded it as a record of its own, and its children's pointers resolve to it again) keeps its
  entry, marked undone by this run;
- a record an earlier run loaded that is merged now (a `merge` decision after the load) has its
  row removed: the row goes into its entry first (`removed_row`, with any edit made in the new
  CRM since), and every pointer to it in the target is pointed at its survivor.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from crmmigrate.load.dialects import fetch, upsert
from crmmigrate.load.id_map import LEDGER_KEY
from crmmigrate.load.schema import ID_MAP, MERGED, build_metadata, table_name
from crmmigrate.model import ANY_ENTITY, MODEL

_CHUNK = 5000  # ids per IN list


@dataclass
class MergedInTarget:
    """What keeping one entity's merged records did in the target."""

    entity: str
    written: int = 0  # merged_record entries written: new, or merged differently than before
    removed: int = 0  # rows an earlier run loaded, removed now that their record is merged
    undone: int = 0  # merges undone: records no longer merged, their entries marked so

    def as_dict(self) -> dict[str, int]:
        return {"written": self.written, "removed": self.removed, "undone": self.undone}


def keep_merged(connection: sa.Connection, entity: str, run_id: str, merged: pd.DataFrame,
                records: pd.DataFrame) -> MergedInTarget:
    """Keep the merged records of `entity` in `merged_record`, after their id_map entries are
    written in the same transaction. `merged`: one row per merged record, with `_source`,
    `_file`, `_row`, `legacy_id`, `survivor_target` (its survivor's target id, or None) and
    `own_target` (the row an earlier run loaded it as, or None); `records`: the entity's records
    as the run read them, before dedupe (their values are the ones kept)."""
    metadata = build_metadata()
    table = metadata.tables[MERGED]
    outcome = MergedInTarget(entity)
    if len(merged):
        originals, custom = _originals(entity, merged, records)
        survivors, own = _ids(merged["survivor_target"]), _ids(merged["own_target"])
        removed = _remove(connection, metadata, entity, [(o, s) for o, s in zip(own, survivors, strict=True)
                                                         if o is not None and s is not None and o != s])
        outcome.removed = len(removed)
        held = _held(connection, table, entity)
        keys = list(zip(merged["_source"].astype(str), merged["legacy_id"].astype(str), strict=True))
        write = []
        for i, key in enumerate(keys):
            row = removed.get(own[i]) if own[i] is not None else None
            before = held.get(key)
            if row is None and before is not None:
                if before[:3] == (survivors[i], originals[i], custom[i]) and before[4] is None:
                    continue  # merged as the last run merged it: nothing to write
                row = before[3]  # a row removed by an earlier run stays kept
            write.append((i, row))
        at = [i for i, _ in write]
        count = len(write)
        upsert(connection, table, pa.table({
            "entity": pa.array([entity] * count, pa.string()),
            "source": pa.array([keys[i][0] for i in at], pa.string()),
            "legacy_id": pa.array([keys[i][1] for i in at], pa.string()),
            "survivor_id": pa.array([survivors[i] for i in at], pa.int64()),
            "original": pa.array([originals[i] for i in at], pa.string()),
            "custom": pa.array([custom[i] for i in at], pa.string()),
            "removed_row": pa.array([row for _, row in write], pa.string()),
            "run_id": pa.array([run_id] * count, pa.string()),
            "undone_run_id": pa.nulls(count, pa.string()),
        }), LEDGER_KEY)  # the same key as id_map's
        outcome.written = count
    outcome.undone = _mark_undone(connection, metadata, entity, run_id)
    return outcome


def _ids(values: pd.Series) -> list[int | None]:
    return [None if pd.isna(v) else int(v) for v in values.astype(object).tolist()]


def _provenance_keys(frame: pd.DataFrame) -> pd.Index:
    return pd.Index(frame["_source"].astype(str) + "\x1f" + frame["_file"].astype(str) + "\x1f"
                    + frame["_row"].astype(str))


def _originals(entity: str, merged: pd.DataFrame, records: pd.DataFrame) -> tuple[list[str], list[str | None]]:
    """Each merged record's canonical values (JSON text of field: text, or null) and custom
    fields (JSON text, as the loader stores them), found among `records` by provenance
    (source, file, row)."""
    keys = _provenance_keys
    where = keys(records)
    positions = pd.Series(range(len(records)), index=where)
    positions = positions[~where.duplicated()]
    found = positions.reindex(keys(merged))
    if found.isna().any():
        raise ValueError(f"{entity}: a merged record is not among the records read")  # a bug: they come from there
    at = found.to_numpy(dtype=int)
    fields = [f for f in MODEL.entity(entity).field_names if f in records]
    values = records.iloc[at][fields].astype(object)
    values = values.where(values.notna(), None)
    originals = [_json(dict(zip(fields, row, strict=True))) for row in values.to_numpy().tolist()]
    custom: list[str | None] = [None] * len(at)
    if "_custom" in records:
        custom = [t if isinstance(t, str) and t.strip() else None
                  for t in records["_custom"].iloc[at].astype(object).tolist()]
    return originals, custom


def _held(connection: sa.Connection, table: sa.Table, entity: str) -> dict[tuple[str, str], tuple]:
    """The entity's merged_record entries by source and legacy id: survivor_id, original,
    custom, removed_row (JSON as the text written) and undone_run_id."""
    c = table.c
    rows = fetch(connection, sa.select(c.source, c.legacy_id, c.survivor_id, sa.cast(c.original, sa.Text),
                                       sa.cast(c.custom, sa.Text), sa.cast(c.removed_row, sa.Text),
                                       c.undone_run_id).where(c.entity == entity))
    return {(str(r[0]), str(r[1])): (None if r[2] is None else int(r[2]), *r[3:]) for r in rows}


def _remove(connection: sa.Connection, metadata: sa.MetaData, entity: str,
            stale: list[tuple[int, int]]) -> dict[int, str]:
    """Remove the rows (own id, survivor id) of records now merged, after pointing every pointer
    to them at their survivor; returns the rows removed, by id, as JSON text."""
    if not stale:
        return {}
    table = metadata.tables[table_name(entity)]
    removed: dict[int, str] = {}
    ids = [old for old, _ in stale]
    for start in range(0, len(ids), _CHUNK):
        query = sa.select(table).where(table.c.id.in_(ids[start : start + _CHUNK]))
        for row in connection.execute(query).mappings():
            removed[int(row["id"])] = _json({k: _plain(v) for k, v in row.items()})
    moves = [{"_old": old, "_new": new} for old, new in stale]
    for other in metadata.sorted_tables:
        for key in other.foreign_keys:
            if key.column.table is not table:
                continue
            column = key.parent
            if other is table:
                # A survivor whose parent was its own duplicate would be its own parent: cleared,
                # as dedupe clears it.
                connection.execute(other.update().where(column == sa.bindparam("_old"),
                                                        other.c.id == sa.bindparam("_new"))
                                   .values({column.name: None}), moves)
            connection.execute(other.update().where(column == sa.bindparam("_old"))
                               .values({column.name: sa.bindparam("_new")}), moves)
    for name in MODEL.names:
        for field in MODEL.entity(name).pointers:
            if field.target != ANY_ENTITY:
                continue
            other = metadata.tables[table_name(name)]
            connection.execute(other.update().where(other.c[field.target_from] == entity,
                                                    other.c[field.name] == sa.bindparam("_old"))
                               .values({field.name: sa.bindparam("_new")}), moves)
    connection.execute(table.delete().where(table.c.id == sa.bindparam("_old")), [{"_old": old} for old in ids])
    return removed


def _mark_undone(connection: sa.Connection, metadata: sa.MetaData, entity: str, run_id: str) -> int:
    """Mark undone the entity's entries whose record id_map no longer says is merged."""
    table, id_map = metadata.tables[MERGED], metadata.tables[ID_MAP]
    still = sa.select(sa.literal(1)).where(
        id_map.c.entity == table.c.entity, id_map.c.source == table.c.source,
        id_map.c.legacy_id == table.c.legacy_id, id_map.c.status == "merged")
    result = connection.execute(table.update().where(
        table.c.entity == entity, table.c.undone_run_id.is_(None), ~sa.exists(still)).values(undone_run_id=run_id))
    return int(result.rowcount or 0)


def _plain(value: Any) -> Any:
    """A database value as JSON takes it: dates as ISO text, decimals as their text."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # people's text, readable (json.dumps makes one a call)


def _json(value: Any) -> str:
    return _ENCODER.encode(value)
