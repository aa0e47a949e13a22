"""Staged files: what `extract` and `map` wrote, read back with their provenance as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from crmmigrate.errors import MalformedInput
from crmmigrate.extract.base import STR_TYPES, Extraction, Source
from crmmigrate.model import PROVENANCE, SOURCE_COLUMN


class StagedExtraction(Extraction):
    """Reads a .parquet file written by a crmmigrate stage, in batches."""

    def __init__(self, source: Source, *, row_groups: range | None = None) -> None:
        """`row_groups`: read only those row groups of the file (a part, see
        crmmigrate.extract.partitions)."""
        self.row_groups = row_groups
        self.path = Path(source.location)
        try:
            self.parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
            raise MalformedInput(f"not a Parquet file: {exc}.", file=str(self.path)) from None
        names = self.parquet.schema_arrow.names
        missing = [c for c in PROVENANCE if c not in names]
        if missing:
            raise MalformedInput(
                f"this Parquet file has no provenance column(s) {', '.join(missing)}, so it was "
                "not written by crmmigrate.",
                file=str(self.path),
                hint="Extract the original export instead, or export the data as CSV.",
            )
        super().__init__(source, name=source.name or self.path.stem, file=str(self.path), format="parquet")
        self.report.columns = [c for c in names if c not in PROVENANCE]

    def _chunks(self) -> Iterator[pd.DataFrame]:
        empty = True
        groups = None if self.row_groups is None else list(self.row_groups)
        for batch in self.parquet.iter_batches(batch_size=self.source.chunk_rows, row_groups=groups):
            frame = batch.to_pandas(types_mapper=STR_TYPES.get).astype("str")
            if self.source.name:
                frame[SOURCE_COLUMN] = self.source.name
            empty = False
            yield frame
        if empty:
            yield self.parquet.schema_arrow.empty_table().to_pandas().astype("str")
