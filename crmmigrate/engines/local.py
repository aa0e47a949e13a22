"""The embedded engine: every source read and mapped, and every entity cleaned, by this process,
with the machine's other cores lent where work can be shared: the per-value calls of clean
(crmmigrate.parallel), dedupe's comparisons (threads), and the reading. Sources of APART_BYTES
or more in all are read and mapped in parts (`crmmigrate.extract.partitions`, as the cluster
engine reads them) by forked processes, one per core, while this process stages the parts in
order; smaller ones chunk by chunk, here."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd

from crmmigrate import parallel
from crmmigrate.clean import CleanResult, CleaningRules, clean
from crmmigrate.engines import EngineOptions, PartRead
from crmmigrate.engines.reading import PartReader, PartsReading, Queued, queued_parts, read_part
from crmmigrate.extract import ExtractReport, open_source
from crmmigrate.extract.partitions import Part
from crmmigrate.mapping.engine import MapReport
from crmmigrate.migration import PlannedSource
from crmmigrate.progress import Progress, Tally
from crmmigrate.staging import StagedChunks
from crmmigrate.validate import ValidationResult, validate
from crmmigrate.validate.core import Targets, join_reasons, row_reasons
from crmmigrate.validate.rules import Thresholds, ValidationRules

# Source files of this many bytes in all, or more, are read by processes of their own: below
# it, forking and sending the parts back cost more than the second core gives (a 10 MB CSV
# reads and maps in about a second).
APART_BYTES = 32 << 20
AHEAD_PER_PROCESS = 2  # parts in work or read and not yet taken, per process
MIN_PART_BYTES = 1 << 20  # the sources are cut into parts of part_bytes, or smaller, but not below this


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


class ForkedReading(PartsReading):
    """A source's parts, each read and mapped by one of the engine's forked processes."""

    def __init__(self, engine: LocalEngine, planned: PlannedSource, count: int) -> None:
        super().__init__(planned, count)
        self.engine = engine
        self.futures: list[Future | None] = []  # the parts sent, in order (by the engine); None: taken

    def _take(self, number: int) -> PartRead:
        assert number < len(self.futures), "a source's parts are taken in the order they were sent"
        future = self.futures[number]
        assert future is not None, "a part is taken once"
        try:
            part = future.result()
            self.futures[number] = None  # the part is the run's now
            self.engine._taken()  # the next part sent: to a pool another part may have broken
        except BrokenProcessPool:
            raise _reader_lost(f"part {number + 1} of {self.count} of {self.planned.shown_location} was read") from None
        return part


class LocalEngine:
    name = "local"
    pairing = None  # dedupe makes and compares its pairs in this process, on every core

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self._held = contextlib.ExitStack()  # the pool of forked readers, while there is one
        self._pool: ProcessPoolExecutor | None = None
        self._queue: list[Queued[ForkedReading]] = []  # not yet sent, last first
        self._sent = 0  # parts sent and not yet taken

    def read(self, planned: list[PlannedSource], progress: Progress, scratch: Path | None = None
             ) -> list[LocalReading] | list[ForkedReading]:
        """Each source's readings, in order: read in parts by forked processes when the sources
        are large enough (`apart`), else chunk by chunk here as each is taken."""
        if not self.apart(planned):
            return [LocalReading(p) for p in planned]
        processes = parallel.cores()
        # Where the readers leave the parts' chunks as read (`StagedChunks`): in `scratch` (the
        # run's directory, on a disk, where a killed run's leftovers are seen; the system's
        # temporary folder may be memory), gone with the engine; where no folder can be made
        # there, the readers send them back.
        try:
            self._chunks: Path | None = Path(self._held.enter_context(
                tempfile.TemporaryDirectory(prefix=".parts-", dir=scratch)))
        except OSError:
            self._chunks = None
        self._pool = self._held.enter_context(parallel.forked_pool(processes))
        self._ahead_by = AHEAD_PER_PROCESS * processes
        # Parts of part_bytes, or smaller where that leaves a process without one (a 40 MB
        # CSV alone, in parts of 64 MiB, would be read by one process while the others wait).
        size = min(self.options.part_bytes,
                   max(MIN_PART_BYTES, sum(_file_bytes(p) for p in planned) // self._ahead_by))
        readings, self._queue = queued_parts(planned, size, lambda source, parts: ForkedReading(self, source, parts),
                                             submit=self._pool.submit)
        self._ahead()
        return readings

    @staticmethod
    def apart(planned: list[PlannedSource]) -> bool:
        """The sources are read by forked processes: this machine lends more than one core,
        this process may fork, and their files hold APART_BYTES or more (a database source
        counts nothing: its size is not known before it is read)."""
        if parallel.cores() < 2 or not parallel.can_fork():
            return False
        return sum(_file_bytes(p) for p in planned) >= APART_BYTES

    def _ahead(self) -> None:
        assert self._pool is not None
        while self._queue and self._sent < self._ahead_by:
            reading, source, asked, first = self._queue.pop()
            try:
                part = asked()  # a JSON file's parts wait for its survey here
            except BrokenProcessPool:
                raise _reader_lost(f"{source.shown_location} was surveyed for its columns") from None
            reading.futures.append(self._pool.submit(_read_forked, source, part, first, self._chunks))
            self._sent += 1

    def _taken(self) -> None:
        self._sent -= 1
        self._ahead()

    def clean(self, datasets: dict[str, pd.DataFrame], *, rules: CleaningRules, region: str | None,
              regions: dict[str, str] | None, progress: Progress) -> CleanResult:
        self._shut()  # every part is taken by now
        return clean(datasets, rules=rules, region=region, regions=regions, progress=progress)

    def validate(self, datasets: dict[str, pd.DataFrame], *, rules: ValidationRules, thresholds: Thresholds,
                 loaded: dict[str, set[str]] | None, regions: dict[str, str] | None,
                 progress: Progress) -> ValidationResult:
        """Validation here; an entity of APART_ROWS records or more has the rules that judge a
        row on its own run over slices of its rows in forked processes, one per core (as the
        cluster engine's workers run them), the rules that read the whole entity here."""
        if parallel.cores() < 2 or not parallel.can_fork() or \
                all(len(frame) < parallel.APART_ROWS for frame in datasets.values()):
            return validate(datasets, rules=rules, thresholds=thresholds, loaded=loaded, regions=regions,
                            progress=progress)

        def found_by(entity: str, _validator: Any, targets: Targets) -> dict[str, pd.Series]:
            frame = datasets[entity].reset_index(drop=True)
            tally = Tally(progress, "validate", entity, len(frame))
            pieces = parallel.cores() if len(frame) >= parallel.APART_ROWS else 1
            size = -(-len(frame) // pieces) or 1
            slices = [range(start, min(start + size, len(frame))) for start in range(0, len(frame), size)] or [range(0)]

            def checked(rows: range) -> tuple[int, dict[str, pd.Series]]:
                return len(rows), row_reasons(entity, frame.iloc[rows.start:rows.stop], rules, targets, regions)

            found = parallel.apart(checked, slices) if len(slices) > 1 else [checked(slices[0])]
            tally.finish()
            return join_reasons(found)

        return validate(datasets, rules=rules, thresholds=thresholds, loaded=loaded, regions=regions,
                        progress=progress, found_by=found_by)

    def lost(self, error: BaseException) -> None:
        return None  # no cluster to lose

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def _shut(self) -> None:
        """The readers' pool shut: the parts not started cancelled, and, when the run is ending
        with an error (or Ctrl-C), the readers stopped at once rather than left to finish."""
        self._queue = []
        pooled, self._pool = self._pool is not None, None
        self._held.__exit__(*sys.exc_info())  # the pool, then the readers' folder (made even if the pool was not)
        if pooled:
            parallel.give_back()  # the parts came as pickles; their staged chunks are let go

    def close(self) -> None:
        self._shut()


def _reader_lost(doing: str) -> parallel.ProcessLost:
    return parallel.ProcessLost(
        f"a process reading the sources ended without an answer (killed, or out of memory), while {doing}.",
        hint="A process killed again and again is often out of memory: make the parts smaller "
        "(`engine: {name: local, part_bytes: N}`; 64 MiB by default), and run again.",
    )


def _file_bytes(planned: PlannedSource) -> int:
    if planned.source.is_url:
        return 0
    try:
        return os.path.getsize(planned.source.location)
    except OSError:  # not there: reading it says so, with the source named
        return 0


def _read_forked(planned: PlannedSource, part: Part, first: bool, folder: Path | None) -> PartRead:
    """`read_part` in a forked reader, its chunks as read (which the run only stages) left in
    `folder` rather than sent back with its records (`StagedChunks`)."""
    read = read_part(planned, part, first)
    if folder is not None:
        read.extracted = StagedChunks.left(read.extracted, folder)
    return read
