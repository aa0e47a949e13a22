"""Drafting a mapping: header aliases in many languages, value sniffing, formats, the samples."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.suggest import (
    ALIASES,
    ENTITY_WORDS,
    compact,
    normalise,
    suggest_frame,
    suggest_mapping,
)
from crmmigrate.model import MODEL, PROVENANCE

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TRUTH = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))


def frame(columns: dict[str, list[str | None]]) -> pd.DataFrame:
    """A frame as extract gives it: strings, then the provenance columns."""
    rows = len(next(iter(columns.values()))) if columns else 0
    data = dict(columns)
    data.update({"_source": ["t"] * rows, "_file": ["t.csv"] * rows, "_row": [str(i) for i in range(rows)]})
    return pd.DataFrame(data, dtype="str")


def header_guess(entity: str, header: str):
    """The guess for a lone header with no values: what the header alone says."""
    draft = suggest_frame(frame({header: []}), entity)
    return [g for g in draft.guesses if g.column == header and not g.reasons[0].startswith("no ")]


def sample_source(path: str) -> Source:
    info = TRUTH["files"][path]
    if path.endswith(".sqlite"):
        return Source(location=f"sqlite:///{SAMPLES / path}", table=info["table"])
    return Source(location=str(SAMPLES / path))


# --- normalising --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("AccountID", "account id"),
        ("E-Mail", "e mail"),
        ("Acct #", "acct no"),
        ("Prénom", "prenom"),
        ("№", "no"),
        ("  Эл. почта ", "эл почта"),
        ("Amount.Value", "amount value"),
        ("created_at", "created at"),
        ("OppId", "opp id"),
    ],
)
def test_headers_are_normalised_to_words(header, words):
    assert normalise(header) == words


def test_spelling_variants_share_one_key():
    assert compact("E-Mail") == compact("email") == compact("E_MAIL") == compact("e mail")


# --- header aliases -----------------------------------------------------------------------
ALIAS_CASES = [
    # e-mail in English, German, French, Spanish, Russian, Chinese
    ("contact", "E-Mail", "email"),
    ("contact", "Email Address", "email"),
    ("contact", "Correo", "email"),
    ("contact", "Courriel", "email"),
    ("contact", "Почта", "email"),
    ("contact", "Эл. почта", "email"),
    ("contact", "邮箱", "email"),
    ("contact", "电子邮件", "email"),
    ("contact", "Telefon", "phone"),
    ("contact", "Тел.", "phone"),
    ("contact", "Телефон", "phone"),
    ("contact", "电话", "phone"),
    ("contact", "Phone Number", "phone"),
    ("contact", "Handy", "mobile"),
    ("contact", "手机", "mobile"),
    ("account", "Company", "name"),
    ("account", "Firma", "name"),
    ("account", "Компания", "name"),
    ("account", "公司", "name"),
    ("account", "Account Name", "name"),
    ("account", "Organisation", "name"),
    ("lead", "Company", "company"),
    ("lead", "Firma", "company"),
    ("contact", "First Name", "first_name"),
    ("contact", "Vorname", "first_name"),
    ("contact", "Prénom", "first_name"),
    ("contact", "Nombre", "first_name"),
    ("contact", "Имя", "first_name"),
    ("contact", "名", "first_name"),
    ("contact", "Last Name", "last_name"),
    ("contact", "Nachname", "last_name"),
    ("contact", "Surname", "last_name"),
    ("contact", "Nom", "last_name"),
    ("contact", "Apellido", "last_name"),
    ("contact", "Фамилия", "last_name"),
    ("contact", "姓", "last_name"),
    ("contact", "Title", "title"),
    ("contact", "Position", "title"),
    ("contact", "Job Title", "title"),
    ("contact", "Должность", "title"),
    ("contact", "职位", "title"),
    ("contact", "City", "mailing_city"),
    ("contact", "Ort", "mailing_city"),
    ("account", "Stadt", "billing_city"),
    ("account", "Город", "billing_city"),
    ("account", "城市", "billing_city"),
    ("account", "Billing City", "billing_city"),
    ("contact", "Mailing City", "mailing_city"),
    ("account", "ZIP", "billing_postal_code"),
    ("account", "PLZ", "billing_postal_code"),
    ("contact", "Postal Code", "mailing_postal_code"),
    ("contact", "Индекс", "mailing_postal_code"),
    ("contact", "邮编", "mailing_postal_code"),
    ("account", "Country", "billing_country"),
    ("account", "Land", "billing_country"),
    ("account", "Pays", "billing_country"),
    ("contact", "País", "mailing_country"),
    ("contact", "Страна", "mailing_country"),
    ("contact", "国家", "mailing_country"),
    ("contact", "Created", "created_at"),
    ("contact", "Created Date", "created_at"),
    ("account", "Erstellt", "created_at"),
    ("account", "Дата создания", "created_at"),
    ("lead", "创建时间", "created_at"),
    ("contact", "Owner", "owner"),
    ("contact", "Sales Rep", "owner"),
    ("lead", "Agent", "owner"),
    ("account", "Ответственный", "owner"),
    ("account", "负责人", "owner"),
    ("account", "Account Owner", "owner"),
    ("contact", "Contact Owner", "owner"),
    # ids: generic, and the entity's own id under the entity's name
    ("account", "ID", "id"),
    ("account", "AccountID", "id"),
    ("account", "Account ID", "id"),
    ("account", "Kundennummer", "id"),
    ("contact", "ContactID", "id"),
    ("contact", "No.", "id"),
    ("contact", "№", "id"),
    ("contact", "编号", "id"),
    ("lead", "LeadNo", "id"),
    ("case", "Ticket #", "id"),
    ("activity", "call_id", "id"),
    # pointers: the account id in a contact source
    ("contact", "Acct #", "account_id"),
    ("contact", "AccountID", "account_id"),
    ("contact", "Account ID", "account_id"),
    ("contact", "Company ID", "account_id"),
    ("contact", "客户编号", "account_id"),
    ("case", "ContactID", "contact_id"),
    ("opportunity_contact_role", "OpportunityID", "opportunity_id"),
    ("account", "Parent Account", "parent_id"),
    # entity-specific fields
    ("opportunity", "Stage", "stage"),
    ("opportunity", "Этап", "stage"),
    ("opportunity", "Amount", "amount"),
    ("opportunity", "Betrag", "amount"),
    ("opportunity", "金额", "amount"),
    ("opportunity", "Close Date", "close_date"),
    ("opportunity", "CloseDate", "close_date"),
    ("opportunity", "Probability", "probability"),
    ("opportunity", "Wahrscheinlichkeit", "probability"),
    ("opportunity", "Deal Name", "name"),
    ("opportunity", "Währung", "currency"),
    ("case", "Subject", "subject"),
    ("case", "Betreff", "subject"),
    ("case", "Тема", "subject"),
    ("case", "Status", "status"),
    ("case", "状态", "status"),
    ("case", "Priority", "priority"),
    ("case", "Приоритет", "priority"),
    ("case", "Origin", "origin"),
    ("case", "Opened", "opened_at"),
    ("case", "Closed", "closed_at"),
    ("case", "Description", "description"),
    ("case", "Описание", "description"),
    ("lead", "Lead Source", "source"),
    ("lead", "Источник", "source"),
    ("lead", "Lead Status", "status"),
    ("activity", "Type", "type"),
    ("activity", "Activity Type", "type"),
    ("activity", "Subject", "subject"),
    ("activity", "Due Date", "due_at"),
    ("activity", "Completed", "completed_at"),
    ("activity", "Status", "status"),
    ("activity", "Related To", "related_entity"),
    ("opportunity_contact_role", "Primary", "is_primary"),
]


@pytest.mark.parametrize(("entity", "header", "field"), ALIAS_CASES)
def test_header_aliases_in_many_languages_name_their_field(entity, header, field):
    guesses = header_guess(entity, header)
    assert [g.field for g in guesses] == [field]
    assert guesses[0].confidence >= 0.8
    assert header in guesses[0].reasons[0]


def test_alias_table_is_keyed_by_field_names_of_the_model():
    # Address parts are keyed by the part and apply to every address block.
    names = {f.name for e in MODEL for f in e.fields}
    parts = {"street", "city", "postal_code", "state", "country"}
    assert set(ALIASES) - parts <= names
    assert set(ENTITY_WORDS) == set(MODEL.names)


@pytest.mark.parametrize(
    ("header", "field", "reason"),
    [
        ("Frist Name", "first_name", "header 'Frist Name' is close to alias 'first name' (89% similar)"),
        ("Emial Adress", "email", "header 'Emial Adress' is close to alias 'email address' (83% similar)"),
    ],
)
def test_a_near_miss_header_is_found_with_a_lower_confidence(header, field, reason):
    (guess,) = header_guess("contact", header)
    assert guess.field == field
    assert 0.5 <= guess.confidence < 0.8
    assert guess.reasons[0] == reason


def test_a_whole_name_column_fills_first_and_last_name_when_nothing_else_does():
    draft = suggest_frame(frame({"ID": ["1", "2"], "ФИО": ["Иван Петров", "Anna Schmidt"]}), "contact")
    assert draft.guess("first_name").transforms == ["strip", {"split_name": "first"}]
    assert draft.guess("last_name").transforms == ["strip", {"split_name": "last"}]
    assert draft.custom == []


def test_a_header_for_a_field_the_entity_lacks_is_kept_as_custom():
    draft = suggest_frame(frame({"ContactID": ["C1", "C2"], "Industry": ["IT", "Bau"]}), "contact")
    assert draft.fields == {"id": "ContactID"}
    assert draft.custom == ["Industry"]


# --- what the values say ------------------------------------------------------------------
def test_values_find_the_email_column_behind_an_unhelpful_header():
    draft = suggest_frame(
        frame(
            {
                "ContactID": ["C1", "C2", "C3", "C4"],
                "Field 7": ["a@x.de", "b@y.com", "c@z.ru", "d@w.cn"],
                "Notes": ["call back", "vip", None, "x"],
            }
        ),
        "contact",
    )
    guess = draft.guess("email")
    assert guess is not None and guess.column == "Field 7"
    assert guess.transforms == ["strip", "lower"]
    assert 0.5 <= guess.confidence < 0.9
    assert "100% of values look like e-mails" in guess.reasons[0]
    assert draft.custom == ["Notes"]


def test_values_do_not_put_someone_elses_email_into_the_email_field():
    draft = suggest_frame(
        frame({"ContactID": ["C1", "C2"], "Owner Email": ["boss@x.de", "boss@x.de"]}), "contact"
    )
    assert draft.guess("email") is None
    assert draft.custom == ["Owner Email"]


def test_values_contradicting_the_header_keep_a_column_out_of_a_field():
    # "Company" names an account; names are no account ids, so no pointer is drafted.
    draft = suggest_frame(
        frame({"ContactID": ["C1", "C2"], "Company": ["ACME Corp", "ООО «Ромашка»"]}), "contact"
    )
    assert draft.guess("account_id") is None
    assert draft.custom == ["Company"]
    assert "values look like names, not ids" in draft.custom_notes["Company"]


def test_values_break_a_tie_between_two_email_headers():
    draft = suggest_frame(
        frame(
            {
                "ContactID": ["C1", "C2", "C3"],
                "E-Mail": ["n/a", "unknown", "a@x.de"],
                "Email Address": ["a@x.de", "b@y.de", "c@z.de"],
            }
        ),
        "contact",
    )
    assert draft.guess("email").column == "Email Address"
    assert draft.custom == ["E-Mail"]


def test_date_format_is_sniffed_with_its_day_month_order():
    draft = suggest_frame(
        frame({"ID": ["1", "2", "3"], "Erstellt": ["25.03.2021", "01.04.2021", "13.12.2020"]}),
        "account",
    )
    assert draft.guess("created_at").transforms == [
        "strip",
        {"datetime": {"formats": ["%d.%m.%Y"]}},
    ]


def test_a_date_field_gets_date_and_times_get_their_format():
    draft = suggest_frame(
        frame(
            {
                "OppId": ["O1", "O2"],
                "Close Date": ["03/25/2021", "04/01/2021"],
                "Created": ["2021-01-03T15:59:18Z", "2021-01-09T08:31:56Z"],
            }
        ),
        "opportunity",
    )
    assert draft.guess("close_date").transforms == ["strip", {"date": {"formats": ["%m/%d/%Y"]}}]
    assert draft.guess("created_at").transforms == [
        "strip",
        {"datetime": {"formats": ["%Y-%m-%dT%H:%M:%SZ"]}},
    ]


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2022-06-04 12:16", "2022-06-14 09:01"], "%Y-%m-%d %H:%M"),
        (["2022-06-04T12:16:41.250", "2022-06-14T09:01:00.5"], "%Y-%m-%dT%H:%M:%S.%f"),
        (["03/25/2021 2:30 PM", "03/26/2021 11:05 AM"], "%m/%d/%Y %I:%M %p"),
        (["25.03.2021 14:30:00 +03:00", "26.03.2021 09:00:00 +03:00"], "%d.%m.%Y %H:%M:%S %z"),
        (["2021/03/25 14:30 UTC", "2021/03/26 14:30 UTC"], "%Y/%m/%d %H:%M UTC"),
    ],
)
def test_time_formats_are_sniffed_and_parse_every_value(values, fmt):
    import datetime as dt

    draft = suggest_frame(frame({"ID": ["1", "2"], "Created": values}), "contact")
    assert draft.guess("created_at").transforms[1] == {"datetime": {"formats": [fmt]}}
    for value in values:
        dt.datetime.strptime(value, fmt)


def test_ambiguous_dates_get_no_format_and_a_note_saying_why():
    draft = suggest_frame(
        frame({"ID": ["1", "2"], "Created": ["01/02/2023", "03/04/2023"]}), "contact"
    )
    guess = draft.guess("created_at")
    assert guess.transforms == ["strip", "datetime"]
    assert "day/month order is ambiguous" in guess.notes[0]
    assert "'%d/%m/%Y' or '%m/%d/%Y'" in guess.notes[0]
    assert "day/month order is ambiguous" in draft.to_yaml()


def test_mixed_date_patterns_and_month_names_each_get_a_format():
    draft = suggest_frame(
        frame(
            {
                "ID": ["1", "2", "3", "4"],
                "Date Added": ["2019-08-30", "2020-01-02", "25.03.2021", "05 Mar 2021"],
            }
        ),
        "contact",
    )
    formats = draft.guess("created_at").transforms[1]["datetime"]["formats"]
    assert formats == ["%Y-%m-%d", "%d %b %Y", "%d.%m.%Y"]


def test_amounts_with_a_decimal_comma_get_it():
    draft = suggest_frame(
        frame({"ID": ["1", "2", "3"], "Betrag": ["1.234,50", "99,90", "7,5"]}), "opportunity"
    )
    assert draft.guess("amount").transforms == ["strip", {"number": {"decimal": ","}}]


def test_mixed_decimal_marks_are_left_to_auto_with_a_note():
    draft = suggest_frame(
        frame({"ID": ["1", "2"], "Amount": ["1.234,50", "99.90"]}), "opportunity"
    )
    guess = draft.guess("amount")
    assert guess.transforms == ["strip", "number"]
    assert "both decimal marks" in guess.notes[0]


def test_booleans_and_picklist_choices():
    draft = suggest_frame(
        frame({"ActivityId": ["A1", "A2", "A3"], "Typ": ["Anruf", "E-Mail", "Besuch"]}),
        "activity",
    )
    assert draft.guess("type").transforms == [
        "strip",
        {"map": {"values": {"Anruf": "call", "Besuch": "visit", "E-Mail": "email"}}},
    ]
    roles = suggest_frame(
        frame({"RoleID": ["1", "2"], "Primary": ["Ja", "Nein"]}), "opportunity_contact_role"
    )
    assert roles.guess("is_primary").transforms == ["strip", "boolean"]


# --- the id --------------------------------------------------------------------------------
def test_the_entity_own_id_wins_over_a_pointer_and_an_unique_column():
    draft = suggest_frame(
        frame({"AccountID": ["1", "1", "2"], "ContactID": ["C1", "C2", "C3"]}), "contact"
    )
    assert draft.fields["id"] == "ContactID"
    assert draft.fields["account_id"] == "AccountID"


def test_without_an_id_header_a_unique_column_becomes_the_id():
    draft = suggest_frame(
        frame({"Owner": ["a", "a", "b"], "Kürzel": ["K-1", "K-2", "K-3"]}), "account"
    )
    guess = draft.guess("id")
    assert guess.column == "Kürzel"
    assert guess.confidence == 0.5
    assert "no value repeats" in guess.reasons[0]


def test_without_any_unique_column_the_draft_still_has_an_id_and_says_so():
    draft = suggest_frame(frame({"Owner": ["a", "a", "b"], "Stadt": ["x", "x", "x"]}), "account")
    assert draft.fields["id"] == "Owner"
    assert draft.guess("id").confidence == 0.3
    assert "No column identifies every row" in draft.notes[0]
    assert "# NOTE: No column identifies every row" in draft.to_yaml()


def test_a_repeating_id_column_is_kept_but_less_sure():
    draft = suggest_frame(frame({"ContactID": ["C1", "C1", "C2"]}), "contact")
    guess = draft.guess("id")
    assert guess.column == "ContactID"
    assert guess.confidence < 0.8
    assert "1 value(s) repeat" in guess.reasons[1]


def test_an_unknown_entity_is_a_usage_error_that_suggests_one():
    with pytest.raises(BadUsage, match=r"unknown entity 'contcat' \(did you mean 'contact'\?\)"):
        suggest_frame(frame({"a": ["1"]}), "contcat")


# --- the YAML ------------------------------------------------------------------------------
AWKWARD = ["ID: key", "# hash", "it's \"quoted\"", "Имя", "yes", "null", "1.5", " padded ", "line\nbreak", "{x}", "- dash", "@at", "%pct", "*star", "a, b"]


def test_yaml_quotes_every_awkward_column_name_and_loads(tmp_path):
    draft = suggest_frame(frame({name: ["v1", "v2"] for name in AWKWARD}), "contact")
    text = draft.to_yaml()
    assert yaml.safe_load(text) == draft.mapping_data()
    path = tmp_path / "draft.yaml"
    path.write_text(text, encoding="utf-8")
    mapping = load_mapping(path)
    mentioned = {c for spec in mapping.fields.values() for c in spec.columns} | set(mapping.custom)
    assert mentioned == set(AWKWARD)
    assert "Имя" in text  # written as it is, not escaped


def test_yaml_has_a_comment_with_confidence_and_reason_per_field():
    draft = suggest_frame(frame({"ID": ["1", "2"], "E-Mail": ["a@x.de", "b@y.de"]}), "contact")
    lines = draft.to_yaml().splitlines()
    at = lines.index("  email:")
    assert lines[at - 1] == (
        "  # confidence 0.99: header alias 'E-Mail'; 100% of values look like e-mails"
    )
    assert lines[at + 1 : at + 3] == ["    from: E-Mail", "    transforms: [strip, lower]"]


# --- the samples ---------------------------------------------------------------------------
# The columns every sample must get right: the id, the names, e-mail and phone.
OBVIOUS = {"id", "first_name", "last_name", "name", "company", "email", "phone", "account_id"}
SAMPLE_FILES = sorted(TRUTH["files"])


@pytest.fixture(scope="module")
def drafts():
    return {path: suggest_mapping(sample_source(path), TRUTH["files"][path]["entity"]) for path in SAMPLE_FILES}


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_samples_obvious_columns_are_mapped_as_the_truth_says(drafts, path):
    truth = TRUTH["files"][path]["mapping"]
    draft = drafts[path]
    expected = {field: column for column, field in truth.items() if field in OBVIOUS}
    assert {f: draft.fields.get(f) for f in expected} == expected


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_samples_every_column_is_mapped_or_kept(drafts, path):
    draft = drafts[path]
    columns = TRUTH["files"][path]["columns"]
    assert sorted({*draft.fields.values(), *draft.custom}) == sorted(columns)
    assert not set(draft.fields.values()) & set(draft.custom)
    # A column the truth leaves unmapped is kept, never put into some field.
    unmapped = [c for c, f in TRUTH["files"][path]["mapping"].items() if f is None]
    assert set(unmapped) <= set(draft.custom)


def test_samples_overall_accuracy(drafts):
    right = total = 0
    for path in SAMPLE_FILES:
        for column, field in TRUTH["files"][path]["mapping"].items():
            if field is not None:
                total += 1
                right += drafts[path].fields.get(field) == column
    assert total == 96
    assert right / total >= 0.95


def test_samples_date_formats_match_the_truth(drafts):
    checked = 0
    for path in SAMPLE_FILES:
        info = TRUTH["files"][path]
        for column, fmt in info.get("date_formats", {}).items():
            field = info["mapping"].get(column)
            if field is None or not isinstance(fmt, str):
                continue
            guess = drafts[path].guess(field)
            step = guess.transforms[1]
            (options,) = step.values()
            assert options["formats"][0] == fmt, (path, column)
            checked += 1
    assert checked >= 8


def test_samples_draft_records_the_sheet_and_table(drafts):
    assert drafts["sales_reps/contacts.xlsx"].source_options == {"sheet": "Contacts"}
    assert drafts["call_centre/callcentre.sqlite"].source_options == {"table": "calls"}
    assert drafts["legacy_crm/accounts.csv"].source_options == {}


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_samples_draft_loads_and_runs_through_the_engine_keeping_every_row(drafts, path, tmp_path):
    from crmmigrate.mapping.engine import map_frame

    draft = drafts[path]
    target = tmp_path / "draft.yaml"
    target.write_text(draft.to_yaml(), encoding="utf-8")
    mapping = load_mapping(target)
    assert yaml.safe_load(target.read_text(encoding="utf-8")) == draft.mapping_data()
    extracted = open_source(sample_source(path)).read()
    result = map_frame(mapping, extracted)
    assert len(result.filtered) == 0
    assert len(result.frame) == len(extracted)
    assert list(result.frame["_row"]) == list(extracted["_row"])
    assert set(PROVENANCE) <= set(result.frame.columns)
    # Nothing unmentioned: every column is mapped or kept as custom by the draft itself.
    assert result.report.unmentioned == []
