"""Survivorship: the master record of a cluster, the surviving record built field by field, and
every pointer to a merged record re-pointed to its survivor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmmigrate.dedupe.rules import Survivorship
from crmmigrate.model import ANY_ENTITY, MODEL


def _created(frame: pd.DataFrame) -> pd.Series:
    if "created_at" not in frame:
        return pd.Series(pd.NaT, index=frame.index)
    return pd.to_datetime(frame["created_at"], errors="coerce", format="ISO8601", utc=True)


def _filled(frame: pd.DataFrame, fields: list[str]) -> pd.Series:
    text = frame[fields].astype("str")
    return (text.notna() & (text.apply(lambda c: c.str.strip()) != "")).sum(axis=1)


def master_order(group: pd.DataFrame, rules: Survivorship, *, fields: list[str], loaded: set[tuple[str, str]],
                 children: dict[str, int]) -> list[int]:
    """The group's records (index labels) best first by the master rules, then by source and
    legacy id (so the same input always gives the same master)."""
    keys = list(zip(group["_source"].astype(str), group["_legacy"], strict=True))
    created = _created(group)
    sort: dict[str, list] = {}
    for rule in rules.master:
        if rule == "already_loaded":
            sort[rule] = [0 if k in loaded else 1 for k in keys]
        elif rule == "most_complete":
            sort[rule] = (-_filled(group, fields)).tolist()
        elif rule == "oldest":
            sort[rule] = [t.value if not pd.isna(t) else np.iinfo(np.int64).max for t in created]
        elif rule == "newest":
            sort[rule] = [-t.value if not pd.isna(t) else np.iinfo(np.int64).max for t in created]
        elif rule == "source_priority":
            sort[rule] = [_priority(s, rules.sources) for s, _ in keys]
        elif rule == "most_children":
            sort[rule] = [-children.get(legacy, 0) for _, legacy in keys]
    ranks = pd.DataFrame(sort, index=group.index)
    ranks["_source"] = [k[0] for k in keys]
    ranks["_legacy"] = [k[1] for k in keys]
    return ranks.sort_values(list(ranks.columns), kind="stable").index.tolist()


def _priority(source: str, sources: list[str]) -> int:
    return sources.index(source) if source in sources else len(sources)


def surviving_values(group: pd.DataFrame, order: list[int], rules: Survivorship, fields: list[str],
                     invalid: set[tuple[str, str, str]] | None = None) -> dict[str, object]:
    """The surviving record's value of each field: by its field rule, else the master's, and
    where the chosen record has none, the next record's in master order. A value in `invalid`
    (file, row, field: validation failed it) is never taken from another record."""
    ranked = group.loc[order]
    created = _created(ranked)
    invalid = invalid or set()
    where = list(zip(ranked["_file"].astype(str), ranked["_row"].astype(str), strict=True))
    out: dict[str, object] = {}
    for name in fields:
        values = ranked[name].astype("str").str.strip()
        valid = np.array([i == 0 or (f, r, name) not in invalid for i, (f, r) in enumerate(where)])
        present = values.notna() & (values != "") & valid
        if not present.any():
            out[name] = ranked[name].iloc[0]
            continue
        rule = rules.fields.get(name, "master")
        candidates = ranked.index[present.to_numpy()]
        if rule == "most_recent":
            stamps = created.loc[candidates]
            choice = stamps.idxmax() if stamps.notna().any() else candidates[0]
        elif rule == "longest":
            lengths = values.loc[candidates].str.len()
            choice = lengths.idxmax()  # the first longest in master order
        elif rule == "most_frequent":
            counts = values.loc[candidates].map(values.loc[candidates].value_counts())
            choice = counts.idxmax()
        elif rule == "source_priority":
            priority = ranked.loc[candidates, "_source"].astype(str).map(lambda s: _priority(s, rules.sources))
            choice = priority.idxmin()
        else:
            choice = candidates[0]
        out[name] = ranked.at[choice, name]
    return out


def repoint(datasets: dict[str, pd.DataFrame], entity: str, survivors: dict[str, str],
            ambiguous: set[str]) -> dict[str, int]:
    """Point every pointer into `entity` that names a merged record (by legacy id) at its
    survivor, in every dataset; returns the count per entity.field. A legacy id two sources
    share is left alone (the loader could not tell which record it means either)."""
    counts: dict[str, int] = {}
    if not survivors:
        return counts
    for name, frame in datasets.items():
        for f in MODEL.entity(name).pointers:
            if f.name not in frame or (f.target != entity and f.target != ANY_ENTITY):
                continue
            values = frame[f.name].astype("str").str.strip()
            hit = values.isin(list(survivors)) & ~values.isin(list(ambiguous))
            if f.target == ANY_ENTITY:
                hit &= frame[f.target_from].astype("str").str.strip().str.casefold() == entity
            if hit.any():
                frame.loc[hit, f.name] = values[hit].map(survivors)
                counts[f"{name}.{f.name}"] = int(hit.sum())
    return counts


def child_counts(datasets: dict[str, pd.DataFrame], entity: str) -> dict[str, int]:
    """How many records in other entities point at each legacy id of `entity`."""
    found: dict[str, int] = {}
    for name, frame in datasets.items():
        for f in MODEL.entity(name).pointers:
            if f.name not in frame or (f.target != entity and f.target != ANY_ENTITY):
                continue
            values = frame[f.name].astype("str").str.strip()
            if f.target == ANY_ENTITY:
                values = values[frame[f.target_from].astype("str").str.strip().str.casefold() == entity]
            for value, count in values.dropna().value_counts().items():
                found[value] = found.get(value, 0) + int(count)
    return found
