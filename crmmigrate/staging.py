"""Staged data: the files that pass between stages when commands are run one by one.

A stage writes its frames chunk by chunk (bounded memory) into .parquet or .csv; the file is
written under a temporary name and renamed at the end, so a failed run never leaves a file
that looks complete.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.ipc
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

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        """One frame more (to a .parquet file, also a table `text_table` made: a chunk
        `StagedChunks` kept)."""
        try:
            if self.path.suffix.lower() == ".parquet":
                if self._schema is None:
                    self._schema = text_schema(frame)
                    self._parquet = pq.ParquetWriter(self._tmp, self._schema)
                table = frame if isinstance(frame, pa.Table) else text_table(frame, self._schema)
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


def text_schema(frame: pd.DataFrame | pa.Table) -> pa.Schema:
    """A staged file's schema: every column as text, named as the frame's."""
    names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    return pa.schema([(str(c), pa.string()) for c in names])


def text_table(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """A frame as its staged file holds it (`text_schema`), without its index."""
    return pa.Table.from_pandas(frame, schema=schema or text_schema(frame), preserve_index=False)


class StagedChunks:
    """A part's chunks as read, left by the forked process that read them in an Arrow file in
    a folder of the run's engine, rather than sent back (pickled, each would be held twice
    there, and once more here while it waits to be taken). Iterated once, by the run that
    stages them: each chunk read back as the table `text_table` made, the file removed after."""

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        self.count = count
        self.taken = False

    @classmethod
    def left(cls, chunks: Collection[pd.DataFrame], folder: Path) -> StagedChunks | Collection[pd.DataFrame]:
        """`chunks` written to a new file in `folder`, one record batch each (an empty chunk
        too); where that cannot be written (the disk full), the chunks themselves, to be sent
        back as before."""
        if not chunks:
            return chunks
        schema = text_schema(next(iter(chunks)))
        try:
            with tempfile.NamedTemporaryFile(dir=folder, suffix=".arrow", delete=False) as file:
                path = Path(file.name)
        except OSError:
            return chunks
        try:
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for chunk in chunks:
                    table = text_table(chunk, schema)
                    # One batch per chunk, however many pieces its columns are in, so that each
                    # comes back as the one table it was.
                    writer.write_batch(pa.RecordBatch.from_arrays([c.combine_chunks() for c in table.columns],
                                                                  schema=schema))
        except (OSError, pa.ArrowException):
            path.unlink(missing_ok=True)
            return chunks
        return cls(path, len(chunks))

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[pa.Table]:
        if self.taken:
            raise RuntimeError(f"{self.path}: a part's staged chunks are taken once")
        self.taken = True
        try:
            try:
                source = pa.memory_map(str(self.path))
            except OSError as exc:
                raise OutputError(f"the rows a reading process left here are gone ({exc.strerror or exc}): "
                                  "removed while the run was reading?", file=str(self.path)) from None
            with source:
                reader = pa.ipc.open_file(source)
                for batch in range(reader.num_record_batches):
                    yield pa.Table.from_batches([reader.get_batch(batch)])
        finally:
            self.path.unlink(missing_ok=True)


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


def parked(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """`frame` with its Arrow columns moved out of the process's memory into a file of `folder`
    that only the frame maps (an unnamed temporary file where the system has them, so nothing
    is left behind, whatever ends the run): the same records, the same dtypes, but read from
    the file's pages, which the system brings in as they are read and can let go of again, as
    it cannot the process's own memory. For the records a stage holds without reading (dedupe
    holds the opportunities while it matches the contacts). Columns that are not Arrow's stay
    as they are; so does the frame where its columns are not named by distinct strings, or the
    file cannot be written, or would leave the disk less free space than it takes."""
    if len(frame) == 0 or frame.columns.has_duplicates or not all(isinstance(c, str) for c in frame.columns):
        return frame
    arrow = [name for name in frame.columns if hasattr(frame[name].array, "_pa_array")]
    if not arrow:
        return frame
    table = pa.table({name: frame[name].array._pa_array for name in arrow})
    with contextlib.suppress(OSError):
        if shutil.disk_usage(folder).free < 2 * table.nbytes:  # the run's own files come first
            return frame
    try:
        file = tempfile.TemporaryFile(dir=folder)
    except OSError:
        return frame
    with file:
        try:
            with pa.ipc.new_file(pa.PythonFile(file, mode="w"), table.schema) as writer:
                writer.write_table(table)
            file.flush()
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, pa.ArrowException):
            return frame
    # The mapping outlives the file's descriptor, and lasts as long as a column reads from it.
    back = pa.ipc.open_file(pa.py_buffer(mapped)).read_all()
    columns = {name: pd.Series(back.column(name), dtype=frame[name].dtype, index=frame.index, name=name)
               if name in arrow else frame[name] for name in frame.columns}
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns, copy=False)
