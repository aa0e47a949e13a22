"""Excel workbooks (.xlsx, .xlsm): sheet and header row chosen or forced, cells as plain text.

calamine (python-calamine, in Rust) reads the sheet with cached formula values. What it does
not tell, one cheap pass over the sheet's raw XML adds: formulas that were never calculated
(calamine reads them as empty), error cells (#N/A, #DIV/0!, which calamine reads as empty) and
date-formatted numbers outside the range of dates, so neither a silently empty cell nor a date
out of range reaches the output unnoted. The pass only searches the bytes for those rare
marks; it does not parse every cell. The real extent of the data is calamine's: cells that only
carry formatting (which inflate a sheet's declared size to thousands of empty rows and columns)
are not in it.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError, fromstring
from xml.sax.saxutils import unescape

import openpyxl
import pandas as pd
import python_calamine
from openpyxl.styles.stylesheet import Stylesheet
from openpyxl.utils import column_index_from_string
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

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
# calamine reads every number as a double; a whole number up to 2**53 is exactly the integer
# that was written, as openpyxl read it.
_EXACT_INTEGERS = 2**53
# The sheet's XML is searched in blocks of this many bytes, each cut after its last whole row.
_BLOCK = 1 << 22
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OFFICE_DOCUMENT = _DOC_REL + "/officeDocument"
_STRICT_OFFICE_DOCUMENT = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_TYPE = re.compile(rb'\bt="(\w+)"')
_STYLE = re.compile(rb'\bs="(\d+)"')
_ROW_NUMBER = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="(\d+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</")
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s/>]")
_ERROR = re.compile(rb'\st="e"')
# A number a date format may not show: negative, of seven digits and more, or with an exponent.
# Unprefixed, the pattern starts with a literal, which the regular expression engine finds fast.
_ODD_NUMBER = rb"(-[^<]*|\d{7}[^<]*|\d[\d.]*[eE][^<]*)</"
_ODD_DATE = re.compile(rb"<()v>" + _ODD_NUMBER)
_ODD_DATE_PREFIXED = re.compile(rb"<(\w+:)v>" + _ODD_NUMBER)


class ExcelExtraction(Extraction):
    """Reads one sheet of an Excel workbook."""

    def __init__(self, source: Source) -> None:
        self.path = Path(source.location)
        super().__init__(
            source, name=source.name or self.path.stem, file=str(self.path), format="excel"
        )
        self._refuse_non_workbook()
        self._package = self._read_package()
        sheets = list(self._package.parts)
        if not sheets:
            raise MalformedInput(
                "the workbook lists no worksheets.",
                file=self.report.file,
                hint="Open it in Excel or LibreOffice and save it again as .xlsx.",
            )
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

    def _read_package(self) -> _Package:
        """The workbook's sheets, date styles and epoch, from its small XML parts."""
        file = self.report.file
        try:
            with zipfile.ZipFile(self.path) as package:
                return _Package.read(package)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise MalformedInput(
                "the workbook is damaged: it is not a complete zip package.",
                file=file,
                hint="Re-export or re-download it; if Excel still opens it, save a fresh "
                "copy as .xlsx.",
            ) from None
        except KeyError:
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

    @contextmanager
    def _workbook(self) -> Iterator[python_calamine.CalamineWorkbook]:
        # calamine recognises the workbook by its content, so --format excel works on
        # "export.dat" too.
        try:
            workbook = python_calamine.CalamineWorkbook.from_path(str(self.path))
        except python_calamine.CalamineError as exc:
            raise MalformedInput(
                f"the workbook's structure cannot be read ({exc}).",
                file=self.report.file,
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
        marks = self._marks()
        with self._workbook() as workbook:
            try:
                sheet = workbook.get_sheet_by_name(report.sheet)
            except python_calamine.CalamineError as exc:
                raise self._damaged(exc) from None
            end = sheet.end
            height = max(end[0] + 1 if end else 0, marks.height)
            if height == 0:
                raise EmptyInput(
                    f"sheet {report.sheet!r} holds no values.",
                    file=file,
                    hint="Choose another sheet with --sheet: "
                    + ", ".join(map(repr, report.sheets))
                    + ".",
                )
            if marks.uncached:
                report.notes.append(
                    f"{marks.uncached} formula cell(s) in sheet {report.sheet!r} have no "
                    f"calculated value (first: {marks.first_uncached}) and were read as empty: "
                    "the workbook was written by a program that does not calculate formulas. "
                    "Open it in Excel or LibreOffice and save it, then extract it again."
                )
            full = max(end[1] + 1 if end else 0, marks.width)
            rows = self._rows(sheet, height, full, marks, last=True)
            head = list(islice(rows, max(HEADER_SCAN_ROWS, self.source.header_row or 0)))
            header_row = self._choose_header(_table_shaped([v for _, v in head]), height)
            width = self._data_width(head, header_row, full, sheet, height, marks)
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

    def _marks(self) -> _Marks:
        package = self._package
        marks = _Marks(package)
        member = package.parts[self.report.sheet]
        try:
            with zipfile.ZipFile(self.path) as zipped, zipped.open(member) as xml:
                marks.search(xml)
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
            raise self._damaged(exc) from None
        return marks

    def _rows(
        self, sheet: Any, height: int, full: int, marks: _Marks, *, last: bool = False
    ) -> Iterator[tuple[int, list[str | None]]]:
        """Every sheet row from the first, as text, `full` cells wide, numbered from 1; on the
        `last` pass, the cells that could not be read as their format says are noted at the end."""
        cells = sheet.iter_rows()
        fallback: dict[int, list[Any]] = {}
        for number in range(1, height + 1):
            try:
                row = next(cells)
            except StopIteration:
                row = []
            except OverflowError:
                # calamine cannot convert a duration of more than a billion days; openpyxl
                # reads that row, and the cell is noted as a date out of range.
                if number not in fallback:
                    fallback.update(self._openpyxl_rows({number, *marks.overflow_rows}, full))
                row = fallback.pop(number)
            except python_calamine.CalamineError as exc:
                raise self._damaged(exc) from None
            values: list[str | None] = [v if v.__class__ is str else _cell_text(v) for v in row]
            if len(values) < full:
                # calamine leaves out the empty columns left of the data.
                values[:0] = [None] * (full - len(values))
            changed = marks.overrides.get(number)
            if changed:
                for column, text in changed.items():
                    values[column - 1] = text
            yield number, values
        if last and marks.warned:
            self.report.notes.append(
                f"{len(marks.warned)} cell(s) in sheet {self.report.sheet!r} could not be read as "
                f"their format says; the first: {marks.warned[0]}"
            )

    def _openpyxl_rows(self, numbers: set[int], width: int) -> dict[int, list[Any]]:
        with self.path.open("rb") as stream, warnings.catch_warnings():
            # What openpyxl warns about is already in the marks' notes.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            try:
                cells = workbook[self.report.sheet].iter_rows(
                    min_row=1, max_row=max(numbers), max_col=width, values_only=True
                )
                return {
                    number: list(values)
                    for number, values in enumerate(cells, start=1)
                    if number in numbers
                }
            finally:
                workbook.close()

    def _data_width(
        self,
        head: list[tuple[int, list[str | None]]],
        header_row: int,
        full: int,
        sheet: Any,
        height: int,
        marks: _Marks,
    ) -> int:
        """How far the table reaches from its header row down; title rows above it, however
        far right they reach, do not widen it."""
        first = max(header_row, 1)
        width = max(
            [0, *(_reach(v, marks.reach.get(n, 0)) for n, v in head if n >= first)]
        )
        if width >= full or len(head) >= height:
            return width
        # Only when something above is wider than the head of the table: look below it.
        for number, values in islice(self._rows(sheet, height, full, marks), len(head), None):
            width = max(width, _reach(values, marks.reach.get(number, 0)))
            if width >= full:
                break
        return width

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
            names = [v if v != "" else None for v in head[header_row - 1][1][:width]]
            columns, notes = unique_columns(names, file=self.report.file)
            self.report.notes.extend(notes)
        self.report.columns = columns
        return columns


@dataclass
class _Package:
    """What the workbook's small parts say: each worksheet's XML part, the epoch its date
    serials count from, and which cell styles show a number as a date or a duration."""

    parts: dict[str, str]
    epoch: Any = CALENDAR_WINDOWS_1900
    dates: frozenset[int] = frozenset()
    durations: frozenset[int] = frozenset()

    @classmethod
    def read(cls, package: zipfile.ZipFile) -> _Package:
        book = _office_document(package)
        root = fromstring(package.read(book))
        relations = _relations(package, book)
        parts: dict[str, str] = {}
        epoch = CALENDAR_WINDOWS_1900
        for element in root.iter():
            local = element.tag.rpartition("}")[2]
            if local == "workbookPr":
                if element.get("date1904", "").lower() in ("1", "true"):
                    epoch = CALENDAR_MAC_1904
            elif local == "sheet":
                rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
                kind, target = relations.get(rid or "", ("", ""))
                # Chart sheets hold no cells, as openpyxl's worksheets leave them out.
                if kind.endswith("/worksheet"):
                    parts[element.get("name", "")] = target
        styles = next((t for k, t in relations.values() if k.endswith("/styles")), None)
        if styles is None or styles not in package.namelist():
            return cls(parts, epoch)
        stylesheet = Stylesheet.from_tree(fromstring(package.read(styles)))
        return cls(
            parts,
            epoch,
            frozenset(stylesheet.date_formats),
            frozenset(stylesheet.timedelta_formats),
        )


def _office_document(package: zipfile.ZipFile) -> str:
    try:
        root = fromstring(package.read("_rels/.rels"))
    except KeyError:
        return "xl/workbook.xml"
    for element in root:
        if element.get("Type") in (_OFFICE_DOCUMENT, _STRICT_OFFICE_DOCUMENT):
            return element.get("Target", "").lstrip("/")
    raise KeyError("officeDocument")


def _relations(package: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id -> (type, the target's name in the package)."""
    folder, name = posixpath.split(part)
    try:
        root = fromstring(package.read(posixpath.join(folder, "_rels", name + ".rels")))
    except KeyError:
        return {}
    relations = {}
    for element in root:
        target = element.get("Target", "")
        target = target[1:] if target.startswith("/") else posixpath.join(folder, target)
        relations[element.get("Id", "")] = (element.get("Type", ""), posixpath.normpath(target))
    return relations


@dataclass
class _Marks:
    """What calamine does not tell about a sheet, found by searching its XML for rare marks.

    uncached: formula cells with no calculated value (calamine reads them as empty), with the
    first one's reference; reach: row -> the rightmost such cell, as it still spans the table.
    overrides: row -> {column: text} for error cells (#N/A) and date-styled numbers no date can
    show, whose text openpyxl gave; warned: openpyxl's words for the latter; overflow_rows:
    the rows calamine cannot convert at all (a duration of more than a billion days).
    """

    package: _Package
    uncached: int = 0
    first_uncached: str | None = None
    height: int = 0
    width: int = 0
    reach: dict[int, int] = field(default_factory=dict)
    overrides: dict[int, dict[int, str]] = field(default_factory=dict)
    warned: list[str] = field(default_factory=list)
    overflow_rows: set[int] = field(default_factory=set)

    def search(self, xml: BinaryIO) -> None:
        rest = b""
        while True:
            data = xml.read(_BLOCK)
            block = rest + data
            if data:
                # A block ends after its last whole row, so every cell is seen whole.
                cut = max(block.rfind(b"</row>"), block.rfind(b":row>"))
                if cut < 0:
                    rest = block
                    continue
                cut = block.index(b">", cut) + 1
                block, rest = block[:cut], block[cut:]
            self._search_block(block)
            if not data:
                return

    def _search_block(self, block: bytes) -> None:
        if b"<f" in block or b":f" in block:
            for match in _FORMULA.finditer(block):
                self._formula(block, match.start())
        if b't="e"' in block:
            for match in _ERROR.finditer(block):
                self._error(block, match.start())
        if self.package.dates:
            for match in _ODD_DATE.finditer(block):
                self._odd_date(block, match)
            if b":v>" in block:
                for match in _ODD_DATE_PREFIXED.finditer(block):
                    self._odd_date(block, match)

    def _formula(self, block: bytes, at: int) -> None:
        cell = _Cell.before(block, at)
        if cell is None:
            return
        body = block[at : cell.close]
        value = _VALUE.search(body)
        if (value and value.group(1)) or b"<is>" in body or b":is>" in body:
            return
        if cell.row:
            self.height = max(self.height, cell.row)
            self.width = max(self.width, cell.column)
            self.reach[cell.row] = max(self.reach.get(cell.row, 0), cell.column)
        # An Excel formula that yields "" has no value text too, but is typed "str".
        if cell.type != b"str":
            self.uncached += 1
            if self.first_uncached is None:
                self.first_uncached = cell.ref or f"row {cell.row}"

    def _error(self, block: bytes, at: int) -> None:
        cell = _Cell.before(block, at)
        if cell is None or not cell.row:
            return
        value = _VALUE.search(block, cell.open_end, cell.close)
        if value and value.group(1):
            self._override(cell, unescape(value.group(1).decode("utf-8", "replace")))

    def _odd_date(self, block: bytes, match: re.Match[bytes]) -> None:
        cell = _Cell.before(block, match.start(), prefix=match.group(1))
        if cell is None or not cell.row or cell.type != b"n":
            return
        if cell.style not in self.package.dates:
            return
        text = match.group(2).decode("ascii", "replace")
        try:
            number: int | float = float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            return
        duration = cell.style in self.package.durations
        try:
            value = from_excel(number, self.package.epoch, timedelta=duration)
        except (OverflowError, ValueError):
            # openpyxl's words, as it warned before calamine read these workbooks.
            self.warned.append(
                f"Cell {cell.ref} is marked as a date but the serial value {number} is outside "
                "the limits for dates. The cell will be treated as an error."
            )
            self._override(cell, "#VALUE!")
            if duration:
                self.overflow_rows.add(cell.row)
            return
        self._override(cell, cell_to_str(value))

    def _override(self, cell: _Cell, text: str | None) -> None:
        self.overrides.setdefault(cell.row, {})[cell.column] = text  # type: ignore[assignment]


@dataclass
class _Cell:
    """A cell found around a mark in the sheet's XML: where it is, its type and style."""

    ref: str | None
    row: int
    column: int
    type: bytes
    style: int
    open_end: int
    close: int

    @classmethod
    def before(cls, block: bytes, at: int, prefix: bytes | None = None) -> _Cell | None:
        """The cell whose start tag or content holds position `at`, or None if `at` is not in
        a cell (a formula of a data validation, say)."""
        if prefix is None:
            start = block.rfind(b"<", 0, at)
            if block.startswith(b"</", start):
                return None
        else:
            # A value may follow the cell's formula: look back for the cell's own start tag.
            start = block.rfind(b"<" + prefix + b"c", 0, at)
        if start < 0:
            return None
        name_end = start + 1
        while name_end < len(block) and block[name_end] not in b" \t\r\n/>":
            name_end += 1
        name = block[start + 1 : name_end]
        if name != b"c" and not name.endswith(b":c"):
            return None
        open_end = block.find(b">", start) + 1
        head = block[start:open_end]
        if head.endswith(b"/>"):
            return None
        close = block.find(b"</" + name + b">", open_end)
        if close < 0 or close < at:
            return None
        ref_match = _REF.search(head)
        if ref_match:
            ref = ref_match.group(0)[3:-1].decode()
            row = int(ref_match.group(2))
            column = column_index_from_string(ref_match.group(1).decode())
        else:
            ref, row, column = None, *_position(block, start)
        kind = _TYPE.search(head)
        style = _STYLE.search(head)
        return cls(
            ref,
            row,
            column,
            kind.group(1) if kind else b"n",
            int(style.group(1)) if style else 0,
            open_end,
            close,
        )


def _position(block: bytes, start: int) -> tuple[int, int]:
    """Row and column of a cell written without its reference: the row's number, and how many
    cells precede it in the row. (0, 0) when the row has no number either."""
    row_start = max(block.rfind(b"<row", 0, start), block.rfind(b":row ", 0, start))
    if row_start < 0:
        return 0, 0
    number = _ROW_NUMBER.match(block, block.rfind(b"<", 0, row_start + 1))
    if number is None:
        return 0, 0
    column = len(re.findall(rb"<(?:\w+:)?c[\s>]", block[row_start:start])) + 1
    return int(number.group(1)), column


def _cell_text(value: Any) -> str | None:
    """cell_to_str, with numbers as Excel shows them and the common types first (this runs
    for every cell that is not text)."""
    kind = value.__class__
    if kind is float:
        if value.is_integer() and -_EXACT_INTEGERS <= value <= _EXACT_INTEGERS:
            return str(int(value))
        value = float(f"{value:.{_EXCEL_DIGITS}g}")
    elif kind is bool:
        return "true" if value else "false"
    elif kind is dt.date:
        return value.isoformat()
    return cell_to_str(value)


def _reach(values: list[str | None], formulas: int = 0) -> int:
    """1-based column of the row's last cell with a value (or a formula never calculated)."""
    reach = len(values)
    while reach and (values[reach - 1] is None or values[reach - 1] == ""):
        reach -= 1
    return max(reach, formulas)


def _table_shaped(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Rows cut where the table they belong to ends: at the reach of the widest row at or below.

    A sheet row has no field count of its own, as a CSV line does; every row comes padded to
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
