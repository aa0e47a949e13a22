"""The mapping engine: transforms, strictness, filters, custom fields and row accounting."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmmigrate.config import BadConfig
from crmmigrate.mapping.config import (
    BooleanParse,
    DateParse,
    NumberParse,
    Step,
    load_mapping,
)
from crmmigrate.mapping.engine import Mapper, map_frame
from crmmigrate.mapping.transforms import (
    Invalid,
    boolean,
    compile_step,
    date,
    datetime,
    number,
)
from crmmigrate.model import PROVENANCE
from one_by_one import assert_bulk_is_one_by_one


def frame(rows: list[dict[str, str | None]], columns: list[str] | None = None) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=columns, dtype="str")
    data["_source"] = "legacy"
    data["_file"] = "legacy.csv"
    data["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return data


def mapping_file(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_step(step: dict | str, value: str):
    return compile_step(Step.model_validate(step), {})(value)


# -- transforms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "value", "expected"),
    [
        ("strip", "  Ann  ", "Ann"),
        ("strip", "   ", None),
        ("collapse", "  Anna \t Maria\n Schmidt ", "Anna Maria Schmidt"),
        ("upper", "straße", "STRASSE"),
        ("lower", "ÉLODIE@Example.COM", "élodie@example.com"),
        ("title", "иван петров", "Иван Петров"),
        ({"regex_extract": {"pattern": r"(\d{5})"}}, "D-10115 Berlin", "10115"),
        ({"regex_extract": r"#(\w+)"}, "ticket #A17 open", "A17"),
        ({"regex_replace": {"pattern": r"[^\d+]", "with": ""}}, "+49 (30) 1234-5", "+493012345"),
        ({"split": {"sep": "/", "index": -1}}, "EMEA/DE/Berlin", "Berlin"),
        ({"split_name": "first"}, "Smith, John", "John"),
        ({"split_name": "last"}, "Smith, John", "Smith"),
        ({"split_name": "first"}, "Ludwig van Beethoven", "Ludwig"),
        ({"split_name": "last"}, "Ludwig van Beethoven", "van Beethoven"),
        ({"split_name": "last"}, "Anna Maria Schmidt", "Schmidt"),
        ({"split_name": "first"}, "Anna Maria Schmidt", "Anna Maria"),
        ({"split_name": "first"}, "王伟", None),
        ({"split_name": "last"}, "王伟", "王伟"),
        ({"split_name": "last"}, "Иванов, Иван", "Иванов"),
        ({"map": {"values": {"Open": "Prospecting"}}}, " open ", "Prospecting"),
        ({"map": {"values": {"Open": "Prospecting"}, "case_sensitive": True}}, "open", "open"),
        ({"map": {"values": {"Open": "Prospecting"}, "default": "Other"}}, "Won", "Other"),
        ("integer", "1 234", "1234"),
        ("integer", "12.0", "12"),
    ],
)
def test_transform(step, value, expected):
    assert run_step(step, value) == expected


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({"formats": ["%d.%m.%Y"]}, "25.03.2021", "2021-03-25"),
        ({"formats": ["%d.%m.%Y"]}, "25.03.2021 14:30", "2021-03-25"),
        ({"formats": ["%m/%d/%Y", "%Y-%m-%d"]}, "2021-03-25", "2021-03-25"),
        ({}, "2021-03-25", "2021-03-25"),
        ({}, "2021-03-25T10:15:00", "2021-03-25"),
        ({}, "25/03/2021", "2021-03-25"),
        ({}, "03/25/2021", "2021-03-25"),
        ({}, "12 Mar 2021", "2021-03-12"),
        ({"dayfirst": True}, "04/03/2021", "2021-03-04"),
        ({"dayfirst": False}, "04/03/2021", "2021-04-03"),
        ({}, "04/04/2021", "2021-04-04"),
    ],
)
def test_date(options, value, expected):
    assert date(DateParse(**options))(value) == expected


@pytest.mark.parametrize(
    ("options", "value", "reason"),
    [
        ({}, "04/03/2021", "ambiguous"),
        ({"formats": ["%d.%m.%Y"]}, "2021-03-25", "not a date in the format"),
        ({}, "31.02.2021", r"^is not a date: day 31 does not exist in February 2021 \(read as DD\.MM\.YYYY\); "
                           r"month 31 does not exist \(read as MM\.DD\.YYYY\)$"),
        ({}, "soon", "not a recognisable date"),
        ({"dayfirst": True}, "12/25/2021", r"^is not a date: month 25 does not exist \(read as DD/MM/YYYY\)$"),
        ({"formats": ["%d.%m.%Y"]}, "31.02.2021",
         r"^is not a date: day 31 does not exist in February 2021 \(read as DD\.MM\.YYYY\)$"),
        ({"formats": ["%d.%m.%Y"]}, "32/13/2020", r"^is not a date in the format\(s\) %d\.%m\.%Y$"),
        ({"formats": ["%d.%m.%y", "%m/%d/%Y"]}, "29.02.21",
         r"^is not a date: day 29 does not exist in February 2021 \(read as DD\.MM\.YY\)$"),
        ({"formats": ["%d %B %Y"]}, "31 April 2021", r"day 31 does not exist in April 2021 \(read as DD Month YYYY\)"),
        ({"formats": ["%d.%m.%Y"]}, "00.01.2021", r"day 0 does not exist in January 2021"),
    ],
)
def test_date_that_cannot_be_parsed_is_invalid_with_a_reason(options, value, reason):
    with pytest.raises(Invalid, match=reason):
        date(DateParse(**options))(value)


def test_a_datetime_format_with_its_own_time_says_which_part_does_not_exist():
    """A format with a time is tried as it is: appending another time to it is no format."""
    with pytest.raises(Invalid, match=r"^is not a date: hour 25 does not exist \(read as DD\.MM\.YYYY hh:mm\)$"):
        datetime(DateParse(formats=["%d.%m.%Y %H:%M"]))("25.03.2021 25:00")
    with pytest.raises(Invalid, match=r"^is not a date in the format\(s\) %d\.%m\.%Y %H:%M$"):
        datetime(DateParse(formats=["%d.%m.%Y %H:%M"]))("soon")


def test_datetime_keeps_the_time():
    assert datetime(DateParse(formats=["%d.%m.%Y %H:%M"]))("25.03.2021 14:30") == "2021-03-25T14:30:00"
    assert datetime(DateParse())("2022-02-11 08:32") == "2022-02-11T08:32:00"


@pytest.mark.parametrize(
    ("decimal", "value", "expected"),
    [
        ("auto", "1234.50", "1234.50"),
        ("auto", "1.234,50", "1234.50"),
        ("auto", "1,234.50", "1234.50"),
        ("auto", "1 234,50", "1234.50"),
        ("auto", "1\u00a0234,5", "1234.5"),
        ("auto", "1'234.50", "1234.50"),
        ("auto", "1.234.567", "1234567"),
        ("auto", "0,5", "0.5"),
        ("auto", "-12,5", "-12.5"),
        ("auto", "(12.50)", "-12.50"),
        ("auto", "€ 1.234,50", "1234.50"),
        ("auto", "1234 RUB", "1234"),
        (",", "1.234", "1234"),
        (".", "1.234", "1.234"),
        (",", "1.234,5", "1234.5"),
    ],
)
def test_number(decimal, value, expected):
    assert number(NumberParse(decimal=decimal))(value) == expected


@pytest.mark.parametrize(("value", "reason"), [("1.234", "ambiguous"), ("12abc", "not a number"), ("--", "not a number")])
def test_number_that_cannot_be_parsed_is_invalid(value, reason):
    with pytest.raises(Invalid, match=reason):
        number(NumberParse())(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Yes", "true"), ("ja", "true"), ("Да", "true"), ("是", "true"), ("1", "true"), ("X", "true"),
     ("No", "false"), ("Nein", "false"), ("нет", "false"), ("否", "false"), ("0", "false"), ("FALSE", "false")],
)
def test_boolean_in_several_languages(value, expected):
    assert boolean(BooleanParse())(value) == expected


def test_boolean_words_can_be_replaced_and_unknown_words_are_invalid():
    parse = boolean(BooleanParse(true=["primary"], false=["secondary"]))
    assert parse("Primary") == "true"
    with pytest.raises(Invalid, match="not a yes/no value"):
        parse("yes")


# -- strictness -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("entity: contact\nfields:\n  id: Id\n  last_name:\n    from: Name\n    tranforms: [strip]\n",
         "unknown key 'tranforms' (did you mean 'transforms'?)", 6),
        ("entity: contact\nfeilds:\n  id: Id\n", "unknown key 'feilds' (did you mean 'fields'?)", 2),
        ("entity: contact\nfields:\n  id: Id\n  lastname: Name\n",
         "contact has no field 'lastname' (did you mean 'last_name'?)", 4),
        ("entity: contakt\nfields:\n  id: Id\n", "unknown entity 'contakt' (did you mean 'contact'?)", 1),
        ("entity: contact\nfields:\n  id: Id\n  email: {from: Mail, transforms: [lowr]}\n",
         "unknown transform 'lowr' (did you mean 'lower'?)", 4),
        ("entity: contact\nfields:\n  last_name: Name\n", "does not map contact.id", 2),
        ("entity: contact\nfields:\n  id: Id\nwhere:\n  - {name: new, field: created, op: '>=', value: x}\n",
         "filter 'new' tests field 'created', which this mapping does not map", 5),
        ("entity: contact\nfields:\n  id: Id\n  owner: {from: A, value: B}\n",
         "give either 'from' (source columns) or 'value' (a constant)", 4),
        ("entity: contact\nfields:\n  id: [Id\n", "not valid YAML", 3),
    ],
)
def test_mistakes_in_a_mapping_are_located_with_a_suggestion(tmp_path, text, message, line):
    path = mapping_file(tmp_path, text)

    with pytest.raises(BadConfig) as caught:
        load_mapping(path)

    assert message in str(caught.value)
    assert caught.value.line == line
    assert caught.value.file == str(path)


def test_a_source_column_that_does_not_exist_is_located_with_a_suggestion(tmp_path):
    path = mapping_file(tmp_path, "entity: contact\nfields:\n  id: Id\n  last_name: Lastname\n")
    mapping = load_mapping(path)

    with pytest.raises(BadConfig) as caught:
        map_frame(mapping, frame([{"Id": "1", "Last Name": "Smith"}]))

    assert "the source has no column 'Lastname' (did you mean 'Last Name'?)" in str(caught.value)
    assert caught.value.line == 4


# -- the engine ---------------------------------------------------------------------------


def test_fields_are_mapped_in_model_order_with_provenance(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: contact
        fields:
          last_name: {from: Name, transforms: [{split_name: last}]}
          first_name: {from: Name, transforms: [{split_name: first}]}
          id: Id
          mailing_street: {from: [Street 1, Street 2], join: ", "}
          owner: {value: migration}
          title: {from: Title, default: "(none)"}
    """))
    data = frame([
        {"Id": "7", "Name": "Müller, Jürgen", "Street 1": "Hauptstr. 1", "Street 2": "Hof 2", "Title": None},
        {"Id": "8", "Name": "Ann Lee", "Street 1": "Main St 5", "Street 2": "  ", "Title": "CEO"},
    ])

    result = map_frame(mapping, data)

    out = result.frame
    assert list(out.columns) == [*mapping.model_entity.field_names, "_custom", "_issues", *PROVENANCE]
    assert out[["id", "first_name", "last_name"]].values.tolist() == [
        ["7", "Jürgen", "Müller"], ["8", "Ann", "Lee"]]
    assert out["mailing_street"].tolist() == ["Hauptstr. 1, Hof 2", "Main St 5"]
    assert out["owner"].tolist() == ["migration", "migration"]
    assert out["title"].tolist() == ["(none)", "CEO"]
    assert out["email"].isna().all()
    assert out["_row"].tolist() == ["2", "3"]
    assert result.report.unmentioned == []


def test_a_value_that_cannot_be_parsed_is_kept_and_listed_never_dropped(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: opportunity
        fields:
          id: Id
          name: Name
          stage: Stage
          close_date: {from: Close, transforms: [strip, {date: {formats: ["%d.%m.%Y"]}}]}
          amount: {from: Amount, transforms: [number]}
    """))
    data = frame([
        {"Id": "1", "Name": "A", "Stage": "Won", "Close": "31.02.2021", "Amount": "1.234,50"},
        {"Id": "2", "Name": "B", "Stage": "Won", "Close": " 01.03.2021 ", "Amount": "lots"},
    ])

    result = map_frame(mapping, data)

    out = result.frame
    assert len(out) == 2
    assert out["close_date"].tolist() == ["31.02.2021", "2021-03-01"]
    assert out["amount"].tolist() == ["1234.50", "lots"]
    assert json.loads(out["_issues"][0]) == [
        {"field": "close_date", "value": "31.02.2021",
         "reason": "date: '31.02.2021' is not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)"}]
    assert json.loads(out["_issues"][1]) == [
        {"field": "amount", "value": "lots", "reason": "number: 'lots' is not a number"}]
    assert result.report.invalid == {
        "close_date": {"date: is not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)": 1},
        "amount": {"number: is not a number": 1},
    }


def test_unmapped_picklist_values_are_reported_with_row_counts(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: lead
        fields:
          id: Id
          last_name: Name
          company: Co
          status:
            from: Status
            transforms: [{map: {values: {Neu: Open, Offen: Open, Gewonnen: Converted}, default: Open}}]
    """))
    statuses = ["Neu", "neu", "Kalt", "Kalt", "Warm", "Gewonnen", None]
    data = frame([{"Id": str(i), "Name": "X", "Co": "Y", "Status": s} for i, s in enumerate(statuses)])

    result = map_frame(mapping, data)

    assert result.frame["status"].tolist()[:6] == ["Open", "Open", "Open", "Open", "Open", "Converted"]
    assert pd.isna(result.frame["status"][6])
    assert result.report.unmapped == {"status": {"Kalt": 2, "Warm": 1}}


STAGES = """
    entity: opportunity
    fields:
      id: Id
      name: Name
      stage: {from: Stage, transforms: [{map: {values: {Won: Closed Won}}}]}
      owner: {from: Owner, transforms: [{map: {values: {AB: Anna Berg}}}]}
"""


def test_only_values_the_mapping_leaves_not_allowed_are_reported_unmapped(tmp_path):
    """A value no map entry covers needs one only if validation would refuse what the mapping
    makes of it: `Qualification` is allowed as it is, `closed won` once `title` has run."""
    mapping = load_mapping(mapping_file(tmp_path, STAGES))
    titled = load_mapping(mapping_file(tmp_path, """
        entity: opportunity
        fields:
          id: Id
          name: Name
          stage: {from: Stage, transforms: [title, {map: {values: {Won: Closed Won}}}]}
    """, name="titled.yaml"))
    stages = ["Won", "Qualification", " Qualification ", "closed won", "Won-ish", "prospecting"]
    data = frame([{"Id": str(i), "Name": "X", "Stage": s, "Owner": "CD"} for i, s in enumerate(stages)])

    plain = map_frame(mapping, data).report.unmapped
    title = map_frame(titled, data).report.unmapped

    assert plain == {"stage": {"closed won": 1, "Won-ish": 1, "prospecting": 1},
                     "owner": {"CD": 6}}  # a field without a list of choices: every value listed
    assert title == {"stage": {"Won-Ish": 1}}


def test_the_values_allowed_can_be_given_to_the_mapper(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, STAGES))
    data = frame([{"Id": "1", "Name": "X", "Stage": "Gewonnen", "Owner": "AB"},
                  {"Id": "2", "Name": "Y", "Stage": "Offen", "Owner": "AB"}])
    mapper = Mapper(mapping, list(data.columns), allowed=lambda name: {"Gewonnen"} if name == "stage" else ())

    mapper.map(data)

    assert mapper.finish().unmapped == {"stage": {"Offen": 1}}


def test_filters_remove_rows_into_the_ledger_with_their_names(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: opportunity
        fields:
          id: Id
          name: Name
          stage: Stage
          close_date: {from: Close, transforms: [date]}
          amount: {from: Amount, transforms: [number]}
        where:
          - {name: closed in the last two years, field: close_date, op: ">=", value: "2023-01-01"}
          - {name: not a test deal, field: name, op: "matches", value: "^(?!TEST)"}
          - {name: real amount, field: amount, op: ">", value: 0}
    """))
    data = frame([
        {"Id": "1", "Name": "Big", "Stage": "Won", "Close": "2024-05-01", "Amount": "100"},
        {"Id": "2", "Name": "Old", "Stage": "Won", "Close": "2019-05-01", "Amount": "100"},
        {"Id": "3", "Name": "TEST deal", "Stage": "Won", "Close": "2024-05-01", "Amount": "100"},
        {"Id": "4", "Name": "Zero", "Stage": "Won", "Close": "2024-05-01", "Amount": "0"},
        {"Id": "5", "Name": "Unknown date", "Stage": "Won", "Close": "someday", "Amount": "5"},
        {"Id": "6", "Name": "No amount", "Stage": "Won", "Close": "2024-01-01", "Amount": None},
        {"Id": "7", "Name": "Old test", "Stage": "Won", "Close": "2018-01-01", "Amount": "1"},
    ])

    result = map_frame(mapping, data)

    # A record a filter cannot judge (no date, no amount) is kept for validation to see.
    assert result.frame["id"].tolist() == ["1", "5", "6"]
    assert result.filtered[["id", "status", "reason"]].values.tolist() == [
        ["2", "filtered", "closed in the last two years"],
        ["3", "filtered", "not a test deal"],
        ["4", "filtered", "real amount"],
        ["7", "filtered", "closed in the last two years"],
    ]
    assert result.filtered["_row"].tolist() == ["3", "4", "5", "8"]
    assert result.report.filtered == {
        "closed in the last two years": 2, "not a test deal": 1, "real amount": 1}
    assert result.report.rows_in == 7
    assert result.report.rows_out == 3


def test_unmentioned_columns_are_kept_as_custom_and_reported_dropped_ones_are_not(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: account
        fields: {id: Id, name: Name}
        custom: [Region]
        drop: [Internal]
    """))
    data = frame([
        {"Id": "1", "Name": "Acme", "Region": "Москва", "Internal": "x", "Fax": "123"},
        {"Id": "2", "Name": "Globex", "Region": None, "Internal": "y", "Fax": None},
    ])

    result = map_frame(mapping, data)

    assert result.report.unmentioned == ["Fax"]
    assert json.loads(result.frame["_custom"][0]) == {"Region": "Москва", "Fax": "123"}
    assert pd.isna(result.frame["_custom"][1])
    assert "Internal" not in result.frame["_custom"][0]


def test_lookup_finds_a_value_in_another_source(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "AccountID,Company\nA1,Acme GmbH\nA2,Globex\nA3,Globex\n", encoding="utf-8")
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: contact
        fields:
          id: Id
          last_name: Name
          account_id:
            from: Company
            transforms: [{lookup: {source: accounts.csv, match: Company, value: AccountID}}]
    """))
    data = frame([
        {"Id": "1", "Name": "A", "Company": "acme  gmbh"},
        {"Id": "2", "Name": "B", "Company": "Initech"},
        {"Id": "3", "Name": "C", "Company": "Globex"},
    ])

    result = map_frame(mapping, data)

    assert result.frame["account_id"].tolist() == ["A1", "Initech", "Globex"]
    reasons = [json.loads(t)[0]["reason"] for t in result.frame["_issues"][1:]]
    assert reasons == [
        "lookup: 'Initech' has no match in 'Company' of the lookup source",
        "lookup: 'Globex' matches 2 different 'AccountID' in the lookup source",
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({
            "Id": st.text(min_size=1, max_size=6),
            "Name": st.one_of(st.none(), st.text(max_size=12)),
            "Created": st.one_of(st.none(), st.text(max_size=12),
                                 st.dates().map(lambda d: d.strftime("%d.%m.%Y"))),
            "Amount": st.one_of(st.none(), st.text(max_size=8),
                                st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)),
        }),
        max_size=25,
    )
)
def test_mapping_never_loses_or_duplicates_a_row(rows):
    mapping = load_mapping(Path(__file__).parent / "fixtures" / "property_mapping.yaml")

    result = map_frame(mapping, frame(rows, ["Id", "Name", "Created", "Amount"]))

    kept = result.frame["_row"].tolist()
    removed = result.filtered["_row"].tolist()
    assert sorted(kept + removed, key=int) == [str(i) for i in range(2, len(rows) + 2)]
    assert result.report.rows_in == len(rows) == result.report.rows_out + sum(result.report.filtered.values())


@pytest.mark.parametrize(
    ("decimal", "value"),
    [(".", "246000,00"), (".", "1.234,50"), (".", "1,2,3"), ("auto", "1.234.5"), (",", "1,234.50"),
     ("auto", "12,34,567")],
)
def test_a_thousands_separator_outside_groups_of_three_is_invalid_not_misread(decimal, value):
    with pytest.raises(Invalid):
        number(NumberParse(decimal=decimal))(value)


def test_invalid_and_unmapped_values_are_counted_on_kept_records_only(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, """
        entity: lead
        fields:
          id: Id
          last_name: Name
          company: Co
          status: {from: Status, transforms: [{map: {values: {Neu: Open}}}]}
          created_at: {from: Created, transforms: [date]}
        where:
          - {name: open only, field: status, op: "==", value: Open}
    """))
    data = frame([
        {"Id": "1", "Name": "A", "Co": "X", "Status": "Neu", "Created": "someday"},
        {"Id": "2", "Name": "B", "Co": "X", "Status": "Kalt", "Created": "never"},
    ])

    result = map_frame(mapping, data)

    assert result.report.unmapped == {}
    assert result.report.invalid == {"created_at": {"date: is not a recognisable date": 1}}


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.none() | st.text(max_size=8), st.none() | st.sampled_from(["web", "Web", 'a"b', "ü\n"])),
                     max_size=20))
def test_custom_fields_are_each_rows_text_values_as_json_writes_them(rows: list[tuple]) -> None:
    from crmmigrate.mapping.engine import _custom

    frame = pd.DataFrame(rows, columns=["Lead Source", 'Notes "old"'], dtype="str") if rows else \
        pd.DataFrame({"Lead Source": pd.Series([], dtype="str"), 'Notes "old"': pd.Series([], dtype="str")})
    kept = ["Lead Source", 'Notes "old"']
    expected = []
    for record in frame[kept].to_dict("records"):
        present = {k: v for k, v in record.items() if isinstance(v, str)}
        expected.append(json.dumps(present, ensure_ascii=False) if present else None)
    assert _custom(frame, kept).tolist() == expected


@settings(max_examples=400, deadline=None)
@given(values=st.lists(st.from_regex(r"[+-]?[0-9]{1,7}([.,][0-9]{1,4})?", fullmatch=True)
                       | st.from_regex(r"-?[0-9]{1,3}(,[0-9]{3}){1,3}(\.[0-9]{1,3})?", fullmatch=True)
                       | st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{3}){1,2}(,[0-9]{1,2})?", fullmatch=True)
                       | st.text(alphabet="0123456789.,+- $€٣", max_size=10), max_size=25),
       mark=st.sampled_from([".", ",", "auto"]))
def test_numbers_read_in_bulk_are_the_numbers_read_one_by_one(values: list[str], mark: str) -> None:
    import numpy as np

    from crmmigrate.mapping.config import NumberParse
    from crmmigrate.mapping.transforms import number

    read = number(NumberParse(decimal=mark))
    assert_bulk_is_one_by_one(read, values, f"with mark {mark!r}")
    assert read.bulk(np.array(["12,500.00", "-3", "0.125"], dtype=object)) == (
        {"12,500.00": "12500.00", "-3": "-3", "0.125": "0.125"} if mark != "," else {"-3": "-3"})
