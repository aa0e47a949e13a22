"""mapping suggest on headers as real exports write them, and picklist values the rules do
not allow, drafted as a `map:` skeleton that passes validation once filled in (issue 17.2)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import map_frame
from crmmigrate.mapping.suggest import suggest_frame, suggest_mapping
from crmmigrate.validate import load_rules, load_thresholds, validate
from crmmigrate.validate.rules import ValidationRules


def frame(columns: dict[str, list[str]]) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    data = dict(columns)
    data.update({"_source": ["t"] * rows, "_file": ["t.csv"] * rows, "_row": [str(i) for i in range(rows)]})
    return pd.DataFrame(data, dtype="str")


def mapped(entity: str, headers: list[str]) -> dict[str, str]:
    """field -> column for headers whose values look like ids or short text."""
    values = {h: [f"{h[:3]}-{i}" for i in range(3)] for h in headers}
    return suggest_frame(frame(values), entity).fields


# --- header sets as exports write them ----------------------------------------------------
@pytest.mark.parametrize(
    ("entity", "headers", "expected"),
    [
        # Salesforce API names
        ("account", ["Id", "Name", "ParentId", "Industry"],
         {"id": "Id", "name": "Name", "parent_id": "ParentId"}),
        ("opportunity", ["Id", "AccountId", "Name", "StageName"],
         {"id": "Id", "account_id": "AccountId", "name": "Name", "stage": "StageName"}),
        # HubSpot
        ("account", ["Record ID", "Company name", "Parent Company ID"],
         {"id": "Record ID", "name": "Company name", "parent_id": "Parent Company ID"}),
        ("opportunity", ["Record ID", "Deal Title", "Deal Stage", "Associated Company ID"],
         {"id": "Record ID", "name": "Deal Title", "stage": "Deal Stage", "account_id": "Associated Company ID"}),
        # A legacy export
        ("account", ["AcctNo", "Company", "Parent AcctID"],
         {"id": "AcctNo", "name": "Company", "parent_id": "Parent AcctID"}),
        # A public register of sites (the Chicago early-childhood set): the account is a site
        ("account", ["Id", "Site name", "Address", "Zip", "Phone"],
         {"id": "Id", "name": "Site name", "billing_street": "Address"}),
        ("account", ["Business Name", "Legal Name", "Street"], {"name": "Business Name"}),
        ("opportunity", ["DealNo", "AcctID", "Title", "Stage"],
         {"id": "DealNo", "account_id": "AcctID", "name": "Title", "stage": "Stage"}),
        ("case", ["TicketNo", "Title", "Prio", "Status"],
         {"id": "TicketNo", "subject": "Title", "priority": "Prio", "status": "Status"}),
        ("activity", ["ActivityNo", "Title", "Type"],
         {"id": "ActivityNo", "subject": "Title", "type": "Type"}),
    ],
)
def test_export_headers_are_mapped(entity, headers, expected):
    fields = mapped(entity, headers)
    assert {f: fields.get(f) for f in expected} == expected


@pytest.mark.parametrize(
    "header",
    ["Parent AcctID", "ParentAccountId", "Parent Account Number", "parent_acct_no",
     "Parent Org ID", "Parent Customer Id", "PARENT_ID"],
)
def test_a_parent_pointer_is_named_by_parent_and_the_entity_abbreviated(header):
    assert mapped("account", ["AcctID", "Name", header])["parent_id"] == header


@pytest.mark.parametrize(("entity", "header"), [("opportunity", "Title"), ("opportunity", "Subject"),
                                                ("case", "Title"), ("case", "Name"), ("account", "Title")])
def test_a_record_name_synonym_fills_the_required_name(entity, header):
    name = "subject" if entity == "case" else "name"
    assert mapped(entity, ["ID", header])[name] == header


@pytest.mark.parametrize("entity", ["contact", "lead"])
def test_a_title_stays_a_job_title_where_the_entity_has_one(entity):
    assert mapped(entity, ["ID", "Last Name", "Title"])["title"] == "Title"


# --- picklist values the rules do not allow ---------------------------------------------
PRIORITY = ["High", "high ", "Urgent", "Urgent", "urgent", "P3", "", "Low"]


def case_frame() -> pd.DataFrame:
    rows = len(PRIORITY)
    return frame({
        "CaseNo": [f"C{i}" for i in range(rows)],
        "Subject": ["printer jam"] * rows,
        "Status": ["New"] * rows,
        "Priority": PRIORITY,
    })


def test_picklist_skeleton_lists_exactly_the_values_not_allowed_with_counts():
    guess = suggest_frame(case_frame(), "case").guess("priority")
    assert guess.unplaced == {"Urgent": 3, "P3": 1}
    assert guess.transforms == [
        "strip",
        {"map": {"values": {"high": "High", "Urgent": "Urgent", "P3": "P3"}}},
    ]
    assert guess.allowed == ("Low", "Medium", "High", "Critical")


def test_picklist_allowed_values_come_from_the_rules_validate_reads():
    rules = ValidationRules(entities={"case": {"fields": {"priority": {"choices": ["Urgent", "P3", "High", "Low"]}}}})
    guess = suggest_frame(case_frame(), "case", rules=rules).guess("priority")
    assert guess.unplaced == {}
    # validate compares as written: a lower-case spelling of an allowed value is mapped to it
    assert guess.transforms == ["strip", {"map": {"values": {"high": "High", "urgent": "Urgent"}}}]


def test_picklist_skeleton_is_a_mapping_that_passes_validation_once_filled_in(tmp_path):
    source = tmp_path / "cases.csv"
    case_frame().drop(columns=["_source", "_file", "_row"]).to_csv(source, index=False)
    draft = suggest_mapping(Source(location=str(source)), "case")
    text = draft.to_yaml()
    assert "            Urgent: Urgent  # FILL IN: 3 row(s), not an allowed value\n" in text
    assert "            P3: P3  # FILL IN: 1 row(s), not an allowed value\n" in text
    assert "            # allowed: Low, Medium, High, Critical\n" in text
    assert yaml.safe_load(text) == draft.mapping_data()

    extracted = open_source(Source(location=str(source))).read()

    def priority_errors(mapping_text: str) -> int:
        target = tmp_path / "case.yaml"
        target.write_text(mapping_text, encoding="utf-8")
        result = map_frame(load_mapping(target), extracted)
        checked = validate({"case": result.frame}, rules=load_rules(), thresholds=load_thresholds())
        (entity,) = checked.entities
        return next(c for c in entity.checks if c.field == "priority").errors

    assert priority_errors(text) == 4  # as drafted, the values to fill in still fail
    filled = text.replace("Urgent: Urgent", "Urgent: Critical").replace("P3: P3", "P3: Low")
    assert priority_errors(filled) == 0


def test_draft_header_says_how_the_source_was_read_once(tmp_path):
    source = tmp_path / "cases.csv"
    case_frame().drop(columns=["_source", "_file", "_row"]).to_csv(source, index=False)
    line = suggest_mapping(Source(location=str(source)), "case").to_yaml().splitlines()[3]
    assert re.fullmatch(rf"# Read {re.escape(str(source))} as csv; .*\.", line), line
