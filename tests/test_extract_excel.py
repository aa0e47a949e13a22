"""The Excel reader: sheets, header rows, typed cells as text, formulas, damaged workbooks."""

from __future__ import annotations

import datetime as dt
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.styles import PatternFill

from crmmigrate.errors import (
    BinaryInput,
    EmptyInput,
    MalformedInput,
    UnknownSheet,
    UnsupportedFormat,
)
from crmmigrate.extract import Source, open_source
from crmmigrate.model import PROVENANCE

HEADER = ["Id", "First Name", "Last Name", "City"]
PEOPLE = [
    ["C-1", "Иван", "Петров", "Москва"],
    ["C-2", "伟", "王", "北京"],
    ["C-3", "François", "Côté", "Montréal"],
]


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def rewrite_sheet(
    path: Path, edit: Callable[[str], str], member: str = "xl/worksheets/sheet1.xml"
) -> None:
    """Change a sheet's XML in place, to build what other programs write."""
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    xml = parts[member].decode()
    edited = edit(xml)
    assert edited != xml, "the edit matched nothing"
    parts[member] = edited.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)


def read(path: Path, **options: Any) -> tuple[pd.DataFrame, Any]:
    extraction = open_source(Source(location=str(path), **options))
    return extraction.read(), extraction


def values(frame: pd.DataFrame) -> list[list[str | None]]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def test_header_found_below_title_rows(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "contacts.xlsx",
        {"Contacts": [["Contacts export from OldCRM"], ["Printed 2019-03-01"], HEADER, *PEOPLE]},
    )
    frame, extraction = read(path)
    assert list(frame.columns) == [*HEADER, *PROVENANCE]
    assert values(frame) == [
        ["C-1", "Иван", "Петров", "Москва", "contacts", str(path), "4"],
        ["C-2", "伟", "王", "北京", "contacts", str(path), "5"],
        ["C-3", "François", "Côté", "Montréal", "contacts", str(path), "6"],
    ]
    report = extraction.report
    assert (report.header_row, report.header_forced, report.skipped_above_header) == (3, False, 2)
    assert (report.sheet, report.sheets, report.file) == ("Contacts", ["Contacts"], str(path))
    assert report.columns == HEADER
    assert report.rows == 3


def test_title_cells_far_right_do_not_widen_the_table(tmp_path: Path) -> None:
    title = ["Export", None, None, None, None, None, "page 1"]
    path = workbook(tmp_path / "t.xlsx", {"S": [title, HEADER, *PEOPLE]})
    frame, extraction = read(path)
    assert extraction.report.columns == HEADER
    assert extraction.report.notes == []


def test_header_found_above_rows_with_empty_trailing_cells(tmp_path: Path) -> None:
    people = [[*p[:2], None, None] for p in PEOPLE] + [PEOPLE[0]]
    path = workbook(tmp_path / "t.xlsx", {"S": [["Export"], [], HEADER, *people]})
    frame, extraction = read(path)
    assert extraction.report.header_row == 3
    assert values(frame)[0][:4] == ["C-1", "Иван", None, None]


def test_typed_cells_become_plain_text(tmp_path: Path) -> None:
    rows = [
        ["Id", "Born", "Called", "Alarm", "Amount", "Count", "Phone", "Active", "Lapsed"],
        [
            1,
            dt.datetime(1990, 5, 17),
            dt.datetime(2024, 3, 15, 9, 30),
            dt.time(7, 45),
            0.1 + 0.2,
            5.0,
            4915112345678,
            True,
            False,
        ],
        [2, dt.date(2001, 1, 2), None, None, 1234.56, -3, None, None, None],
    ]
    path = workbook(tmp_path / "typed.xlsx", {"S": rows})
    # openpyxl rounds what it writes; Excel writes all 17 digits of a calculated double.
    rewrite_sheet(path, lambda xml: xml.replace("<v>0.3</v>", "<v>0.30000000000000004</v>"))
    frame, _ = read(path)
    assert values(frame.drop(columns=list(PROVENANCE))) == [
        [
            "1",
            "1990-05-17",
            "2024-03-15T09:30:00",
            "07:45:00",
            "0.3",
            "5",
            "4915112345678",
            "true",
            "false",
        ],
        ["2", "2001-01-02", None, None, "1234.56", "-3", None, None, None],
    ]


def test_formula_without_cached_value_is_noted(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "f.xlsx",
        {"S": [["Qty", "Price", "Total"], [2, 3, "=A2*B2"], [4, 5, "=A3*B3"], [1, 1, 1]]},
    )
    frame, extraction = read(path)
    assert values(frame)[0][:3] == ["2", "3", None]
    assert values(frame)[2][:3] == ["1", "1", "1"]
    notes = [n for n in extraction.report.notes if "formula" in n]
    assert len(notes) == 1
    assert notes[0].startswith(
        "2 formula cell(s) in sheet 'S' have no calculated value (first: C2) and were read as empty"
    )


def test_calculated_formulas_are_read_and_not_noted(tmp_path: Path) -> None:
    path = workbook(tmp_path / "f.xlsx", {"S": [["Qty", "Label"], [2, "x"], [3, "y"]]})
    # What Excel writes: a cached number, and a formula that yields "" typed "str".
    rewrite_sheet(
        path,
        lambda xml: xml.replace(
            '<c r="A2" t="n"><v>2</v></c>', '<c r="A2"><f>1+1</f><v>2</v></c>'
        ).replace(
            '<c r="B3" t="inlineStr"><is><t>y</t></is></c>',
            '<c r="B3" t="str"><f>IF(A3&gt;5,"big","")</f><v></v></c>',
        ),
    )
    frame, extraction = read(path)
    assert values(frame.drop(columns=list(PROVENANCE))) == [["2", "x"], ["3", None]]
    assert extraction.report.notes == []


def test_openpyxl_warnings_become_notes_not_output(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"S": [["Id", "Born"], [1, dt.date(2020, 1, 1)]]})
    rewrite_sheet(path, lambda xml: xml.replace("<v>43831</v>", "<v>99999999</v>"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, extraction = read(path)
    assert frame["Born"].tolist() == ["#VALUE!"]
    assert extraction.report.notes == [
        "1 cell(s) in sheet 'S' could not be read as their format says; the first: Cell B2 is "
        "marked as a date but the serial value 99999999 is outside the limits for dates. The "
        "cell will be treated as an error."
    ]


def test_load_warnings_about_styles_are_not_printed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"S": [HEADER, *PEOPLE]})
    # Written by many export libraries: cell formats, but no named "Normal" style.
    bare = (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>'
    )
    rewrite_sheet(path, lambda xml: bare, member="xl/styles.xml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame, extraction = read(path)
    assert frame["City"].tolist() == ["Москва", "北京", "Montréal"]
    assert extraction.report.notes == []


@pytest.mark.parametrize("choice", ["Accounts", "2", "accounts", " 2 "])
def test_sheet_chosen_by_name_or_number(tmp_path: Path, choice: str) -> None:
    path = workbook(
        tmp_path / "crm.xlsx",
        {"Contacts": [HEADER, *PEOPLE], "Accounts": [["Id", "Name"], ["A-1", "Müller GmbH"]]},
    )
    frame, extraction = read(path, sheet=choice)
    assert values(frame) == [["A-1", "Müller GmbH", "crm", str(path), "2"]]
    assert extraction.report.sheet == "Accounts"
    assert extraction.report.sheets == ["Contacts", "Accounts"]
    assert extraction.report.notes == []


def test_first_sheet_by_default_with_a_note_naming_the_others(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "crm.xlsx", {"Contacts": [HEADER, *PEOPLE], "Accounts": [["Id"], [1]]}
    )
    frame, extraction = read(path)
    assert extraction.report.sheet == "Contacts"
    assert len(frame) == 3
    assert extraction.report.notes == [
        "the workbook has 2 sheets ('Contacts', 'Accounts'); read the first, 'Contacts'. "
        "Choose another with --sheet."
    ]


def test_unknown_sheet_lists_sheets_and_suggests(tmp_path: Path) -> None:
    path = workbook(tmp_path / "crm.xlsx", {"Contacts": [HEADER], "Accounts": [["Id"]]})
    with pytest.raises(UnknownSheet) as caught:
        open_source(Source(location=str(path), sheet="Acounts"))
    assert str(caught.value) == (
        f"{path}: the workbook has no sheet named 'Acounts'. Its sheets are: 'Contacts', "
        "'Accounts'. Did you mean 'Accounts'? Pass --sheet with one of those names, or a "
        "number from 1 to 2."
    )
    with pytest.raises(UnknownSheet, match="there is no sheet 3"):
        open_source(Source(location=str(path), sheet="3"))


def test_header_row_forced(tmp_path: Path) -> None:
    path = workbook(tmp_path / "h.xlsx", {"S": [["1", "2", "3", "4"], HEADER, *PEOPLE]})
    frame, extraction = read(path, header_row=2)
    assert list(frame.columns[:4]) == HEADER
    assert frame["_row"].tolist() == ["3", "4", "5"]
    report = extraction.report
    assert (report.header_row, report.header_forced, report.skipped_above_header) == (2, True, 1)


def test_no_header_names_columns_by_position(tmp_path: Path) -> None:
    path = workbook(tmp_path / "h.xlsx", {"S": PEOPLE})
    frame, extraction = read(path, header_row=0)
    assert extraction.report.columns == ["column_1", "column_2", "column_3", "column_4"]
    assert values(frame)[0] == ["C-1", "Иван", "Петров", "Москва", "h", str(path), "1"]
    assert (extraction.report.header_row, extraction.report.header_forced) == (0, True)
    assert extraction.report.notes == []


def test_forced_header_row_below_the_data(tmp_path: Path) -> None:
    path = workbook(tmp_path / "h.xlsx", {"S": [HEADER, *PEOPLE]})
    with pytest.raises(EmptyInput, match="ends at row 4, before its header row 9"):
        read(path, header_row=9)


def test_blank_rows_skipped_and_counted(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "b.xlsx", {"S": [HEADER, PEOPLE[0], [], [None, "  "], PEOPLE[1], [], PEOPLE[2]]}
    )
    frame, extraction = read(path)
    assert frame["_row"].tolist() == ["2", "5", "7"]
    assert frame["Id"].tolist() == ["C-1", "C-2", "C-3"]
    assert extraction.report.skipped_blank == 3


def test_formatted_empty_columns_and_rows_are_trimmed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"S": [HEADER, *PEOPLE]})
    book = openpyxl.load_workbook(path)
    sheet = book.active
    for ref in ("H1", "Z2", "K40", "A500"):
        sheet[ref].fill = PatternFill("solid", fgColor="FFFF00")
    book.save(path)
    frame, extraction = read(path)
    assert extraction.report.columns == HEADER
    assert len(frame) == 3
    assert extraction.report.skipped_blank == 0


def test_data_under_an_empty_header_cell_gets_a_positional_name(tmp_path: Path) -> None:
    rows = [[*HEADER, None, None], PEOPLE[0], [*PEOPLE[1], None, "VIP"], PEOPLE[2]]
    frame, extraction = read(workbook(tmp_path / "e.xlsx", {"S": rows}))
    assert extraction.report.columns == [*HEADER, "column_5", "column_6"]
    assert frame["column_6"].tolist()[1] == "VIP"
    assert "column 6 has no header; named it 'column_6'" in extraction.report.notes


def test_understated_dimension_does_not_truncate(tmp_path: Path) -> None:
    path = workbook(tmp_path / "d.xlsx", {"S": [HEADER, *PEOPLE]})
    rewrite_sheet(
        path, lambda xml: xml.replace('<dimension ref="A1:D4" />', '<dimension ref="A1:B2" />')
    )
    frame, _ = read(path)
    assert values(frame)[2][:4] == PEOPLE[2]


def test_chunks_join_to_the_whole(tmp_path: Path) -> None:
    people = [[f"C-{i}", f"First {i}", f"Last {i}", "Köln"] for i in range(1, 8)]
    path = workbook(tmp_path / "c.xlsx", {"S": [["Title"], HEADER, *people[:3], [], *people[3:]]})
    whole, _ = read(path)
    chunks = list(open_source(Source(location=str(path), chunk_rows=2)).chunks())
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole["_row"].tolist() == ["3", "4", "5", "7", "8", "9", "10"]


def test_format_forced_on_a_file_without_an_excel_suffix(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", {"S": [HEADER, *PEOPLE]})
    renamed = path.rename(tmp_path / "export.dat")
    frame, _ = read(renamed, format="excel")
    assert len(frame) == 3


def test_empty_sheet(tmp_path: Path) -> None:
    path = workbook(tmp_path / "e.xlsx", {"Empty": [], "Data": [HEADER]})
    with pytest.raises(EmptyInput, match="sheet 'Empty' holds no values"):
        read(path)


def test_text_file_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    path.write_text("Id,Name\n1,Anna\n")
    with pytest.raises(BinaryInput, match="not an Excel workbook.*--format csv"):
        open_source(Source(location=str(path)))


def test_truncated_workbook(tmp_path: Path) -> None:
    path = workbook(tmp_path / "t.xlsx", {"S": [HEADER, *PEOPLE]})
    path.write_bytes(path.read_bytes()[:1500])
    with pytest.raises(MalformedInput, match="damaged"):
        open_source(Source(location=str(path)))


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("contacts.csv", "Id,Name\n1,Anna\n")
    with pytest.raises(BinaryInput, match="zip archive, but not an Excel workbook"):
        open_source(Source(location=str(path)))


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000


def test_password_protected_workbook(tmp_path: Path) -> None:
    path = tmp_path / "secret.xlsx"
    path.write_bytes(OLE + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 100)
    with pytest.raises(UnsupportedFormat, match="password-protected"):
        open_source(Source(location=str(path)))


def test_legacy_xls_content_under_an_xlsx_name(tmp_path: Path) -> None:
    path = tmp_path / "old.xlsx"
    path.write_bytes(OLE + "Workbook".encode("utf-16-le"))
    with pytest.raises(UnsupportedFormat, match="legacy binary .xls"):
        open_source(Source(location=str(path)))


def test_error_cells_read_as_their_text(tmp_path: Path) -> None:
    rows = [["Id", "Owner", "Score"], ["C-1", 1, 2], ["C-2", 3, 4]]
    path = workbook(tmp_path / "e.xlsx", {"S": rows})
    # What Excel writes for a failed lookup (a cached error) and a division by zero.
    rewrite_sheet(
        path,
        lambda xml: xml.replace(
            '<c r="B2" t="n"><v>1</v></c>', '<c r="B2" t="e"><f>NA()</f><v>#N/A</v></c>'
        ).replace('<c r="C3" t="n"><v>4</v></c>', '<c r="C3" t="e"><v>#DIV/0!</v></c>'),
    )
    frame, extraction = read(path)
    assert values(frame.drop(columns=list(PROVENANCE))) == [
        ["C-1", "#N/A", "2"],
        ["C-2", "3", "#DIV/0!"],
    ]
    assert extraction.report.notes == []


def test_table_away_from_the_corner_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    rows = [[], [], [None, None, *HEADER], *([None, None, *p] for p in PEOPLE)]
    path = workbook(tmp_path / "o.xlsx", {"S": rows})
    frame, extraction = read(path)
    assert extraction.report.header_row == 3
    assert extraction.report.columns == ["column_1", "column_2", *HEADER]
    assert values(frame)[0] == [None, None, *PEOPLE[0], "o", str(path), "4"]


def test_whole_numbers_keep_every_digit(tmp_path: Path) -> None:
    numbers = [4915112345678, 1234567890123456, 2**53, -(2**53)]
    rows = [["Id", "N"], *([i, n] for i, n in enumerate(numbers))]
    path = workbook(tmp_path / "n.xlsx", {"S": rows})
    frame, _ = read(path)
    assert frame["N"].tolist() == [str(n) for n in numbers]


def test_duration_beyond_any_date_keeps_the_rest_of_its_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "S"
    for row in (["Id", "Took", "Note"], [1, 1e20, "far"], [2, 1.5, "near"]):
        sheet.append(row)
    sheet["B2"].number_format = sheet["B3"].number_format = "[h]:mm:ss"
    book.save(tmp_path / "d.xlsx")
    frame, extraction = read(tmp_path / "d.xlsx")
    assert values(frame.drop(columns=list(PROVENANCE))) == [
        ["1", "#VALUE!", "far"],
        ["2", "36:00:00", "near"],
    ]
    assert extraction.report.notes == [
        "1 cell(s) in sheet 'S' could not be read as their format says; the first: Cell B2 is "
        "marked as a date but the serial value 1e+20 is outside the limits for dates. The cell "
        "will be treated as an error."
    ]


def test_chart_sheets_are_not_offered(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Data"
    book.active.append(["Id"])
    book.active.append(["C-1"])
    book.create_chartsheet("Chart")
    book.save(tmp_path / "c.xlsx")
    frame, extraction = read(tmp_path / "c.xlsx")
    assert extraction.report.sheets == ["Data"]
    assert frame["Id"].tolist() == ["C-1"]
