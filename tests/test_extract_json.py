"""The JSON and JSON Lines reader: flattening, the key union, records paths, encodings, errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crmmigrate.errors import BadUsage, EmptyInput, MalformedInput, UndecodableInput
from crmmigrate.extract import Source, open_source
from crmmigrate.model import PROVENANCE

PEOPLE = [
    {"id": 1, "name": "Иван Петров", "address": {"city": "Москва", "geo": {"lat": 55.75}}},
    {"id": 2, "name": "王伟", "address": {"city": "北京"}},
    {"id": 3, "name": "François Côté", "address": {"city": "Montréal"}},
]


def read(path: Path, **options: Any) -> tuple[pd.DataFrame, Any]:
    extraction = open_source(Source(location=str(path), **options))
    return extraction.read(), extraction


def values(frame: pd.DataFrame) -> list[list[str | None]]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_nested_objects_flattened_and_values_as_text(tmp_path: Path) -> None:
    text = """[
      {"id": 12345678901234567890, "name": "Иван", "address": {"city": "Москва",
       "geo": {"lat": 55.7512}}, "tags": ["vip", 1.50, {"k": null}], "amount": 0.1,
       "count": 1e3, "price": 19.90, "active": true, "churned": false, "owner": null,
       "note": ""}
    ]"""
    frame, extraction = read(write(tmp_path / "people.json", text))
    assert extraction.report.columns == [
        "id",
        "name",
        "address.city",
        "address.geo.lat",
        "tags",
        "amount",
        "count",
        "price",
        "active",
        "churned",
        "owner",
        "note",
    ]
    assert values(frame) == [
        [
            "12345678901234567890",
            "Иван",
            "Москва",
            "55.7512",
            '["vip",1.50,{"k":null}]',
            "0.1",
            "1000",
            "19.90",
            "true",
            "false",
            None,
            None,
            "people",
            str(tmp_path / "people.json"),
            "1",
        ]
    ]
    assert extraction.report.format == "json"


def test_columns_are_the_union_of_keys_known_before_the_first_chunk(tmp_path: Path) -> None:
    records = [{"id": 1, "name": "Anna"}, {"id": 2}, {"id": 3, "email": "c@x.de", "name": "Jörg"}]
    path = write(tmp_path / "u.json", json.dumps(records))
    first = next(open_source(Source(location=str(path), chunk_rows=1)).chunks())
    assert list(first.columns) == ["id", "name", "email", *PROVENANCE]
    frame, _ = read(path)
    assert values(frame.drop(columns=list(PROVENANCE))) == [
        ["1", "Anna", None],
        ["2", None, None],
        ["3", "Jörg", "c@x.de"],
    ]


def test_records_path_found_when_one_key_holds_records(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", json.dumps({"count": 3, "meta": {"v": 1}, "data": PEOPLE}))
    frame, extraction = read(path)
    assert frame["name"].tolist() == ["Иван Петров", "王伟", "François Côté"]
    assert frame["_row"].tolist() == ["1", "2", "3"]
    assert extraction.report.records_path == "data"
    assert extraction.report.notes == [
        "read the records from 'data', the only top-level key holding an array of objects; "
        "force another path with --records."
    ]


def test_records_path_forced(tmp_path: Path) -> None:
    document = {"data": {"total": 3, "items": PEOPLE}, "errors": [{"code": 1}]}
    path = write(tmp_path / "r.json", json.dumps(document))
    frame, extraction = read(path, records="data.items")
    assert frame["address.city"].tolist() == ["Москва", "北京", "Montréal"]
    assert extraction.report.records_path == "data.items"
    assert extraction.report.notes == []


def test_records_path_ambiguous(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", json.dumps({"contacts": PEOPLE, "accounts": [{"id": 1}]}))
    with pytest.raises(MalformedInput) as caught:
        open_source(Source(location=str(path)))
    assert str(caught.value) == (
        f"{path}: the file is a JSON object, and several of its top-level keys hold arrays of "
        "objects ('contacts', 'accounts'). Its keys are: 'contacts', 'accounts'. Pass the "
        "dotted path to the array of records, e.g. --records contacts."
    )


def test_records_path_suggested_when_nested(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", json.dumps({"data": {"items": PEOPLE}}))
    with pytest.raises(MalformedInput, match="none of its top-level keys.*--records data.items"):
        open_source(Source(location=str(path)))


def test_records_path_to_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", json.dumps({"data": {"items": PEOPLE}}))
    with pytest.raises(MalformedInput, match="--records 'data.itemz' leads to nothing"):
        read(path, records="data.itemz")
    frame, _ = read(write(tmp_path / "e.json", '{"data": {"items": []}}'), records="data.items")
    assert len(frame) == 0


def test_records_path_on_an_array_is_bad_usage(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", json.dumps(PEOPLE))
    with pytest.raises(BadUsage, match="the file is an array of records"):
        open_source(Source(location=str(path), records="data"))


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-16", "utf-16"), ("utf-8-sig", "utf-8-sig"), ("utf-32", "utf-32"), ("utf-8", "utf-8")],
)
def test_encodings_recognised_by_their_byte_order_mark(
    tmp_path: Path, encoding: str, reported: str
) -> None:
    path = write(tmp_path / "e.json", json.dumps(PEOPLE, ensure_ascii=False), encoding)
    frame, extraction = read(path)
    assert frame["name"].tolist() == ["Иван Петров", "王伟", "François Côté"]
    assert extraction.report.encoding == reported
    assert extraction.report.encoding_forced is False


def test_utf16_without_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "e.json", json.dumps(PEOPLE, ensure_ascii=False), "utf-16-le")
    frame, extraction = read(path)
    assert frame["address.city"].tolist() == ["Москва", "北京", "Montréal"]
    assert extraction.report.encoding == "utf-16-le"


def test_encoding_forced(tmp_path: Path) -> None:
    path = write(tmp_path / "e.json", '[{"city": "Москва"}]', "cp1251")
    with pytest.raises(UndecodableInput) as caught:
        read(path)
    assert caught.value.line == 1
    frame, extraction = read(path, encoding="cp1251")
    assert frame["city"].tolist() == ["Москва"]
    assert (extraction.report.encoding, extraction.report.encoding_forced) == ("cp1251", True)


def test_utf8_forced_on_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "e.json", '[{"city": "Köln"}]', "utf-8-sig")
    frame, _ = read(path, encoding="utf-8")
    assert frame["city"].tolist() == ["Köln"]


def test_malformed_array_names_the_line(tmp_path: Path) -> None:
    text = '[\n  {"id": 1},\n  {"id": 2}\n  {"id": 3}\n]\n'
    with pytest.raises(MalformedInput) as caught:
        read(write(tmp_path / "bad.json", text))
    assert caught.value.line == 4
    assert str(caught.value).startswith(
        f"{tmp_path / 'bad.json'}, line 4: "
        "not valid JSON: after array element, I expect ',' or ']'."
    )


def test_cut_off_array(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="premature EOF") as caught:
        read(write(tmp_path / "cut.json", '[\n{"id": 1},\n{"id": 2'))
    assert caught.value.line == 3


def test_whitespace_only(tmp_path: Path) -> None:
    with pytest.raises(EmptyInput):
        read(write(tmp_path / "w.json", "  \n \n"))


def test_a_record_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    frame, extraction = read(write(tmp_path / "a.json", '[{"id": 1}, [1, 2.50], {"id": 3}]'))
    assert frame["_row"].tolist() == ["1", "3"]
    assert [r.as_dict() for r in extraction.rejects] == [
        {
            "source": "a",
            "file": str(tmp_path / "a.json"),
            "row": "2",
            "reason": "an array, not an object",
            "raw": "[1,2.50]",
        }
    ]
    assert extraction.report.rejected == 1


def test_reserved_key(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="reserves for provenance. Rename that key"):
        read(write(tmp_path / "a.json", '[{"_row": 1}]'))


def test_json_lines_bad_lines_rejected_and_the_rest_read(tmp_path: Path) -> None:
    lines = [
        '{"id": 1, "name": "Anna", "address": {"city": "Köln"}}',
        "",
        '{"id": 2, "name": "Ben" "x": 1}',
        "[1, 2]",
        '{"id": 3, "score": NaN}',
        "   ",
        '{"id": 4, "name": "李娜", "vip": true}',
        '{"id": 5, "name": "Tab\there"}',
    ]
    path = write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")
    frame, extraction = read(path)
    assert values(frame) == [
        ["1", "Anna", "Köln", None, "c", str(path), "1"],
        ["4", "李娜", None, "true", "c", str(path), "7"],
    ]
    assert [(r.row, r.reason, r.raw) for r in extraction.rejects] == [
        ("3", "not valid JSON: Expecting ',' delimiter at column 25", lines[2]),
        ("4", "an array, not an object", lines[3]),
        ("5", "not valid JSON: NaN is not a JSON value", lines[4]),
        ("8", "not valid JSON: Invalid control character at column 23", lines[7]),
    ]
    report = extraction.report
    assert (report.format, report.rejected, report.skipped_blank) == ("jsonl", 4, 2)


def test_json_lines_undecodable_line_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": "\xff2"}\n{"id": 3}\r\n')
    frame, extraction = read(path)
    assert frame["id"].tolist() == ["1", "3"]
    assert [(r.row, r.reason, r.raw) for r in extraction.rejects] == [
        ("2", "holds bytes that are not valid utf-8", '{"id": "\\xff2"}')
    ]


def test_json_lines_utf16(tmp_path: Path) -> None:
    text = "\r\n".join(json.dumps(p, ensure_ascii=False) for p in PEOPLE)
    frame, extraction = read(write(tmp_path / "p.jsonl", text, "utf-16"))
    assert frame["name"].tolist() == ["Иван Петров", "王伟", "François Côté"]
    assert frame["_row"].tolist() == ["1", "2", "3"]
    assert extraction.report.encoding == "utf-16"


def test_records_option_with_json_lines(tmp_path: Path) -> None:
    with pytest.raises(BadUsage, match="--records"):
        open_source(Source(location=str(write(tmp_path / "p.jsonl", "{}\n")), records="data"))


@pytest.mark.parametrize("suffix", ["json", "jsonl"])
def test_chunks_join_to_the_whole(tmp_path: Path, suffix: str) -> None:
    records = [{"id": i, "name": f"Name {i}"} for i in range(1, 8)]
    records[5]["extra"] = {"since": 2020}
    if suffix == "json":
        text = json.dumps(records, indent=2)
    else:
        text = "\n".join(json.dumps(r) for r in records)
    path = write(tmp_path / f"c.{suffix}", text)
    whole, _ = read(path)
    chunks = list(open_source(Source(location=str(path), chunk_rows=2)).chunks())
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert all(list(c.columns) == list(whole.columns) for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert [row[2] for row in values(whole)] == [None] * 5 + ["2020", None]


def test_a_null_where_other_records_hold_an_object_is_not_a_column(tmp_path):
    path = tmp_path / "opps.json"
    path.write_text(
        '[{"Id": "1", "Account": {"Id": "A1"}}, {"Id": "2", "Account": null},'
        ' {"Id": "3", "Fax": null}]',
        encoding="utf-8",
    )

    frame = open_source(Source(location=str(path))).read()

    assert [c for c in frame.columns if not c.startswith("_")] == ["Id", "Account.Id", "Fax"]
    assert frame["Account.Id"].tolist()[0] == "A1"
    assert frame["Account.Id"].isna().tolist() == [False, True, True]


def test_a_json_line_cut_short_is_rejected_at_its_own_last_column(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.jsonl", '{"id": 1}\n{"id": 2, "name": "An\n{"id": 3\r\n')
    _, extraction = read(path)
    assert [(r.row, r.reason) for r in extraction.rejects] == [
        ("2", "not valid JSON: Unterminated string starting at column 19"),
        ("3", "not valid JSON: Expecting ',' delimiter at column 9"),
    ]


# -- the shortcuts for records of one shape: the same columns and values as walking every record --

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.sampled_from(["", " ", "x", "0"]),
                  st.floats(allow_nan=False, allow_infinity=False), st.just([]), st.just({}), st.just([1, "a"]))
_record = st.dictionaries(st.sampled_from(["a", "b", "c", "a.b", "d"]),
                          st.one_of(_leaf, st.dictionaries(st.sampled_from(["b", "e"]), _leaf, max_size=2)),
                          max_size=4)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(_record, max_size=12), repeat=st.integers(1, 3))
# A key null, then an object, then a value, in records of one shape: a column after all.
@example(records=[{"a": None}, {"a": {"b": 1}}, {"a": "x"}], repeat=1)
def test_records_of_a_known_shape_read_as_every_record_walked(records, repeat) -> None:
    """The survey skips a record of a shape it has settled, and a record of text and nulls (or
    of no object or array) is taken key by key: the columns and values of walking them all."""
    from crmmigrate.extract import json_records

    records = records * repeat  # shapes seen again, with other values between
    found: dict[str, None] = {}
    objects: set[str] = set()
    valued: set[str] = set()
    for record in records:
        json_records._collect_keys(record, "", found, objects, valued)
    keys = [k for k in found if k not in objects or k in valued]
    walked = []
    for record in records:
        flat: dict[str, str | None] = {}
        json_records._flatten(record, "", flat)
        walked.append([flat.get(key) for key in keys])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records) or "\n", encoding="utf-8")
        extraction = open_source(Source(location=str(path)))
        assert list(extraction.survey().keys) == keys
    assert [json_records._row(record, keys) for record in records] == walked


_LONG_INTEGER_READ = """
import sys
from crmmigrate.extract import Source, open_source
from crmmigrate.extract import json_records
json_records._FEED_CHARS = int(sys.argv[2])
try:
    extraction = open_source(Source(location=sys.argv[1]))
    frame = extraction.read()
    print("read", len(frame), len(extraction.rejects))
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("feed", [64 << 10, 1000, 7])
def test_an_integer_python_will_not_hold_is_refused_not_a_crash(tmp_path: Path, feed: int) -> None:
    """ijson's C parser crashes the process (exit -11) on an integer of more than
    sys.get_int_max_str_digits() digits (4,300): the guard refuses it first, with its line, also
    across the pieces the file is fed in. Fractions and exponents that long are Decimals, and a
    JSON Lines line holding one is a reject, as json.loads says. Each read in a process of its
    own, so that a crash fails this test rather than ending the test run."""
    import subprocess
    import sys

    limit = sys.get_int_max_str_digits()
    records = '{"a": 1},\n' * 5
    cases = {
        "held.json": (f'[{records}{{"a": -{"9" * limit}}}, {{"b": 1.{"9" * 6000}, "c": 1e-{"9" * 10}}}]', "read 7 0"),
        "long.json": (f'[{records}\n{{"a": -{"9" * (limit + 1)}}}]', "InputBeyondLimits"),
        "lines.jsonl": (f'{{"a": 1}}\n{{"a": {"9" * (limit + 1)}, "s": "\\ud800"}}\n', "read 1 1"),
    }
    for name, (text, said) in cases.items():
        path = write(tmp_path / name, text)
        found = subprocess.run([sys.executable, "-c", _LONG_INTEGER_READ, str(path), str(feed)],
                               capture_output=True, text=True, timeout=120)
        assert found.returncode == 0, (name, found.returncode, found.stderr[-500:])
        assert found.stdout.startswith(said), (name, found.stdout)
        if said == "InputBeyondLimits":
            assert "line 7:" in found.stdout and "4,300" in found.stdout or f"{limit:,}" in found.stdout
