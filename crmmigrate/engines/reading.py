"""One part of a source read chunk by chunk and mapped: the work both engines do per source
part (the embedded engine's one part is the whole source, unless it reads the parts in
processes of its own). `PartsReading` takes a source's parts, read elsewhere, in order, and adds
up their figures to the whole source's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pandas as pd

from crmmigrate.engines import PartRead
from crmmigrate.extract import Extraction, ExtractReport, Reject
from crmmigrate.extract.partitions import Part, needs_survey, open_part, part_keys, partitions, with_survey
from crmmigrate.load.schema import too_long_id_reason, too_long_ids
from crmmigrate.mapping.engine import Mapper, MapReport
from crmmigrate.migration import PlannedSource
from crmmigrate.model import PROVENANCE


class PartReader:
    """The chunks of one extraction, each read and mapped with the source's mapping as a
    PartRead of its own; the last one carries the rows extract could not read. The first part
    of a source gives at least one chunk (no rows, the source's columns), so an empty source has
    its staged files. `mapper` holds what mapping counted, once every chunk is taken."""

    def __init__(self, planned: PlannedSource, extraction: Extraction, *, first: bool = True) -> None:
        self.planned = planned
        self.extraction = extraction
        self.first = first
        self.mapper: Mapper | None = None

    def __iter__(self) -> Iterator[PartRead]:
        extraction = self.extraction
        chunks = extraction.chunks()
        while True:
            clock = time.perf_counter()
            chunk = next(chunks, None)
            extract_seconds = time.perf_counter() - clock
            last = chunk is None
            if last and (self.mapper is not None or not self.first):
                yield PartRead([], pd.DataFrame(), pd.DataFrame(), list(extraction.rejects), [], extraction.report,
                               None, list(extraction.report.columns), {"extract": extract_seconds, "map": 0.0})
                return
            if chunk is None:  # an empty source
                chunk = pd.DataFrame(columns=[*extraction.report.columns, *PROVENANCE], dtype="str")
            yield self._map(chunk, extract_seconds, last)
            if last:
                return

    def _map(self, chunk: pd.DataFrame, extract_seconds: float, last: bool) -> PartRead:
        clock = time.perf_counter()
        if self.mapper is None:
            self.mapper = Mapper(self.planned.mapping, list(chunk.columns))
        mapped, removed = self.mapper.map(chunk)
        # A legacy id longer than the target holds: the record is rejected here, as one extract
        # could not read (its id_map entry keyed by its row), before validation and dedupe see it.
        unfit = too_long_ids(mapped["id"])
        too_long = [Reject(self.planned.name, str(f), str(r), too_long_id_reason(str(i)), str(i))
                    for i, f, r in mapped.loc[unfit, ["id", "_file", "_row"]].itertuples(index=False)]
        if unfit.any():
            mapped = mapped.loc[~unfit].reset_index(drop=True)
        return PartRead([chunk], mapped, removed, list(self.extraction.rejects) if last else [], too_long,
                        self.extraction.report, None, list(chunk.columns),
                        {"extract": extract_seconds, "map": time.perf_counter() - clock})


class PartsReading:
    """One source's parts, each read and mapped elsewhere (`read_part`: in a process or on a
    Dask worker), taken in order; their reports and mapping tallies add up to the whole
    source's. `_take(number)` gives a part once it is read; `_let_go(number)` is told once the
    run has taken it."""

    def __init__(self, planned: PlannedSource, count: int) -> None:
        self.planned = planned
        self.count = count  # parts
        self.reports: list[ExtractReport] = []
        self.mapper: Mapper | None = None

    def _take(self, number: int) -> PartRead:
        raise NotImplementedError

    def _let_go(self, number: int) -> None:
        pass

    def parts(self) -> Iterator[PartRead]:
        for number in range(self.count):
            part = self._take(number)
            self.reports.append(part.report)
            if part.tally is not None:
                if self.mapper is None:
                    self.mapper = Mapper(self.planned.mapping, part.columns)
                self.mapper.absorb(part.tally)
            yield part
            self._let_go(number)

    def finish(self) -> tuple[ExtractReport, MapReport]:
        assert self.mapper is not None, "finish() before parts()"
        return ExtractReport.combine(self.reports), self.mapper.finish()


def read_part(planned: PlannedSource, part: Part, first: bool) -> PartRead:
    """One part of a source read and mapped: its chunks joined into one PartRead (a module
    function, so that it pickles by reference to another process)."""
    reader = PartReader(planned, open_part(part), first=first)
    reads = list(reader)
    mapped = [r.mapped for r in reads if r.extracted]
    removed = [r.removed for r in reads if r.extracted]
    return PartRead(
        extracted=[chunk for r in reads for chunk in r.extracted],
        mapped=joined(mapped), removed=joined(removed),
        rejects=[x for r in reads for x in r.rejects], too_long=[x for r in reads for x in r.too_long],
        report=reader.extraction.report, tally=reader.mapper.tally() if reader.mapper else None,
        columns=reads[0].columns if reads else [],
        seconds={stage: sum(r.seconds.get(stage, 0.0) for r in reads) for stage in ("extract", "map")},
    )


def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one after the other (an empty frame for none)."""
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


R = TypeVar("R", bound=PartsReading)
# A part to be read, once asked for: a JSON file's parts wait for the file's survey.
Queued = tuple[R, PlannedSource, Callable[[], Part], bool]
# Work sent elsewhere: submit(function, *args) gives a future (a process pool's, or Dask's).
Submit = Callable[..., Any]


def queued_parts(planned: list[PlannedSource], part_bytes: int, reading: Callable[[PlannedSource, int], R],
                 submit: Submit) -> tuple[list[R], list[Queued]]:
    """Every source split into parts of about `part_bytes` (`partitions`) and its reading made
    (`reading(source, parts)`); with them, every part to be read as (its source's reading, the
    source, the part when asked for, whether it is the source's first), the last first: a queue
    popped from the end sends the first part first. A JSON file in parts is surveyed for its
    columns (`Surveying`) before its parts are read: its parts' keys read side by side where
    `submit` sends the parts (`submit(function, *args)`, a future)."""
    readings, queue = [], []
    for source in planned:
        parts = partitions(source.source, part_bytes, surveyed=False)
        readings.append(reading(source, len(parts)))
        if needs_survey(parts):
            surveying = Surveying(parts, submit)
            queue += [(readings[-1], source, _asked(surveying, number), number == 0) for number in range(len(parts))]
        else:
            queue += [(readings[-1], source, _given(part), number == 0) for number, part in enumerate(parts)]
    queue.reverse()
    return readings, queue


class Surveying:
    """A JSON file's parts, and its survey: `part(number)` waits for it, and raises its error.
    It is made of the parts' keys (`part_keys`), read side by side through `submit` once the
    file's first part is asked for (an array that is not JSON somewhere is then read whole
    here, for the whole read's error)."""

    def __init__(self, parts: list[Part], submit: Submit) -> None:
        self._unsurveyed = parts
        self._submit = submit
        self._parts: Future[list[Part]] = Future()

    def part(self, number: int) -> Part:
        if not self._parts.done():
            try:
                futures = [self._submit(part_keys, part) for part in self._unsurveyed]
                self._parts.set_result(with_survey(self._unsurveyed, [future.result() for future in futures]))
            except BaseException as exc:  # noqa: BLE001 - told to whoever asks for a part, now and after
                self._parts.set_exception(exc)
        return self._parts.result()[number]


def _asked(surveying: Surveying, number: int) -> Callable[[], Part]:
    return lambda: surveying.part(number)


def _given(part: Part) -> Callable[[], Part]:
    return lambda: part
