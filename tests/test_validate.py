"""Validation: exact rates on planted errors, every kind of check, thresholds, and the samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmmigrate.config import BadConfig
from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source, open_source
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import map_frame
from crmmigrate.model import MODEL
from crmmigrate.validate import load_rules, load_thresholds, parse_overrides, validate
from crmmigrate.validate.rules import ValidationRules

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "samples" / "truth.json").read_text(encoding="utf-8"))
RULES = load_rules()
THRESHOLDS = load_thresholds()


def dataset(entity: str, rows: list[dict[str, str | None]]) -> pd.DataFrame:
    columns = list(MODEL.entity(entity).field_names)
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns, dtype="str")
    frame["_custom"] = None
    frame["_issues"] = None
    frame["_source"] = "legacy"
    frame["_file"] = f"{entity}.csv"
    frame["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return frame


def contacts(n: int, **planted: int) -> pd.DataFrame:
    """n valid contacts; `planted` says how many of the first rows get a bad value per field."""
    rows = [
        {"id": f"C{i}", "last_name": f"Name{i}", "first_name": "Ann", "email": f"ann{i}@acme.com",
         "phone": "+49 30 901820", "mailing_country": "DE", "created_at": "2021-03-04T10:00:00"}
        for i in range(n)
    ]
    bad = {"email": "ann at acme", "phone": "12", "created_at": "04.03.2021", "last_name": None}
    for field, count in planted.items():
        for row in rows[:count]:
            row[field] = bad[field]
    return dataset("contact", rows)


def run(**datasets: pd.DataFrame):
    return validate(datasets, rules=RULES, thresholds=THRESHOLDS)


# -- rates and the gate ----------------------------------------------------------------------


def test_rates_are_computed_exactly_and_the_gate_fails_on_exactly_the_fields_over():
    result = run(contact=contacts(100, email=6, phone=5, created_at=2, last_name=1))

    got = {c.field: (c.errors, c.rows, c.rate, c.passed) for c in result.entity("contact").checks if c.errors}
    assert got == {
        "email": (6, 100, 0.06, False),        # general 5%: 6% fails
        "phone": (5, 100, 0.05, True),         # exactly at the threshold passes
        "created_at": (2, 100, 0.02, True),
        "last_name": (1, 100, 0.01, True),     # key 1%
    }
    assert [c.name for c in result.failed] == ["contact.email"]
    assert result.passed is False


def test_a_lead_field_at_15_percent_passes_while_a_contact_field_at_6_percent_fails():
    leads = dataset("lead", [
        {"id": f"L{i}", "last_name": "X", "company": "Acme", "email": "bad" if i < 15 else f"l{i}@acme.com"}
        for i in range(100)
    ])

    result = run(lead=leads, contact=contacts(100, email=6))

    assert result.check("lead", "email").rate == 0.15
    assert result.check("lead", "email").threshold == 0.20
    assert result.check("lead", "email").passed
    assert not result.check("contact", "email").passed
    assert [c.name for c in result.failed] == ["contact.email"]


def test_orphan_pointers_are_judged_by_the_pointer_threshold():
    accounts = dataset("account", [{"id": f"A{i}", "name": f"Acme {i}"} for i in range(10)])
    people = contacts(200)
    people.loc[:2, "account_id"] = ["A1", "NOPE", "GONE"]   # 2 orphans of 200: 1%
    people.loc[3:, "account_id"] = "A2"

    result = run(account=accounts, contact=people)

    check = result.check("contact", "account_id")
    assert (check.errors, check.rate, check.cls, check.threshold, check.passed) == (2, 0.01, "pointer", 0.01, True)
    people.loc[4, "account_id"] = "MISSING"
    assert not run(account=accounts, contact=people).check("contact", "account_id").passed
    assert check.reasons == {"points to no account": 2}


def test_thresholds_can_be_overridden_per_entity_class_and_field():
    thresholds = THRESHOLDS.with_overrides(parse_overrides(["contact.email=0.08", "contact.general=1%"]))

    result = validate({"contact": contacts(100, email=6, phone=2)}, rules=RULES, thresholds=thresholds)

    assert result.check("contact", "email").threshold == 0.08
    assert result.check("contact", "email").passed
    assert result.check("contact", "phone").threshold == 0.01
    assert not result.check("contact", "phone").passed


@pytest.mark.parametrize("item", ["contact.email", "contact.email=2", "contactemail=0.1", "contact.email=lots"])
def test_a_bad_threshold_override_is_a_clear_error(item):
    with pytest.raises(BadConfig, match="ENTITY.FIELD=RATE"):
        parse_overrides([item])


def test_an_override_for_an_unknown_field_suggests_one():
    with pytest.raises(BadUsage, match="did you mean 'email'"):  # a usage error (exit 2), not a crash
        THRESHOLDS.with_overrides({"contact.emial": 0.1})


def test_a_typo_in_a_rules_file_is_located(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("defaults: {general: 0.05, key: 0.01, pointer: 0.01, lead: 0.2}\nentites: {}\n")

    with pytest.raises(BadConfig) as caught:
        load_thresholds(path)

    assert "unknown key 'entites' (did you mean 'entities'?)" in str(caught.value)
    assert caught.value.line == 2


# -- each kind of check ------------------------------------------------------------------------


def reasons(result, entity: str, field: str) -> dict[str, int]:
    return result.check(entity, field).reasons


def test_each_kind_of_value_check():
    accounts = dataset("account", [
        {"id": "A1", "name": "Acme", "email": "info@acme.com", "phone": "+7 495 123-45-67",
         "website": "www.acme.com", "billing_country": "Россия", "industry": "Technology",
         "created_at": "2020-01-01T00:00:00"},
        {"id": "A2", "name": "Globex", "email": "sales@globex", "phone": "8 (495) 123-45-67",
         "website": "not a site", "billing_country": "Atlantis", "industry": "Magic",
         "created_at": "2020-13-01T00:00:00"},
        {"id": "A3", "name": "x" * 256, "email": " Info@Initech.COM ", "phone": "0049 30 901820",
         "website": "https://initech.de/about", "billing_country": "Deutschland",
         "created_at": "01.02.2020"},
        {"id": "A3", "name": None, "phone": "555-0100", "billing_country": "US"},
    ])

    result = run(account=accounts)

    assert reasons(result, "account", "email") == {"invalid email": 1}
    # US 555-0100: not a real number; 8 (495) 123-45-67 in "Atlantis": no country code, and nothing
    # says where it is (the shipped rules assume no region).
    assert reasons(result, "account", "phone") == {"invalid phone": 2}
    assert reasons(result, "account", "website") == {"invalid URL: no web address host": 1}
    assert reasons(result, "account", "billing_country") == {"not a country": 1}
    assert reasons(result, "account", "industry") == {"not in the picklist": 1}
    assert reasons(result, "account", "created_at") == {
        "not a real date-time": 1,
        "not a date-time (YYYY-MM-DDTHH:MM:SS); map it with a datetime transform": 1,
    }
    assert reasons(result, "account", "name") == {"longer than 255 characters": 1, "missing required value": 1}
    assert reasons(result, "account", "id") == {"duplicate id in its source": 2}


def test_phone_numbers_are_read_in_the_records_country():
    people = contacts(3)
    people["phone"] = ["030 901820", "030 901820", "(212) 555-2368"]
    people["mailing_country"] = ["Germany", "USA", None]

    result = validate({"contact": people}, rules=ValidationRules(phone_region="US"), thresholds=THRESHOLDS)

    failing = result.failures[result.failures.field == "phone"]
    assert failing["id"].tolist() == ["C1"]  # a Berlin number is no US number


def test_a_phone_written_with_letters_is_invalid_whatever_its_country():
    """phonenumbers reads keypad letters as digits ("555-CALL-NOW" is a valid German and Chinese
    number to it); a CRM's phone field must hold the number dialled."""
    people = contacts(6)
    people["phone"] = ["555-CALL-NOW", "555-CALL-NOW", "+1-800-FLOWERS", "+49 30 901820 ext. 42",
                       "8 (383) 873-77-84 доб. 12", "тел. +7 383 873-77-84"]
    people["mailing_country"] = ["DE", "CN", "US", "DE", "RU", "RU"]

    result = run(contact=people)

    failing = result.failures[result.failures.field == "phone"]
    assert failing["id"].tolist() == ["C0", "C1", "C2"]  # extensions and labels are no letters
    assert set(failing["reason"]) == {"invalid phone: it has letters or signs besides the number"}


def test_a_value_the_mappings_transform_refused_is_invalid_for_the_transforms_reason(tmp_path):
    """31.02.2021 in a field the mapping reads with a date transform does not exist; telling
    the engineer to add a date transform would send them to the wrong place."""
    source = pd.DataFrame({"Id": ["O1", "O2", "O3"], "Close": ["31.02.2021", "32/13/2020", "01.04.2021"],
                           "_source": "deals", "_file": "deals.csv", "_row": ["2", "3", "4"]})
    head = "entity: opportunity\nfields:\n  id: Id\n  name: {value: Deal}\n  stage: {value: Prospecting}\n"
    (tmp_path / "with.yaml").write_text(
        head + '  close_date: {from: Close, transforms: [{date: {formats: ["%d.%m.%Y"]}}]}\n', encoding="utf-8")
    (tmp_path / "without.yaml").write_text(head + "  close_date: Close\n", encoding="utf-8")
    with_transform, without = load_mapping(tmp_path / "with.yaml"), load_mapping(tmp_path / "without.yaml")

    mapped = run(opportunity=map_frame(with_transform, source).frame)
    plain = run(opportunity=map_frame(without, source).frame)

    failing = mapped.failures[mapped.failures.field == "close_date"]
    assert failing[["id", "reason"]].values.tolist() == [
        ["O1", "not a date: day 31 does not exist in February 2021 (read as DD.MM.YYYY)"],
        ["O2", "not a date in the format(s) %d.%m.%Y"],
    ]
    failing = plain.failures[plain.failures.field == "close_date"]
    assert set(failing["reason"]) == {"not a date (YYYY-MM-DD); map it with a date transform"}
    assert len(failing) == 3


def test_opportunity_checks_amounts_dates_currency_and_order():
    opps = dataset("opportunity", [
        {"id": "O1", "name": "A", "stage": "Closed Won", "amount": "100.50", "currency": "EUR",
         "close_date": "2024-05-01", "probability": "100", "created_at": "2024-04-01T10:00:00"},
        {"id": "O2", "name": "B", "stage": "Won", "amount": "-5", "currency": "EURO",
         "close_date": "2024-03-01", "probability": "120", "created_at": "2024-04-01T10:00:00"},
        {"id": "O3", "name": "C", "stage": None, "amount": "lots", "close_date": "2024-04-01",
         "created_at": "2024-04-01T23:00:00"},
    ])

    result = run(opportunity=opps)

    assert reasons(result, "opportunity", "stage") == {"not in the picklist": 1, "missing required value": 1}
    assert reasons(result, "opportunity", "amount") == {
        "below the minimum 0": 1, "not a number; map it with a number transform": 1}
    assert reasons(result, "opportunity", "currency") == {"not an ISO 4217 currency code": 1}
    assert reasons(result, "opportunity", "probability") == {"above the maximum 100": 1}
    # A close date the same day as the creation is fine; a day before is not.
    assert reasons(result, "opportunity", "close_date") == {"before created_at": 1}


def test_case_closed_hours_before_it_was_opened_is_caught():
    cases = dataset("case", [
        {"id": "1", "subject": "s", "status": "Closed", "opened_at": "2023-05-18T09:24:00",
         "closed_at": "2023-05-18T03:24:00"},
        {"id": "2", "subject": "s", "status": "Closed", "opened_at": "2023-05-18T09:24:00",
         "closed_at": "2023-05-18T10:00:00"},
    ])

    assert reasons(run(case=cases), "case", "closed_at") == {"before opened_at": 1}


def test_account_hierarchy_self_parents_and_cycles():
    accounts = dataset("account", [
        {"id": "A", "name": "a", "parent_id": "A"},
        {"id": "B", "name": "b", "parent_id": "C"},
        {"id": "C", "name": "c", "parent_id": "B"},
        {"id": "D", "name": "d", "parent_id": "B"},   # points into a cycle, is not in one
        {"id": "E", "name": "e", "parent_id": "D"},
        {"id": "F", "name": "f", "parent_id": "Z"},   # orphan
    ])

    result = run(account=accounts)

    failing = result.failures[result.failures.field == "parent_id"].sort_values("id")
    assert failing[["id", "reason"]].values.tolist() == [
        ["A", "its own parent"], ["B", "in a parent cycle"], ["C", "in a parent cycle"],
        ["F", "points to no account"]]


def test_activities_point_at_the_entity_they_name():
    accounts = dataset("account", [{"id": "A1", "name": "a"}])
    people = contacts(2)
    acts = dataset("activity", [
        {"id": "1", "type": "call", "related_entity": "account", "related_id": "A1"},
        {"id": "2", "type": "call", "related_entity": "contact", "related_id": "C1"},
        {"id": "3", "type": "call", "related_entity": "contact", "related_id": "A1"},
        {"id": "4", "type": "fax", "related_entity": "planet", "related_id": "X"},
    ])

    result = run(account=accounts, contact=people, activity=acts)

    assert reasons(result, "activity", "related_id") == {"points to no contact": 1}
    assert reasons(result, "activity", "type") == {"not in the picklist": 1}
    assert reasons(result, "activity", "related_entity") == {
        "not an entity (account, contact, lead, opportunity, opportunity_contact_role, case, activity)": 1}
    assert any("lead" in note and "not checked" in note for note in result.notes)


def test_completeness_share_of_opportunities_without_a_contact_role():
    opps = dataset("opportunity", [
        {"id": f"O{i}", "name": "n", "stage": "Prospecting", "close_date": "2024-01-01"} for i in range(4)])
    roles = dataset("opportunity_contact_role", [{"id": "R1", "opportunity_id": "O1", "contact_id": "C0"}])

    result = run(opportunity=opps, opportunity_contact_role=roles, contact=contacts(1))

    check = result.check("opportunity", "has a contact role")
    assert (check.errors, check.rows, check.rate, check.threshold, check.passed) == (3, 4, 0.75, 0.5, False)


def test_every_failing_value_is_listed_with_its_provenance():
    result = run(contact=contacts(10, email=2))

    assert result.failures[["_source", "_file", "_row", "entity", "id", "field", "value"]].values.tolist() == [
        ["legacy", "contact.csv", "2", "contact", "C0", "email", "ann at acme"],
        ["legacy", "contact.csv", "3", "contact", "C1", "email", "ann at acme"],
    ]
    assert result.failures["reason"].str.startswith("invalid email: ").all()


# -- the samples ------------------------------------------------------------------------------

SAMPLE_MAPPINGS = {
    "legacy_crm/accounts.csv": "accounts", "legacy_crm/contacts.csv": "contacts_crm",
    "sales_reps/contacts.xlsx": "contacts_reps", "call_centre/leads.tsv": "leads",
    "legacy_crm/opportunities.json": "opportunities",
    "legacy_crm/opportunity_contact_roles.csv": "opportunity_contact_roles",
    "call_centre/cases.csv": "cases", "call_centre/activities.jsonl": "activities",
    "call_centre/callcentre.sqlite": "calls",
}


@pytest.fixture(scope="module")
def samples() -> dict[str, pd.DataFrame]:
    by_entity: dict[str, list[pd.DataFrame]] = {}
    for name, mapping_name in SAMPLE_MAPPINGS.items():
        mapping = load_mapping(ROOT / "mappings" / "samples" / f"{mapping_name}.yaml")
        options = mapping.source.given()
        location = str(ROOT / "samples" / name)
        if name.endswith(".sqlite"):
            location = f"sqlite:///{location}"
        frame = open_source(Source(location=location, **options)).read()
        by_entity.setdefault(mapping.entity, []).append(map_frame(mapping, frame).frame)
    return {k: pd.concat(v, ignore_index=True) for k, v in by_entity.items()}


def test_the_gate_names_exactly_the_planted_over_threshold_fields(samples):
    result = run(**samples)

    assert sorted(c.name for c in result.failed) == sorted(TRUTH["over_threshold"])


def test_every_fields_error_count_on_the_samples_is_the_planted_one(samples):
    result = run(**samples)

    planted = {f"{x['entity']}.{x['field']}": x["errors"] for x in TRUTH["error_rates"]}
    counted = {c.name: c.errors for c in result.checks if c.cls != "completeness" and c.errors}
    assert counted == planted


def test_with_the_planted_errors_removed_the_gate_passes(samples):
    failing = run(**samples).failures
    cleaned = {}
    for entity, frame in samples.items():
        frame = frame.copy()
        for field in MODEL.entity(entity).field_names:
            rows = failing[(failing.entity == entity) & (failing.field == field)]
            where = set(zip(rows["_file"], rows["_row"], strict=True))
            bad = pd.Series([k in where for k in zip(frame["_file"], frame["_row"], strict=True)],
                            index=frame.index)
            spec = MODEL.entity(entity).field(field)
            if spec.required and spec.is_pointer:
                frame.loc[bad, field] = samples[spec.target]["id"].iloc[0]
            elif spec.required:
                frame.loc[bad, field] = "Fixed" if field != "id" else frame.loc[bad, "id"] + "-fixed"
            else:
                frame.loc[bad, field] = None
        cleaned[entity] = frame

    result = run(**cleaned)

    assert result.passed, [c.name for c in result.failed]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CODES = sorted(__import__("phonenumbers").COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_CODES), st.text("0123456789", min_size=4, max_size=13),
                          st.sampled_from([" ", "-", "", " (0) ", "."])), min_size=1, max_size=200))
def test_the_vectorized_phone_path_never_accepts_what_phonenumbers_rejects(numbers):
    import phonenumbers

    from crmmigrate.validate.checks import phones_certainly_valid

    values = pd.Series([f"+{cc}{sep}{digits[:3]}{sep}{digits[3:]}" for cc, digits, sep in numbers], dtype="str")

    fast = phones_certainly_valid(values)

    for value in values[fast]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(value, "DE")), value


def test_the_vectorized_phone_path_agrees_with_phonenumbers_on_every_regions_numbers():
    """phonenumbers' example number of every region and type, each also with a digit or two
    changed (30,000 numbers, about three quarters valid): the fast path accepts no invalid one,
    and nearly every valid one, shared country codes (+1, +44, +7...) included."""
    import random

    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from crmmigrate.validate.checks import phones_certainly_valid

    examples = sorted({phonenumbers.format_number(number, PhoneNumberFormat.E164)
                       for region in phonenumbers.SUPPORTED_REGIONS for kind in PhoneNumberType.values()
                       if (number := phonenumbers.example_number_for_type(region, kind)) is not None})
    rng = random.Random(3)
    numbers = list(examples)
    for example in examples:
        start = 1 + len(str(phonenumbers.parse(example).country_code))
        for _ in range(30):
            digits = list(example)
            for _ in range(rng.randint(1, 2)):
                digits[rng.randrange(start, len(digits))] = str(rng.randrange(10))
            numbers.append("".join(digits))

    def valid(value: str) -> bool:
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(value))
        except phonenumbers.NumberParseException:
            return False

    truth = np.array([valid(v) for v in numbers])
    fast = phones_certainly_valid(pd.Series(numbers, dtype="str")).to_numpy()

    assert not (fast & ~truth).any(), [v for v, f, t in zip(numbers, fast, truth, strict=True) if f and not t][:5]
    assert (fast & truth).sum() >= 0.98 * truth.sum()
    shared = np.array([len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[phonenumbers.parse(v).country_code]) > 1
                       for v in numbers])
    assert (fast & shared).sum() >= 0.95 * (truth & shared).sum()  # national-prefix lookalikes (+7 8...) aside


def test_the_vectorized_phone_path_accepts_real_numbers_of_single_region_codes():
    import phonenumbers

    from crmmigrate.validate.checks import phones_certainly_valid

    examples = [phonenumbers.format_number(phonenumbers.example_number_for_type(r, t),
                                           phonenumbers.PhoneNumberFormat.INTERNATIONAL)
                for r in ("DE", "FR", "CN", "ES", "PL", "JP", "BR")
                for t in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)]

    assert phones_certainly_valid(pd.Series(examples, dtype="str")).all()


def test_checking_rows_a_slice_at_a_time_is_checking_them_whole(sample_datasets):
    """The cluster engine checks an entity's rows a slice per worker (`row_reasons`, with the
    pointers' targets read once from the whole) and the rules that read every record (duplicate
    ids, parent cycles) over the whole: the result is validation's over the whole, failure for
    failure, in the same order."""
    from crmmigrate.validate.core import join_reasons, row_reasons

    rules, thresholds = load_rules(None), load_thresholds(None)
    datasets = dict(sample_datasets)
    accounts = datasets["account"].copy()
    # A duplicate id far apart and a parent cycle across slices: only the whole shows them.
    accounts.loc[len(accounts) - 1, "id"] = accounts.loc[0, "id"]
    accounts.loc[3, "parent_id"] = accounts.loc[len(accounts) - 2, "id"]
    accounts.loc[len(accounts) - 2, "parent_id"] = accounts.loc[3, "id"]
    datasets["account"] = accounts
    whole = validate(datasets, rules=rules, thresholds=thresholds, regions={"contacts_crm": "DE"})

    def in_slices(entity, validator, targets):
        frame = datasets[entity].reset_index(drop=True)
        return join_reasons([(len(frame.iloc[s:s + 41]),
                              row_reasons(entity, frame.iloc[s:s + 41], rules, targets, {"contacts_crm": "DE"}))
                             for s in range(0, len(frame), 41)])

    sliced = validate(datasets, rules=rules, thresholds=thresholds, regions={"contacts_crm": "DE"},
                      found_by=in_slices)
    reasons = set(whole.failures["reason"])
    assert {"duplicate id in its source", "in a parent cycle"} <= reasons
    pd.testing.assert_frame_equal(sliced.failures, whole.failures)
    assert [e.as_dict() for e in sliced.entities] == [e.as_dict() for e in whole.entities]
    assert sliced.notes == whole.notes
