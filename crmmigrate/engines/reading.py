"""One part of a source read chunk by chunk and mapped: the work both engines do per source
part (the embedded engine's one part is the whole source)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd

from crmmigrate.engines import PartRead
from crmmigrate.extract import Extraction, Reject
from crmmigrate.load.schema import too_long_id_reason, too_long_ids
from crmmigrate.mapping.engine import Mapper
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
