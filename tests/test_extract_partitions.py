"""A source read in parts (crmmigrate.extract.partitions, issue 20) reads as the whole does:
the parts' frames one after another are the whole read's frame (values and provenance, `_row`
included), their rejects its rejects, their reports added up its report; an error is the same
error. Every case is split with a small target_bytes, so into many parts where it can be."""

from __future__ import annotations

import codecs
import csv
import io
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmmigrate.errors import (
    BadQuery,
    CrmMigrateError,
    EmptyInput,
    MalformedInput,
    SourceUnreachable,
    UndecodableInput,
    UnknownTable,
)
from crmmigrate.extract import ExtractReport, Source, extract, open_source
from crmmigrate.extract.delimited import RUNAWAY_LINES, DelimitedExtraction
from crmmigrate.extract import partitions as partitions_module
from crmmigrate.extract.partitions import Part, open_part, partitions
from crmmigrate.extract.sql import KeyRange, SqlExtraction
from tests.conftest import empty_database
from tests.test_extract_sql import PASSWORD, Scratch, maria, pg, sqlite_db  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
CHICAGO = Path("/work/shared/data/chicago/chicago_early_childhood_with_true_ids.csv")


def read_whole(source: Source):
    """The whole read: (frame, rejects, report), or (error type, message)."""
    try:
        extraction = open_source(source)
        frame = extraction.read()
    except CrmMigrateError as exc:
        return type(exc), str(exc)
    return frame, extraction.rejects, extraction.report.as_dict()


def read_parts(parts: list[Part]):
    """The parts read one by one, each from its pickled form as a worker gets it."""
    try:
        extractions = [open_part(pickle.loads(pickle.dumps(part))) for part in parts]
        frames = [extraction.read() for extraction in extractions]
    except CrmMigrateError as exc:
        return type(exc), str(exc)
    rejects = [reject for extraction in extractions for reject in extraction.rejects]
    report = ExtractReport.combine([extraction.report for extraction in extractions])
    return pd.concat(frames, ignore_index=True), rejects, report.as_dict()


def assert_same(whole, parts) -> None:
    if isinstance(whole[0], type) or isinstance(parts[0], type):
        assert parts == whole
        return
    pd.testing.assert_frame_equal(parts[0], whole[0].reset_index(drop=True))
    assert parts[1] == whole[1]
    assert parts[2] == whole[2]


def check(path: Path | str, target_bytes: int, chunk_rows: int = 3, **options) -> list[Part]:
    """Read `path` (or a database URL) whole and in parts of about `target_bytes`; they must
    agree. The parts."""
    source = Source(location=str(path), chunk_rows=chunk_rows, **options)
    try:
        parts = partitions(source, target_bytes)
    except CrmMigrateError as exc:
        # Refused while opening: the whole read refuses it the same way.
        assert read_whole(source) == (type(exc), str(exc))
        return []
    assert [(p.index, p.count) for p in parts] == [(i, len(parts)) for i in range(len(parts))]
    assert_same(read_whole(source), read_parts(parts))
    return parts


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


QUOTED = (
    "id,name,note\n"
    + "".join(
        f'{i},"Name {i}, Jr.","a note\nover ""two"" lines, with a comma"\n'
        f"{i + 1000},Plain {i},\n"
        for i in range(40)
    )
)


def test_quoted_newlines_delimiters_and_doubled_quotes_split_into_many_parts(tmp_path):
    parts = check(write(tmp_path, QUOTED), 100)
    assert len(parts) > 10
    # Every part but the first starts on a record's first line, after the header.
    for part in parts[1:]:
        assert read_parts([part])[0]["_row"].iloc[0] == str(part.first_line + 1)
    notes = read_parts(parts)[0]["note"].dropna()
    assert set(notes) == {'a note\nover "two" lines, with a comma'}


def test_row_is_the_whole_files_line(tmp_path):
    parts = check(write(tmp_path, QUOTED), 100)
    rows = read_parts(parts)[0]["_row"].tolist()
    assert rows[:4] == ["2", "4", "5", "7"]  # a record over two lines takes two
    assert all(p.first_line > 0 for p in parts[1:])


def test_bom_and_crlf(tmp_path):
    text = QUOTED.replace("\n", "\r\n")
    parts = check(write(tmp_path, text, "utf-8-sig"), 150)
    assert len(parts) > 5
    assert parts[0].decided.report.encoding == "utf-8-sig"


def test_bom_first_column_quoted(tmp_path):
    # The quote opening the first field follows the byte-order mark, not a delimiter.
    text = "".join(f'"{i}","Name {i}"\r\n' for i in range(60))
    assert len(check(write(tmp_path, '"id","name"\r\n' + text, "utf-8-sig"), 80)) > 5


def test_cp1252_accented_text(tmp_path):
    names = ["Jürgen Müller", "José García", "François Dupont", "Renée Côté", "Noël Gaëlle"]
    rows = "".join(f'{i};"{names[i % 5]}";"Straße {i}\r\nMünchen"\r\n' for i in range(80))
    parts = check(write(tmp_path, "Nr;Name;Adresse\r\n" + rows, "cp1252"), 200)
    assert parts[0].decided.report.encoding == "cp1252"
    assert len(parts) > 5


def test_blank_lines_and_ragged_rows_are_rejected_alike(tmp_path):
    lines = ["id,name,city"]
    for i in range(50):
        lines += [f"{i},Ann,Paris", "", f"{i},too,many,fields", f"{i},few", ",,", '""', "   "]
    parts = check(write(tmp_path, "\n".join(lines) + "\n"), 60)
    assert len(parts) > 10
    whole = read_whole(Source(location=str(tmp_path / "f.csv")))
    assert whole[2]["rejected"] > 100 and whole[2]["skipped_blank"] > 50


def test_header_below_title_rows(tmp_path):
    text = "Export from OldCRM, 2019-03-01\n\nCreated by admin\nid,name,email\n" + "".join(
        f"{i},Name {i},n{i}@example.com\n" for i in range(100)
    )
    parts = check(write(tmp_path, text), 50)
    assert len(parts) > 10
    assert parts[0].decided.report.header_row == 4
    assert parts[1].first_line >= parts[0].decided.header_lines == 4
    # However small the parts, the first holds the lines above the header and the header.
    assert check(tmp_path / "f.csv", 1)[1].first_line == 4


def test_forced_header_row_and_no_header(tmp_path):
    text = "title\n" + "".join(f"{i},Name {i}\n" for i in range(100))
    assert len(check(write(tmp_path, text), 40, header_row=2)) > 5
    assert len(check(write(tmp_path, text), 40, header_row=0)) > 5


def test_trailing_delimiter_on_every_line(tmp_path):
    text = "id,name,\n" + "".join(f"{i},Name {i},\n" for i in range(100))
    assert len(check(write(tmp_path, text), 40)) > 5


def test_last_line_without_newline(tmp_path):
    text = QUOTED + '99,"last","no newline\nat the end"'
    assert len(check(write(tmp_path, text), 100)) > 10


def test_unclosed_quote_is_read_by_the_last_part_as_the_whole_read_reads_it(tmp_path):
    rows = [f"{i},Name {i},n{i}@example.com" for i in range(200)]
    rows[120] = '120,"Cid,cid@example.com'
    parts = check(write(tmp_path, "id,name,email\n" + "\n".join(rows) + "\n"), 100)
    assert len(parts) > 10
    # No part starts past the line of the stray quote: the last part reads it and all after.
    assert parts[-1].first_line <= 121
    whole = read_whole(Source(location=str(tmp_path / "f.csv")))
    assert [r.row for r in whole[1]] == ["122"]


def test_unclosed_quote_at_the_end(tmp_path):
    text = QUOTED + '99,"never closed,\n100,a,b\n101,c,d\n'
    assert len(check(write(tmp_path, text), 100)) > 10


def test_stray_quotes_inside_fields(tmp_path):
    rows = [f'{i},12" monitor,He said "no"' if i % 50 == 25 else f"{i},Name {i},x" for i in range(200)]
    parts = check(write(tmp_path, "id,product,note\n" + "\n".join(rows) + "\n"), 100)
    assert 1 < len(parts) < 20


def test_quote_in_the_header_refuses_the_file_alike(tmp_path):
    text = 'id,"name,email\n' + "".join(f"{i},a,b\n" for i in range(50))
    assert check(write(tmp_path, text), 30) == []
    whole = read_whole(Source(location=str(tmp_path / "f.csv")))
    assert whole[0] is MalformedInput


def test_a_quoted_field_over_more_lines_than_the_runaway_limit(tmp_path):
    long = '"' + "line\n" * (RUNAWAY_LINES + 5) + '"'
    text = "id,note\n" + "".join(f"{i},x\n" for i in range(50)) + f"50,{long}\n" + "".join(
        f"{i},y\n" for i in range(51, 100)
    )
    parts = check(write(tmp_path, text), 40)
    assert len(parts) > 3
    assert parts[-1].first_line <= 51  # the last part starts before the long record


@pytest.mark.parametrize("scan_bytes", [1, 2, 3, 5, 64])
def test_scan_blocks_end_anywhere(tmp_path, monkeypatch, scan_bytes):
    # A quote, carriage return or newline on either side of a block's edge is seen alike.
    texts = {
        "crlf.csv": (QUOTED.replace("\n", "\r\n"), "utf-8-sig"),
        "mac.csv": ("id,name\r" + "".join(f'{i},"a\r{i}"\r{i},b\n' for i in range(30)), "utf-8"),
        "stray.csv": (QUOTED + '5,x"y,z\n' + QUOTED[13:], "cp1252"),
    }
    for name, (text, encoding) in texts.items():
        path = write(tmp_path, text, encoding, name)
        whole_block = [(p.start, p.end, p.first_line) for p in check(path, 50)]
        monkeypatch.setattr(partitions_module, "SCAN_BYTES", scan_bytes)
        assert [(p.start, p.end, p.first_line) for p in check(path, 50)] == whole_block
        assert len(whole_block) > 5
        monkeypatch.undo()


def test_tiny_file_smaller_than_target_bytes(tmp_path):
    parts = check(write(tmp_path, "id,name\n1,Ann\n"), 1 << 20)
    assert len(parts) == 1 and parts[0].start == 0 and parts[0].end is None


def test_header_only(tmp_path):
    assert len(check(write(tmp_path, "id,name\n\n\n"), 1)) == 3  # parts of blank lines
    assert len(check(write(tmp_path, "id,name"), 1)) == 1


def test_utf16_is_one_part(tmp_path):
    parts = check(write(tmp_path, QUOTED, "utf-16"), 100)
    assert len(parts) == 1


def test_multibyte_code_page_is_one_part(tmp_path):
    text = "id,name,city\n" + "".join(f"{i},田中 太郎,東京都千代田区\n" for i in range(200))
    parts = check(write(tmp_path, text, "shift_jis"), 100, encoding="shift_jis")
    assert len(parts) == 1


def test_old_mac_line_ends(tmp_path):
    # Lone carriage returns end lines as well; the file is not split at them, but its
    # newlines inside quoted fields and the lines counted must still agree.
    text = QUOTED.replace("\n", "\r").replace('lines, with"', 'lines\n, with"')
    check(write(tmp_path, text), 100)
    mixed = "id,name\r" + "".join(f"{i},a\r{i},b\n" for i in range(60))
    assert len(check(write(tmp_path, mixed), 50)) > 5


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(tmp_path, delimiter):
    text = QUOTED.replace(",", delimiter)
    assert len(check(write(tmp_path, text), 100)) > 10


def test_a_byte_that_does_not_decode_far_down_is_the_same_error(tmp_path):
    head = "id,name\n" + "".join(f"{i},Name {i}\n" for i in range(120_000))
    path = tmp_path / "f.csv"
    path.write_bytes(head.encode() + b"9,caf\xe9\n10,ok\n")
    parts = check(path, 100_000, chunk_rows=10_000)
    assert len(parts) > 10
    assert read_parts(parts)[0] is UndecodableInput


def test_a_file_cut_short_is_one_part(tmp_path):
    path = tmp_path / "f.csv"
    whole_lines = ("id,name\n" + "".join(f"{i},Müller\n" for i in range(100))).encode()
    path.write_bytes(whole_lines + "100,Mü".encode()[:-1])
    parts = check(path, 50)
    assert len(parts) == 1 and parts[0].end == len(whole_lines)
    assert read_whole(Source(location=str(path)))[1][-1].reason.startswith("cut short")


def test_parts_do_not_detect_again(tmp_path, monkeypatch):
    path = write(tmp_path, QUOTED)
    parts = partitions(Source(location=str(path)), 100)

    def guessed(*args, **kwargs):
        raise AssertionError("a part guessed again")

    for name in ("_choose_encoding", "_choose_delimiter", "_choose_header", "_header"):
        monkeypatch.setattr(DelimitedExtraction, name, guessed)
    assert sum(len(open_part(p).read()) for p in parts) == 80


def json_array(records: list, *, mark: bool = False, between: str = ",\n") -> str:
    return ("\ufeff" if mark else "") + "[\n" + between.join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"


def test_a_json_array_splits_between_its_records(tmp_path):
    """Strings holding quotes, backslashes, brackets and commas; records nested, a number among
    them (rejected with its record's number), a key first seen near the end."""
    records: list = [{"id": str(i), "name": f'N{i} \u00e9 "quoted" \\ , ] [ {{ }}', "tail": "ends in \\",
                      "nested": [1, {"a": [2, {"b": ","}]}]} for i in range(60)]
    records[55]["late"] = {"x": 1}
    records.insert(5, 7)
    path = write(tmp_path, json_array(records, mark=True), name="f.json")
    parts = check(path, 200)
    assert len(parts) > 20
    frame, rejects, _ = read_parts(parts)
    assert [(r.row, r.reason) for r in rejects] == [("6", "a number, not an object")]
    assert frame["_row"].tolist()[4:7] == ["5", "7", "8"] and "late.x" in frame.columns
    data = path.read_bytes()
    for part in parts[1:]:  # each starts after a comma between records, after the lines before it
        assert data[part.start - 1:part.start] == b"," and part.first_line == data[:part.start].count(b"\n")


@pytest.mark.parametrize("between", [",", ", ", "\r\n,\r\n", ",\t"])
def test_a_json_array_on_one_line_or_any_spacing(tmp_path, between):
    records = [{"id": i, "s": "x\\\"y" * (i % 3)} for i in range(50)]
    assert len(check(write(tmp_path, json_array(records, between=between), name="f.json"), 100)) > 10


def test_a_json_array_whose_strings_end_in_backslashes_across_scan_blocks(tmp_path, monkeypatch):
    """The scan reads the file in blocks: a run of backslashes, or a string, across a block's
    end is carried into the next."""
    records = [{"id": i, "s": "\\" * (i % 5) + '"' * (i % 2) + "\\" * (i % 4)} for i in range(80)]
    path = write(tmp_path, json_array(records, between=","), name="f.json")
    for block in (1, 2, 3, 7, 64):
        monkeypatch.setattr(partitions_module, "SCAN_BYTES", block)
        assert len(check(path, 60)) > 10


def test_json_that_is_not_an_array_of_records_or_not_json_is_one_part_or_the_whole_reads_error(tmp_path):
    wrapped = write(tmp_path, '{"data": ' + json_array([{"id": i} for i in range(40)]) + "}", name="w.json")
    source = Source(location=str(wrapped), records="data")
    assert partitions(source, 10) == [Part(source)]
    check(wrapped, 10, records="data")
    broken = write(tmp_path, json_array([{"id": i} for i in range(40)]).replace('{"id": 30}', '{"id": 30'),
                   name="b.json")
    check(broken, 30)  # the survey parses the whole file first: the whole read's error, line and all
    trailing = write(tmp_path, json_array([{"id": i} for i in range(40)]).replace("\n]", ",\n]"), name="t.json")
    check(trailing, 30)
    # Two commas with only spaces between, a part apart: each part alone is an array (one of
    # none), the whole is not. A part of an array with no record sends the survey to the whole.
    # (After 64 KiB, so that opening the file, which parses its first piece, does not find it.)
    head = "[" + ",".join(json.dumps({"id": i, "pad": "x" * 60}) for i in range(1000))
    target = len(head) + 1  # a part ends at the first of the two commas, the next at the second
    hollow = write(tmp_path, head + "," + " " * target + "," + '{"id": "last"}]', name="h.json")
    unsurveyed = partitions(Source(location=str(hollow)), target, surveyed=False)
    assert len(unsurveyed) == 3 and partitions_module.part_keys(unsurveyed[1]) is None
    assert check(hollow, target) == [] and isinstance(read_whole(Source(location=str(hollow)))[0], type)


_array_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.text(alphabet=st.sampled_from('ab"\\,[]{}: \n\u00e9'), max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=10)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.one_of(st.dictionaries(st.sampled_from("abcde"), _array_values, max_size=4), _array_values),
                        max_size=25),
       between=st.sampled_from([",", ",\n", " ,\r\n ", ",\r"]), target=st.integers(1, 150), mark=st.booleans(),
       block=st.sampled_from([3, 16, 1 << 22]))
def test_a_json_array_any_split_reads_as_the_whole(tmp_path, records, between, target, mark, block):
    path = tmp_path / "h.json"
    path.write_bytes(json_array(records, mark=mark, between=between).encode())
    partitions_module.SCAN_BYTES, scan = block, partitions_module.SCAN_BYTES
    try:
        check(path, target)
    finally:
        partitions_module.SCAN_BYTES = scan


# -- JSON Lines: split after line feeds, the whole file surveyed once for its columns ----------


def json_lines(count: int = 60) -> list[str]:
    """Records whose keys come and go: a key first seen near the end, one null in one record and
    an object in another, nested objects and arrays, a key that flattens onto another's name."""
    lines = []
    for i in range(count):
        record: dict = {"id": str(i), "name": f"Nom {i} \u00e9\u00e8", "n": i * 1.5}
        if i == count - 5:
            record["late"] = {"x": 1, "y": [1, {"z": 2}]}
        if i == 10:
            record["account"] = None
        if i == 40:
            record["account"] = {"Id": "A1"}
        if i == 30:
            record["account.Id"] = "flat"
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


def test_json_lines_split_into_parts_read_as_the_whole_file(tmp_path):
    lines = json_lines()
    lines[5:5] = ["", "   ", "not json", "[1, 2]", '{"id": "lone \\ud800 half"}', '{"id": 1, "id": 2}']
    path = write(tmp_path, "\n".join(lines) + "\n", name="f.jsonl")
    parts = check(path, 100)
    assert len(parts) > 20
    frame, rejects, report = read_parts(parts)
    assert "late.y" in frame.columns and frame.columns[-3:].tolist() == ["_source", "_file", "_row"]
    assert [(r.row, r.reason.split(":")[0]) for r in rejects] == [("8", "not valid JSON"),
                                                                  ("9", "an array, not an object")]
    assert report["skipped_blank"] == 2 and any("lone surrogate" in note for note in report["notes"])
    for part in parts[1:]:  # every part starts on a line, after the lines before it
        assert part.start > 0 and part.first_line == path.read_bytes()[:part.start].count(b"\n")


@pytest.mark.parametrize("ending", ["\r\n", "\r", "\n\r\n"])
def test_json_lines_with_other_line_ends_and_a_mark(tmp_path, ending):
    text = "\ufeff" + ending.join(json_lines()) + ending
    parts = check(write(tmp_path, text, name="f.jsonl"), 150)
    # A lone carriage return ends a line but cannot start a part: split only after line feeds.
    if ending == "\r":
        assert len(parts) == 1
    else:
        assert len(parts) > 10
    rows = read_parts(parts)[0]["_row"].tolist()
    step = 2 if ending == "\n\r\n" else 1  # the blank line between records is a line
    assert rows[:3] == [str(1 + step * i) for i in range(3)]


def test_json_lines_mark_on_a_later_line_is_that_lines(tmp_path):
    """U+FEFF starting a line that starts a part: the whole read rejects that line (the mark is
    only dropped where the file starts), and so does the part."""
    lines = json_lines(40)
    lines[20] = "\ufeff" + lines[20]
    parts = check(write(tmp_path, "\ufeff" + "\n".join(lines) + "\n", name="f.jsonl"), 80)
    assert any(p.start > 0 and Path(p.source.location).read_bytes()[p.start:p.start + 3] == codecs.BOM_UTF8
               for p in parts)
    assert [r.row for r in read_parts(parts)[1]] == ["21"]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_json_lines_in_a_code_page_forced(tmp_path, encoding):
    path = write(tmp_path, "\n".join(json_lines()) + "\n", encoding, name="f.jsonl")
    parts = check(path, 120, encoding=encoding)
    assert len(parts) > 10
    assert set(read_parts(parts)[0]["name"].str[-2:]) == {"\u00e9\u00e8"}


@pytest.mark.parametrize("encoding", ["mac-arabic", "mac-farsi"])
def test_code_pages_with_a_second_quote_or_bracket_byte_are_one_part(tmp_path, encoding):
    """In these, byte 0xA2 is a quote and 0xDB, 0xDC and 0xDD a bracket and a backslash: a scan
    of the bytes would split inside strings (found by a review: a JSON record numbered 6 that
    the whole read numbers 5, and a CSV read as 4 records instead of 8)."""
    array = tmp_path / "f.json"
    array.write_bytes(b'[{"a":1},{"a":2},\xa2x,y\xa2,{"a":3},{"a":4}]')
    delimited = tmp_path / "f.csv"
    delimited.write_bytes(b"id,note\n" + b"".join(b"%d,\xa2x\ny\xa2\n" % i for i in range(8)))
    for path in (array, delimited):
        source = Source(location=str(path), encoding=encoding)
        assert len(partitions(source, 10)) == 1
        check(path, 10, encoding=encoding)


def test_json_lines_with_undecodable_bytes_reject_the_same_lines(tmp_path):
    data = ("\n".join(json_lines()) + "\n").encode()
    data = data.replace("\u00e9".encode(), b"\xe9", 3)  # cp1252 bytes in a UTF-8 file: three lines
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    parts = check(path, 100)
    assert len(parts) > 10 and len(read_parts(parts)[1]) == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_json_lines_in_wide_encodings_are_one_part(tmp_path, encoding):
    path = write(tmp_path, "\n".join(json_lines()) + "\n", encoding, name="f.jsonl")
    source = Source(location=str(path))
    assert partitions(source, 50) == [Part(source)]
    check(path, 50)


def test_json_lines_parts_do_not_survey_or_guess_again(tmp_path, monkeypatch):
    from crmmigrate.extract.json_records import JsonExtraction

    path = write(tmp_path, "\n".join(json_lines()) + "\n", name="f.jsonl")
    parts = partitions(Source(location=str(path)), 100)

    def again(*args, **kwargs):
        raise AssertionError("a part surveyed or guessed again")

    monkeypatch.setattr(JsonExtraction, "_choose_encoding", again)
    monkeypatch.setattr(JsonExtraction, "survey", again)
    assert sum(len(open_part(pickle.loads(pickle.dumps(p))).read()) for p in parts) == 60


def test_json_lines_parts_not_surveyed_are_refused_until_they_are(tmp_path):
    from crmmigrate.extract.partitions import needs_survey, survey

    path = write(tmp_path, "\n".join(json_lines()) + "\n", name="f.jsonl")
    source = Source(location=str(path))
    unsurveyed = partitions(source, 100, surveyed=False)
    assert needs_survey(unsurveyed) and len(unsurveyed) > 10
    with pytest.raises(ValueError, match="surveyed"):
        open_part(unsurveyed[1])
    assert survey(unsurveyed) == partitions(source, 100)
    assert not needs_survey(partitions(Source(location=str(write(tmp_path, QUOTED))), 100, surveyed=False))


_values = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False))
_records = st.recursive(st.dictionaries(st.sampled_from("abcAB."), _values, max_size=4),
                        lambda inner: st.dictionaries(st.sampled_from("abc"), st.one_of(inner, st.lists(inner, max_size=2)),
                                                      max_size=3), max_leaves=8)
_lines = st.one_of(_records.map(lambda r: json.dumps(r, ensure_ascii=False)), st.sampled_from(
    ["", " ", "{", "[]", "null", '{"a": NaN}', '{"a": "\\udc80"}', "\ufeff{}", '{"a": 1}  ']))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, max_size=30), endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1),
       target=st.integers(1, 200), final=st.booleans(), mark=st.booleans())
def test_json_lines_any_split_reads_as_the_whole(tmp_path, lines, endings, target, final, mark):
    text = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    if not final:
        text = text.rstrip("\r\n")
    path = tmp_path / "h.jsonl"
    path.write_bytes((codecs.BOM_UTF8 if mark else b"") + text.encode("utf-8", "surrogatepass"))
    check(path, target, format="jsonl")


def test_combine_refuses_reports_of_different_reads():
    first = ExtractReport(source="a", file="a.csv", format="csv", rows=2, encoding="utf-8")
    other = ExtractReport(source="a", file="a.csv", format="csv", rows=3, encoding="cp1252")
    with pytest.raises(ValueError, match="differ"):
        ExtractReport.combine([first, other])
    assert ExtractReport.combine([first, first]).rows == 4


FILES = sorted(
    p
    for pattern in ("tests/hostile/*.csv", "tests/fixtures/**/*.csv", "samples/**/*.csv",
                    "samples/**/*.tsv")
    for p in ROOT.glob(pattern)
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_projects_files(path):
    check(path, 64)


@pytest.mark.skipif(not CHICAGO.exists(), reason="the shared public data set is not here")
def test_real_public_data_with_newlines_in_fields():
    parts = check(CHICAGO, 20_000, chunk_rows=100)
    assert len(parts) > 20
    assert read_whole(Source(location=str(CHICAGO)))[0]["_row"].astype(int).max() > 3_337


TEXT = st.lists(
    st.sampled_from(list('ab ,;"\n\r\t') + ["\r\n", "é", "Ü", "ß", "Ж", "1", "@"]), max_size=12
).map("".join)


@st.composite
def delimited_files(draw):
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(TEXT, min_size=width, max_size=width), max_size=25))
    header = [f"col{i}" for i in range(width)]
    buffer = io.StringIO()
    lineterminator = draw(st.sampled_from(["\n", "\r\n"]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        extra = draw(st.sampled_from(["", "", "", "\n", "stray\n", "x;y,z\t1\n", '"open\n']))
        buffer.write(extra)
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    if encoding == "cp1252":
        text = text.replace("Ж", "Ö")
    return text.encode(encoding), encoding


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delimited_files(), st.integers(1, 200), st.booleans(), st.sampled_from([1, 2, 3, 7, 1 << 22]))
def test_random_files_read_alike_in_parts(tmp_path, written, target_bytes, forced, scan_bytes):
    data, encoding = written
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    if not data.strip():
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitions_module, "SCAN_BYTES", scan_bytes)  # blocks end anywhere
        check(path, target_bytes, **({"encoding": encoding} if forced else {}))


def test_random_files_are_split(tmp_path):
    """The hypothesis test above is not vacuous: its clean files come in many parts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["col0", "col1"])
    for i in range(50):
        writer.writerow([f'a "{i}",\r\nb', "ß;"])
    path = write(tmp_path, buffer.getvalue(), "cp1252")
    parts = check(path, 40, encoding="cp1252")
    assert len(parts) > 10
    assert codecs.lookup(parts[0].decided.encoding).name == "cp1252"


# --- tables, by ranges of their primary key ----------------------------------------------------

WORDS = ["Zeta", "alpha", "Émile", "ñandú", "10", "9", "b c", "B-d", "_x", "Ærø", "北京", "a\tb",
         "O'Brien", "back\\slash", "%s"]


def keyed_rows(keys: list) -> list[tuple]:
    """A row per key: text with accents, a missing value now and then, numbers and a date."""
    return [
        (key, f"{WORDS[i % len(WORDS)]} Müller {i}", None if i % 7 == 3 else i * 1.5,
         f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
        for i, key in enumerate(keys)
    ]


TEXT_KEYS = [f"{WORDS[(i * 7) % len(WORDS)]}{i}" for i in range(150)]
INT_KEYS = [(-1) ** i * i * 7919 for i in range(150)]  # gaps, negatives, not inserted in order


def check_table(db: Scratch, key_type: str, keys: list, target_bytes: int = 200, **options) -> list[Part]:
    """A table keyed by `keys` read whole and in parts of about `target_bytes`: they agree, it
    is split, and every part but the last has as many rows (every Nth key)."""
    table = db.table(f"k {key_type} PRIMARY KEY, name VARCHAR(60), amount FLOAT, day VARCHAR(10)",
                     keyed_rows(keys))
    parts = check(db.url, target_bytes, table=table, **options)
    assert len(parts) > 5
    sizes = [len(open_part(part).read()) for part in parts]
    assert len(set(sizes[:-1])) == 1 and 0 < sizes[-1] <= sizes[0]
    rows = read_parts(parts)[0]["_row"].tolist()
    assert sorted(row.rstrip(" ") for row in rows) == sorted(str(key) for key in keys)  # char(n) pads
    return parts


def test_sqlite_integer_key(sqlite_db):
    parts = check_table(sqlite_db, "INTEGER", INT_KEYS)
    assert parts[0].keys.after is None and parts[-1].keys.through is None
    assert all(isinstance(p.keys.through, int) for p in parts[:-1])


@pytest.mark.parametrize("collation", ["", "COLLATE NOCASE", "COLLATE RTRIM"])
def test_sqlite_text_key(sqlite_db, collation):
    check_table(sqlite_db, f"TEXT {collation}", TEXT_KEYS)


def test_sqlite_samples_call_centre_calls_in_small_parts():
    url = f"sqlite:///{ROOT / 'samples/call_centre/callcentre.sqlite'}"
    parts = check(url, 1_000, table="calls", chunk_rows=7)
    assert len(parts) > 20
    assert read_parts(parts)[0]["_row"].tolist() == [str(i) for i in range(1, 301)]
    assert "rows are labelled by the primary key 'call_id' and read in its order." in read_parts(parts)[2]["notes"]


def test_a_table_of_one_part_is_read_whole(sqlite_db):
    table = sqlite_db.table("k INTEGER PRIMARY KEY, name TEXT", [(i, "x") for i in range(10)])
    assert partitions(Source(location=sqlite_db.url, table=table), 1 << 20) == [
        Part(Source(location=sqlite_db.url, table=table))
    ]


@pytest.mark.parametrize(
    "columns",
    [
        "k INTEGER, name TEXT",  # no primary key
        "k INTEGER, name TEXT, PRIMARY KEY (k, name)",  # a key of two columns
        "k PRIMARY KEY, name TEXT",  # no declared type: SQLite compares anything
        "k REAL PRIMARY KEY, name TEXT",
        "k DATE PRIMARY KEY, name TEXT",
    ],
)
def test_sqlite_tables_that_are_not_split(sqlite_db, columns):
    table = sqlite_db.table(columns, [(i * 3, f"Name {i}") for i in range(100)])
    assert len(check(sqlite_db.url, 10, table=table)) == 1


def test_sqlite_null_key_is_one_part(sqlite_db):
    # SQLite lets a primary key other than INTEGER PRIMARY KEY hold NULL; no range has it.
    table = sqlite_db.table("k TEXT PRIMARY KEY, name TEXT", [(None, "x"), *[(f"k{i}", "y") for i in range(50)]])
    for target_bytes in (1, 10, 30, 100):
        assert len(check(sqlite_db.url, target_bytes, table=table)) == 1
    assert read_whole(Source(location=sqlite_db.url, table=table))[0]["_row"].iloc[0] == ""


def test_query_and_view_are_one_part(sqlite_db):
    table = sqlite_db.table("k INTEGER PRIMARY KEY, name TEXT", [(i, f"N{i}") for i in range(100)])
    assert len(check(sqlite_db.url, 10, query=f"SELECT * FROM {table} ORDER BY k")) == 1
    sqlite_db.execute(f"CREATE VIEW v_{table} AS SELECT * FROM {table}")
    assert len(check(sqlite_db.url, 10, table=f"v_{table}")) == 1
    sqlite_db.execute(f"DROP VIEW v_{table}")


def test_missing_table_and_database_are_the_whole_reads_errors(sqlite_db, tmp_path):
    sqlite_db.table("k INTEGER PRIMARY KEY", [(1,)])
    with pytest.raises(UnknownTable):
        partitions(Source(location=sqlite_db.url, table="no_such"), 10)
    assert check(sqlite_db.url, 10, table="no_such") == []
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    with pytest.raises(SourceUnreachable):
        partitions(Source(location=missing, table="t"), 10)
    assert check(missing, 10, table="t") == []


def test_a_part_whose_key_changed_is_refused(sqlite_db):
    table = sqlite_db.table("k INTEGER PRIMARY KEY, name TEXT", [(i, "x") for i in range(10)])
    part = Part(Source(location=sqlite_db.url, table=table), keys=KeyRange("name", None, "x"))
    with pytest.raises(BadQuery, match="primary key is k, not 'name'"):
        open_part(part).read()


def test_a_database_that_cannot_number_rows_is_one_part(sqlite_db, monkeypatch):
    table = sqlite_db.table("k INTEGER PRIMARY KEY, name TEXT", [(i, "x") for i in range(100)])

    def refused(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT", {}, Exception("no such function: row_number"))

    source = Source(location=sqlite_db.url, table=table)
    assert len(partitions(source, 10)) > 5
    monkeypatch.setattr(SqlExtraction, "_split", refused)
    assert partitions(source, 10) == [Part(source)]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("key_type", "keys"),
    [
        ("BIGINT", [k * 10**12 for k in INT_KEYS]),  # past int4: a bind cast to INTEGER fails
        ("SMALLINT", INT_KEYS[:100] and [k // 100 for k in INT_KEYS]),
        ("INTEGER", INT_KEYS),
        ("TEXT", TEXT_KEYS),
        ('TEXT COLLATE "en-x-icu"', TEXT_KEYS),
        ('VARCHAR(40) COLLATE "sv-x-icu"', TEXT_KEYS),
        ('TEXT COLLATE "C"', TEXT_KEYS),
    ],
)
def test_postgres_keys(pg, key_type, keys):
    check_table(pg, key_type, keys)


@pytest.mark.postgres
def test_postgres_char_key_split_at_every_row(pg):
    # char(n) compares without its padding: 'a' sorts before 'a\t'. Its values come back
    # padded ('a       '), and compared as text, 'a       ' > 'a\t      ': the row 'a\t'
    # would fall between two parts.
    keys = ["a", "a\t", "a\tb", "a b", "ab", "b", "b\t", "b\t\t", "b!"]
    check_table(pg, "CHAR(8)", keys, target_bytes=1)


@pytest.mark.postgres
def test_postgres_case_insensitive_collation(pg):
    schema = pg.schema()
    pg.execute(f"CREATE COLLATION {schema}.ci (provider = icu, locale = 'und-u-ks-level2', "
               "deterministic = false)")
    check_table(pg, f"TEXT COLLATE {schema}.ci", TEXT_KEYS)


@pytest.fixture
def pg_database(request, tmp_path) -> Iterator[str]:
    """A new PostgreSQL database of its own (extensions installed in it go with it)."""
    yield from empty_database(request, "postgres", tmp_path)


@pytest.mark.postgres
def test_postgres_citext_key(pg_database):
    # citext orders without case. A bind SQLAlchemy types from the Python value (::VARCHAR)
    # would make the comparison text's, with case; an untyped one is taken as citext.
    db = Scratch(pg_database)
    db.execute("CREATE EXTENSION citext")
    parts = check_table(db, "CITEXT", [f"{w}{i}" for i, w in enumerate(["b", "A", "a_", "B", "Zz", "aa"] * 5)],
                        target_bytes=1)
    assert len(parts) == 30
    db.engine.dispose()


@pytest.mark.postgres
def test_postgres_key_of_a_type_sqlalchemy_does_not_know_is_one_part(pg):
    schema = pg.schema()
    pg.execute(f"CREATE EXTENSION IF NOT EXISTS citext SCHEMA {schema}")
    table = pg.table(f"k {schema}.citext PRIMARY KEY, name TEXT", [(k, "x") for k in TEXT_KEYS])
    assert len(check(pg.url, 10, table=table)) == 1


@pytest.mark.postgres
def test_postgres_password_is_not_in_a_part_or_message(pg, postgres_url):
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")  # trust: not checked
    table = pg.table("k INTEGER PRIMARY KEY, name TEXT", [(i, f"N{i}") for i in range(100)])
    parts = check(url, 50, table=table)
    assert len(parts) > 5
    assert PASSWORD not in repr(parts) and "postgres:***@" in repr(parts[1])
    assert PASSWORD not in str(parts)
    with pytest.raises(UnknownTable) as error:
        partitions(Source(location=url, table="no_such"), 50)
    assert PASSWORD not in str(error.value)


@pytest.mark.postgres
def test_postgres_table_in_a_schema(pg):
    schema = pg.schema()
    table = pg.table("k INTEGER PRIMARY KEY, name TEXT", [(i, f"N{i}") for i in range(100)], schema=schema)
    assert len(check(pg.url, 50, table=table)) > 5


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("key_type", "keys"),
    [
        ("BIGINT UNSIGNED", [2**64 - 1 - i * 7919 for i in range(150)]),
        ("INT", INT_KEYS),
        ("VARCHAR(40)", TEXT_KEYS),  # utf8mb4_general_ci: case and accents do not count
        ("VARCHAR(40) COLLATE utf8mb4_bin", TEXT_KEYS),
        ("VARCHAR(40) COLLATE utf8mb4_unicode_520_ci", TEXT_KEYS),
        # Swedish puts Æ and Ö after Z; the literals bound are utf8mb4, the column's collation
        # still decides.
        ("VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_swedish_ci",
         [f"{w}{i}" for i, w in enumerate(["Zorro", "Ærø", "Öland", "Aal", "b", "a b", "A_b"] * 20)]),
        ("CHAR(8)", ["a", "a\tb", "a b", "ab", *[f"c{i}" for i in range(100)]]),
    ],
)
def test_mariadb_keys(maria, key_type, keys):
    check_table(maria, key_type, keys)


@pytest.mark.mariadb
def test_mariadb_enum_key_is_one_part(maria):
    # An ENUM orders by its number and compares by its text: no ranges.
    values = [f"v{i}" for i in range(60)][::-1]
    enum = ", ".join(f"'{v}'" for v in values)
    table = maria.table(f"k ENUM({enum}) PRIMARY KEY, name TEXT", [(v, "x") for v in values])
    assert len(check(maria.url, 10, table=table)) == 1


# --- Parquet, by row groups --------------------------------------------------------------------


def staged(tmp_path: Path, chunk_rows: int, name: str = "staged.parquet") -> Path:
    """QUOTED extracted to Parquet a row group per chunk of `chunk_rows`."""
    output = tmp_path / name
    extract(Source(location=str(write(tmp_path, QUOTED)), chunk_rows=chunk_rows), output)
    return output


def test_parquet_of_many_row_groups(tmp_path):
    path = staged(tmp_path, 7)
    assert pq.ParquetFile(path).metadata.num_row_groups == 12
    parts = check(path, 1)
    assert [p.row_groups for p in parts] == [range(i, i + 1) for i in range(12)]
    assert read_parts(parts)[0]["_row"].tolist()[:4] == ["2", "4", "5", "7"]
    grouped = check(path, 2_000)
    assert 1 < len(grouped) < 12
    assert check(path, 2_000, name="renamed")[0].row_groups == grouped[0].row_groups


def test_parquet_with_empty_row_groups(tmp_path):
    frame = pq.read_table(staged(tmp_path, 7))
    path = tmp_path / "gaps.parquet"
    with pq.ParquetWriter(path, frame.schema) as writer:
        for start, length in ((0, 0), (0, 10), (10, 0), (10, 10), (20, 10), (30, 0), (30, 0)):
            writer.write_table(frame.slice(start, length))
    parts = check(path, 1)
    # A row group of no rows joins the part before it; the first part has rows.
    assert [p.row_groups for p in parts] == [range(0, 3), range(3, 4), range(4, 7)]


def test_parquet_of_one_row_group_and_of_none(tmp_path):
    assert len(check(staged(tmp_path, 1000), 1)) == 1
    empty = tmp_path / "empty.parquet"
    extract(Source(location=str(write(tmp_path, "id,name\n", name="empty.csv"))), empty)
    assert check(empty, 1) == [Part(Source(location=str(empty), chunk_rows=3))]
    assert read_whole(Source(location=str(empty)))[2]["rows"] == 0


def test_parquet_not_written_by_crmmigrate_is_the_same_error(tmp_path):
    path = tmp_path / "user.parquet"
    pq.write_table(pa.table({"id": ["1", "2"]}), path, row_group_size=1)
    assert check(path, 1) == []
    assert read_whole(Source(location=str(path)))[0] is MalformedInput
    zero = tmp_path / "zero.parquet"
    zero.write_bytes(b"")
    assert check(zero, 1) == []
    assert read_whole(Source(location=str(zero)))[0] is EmptyInput
