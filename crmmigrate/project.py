"""A migration config's settings for the commands run one by one (`--config migration.yaml`).

`crmmigrate run` reads everything from migration.yaml: the rules, thresholds, cleaning and
dedupe files, and each source's extract options, mapping and phone_region. The commands of
the single stages take the same file, so that they judge the data as the run will:

    migration = load_migration(Path("migration.yaml"))
    datasets, runs = mapped(migration, folder)       # every source extracted and mapped as run does
    validate(datasets, ..., regions=migration.phone_regions)

Mapped records carry their source's name (`_source`), so a staged dataset given on the command
line gets its source's settings too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crmmigrate.clean import CleanResult, clean, load_cleaning
from crmmigrate.datasets import collect_datasets
from crmmigrate.errors import BadUsage, did_you_mean
from crmmigrate.migration import Migration, PlannedSource
from crmmigrate.run import Progress, SourceRun, extract_and_map
from crmmigrate.staging import file_name
from crmmigrate.validate import load_rules

# file_name (staging's) and extract_and_map (run's) are offered here to the commands run one by one.
__all__ = ["cleaned", "datasets", "extract_and_map", "file_name", "mapped", "pick", "stranger_note"]


def pick(migration: Migration, name: str | None) -> list[PlannedSource]:
    """The config's sources: all of them, or the one with this name (or location)."""
    if name is None:
        return list(migration.sources)
    for planned in migration.sources:
        if name in (planned.name, planned.source.location) or (
                not planned.source.is_url and Path(name).resolve() == Path(planned.source.location).resolve()):
            return [planned]
    names = [p.name for p in migration.sources]
    guess = did_you_mean(name, names)
    raise BadUsage(
        f"{migration.file} has no source {name!r}" + (f" (did you mean {guess!r}?)" if guess else "")
        + f"; its sources: {', '.join(names)}.",
        hint="With --config, SOURCE is the name of one of its sources; leave it out for all of them.",
    )


def mapped(migration: Migration, folder: Path, sources: list[PlannedSource] | None = None,
           progress: Progress | None = None) -> tuple[dict[str, pd.DataFrame], list[SourceRun]]:
    """Every source (or `sources`) extracted and mapped as a run does it, staged in `folder`:
    the mapped records by entity, and what was done to each source."""
    frames: dict[str, list[pd.DataFrame]] = {}
    runs = []
    for planned in sources if sources is not None else migration.sources:
        run, records, _filtered, _rejects = extract_and_map(planned, folder, progress)
        runs.append(run)
        frames.setdefault(planned.entity, []).append(records)
    return {entity: pd.concat(parts, ignore_index=True) for entity, parts in frames.items()}, runs


def cleaned(migration: Migration, datasets: dict[str, pd.DataFrame], *, rules: Path | None = None,
            region: str | None = None) -> CleanResult:
    """`datasets` cleaned as a run cleans them: the config's cleaning rules (or `rules`), each
    source's phone_region, and the validation rules' region (or `region`) for the rest."""
    return clean(datasets, rules=load_cleaning(rules or migration.cleaning),
                 region=region or load_rules(migration.rules).phone_region, regions=migration.phone_regions)


def stranger_note(migration: Migration, datasets: dict[str, pd.DataFrame]) -> str | None:
    """A note naming the sources of `datasets` records that are no source of the config:
    nothing in it applies to them (their phones are read in the rules' region). None when
    every record's source is in it."""
    known = {p.name for p in migration.sources}
    found: set[str] = set()
    for frame in datasets.values():
        if "_source" in frame:
            found.update(str(s) for s in frame["_source"].dropna().unique())
    names = sorted(found - known)
    if not names:
        return None
    return (f"source(s) {', '.join(names)} of the datasets are not in {migration.file}: its per-source "
            "settings (phone_region) do not apply to their records.")


def datasets(migration: Migration, items: list[str] | None, folder: Path, *, clean_them: bool = True,
             progress: Progress | None = None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The datasets a command given `--config` works on, and notes for the user: `items` (staged
    files or MAPPING=SOURCE) as they are, or with none every source of the config, extracted and
    mapped (and cleaned, with `clean_them`) as a run does it."""
    if items:
        found = collect_datasets(items)
        note = stranger_note(migration, found)
        return found, [note] if note else []
    found, _runs = mapped(migration, folder, progress=progress)
    if clean_them:
        found = cleaned(migration, found).datasets
    return found, []
