"""Staged data: the files that pass between stages when commands are run one by one.

A stage writes its frames chunk by chunk (bounded memory) into .parquet or .csv; the file is
written under a temporary name and renamed at the end, so a failed run never leaves a file
that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crmmigrate.errors import BadUsage, MalformedInput, OutputError
from crmmigrate.spreadsheet import read_csv, write_csv

SUFFIXES = (".parquet", ".csv")


def file_name(name: str) -> str:
    """A source's name as a file name: what a run stages it as, and what `init --from` calls
    its mapping."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "source"


def check_output(path: Path) -> Path:
    if path.suffix.lower() not in SUFFIXES:
        raise BadUsage(
            f"cannot write {str(path)!r}: the output must end in .parquet or .csv.",
            hint="Parquet keeps every value exact and is faster; CSV is for eyes and spreadsheets.",
        )
    return path


class ChunkWriter:
    """Writes frames with identical columns to one .parquet or .csv file, all as strings."""

    def __init__(self, path: Path) -> None:
        self.path = check_output(Path(path))
        self.rows = 0
        self._tmp = _partial(self.path)
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._csv_started = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write here: {exc.strerror}.", file=str(self.path)) from None

    def write(self, frame: pd.DataFrame) -> None:
        try:
            if self.path.suffix.lower() == ".parquet":
                if self._schema is None:
                    self._schema = pa.schema([(str(c), pa.string()) for c in frame.columns])
                    self._parquet = pq.ParquetWriter(self._tmp, self._schema)
                table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
                assert self._parquet is not None
                self._parquet.write_table(table)
            else:
                write_csv(frame, self._tmp, mode="a", header=not self._csv_started)
                self._csv_started = True
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror}.", file=str(self.path)) from None
        self.rows += len(frame)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_bytes(path: Path, data: bytes) -> None:
    """`data` written to `path` under a temporary name, then renamed: a failed write never
    leaves a file that looks finished. `OutputError` when the path cannot be written."""
    path = Path(path)
    tmp = _partial(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # the directory itself may be what failed
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write here: {exc.strerror}.", file=str(path)) from None


def _partial(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: hidden beside it, on the same
    file system so the rename is atomic."""
    return path.with_name(f".{path.name}.partial")


def write_frames(path: Path, frames: Iterable[pd.DataFrame]) -> int:
    with ChunkWriter(path) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.rows


_NOT_STAGED = "Give a file written by crmmigrate (extract or map), or map the source first: MAPPING=SOURCE."


def read_staged(path: Path) -> pd.DataFrame:
    """A staged file back as a frame of strings (missing values as NA). A file crmmigrate did
    not write (a raw export, a damaged file) is bad input, with the line where reading failed."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path).astype("str")
        return read_csv(path, na_values=[""], encoding="utf-8")
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise MalformedInput("not a staged CSV: its records do not all have the header's columns.",
                             file=str(path), line=int(found.group(1)) if found else None,
                             hint=_NOT_STAGED) from None
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"not a staged CSV: not UTF-8 (byte {exc.start}).", file=str(path),
                             hint=_NOT_STAGED) from None
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise MalformedInput(f"cannot be read as Parquet: {str(exc).splitlines()[0]}.", file=str(path),
                             hint=_NOT_STAGED) from None
