"""id_map rebuilt from the loaded tables, where it disagrees with them.

The entity tables are the truth about what is loaded: a row is there or it is not. id_map
must say the same (the design's ledger), and every run checks that it does. Should it not (a
crash the ledger did not survive, two runs on one target before there was a lock, a hand
edit), no later run could put it right: its rows are unchanged, so it writes nothing, and
finds id_map still wrong. `repair_id_map` puts it right from the tables:

- a row whose entry is missing, names another row (or none), or says the database refused the
  record because another run was writing (its legacy key taken already, the database locked,
  a deadlock): the entry becomes `loaded` with the row's id (and the run that wrote the row).
  A `merged` entry naming the record's own row (its survivor was not loaded) is right as it
  is, and so is a `rejected` or `filtered` entry for any other reason: a later run refused
  or filtered the record's new version, and the row an earlier run loaded stays;
- a `loaded` entry with no row (removed by hand, say): the entry is removed, so that pointers
  no longer resolve to a row that is not there; the next run loads the record again.

`crmmigrate target repair` runs it; so does every run, under the target's lock, before it
writes anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa

from crmmigrate.errors import CrmMigrateError
from crmmigrate.load.id_map import delete_entries, upsert_entries
from crmmigrate.load.lock import target_lock
from crmmigrate.load.schema import ID_MAP, build_metadata, check_target, table_name
from crmmigrate.model import MODEL
from crmmigrate.passwords import mask_url

MISSING = "missing"  # how a record with no id_map entry is counted


class NotATarget(CrmMigrateError):
    """A database whose tables differ from the target schema: id_map cannot be rebuilt from them."""


@dataclass
class Repair:
    """What repairing id_map changed (or, in a dry run, would change): per entity, source and
    the entry's status before, how many entries became `loaded`; and how many `loaded`
    entries with no row were removed."""

    relinked: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (entity, source, was)
    removed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (entity, source)

    def __bool__(self) -> bool:
        return bool(self.relinked or self.removed)

    @property
    def changed(self) -> int:
        return sum(self.relinked.values()) + sum(self.removed.values())

    def lines(self) -> list[str]:
        """One line per kind of change, as a person reads it."""
        found = [f"{entity}/{source}: {count:,} " + (
                     f"'loaded' entr{'y' if count == 1 else 'ies'} naming another row, now naming the record's own"
                     if was == "loaded" else f"entr{'y' if count == 1 else 'ies'} "
                     + ("missing" if was == MISSING else f"'{was}'") + " for rows the table holds, now 'loaded'")
                 for (entity, source, was), count in sorted(self.relinked.items())]
        found += [f"{entity}/{source}: {count:,} 'loaded' entr{'y' if count == 1 else 'ies'} with no row in the "
                  "table removed (the next run loads them again)"
                  for (entity, source), count in sorted(self.removed.items())]
        return found

    def as_dict(self) -> dict[str, object]:
        return {"relinked": [{"entity": e, "source": s, "was": w, "count": n}
                             for (e, s, w), n in sorted(self.relinked.items())],
                "removed": [{"entity": e, "source": s, "count": n} for (e, s), n in sorted(self.removed.items())]}


def repair_id_map(engine: sa.Engine, *, dry_run: bool = False) -> Repair:
    """Make id_map agree with the entity tables, in one transaction (rolled back in a dry
    run), holding the target's lock; returns what changed. A target without the tables has
    nothing to repair."""
    with target_lock(engine):
        return _repair(engine, dry_run)


def _repair(engine: sa.Engine, dry_run: bool) -> Repair:
    metadata = build_metadata()
    id_map = metadata.tables[ID_MAP]
    existing = set(sa.inspect(engine).get_table_names())
    repair = Repair()
    if ID_MAP not in existing:
        return repair
    problems = check_target(engine)
    if problems:
        raise NotATarget(f"{mask_url(engine.url)}: {'; '.join(problems)}: id_map cannot be rebuilt from tables "
                         "that are not crmmigrate's.",
                         hint="Check the URL; `crmmigrate target check` lists what differs.")
    with engine.connect() as connection:
        transaction = connection.begin()
        for entity in MODEL.load_order():
            table = metadata.tables[table_name(entity)]
            if table.name in existing:
                _relink(connection, id_map, table, entity, repair)
                _remove(connection, id_map, table, entity, repair)
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
    return repair


def _another_run(table: str) -> tuple[str, ...]:
    """What a database says, in lower case, when it refuses a row because another run was
    writing: the table's legacy key taken (PostgreSQL and MariaDB name the index, SQLite the
    columns), the database locked, a deadlock."""
    return (f"uq_{table}_legacy", f"{table}.legacy_source, {table}.legacy_id", "database is locked",
            "deadlock", "lock wait timeout")


def _relink(connection: sa.Connection, id_map: sa.Table, table: sa.Table, entity: str, repair: Repair) -> None:
    """Rows whose entry is missing, names another row, or was refused for another run's sake:
    entries `loaded` with the row's id."""
    m, t = id_map.c, table.c
    joined = table.outerjoin(id_map, sa.and_(m.entity == entity, m.source == t.legacy_source,
                                             m.legacy_id == t.legacy_id))
    wrong_row = sa.and_(m.status.in_(("loaded", "merged")), sa.func.coalesce(m.target_id, -1) != t.id)
    reason = sa.func.lower(sa.func.coalesce(m.reason, ""))
    another_run = sa.and_(m.status == "rejected", reason.like("database refused:%"),
                          sa.or_(*(reason.like(f"%{sign}%") for sign in _another_run(table.name))))
    rows = connection.execute(sa.select(t.legacy_source, t.legacy_id, t.id, t.run_id, m.status)
                              .select_from(joined).where(sa.or_(m.legacy_id.is_(None), wrong_row,
                                                                another_run))).all()
    if not rows:
        return
    for source, _, _, _, was in rows:
        repair.relinked[(entity, str(source), str(was or MISSING))] += 1
    count = len(rows)
    upsert_entries(connection, id_map, pa.table({
        "entity": pa.array([entity] * count, pa.string()),
        "source": pa.array([str(r[0]) for r in rows], pa.string()),
        "legacy_id": pa.array([str(r[1]) for r in rows], pa.string()),
        "target_id": pa.array([int(r[2]) for r in rows], pa.int64()),
        "status": pa.array(["loaded"] * count, pa.string()),
        "reason": pa.nulls(count, pa.string()),
        "run_id": pa.array([str(r[3]) for r in rows], pa.string()),  # the run that loaded the row
    }))


def _remove(connection: sa.Connection, id_map: sa.Table, table: sa.Table, entity: str, repair: Repair) -> None:
    """`loaded` entries whose record has no row: removed."""
    m, t = id_map.c, table.c
    row = sa.select(t.id).where(t.legacy_source == m.source, t.legacy_id == m.legacy_id)
    lost = connection.execute(sa.select(m.source, m.legacy_id).where(
        m.entity == entity, m.status == "loaded", ~row.exists())).all()
    by_source: dict[str, list[str]] = {}
    for source, legacy in lost:
        by_source.setdefault(str(source), []).append(str(legacy))
    for source, legacy_ids in by_source.items():
        repair.removed[(entity, source)] += len(legacy_ids)
        delete_entries(connection, id_map, entity, source, legacy_ids)
