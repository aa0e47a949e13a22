"""Where a run's work is done: one pipeline, two engines.

The embedded engine (`local`, the default) reads, maps and cleans in this process, as it always
has. The cluster engine (`dask`) does the same work a partition at a time on the workers of a
Dask cluster (a LocalCluster of this machine's cores, or the scheduler at an address): every
source read in parts (`crmmigrate.extract.partitions`: a delimited file by byte ranges, a SQL
table by key ranges, Parquet by row groups), each
part mapped where it was read, and every entity cleaned a partition at a time with the column
decisions (a date column's day-month order) made over the whole. Same inputs give the same run:
the run joins the parts' results in the whole's order, and the tests hold the two engines to
the same staged files, ledger, clusters and target rows.

    engine = open_engine(EngineOptions(name="dask", workers=2))
    readings = engine.read(planned_sources)        # one SourceReading per source, in order
    cleaned = engine.clean(datasets, rules=..., region=None)
    engine.close()

Validation, dedupe and the load then run in the run's own process, on the joined datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pandas as pd
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from crmmigrate.clean import CleanResult, CleaningRules
from crmmigrate.config import Strict
from crmmigrate.errors import CrmMigrateError
from crmmigrate.extract import ExtractReport, Reject
from crmmigrate.mapping.engine import MapReport
from crmmigrate.progress import Progress
from crmmigrate.validate import ValidationResult
from crmmigrate.validate.rules import Thresholds, ValidationRules

if TYPE_CHECKING:  # migration.py reads `engine:` with EngineOptions
    from crmmigrate.migration import PlannedSource

ENGINES = ("local", "dask")
PARTITION_ROWS = 250_000  # rows of an entity cleaned in one task
PART_BYTES = 64 * 1024 * 1024  # bytes of a source read in one task
PAIRS_PER_TASK = 2_000_000  # dedupe's candidate pairs made and compared in one share, about
# Seconds a run waits on a cluster with no worker at all before it ends: as long as Dask's own
# worker-ttl, and enough for an adaptive cluster to start one (a Kubernetes pod, a queued job).
NO_WORKERS_SECONDS = 300.0


class EngineOptions(Strict):
    """`engine:` in migration.yaml (`engine: dask`, or a mapping), or `run --engine`."""

    name: Literal["local", "dask"] = Field("local", description="local: this process; dask: a Dask cluster")
    scheduler: str | None = Field(None, description="a Dask scheduler's address, e.g. tcp://10.0.0.5:8786; "
                                  "none: a LocalCluster of this machine's cores")
    workers: int | None = Field(None, ge=1, description="LocalCluster worker processes [default: the cores]")
    memory_limit: str | None = Field(None, description="memory per LocalCluster worker, e.g. 2GiB "
                                     "[default: Dask's, the machine's memory shared]")
    partition_rows: int = Field(PARTITION_ROWS, ge=1, description="rows of an entity cleaned in one task")
    part_bytes: int = Field(PART_BYTES, ge=1, description="bytes of a source read in one task (a delimited "
                            "file by byte ranges, a SQL table by key ranges, Parquet by row groups); the "
                            "local engine reads large sources in such parts too, in forked processes")
    pairs_per_task: int = Field(PAIRS_PER_TASK, ge=1,
                                description="about how many of dedupe's candidate pairs one share makes and compares")
    no_workers_seconds: float | None = Field(NO_WORKERS_SECONDS, gt=0,
                                             description="seconds the run waits on work while the cluster has no "
                                             "worker at all before it ends (exit 4); null: for ever (an adaptive "
                                             "cluster whose workers wait in a queue)")

    @model_validator(mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("an empty scheduler address")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _bytes(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            from dask.utils import parse_bytes
        except ImportError:  # the dask engine says so when it starts
            return value
        try:
            if parse_bytes(value) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"not an amount of memory: {value!r} (e.g. 2GiB, 1500MB)") from None
        return value

    @model_validator(mode="after")
    def _for_dask(self) -> EngineOptions:
        given = [k for k in ("scheduler", "workers", "memory_limit") if getattr(self, k) is not None]
        if self.name == "local" and given:
            raise ValueError(f"{', '.join(given)} set for the local engine; they are the dask engine's "
                             "(engine: {name: dask, ...})")
        if self.scheduler is not None and (self.workers is not None or self.memory_limit is not None):
            raise ValueError("workers and memory_limit start a LocalCluster; with a scheduler address "
                             "the cluster's own workers are used")
        return self


@dataclass
class PartRead:
    """One part of a source, read and mapped: what its worker sends back."""

    # Its chunks as read, for the run's staged file (the embedded engine's forked readers leave
    # them in a file: crmmigrate.staging.StagedChunks, which gives them as Arrow tables).
    extracted: Collection[pd.DataFrame | pa.Table]
    mapped: pd.DataFrame  # records whose legacy id fits the target
    removed: pd.DataFrame  # records a filter removed
    rejects: list[Reject]  # rows extract could not read
    too_long: list[Reject]  # records whose legacy id is longer than the target holds
    report: ExtractReport
    tally: Any  # mapping.engine.MapTally
    columns: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


class SourceReading(Protocol):
    """One source as an engine reads and maps it: the parts in order, then the figures."""

    def parts(self) -> Iterator[PartRead]:
        """Each part in the source's order, once read and mapped (an empty source: one part
        with no rows and the source's columns)."""

    def finish(self) -> tuple[ExtractReport, MapReport]:
        """The whole source's reports, once every part has been taken."""


class Engine(Protocol):
    name: str

    def read(self, planned: list[PlannedSource], progress: Progress, scratch: Path | None = None
             ) -> list[SourceReading]:
        """Each source's reading, in order. `scratch`: a folder on the run's disk (its run
        directory) where the engine may keep files while it reads, removed when it closes."""

    def clean(self, datasets: dict[str, pd.DataFrame], *, rules: CleaningRules, region: str | None,
              regions: dict[str, str] | None, progress: Progress) -> CleanResult: ...

    def validate(self, datasets: dict[str, pd.DataFrame], *, rules: ValidationRules, thresholds: Thresholds,
                 loaded: dict[str, set[str]] | None, regions: dict[str, str] | None,
                 progress: Progress) -> ValidationResult: ...

    # makes dedupe's candidate pairs (dedupe.match.Pairing); None: every pair in this process
    pairing: Callable[..., Any] | None

    def lost(self, error: BaseException) -> CrmMigrateError | None:
        """The error to tell for one the engine's cluster raised; None when it is not one."""

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def open_engine(options: EngineOptions | None) -> Engine:
    """The engine the options name, started (a LocalCluster) or connected (a scheduler)."""
    options = options or EngineOptions()
    if options.name == "dask":
        from crmmigrate.engines.cluster import ClusterEngine

        return ClusterEngine(options)
    from crmmigrate.engines.local import LocalEngine

    return LocalEngine(options)
