"""The delimited-text reader: encodings, delimiters, headers, ragged lines, bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmmigrate.errors import (
    BadUsage,
    BinaryInput,
    EmptyInput,
    MalformedInput,
    UndecodableInput,
)
from crmmigrate.extract import Source, open_source
from crmmigrate.extract.base import Extraction
from crmmigrate.model import PROVENANCE

CYRILLIC = [
    ("Иван", "Петров", "Москва"),
    ("Анна", "Смирнова", "Санкт-Петербург"),
    ("Ольга", "Кузнецова", "Новосибирск"),
    ("Дмитрий", "Соколов", "Екатеринбург"),
    ("Елена", "Попова", "Нижний Новгород"),
    ("Сергей", "Лебедев", "Казань"),
]
CHINESE = [
    ("伟", "王", "北京"),
    ("娜", "李", "上海"),
    ("敏", "张", "广州"),
    ("静", "刘", "深圳"),
    ("强", "陈", "成都"),
    ("磊", "杨", "杭州"),
]
JAPANESE = [
    ("太郎", "田中", "東京都千代田区"),
    ("花子", "佐藤", "大阪府大阪市北区"),
    ("一郎", "鈴木", "愛知県名古屋市中区"),
    ("美咲", "高橋", "神奈川県横浜市西区"),
    ("健", "伊藤", "北海道札幌市中央区"),
    ("陽菜", "渡辺", "福岡県福岡市博多区"),
]
ACCENTED = [
    ("Jürgen", "Müller", "München"),
    ("José", "García", "Málaga"),
    ("François", "Dupont", "Besançon"),
    ("Åse", "Ødegaard", "Tromsø"),
    ("Renée", "Côté", "Montréal"),
    ("Noël", "Gaëlle", "Genève"),
    ("Iñaki", "Ibáñez", "Logroño"),
]

# (encoding written, the names it can hold)
ROUND_TRIPS = [
    ("utf-8", CYRILLIC + CHINESE + ACCENTED),
    ("utf-8-sig", CYRILLIC + CHINESE + ACCENTED),
    ("utf-16", CYRILLIC + CHINESE + ACCENTED),
    ("cp1251", CYRILLIC),
    ("cp1252", ACCENTED),
    ("latin-1", ACCENTED),
    ("gbk", CHINESE),
    ("gb18030", CHINESE),
    ("shift_jis", JAPANESE),
]


def write_csv(path: Path, rows: list[tuple[str, ...]], *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["Id", "First Name", "Last Name", "City"])
    for i, row in enumerate(rows, start=1):
        writer.writerow([f"C-{i:03d}", *row])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def read(path: Path, **options) -> tuple[pd.DataFrame, object]:
    extraction = open_source(Source(location=str(path), **options))
    frame = extraction.read()
    return frame, extraction


@pytest.mark.parametrize(("encoding", "names"), ROUND_TRIPS, ids=[e for e, _ in ROUND_TRIPS])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_every_value_survives_a_round_trip(tmp_path, encoding, names, delimiter):
    path = write_csv(tmp_path / "contacts.csv", names, encoding=encoding, delimiter=delimiter)

    frame, extraction = read(path)

    assert extraction.report.delimiter == delimiter
    assert list(frame.columns) == ["Id", "First Name", "Last Name", "City", *PROVENANCE]
    got = list(frame[["First Name", "Last Name", "City"]].itertuples(index=False, name=None))
    assert got == names
    assert frame["_row"].tolist() == [str(i) for i in range(2, len(names) + 2)]
    assert extraction.rejects == []


@pytest.mark.parametrize(
    ("written", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("cp1251", "cp1251"),
     ("cp1252", "cp1252"), ("gbk", "gb18030"), ("shift_jis", "cp932")],
)
def test_detected_encoding_is_reported(tmp_path, written, detected):
    names = {"cp1251": CYRILLIC, "cp1252": ACCENTED, "gbk": CHINESE, "shift_jis": JAPANESE}.get(
        written, CYRILLIC + CHINESE
    )
    path = write_csv(tmp_path / "x.csv", names, encoding=written)

    _, extraction = read(path)

    assert extraction.report.encoding == detected
    assert extraction.report.encoding_forced is False


def test_a_tie_between_code_pages_prefers_cp1252_and_says_so(tmp_path):
    # These bytes decode cleanly in cp1250 and cp1252 alike; only the prior can choose.
    path = tmp_path / "fr.csv"
    path.write_bytes("name;city\nRenée Côté;Montréal\nÉlodie Fèvre;Québec\n".encode("latin-1"))

    frame, extraction = read(path)

    assert extraction.report.encoding == "cp1252"
    assert frame["name"].tolist() == ["Renée Côté", "Élodie Fèvre"]
    assert any("equally well" in note for note in extraction.report.notes)


def test_forced_encoding_is_used_and_reported(tmp_path):
    path = write_csv(tmp_path / "x.csv", CYRILLIC, encoding="cp1251")

    frame, extraction = read(path, encoding="cp1251")

    assert extraction.report.encoding == "cp1251"
    assert extraction.report.encoding_forced is True
    assert frame["City"].iloc[0] == "Москва"


def test_bytes_that_do_not_decode_are_located_by_line_and_offset(tmp_path):
    path = tmp_path / "x.csv"
    body = b"Id,Name\n1,Ann\n2,Bob\n3,Caf\xe9\n"
    path.write_bytes(body)

    with pytest.raises(UndecodableInput) as caught:
        read(path, encoding="utf-8")

    error = caught.value
    assert error.line == 4
    offset = body.index(b"\xe9")
    assert f"byte offset {offset}" in str(error)
    assert "e9" in str(error)
    assert "--encoding" in str(error)


def test_a_bad_byte_beyond_the_detection_sample_is_located(tmp_path):
    # The head is clean UTF-8, so detection says utf-8; the bad byte sits past the sample.
    path = tmp_path / "big.csv"
    lines = [b"Id,Name\n"] + [f"{i},Name {i}\n".encode() for i in range(1, 120_000)]
    lines.append(b"120000,Andr\xe9\n")
    path.write_bytes(b"".join(lines))

    extraction = open_source(Source(location=str(path)))
    with pytest.raises(UndecodableInput) as caught:
        extraction.read()

    assert caught.value.line == 120_001
    assert "detected from the file's head" in str(caught.value)


def test_unknown_forced_encoding_suggests_a_known_one(tmp_path):
    path = write_csv(tmp_path / "x.csv", ACCENTED)

    with pytest.raises(BadUsage, match="did you mean 'cp1251'"):
        read(path, encoding="cp-1251")


def test_title_rows_above_the_header_are_skipped_and_reported(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "Accounts export from OldCRM\nPrinted 2024-03-01 by admin\n\n"
        "Id;Name;City\n1;Acme;Berlin\n2;Globex;Paris\n",
        encoding="utf-8",
    )

    frame, extraction = read(path)

    assert extraction.report.header_row == 4
    assert extraction.report.skipped_above_header == 2
    assert list(frame.columns[:3]) == ["Id", "Name", "City"]
    assert frame["Name"].tolist() == ["Acme", "Globex"]
    assert frame["_row"].tolist() == ["5", "6"]


def test_forced_header_row(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("junk,junk,junk\nId,Name,City\n1,Acme,Berlin\n", encoding="utf-8")

    frame, extraction = read(path, header_row=2)

    assert extraction.report.header_forced is True
    assert frame.iloc[0, :3].tolist() == ["1", "Acme", "Berlin"]


def test_no_header_names_columns_by_position(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,Acme,Berlin\n2,Globex,Paris\n", encoding="utf-8")

    frame, extraction = read(path, header_row=0)

    assert list(frame.columns[:3]) == ["column_1", "column_2", "column_3"]
    assert frame["column_2"].tolist() == ["Acme", "Globex"]
    assert frame["_row"].tolist() == ["1", "2"]


def test_forced_delimiter_wins_over_the_sniffer(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a;b,c\n1;2,3\n4;5,6\n", encoding="utf-8")

    frame, extraction = read(path, delimiter=",")

    assert extraction.report.delimiter_forced is True
    assert list(frame.columns[:2]) == ["a;b", "c"]


def test_semicolons_win_when_values_hold_commas(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "Id;Street;City\n1;Main St 1, Building 2;Berlin\n2;Oak Ave, 5;Paris\n3;Elm 3;Rome\n",
        encoding="utf-8",
    )

    frame, extraction = read(path)

    assert extraction.report.delimiter == ";"
    assert frame["Street"].tolist() == ["Main St 1, Building 2", "Oak Ave, 5", "Elm 3"]


def test_ragged_lines_are_rejected_with_their_line_numbers_and_the_rest_kept(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        'Id,Name,Note\n1,Ann,"two\nlines"\n2,Bob\n3,Cid,ok\n4,Dan,x,extra\n5,Eve,fine\n',
        encoding="utf-8",
    )

    frame, extraction = read(path)

    assert frame["Id"].tolist() == ["1", "3", "5"]
    assert frame["_row"].tolist() == ["2", "5", "7"]
    assert frame["Note"].iloc[0] == "two\nlines"
    assert [(r.row, r.reason, r.raw) for r in extraction.rejects] == [
        ("4", "expected 3 fields, found 2", "2,Bob"),
        ("6", "expected 3 fields, found 4", "4,Dan,x,extra"),
    ]
    assert extraction.report.rejected == 2
    assert extraction.report.rows == 3


def test_trailing_delimiters_on_every_line_lose_nothing_and_are_not_ragged(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id;Name;\n1;Ann;\n2;Bob\n", encoding="utf-8")

    frame, extraction = read(path)

    assert extraction.rejects == []
    assert list(frame.columns[:2]) == ["Id", "Name"]
    assert frame["Name"].tolist() == ["Ann", "Bob"]


def test_an_unquoted_delimiter_that_shifts_fields_is_rejected_not_trimmed(tmp_path):
    # The comma in the note shifts every later field right; the extra last field is empty
    # only because the record's last value is. Trimming it would load "call back" as Status.
    path = tmp_path / "x.csv"
    path.write_text("Id,Note,Status,Closed\n1,ok,open,\n2,late, call back,open,\n", encoding="utf-8")

    frame, extraction = read(path)

    assert frame["Id"].tolist() == ["1"]
    assert [(r.row, r.reason) for r in extraction.rejects] == [("3", "expected 4 fields, found 5")]


def test_empty_fields_are_missing_and_whitespace_is_kept(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id,Name,City\n1,,  \n", encoding="utf-8")

    frame, _ = read(path)

    assert pd.isna(frame["Name"].iloc[0])
    assert frame["City"].iloc[0] == "  "


def test_blank_lines_are_skipped_and_counted_and_empty_records_rejected(tmp_path):
    # A line of delimiters is a record with no values: it must reach the ledger, so it is
    # rejected with its line; a blank line is no record at all.
    path = tmp_path / "x.csv"
    path.write_text("Id,Name\n1,Ann\n\n,\n2,Bob\n", encoding="utf-8")

    frame, extraction = read(path)

    assert frame["Id"].tolist() == ["1", "2"]
    assert extraction.report.skipped_blank == 1
    assert [(r.row, r.reason, r.raw) for r in extraction.rejects] == [
        ("4", "empty record: no field holds a value", ",")
    ]


def test_repeated_and_blank_header_names_are_made_unique_and_noted(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Phone,Name,Phone,\n1,Ann,2,x\n", encoding="utf-8")

    frame, extraction = read(path)

    assert list(frame.columns[:4]) == ["Phone", "Name", "Phone_2", "column_4"]
    assert len(extraction.report.notes) == 2


def test_a_reserved_provenance_header_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id,_row\n1,2\n", encoding="utf-8")

    with pytest.raises(MalformedInput, match="reserves for provenance"):
        read(path)


def test_chunks_hold_at_most_chunk_rows_and_add_up(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id,Name\n" + "".join(f"{i},N{i}\n" for i in range(1, 26)), encoding="utf-8")

    extraction = open_source(Source(location=str(path), chunk_rows=10))
    chunks = list(extraction.chunks())

    assert [len(c) for c in chunks] == [10, 10, 5]
    assert pd.concat(chunks)["_row"].tolist() == [str(i) for i in range(2, 27)]
    assert extraction.report.rows == 25


def test_header_only_file_gives_no_rows_but_its_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id,Name\n", encoding="utf-8")

    frame, extraction = read(path)

    assert len(frame) == 0
    assert list(frame.columns) == ["Id", "Name", *PROVENANCE]


def test_empty_and_whitespace_files_are_refused(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.csv").write_text("\n  \n", encoding="utf-8")

    with pytest.raises(EmptyInput, match="0 bytes"):
        read(tmp_path / "empty.csv")
    with pytest.raises(EmptyInput, match="no header and no rows"):
        read(tmp_path / "blank.csv")


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "zip"), (b"SQLite format 3\x00", "SQLite"),
     (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file")],
)
def test_a_binary_file_given_as_csv_is_refused(tmp_path, head, kind):
    path = tmp_path / "data.csv"
    path.write_bytes(head + bytes(range(256)) * 8)

    with pytest.raises(BinaryInput, match=kind):
        read(path)


def test_utf16_without_bom_is_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("Id\tName\n1\tИван Петров\n2\tАнна Смирнова\n3\tOlga\n".encode("utf-16-le"))

    frame, extraction = read(path)

    assert frame["Name"].tolist() == ["Иван Петров", "Анна Смирнова", "Olga"]
    assert extraction.report.delimiter == "\t"


# -- a chunk's frame: each column its values, blanks missing -------------------------------------


class _Given(Extraction):
    def _chunks(self):  # pragma: no cover - frame() alone is tested
        yield from ()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda width: st.lists(
    st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=width, max_size=width), max_size=30)
    .map(lambda rows, width=width: (width, rows))))
def test_a_chunk_holds_each_row_s_values_in_its_columns_blanks_missing(given_rows):
    width, rows = given_rows
    columns = [f"c{i}" for i in range(width)]
    extraction = _Given(Source(location="x.csv"), name="s", file="x.csv", format="csv")

    frame = extraction.frame(columns, rows, [str(n) for n in range(len(rows))])

    assert list(frame.columns) == [*columns, *PROVENANCE]
    for at, column in enumerate(columns):
        assert [v if isinstance(v, str) else None for v in frame[column].astype(object)] == \
            [row[at] or None for row in rows]
    assert frame["_row"].tolist() == [str(n) for n in range(len(rows))]


def test_a_chunk_refuses_a_row_of_another_width():
    extraction = _Given(Source(location="x.csv"), name="s", file="x.csv", format="csv")
    with pytest.raises(ValueError, match="one value per column"):
        extraction.frame(["a", "b"], [["1", "2"], ["3"], ["4", "5", "6"]], ["1", "2", "3"])
