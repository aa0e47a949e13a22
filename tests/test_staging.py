"""Output files are written under a hidden temporary name and renamed into place (staging's
write_bytes and ChunkWriter): a write that fails half way, as on a full disk, leaves neither a
half file under the real name nor the temporary one, and says which file it could not write."""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmmigrate import staging
from crmmigrate.dedupe import DedupeResult, dedupe, write_outputs
from crmmigrate.errors import OutputError
from tests.test_dedupe import RULES, crm


@pytest.fixture(scope="module")
def result() -> DedupeResult:
    return dedupe(crm(), RULES)


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def _fills_up(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """`Path.write_text`/`write_bytes` that, for a file named `name` (or its temporary name),
    writes half of what it was given and then finds the disk full."""

    def write(self: Path, data: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name in (name, f".{name}.partial"):
            real(self, data[: len(data) // 2], *args, **kwargs)
            raise _disk_full()
        return real(self, data, *args, **kwargs)

    return write


def _nothing_half_written(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def test_dedupe_outputs_a_table_that_fails_half_way_leaves_no_file(
    result: DedupeResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pd.DataFrame.to_csv

    def to_csv(self: pd.DataFrame, target: Any = None, *args: Any, **kwargs: Any) -> Any:
        if target is not None and Path(str(target)).name in ("pairs.csv", ".pairs.csv.partial"):
            text = real(self, None, *args, **{k: v for k, v in kwargs.items() if k not in ("mode", "encoding")})
            Path(target).write_text(text[: len(text) // 2], encoding="utf-8")
            raise _disk_full()
        return real(self, target, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(OutputError, match="No space left on device") as failed:
        write_outputs(result, tmp_path, datasets=False)
    assert failed.value.file == str(tmp_path / "pairs.csv")
    _nothing_half_written(tmp_path, "pairs.csv")
    # what was written before the failure is whole
    assert pd.read_csv(tmp_path / "clusters.csv", dtype=str).shape[0] == sum(len(e.clusters) for e in result.entities)


def test_dedupe_outputs_a_summary_that_fails_half_way_leaves_no_file(
    result: DedupeResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Path, "write_text", _fills_up("summary.json", Path.write_text))
    monkeypatch.setattr(Path, "write_bytes", _fills_up("summary.json", Path.write_bytes))
    with pytest.raises(OutputError, match="No space left on device") as failed:
        write_outputs(result, tmp_path, datasets=False)
    assert failed.value.file == str(tmp_path / "summary.json")
    _nothing_half_written(tmp_path, "summary.json")
    assert not (tmp_path / "report.html").exists()  # nothing is written after the failure



# -- a part's chunks left in a file by the reader that read them ---------------------------------

def _chunks() -> list[pd.DataFrame]:
    """Chunks as extract gives them: text, blanks as missing, an index not from 0, one with no
    rows, and one whose columns are in two pieces (made by concat)."""
    first = pd.DataFrame({"Name": ["Zoë", None, " x "], "Phone": ["1", "", None]}, dtype="str")
    second = pd.DataFrame({"Name": ["Ōsaka"], "Phone": ["+81"]}, dtype="str", index=[7])
    empty = first.iloc[:0]
    return [first, empty, pd.concat([second, first]), second]


def _parquet(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """A staged file's rows and its row groups' sizes."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    return pd.read_parquet(path), [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_staged_chunks_come_back_as_the_tables_their_file_would_hold_and_the_file_goes(tmp_path: Path) -> None:
    from crmmigrate.staging import ChunkWriter, StagedChunks, text_table

    chunks = _chunks()
    staged = StagedChunks.left(chunks, tmp_path)
    assert isinstance(staged, StagedChunks) and len(staged) == len(chunks) and staged
    assert [p.suffix for p in tmp_path.iterdir()] == [".arrow"]
    with ChunkWriter(tmp_path / "from_file.parquet") as out:
        tables = list(staged)
        assert len(tables) == len(chunks)  # one each, the empty one and the one in pieces too
        for table, chunk in zip(tables, chunks, strict=True):
            assert table.equals(text_table(chunk).replace_schema_metadata())
            out.write(table)
    assert not list(tmp_path.glob("*.arrow"))  # read once, then removed
    with pytest.raises(RuntimeError, match="taken once"):
        list(staged)
    with ChunkWriter(tmp_path / "from_frames.parquet") as out:
        for chunk in chunks:
            out.write(chunk)
    from_file, groups = _parquet(tmp_path / "from_file.parquet")
    from_frames, their_groups = _parquet(tmp_path / "from_frames.parquet")
    pd.testing.assert_frame_equal(from_file, from_frames)
    assert groups == their_groups and len(from_file) == 3 + 0 + 4 + 1


def test_staged_chunks_of_an_empty_source_still_make_its_staged_file(tmp_path: Path) -> None:
    from crmmigrate.staging import ChunkWriter, StagedChunks

    header_only = [pd.DataFrame({"Name": [], "Phone": []}, dtype="str")]
    staged = StagedChunks.left(header_only, tmp_path)
    assert isinstance(staged, StagedChunks) and len(staged) == 1
    with ChunkWriter(tmp_path / "empty.parquet") as out:
        for table in staged:
            out.write(table)
    rows, _ = _parquet(tmp_path / "empty.parquet")
    assert list(rows.columns) == ["Name", "Phone"] and rows.empty


def test_staged_chunks_whose_file_is_gone_say_so(tmp_path: Path) -> None:
    from crmmigrate.staging import StagedChunks

    staged = StagedChunks.left(_chunks(), tmp_path)
    assert isinstance(staged, StagedChunks)
    staged.path.unlink()
    with pytest.raises(OutputError, match="the rows a reading process left here are gone") as error:
        list(staged)
    assert error.value.file == str(staged.path)


def test_staged_chunks_that_cannot_be_written_are_sent_back_as_they_are(tmp_path: Path, monkeypatch) -> None:
    import pyarrow as pa

    from crmmigrate.staging import StagedChunks

    chunks = _chunks()
    assert StagedChunks.left(chunks, tmp_path / "no such folder") is chunks
    assert StagedChunks.left([], tmp_path) == []

    def full(*args: Any, **kwargs: Any) -> None:
        raise _disk_full()

    monkeypatch.setattr(pa.ipc, "new_file", full)  # the file opened, then the disk full
    assert StagedChunks.left(chunks, tmp_path) is chunks
    assert not list(tmp_path.iterdir())  # nothing half written left behind
    monkeypatch.setattr(pa, "OSFile", full)
    assert StagedChunks.left(chunks, tmp_path) is chunks
    assert not list(tmp_path.iterdir())


def _mapping_of(address: int) -> str | None:
    """The file a memory address of this process is mapped from (Linux's /proc/self/maps), or
    None for memory of its own."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, _perms, _offset, _device, inode, *path = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            return path[0] if path and inode != "0" else None
    return None


def _text_buffers(frame: pd.DataFrame) -> list[int]:
    """Where each text column's characters are (empty ones, which Arrow need not allocate, left out)."""
    return [chunk.buffers()[2].address for name in frame.columns if hasattr(frame[name].array, "_pa_array")
            for chunk in frame[name].array._pa_array.chunks
            if pa.types.is_large_string(chunk.type) and chunk.buffers()[2] is not None and chunk.buffers()[2].size]


needs_proc = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")


@needs_proc
def test_parked_records_are_the_same_records_read_from_a_file_that_leaves_nothing_behind(tmp_path):
    n = 200_000
    frame = pd.DataFrame({
        "id": pd.Series([f"C{i:07d}" for i in range(n)], dtype="str"),
        "name": pd.Series([None if i % 11 == 0 else f"name {i}" for i in range(n)], dtype="str"),
        "amount": pd.array([i if i % 3 else None for i in range(n)], dtype="Int64"),
        "count": pd.Series(range(n), dtype="int64[pyarrow]"),
        "plain": [f"object {i}" for i in range(n)],
    }, index=pd.RangeIndex(5, n + 5))
    frame["plain"] = frame["plain"].astype(object)
    pool_before = pa.total_allocated_bytes()

    parked = staging.parked(frame, tmp_path)

    pd.testing.assert_frame_equal(parked, frame)  # values, dtypes, index, column order
    assert pa.total_allocated_bytes() == pool_before  # nothing copied into the process's memory
    assert np.shares_memory(parked["plain"].to_numpy(), frame["plain"].to_numpy())  # not Arrow's: as it was
    for address in _text_buffers(parked):  # the text read from the file's pages...
        assert _mapping_of(address) is not None
    for address in _text_buffers(frame):  # ...where the records as given were the process's own
        assert _mapping_of(address) is None
    assert list(tmp_path.iterdir()) == []  # the file has no name: nothing to remove, whatever ends the run
    held = pa.total_allocated_bytes()
    del frame
    assert pa.total_allocated_bytes() < held - 4 * n  # the records as given let go of


def test_records_that_cannot_be_parked_stay_as_they_are(tmp_path, monkeypatch):
    frame = pd.DataFrame({"id": pd.Series(["a", "b", None], dtype="str")})

    def full(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(staging.tempfile, "TemporaryFile", full)
        assert staging.parked(frame, tmp_path) is frame
    with monkeypatch.context() as patched:
        patched.setattr(staging.pa.ipc, "new_file", full)  # the disk filling while it is written
        assert staging.parked(frame, tmp_path) is frame
    with monkeypatch.context() as patched:  # a disk that the file would leave with less free space than it takes
        patched.setattr(staging.shutil, "disk_usage", lambda _folder: SimpleNamespace(total=10**9, used=10**9, free=10))
        assert staging.parked(frame, tmp_path) is frame
    assert staging.parked(frame.iloc[:0], tmp_path).empty
    for columns in (["id", "id"], [0, 1]):  # named by what Arrow cannot, or twice: as they are
        named = pd.concat([frame, frame], axis=1).set_axis(columns, axis=1)
        assert staging.parked(named, tmp_path) is named
    assert list(tmp_path.iterdir()) == []


@given(st.lists(st.tuples(st.none() | st.text(max_size=8), st.none() | st.integers(-2**40, 2**40),
                          st.none() | st.booleans()), max_size=30))
@settings(max_examples=60, deadline=None)
def test_any_parked_records_read_back_as_they_were(rows):
    frame = pd.DataFrame({
        "text": pd.Series([r[0] for r in rows], dtype="str"),
        "number": pd.array([r[1] for r in rows], dtype="Int64"),
        "arrow": pd.Series([r[1] for r in rows], dtype="int64[pyarrow]"),
        "flag": pd.Series([r[2] for r in rows], dtype="bool[pyarrow]"),
    })
    with tempfile.TemporaryDirectory() as folder:
        pd.testing.assert_frame_equal(staging.parked(frame, Path(folder)), frame)
