"""Preparing a source's records for their table, column by column (a cutover moves millions of
them): values typed, invalid ones quarantined, pointers resolved through id_map, rejections with
their reason; and, for a bulk load, piece by piece in forked processes."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crmmigrate import parallel
from crmmigrate.load.id_map import IdMap
from crmmigrate.load.schema import too_long_id_reason, too_long_ids
from crmmigrate.model import ANY_ENTITY, MODEL, Entity, FieldClass, FieldType
from crmmigrate.text import strip
from crmmigrate.validate.result import ValidationResult

BULK_PIECE_ROWS = 100_000  # records prepared at a time while the database takes the ones before
PIECES_AHEAD = 3  # pieces the forked preparers may have ready before they are written
PREPARERS = 2  # forked processes preparing pieces (on a machine with more than one core)


@dataclass
class Prepared:
    """One source's records ready for the table: `rows` in the table's column order (no `id`),
    `origins` aligned with them, and the records rejected by policy."""

    rows: pa.Table
    origins: pd.DataFrame  # _source, _file, _row, legacy_id
    rejected: pd.DataFrame  # the same plus reason
    quarantined: int


class RowPreparer:
    """The loader's preparing of rows (a part of `engine._EntityLoader`, whose attributes below
    it reads)."""

    entity: Entity
    validation: ValidationResult
    run_id: str
    columns: list[str]
    ledger: IdMap

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
        for target in sorted(targets):
            rows = self.ledger.pointer_targets(target)
            maps[target] = (pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.int64()))
        return maps

    def _repeats(self, frame: pd.DataFrame, ids: pa.Array) -> pd.Series:
        """Per record of a source, why it is rejected as a repeat of an earlier legacy id (or
        None); `ids` are its legacy ids as `arrow_text` gives them."""
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
                 repeats: pd.Series) -> Prepared:
        """`repeats`: `_repeats` of the whole source, aligned with `frame` (a piece of it)."""
        frame = frame.reset_index(drop=True)
        count = len(frame)
        where = frame["_file"].astype(str) + "\x1f" + frame["_row"].astype(str)
        failing = failures.assign(at=pd.Index(where).get_indexer(failures["_file"] + "\x1f" + failures["_row"]))
        failing = failing[failing["at"] >= 0]
        # One key per record in id_map, whatever happens to it: legacy ids without padding.
        legacy = arrow_text(frame["id"])
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
            values = arrow_text(frame[f.name])
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

        custom = arrow_text(frame["_custom"])
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
        return Prepared(table.filter(pa.array(kept)), origins[kept].reset_index(drop=True),
                         rejected.reset_index(drop=True),
                         sum(len(q) for i, q in quarantine.items() if kept[i]))

    def _resolve(self, f, values: pa.Array, frame: pd.DataFrame, pointers: dict,
                 quarantine: dict[int, list[dict]]) -> pa.Array:
        """Legacy pointer values as target ids; a value that leads nowhere is quarantined.
        A pointer into the entity itself is set in a second pass, once every record has an id."""
        if f.target == self.entity.name:
            return pa.nulls(len(values), pa.int64())
        if f.target == ANY_ENTITY:
            targets = arrow_text(frame[f.target_from])
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

    def _pieces(self, frame: pd.DataFrame, failures: pd.DataFrame, pointers: dict,
                repeats: pd.Series) -> Iterator[Prepared]:
        """A source's records prepared BULK_PIECE_ROWS at a time. With more than one core, a
        forked process prepares them while this one writes (both would hold Python's GIL):
        it inherits the records, and sends back each piece as Arrow and pandas columns."""
        starts = range(0, len(frame), BULK_PIECE_ROWS)
        if len(starts) < 2 or parallel.cores() < 2 or not parallel.can_fork():
            for start in starts:
                yield self._prepare(frame.iloc[start : start + BULK_PIECE_ROWS], failures, pointers,
                                    repeats.iloc[start : start + BULK_PIECE_ROWS])
            return
        global _FORKED
        _FORKED = (self, frame, failures, pointers, repeats)
        try:
            with parallel.forked_pool(PREPARERS) as preparer:
                ahead = deque(preparer.submit(_prepare_forked, start) for start in starts[:PIECES_AHEAD])
                for start in starts[PIECES_AHEAD:]:
                    piece = ahead.popleft().result()
                    ahead.append(preparer.submit(_prepare_forked, start))
                    yield piece
                while ahead:
                    yield ahead.popleft().result()
        finally:
            _FORKED = None


# What a forked preparer inherits: the loader, the source's records, its failures, the pointer
# maps, the repeats (set just before the fork, so nothing is pickled on the way there).
_FORKED: tuple[RowPreparer, pd.DataFrame, pd.DataFrame, dict, pd.Series] | None = None


def _prepare_forked(start: int) -> Prepared:
    loader, frame, failures, pointers, repeats = _FORKED  # type: ignore[misc]
    return loader._prepare(frame.iloc[start : start + BULK_PIECE_ROWS], failures, pointers,
                           repeats.iloc[start : start + BULK_PIECE_ROWS])


def rejected_entries(rejected: pd.DataFrame) -> pd.DataFrame:
    """id_map entries of rejected records (a record with no legacy id is keyed by its row)."""
    return pd.DataFrame({"source": rejected["_source"],
                         "legacy_id": rejected["legacy_id"].fillna("row " + rejected["_row"]),
                         "target_id": None, "status": "rejected", "reason": rejected["reason"]})


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


def arrow_text(column: pd.Series) -> pa.Array:
    """Text stripped of padding, blanks as nulls, as one Arrow string array."""
    values = pa.array(column.astype("str"), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = strip(values.cast(pa.string()))  # as str.strip() and so id_map_key trim
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
