"""A migration config file: its models, and its parsing into a `Migration` whose paths are
resolved against the config's folder and whose mappings are read and checked before anything
runs. `crmmigrate.run` runs what this module parses.

    migration = load_migration(Path("migration.yaml"))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import Field, ValidationError, field_validator

from crmmigrate import config
from crmmigrate.config import BadConfig, Located, Strict
from crmmigrate.defaults import rules_file
from crmmigrate.errors import BadUsage
from crmmigrate.engines import EngineOptions
from crmmigrate.extract import ReadOptions, Source
from crmmigrate.load.engine import BATCH_ROWS, BULK_ROWS
from crmmigrate.load.schema import source_name_problem
from crmmigrate.mapping.config import Mapping, load_mapping
from crmmigrate.passwords import mask_url
from crmmigrate.validate.rules import known_region

DEFAULT_TARGET = "sqlite:///migration.db"


class _Where(Strict):
    """Where a source is and the mapping that turns it into an entity. SourceEntry's last base,
    so these keys come first in its fields (pydantic orders them from the last base), and a
    source entry's problems are listed location, mapping, then the reading options."""

    location: str = Field(description="a file or a SQLAlchemy URL, relative to the config")
    mapping: str = Field(description="the mapping file, relative to the config")


class SourceEntry(ReadOptions, _Where):
    """One legacy source of the migration and the mapping that turns it into an entity, with
    extract's reading options (`ReadOptions`, as a mapping's `source:` and the command line hold
    them): any given here overrides the one in the mapping's `source:`."""

    name: str | None = Field(None, description="source name [default: the mapping's, or file stem]")
    sheet: str | int | None = None  # `sheet: 2` in YAML is a number: the second sheet
    phone_region: str | None = Field(
        None, description="region of this source's phone numbers written without a country code, e.g. DE")

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return known_region(value)

    def options(self) -> dict[str, Any]:
        """The extract options this entry sets."""
        given = self.model_dump(exclude={"location", "mapping", "phone_region"}, exclude_none=True)
        if "sheet" in given:
            given["sheet"] = str(given["sheet"])  # `sheet: 2` in YAML is the second sheet
        return given


class MigrationConfig(Strict):
    """A migration: where the data goes, the rules it must meet, and its sources."""

    target: str = Field(DEFAULT_TARGET, description="SQLAlchemy URL; a SQLite path is relative to the config")
    rules: str | None = Field(None, description="validation rules [default: rules/validation.yaml]")
    thresholds: str | None = Field(None, description="thresholds [default: rules/thresholds.yaml]")
    cleaning: str | None = Field(None, description="cleaning rules [default: rules/cleaning.yaml]")
    dedupe: str | None = Field(None, description="match rules [default: rules/dedupe.yaml]")
    decisions: str = Field("dedupe-decisions.csv", description="review decisions that every run applies "
                           "(written by `crmmigrate dedupe review`)")
    run_dir: str = Field("runs", description="where each run's directory is made")
    batch_rows: int = Field(BATCH_ROWS, ge=1, description="rows per load transaction")
    bulk_rows: int = Field(BULK_ROWS, ge=0, description="new rows of a source from which it loads in one "
                           "transaction, indexes built after (PostgreSQL, SQLite); 0: never")
    engine: EngineOptions = Field(default_factory=EngineOptions, description="where the work is done: local "
                                  "(this process) or dask (a Dask cluster); `engine: dask` or a mapping")
    sources: list[SourceEntry] = Field(min_length=1)

    @field_validator("target")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            sa.make_url(value)
        except sa.exc.ArgumentError:
            raise ValueError(f"not a SQLAlchemy URL: {mask_url(value)!r} (e.g. sqlite:///migration.db)") from None
        return value


@dataclass
class PlannedSource:
    """A source entry resolved: its mapping read and checked, its location made absolute."""

    name: str
    entity: str
    source: Source
    mapping: Mapping
    mapping_path: Path
    line: int | None
    phone_region: str | None = None

    @property
    def shown_location(self) -> str:
        return mask_url(self.source.location) if self.source.is_url else self.source.location


@dataclass
class Migration:
    """A migration config file, parsed and resolved against its folder."""

    file: Path
    config: MigrationConfig
    target: str  # the URL to connect with (may hold a password: show `masked_target`)
    rules: Path
    thresholds: Path
    cleaning: Path
    dedupe: Path
    decisions: Path
    run_dir: Path
    sources: list[PlannedSource]

    @property
    def engine(self) -> EngineOptions:
        return self.config.engine

    @property
    def masked_target(self) -> str:
        return mask_url(self.target)

    @property
    def phone_regions(self) -> dict[str, str]:
        """Per source name, the phone_region its entry sets."""
        return {s.name: s.phone_region for s in self.sources if s.phone_region}

    def as_dict(self) -> dict[str, Any]:
        """The config as run, with no password in it."""
        return {
            "file": str(self.file),
            "target": self.masked_target,
            "rules": str(self.rules),
            "thresholds": str(self.thresholds),
            "cleaning": str(self.cleaning),
            "dedupe": str(self.dedupe),
            "decisions": str(self.decisions),
            "run_dir": str(self.run_dir),
            "batch_rows": self.config.batch_rows,
            "bulk_rows": self.config.bulk_rows,
            "engine": self.engine.model_dump(exclude_none=True),
            "sources": [
                {"name": s.name, "entity": s.entity, "location": s.shown_location,
                 "mapping": str(s.mapping_path),
                 "options": {k: v for k, v in s.source.model_dump(exclude={"location", "name"}).items()
                             if v is not None and k != "chunk_rows"}}
                for s in self.sources
            ],
        }


def load_migration(path: Path) -> Migration:
    """A migration config parsed strictly, every path resolved against the config's folder,
    every mapping read and every file checked before anything runs."""
    path = Path(path)
    data, located = config.read_yaml(path)
    if data is None:
        raise BadConfig("the file is empty.", file=str(path), hint="See `crmmigrate init` for a starting point.")
    parsed = config.parse(MigrationConfig, data, located, file=str(path))
    base = path.parent
    sources = [_plan(entry, index, base, path, located) for index, entry in enumerate(parsed.sources)]
    seen: dict[str, int] = {}
    for index, planned in enumerate(sources):
        if planned.name in seen:
            raise BadConfig(
                f"two sources are named {planned.name!r} (the other is source {seen[planned.name] + 1}); "
                "a source name keys its records in the target, so it must be unique.",
                file=str(path), line=planned.line, hint="Give one of them a `name:`.",
            )
        seen[planned.name] = index
    return Migration(
        file=path,
        config=parsed,
        target=_resolve_url(parsed.target, base),
        rules=_config_path(parsed.rules, base, "validation.yaml", path, located, "rules"),
        thresholds=_config_path(parsed.thresholds, base, "thresholds.yaml", path, located, "thresholds"),
        cleaning=_config_path(parsed.cleaning, base, "cleaning.yaml", path, located, "cleaning"),
        dedupe=_config_path(parsed.dedupe, base, "dedupe.yaml", path, located, "dedupe"),
        decisions=base / parsed.decisions,
        run_dir=base / parsed.run_dir,
        sources=sources,
    )


def with_engine(migration: Migration, *, engine: str | None = None, scheduler: str | None = None,
                workers: int | None = None) -> Migration:
    """`migration` with the engine options given on the command line in place of its config's
    (`--scheduler` or `--workers` alone mean the dask engine)."""
    given = {k: v for k, v in {"scheduler": scheduler, "workers": workers}.items() if v is not None}
    if engine is None and not given:
        return migration
    base = migration.engine.model_dump(exclude_unset=True)  # a null set (no_workers_seconds) stays null
    name = engine or ("dask" if given else base.get("name", "local"))
    if name != base.get("name"):
        kept = ("partition_rows", "part_bytes", "pairs_per_task", "no_workers_seconds")
        base = {k: v for k, v in base.items() if k in kept}
    if "scheduler" in given:
        base.pop("workers", None)
        base.pop("memory_limit", None)
    try:
        options = EngineOptions(**{**base, **given, "name": name})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'engine'}: {e['msg']}" for e in exc.errors())
        raise BadUsage(f"--engine: {problems}.", hint="The engines: local, dask.") from None
    return replace(migration, config=migration.config.model_copy(update={"engine": options}))


def _plan(entry: SourceEntry, index: int, base: Path, file: Path, located: Located) -> PlannedSource:
    line = located.line(("sources", index))
    mapping_path = base / entry.mapping
    if not mapping_path.is_file():
        raise BadConfig(
            f"sources[{index}].mapping: no such file {str(mapping_path)!r}.",
            file=str(file), line=located.line(("sources", index, "mapping")),
        )
    mapping = load_mapping(mapping_path)
    options = mapping.source.given()
    options.update(entry.options())
    location = entry.location
    if "://" in location:
        location = _resolve_url(location, base)
    else:
        location = str(base / location)
        if not Path(location).exists():
            raise BadConfig(
                f"sources[{index}].location: no such file {location!r}.",
                file=str(file), line=located.line(("sources", index, "location")),
            )
    if not options.get("name"):
        options["name"] = options.get("table") or (Path(location).stem if "://" not in location
                                                   else mapping_path.stem)
    try:
        source = Source(location=location, **options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadConfig(f"sources[{index}]: {problems}.", file=str(file), line=line) from None
    too_long = source_name_problem(str(options["name"]))
    if too_long:
        raise BadConfig(f"sources[{index}]: {too_long}.", file=str(file), line=line,
                        hint="Give the source a shorter `name:`.")
    return PlannedSource(str(options["name"]), mapping.entity, source, mapping, mapping_path, line,
                         entry.phone_region)


def _resolve_url(url: str, base: Path) -> str:
    """A SQLite file in a URL is relative to the config's folder, like every other path."""
    parsed = sa.make_url(url)
    database = parsed.database
    if (parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
            and not database.startswith("file:") and not Path(database).is_absolute()):
        parsed = parsed.set(database=str(base / database))
    return parsed.render_as_string(hide_password=False)


def _config_path(given: str | None, base: Path, default: str, file: Path, located: Located, key: str) -> Path:
    if given is None:
        return rules_file(default, base)
    found = base / given
    if not found.is_file():
        raise BadConfig(f"{key}: no such file {str(found)!r}.", file=str(file), line=located.line((key,)))
    return found
