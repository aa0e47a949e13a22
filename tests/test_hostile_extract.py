"""Hostile and careless sources through `crmmigrate extract` (issue 16): every case ends as a
success that accounts for every record (rows + rejects = records, each reject with its line and
reason) or as a clear exit 2 naming the file and line; never a crash, a hang or a silent loss.

Small cases are files in tests/hostile/; big ones are written into tmp_path by the test.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
import threading
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmmigrate.cli import app

HOSTILE = Path(__file__).parent / "hostile"
runner = CliRunner()


def extract(source: Path, out_dir: Path, *options: str):
    """Run `crmmigrate extract` in-process; the result, the rows and the rejects it wrote."""
    out = out_dir / "out.parquet"
    rejects = out_dir / "out.rejects.csv"
    result = runner.invoke(app, ["extract", str(source), "-o", str(out), *options])
    if result.exit_code != 0:
        return result, None, None
    rows = pd.read_parquet(out)
    rejected = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    return result, rows, rejected


def refused(result, *words: str) -> str:
    """The one-paragraph error of an exit 2, checked for a clean shape and the given words."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("crmmigrate: error: ")
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for word in words:
        assert word in message
    return message


def reject_list(rejected: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(rejected["_row"], rejected["reason"], strict=True))


# -- 1. an unclosed quote -------------------------------------------------------------------


def test_an_unclosed_quote_costs_its_line_and_keeps_the_rest(tmp_path):
    result, rows, rejected = extract(HOSTILE / "unclosed_quote.csv", tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["id"].tolist() == ["1", "2", "4", "5", "6"]
    assert rows["_row"].tolist() == ["2", "3", "5", "6", "7"]
    assert rows["name"].tolist() == ["Ann", "Bob", "Dan", "Eve", "Fay"]
    [(line, reason)] = reject_list(rejected)
    assert line == "4"
    assert reason.startswith("unbalanced quote: a quoted field that opens on this line")
    assert rejected["raw"].tolist() == ['3,"Cid,cid@example.com']


def test_an_unclosed_quote_in_100000_records_loses_none(tmp_path):
    source = tmp_path / "big.csv"
    lines = ["id,name,email", *(f"{i},Name {i},n{i}@example.com" for i in range(1, 100_001))]
    lines[3] = '3,"Name 3,n3@example.com'  # line 4; no other quote in the file
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result, rows, rejected = extract(source, tmp_path)

    assert result.exit_code == 0, result.output
    assert len(rows) == 99_999
    assert len(rows) + len(rejected) == 100_000
    assert reject_list(rejected) == [
        ("4", "unbalanced quote: a quoted field that opens on this line does not close within "
         "10,000 lines; reading went on from line 5")
    ]
    assert rows["id"].iloc[2:4].tolist() == ["4", "5"]
    assert rows["_row"].iloc[-1] == "100001"


def test_an_unclosed_quote_in_the_header_refuses_the_file_naming_the_line(tmp_path):
    source = tmp_path / "x.csv"
    source.write_text('id,"name\n1,Ann\n2,Bob\n', encoding="utf-8")

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}, line 1:", "never closed", "header")


def test_a_real_multi_line_value_is_still_one_record(tmp_path):
    source = tmp_path / "x.csv"
    source.write_text('id,note\n1,"call back\nafter 5"\n2,ok\n', encoding="utf-8")

    result, rows, rejected = extract(source, tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["note"].tolist() == ["call back\nafter 5", "ok"]
    assert rows["_row"].tolist() == ["2", "4"]
    assert rejected.empty


# -- 2. repeated and blank header names -----------------------------------------------------


def test_a_header_that_repeats_a_name_is_kept_with_the_names_made_unique(tmp_path):
    result, rows, rejected = extract(HOSTILE / "repeated_header.csv", tmp_path)

    assert result.exit_code == 0, result.output
    assert list(rows.columns[:4]) == ["id", "name", "name_2", "email"]
    assert rows["id"].tolist() == ["A1", "A2"]
    assert rows["_row"].tolist() == ["2", "3"]
    assert rejected.empty


def test_a_header_with_blank_names_is_kept_with_the_blanks_named_by_position(tmp_path):
    result, rows, rejected = extract(HOSTILE / "blank_header.csv", tmp_path)

    assert result.exit_code == 0, result.output
    assert list(rows.columns[:5]) == ["id", "column_2", "name", "column_4", "column_5"]
    assert rows["name"].tolist() == ["Acme", "Globex"]
    assert rows["_row"].tolist() == ["2", "3"]
    assert rejected.empty


# -- 3. all-empty records -------------------------------------------------------------------


def test_all_empty_records_are_rejected_with_their_lines_not_skipped(tmp_path):
    result, rows, rejected = extract(HOSTILE / "empty_records.csv", tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["id"].tolist() == ["1", "2"]
    assert reject_list(rejected) == [
        ("3", "empty record: no field holds a value"),
        ("6", "empty record: no field holds a value"),
    ]
    assert rejected["raw"].tolist() == [",,", ", ,"]
    assert "1 blank line(s) skipped" in result.stdout  # line 5, which is no record


# -- 4. a UTF-16 file cut short -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [("utf16_cut_odd.csv", "2,Bob\\x0a"), ("utf16_cut_surrogate.csv", "2,Bob \\x3d\\xd8")],
)
def test_a_utf16_file_cut_short_keeps_its_whole_lines_and_rejects_the_cut_one(
    tmp_path, name, raw
):
    result, rows, rejected = extract(HOSTILE / name, tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["name"].tolist() == ["Ann"]
    assert reject_list(rejected) == [
        ("3", "cut short: the file ends in the middle of a character in utf-16, so this last "
         "line is incomplete")
    ]
    assert rejected["raw"].tolist() == [raw]  # the damaged bytes shown, not dropped


def test_a_utf16_file_cut_short_in_its_only_line_is_refused_naming_the_line(tmp_path):
    source = tmp_path / "x.csv"
    source.write_bytes("id,name \U0001f600".encode("utf-16")[:-2])

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}, line 1:", "middle of a character", "cut short")


# -- 5. a 10 MiB line of commas -------------------------------------------------------------


def test_a_header_of_millions_of_fields_is_refused_in_a_short_message(tmp_path):
    source = tmp_path / "wide.csv"
    source.write_text("," * (10 << 20) + "\n1\n", encoding="ascii")

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}, line 1:", "10,485,761 fields", "at most 16,384 columns")
    assert len(result.stderr) < 1000


def test_a_header_name_of_10_mib_is_refused_in_a_short_message(tmp_path):
    source = tmp_path / "x.csv"
    source.write_text("id," + "n" * (10 << 20) + "\n1,2\n", encoding="ascii")

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}, line 1:", "column 2 of the header is 10,485,760 characters long")
    assert len(result.stderr) < 1000


def test_a_long_header_name_is_shortened_in_notes(tmp_path):
    source = tmp_path / "x.csv"
    name = "n" * 1_000
    source.write_text(f"{name},{name}\n1,2\n", encoding="ascii")

    result, rows, _ = extract(source, tmp_path)

    assert result.exit_code == 0, result.output
    assert len(rows) == 1
    assert "(800 more characters)" in result.stderr


# -- 6. JSON: nesting, lone surrogates ------------------------------------------------------


def test_json_nested_100000_deep_is_refused_naming_the_file(tmp_path):
    source = tmp_path / "deep.json"
    source.write_text("[" * 100_000 + "]" * 100_000, encoding="ascii")

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}, line 1:", "more than 100 levels deep")


def test_a_json_lines_record_nested_too_deep_is_rejected_and_the_rest_kept(tmp_path):
    result, rows, rejected = extract(HOSTILE / "deep_line.jsonl", tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["id"].tolist() == ["1", "3"]
    assert reject_list(rejected) == [("2", "nested more than 100 levels deep")]
    # The lone low surrogate of record 3 is kept as written, and said so.
    assert rows["name"].tolist()[1] == "\\udc00"
    assert "lone surrogate escape" in result.stderr


def test_a_lone_surrogate_in_json_is_kept_as_written_never_changed_to_a_question_mark(tmp_path):
    result, rows, rejected = extract(HOSTILE / "lone_surrogate.json", tmp_path)

    assert result.exit_code == 0, result.output
    assert rows["name"].tolist() == ["Ann\\ud800", "Bob \U0001f600"]
    assert rejected.empty
    assert "1 string(s) hold a lone surrogate escape" in " ".join(result.stderr.split())


# -- 7. only regular files ------------------------------------------------------------------


def test_a_fifo_is_refused_instead_of_waited_on(tmp_path):
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)

    def writer() -> None:
        # If extract ever waits on the FIFO, this lets it go on (and the test fail) instead
        # of hanging the suite.
        try:
            with open(fifo, "w") as f:
                f.write("id\n1\n")
        except OSError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        result, _, _ = extract(fifo, tmp_path)
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # release the writer
        thread.join(5)

    refused(result, f"{fifo}:", "a FIFO (named pipe), not a regular file")


@pytest.mark.parametrize(
    ("make", "kind"),
    [(lambda p: p.mkdir(), "a directory"), (None, "a character device")],
)
def test_a_directory_or_device_is_refused(tmp_path, make, kind):
    if make is None:
        source = Path("/dev/null")
        assert stat.S_ISCHR(source.stat().st_mode)
    else:
        source = tmp_path / "export.csv"
        make(source)

    result, _, _ = extract(source, tmp_path)

    refused(result, f"{source}:", f"{kind}, not a regular file")


# -- every record accounted for, whatever the bytes ------------------------------------------

_TEXT = st.text(alphabet="ab Z9é😀,\"\n", max_size=8)
# A value a damaged line cannot pair up with: one that starts with a letter, if it has any.
_VALUE = st.one_of(st.just(""), st.builds(lambda a, b: a + b, st.sampled_from("aZé9"), _TEXT))


@st.composite
def csv_files(draw) -> tuple[bytes, int]:
    """A header of k names and a mix of records (good, ragged, all-empty, with an unclosed
    quote) and blank lines; returns the bytes and how many records they hold."""
    k = draw(st.integers(1, 4))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"c{i}" for i in range(k)])
    records = 0
    kinds = ["good", "ragged", "blank", "unclosed"] + (["empty"] if k > 1 else [])
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=12)):
        if kind == "blank":
            out.write("\n")
            continue
        records += 1
        if kind == "empty":
            out.write("," * (k - 1) + "\n")
        elif kind == "unclosed":
            # '"' then a letter: two such lines cannot pair into a valid quoted line break.
            out.write("x," * (k - 1) + '"a' + draw(st.text(alphabet="ab ,", max_size=6)) + "\n")
        else:
            width = k if kind == "good" else draw(st.sampled_from([k + 1, max(k - 1, 2)]))
            values = draw(st.lists(_VALUE, min_size=width, max_size=width))
            if not any(v.strip() for v in values):
                values[0] = "v"
            writer.writerow(values)
    return out.getvalue().encode("utf-8"), records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_every_record_of_a_damaged_csv_is_a_row_or_a_reject(case):
    data, records = case
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "x.csv"
        source.write_bytes(data)

        result, rows, rejected = extract(source, Path(tmp), "--delimiter", ",", "--header-row", "1")

        if result.exit_code == 2:
            refused(result, str(source))
            return
        assert result.exit_code == 0, result.output
        assert len(rows) + len(rejected) == records, (data, reject_list(rejected))
        assert all(line.isdigit() and reason for line, reason in reject_list(rejected))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(alphabet='a,;"\n\r\t \x00é', max_size=200).map(str.encode))
def test_random_bytes_are_read_or_refused_never_a_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "x.csv"
        source.write_bytes(data)

        result, rows, rejected = extract(source, Path(tmp))

        if result.exit_code != 0:
            refused(result, str(source))
            return
        assert "rows       " in result.stdout
        shown = int(result.stdout.split("rows", 1)[1].split()[0].replace(",", ""))
        assert shown == len(rows)
        assert all(line.isdigit() and reason for line, reason in reject_list(rejected))
