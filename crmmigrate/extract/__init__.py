"""Extract: read a legacy source into DataFrames of strings with provenance on every row.

    extraction = open_source(Source(location="accounts.csv"))
    for chunk in extraction.chunks():   # bounded memory
        ...
    extraction.report                   # encoding, delimiter, header row, counts, notes
    extraction.rejects                  # rows that could not become records, with the reason
"""

from __future__ import annotations

import stat
from pathlib import Path

from crmmigrate.errors import EmptyInput, InputNotFound, NotAFile, UnsupportedFormat
from crmmigrate.extract.base import (
    REJECT_COLUMNS,
    Extraction,
    ExtractReport,
    Format,
    ReadOptions,
    Reject,
    Source,
    rejects_frame,
)
from crmmigrate.staging import check_output, write_frames

__all__ = [
    "REJECT_COLUMNS",
    "ExtractReport",
    "Extraction",
    "Format",
    "ReadOptions",
    "Reject",
    "Source",
    "default_rejects_path",
    "detect_format",
    "extract",
    "open_source",
    "rejects_frame",
]

_BY_SUFFIX: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


def detect_format(source: Source) -> Format:
    """The format asked for, else the one the URL, suffix or first bytes say."""
    if source.format:
        return source.format
    if source.is_url:
        return "sql"
    path = Path(source.location)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise UnsupportedFormat(
            "this is a legacy binary .xls workbook, which crmmigrate does not read.",
            file=str(path),
            hint="Open it in Excel or LibreOffice and save it as .xlsx, then extract that.",
        )
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    head = _head(path)
    if head.startswith(b"PK\x03\x04"):
        return "excel"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        first_line = stripped.split(b"\n", 1)[0].rstrip()
        return "jsonl" if first_line.endswith(b"}") else "json"
    return "csv"


def _head(path: Path) -> bytes:
    _refuse_non_regular(path)
    try:
        with path.open("rb") as f:
            return f.read(4096)
    except FileNotFoundError:
        raise InputNotFound("no such file.", file=str(path)) from None
    except OSError as exc:
        raise InputNotFound(f"cannot be read: {exc.strerror}.", file=str(path)) from None


def _refuse_non_regular(path: Path) -> None:
    """Only regular files are sources: opening a FIFO waits for a writer, forever if there is
    none, and a device never ends. stat() tells without opening."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # opening it says what is wrong
    kind = _not_regular(mode)
    if kind:
        raise NotAFile(
            f"this is {kind}, not a regular file.",
            file=str(path),
            hint="Point crmmigrate at the exported file itself (copy what a pipe or device "
            "gives into a file first).",
        )


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_source(source: Source) -> Extraction:
    """Open a source for reading, checking it exists and picking the reader for its format."""
    fmt = detect_format(source)
    if fmt != "sql":
        path = Path(source.location)
        head = _head(path)
        if not head:
            raise EmptyInput(
                "the file is empty (0 bytes).",
                file=str(path),
                hint="Check the export finished; re-export the data.",
            )
    if fmt == "parquet":
        from crmmigrate.extract.staged import StagedExtraction

        return StagedExtraction(source)
    if fmt == "csv":
        from crmmigrate.extract.delimited import DelimitedExtraction

        return DelimitedExtraction(source)
    if fmt == "excel":
        from crmmigrate.extract.excel import ExcelExtraction

        return ExcelExtraction(source)
    if fmt in ("json", "jsonl"):
        from crmmigrate.extract.json_records import JsonExtraction

        return JsonExtraction(source, lines=fmt == "jsonl")
    from crmmigrate.extract.sql import SqlExtraction

    return SqlExtraction(source)


def default_rejects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.csv")


def extract(source: Source, output: Path, *, rejects: Path | None = None) -> ExtractReport:
    """Read a source into a staged file, chunk by chunk; rows that could not become records
    go to the rejects CSV (provenance, reason, raw line), which is always written."""
    output = check_output(Path(output))
    extraction = open_source(source)
    write_frames(output, extraction.chunks())
    rejects_path = Path(rejects) if rejects else default_rejects_path(output)
    write_frames(rejects_path, [rejects_frame(extraction.rejects)])
    return extraction.report
