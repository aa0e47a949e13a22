"""The hand-written mappings of the sample sources (mappings/samples/) against samples/truth.json.

Each mapping is run on its real sample file, read with the source options the mapping itself
gives, so a wrong encoding, sheet or table in a mapping fails here too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import Mapping, load_mapping
from crmmigrate.mapping.engine import MapResult, map_frame
from crmmigrate.model import MODEL, PROVENANCE, FieldType

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
MAPPINGS = ROOT / "mappings" / "samples"
TRUTH = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))

# mapping file stem -> its sample file (the key of truth.json `files`)
SOURCES = {
    "accounts": "legacy_crm/accounts.csv",
    "contacts_crm": "legacy_crm/contacts.csv",
    "contacts_reps": "sales_reps/contacts.xlsx",
    "leads": "call_centre/leads.tsv",
    "opportunities": "legacy_crm/opportunities.json",
    "opportunity_contact_roles": "legacy_crm/opportunity_contact_roles.csv",
    "cases": "call_centre/cases.csv",
    "activities": "call_centre/activities.jsonl",
    "calls": "call_centre/callcentre.sqlite",
}
NAMES = list(SOURCES)
EXTRA = ("_custom", "_issues")

# Invalid values a mapping's transforms must report (the rest of truth's `invalid` kinds are
# for validation: missing values, orphans, formats of emails and phones, date order).
PARSE_KINDS = {"bad_date", "invalid_amount", "invalid_boolean"}


def location(name: str) -> str:
    path = SAMPLES / SOURCES[name]
    return f"sqlite:///{path}" if path.suffix == ".sqlite" else str(path)


@cache
def mapping(name: str) -> Mapping:
    return load_mapping(MAPPINGS / f"{name}.yaml")


@cache
def source(name: str) -> pd.DataFrame:
    options = mapping(name).source.model_dump(exclude_none=True)
    return open_source(Source(location=location(name), **options)).read()


@cache
def mapped(name: str) -> MapResult:
    return map_frame(mapping(name), source(name))


def by_id(name: str) -> pd.DataFrame:
    return mapped(name).frame.set_index("id", drop=False)


def raw_by_row(name: str) -> pd.DataFrame:
    return source(name).set_index("_row")


def out_by_row(name: str) -> pd.DataFrame:
    return mapped(name).frame.set_index("_row")


def truth(name: str) -> dict:
    return TRUTH["files"][SOURCES[name]]


def test_every_sample_source_has_a_mapping() -> None:
    assert sorted(p.stem for p in MAPPINGS.glob("*.yaml")) == sorted(NAMES)
    assert sorted(SOURCES.values()) == sorted(TRUTH["files"])


@pytest.mark.parametrize("name", NAMES)
def test_mapping_is_for_the_entity_truth_names(name: str) -> None:
    assert mapping(name).entity == truth(name)["entity"]


@pytest.mark.parametrize("name", NAMES)
def test_source_options_read_every_record(name: str) -> None:
    t = truth(name)
    frame = source(name)
    assert len(frame) == t["data_rows"]
    assert [c for c in frame.columns if c not in PROVENANCE] == t["columns"]


@pytest.mark.parametrize("name", NAMES)
def test_no_row_is_lost(name: str) -> None:
    result = mapped(name)
    report = result.report
    assert report.rows_in == len(source(name)) == truth(name)["data_rows"]
    assert report.rows_out + sum(report.filtered.values()) == report.rows_in
    assert len(result.frame) == report.rows_out
    assert len(result.filtered) == sum(report.filtered.values())
    # The sample mappings filter nothing: every legacy record is carried on.
    assert report.filtered == {} and report.rows_out == report.rows_in
    assert sorted(result.frame["_row"]) == sorted(source(name)["_row"])


@pytest.mark.parametrize("name", NAMES)
def test_output_is_the_canonical_entity(name: str) -> None:
    entity = MODEL.entity(truth(name)["entity"])
    assert list(mapped(name).frame.columns) == [*entity.field_names, *EXTRA, *PROVENANCE]


@pytest.mark.parametrize("name", NAMES)
def test_every_legacy_column_is_mentioned(name: str) -> None:
    m = mapping(name)
    assert mapped(name).report.unmentioned == []
    assert m.mentioned_columns == set(truth(name)["columns"])
    # a column is mapped, kept or dropped: never two of these at once
    used = [c for spec in m.fields.values() for c in spec.columns]
    assert len(used + m.custom + m.drop) == len(set(used) | set(m.custom) | set(m.drop))


@pytest.mark.parametrize("name", NAMES)
def test_columns_end_in_the_field_truth_says(name: str) -> None:
    m = mapping(name)
    for column, field in truth(name)["mapping"].items():
        if field is None:
            assert column in m.custom or column in m.drop, column
        else:
            assert m.fields[field].columns == [column], (column, field)
    for field, value in truth(name).get("defaults", {}).items():
        assert m.fields[field].value == value
        assert set(mapped(name).frame[field]) == {value}


@pytest.mark.parametrize("name", NAMES)
def test_plain_columns_pass_through_unchanged(name: str) -> None:
    """A field mapped without transforms holds the legacy value as it was: no cleaning here."""
    m = mapping(name)
    raw, out = raw_by_row(name), out_by_row(name)
    plain = {f: spec.columns[0] for f, spec in m.fields.items() if spec.from_ and not spec.transforms}
    assert plain, "every sample has untransformed columns"
    for field, column in plain.items():
        pd.testing.assert_series_equal(
            out[field].reindex(raw.index), raw[column], check_names=False, check_dtype=False
        )


@pytest.mark.parametrize("name", NAMES)
def test_kept_columns_are_in_custom(name: str) -> None:
    m = mapping(name)
    raw, out = raw_by_row(name), out_by_row(name)
    for row in raw.index:
        text = out.at[row, "_custom"]
        kept = json.loads(text) if isinstance(text, str) else {}
        expected = {c: raw.at[row, c] for c in m.custom if isinstance(raw.at[row, c], str)}
        assert kept == expected, row


def picklist_cases() -> list[tuple[str, str]]:
    return [
        (name, column)
        for name in NAMES
        for column in truth(name).get("value_maps", {})
        if truth(name)["mapping"][column] is not None
    ]


@pytest.mark.parametrize(("name", "column"), picklist_cases())
def test_picklists_follow_truths_value_maps(name: str, column: str) -> None:
    """Picklists are translated as truth says; countries are the clean stage's job and pass
    through as typed."""
    field_name = truth(name)["mapping"][column]
    field = MODEL.entity(truth(name)["entity"]).field(field_name)
    raw, out = raw_by_row(name), out_by_row(name)
    values = truth(name)["value_maps"][column]
    seen = set()
    for row in raw.index:
        before, after = raw.at[row, column], out.at[row, field_name]
        if not isinstance(before, str) or before not in values:
            continue
        seen.add(before)
        if field.type is FieldType.COUNTRY:
            assert after == before
        elif field.type is FieldType.BOOLEAN:
            assert after == ("true" if values[before] else "false"), before
        elif field.type is FieldType.ENTITY_NAME:
            assert after == values[before].lower(), before
        else:
            assert after == values[before], before
    assert seen == {v for v in raw[column].dropna() if v in values}
    assert seen, column


def date_cases() -> list[tuple[str, str]]:
    return [
        (name, column)
        for name in NAMES
        for column, fmt in truth(name).get("date_formats", {}).items()
        if truth(name)["mapping"][column] is not None and not str(fmt).startswith("ambiguous")
    ]


@pytest.mark.parametrize(("name", "column"), date_cases())
def test_dates_parse_with_the_formats_the_file_uses(name: str, column: str) -> None:
    field_name = truth(name)["mapping"][column]
    ftype = MODEL.entity(truth(name)["entity"]).field(field_name).type
    formats = truth(name)["date_formats"][column]
    formats = [f for f in ([formats] if isinstance(formats, str) else formats) if f != "excel_date"]
    if "%Y-%m-%d" not in formats and "excel_date" in truth(name)["date_formats"][column]:
        formats.append("%Y-%m-%d")  # extract writes real Excel dates as ISO dates
    bad = {e["value"] for e in TRUTH["invalid"]
           if e["file"] == SOURCES[name] and e["column"] == column and e["kind"] == "bad_date"}
    raw, out = raw_by_row(name), out_by_row(name)
    parsed = 0
    for row in raw.index:
        before, after = raw.at[row, column], out.at[row, field_name]
        if not isinstance(before, str):
            assert pd.isna(after)
            continue
        if before in bad:
            assert after == before  # kept as typed for validation to count
            issues = json.loads(out.at[row, "_issues"])
            assert [i["field"] for i in issues] == [field_name]
            continue
        moment = next(
            (m for m in (_strptime(before, f) for f in formats) if m is not None), None
        )
        assert moment is not None, before
        expected = (
            moment.date().isoformat() if ftype is FieldType.DATE
            else moment.isoformat(timespec="seconds")
        )
        assert after == expected, before
        parsed += 1
    assert parsed == raw[column].notna().sum() - len(bad)


def _strptime(value: str, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, fmt)
    except ValueError:
        return None


@pytest.mark.parametrize("name", NAMES)
def test_invalid_values_are_exactly_truths(name: str) -> None:
    """Values a transform cannot parse are the planted ones, per field, and no others."""
    planted = Counter(
        e["field"] for e in TRUTH["invalid"]
        if e["file"] == SOURCES[name] and e["kind"] in PARSE_KINDS
    )
    report = mapped(name).report
    assert {f: sum(reasons.values()) for f, reasons in report.invalid.items()} == dict(planted)
    issues = mapped(name).frame["_issues"].dropna().map(json.loads)
    found = Counter(i["field"] for row in issues for i in row)
    assert found == planted
    ids = {(e["field"], e["legacy_id"]) for e in TRUTH["invalid"]
           if e["file"] == SOURCES[name] and e["kind"] in PARSE_KINDS}
    frame = mapped(name).frame
    flagged = {
        (i["field"], legacy_id)
        for legacy_id, text in zip(frame["id"], frame["_issues"], strict=True)
        if isinstance(text, str)
        for i in json.loads(text)
    }
    assert flagged == ids


@pytest.mark.parametrize("name", NAMES)
def test_no_picklist_value_is_left_unmapped(name: str) -> None:
    # Every picklist value in the samples has an entry; nothing was left on purpose.
    assert mapped(name).report.unmapped == {}


# -- a few exact values per file -----------------------------------------------------------


def test_accounts_exact_values() -> None:
    rows = by_id("accounts")
    assert rows.at["1002", "name"] == "ООО «Интерсвязь»"
    assert rows.at["1002", "industry"] == "Energy"  # Энергетика
    assert rows.at["1002", "created_at"] == "2022-06-18T00:00:00"  # 18.06.2022
    assert rows.at["1002", "billing_country"] == "Россия"  # ISO codes are the clean stage's job
    assert rows.at["1141", "parent_id"] == "1141"  # its own parent: validation's to find


def test_contacts_crm_exact_values() -> None:
    rows = by_id("contacts_crm")
    assert rows.at["C-20002", "account_id"] == "1029"
    assert rows.at["C-20002", "created_at"] == "2022-04-19T12:36:45"
    assert json.loads(rows.at["C-20002", "_custom"]) == {"Last Contacted": "08/02/2022"}
    assert pd.isna(rows.at["C-20098", "last_name"])


def test_contacts_reps_exact_values() -> None:
    rows = by_id("contacts_reps")
    assert (rows.at["1", "first_name"], rows.at["1", "last_name"]) == ("Мария", "Орлова")
    assert rows.at["1", "account_id"] == "1067"
    assert rows.at["1", "title"] == "Инженер"
    assert json.loads(rows.at["1", "_custom"]) == {"Company": "ООО «Восток-Сервис»"}
    assert rows.at["87", "created_at"] == "31.02.2023"
    raw = source("contacts_reps").set_index("No.")
    text_dates = raw[raw["Date Added"].str.fullmatch(r"\d\d \w{3} \d{4}", na=False)]
    assert len(text_dates) > 0
    for legacy_id, value in text_dates["Date Added"].items():
        expected = dt.datetime.strptime(value, "%d %b %Y").isoformat(timespec="seconds")
        assert rows.at[legacy_id, "created_at"] == expected


def test_leads_exact_values() -> None:
    rows = by_id("leads")
    assert rows.at["L-30001", "created_at"] == "2023-07-29T00:00:00"
    assert rows.at["L-30001", "company"] == "Альфа-Строй Инвест"
    assert (rows.at["L-30001", "source"], rows.at["L-30001", "status"]) == ("Referral", "New")
    assert rows.at["L-30098", "created_at"] == "13/45/2023"
    assert rows.at["L-30002", "_custom"] == '{"Notes": "interested in pricing"}'


def test_opportunities_exact_values() -> None:
    rows = by_id("opportunities")
    assert rows.at["OPP-40037", "amount"] == "402000.00"  # "402.000,00"
    assert rows.at["OPP-40011", "amount"] == "65577.36"  # "65.577,36"
    assert rows.at["OPP-40021", "amount"] == "175899.81"  # "175 899,81"
    assert rows.at["OPP-40005", "amount"] == "246000.00"  # "246000,00"
    assert rows.at["OPP-40001", "amount"] == "154223.35"
    assert rows.at["OPP-40032", "amount"] == "TBD"
    assert rows.at["OPP-40001", "close_date"] == "2022-08-29"
    assert rows.at["OPP-40001", "created_at"] == "2022-01-12T15:23:13"
    assert rows.at["OPP-40001", "probability"] == "50"
    assert rows.at["OPP-40001", "stage"] == "Proposal"
    assert rows.at["OPP-40049", "close_date"] == "2024-02-30"
    assert json.loads(rows.at["OPP-40001", "_custom"]) == {
        "Account.Name": "АО «Цифровые Решения»", "Owner.Email": "ivanova@oldcrm.local",
    }


def test_opportunity_contact_roles_exact_values() -> None:
    rows = by_id("opportunity_contact_roles")
    raw = source("opportunity_contact_roles").set_index("RoleID")
    assert rows.at["50002", "role"] == "Decision Maker"
    assert rows.at["50002", "_custom"] == '{"Comment": "signs off > 50k"}'
    for word, expected in (("Ja", "true"), ("Nein", "false"), ("TRUE", "true"), ("0", "false")):
        legacy_id = raw.index[raw["Primary"] == word][0]
        assert rows.at[legacy_id, "is_primary"] == expected
    assert rows.at["50169", "is_primary"] == "?"


def test_cases_exact_values() -> None:
    rows = by_id("cases")
    assert rows.at["60001", "subject"] == "报价单需要更新"
    assert rows.at["60001", "status"] == "In Progress"  # 处理中
    assert rows.at["60001", "priority"] == "High"  # 高
    assert rows.at["60001", "origin"] == "Phone"  # 电话
    assert rows.at["60001", "opened_at"] == "2024-02-02T12:40:00"
    assert rows.at["60002", "closed_at"] == "2024-01-15T14:23:00"
    assert rows.at["60002", "description"] == "交货延迟\n客户编号已核实，\n等待回访。"
    assert pd.isna(rows.at["60120", "status"])
    assert "60999" not in rows.index  # the ragged line, rejected by extract


def test_activities_exact_values() -> None:
    rows = by_id("activities")
    assert rows.at["ACT-70001", "type"] == "visit"
    assert rows.at["ACT-70001", "related_entity"] == "account"
    assert rows.at["ACT-70001", "due_at"] == "2023-06-20T15:00:48"
    assert rows.at["ACT-70001", "completed_at"] == "2023-06-20T17:33:48"
    assert pd.isna(rows.at["ACT-70058", "type"])
    raw = source("activities")
    assert set(rows["type"].dropna()) == set(MODEL.entity("activity").field("type").choices)
    assert (rows["type"] == "email").sum() == raw["Type"].isin(["Email", "E-mail"]).sum()


def test_calls_exact_values() -> None:
    rows = by_id("calls")
    assert rows.at["1", "type"] == "call"
    assert rows.at["1", "status"] == "Completed"
    assert rows.at["1", "due_at"] == "2023-10-01T14:54:33"
    assert rows.at["1", "related_entity"] == "case"
    assert json.loads(rows.at["1", "_custom"]) == {
        "direction": "in", "phone_number": "+4915110846913", "duration_sec": "378",
    }
    raw = source("calls").set_index("call_id")
    missed = raw.index[raw["outcome"].isin(["missed", "no answer"])]
    assert len(missed) == 3
    assert set(rows.loc[missed, "status"]) == {"Missed"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [7, 60])
def test_mapping_parts_apart_and_absorbing_them_is_mapping_the_whole(name: str, size: int) -> None:
    """The cluster engine maps a source's parts on different workers, each with its own Mapper,
    and one Mapper absorbs their tallies in order: its report (counts, invalid values with their
    samples, unmapped picklist values) is the report of mapping the whole, and the parts' records
    are the whole's."""
    from crmmigrate.mapping.engine import Mapper

    frame = source(name)
    whole = Mapper(mapping(name), list(frame.columns))
    expected, expected_removed = whole.map(frame)
    report = whole.finish()
    joined = Mapper(mapping(name), list(frame.columns))
    records, removed = [], []
    for start in range(0, len(frame), size):
        part = Mapper(mapping(name), list(frame.columns))
        got, gone = part.map(frame.iloc[start:start + size])
        records.append(got)
        removed.append(gone)
        joined.absorb(part.tally())
    assert joined.finish().as_dict() == report.as_dict()
    assert json.dumps(joined.finish().as_dict()) == json.dumps(report.as_dict())  # the same order too
    pd.testing.assert_frame_equal(pd.concat(records, ignore_index=True), expected)
    pd.testing.assert_frame_equal(pd.concat(removed, ignore_index=True), expected_removed)
