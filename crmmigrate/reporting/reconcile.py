"""Reconcile before and after: what the legacy systems held beside what the target holds.

    legacy, notes = legacy_datasets(Path("runs/20261205T161522Z-bbc373"))
    lines = reconcile(engine, legacy)      # one ReconcileLine per aggregate and group

The same aggregates (pipeline amount and count by stage, records by owner, cases by status)
are computed on the legacy records as mapped (before clean, dedupe and the gate: what the old
system held, in the canonical model's fields) and on the loaded target. Every difference is
explained by what happened to each legacy record, as the ledger (`id_map`) and the target say:

- rejected, merged, filtered: the record is not in the target as itself (id_map's status);
- changed: the record is loaded, but its value moved it to another group or changed the sum
  (clean normalised an owner, survivorship took a merged record's stage, a hand edited it);
- quarantined: the record is loaded, but the value was invalid and loaded empty (it is kept in
  the row's quarantine column).

What is left is `unexplained` and flagged: a row deleted from the target, or added to it, by
hand; a legacy record the ledger does not know.

The legacy records are written into a temporary table of the target's own database (dropped
at the end, nothing of it committed), so that every figure is a GROUP BY in the database: the
join of legacy records to their rows never pulls the target's rows out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from crmmigrate import parallel
from crmmigrate.errors import BadUsage, CrmMigrateError
from crmmigrate.load.dialects import dialect_for
from crmmigrate.load.engine import side_by_side
from crmmigrate.load.schema import ID_MAP, build_metadata, id_map_keys, table_name
from crmmigrate.mapping.config import Mapping
from crmmigrate.passwords import mask_url
from crmmigrate.reporting.dialect import exact
from crmmigrate.reporting.model import ReconcileLine
from crmmigrate.staging import file_name


class CannotReconcile(CrmMigrateError):
    """The target's database would not take the temporary table the reconciliation joins in."""


# What explains a difference, in the order a line shows them.
CATEGORIES = ("rejected", "merged", "filtered", "changed", "quarantined")
BLANK = "(blank)"  # the group of records with no value
UNREADABLE = "(unreadable)"  # the group of rows extract could not read: the ledger has them, with no values
_UNREADABLE_COLUMN = "_unreadable"
_SCALE = 4  # decimals an amount keeps in the target (Numeric(20, 4)): sums are compared to it


@dataclass(frozen=True)
class Aggregate:
    """One figure computed on both sides: records of `entity` grouped `by` fields, counted,
    or with `measure` summed."""

    name: str
    entity: str
    by: tuple[str, ...]
    measure: str | None = None  # None: count the records


AGGREGATES: tuple[Aggregate, ...] = (
    # Amounts in different currencies are never added up: the currency is part of the group.
    Aggregate("pipeline amount by stage", "opportunity", ("stage", "currency"), "amount"),
    Aggregate("opportunities by stage", "opportunity", ("stage",)),
    Aggregate("accounts by owner", "account", ("owner",)),
    Aggregate("contacts by owner", "contact", ("owner",)),
    Aggregate("opportunities by owner", "opportunity", ("owner",)),
    Aggregate("cases by status", "case", ("status",)),  # a case has no owner in the model
)


def reconcile(engine: sa.Engine, legacy: dict[str, pd.DataFrame],
              aggregates: Iterable[Aggregate] = AGGREGATES, *, held: bool = False) -> list[ReconcileLine]:
    """Per aggregate and group: the legacy figure, the target's, and the difference explained
    by rejected, merged, filtered, changed and quarantined records; the rest `unexplained`.

    `legacy`: per entity, the mapped records of the run (canonical fields as text, with
    `_source` and `_row`), e.g. from `legacy_datasets`. An aggregate of an entity with no
    legacy records is left out; the target side counts only rows of the legacy sources.
    `held`: the caller holds the target's lock (a run, after its load), so nothing writes to
    it: the entities are reconciled side by side, each on a connection of its own, one per
    core (their queries are the database's work, which lets go of the GIL), instead of one
    after another on one connection."""

    wanted = [a for a in aggregates if a.entity in legacy]
    metadata = build_metadata()
    id_map = metadata.tables[ID_MAP]

    def staged(entity: str, connection: sa.Connection) -> sa.Table:
        mine = [a for a in wanted if a.entity == entity]
        fields = list(dict.fromkeys(f for a in mine for f in (*a.by, *([a.measure] if a.measure else []))))
        target = metadata.tables[table_name(entity)]
        return _stage(connection, _temp_table(entity, fields, target, id_map), legacy[entity], fields, target)

    def entity_lines(entity: str, connection: sa.Connection, temp: sa.Table) -> list[ReconcileLine]:
        sources = sorted({str(s) for s in legacy[entity]["_source"].dropna().unique()})
        return _entity_lines(connection, [a for a in wanted if a.entity == entity], temp,
                             metadata.tables[table_name(entity)], id_map, sources)

    def on_its_own(entity: str) -> list[ReconcileLine]:
        with engine.connect() as connection:
            return _staged_and_dropped(connection, [entity], staged, entity_lines)

    entities = list(dict.fromkeys(a.entity for a in wanted))
    if len(entities) > 1 and side_by_side(engine, held=held):
        pool = ThreadPoolExecutor(min(parallel.cores(), len(entities)), thread_name_prefix="crmmigrate-reconcile")
        try:
            lines = [line for found in pool.map(on_its_own, entities) for line in found]
        finally:  # on Ctrl-C or an error, the entities not started are not waited for
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        with engine.connect() as connection:
            lines = _staged_and_dropped(connection, entities, staged, entity_lines)
    order = {a.name: i for i, a in enumerate(wanted)}
    return sorted(lines, key=lambda line: order[line.aggregate])  # in the aggregates' order, groups kept in theirs


def _staged_and_dropped(connection: sa.Connection, entities: list[str],
                        staged: Callable[[str, sa.Connection], sa.Table],
                        entity_lines: Callable[[str, sa.Connection, sa.Table], list[ReconcileLine]]
                        ) -> list[ReconcileLine]:
    """Each entity's legacy records `staged` in its temporary table (a SQLite target commits as
    it stages, see `Dialect.insert_rows`), then the `entity_lines` of each, read one after
    another in one transaction on `connection`; the temporary tables dropped after them
    whatever happens."""
    lines: list[ReconcileLine] = []
    try:
        temps = [staged(entity, connection) for entity in entities]
        for entity, temp in zip(entities, temps, strict=True):
            lines += entity_lines(entity, connection, temp)
    finally:
        # Rolled back first: after an error PostgreSQL takes nothing more in the transaction
        # (its rollback drops the tables); SQLite keeps them through it (committed as they were
        # staged), as MariaDB does. The drops are committed: they are of temporary tables only.
        connection.rollback()
        for entity in entities:
            sa.Table(_temp_name(entity), sa.MetaData(), prefixes=["TEMPORARY"]).drop(connection, checkfirst=True)
        connection.commit()
    return lines


def _temp_name(entity: str) -> str:
    return f"crmmigrate_legacy_{entity}"


def _temp_table(entity: str, fields: list[str], target: sa.Table, id_map: sa.Table) -> sa.Table:
    """The temporary table of an entity's legacy records: source, legacy id (as id_map keys it)
    and the aggregated fields, typed as the target types them."""
    return sa.Table(
        _temp_name(entity), sa.MetaData(),
        sa.Column("source", id_map.c.source.type, nullable=False),
        sa.Column("legacy_id", id_map.c.legacy_id.type, nullable=False),
        *(sa.Column(f, sa.Numeric(38, _SCALE) if _numeric(target.c[f]) else sa.Text()) for f in fields),
        prefixes=["TEMPORARY"],
        mysql_charset="utf8mb4",
    )


def _stage(connection: sa.Connection, temp: sa.Table, frame: pd.DataFrame, fields: list[str], target: sa.Table
           ) -> sa.Table:
    """The legacy records of an entity written into its temporary table."""
    temp.drop(connection, checkfirst=True)
    try:
        temp.create(connection)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CannotReconcile(
            f"the reconciliation could not create its temporary table in the target's database: {reason}.",
            file=mask_url(connection.engine.url),
            hint="It needs a connection that may create temporary tables (nothing else is written; the "
            "table is gone when it ends): PostgreSQL's TEMP privilege, not a read-only transaction.") from None
    columns = {"source": pa.array(frame["_source"].astype(str), pa.string()),
               "legacy_id": id_map_keys(frame["id"], frame["_row"])}
    unreadable = (frame[_UNREADABLE_COLUMN].fillna(False).astype(bool) if _UNREADABLE_COLUMN in frame
                  else pd.Series(False, index=frame.index))
    for f in fields:
        values = frame[f] if f in frame else pd.Series(None, index=frame.index, dtype=object)
        if _numeric(target.c[f]):
            columns[f] = pa.array(_amounts(values).to_numpy(dtype=float), pa.float64(), from_pandas=True)
        else:
            columns[f] = pa.array(_texts(values).mask(unreadable, UNREADABLE), pa.string(), from_pandas=True)
    dialect_for(connection).insert_rows(connection, temp, pa.table(columns))
    return temp


def _numeric(column: sa.Column) -> bool:
    return isinstance(column.type, sa.Numeric | sa.Integer)


def _texts(values: pd.Series) -> pd.Series:
    """A legacy value as a group: stripped, and empty when blank."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _amounts(values: pd.Series) -> pd.Series:
    """A legacy amount as a number, at the target's scale; none where it is not one (the target
    cannot hold it either: it is quarantined, or the record rejected)."""
    numbers = pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float)
    numbers = numbers.where(numbers.abs() < 1e30)  # nor what no Numeric(38, 4) holds (inf among them)
    return numbers.round(_SCALE)


def _entity_lines(connection: sa.Connection, aggregates: list[Aggregate], temp: sa.Table, target: sa.Table,
                  id_map: sa.Table, sources: list[str]) -> list[ReconcileLine]:
    """The lines of every aggregate of one entity, from four queries grouped by all their
    fields at once (each a single pass over the legacy records), rolled up per aggregate."""
    groups = list(dict.fromkeys(f for a in aggregates for f in a.by))
    measures = list(dict.fromkeys(a.measure for a in aggregates if a.measure))
    fields = [*groups, *measures]
    legacy_groups = [exact(temp.c[f]) for f in groups]
    target_groups = [exact(target.c[f]) for f in groups]

    def sums(table: sa.Table) -> list[sa.ColumnElement]:
        return [sa.func.count(), *(sa.func.sum(table.c[m]) for m in measures)]

    row = (target.c.legacy_source == temp.c.source) & (target.c.legacy_id == temp.c.legacy_id)
    entry = ((id_map.c.entity == target.name) & (id_map.c.source == temp.c.source)
             & (id_map.c.legacy_id == temp.c.legacy_id))
    legacy_side = connection.execute(sa.select(*legacy_groups, *sums(temp)).group_by(*legacy_groups)).all()
    target_side = connection.execute(sa.select(*target_groups, *sums(target))
                                     .where(target.c.legacy_source.in_(sources)).group_by(*target_groups)).all()
    # Records not in the target as themselves: what id_map says became of them, by their legacy group.
    fate = sa.case((id_map.c.status.in_(("rejected", "merged", "filtered")), id_map.c.status), else_=None)
    gone = connection.execute(
        sa.select(*legacy_groups, fate, *sums(temp))
        .select_from(temp.outerjoin(target, row).outerjoin(id_map, entry))
        .where(target.c.id.is_(None)).group_by(*legacy_groups, fate)).all()
    # Records in the target: their legacy group beside their row's, and per field whether the
    # value was loaded empty with the original kept (quarantined).
    emptied = [sa.case((target.c.quarantine.is_not(None) & target.c[f].is_(None) & temp.c[f].is_not(None), 1),
                       else_=0) for f in fields]
    moved = connection.execute(
        sa.select(*legacy_groups, *target_groups, *emptied, *sums(temp), *sums(target))
        .select_from(temp.join(target, row)).group_by(*legacy_groups, *target_groups, *emptied)).all()

    width, many = len(groups), 1 + len(measures)
    lines = []
    for aggregate in aggregates:
        at = [groups.index(f) for f in aggregate.by]
        value = 1 + measures.index(aggregate.measure) if aggregate.measure else 0  # count, or the sum

        def key(found: Any, offset: int = 0, at: list[int] = at) -> str:
            return _key(found[offset + i] for i in at)

        legacy: dict[str, float] = defaultdict(float)
        for found in legacy_side:
            legacy[key(found)] += _number(found[width + value])
        held: dict[str, float] = defaultdict(float)
        for found in target_side:
            held[key(found)] += _number(found[width + value])
        explained: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(CATEGORIES, 0.0))
        for found in gone:
            if found[width] is not None:
                explained[key(found)][found[width]] += _number(found[width + 1 + value])
        flags = [fields.index(f) for f in (*aggregate.by, *([aggregate.measure] if aggregate.measure else []))]
        for found in moved:
            before, after = key(found), key(found, width)
            figures = found[2 * width + len(fields):]
            legacy_value, target_value = _number(figures[value]), _number(figures[many + value])
            if before == after and legacy_value == target_value:
                continue
            category = "quarantined" if any(found[2 * width + i] for i in flags) else "changed"
            explained[before][category] += legacy_value
            explained[after][category] -= target_value
        lines += _aggregate_lines(aggregate, legacy, held, explained)
    return lines


def _aggregate_lines(aggregate: Aggregate, legacy: dict[str, float], target: dict[str, float],
                     explained: dict[str, dict[str, float]]) -> list[ReconcileLine]:
    # A count is shown as one (20, not 20.0); a sum at the target's scale.
    shown = _round if aggregate.measure else (lambda v: int(round(v)))
    lines = []
    for key in sorted(set(legacy) | set(target) | set(explained), key=_order):
        before, after = legacy.get(key, 0.0), target.get(key, 0.0)
        why = {c: shown(v) for c, v in (explained[key] if key in explained else dict.fromkeys(CATEGORIES, 0.0)).items()}
        left = shown(before - after - sum(why.values()))
        if not before and not after and not any(why.values()):
            continue  # a group whose amounts are none on either side (not numbers): nothing to reconcile
        lines.append(ReconcileLine(aggregate.name, key, shown(before), shown(after), why, left))
    return lines


def _key(group: Iterable[Any]) -> str:
    return " · ".join(str(v).strip() if v is not None and str(v).strip() else BLANK for v in group)


def _order(key: str) -> tuple[bool, bool, str]:
    return (UNREADABLE in key, BLANK in key, key.casefold())


def _number(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _round(value: float) -> float:
    rounded = round(value, _SCALE)
    return rounded + 0.0  # no -0.0 in a report


# -- the legacy side from a run directory --------------------------------------------------------


def legacy_datasets(run_dir: Path, mappings: dict[str, Mapping] | None = None
                    ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Per entity, the legacy records a run read, from its directory (their key and the fields
    AGGREGATES use): every source's mapped records (mapped/<source>.parquet), plus the records its filters removed, mapped again from
    extracted/<source>.parquet without the filters (the filtered list keeps only their ids).
    `mappings`: per source name, its Mapping, while the run is going (default: the sources and
    mapping files its run.json names). Returns the datasets and notes on what could not be read."""
    from crmmigrate.mapping.config import load_mapping

    run_dir = Path(run_dir)
    if mappings is None:
        sources: list[tuple[str, str, Mapping | Path]] = [(name, entity, Path(path))
                                                          for name, entity, path in _run_sources(run_dir)]
    else:
        sources = [(name, mapping.entity, mapping) for name, mapping in mappings.items()]
    frames: dict[str, list[pd.DataFrame]] = {}
    notes: list[str] = []
    for name, entity, mapping in sources:
        stem = file_name(name)
        mapped = run_dir / "mapped" / f"{stem}.parquet"
        if not mapped.is_file():
            raise BadUsage(f"{run_dir} has no {mapped.relative_to(run_dir)}: the run's staged records of "
                           f"source {name!r} are gone.")
        records = pd.read_parquet(mapped, columns=_columns(entity, pq.read_schema(mapped).names))
        frames.setdefault(entity, []).append(records)
        frames[entity].append(_unreadable(run_dir / "extracted" / f"{stem}.rejects.csv", records))
        filtered = _read_csv(run_dir / "mapped" / f"{stem}.filtered.csv", ["_row"])
        if filtered.empty:
            continue
        if isinstance(mapping, Path):
            if not mapping.is_file():
                notes.append(f"{len(filtered):,} filtered record(s) of source {name!r} are left out of the legacy "
                             f"side: their mapping {str(mapping)!r} is not there to read them again.")
                continue
            mapping = load_mapping(mapping)
        again = _unfiltered(mapping, run_dir / "extracted" / f"{stem}.parquet", filtered)
        frames[entity].append(again[_columns(entity, list(again.columns))])
    return {e: pd.concat(parts, ignore_index=True) for e, parts in frames.items()}, notes


def _columns(entity: str, present: list[str]) -> list[str]:
    """What the reconciliation reads of a staged dataset: the record's key and the fields an
    aggregate of its entity groups or sums (a cutover's contacts hold millions of rows)."""
    wanted = {"id", "_source", "_row", *(f for a in AGGREGATES if a.entity == entity
                                         for f in (*a.by, *([a.measure] if a.measure else [])))}
    return [c for c in present if c in wanted]


def _run_sources(run_dir: Path) -> list[tuple[str, str, str]]:
    """(name, entity, mapping file) of every source run.json names."""
    log = run_dir / "run.json"
    try:
        run = json.loads(log.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadUsage(f"{run_dir} is not a run directory: it has no run.json.",
                       hint="Give a directory of runs/, e.g. runs/20261205T161522Z-bbc373.") from None
    except (OSError, ValueError) as exc:
        raise BadUsage(f"cannot read {log}: {exc}.") from None
    sources = run.get("sources") if isinstance(run, dict) else None
    if not sources:
        raise BadUsage(f"{log} lists no sources: the run did not get as far as extracting.",
                       hint="Reconcile against a run that loaded.")
    return [(str(s["name"]), str(s["entity"]), str(s.get("mapping", ""))) for s in sources]


def _unreadable(path: Path, records: pd.DataFrame) -> pd.DataFrame:
    """The rows extract could not read (its rejects file), as records with no values: they are
    in the ledger (rejected, keyed by their row). A reject of a record that was read (a legacy id
    too long for the target) is among `records` already."""
    rejects = _read_csv(path, ["_source", "_row"])
    rejects = rejects[~_rows_among(rejects["_row"], records["_row"])]
    return pd.DataFrame({"id": None, "_source": rejects["_source"], "_row": rejects["_row"],
                         _UNREADABLE_COLUMN: True}, index=rejects.index)


def _unfiltered(mapping: Mapping, extracted: Path, filtered: pd.DataFrame) -> pd.DataFrame:
    """The filtered records mapped again from their extracted rows, by a mapping without filters."""
    from crmmigrate.mapping.engine import Mapper

    rows = pd.read_parquet(extracted)
    rows = rows[_rows_among(rows["_row"], filtered["_row"])].reset_index(drop=True)
    records, _ = Mapper(mapping.model_copy(update={"where": []}), list(rows.columns)).map(rows)
    return records


def _rows_among(rows: pd.Series, among: pd.Series) -> np.ndarray:
    """Whether each row number is one of `among`'s, compared as text, in Arrow: pandas' isin
    of a text column makes an Arrow scalar of every value of the set, one by one (seconds for
    the hundreds of thousands of rows of a source, even to look for none)."""
    if rows.empty or among.empty:
        return np.zeros(len(rows), dtype=bool)
    found = pc.is_in(_texts_in_arrow(rows), value_set=_texts_in_arrow(among))
    return found.to_numpy(zero_copy_only=False)


def _texts_in_arrow(values: pd.Series) -> pa.Array:
    text = pa.array(values.astype(str), pa.large_string())
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """A run's rejects or filtered list (none when the file is not there)."""
    if not path.is_file():
        return pd.DataFrame(columns=columns, dtype=str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def unexplained(lines: Iterable[ReconcileLine]) -> list[ReconcileLine]:
    """The lines whose difference the ledger does not explain."""
    return [line for line in lines if not line.ok]


def describe(line: ReconcileLine) -> str:
    """One line for a person: "accounts by owner 'Petrov A.': legacy 4, target 2; merged 1, rejected 1;
    1 unexplained"."""
    why = ", ".join(f"{name} {_figure(value)}" for name, value in line.explained.items() if value)
    return (f"{line.aggregate} {line.key!r}: legacy {_figure(line.legacy)}, target {_figure(line.target)}"
            + (f"; {why}" if why else "") + (f"; {_figure(line.unexplained)} unexplained" if not line.ok else ""))


def _figure(value: float) -> str:
    """1,234 or 1,234,567.5: the figure in full, never in scientific notation."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{_SCALE}f}".rstrip("0")
