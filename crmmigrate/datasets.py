"""Canonical datasets as the stages after map take them: the one place that collects them from
the command line, for validate, clean, dedupe and load alike.

    collect_datasets(["staged/accounts.parquet", "mappings/crm.yaml=export/contacts.csv"])
        -> {"account": DataFrame, "contact": DataFrame}

An item is a file `crmmigrate map` staged, or MAPPING=SOURCE, mapped in memory (the mapping's
source options apply to the source). Several files of one entity (several sources) are one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crmmigrate.errors import MalformedInput
from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import map_frame
from crmmigrate.model import MODEL, PROVENANCE
from crmmigrate.staging import read_staged

__all__ = ["collect_datasets", "entity_of", "load_datasets"]


def entity_of(columns: list[str], *, file: str) -> str:
    """The canonical entity a staged file holds, known by its columns (map writes every field
    of its entity in model order)."""
    present = [c for c in columns if not c.startswith("_")]
    for entity in MODEL:
        if list(entity.field_names) == present:
            return entity.name
    raise MalformedInput(
        "this is not a canonical dataset: its columns are not the fields of any entity.",
        file=file,
        hint="Validate the output of `crmmigrate map`, or map the source first.",
    )


def load_datasets(paths: list[Path]) -> dict[str, pd.DataFrame]:
    """Canonical datasets by entity; several files of one entity (several sources) are one."""
    by_entity: dict[str, list[pd.DataFrame]] = {}
    for path in paths:
        if not Path(path).exists():
            raise MalformedInput("no such file.", file=str(path))
        frame = read_staged(Path(path))
        missing = [c for c in PROVENANCE if c not in frame.columns]
        if missing:
            raise MalformedInput(
                f"no provenance column(s) {', '.join(missing)}: not written by crmmigrate map.",
                file=str(path),
            )
        by_entity.setdefault(entity_of(list(frame.columns), file=str(path)), []).append(frame)
    return {k: pd.concat(v, ignore_index=True) for k, v in by_entity.items()}


def collect_datasets(items: list[str]) -> dict[str, pd.DataFrame]:
    """Datasets from the command line: staged files from `map`, or MAPPING=SOURCE pairs that
    are mapped in memory (the mapping's source options apply to the source)."""
    staged: list[Path] = []
    mapped: dict[str, list[pd.DataFrame]] = {}
    for item in items:
        mapping_path, sep, location = item.partition("=")
        if sep and mapping_path.lower().endswith((".yaml", ".yml")):
            mapping = load_mapping(Path(mapping_path))
            options = mapping.source.given()
            frame = open_source(Source(location=location, **options)).read()
            mapped.setdefault(mapping.entity, []).append(map_frame(mapping, frame).frame)
        else:
            staged.append(Path(item))
    datasets = load_datasets(staged) if staged else {}
    for entity, frames in mapped.items():
        datasets[entity] = pd.concat([datasets.get(entity, pd.DataFrame()), *frames], ignore_index=True)
    return datasets
