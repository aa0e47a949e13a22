"""The embedded engine: every source read and mapped chunk by chunk, and every entity cleaned,
in this process (the per-value calls of clean shared among forked processes, crmmigrate.parallel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from crmmigrate.clean import CleanResult, CleaningRules, clean
from crmmigrate.engines import PartRead
from crmmigrate.engines.reading import PartReader
from crmmigrate.extract import ExtractReport, open_source
from crmmigrate.mapping.engine import MapReport
from crmmigrate.migration import PlannedSource
from crmmigrate.progress import Progress
from crmmigrate.validate import ValidationResult, validate
from crmmigrate.validate.rules import Thresholds, ValidationRules


class LocalReading:
    """A source read as one part, a chunk at a time, only when its chunks are asked for."""

    def __init__(self, planned: PlannedSource) -> None:
        self.planned = planned
        self.reader: PartReader | None = None

    def parts(self) -> Iterator[PartRead]:
        self.reader = PartReader(self.planned, open_source(self.planned.source))
        yield from self.reader

    def finish(self) -> tuple[ExtractReport, MapReport]:
        assert self.reader is not None and self.reader.mapper is not None, "finish() before parts()"
        return self.reader.extraction.report, self.reader.mapper.finish()


class LocalEngine:
    name = "local"
    pairing = None  # dedupe makes and compares its pairs in this process, on every core

    def read(self, planned: list[PlannedSource], progress: Progress) -> list[LocalReading]:
        return [LocalReading(p) for p in planned]

    def clean(self, datasets: dict[str, pd.DataFrame], *, rules: CleaningRules, region: str | None,
              regions: dict[str, str] | None, progress: Progress) -> CleanResult:
        return clean(datasets, rules=rules, region=region, regions=regions, progress=progress)

    def validate(self, datasets: dict[str, pd.DataFrame], *, rules: ValidationRules, thresholds: Thresholds,
                 loaded: dict[str, set[str]] | None, regions: dict[str, str] | None,
                 progress: Progress) -> ValidationResult:
        return validate(datasets, rules=rules, thresholds=thresholds, loaded=loaded, regions=regions,
                        progress=progress)

    def lost(self, error: BaseException) -> None:
        return None  # no cluster to lose

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def close(self) -> None:
        pass
