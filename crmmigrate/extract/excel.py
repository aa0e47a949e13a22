"""Excel workbooks (.xlsx, .xlsm): sheet and header row chosen or forced, cells as plain text.

openpyxl reads the sheet in read-only mode with cached formula values. Before that, one cheap
pass over the sheet's XML finds how far the data really reaches (formatting alone inflates the
sheet's declared size to thousands of empty rows and columns) and which formulas were never
calculated, so neither an empty tail nor a silently empty formula cell reaches the output.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

import openpyxl
import pandas as pd
from openpyxl.utils import column_index_from_string
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from crmmigrate.errors import (
    BinaryInput,
    EmptyInput,
    MalformedInput,
    UnknownSheet,
    UnsupportedFormat,
    did_you_mean,
)
from crmmigrate.extract.base import (
    HEADER_SCAN_ROWS,
    Extraction,
    Source,
    cell_to_str,
    find_header_row,
    unique_columns,
)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted .xlsx is an OLE compound file holding a stream with this name.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
# Excel keeps 15 significant digits; the 17 a double can hold are arithmetic noise
# (0.1 + 0.2 is stored as 0.30000000000000004 and shown as 0.3).
_EXCEL_DIGITS = 15
# openpyxl's warnings are caught around each pull of this many rows, never around a yield.
_PULL_ROWS = 1000


class ExcelExtraction(Extraction):
    """Reads one sheet of an Excel workbook."""

    def __init__(self, source: Source) -> None:
        self.path = Path(source.location)
        super().__init__(
            source, name=source.name or self.path.stem, file=str(self.path), format="excel"
        )
        self._refuse_non_workbook()
        with self._workbook() as workbook:
            sheets = [ws.title for ws in workbook.worksheets]
        self.report.sheets = sheets
        self.report.sheet = self._choose_sheet(sheets)

    # -- opening ------------------------------------------------------------------------

    def _refuse_non_workbook(self) -> None:
        with self.path.open("rb") as f:
            head = f.read(512)
        file = self.report.file
        if head.startswith(_ZIP_MAGIC):
            return
        if head.startswith(_OLE_MAGIC):
            if _contains(self.path, _ENCRYPTED_STREAM):
                raise UnsupportedFormat(
                    "the workbook is password-protected (encrypted), so it cannot be read.",
                    file=file,
                    hint="Open it in Excel, remove the password (File > Info > Protect "
                    "Workbook > Encrypt with Password, clear it), save it, then extract that.",
                )
            raise UnsupportedFormat(
                "this is a legacy binary .xls workbook, which crmmigrate does not read.",
                file=file,
                hint="Open it in Excel or LibreOffice and save it as .xlsx, then extract that.",
            )
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if text.startswith((b"<html", b"<!doctype", b"<table", b"<?xml")):
            hint = (
                "Old CRMs save HTML or XML under an Excel name: open it in Excel or LibreOffice "
                "and save it as .xlsx, then extract that."
            )
        elif b"\x00" not in head:
            hint = "If it is a CSV or text export, read it with --format csv."
        else:
            hint = "Point crmmigrate at the .xlsx workbook itself."
        raise BinaryInput(
            "this is not an Excel workbook (not a .xlsx zip package).", file=file, hint=hint
        )

    @contextmanager
    def _workbook(self) -> Iterator[Workbook]:
        file = self.report.file
        # A file object, not the path: openpyxl refuses names without an Excel suffix, and
        # --format excel must work on "export.dat" too.
        with self.path.open("rb") as stream:
            try:
                # What openpyxl warns about while loading (styles, extensions it drops) does
                # not touch the values; it must not print either.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            except zipfile.BadZipFile:
                raise MalformedInput(
                    "the workbook is damaged: it is not a complete zip package.",
                    file=file,
                    hint="Re-export or re-download it; if Excel still opens it, save a fresh "
                    "copy as .xlsx.",
                ) from None
            except (KeyError, OSError, InvalidFileException):
                raise BinaryInput(
                    "this is a zip archive, but not an Excel workbook.",
                    file=file,
                    hint="If the workbook or CSV files are inside it, unzip it and extract those.",
                ) from None
            except (ParseError, ValueError, TypeError) as exc:
                raise MalformedInput(
                    f"the workbook's structure cannot be read ({exc}).",
                    file=file,
                    hint="Open it in Excel or LibreOffice and save it again as .xlsx.",
                ) from None
            try:
                yield workbook
            finally:
                workbook.close()

    def _choose_sheet(self, sheets: list[str]) -> str:
        wanted = self.source.sheet
        if wanted is None:
            if len(sheets) > 1:
                self.report.notes.append(
                    f"the workbook has {len(sheets)} sheets ({', '.join(map(repr, sheets))}); "
                    f"read the first, {sheets[0]!r}. Choose another with --sheet."
                )
            return sheets[0]
        if wanted in sheets:
            return wanted
        # Excel itself treats sheet names case-insensitively: "contacts" is "Contacts".
        folded = [s for s in sheets if s.casefold() == wanted.strip().casefold()]
        if folded:
            return folded[0]
        if wanted.strip().isdigit():
            number = int(wanted)
            if 1 <= number <= len(sheets):
                return sheets[number - 1]
            message = f"the workbook has {len(sheets)} sheet(s); there is no sheet {number}."
        else:
            message = f"the workbook has no sheet named {wanted!r}."
        guess = did_you_mean(wanted, sheets)
        raise UnknownSheet(
            message + f" Its sheets are: {', '.join(map(repr, sheets))}.",
            file=self.report.file,
            hint=(f"Did you mean {guess!r}? " if guess else "")
            + f"Pass --sheet with one of those names, or a number from 1 to {len(sheets)}.",
        )

    # -- reading ------------------------------------------------------------------------

    def _chunks(self) -> Iterator[pd.DataFrame]:
        report, file = self.report, self.report.file
        with self._workbook() as workbook:
            worksheet = workbook[report.sheet]
            # openpyxl has no public name for the sheet's part in the package.
            survey = self._survey(worksheet._worksheet_path)
            if survey.height == 0:
                raise EmptyInput(
                    f"sheet {report.sheet!r} holds no values.",
                    file=file,
                    hint="Choose another sheet with --sheet: "
                    + ", ".join(map(repr, report.sheets))
                    + ".",
                )
            if survey.uncached:
                report.notes.append(
                    f"{survey.uncached} formula cell(s) in sheet {report.sheet!r} have no "
                    f"calculated value (first: {survey.first_uncached}) and were read as empty: "
                    "the workbook was written by a program that does not calculate formulas. "
                    "Open it in Excel or LibreOffice and save it, then extract it again."
                )
            cells = worksheet.iter_rows(
                min_row=1, max_row=survey.height, max_col=survey.width, values_only=True
            )
            rows = (
                (number, [_cell_text(value) for value in values])
                for number, values in enumerate(self._pull(cells), start=1)
            )
            head = list(islice(rows, max(HEADER_SCAN_ROWS, self.source.header_row or 0)))
            header_row = self._choose_header(_table_shaped([v for _, v in head]), survey.height)
            width = survey.data_width(header_row)
            columns = self._columns(head, header_row, width)
            batch: list[list[str | None]] = []
            locators: list[str] = []
            for number, values in chain(head, rows):
                if number <= header_row:
                    if number < header_row and not _blank(values):
                        report.skipped_above_header += 1
                    continue
                if _blank(values):
                    report.skipped_blank += 1
                    continue
                batch.append(values[:width])
                locators.append(str(number))
                if len(batch) >= self.source.chunk_rows:
                    yield self.frame(columns, batch, locators)
                    batch, locators = [], []
            if batch or report.rows == 0:
                yield self.frame(columns, batch, locators)

    def _survey(self, member: str) -> _Survey:
        scan_rows = max(HEADER_SCAN_ROWS, self.source.header_row or 0)
        survey = _Survey(scan_rows)
        try:
            with zipfile.ZipFile(self.path) as package, package.open(member) as xml:
                survey.read(xml)
        except (zipfile.BadZipFile, zlib.error, EOFError, expat.ExpatError, KeyError) as exc:
            raise self._damaged(exc) from None
        return survey

    def _pull(self, cells: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """openpyxl's rows, with what it warns about a cell (a date serial out of range) kept
        as a note instead of printed, and a damaged part reported as such."""
        warned: list[str] = []
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    batch = list(islice(cells, _PULL_ROWS))
                except (zipfile.BadZipFile, zlib.error, EOFError, ParseError) as exc:
                    raise self._damaged(exc) from None
            # The others are about formatting and extensions that do not touch the values.
            warned.extend(str(w.message) for w in caught if str(w.message).startswith("Cell "))
            if not batch:
                break
            yield from batch
        if warned:
            self.report.notes.append(
                f"{len(warned)} cell(s) in sheet {self.report.sheet!r} could not be read as "
                f"their format says; the first: {warned[0]}"
            )

    def _damaged(self, exc: Exception) -> MalformedInput:
        return MalformedInput(
            f"sheet {self.report.sheet!r} is damaged and cannot be read ({exc}).",
            file=self.report.file,
            hint="Re-export or re-download the workbook; if Excel still opens it, save a fresh "
            "copy as .xlsx.",
        )

    def _choose_header(self, head: list[list[str | None]], height: int) -> int:
        """1-based sheet row of the header, or 0 when the sheet has none."""
        report = self.report
        forced = self.source.header_row
        if forced is not None:
            report.header_row, report.header_forced = forced, True
            if forced > height:
                raise EmptyInput(
                    f"sheet {report.sheet!r} ends at row {height}, before its header row {forced}.",
                    file=report.file,
                    hint="Check --header-row.",
                )
            return forced
        report.header_row = find_header_row(head) + 1
        return report.header_row

    def _columns(
        self, head: list[tuple[int, list[str | None]]], header_row: int, width: int
    ) -> list[str]:
        if header_row == 0:
            columns, _ = unique_columns([None] * width, file=self.report.file)
        else:
            names = head[header_row - 1][1][:width]
            columns, notes = unique_columns(names, file=self.report.file)
            self.report.notes.extend(notes)
        self.report.columns = columns
        return columns


class _Survey:
    """How far the values of a sheet reach, read straight from its XML.

    The reach of each of the first rows is kept apart, because title rows above the header
    ("Export from OldCRM", "page 1" far to the right) must not widen the table below it.
    """

    def __init__(self, scan_rows: int) -> None:
        self.scan_rows = scan_rows
        self.height = 0
        self.uncached = 0
        self.first_uncached: str | None = None
        self.row_widths: dict[int, int] = {}
        self.below_width = 0
        self._row = 0
        self._column = 0
        self._ref: str | None = None
        self._type = "n"
        self._in_cell = False
        self._in_value = False
        self._formula = False
        self._filled = False

    @property
    def width(self) -> int:
        return max([self.below_width, *self.row_widths.values()])

    def data_width(self, header_row: int) -> int:
        first = max(header_row, 1)
        widths = [w for row, w in self.row_widths.items() if row >= first]
        return max([self.below_width, *widths])

    def read(self, xml: Any) -> None:
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.ParseFile(xml)

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "c":
            self._ref = attrs.get("r")
            if self._ref:
                self._column = column_index_from_string(self._ref.rstrip("0123456789"))
            else:
                self._column += 1
            self._type = attrs.get("t", "n")
            self._in_cell, self._formula, self._filled = True, False, False
        elif local == "row":
            self._row = int(attrs["r"]) if "r" in attrs else self._row + 1
            self._column = 0
        elif not self._in_cell:
            return
        elif local == "v":
            self._in_value = True
        elif local == "f":
            self._formula = True
        elif local == "is":
            self._filled = True

    def _end(self, name: str) -> None:
        if not self._in_cell:
            return
        local = name.rpartition(":")[2]
        if local == "v":
            self._in_value = False
        elif local == "c":
            self._in_cell = False
            # A formula whose value was never calculated has no <v> text; an Excel formula
            # that yields "" has one too, but is typed "str".
            if self._formula and not self._filled and self._type != "str":
                self.uncached += 1
                if self.first_uncached is None:
                    self.first_uncached = self._ref or f"row {self._row}"
            if self._filled or self._formula:
                self.height = max(self.height, self._row)
                if self._row <= self.scan_rows:
                    self.row_widths[self._row] = max(
                        self.row_widths.get(self._row, 0), self._column
                    )
                else:
                    self.below_width = max(self.below_width, self._column)

    def _text(self, data: str) -> None:
        if self._in_value and data:
            self._filled = True


def _cell_text(value: Any) -> str | None:
    if isinstance(value, float):
        value = float(f"{value:.{_EXCEL_DIGITS}g}")
    return cell_to_str(value)


def _table_shaped(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Rows cut where the table they belong to ends: at the reach of the widest row at or below.

    A sheet row has no field count of its own, as a CSV line does; openpyxl pads every row to
    the sheet's width, and a title cell far to the right or empty trailing cells of data rows
    must not decide how wide the table is.
    """
    shaped: list[list[str | None]] = []
    reach = 0
    for values in reversed(rows):
        filled = [i for i, v in enumerate(values, start=1) if v is not None and v.strip()]
        reach = max(reach, filled[-1] if filled else 0)
        shaped.append(values[:reach])
    return shaped[::-1]


def _blank(values: list[str | None]) -> bool:
    return all(v is None or not v.strip() for v in values)


def _contains(path: Path, needle: bytes) -> bool:
    block = 1 << 20
    tail = b""
    with path.open("rb") as f:
        while data := f.read(block):
            if needle in tail + data:
                return True
            tail = data[-len(needle) :]
    return False
