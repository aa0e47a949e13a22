"""The target CRM schema, derived from the canonical model with SQLAlchemy Core.

Per entity a table: a surrogate integer `id`, the record's `legacy_source` and `legacy_id`
(unique together: the key every rerun upserts by; a lead has a `source` field of its own), every canonical field typed from the model, pointers
as foreign keys to the target ids (indexed), `custom` (JSON of the source's custom fields) and
`quarantine` (JSON of values that were invalid, kept with their reason). Plus `id_map`, the
ledger: where every extracted record ended, and as which target id; and `merged_record`: each
merged record's own values, which its survivor's row does not hold (a merge destroys nothing,
and an `apart` decision can bring the record back). Legacy ids compare byte for byte on every
database (MariaDB's default collation would take "c1" and "C1" for one id).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate.errors import ForeignTables
from crmmigrate.model import ANY_ENTITY, MODEL, Entity, Field, FieldType
from crmmigrate.passwords import mask_url
from crmmigrate.text import strip

ID_MAP = "id_map"
MERGED = "merged_record"
LEDGER_STATUSES = ("loaded", "merged", "rejected", "filtered")
# What a record's key columns hold (every database enforces them but SQLite): longer values
# are refused before the load, so the same data gives the same ledger everywhere.
LEGACY_ID_LENGTH = 255
SOURCE_NAME_LENGTH = 120


def too_long_ids(ids: pd.Series) -> pd.Series:
    """Per legacy id (text, padding ignored as the loader ignores it): longer than the target holds."""
    return ids.astype("string").str.strip().str.len().fillna(0).astype(int) > LEGACY_ID_LENGTH


def too_long_id_reason(legacy_id: str) -> str:
    legacy_id = legacy_id.strip()
    return (f"id: legacy id {legacy_id[:20]!r}... is {len(legacy_id)} characters long; the target "
            f"keeps at most {LEGACY_ID_LENGTH}")


def id_map_key(value: Any, row: Any) -> str:
    """The key a record has in id_map: its legacy id, or its row when it has none (or one longer
    than the target holds)."""
    if isinstance(value, str) and value.strip() and len(value.strip()) <= LEGACY_ID_LENGTH:
        return value.strip()
    return f"row {row}"


def id_map_keys(ids: pd.Series, rows: pd.Series) -> pa.Array:
    """`id_map_key` of each record (its id and row), as one Arrow string array: the ids trimmed
    by Arrow where they are text, `id_map_key` itself for the records that take their row."""
    text = None
    if isinstance(ids.dtype, pd.StringDtype):  # else ids that may not be text: one by one
        try:
            text = pa.array(ids, type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeError):  # text Arrow cannot hold (a lone surrogate)
            pass
    if text is None:
        return pa.array([id_map_key(i, row) for i, row in zip(ids.tolist(), rows.tolist(), strict=True)],
                        type=pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    stripped = strip(text)  # as the loader trims the ids it loads
    length = pc.utf8_length(stripped)
    kept = pc.fill_null(pc.and_(pc.greater(length, 0), pc.less_equal(length, LEGACY_ID_LENGTH)), False)
    by_row = np.flatnonzero(~kept.to_numpy(zero_copy_only=False))
    if not len(by_row):
        return stripped
    instead = np.full(len(text), None, dtype=object)
    instead[by_row] = [f"row {row}" for row in rows.to_numpy(dtype=object)[by_row]]
    return pc.if_else(kept, stripped, pa.array(instead, type=pa.string()))


def source_name_problem(name: str) -> str | None:
    """Why a source name cannot be a target's legacy_source, or None."""
    if len(name) <= SOURCE_NAME_LENGTH:
        return None
    return (f"the source name {name[:20]!r}... is {len(name)} characters long; the target "
            f"keeps at most {SOURCE_NAME_LENGTH}")


def _column_type(field: Field) -> sa.types.TypeEngine:
    if field.is_pointer:
        return sa.BigInteger()
    length = field.max_length or 255
    types: dict[FieldType, sa.types.TypeEngine] = {
        FieldType.ID: sa.String(255),
        FieldType.TEXT: sa.Text(),
        FieldType.EMAIL: sa.String(254),
        FieldType.PHONE: sa.String(64),
        FieldType.URL: sa.String(2048),
        FieldType.COUNTRY: sa.String(64),
        FieldType.DATE: sa.Date(),
        FieldType.DATETIME: sa.DateTime(),
        FieldType.DECIMAL: sa.Numeric(20, 4),
        FieldType.INTEGER: sa.BigInteger(),
        FieldType.BOOLEAN: sa.Boolean(),
        FieldType.CURRENCY: sa.String(3),
        FieldType.PICKLIST: sa.String(120),
        FieldType.ENTITY_NAME: sa.String(40),
    }
    return types.get(field.type, sa.String(length))


def _legacy_key() -> sa.types.TypeEngine:
    """A legacy id column: compared byte for byte (MySQL and MariaDB fold case by default)."""
    return sa.String(LEGACY_ID_LENGTH).with_variant(sa.String(LEGACY_ID_LENGTH, collation="utf8mb4_bin"),
                                                    "mysql", "mariadb")


def _record_key() -> list[sa.Column]:
    """How id_map and merged_record name a record: its entity, source and legacy id."""
    return [sa.Column("entity", sa.String(40), nullable=False), sa.Column("source", sa.String(SOURCE_NAME_LENGTH), nullable=False),
            sa.Column("legacy_id", _legacy_key(), nullable=False)]


def table_name(entity: str) -> str:
    return entity


def build_metadata() -> sa.MetaData:
    """Every entity table, in load order, the id_map ledger and the merged records."""
    metadata = sa.MetaData()
    for name in MODEL.load_order():
        _entity_table(metadata, MODEL.entity(name))
    sa.Table(
        ID_MAP,
        metadata,
        *_record_key(),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        # Named as PostgreSQL names it unasked: a bulk load drops and builds it again.
        sa.PrimaryKeyConstraint("entity", "source", "legacy_id", name="id_map_pkey"),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in LEDGER_STATUSES)), name="ck_id_map_status"
        ),
        # Lookups by legacy id use the key. No index on target_id: nothing looks records up
        # by it, and every load would pay for keeping one.
        sqlite_with_rowid=False,  # SQLite keeps the rows in the key's tree: one tree to write
    )
    sa.Table(
        MERGED,
        metadata,
        *_record_key(),
        # The survivor's row (its id_map target id); none when the survivor was not loaded.
        sa.Column("survivor_id", sa.BigInteger(), nullable=True),
        # The record's canonical values as the run read them, before survivorship (field: text).
        sa.Column("original", sa.JSON(), nullable=False),
        sa.Column("custom", sa.JSON(), nullable=True),
        # The record's own row as the target held it, when an earlier run had loaded it and a
        # later merge removed it (edits made in the new CRM since the load are in it).
        sa.Column("removed_row", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),  # the run that merged it (or changed it)
        # The run from which the record is no longer merged (an `apart` decision): it has its
        # own row again, and id_map says where.
        sa.Column("undone_run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("entity", "source", "legacy_id", name="merged_record_pkey"),
    )
    return metadata


def _entity_table(metadata: sa.MetaData, entity: Entity) -> sa.Table:
    columns: list[sa.Column] = [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("legacy_source", sa.String(SOURCE_NAME_LENGTH), nullable=False),
        sa.Column("legacy_id", _legacy_key(), nullable=False),
    ]
    for field in entity.fields:
        if field.name == "id":
            continue
        args: list = []
        if field.is_pointer and field.target != ANY_ENTITY:
            args.append(sa.ForeignKey(f"{table_name(field.target)}.id", name=f"fk_{entity.name}_{field.name}"))
        nullable = not field.required or field.is_pointer
        columns.append(sa.Column(field.name, _column_type(field), *args, nullable=nullable,
                                 index=field.is_pointer))
    columns += [
        sa.Column("custom", sa.JSON(), nullable=True),
        sa.Column("quarantine", sa.JSON(), nullable=True),
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
    ]
    return sa.Table(
        table_name(entity.name),
        metadata,
        *columns,
        # A unique index rather than a table constraint: SQLite can drop and build an index
        # again around a bulk load, never a constraint of the table's own definition.
        sa.Index(f"uq_{entity.name}_legacy", "legacy_source", "legacy_id", unique=True),
    )


def init_target(engine: sa.Engine) -> list[str]:
    """Create every missing table; returns the names created. Tables already there must be
    crmmigrate's own: one of the same name that lacks the target schema's columns (an
    unrelated `account` table, say) refuses the whole target before anything is created."""
    metadata = build_metadata()
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    foreign = {t.name: missing for t in metadata.sorted_tables
               if t.name in existing and (missing := _missing_columns(inspector, t))}
    if foreign:
        listed = "; ".join(f"{name!r} has no column {', '.join(columns[:4])}"
                           + (f" (and {len(columns) - 4} more)" if len(columns) > 4 else "")
                           for name, columns in foreign.items())
        raise ForeignTables(
            f"the database has tables named like the target schema's that are not crmmigrate's: "
            f"{listed}. Nothing was created.",
            file=mask_url(engine.url),
            hint="Give an empty database (or one crmmigrate made) as the target, or rename those "
            "tables; `crmmigrate target check` lists every difference.")
    metadata.create_all(engine)
    return [t.name for t in metadata.sorted_tables if t.name not in existing]


def _missing_columns(inspector: sa.Inspector, table: sa.Table) -> list[str]:
    present = {c["name"] for c in inspector.get_columns(table.name)}
    return [c.name for c in table.columns if c.name not in present]


def check_target(engine: sa.Engine) -> list[str]:
    """What differs between a database and the target schema; empty when it matches."""
    inspector = sa.inspect(engine)
    problems = []
    tables = set(inspector.get_table_names())
    for table in build_metadata().sorted_tables:
        if table.name not in tables:
            problems.append(f"table {table.name!r} is missing")
            continue
        for column in _missing_columns(inspector, table):
            problems.append(f"table {table.name!r} has no column {column!r}")
        if table.name not in (ID_MAP, MERGED):
            uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)]
            uniques += [tuple(i["column_names"]) for i in inspector.get_indexes(table.name) if i.get("unique")]
            if ("legacy_source", "legacy_id") not in uniques:
                problems.append(f"table {table.name!r} has no unique (legacy_source, legacy_id)")
    return problems
