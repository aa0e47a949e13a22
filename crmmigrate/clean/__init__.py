"""The clean stage: normalisers (normalisers.py), the rules that name them (rules.py) and the
engine that applies them with a change log (engine.py)."""

from __future__ import annotations

from pathlib import Path

from crmmigrate.clean.engine import (
    CHANGE_COLUMNS,
    NOTE_COLUMNS,
    CleanResult,
    FieldReport,
    clean,
)
from crmmigrate.clean.rules import CleaningRules, load_cleaning
from crmmigrate.progress import Progress

__all__ = ["CHANGE_COLUMNS", "NOTE_COLUMNS", "CleanResult", "CleaningRules", "FieldReport", "clean",
           "clean_dataset", "load_cleaning"]


def clean_dataset(item: str, output: Path, *, rules: Path | None, region: str | None, changes: Path,
                  notes: Path, progress: Progress | None = None) -> CleanResult:
    """Clean one dataset from the command line (a staged file, or MAPPING=SOURCE) into `output`,
    with its change log and notes; `progress` is told how cleaning goes (`clean`)."""
    from crmmigrate.errors import BadUsage
    from crmmigrate.staging import write_frames
    from crmmigrate.datasets import collect_datasets
    from crmmigrate.validate import load_rules

    datasets = collect_datasets([item])
    if len(datasets) != 1:
        raise BadUsage(f"{item}: expected one canonical dataset.")
    result = clean(datasets, rules=load_cleaning(rules), region=region or load_rules().phone_region,
                   progress=progress)
    write_frames(output, result.datasets.values())
    write_frames(changes, [result.changes])
    write_frames(notes, [result.notes])
    return result
