"""`crmmigrate init`: a migration project that runs out of the box on the bundled samples.

    DIR/migration.yaml    the sources, their mappings, the rules and the target
    DIR/samples/          the nine legacy sample exports
    DIR/mappings/         a mapping per source
    DIR/rules/            the default rules: validation, thresholds, cleaning, dedupe

All of it is copied from the files crmmigrate ships (crmmigrate/defaults/), so init works from a
wheel as well as from a checkout, and the project can be moved, edited and put under version
control on its own (its rules/ wins over the defaults); `crmmigrate run DIR/migration.yaml`
migrates it into DIR/migration.db.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from crmmigrate.defaults import RULES_DIR, SAMPLE_MAPPINGS_DIR, SAMPLES_DIR
from crmmigrate.errors import CrmMigrateError, OutputError
from crmmigrate.mapping.config import load_mapping

# Each sample source and its mapping, parents before children (the order a reader expects).
SAMPLE_SOURCES = (
    ("legacy_crm/accounts.csv", "accounts"),
    ("legacy_crm/contacts.csv", "contacts_crm"),
    ("sales_reps/contacts.xlsx", "contacts_reps"),
    ("call_centre/leads.tsv", "leads"),
    ("legacy_crm/opportunities.json", "opportunities"),
    ("legacy_crm/opportunity_contact_roles.csv", "opportunity_contact_roles"),
    ("call_centre/cases.csv", "cases"),
    ("call_centre/activities.jsonl", "activities"),
    ("call_centre/callcentre.sqlite", "calls"),
)

CONFIG_HEADER = """\
# A migration of the crmmigrate sample exports. Run it with:
#   crmmigrate run {config}
# Every path here is relative to this file.
target: sqlite:///migration.db    # any SQLAlchemy URL, e.g. postgresql+psycopg://me@db/crm
rules: rules/validation.yaml
thresholds: rules/thresholds.yaml
cleaning: rules/cleaning.yaml
dedupe: rules/dedupe.yaml         # how duplicate accounts and contacts are found and merged
decisions: dedupe-decisions.csv   # review decisions (crmmigrate dedupe review), applied on every run
run_dir: runs                     # each run writes its artifacts and run.json to runs/<run_id>/
batch_rows: 10000                 # rows per load transaction (and per resume step)
bulk_rows: 50000                  # a source with this many new rows loads in one transaction (0: never)
sources:                          # a file or URL, its mapping, and any extract option
"""


class ProjectExists(CrmMigrateError):
    """`init` into a directory that already has files in it."""


@dataclass
class Scaffold:
    directory: Path
    config: Path
    files: list[Path] = field(default_factory=list)


def check_directory(directory: Path, *, force: bool) -> None:
    """Where a project may be made: a new or empty directory, or with `force` any directory."""
    if directory.exists() and not directory.is_dir():
        raise ProjectExists("this is a file, not a directory.", file=str(directory))
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ProjectExists(
            "the directory is not empty.", file=str(directory),
            hint="Choose a new directory, or pass --force to overwrite the project's files in it.",
        )


def init_project(directory: Path, *, force: bool = False) -> Scaffold:
    """Write a migration project over the samples into `directory`; refuse a non-empty one
    unless `force` (then only the project's own files are overwritten)."""
    directory = Path(directory)
    check_directory(directory, force=force)
    for needed in (SAMPLES_DIR, SAMPLE_MAPPINGS_DIR, RULES_DIR):
        if not needed.is_dir():
            raise OutputError(
                f"crmmigrate is installed without the files it ships (no {needed}).",
                hint="Reinstall crmmigrate.",
            )
    scaffold = Scaffold(directory, directory / "migration.yaml")
    try:
        lines = [CONFIG_HEADER.format(config=scaffold.config)]
        for location, mapping in SAMPLE_SOURCES:
            scaffold.files.append(_copy(SAMPLES_DIR / location, directory / "samples" / location))
            scaffold.files.append(_copy_mapping(SAMPLE_MAPPINGS_DIR / f"{mapping}.yaml", directory))
            shown = f"sqlite:///samples/{location}" if location.endswith(".sqlite") else f"samples/{location}"
            lines.append(f"  - location: {shown}\n    mapping: mappings/{mapping}.yaml\n")
        for rules in sorted(RULES_DIR.glob("*.yaml")):
            scaffold.files.append(_copy(rules, directory / "rules" / rules.name))
        scaffold.config.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the project: {exc.strerror}.", file=exc.filename or str(directory)) from None
    scaffold.files.append(scaffold.config)
    return scaffold


def _copy(source: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return destination


def _copy_mapping(source: Path, directory: Path) -> Path:
    """A sample mapping copied as it is, comments kept; a lookup file it names by a relative
    path is re-pointed at the project's copy of the samples."""
    destination = directory / "mappings" / source.name
    text = source.read_text(encoding="utf-8")
    for spec in load_mapping(source).fields.values():
        for step in spec.transforms:
            if step.lookup is None:
                continue
            location = step.lookup.source if isinstance(step.lookup.source, str) else step.lookup.source.get("location", "")
            if not location or "://" in location or Path(location).is_absolute():
                continue
            found = (source.parent / location).resolve()
            if found.is_relative_to(SAMPLES_DIR):
                copied = directory / "samples" / found.relative_to(SAMPLES_DIR)
                text = text.replace(location, os.path.relpath(copied, destination.parent))
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(text, encoding="utf-8")
    return destination
