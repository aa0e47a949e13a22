"""A source read in parts (crmmigrate.extract.partitions, issue 20) reads as the whole does:
the parts' frames one after another are the whole read's frame (values and provenance, `_row`
included), their rejects its rejects, their reports added up its report; an error is the same
error. Every case is split with a small target_bytes, so into many parts where it can be."""

from __future__ import annotations

import codecs
import csv
import io
import pickle
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmmigrate.errors import CrmMigrateError, MalformedInput, UndecodableInput
from crmmigrate.extract import ExtractReport, Source, open_source
from crmmigrate.extract.delimited import RUNAWAY_LINES, DelimitedExtraction
from crmmigrate.extract import partitions as partitions_module
from crmmigrate.extract.partitions import Part, open_part, partitions

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


def check(path: Path, target_bytes: int, chunk_rows: int = 3, **options) -> list[Part]:
    """Read `path` whole and in parts of about `target_bytes`; they must agree. The parts."""
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


def test_sources_other_than_delimited_are_one_whole_part(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(f'{{"id": {i}, "name": "N{i}"}}\n' for i in range(100)))
    source = Source(location=str(path))
    assert partitions(source, 10) == [Part(source)]
    assert_same(read_whole(source), read_parts(partitions(source, 10)))


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
