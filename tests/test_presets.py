"""The preset mappings of standard CRM exports (mappings/presets/<system>/<entity>.yaml).

Each preset runs on a small fixture with its system's real header
(tests/fixtures/presets/<system>/<entity>.csv), read with the preset's own source options.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import MapResult, map_frame
from crmmigrate.model import MODEL, PROVENANCE

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "mappings" / "presets"
FIXTURES = ROOT / "tests" / "fixtures" / "presets"

SF_USER = "0055g00000AbCdEAAV"

# Per preset: the entity, exact canonical values of a few records (by legacy id), the
# picklist values deliberately left out of its maps, and its filters' counts.
EXPECTED: dict[str, dict] = {
    "salesforce/account": {
        "entity": "account",
        "rows": {
            "0015g00000QmF1aAAF": {
                "name": "Acme Logistics GmbH", "industry": "Transportation",
                "billing_street": "Hafenstraße 12\nHalle 3", "owner": SF_USER,
                "created_at": "2019-03-14T08:21:07", "website": "www.acme-logistics.de",
            },
            "0015g00000QmF1bAAF": {"parent_id": "0015g00000QmF1aAAF", "phone": "040 555 0101"},
            "0015g00000QmF1dAAF": {"name": "ООО «Ромашка»", "billing_country": "Russia"},
        },
        # an org's own industry: reported, kept as exported
        "unmapped": {"industry": {"Aerospace": 1}},
        "custom": {"0015g00000QmF1cAAF": {"AccountNumber": "CD355118", "Fax": "(415) 555-0135"}},
    },
    "salesforce/contact": {
        "entity": "contact",
        "rows": {
            "0035g00000Kp9aAAAR": {
                "account_id": "0015g00000QmF1aAAF", "first_name": "Jürgen",
                "last_name": "Schneider", "email": "j.schneider@acme-logistics.de",
                "mobile": "+49 171 5551234", "created_at": "2019-03-14T08:30:00",
            },
            # no cleaning in mapping: case and the trailing space stay
            "0035g00000Kp9bAAAR": {"email": "MARY.ONEIL@northwindtraders.com "},
            "0035g00000Kp9cAAAR": {"email": "anna@mail", "title": "Главный бухгалтер"},
        },
        "unmapped": {},
        "custom": {"0035g00000Kp9bAAAR": {"Salutation": "Ms.", "HasOptedOutOfEmail": "true",
                                          "DoNotCall": "false", "IsDeleted": "false"}},
    },
    "salesforce/lead": {
        "entity": "lead",
        "rows": {
            "00Q5g00000Ab1aAEAR": {"status": "New", "source": "Web", "company": "Baltic Parts Sp. z o.o.",
                                   "created_at": "2024-01-05T10:11:12"},
            "00Q5g00000Ab1bAEAR": {"status": "Contacted", "source": "Referral"},
            "00Q5g00000Ab1cAEAR": {"status": "Unqualified", "source": "Phone Inquiry",
                                   "first_name": "Hélène"},
        },
        "unmapped": {"status": {"Nurturing": 1}},
        "filtered": {"not converted": ["00Q5g00000Ab1dAEAR"]},
    },
    "salesforce/opportunity": {
        "entity": "opportunity",
        "rows": {
            "0065g00000Zz1bAAAC": {"stage": "Proposal", "amount": "125000.00", "currency": "EUR",
                                   "close_date": "2024-06-30", "probability": "75",
                                   "account_id": "0015g00000QmF1aAAF",
                                   "created_at": "2024-01-10T09:00:00"},
            "0065g00000Zz1dAAAC": {"stage": "Negotiation", "name": "Ромашка - Внедрение CRM"},
            "0065g00000Zz1fAAAC": {"stage": "Id. Decision Makers", "amount": "72000.5"},
            "0065g00000Zz1eAAAC": {"stage": "Closed Lost", "amount": None},
        },
        "unmapped": {},
    },
    "salesforce/opportunity_contact_role": {
        "entity": "opportunity_contact_role",
        "rows": {
            "00K5g00000Cc1aAEAR": {"opportunity_id": "0065g00000Zz1bAAAC",
                                   "contact_id": "0035g00000Kp9aAAAR",
                                   "role": "Decision Maker", "is_primary": "true"},
            "00K5g00000Cc1cAEAR": {"role": "Business User", "is_primary": "false"},
            "00K5g00000Cc1eAEAR": {"role": None, "is_primary": "false"},
        },
        "unmapped": {},
    },
    "salesforce/case": {
        "entity": "case",
        "rows": {
            "5005g00000Ee1aAAAR": {"status": "In Progress", "priority": "High", "origin": "Phone",
                                   "opened_at": "2024-02-01T08:00:00", "closed_at": None,
                                   "description": "Portal takes 30 s to load.\nCustomer escalated twice."},
            "5005g00000Ee1bAAAR": {"status": "Closed", "origin": "Email",
                                   "closed_at": "2023-12-20T17:45:30"},
            "5005g00000Ee1dAAAR": {"status": "Escalated", "subject": "Не приходят уведомления"},
        },
        "unmapped": {},
        "custom": {"5005g00000Ee1cAAAR": {"CaseNumber": "00001028", "SuppliedName": "Walter White",
                                          "SuppliedEmail": "walter@example.com",
                                          "SuppliedCompany": "Gray Matter", "Type": "Feature Request",
                                          "IsDeleted": "false", "IsEscalated": "false",
                                          "OwnerId": SF_USER}},
    },
    "hubspot/companies": {
        "entity": "account",
        "rows": {
            "5823144098": {"name": "Acme Logistics GmbH", "industry": "Transportation",
                           "billing_street": "Hafenstraße 12, Halle 3", "owner": "Petra Wolf",
                           "created_at": "2021-03-04T10:12:00",
                           "website": "https://www.acme-logistics.de"},
            "5823144100": {"industry": "Healthcare", "billing_street": None},
            "5823144101": {"industry": "Technology"},
        },
        "unmapped": {"industry": {"Real Estate": 1}},
    },
    "hubspot/contacts": {
        "entity": "contact",
        "rows": {
            "101": {"first_name": "Jürgen", "last_name": "Schneider",
                    "email": "j.schneider@acme-logistics.de", "account_id": "5823144098",
                    "created_at": "2021-03-04T10:20:00"},
            # the first of several associated companies
            "102": {"account_id": "5823144099", "mailing_postal_code": "94105"},
            "104": {"account_id": None, "email": "anna@mail"},
        },
        "unmapped": {},
        "custom": {"102": {"Associated Company IDs": "5823144099;5823144101",
                           "Lifecycle Stage": "Opportunity", "Lead Status": "In progress",
                           "Marketing contact status": "Non-marketing contact"}},
    },
    "hubspot/deals": {
        "entity": "opportunity",
        "rows": {
            "9001": {"stage": "Negotiation", "amount": "125000", "currency": "EUR",
                     "close_date": "2024-06-30", "account_id": "5823144098",
                     "created_at": "2024-01-10T09:00:00"},
            "9002": {"stage": "Closed Won", "amount": "48000.50", "close_date": "2023-12-15"},
            "9004": {"stage": "Qualification"},
            "9005": {"stage": "Onboarding", "account_id": None},
        },
        # a stage of a custom pipeline: reported for the engineer to add
        "unmapped": {"stage": {"Onboarding": 1}},
    },
    "sugarcrm/accounts": {
        "entity": "account",
        "rows": {
            "8f1a6c3e-2b4d-4e6f-9a1b-3c5d7e9f0a11": {"name": "Acme Logistics GmbH",
                                                     "email": "info@acme-logistics.de",
                                                     "industry": "Transportation",
                                                     "owner": "admin",
                                                     "created_at": "2019-03-14T08:21:07"},
            "8f1a6c3e-2b4d-4e6f-9a1b-3c5d7e9f0a12": {"parent_id": "8f1a6c3e-2b4d-4e6f-9a1b-3c5d7e9f0a11"},
            "8f1a6c3e-2b4d-4e6f-9a1b-3c5d7e9f0a14": {"email": "office@romashka,ru",
                                                     "billing_country": "Россия"},
        },
        "unmapped": {"industry": {"Oil & Gas": 1}},
    },
    "sugarcrm/contacts": {
        "entity": "contact",
        "rows": {
            "c0a80101-0000-4000-8000-000000000001": {"first_name": "Jürgen", "last_name": "Schneider",
                                                     "email": "j.schneider@acme-logistics.de",
                                                     "mobile": "+49 171 5551234", "account_id": None,
                                                     "created_at": "2019-03-14T08:30:00"},
            "c0a80101-0000-4000-8000-000000000004": {"first_name": None, "last_name": "Nguyen"},
        },
        "unmapped": {},
        "custom": {"c0a80101-0000-4000-8000-000000000002": {
            "Account Name": "Northwind Traders", "Salutation": "Ms.",
            "Non Primary E-mails": "mary@oneil.family", "Do Not Call": "1", "Deleted": "0"}},
    },
    "sugarcrm/leads": {
        "entity": "lead",
        "rows": {
            "1e2d3c4b-0000-4000-8000-000000000001": {"status": "New", "source": "Web",
                                                     "company": "Baltic Parts Sp. z o.o.",
                                                     "created_at": "2024-01-05T10:11:12"},
            "1e2d3c4b-0000-4000-8000-000000000002": {"status": "Contacted", "source": "Referral"},
            "1e2d3c4b-0000-4000-8000-000000000004": {"status": "Unqualified", "source": "Trade Show"},
            "1e2d3c4b-0000-4000-8000-000000000006": {"status": "New", "company": None},
        },
        "unmapped": {},
        "filtered": {"not converted": ["1e2d3c4b-0000-4000-8000-000000000003"]},
    },
    "sugarcrm/opportunities": {
        "entity": "opportunity",
        "rows": {
            "0b0b0b0b-0000-4000-8000-000000000001": {"stage": "Proposal", "amount": "125000.00",
                                                     "close_date": "2024-06-30",
                                                     "probability": "65", "currency": None,
                                                     "created_at": "2024-01-10T09:00:00"},
            "0b0b0b0b-0000-4000-8000-000000000003": {"stage": "Negotiation", "amount": "3500000.00"},
            "0b0b0b0b-0000-4000-8000-000000000005": {"stage": "Needs Analysis"},
        },
        "unmapped": {},
        "custom": {"0b0b0b0b-0000-4000-8000-000000000002": {
            "Currency": "-99", "Account Name": "Northwind Traders", "Type": "Existing Business",
            "Deleted": "0"}},
    },
    "outlook/contacts": {
        "entity": "contact",
        "rows": {
            "Jürgen|Schneider|j.schneider@acme-logistics.de": {
                "first_name": "Jürgen", "last_name": "Schneider", "title": "Head of Procurement",
                "department": "Einkauf", "email": "j.schneider@acme-logistics.de",
                "mailing_street": "Hafenstraße 12, Halle 3", "mailing_country": "Germany"},
            "Nguyen|nguyen@example.org": {"first_name": None, "mobile": "+1 206 555 0150"},
            "Anna|Becker": {"email": None, "mailing_city": "Köln"},
        },
        "unmapped": {},
        "custom": {"Mary|O'Neil|mary.oneil@northwindtraders.com": {
            "Company": "Northwind Traders", "Middle Name": "Ann", "Title": "Ms.",
            "E-mail 2 Address": "mary@oneil.family", "Categories": "Customers;VIP",
            "Notes": "Prefers calls after 3pm;\nassistant: Tim"}},
    },
    "google/contacts": {
        "entity": "contact",
        "rows": {
            "Jürgen|Schneider|j.schneider@acme-logistics.de": {
                "title": "Head of Procurement", "department": "Einkauf",
                "phone": "+49 40 1234568", "mailing_country": "DE"},
            # only the first of several e-mails in one cell
            "Mary|O'Neil|mary.oneil@northwindtraders.com ::: m.oneil@northwind.example": {
                "email": "mary.oneil@northwindtraders.com", "mailing_state": "CA"},
            "Li|Chen": {"phone": "+86 138 0013 8000", "email": None},
        },
        "unmapped": {},
        "custom": {"Анна|Петрова|anna@mail": {
            "Organization Name": "ООО «Ромашка»", "Phonetic First Name": "Anna",
            "Phonetic Last Name": "Petrova", "Labels": "* myContacts", "E-mail 1 - Label": "Work",
            "E-mail 1 - Value": "anna@mail", "Phone 1 - Label": "Mobile",
            "Address 1 - Label": "Work"}},
    },
}

PRESET_NAMES = sorted(EXPECTED)


def preset_path(name: str) -> Path:
    return PRESETS / f"{name}.yaml"


def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name}.csv"


def fixture_records(name: str) -> tuple[list[str], list[list[str]]]:
    """The fixture's header and records, read with the csv module on its own."""
    data = fixture_path(name).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")  # Outlook writes the Windows ANSI code page
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    return header, records


_RESULTS: dict[str, MapResult] = {}


def mapped(name: str) -> MapResult:
    if name not in _RESULTS:
        mapping = load_mapping(preset_path(name))
        options = mapping.source.given()
        frame = open_source(Source(location=str(fixture_path(name)), **options)).read()
        _RESULTS[name] = map_frame(mapping, frame)
    return _RESULTS[name]


def test_every_preset_is_tested_and_has_a_fixture() -> None:
    presets = sorted(str(p.relative_to(PRESETS).with_suffix("")) for p in PRESETS.glob("*/*.yaml"))
    fixtures = sorted(str(p.relative_to(FIXTURES).with_suffix("")) for p in FIXTURES.glob("*/*.csv"))
    assert presets == PRESET_NAMES == fixtures
    assert {p.split("/")[0] for p in presets} == {"salesforce", "hubspot", "sugarcrm", "outlook", "google"}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_loads_for_its_entity(name: str) -> None:
    mapping = load_mapping(preset_path(name))
    assert mapping.entity == EXPECTED[name]["entity"]
    assert "id" in mapping.fields


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_names_exactly_the_exports_columns(name: str) -> None:
    header, _ = fixture_records(name)
    mapping = load_mapping(preset_path(name))
    assert mapping.mentioned_columns == set(header)
    assert mapped(name).report.unmentioned == []


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_no_row_is_lost(name: str) -> None:
    _, records = fixture_records(name)
    result = mapped(name)
    report = result.report
    assert 5 <= len(records) <= 10
    assert report.rows_in == len(records)
    assert report.rows_out + sum(report.filtered.values()) == report.rows_in
    assert len(result.frame) == report.rows_out
    expected_filtered = EXPECTED[name].get("filtered", {})
    assert report.filtered == {k: len(v) for k, v in expected_filtered.items()}
    assert sorted(result.filtered["id"]) == sorted(i for ids in expected_filtered.values() for i in ids)
    assert set(result.filtered["reason"]) == set(expected_filtered)
    assert not set(result.filtered["id"]) & set(result.frame["id"])


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_output_is_the_canonical_entity_with_unique_ids(name: str) -> None:
    frame = mapped(name).frame
    entity = MODEL.entity(EXPECTED[name]["entity"])
    assert list(frame.columns) == [*entity.field_names, "_custom", "_issues", *PROVENANCE]
    assert frame["id"].notna().all()
    assert frame["id"].is_unique


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_exact_canonical_values(name: str) -> None:
    frame = mapped(name).frame.set_index("id", drop=False)
    for legacy_id, fields in EXPECTED[name]["rows"].items():
        for field, value in fields.items():
            got = frame.at[legacy_id, field]
            if value is None:
                assert not isinstance(got, str), (legacy_id, field, got)
            else:
                assert got == value, (legacy_id, field)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_custom_fields_keep_the_columns_the_preset_keeps(name: str) -> None:
    frame = mapped(name).frame.set_index("id", drop=False)
    mapping = load_mapping(preset_path(name))
    for legacy_id, kept in EXPECTED[name].get("custom", {}).items():
        custom = json.loads(frame.at[legacy_id, "_custom"])
        for column, value in kept.items():
            assert custom[column] == value, (legacy_id, column)
        assert set(custom) <= set(mapping.custom)
    dropped = set(mapping.drop)
    for text in frame["_custom"].dropna():
        assert not set(json.loads(text)) & dropped


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_unmapped_picklist_values_are_the_intended_ones(name: str) -> None:
    assert mapped(name).report.unmapped == EXPECTED[name]["unmapped"]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_fixture_values_all_parse(name: str) -> None:
    # The fixtures hold well-formed exports: every date, number and boolean parses.
    assert mapped(name).report.invalid == {}
    assert mapped(name).frame["_issues"].isna().all()
