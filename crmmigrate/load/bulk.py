"""The bulk path of a load: a big first load (`bulk_rows` new records, more than the table holds)
on PostgreSQL, SQLite and MariaDB in one transaction for the source (on PostgreSQL and SQLite
the table's indexes dropped and built again after its rows), records prepared piece by piece
while the database takes the previous piece: COPY, an ADBC-staged file, LOAD DATA LOCAL
INFILE. A kill leaves the table as it was; a refusal sends the source batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate.load.batch import not_interrupted, split
from crmmigrate.load.dialects import StagingFailed
from crmmigrate.load.rows import rejected_entries

if TYPE_CHECKING:
    from crmmigrate.load.engine import LoadReport, SourceLoad


@dataclass
class Streamed:
    """What streaming a bulk load's records left for the rest of it."""

    next_id: int
    # Of each piece, only its rejected records and its count of quarantined values: its rows
    # are sent and let go, so the source's prepared rows are never all held at once.
    rejected: list[pd.DataFrame] = field(default_factory=list)
    quarantined: int = 0
    entries: list[pa.Table] = field(default_factory=list)  # legacy_id, target_id of rows written
    changes: list[tuple[pa.Table, np.ndarray]] = field(default_factory=list)  # changed rows, their ids
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0})


class BulkLoader:
    """The loader's bulk path (a part of `engine._EntityLoader`, whose attributes it reads and
    whose batch path (`_transaction`, `_update`), `_advance` and `ledger` (its IdMap) it calls)."""

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

    def _load_bulk(self, source: str, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict,
                   repeats: pd.Series, existing: pa.Table, stats: SourceLoad, report: LoadReport,
                   total: int) -> bool:
        """A big source in one transaction, the way the databases' manuals advise: the table's
        indexes (and PostgreSQL's foreign keys) are dropped, the records written with the ids
        the loader gives them, the indexes built again, the id_map entries written in one go.
        The records are prepared piece by piece while the previous piece is written: on
        PostgreSQL into one COPY, on SQLite into a staging file by ADBC's Arrow ingest, copied
        into the table by SQLite itself, on MariaDB by LOAD DATA LOCAL INFILE of each piece
        (its indexes kept: its DDL would commit the transaction). False when the database refused something: nothing
        is kept, and the caller loads the source batch by batch to find the rows it refuses."""
        done = self.done
        try:
            streamed, rejected = self.dialect.bulk_write(
                self.connection, self.table, self.columns, self._transaction,
                lambda send, first: self._stream(frame, failures, pointers, repeats, existing, send, first, total),
                lambda dropped, streamed: self._finish_bulk(source, dropped, streamed))
        except (*self.refusals, StagingFailed) as refused:
            not_interrupted(refused)
            self.done = done
            return False
        for item in rejected.to_dict("records"):
            report.rejects.append({**item, "entity": self.entity.name})
        stats.rejected += len(rejected)
        stats.quarantined = streamed.quarantined
        stats.inserted += streamed.counts["new"]
        stats.updated += streamed.counts["changed"]
        stats.unchanged += streamed.counts["unchanged"]
        return True

    def _stream(self, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict, repeats: pd.Series,
                existing: pa.Table, send: Callable[[pa.Table], None], next_id: int, total: int) -> Streamed:
        """Prepare the records piece by piece, send the new ones (with ids from `next_id`) and
        keep what the rest of the load needs: changed rows, id_map entries, counts."""
        streamed = Streamed(next_id=next_id)
        for piece in self._pieces(frame, failures, pointers, repeats):
            streamed.rejected.append(piece.rejected)
            streamed.quarantined += piece.quarantined
            rows = piece.rows
            new, changed, ids = split(rows, existing)
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
            self._advance(len(rows) + len(piece.rejected), total)
            del piece, rows, new, changed, ids, written  # held no longer than the preparers hold the next
        return streamed

    def _finish_bulk(self, source: str, dropped: list[sa.Constraint], streamed: Streamed) -> pd.DataFrame:
        """After the new rows: update the changed ones, build the indexes, write id_map;
        returns the rejected records."""
        for rows, ids in streamed.changes:
            self._update(rows, ids)
        self.dialect.build_indexes(self.connection, self.table, dropped)
        loaded = pa.concat_tables(streamed.entries)
        self.ledger.write_bulk(self.table, source, loaded)
        rejected = pd.concat(streamed.rejected, ignore_index=True)
        # A record rejected as a repeat shares its legacy id with the loaded one, which keeps
        # the id_map entry (as an upsert of both would leave it).
        repeat = pc.is_in(pa.array(rejected["legacy_id"], pa.string()),
                          value_set=loaded.column("legacy_id")).to_numpy(zero_copy_only=False)
        self.ledger.write(rejected_entries(rejected[~repeat]))
        return rejected
