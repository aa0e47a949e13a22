"""Survivorship: the master record of a cluster, the surviving record built field by field, and
every pointer to a merged record re-pointed to its survivor."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from crmmigrate.dedupe.rules import Survivorship
from crmmigrate.model import ANY_ENTITY, MODEL, Field
from crmmigrate.text import among, trimmed


def _created(frame: pd.DataFrame) -> pd.Series:
    if "created_at" not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame["created_at"], errors="coerce", format="ISO8601", utc=True)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A field's values stripped, missing where blank."""
    return pd.Series(trimmed(frame[name]), index=frame.index, dtype="str")


def _stamp(created: pd.Series, *, newest: bool) -> np.ndarray:
    """Sortable instants, records with none last."""
    values = created.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    missing = created.isna().to_numpy()
    values = -values if newest else values
    values[missing] = np.iinfo(np.int64).max
    return values


def texts(records: pd.DataFrame, fields: list[str], *, at: np.ndarray | None = None) -> dict[str, pd.Series]:
    """Each field's values stripped, None where blank: what `rank` and `survivors` look at.
    `at`: of the records at these positions only, taken a field at a time."""
    if at is None:
        return {name: _text(records, name) for name in fields}
    return {name: _text(records[[name]].iloc[at], name) for name in fields}


def rank(records: pd.DataFrame, rules: Survivorship, *, fields: list[str], loaded: set[tuple[str, str]],
         children: dict[str, int], text: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """Clustered records (columns `_cluster`, `_source`, `_legacy`) sorted master first within
    each cluster, by the master rules in order and then by source and legacy id (so the same
    input always gives the same master); `_rank` is 0 for each cluster's master. `text`:
    the records' `texts`, when at hand."""
    keys = records["_source"].astype(str) + "\x1f" + records["_legacy"]
    sort: dict[str, np.ndarray] = {"_cluster": records["_cluster"].to_numpy()}
    created = _created(records)
    for rule in rules.master:
        if rule == "already_loaded":
            sort[rule] = (~among(keys, [f"{s}\x1f{i}" for s, i in loaded])).to_numpy(dtype=np.int8)
        elif rule == "most_complete":
            text = text if text is not None else texts(records, fields)
            filled = sum(text[f].notna().to_numpy(dtype=int) for f in fields) if fields else 0
            sort[rule] = -np.asarray(filled)
        elif rule in ("oldest", "newest"):
            sort[rule] = _stamp(created, newest=rule == "newest")
        elif rule == "source_priority":
            sort[rule] = records["_source"].astype(str).map(lambda s: _priority(s, rules.sources)).to_numpy()
        elif rule == "most_children":
            sort[rule] = -records["_legacy"].map(children).fillna(0).to_numpy(dtype=np.int64)
    sort["_source"] = records["_source"].astype(str).to_numpy()
    sort["_legacy"] = records["_legacy"].to_numpy()
    order = pd.DataFrame(sort, index=records.index).sort_values(list(sort), kind="stable").index
    ranked = records.loc[order].copy()
    ranked["_rank"] = ranked.groupby("_cluster", sort=False).cumcount().to_numpy()
    return ranked


def _priority(source: str, sources: list[str]) -> int:
    return sources.index(source) if source in sources else len(sources)


def survivors(ranked: pd.DataFrame, rules: Survivorship, fields: list[str],
              invalid: set[tuple[str, str, str]] | None = None, text: dict[str, pd.Series] | None = None,
              ) -> pd.DataFrame:
    """Each cluster's surviving values (one row per cluster, indexed by it): the values of the
    records `chosen` picks."""
    picked = chosen(ranked, rules, fields, invalid, text)
    return pd.DataFrame({name: ranked[name].loc[picked[name]].to_numpy() for name in fields},
                        index=picked.index, columns=fields)


def chosen(ranked: pd.DataFrame, rules: Survivorship, fields: list[str],
           invalid: set[tuple[str, str, str]] | None = None, text: dict[str, pd.Series] | None = None,
           ) -> pd.DataFrame:
    """Per cluster (one row each, indexed by it) and field, the record (`ranked`'s index label)
    whose value survives: by the field's rule, else the master, and where the chosen record has
    none, the next record in master order. A value validation failed (`invalid`: file, row,
    field) is never taken from another record. `text`: the records' `texts` (in any order),
    when at hand."""
    master = (ranked["_rank"] == 0).to_numpy()
    masters = ranked.index[master]
    out = pd.DataFrame({name: masters for name in fields}, index=ranked["_cluster"].to_numpy()[master],
                       columns=fields)
    cluster = ranked["_cluster"].to_numpy()
    bad: dict[str, list[str]] = {}  # field -> the records (file, row) whose value of it failed
    for file, row, name in invalid or ():
        bad.setdefault(name, []).append(f"{file}\x1f{row}")
    where = ranked["_file"].astype(str) + "\x1f" + ranked["_row"].astype(str) if bad else None
    created = _created(ranked) if "most_recent" in rules.fields.values() else None
    for name in fields:
        values = text[name].reindex(ranked.index) if text is not None else _text(ranked, name)
        usable = values.notna().to_numpy().copy()
        if where is not None and name in bad:
            usable &= master | ~among(where, bad[name]).to_numpy()
        at = np.flatnonzero(usable)  # in master order
        if not len(at):
            continue
        rule = rules.fields.get(name, "master")
        if rule == "most_recent":
            assert created is not None
            key = _stamp(created.iloc[at], newest=True)
        elif rule == "longest":
            key = -values.iloc[at].str.len().to_numpy()
        elif rule == "most_frequent":
            chosen = values.iloc[at]
            key = -chosen.groupby([cluster[at], chosen.to_numpy()]).transform("size").to_numpy()
        elif rule == "source_priority":
            key = ranked["_source"].iloc[at].astype(str).map(lambda s: _priority(s, rules.sources)).to_numpy()
        else:
            key = np.zeros(len(at), dtype=np.int64)
        order = at[np.argsort(key, kind="stable")]  # ties stay in master order
        _, first = np.unique(cluster[order], return_index=True)
        best = order[first]
        out.loc[cluster[best], name] = ranked.index[best]
    return out


def master_order(group: pd.DataFrame, rules: Survivorship, *, fields: list[str], loaded: set[tuple[str, str]],
                 children: dict[str, int]) -> list:
    """One group's records (index labels), best first by the master rules."""
    ranked = rank(group.assign(_cluster=0), rules, fields=fields, loaded=loaded, children=children)
    return ranked.index.tolist()


def surviving_values(group: pd.DataFrame, order: list, rules: Survivorship, fields: list[str],
                     invalid: set[tuple[str, str, str]] | None = None) -> dict[str, object]:
    """One group's surviving record, its records in master `order`."""
    ranked = group.loc[order].assign(_cluster=0)
    ranked["_rank"] = np.arange(len(ranked))
    return survivors(ranked, rules, fields, invalid).iloc[0].to_dict()


def repoint(datasets: dict[str, pd.DataFrame], entity: str, survivors: dict[str, str],
            ambiguous: set[str]) -> dict[str, int]:
    """Point every pointer into `entity` that names a merged record (by legacy id) at its
    survivor, in every dataset; returns the count per entity.field. A legacy id two sources
    share is left alone (the loader could not tell which record it means either)."""
    counts: dict[str, int] = {}
    if not survivors:
        return counts
    for name, frame, f, values, named in _pointers_into(datasets, entity):
        hit = among(values, survivors) & ~among(values, ambiguous)
        if named is not None:
            hit &= named
        if hit.any():
            frame.loc[hit, f.name] = values[hit].map(survivors)
            counts[f"{name}.{f.name}"] = int(hit.sum())
        if name == entity and f.target == entity:
            # A record that pointed at its own duplicate (an account its duplicate's
            # parent) would now point at itself: that pointer is cleared, and counted.
            own = hit & (frame[f.name].astype("str") == frame["id"].astype("str").str.strip())
            if own.any():
                frame.loc[own, f.name] = None
                counts[f"{name}.{f.name} (its own duplicate, cleared)"] = int(own.sum())
    return counts


def child_counts(datasets: dict[str, pd.DataFrame], entity: str) -> dict[str, int]:
    """How many records in other entities point at each legacy id of `entity`."""
    found: dict[str, int] = {}
    for _, _, _, values, named in _pointers_into(datasets, entity):
        if named is not None:
            values = values[named]
        counts = values.dropna().value_counts()
        for value, count in zip(counts.index.to_numpy(dtype=object).tolist(), counts.to_numpy().tolist(),
                                strict=True):
            found[value] = found.get(value, 0) + count
    return found


def _pointers_into(datasets: dict[str, pd.DataFrame], entity: str
                   ) -> Iterator[tuple[str, pd.DataFrame, Field, pd.Series, pd.Series | None]]:
    """Each pointer field of the datasets that can point into `entity`: the dataset's name, its
    frame, the field, its values stripped, and for a pointer to any entity the rows whose
    related entity is `entity` (None for a pointer to `entity` itself). A field's values are
    read when it comes up, after what was done to the ones before."""
    for name, frame in datasets.items():
        for f in MODEL.entity(name).pointers:
            if f.name not in frame or (f.target != entity and f.target != ANY_ENTITY):
                continue
            values = frame[f.name].astype("str").str.strip()
            named = (frame[f.target_from].astype("str").str.strip().str.casefold() == entity
                     if f.target == ANY_ENTITY else None)
            yield name, frame, f, values, named
