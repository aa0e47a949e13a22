"""The clean stage: rules parsed strictly, the engine's change log, and the samples' planted dirt."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmmigrate.clean import CHANGE_COLUMNS, clean, load_cleaning
from crmmigrate.clean.normalisers import NORMALISERS
from crmmigrate.cli import app
from crmmigrate.config import BadConfig
from crmmigrate.model import MODEL
from crmmigrate.validate import load_rules, load_thresholds, validate

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "samples" / "truth.json").read_text(encoding="utf-8"))
RULES = load_cleaning()
runner = CliRunner()


def frame(entity: str, rows: list[dict[str, str | None]], source: str = "legacy") -> pd.DataFrame:
    columns = list(MODEL.entity(entity).field_names)
    data = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns, dtype="str")
    data["_custom"] = None
    data["_issues"] = None
    data["_source"] = source
    data["_file"] = f"{entity}.csv"
    data["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return data


def cleaned(entity: str, rows: list[dict], **options) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    result = clean({entity: frame(entity, rows)}, rules=RULES, region=options.pop("region", "RU"), **options)
    return result.datasets[entity], result.changes, result.notes


# -- rules ----------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cleaning.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "line", "message"), [
    ("types:\n  email: [emial]\n", 2, "unknown normaliser 'emial' (did you mean 'email'?)"),
    ("entities:\n  contact:\n    phone: [{phone: {regoin: DE}}]\n", 3, "phone: regoin: Extra inputs"),
    ("entities:\n  contact:\n    emali: [email]\n", 3, "contact has no field 'emali' (did you mean 'email'?)"),
    ("entities:\n  contcat: {}\n", 2, "unknown entity 'contcat' (did you mean 'contact'?)"),
    ("entities:\n  contact:\n    account_id: [text]\n", 3, "contact.account_id is a key or pointer"),
    ("typse: {}\n", 1, "unknown key 'typse' (did you mean 'types'?)"),
    ("types:\n  colour: [text]\n", 2, "colour"),
])
def test_rules_are_parsed_strictly_with_the_line(tmp_path, text, line, message):
    with pytest.raises(BadConfig) as caught:
        load_cleaning(write(tmp_path, text))
    assert caught.value.line == line
    assert message in str(caught.value)


def test_a_field_takes_its_own_steps_else_its_types_and_never_cleans_keys():
    contact = MODEL.entity("contact")
    assert [s.name for s in RULES.steps("contact", contact.field("last_name"))] == ["text", "mojibake", "person_name"]
    assert [s.name for s in RULES.steps("contact", contact.field("mobile"))] == ["phone"]
    assert RULES.steps("contact", contact.field("id")) == []
    assert RULES.steps("contact", contact.field("account_id")) == []


# -- the engine -----------------------------------------------------------------------------------


def test_values_are_normalised_and_every_change_is_logged_with_its_rule():
    out, changes, notes = cleaned("account", [
        {"id": "1", "name": "  ООО «Мегаполис» ", "phone": "8 (383) 873-77-84", "email": "Sales@Acme.Ru ",
         "website": "HTTPS://www.Example.COM/about", "billing_country": "Россия"},
        {"id": "2", "name": "Globex GmbH", "phone": "+49 30 901820", "billing_country": "Deutschland",
         "email": "bob@gmial.com"},
    ])

    assert out[["name", "phone", "email", "website", "billing_country"]].fillna("").values.tolist() == [
        ["ООО «Мегаполис»", "+73838737784", "sales@acme.ru", "example.com", "RU"],
        ["Globex GmbH", "+4930901820", "bob@gmial.com", "", "DE"],
    ]
    assert changes[["id", "field", "before", "after", "rule"]].values.tolist() == [
        ["1", "name", "  ООО «Мегаполис» ", "ООО «Мегаполис»", "text"],
        ["1", "phone", "8 (383) 873-77-84", "+73838737784", "phone"],
        ["2", "phone", "+49 30 901820", "+4930901820", "phone"],
        ["1", "website", "HTTPS://www.Example.COM/about", "example.com", "website"],
        ["1", "email", "Sales@Acme.Ru ", "sales@acme.ru", "email"],
        ["1", "billing_country", "Россия", "RU", "country"],
        ["2", "billing_country", "Deutschland", "DE", "country"],
    ]
    assert changes[["_source", "_file", "_row", "entity"]].iloc[0].tolist() == ["legacy", "account.csv", "2", "account"]
    # A typo of a common mail domain is reported, not fixed.
    assert notes[["id", "field", "note"]].values.tolist() == [
        ["2", "email", "domain 'gmial.com' looks like a typo of 'gmail.com'"]]


def test_phones_are_read_in_the_records_country_else_the_sources_region():
    out, _, _ = cleaned("account", [
        {"id": "1", "name": "a", "phone": "030 901820", "billing_country": "Germany"},
        {"id": "2", "name": "b", "phone": "(383) 873-77-84"},
    ], region="RU")
    assert out["phone"].tolist() == ["+4930901820", "+73838737784"]

    result = clean({"account": frame("account", [{"id": "1", "name": "a", "phone": "030 901820"}], source="de")},
                   rules=RULES, region="RU", regions={"de": "DE"})
    assert result.datasets["account"]["phone"].tolist() == ["+4930901820"]


def test_national_phones_are_read_in_bulk_in_each_rows_region(tmp_path, monkeypatch):
    """The phone normaliser's bulk is given each row's region and country: a number written
    nationally (with an extension or not) costs no call of its own and comes out as the call
    would make it; what it is not certain of (a leading country code without its "+") is still
    called, with the same context."""
    entry = NORMALISERS["phone"]
    called = []

    def one_by_one(value, **context):
        called.append(value)
        return entry.fn(value, **context)

    monkeypatch.setitem(NORMALISERS, "phone", dataclasses.replace(entry, fn=one_by_one))
    out, _, _ = cleaned("account", [
        {"id": "1", "name": "a", "phone": "030 901820", "billing_country": "Germany"},
        {"id": "2", "name": "b", "phone": "(383) 873-77-84"},
        {"id": "3", "name": "c", "phone": "(212) 555-0100", "billing_country": "US"},
        {"id": "4", "name": "d", "phone": "212.555.0100 x42", "billing_country": "USA"},
        {"id": "5", "name": "e", "phone": "1-212-555-0199", "billing_country": "US"},
    ], region="RU")
    assert out["phone"].tolist() == ["+4930901820", "+73838737784", "+12125550100", "+12125550100;ext=42",
                                     "+12125550199"]
    assert called == ["1-212-555-0199"]

    # The rule's own region wins over the source's, in bulk as one by one.
    rules = load_cleaning(write(tmp_path, "entities:\n  account:\n    phone: [{phone: {region: DE}}]\n"))
    result = clean({"account": frame("account", [{"id": "1", "name": "a", "phone": "030 901820"}])},
                   rules=rules, region="RU")
    assert result.datasets["account"]["phone"].tolist() == ["+4930901820"]
    assert called == ["1-212-555-0199"]


def test_a_value_cleaning_cannot_make_valid_stays_exactly_as_it_was():
    out, changes, notes = cleaned("contact", [
        {"id": "1", "last_name": "X", "phone": "12 34", "email": " j.doe@acme..com "},
    ])
    assert out[["phone", "email"]].values.tolist() == [["12 34", " j.doe@acme..com "]]
    assert changes.empty
    assert set(notes["field"]) == {"phone", "email"}


def test_the_day_and_month_order_is_decided_per_column_from_the_evidence():
    result = clean({"opportunity": frame("opportunity", [
        {"id": "1", "name": "a", "close_date": "13.01.2024"},
        {"id": "2", "name": "b", "close_date": "02.03.2024"},
        {"id": "3", "name": "c", "close_date": "2024-05-06"},
    ])}, rules=RULES, region="RU")
    assert result.datasets["opportunity"]["close_date"].tolist() == ["2024-01-13", "2024-03-02", "2024-05-06"]
    decision = next(f for f in result.fields if f.field == "close_date").dates
    assert (decision.order, decision.day_first, decision.either) == ("dmy", 1, 1)


def test_an_ambiguous_date_column_is_flagged_and_left_alone():
    result = clean({"opportunity": frame("opportunity", [
        {"id": "1", "name": "a", "close_date": "01.02.2024"},
        {"id": "2", "name": "b", "close_date": "03.04.2024"},
    ])}, rules=RULES, region="RU")
    assert result.datasets["opportunity"]["close_date"].tolist() == ["01.02.2024", "03.04.2024"]
    assert next(f for f in result.fields if f.field == "close_date").dates.ambiguous
    assert result.changes.empty


texts = st.one_of(st.none(), st.text(max_size=30), st.sampled_from([
    " ACME inc ", "8 (383) 873-77-84", "Sales@X.Ru", "BenoÃ®t", "ИВАНОВ", "Россия", "www.X.com/a", "13.01.2024",
    "  ", "", "+1 212 555 0100 ext. 42", "o'brien", "mailto:A@B.DE"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({f: texts for f in (
    "name", "phone", "email", "website", "billing_country", "created_at", "owner")}), min_size=1, max_size=8))
def test_the_change_log_lists_exactly_the_changed_cells_and_cleaning_is_idempotent(rows):
    rows = [{"id": str(i), **r} for i, r in enumerate(rows)]
    source = frame("account", rows)
    result = clean({"account": source}, rules=RULES, region="DE")
    out = result.datasets["account"]

    assert len(out) == len(source)
    assert list(out.columns) == list(source.columns)
    changed = {(str(r), f) for f in MODEL.entity("account").field_names for r, (a, b)
               in enumerate(zip(source[f].astype(object), out[f].astype(object), strict=True))
               if not (pd.isna(a) and pd.isna(b)) and a != b}
    logged = {(int(r) - 2, f) for r, f in zip(result.changes["_row"], result.changes["field"], strict=True)}
    assert {(str(r), f) for r, f in logged} == changed
    assert len(result.changes) == len(changed)
    for _, change in result.changes.iterrows():
        at = int(change["_row"]) - 2
        assert change["before"] == source[change["field"]].iloc[at]
        assert change["after"] == out[change["field"]].iloc[at]
    # Never fills a blank.
    for f in MODEL.entity("account").field_names:
        blank = source[f].isna() | (source[f].astype(object).map(lambda v: isinstance(v, str) and not v.strip()))
        assert (out[f][blank].astype(object).fillna("").map(str.strip) == "").all()
    # Cleaning clean data changes nothing.
    again = clean({"account": out}, rules=RULES, region="DE")
    assert again.changes.empty


def test_change_log_columns():
    assert CHANGE_COLUMNS == ("_source", "_file", "_row", "entity", "id", "field", "before", "after", "rule")


# -- the samples ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(sample_datasets):
    datasets = sample_datasets
    rules = load_rules()
    return datasets, clean(datasets, rules=RULES, region=rules.phone_region), rules


def test_the_planted_formatting_dirt_is_normalised(samples):
    _, result, _ = samples
    wrong = []
    for item in TRUTH["formatting"]:
        data = result.datasets[item["entity"]]
        row = data[(data["id"] == item["legacy_id"]) & data["_file"].str.endswith(item["file"])]
        assert len(row) == 1, item
        if row[item["field"]].iloc[0] != item["expected"]:
            wrong.append((item["legacy_id"], item["field"], item["value"], row[item["field"]].iloc[0], item["expected"]))
    assert wrong == []


def test_the_change_log_accounts_for_every_changed_value(samples):
    datasets, result, _ = samples
    changed = 0
    for entity, before in datasets.items():
        after = result.datasets[entity]
        for f in MODEL.entity(entity).field_names:
            a, b = before[f].astype(object), after[f].astype(object)
            changed += int(((a != b) & ~(a.isna() & b.isna())).sum())
    assert changed == len(result.changes) > 0


def test_many_values_are_cleaned_on_every_core_with_the_same_result(samples, monkeypatch):
    datasets, result, rules = samples
    from crmmigrate import parallel

    # Every step's calls past the first 3 shared among processes, however quick.
    monkeypatch.setattr(parallel, "AT_LEAST", 4)
    monkeypatch.setattr(parallel, "SAMPLE", 3)
    monkeypatch.setattr(parallel, "SECONDS", 0.0)
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)
    pools = []
    pool = parallel.ProcessPoolExecutor
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pools.append(k) or pool(*a, **k))

    shared = clean(datasets, rules=RULES, region=rules.phone_region)

    assert pools  # the forked path ran
    pd.testing.assert_frame_equal(shared.changes, result.changes)
    pd.testing.assert_frame_equal(shared.notes, result.notes)
    for entity, frame in result.datasets.items():
        pd.testing.assert_frame_equal(shared.datasets[entity], frame)


def test_the_gates_rates_fall_only_where_cleaning_really_fixes(samples):
    datasets, result, rules = samples
    before = validate(datasets, rules=rules, thresholds=load_thresholds())
    after = validate(result.datasets, rules=rules, thresholds=load_thresholds())
    counts = lambda r: {(e.entity, c.field): c.errors for e in r.entities for c in e.checks  # noqa: E731
                        if c.field in MODEL.entity(e.entity)}
    assert {k: v for k, v in counts(after).items() if v > counts(before)[k]} == {}
    # The samples' planted errors are real ones: no cleaning makes them valid.
    planted = {(x["entity"], x["field"]): x["errors"] for x in TRUTH["error_rates"]}
    assert {k: v for k, v in counts(after).items() if v} == planted


# -- the command ----------------------------------------------------------------------------------


def test_clean_command_writes_the_dataset_the_change_log_and_the_notes(tmp_path):
    output = tmp_path / "contacts.parquet"
    result = runner.invoke(app, ["clean", f"{ROOT}/mappings/samples/contacts_crm.yaml={ROOT}/samples/legacy_crm/contacts.csv",
                                 "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "records  250 -> " in result.stdout
    changes = pd.read_csv(tmp_path / "contacts.changes.csv", dtype=str)
    assert list(changes.columns) == list(CHANGE_COLUMNS)
    assert f"changed  {len(changes)} value(s)" in result.stdout
    assert (tmp_path / "contacts.notes.csv").is_file()
    assert len(pd.read_parquet(output)) == 250
    mojibake = changes[changes["rule"].str.contains("mojibake")]
    assert ("BenoÃ®t", "Benoît") in set(zip(mojibake["before"], mojibake["after"], strict=True))


def test_clean_command_reports_a_bad_rules_file_with_its_line(tmp_path):
    rules = write(tmp_path, "types:\n  phone: [phnoe]\n")
    result = runner.invoke(app, ["clean", f"{ROOT}/mappings/samples/accounts.yaml={ROOT}/samples/legacy_crm/accounts.csv",
                                 "-o", str(tmp_path / "a.parquet"), "--rules", str(rules)])
    assert result.exit_code == 2
    assert f"{rules}, line 2: types.phone.0: unknown normaliser" in result.stderr
    assert "did you mean 'phone'" in result.stderr
    assert not (tmp_path / "a.parquet").exists()


@pytest.mark.parametrize("command", ["clean", "validate"])
@pytest.mark.parametrize(("name", "content", "message"), [
    ("raw.csv", b"Name,City\nAcme,Berlin\nInitech,Austin,extra\n", "raw.csv, line 3: not a staged CSV"),
    ("raw.csv", "Имя\nИван\n".encode("cp1251"), "raw.csv: not a staged CSV: not UTF-8"),
    ("broken.parquet", b"garbage", "broken.parquet: cannot be read as Parquet"),
])
def test_a_file_crmmigrate_did_not_write_is_bad_input_not_a_crash(tmp_path, command, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    args = [command, str(path)] + (["-o", str(tmp_path / "out.parquet")] if command == "clean" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cleaning_a_whole_in_slices_is_cleaning_it_whole(sample_datasets):
    """The cluster engine cleans an entity a slice at a time, each with the date orders decided
    over the whole (`undecided_dates` joined in order, `decide_dates`): `combine` of the slices'
    results is `clean` of the whole, change log and notes line for line."""
    from crmmigrate.clean.engine import combine, decide_dates, undecided_dates

    rules = load_cleaning(None)
    datasets = dict(sample_datasets)
    # Day-first dates that only the first rows show to be day-first: alone, a later slice's
    # 02/03/2021 could be either, and would be left as written.
    accounts = datasets["account"].copy()
    accounts["created_at"] = [f"{13 + n % 15}/01/2021" if n < 5 else f"0{1 + n % 9}/03/2021"
                              for n in range(len(accounts))]
    datasets["account"] = accounts
    whole = clean(datasets, rules=rules, region="US")
    assert whole.datasets["account"]["created_at"].iloc[-1].startswith("2021-03-")
    values: dict = {}
    slices = []
    for entity, frame in datasets.items():
        for start in range(0, max(len(frame), 1), 37):
            piece = {entity: frame.iloc[start:start + 37].reset_index(drop=True)}
            slices.append(piece)
            for key, written in undecided_dates(piece, rules).items():
                values.setdefault(key, []).extend(written)
    orders = decide_dates(values)
    assert orders[("account", "created_at")].order == "dmy"
    parts = combine([clean(piece, rules=rules, region="US", date_orders=orders) for piece in slices])
    for entity, frame in whole.datasets.items():
        pd.testing.assert_frame_equal(parts.datasets[entity], frame.reset_index(drop=True))
    pd.testing.assert_frame_equal(parts.changes, whole.changes)
    pd.testing.assert_frame_equal(parts.notes, whole.notes)
    assert parts.as_dict() == whole.as_dict()


def _cleaned_apart(datasets, rules, monkeypatch, *, apart: bool | int):
    """Cleaned with every entity's fields in forked processes (True), none (False), or those of
    the entities of `apart` records or more (the others here, in the same waves)."""
    from crmmigrate import parallel

    monkeypatch.setattr(parallel, "APART_ROWS", {True: 0, False: 1 << 62}.get(apart, apart))
    return clean({k: v.copy() for k, v in datasets.items()}, rules=rules, region="US")


def _assert_same_clean(here, apart) -> None:
    assert sorted(apart.datasets) == sorted(here.datasets)
    for name, frame in here.datasets.items():
        pd.testing.assert_frame_equal(apart.datasets[name], frame, obj=name)
    pd.testing.assert_frame_equal(apart.changes, here.changes)
    pd.testing.assert_frame_equal(apart.notes, here.notes)
    assert [f.as_dict() for f in apart.fields] == [f.as_dict() for f in here.fields]


def test_fields_cleaned_side_by_side_in_processes_clean_as_one_after_another(monkeypatch, sample_datasets):
    """A realistic set (census names and namesakes, dirty phones, dates, countries: bench's
    make_crm) and the samples, each field cleaned in a forked process, against clean here."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from realistic import make_crm

    rules = load_cleaning()
    for datasets in (make_crm(3000, seed=3).datasets(), sample_datasets):
        here = _cleaned_apart(datasets, rules, monkeypatch, apart=False)
        apart = _cleaned_apart(datasets, rules, monkeypatch, apart=True)
        assert len(here.changes) > 100
        _assert_same_clean(here, apart)
        # The entities' waves side by side: the larger ones' fields in processes together, the
        # smaller ones' here in the same waves.
        sizes = sorted(len(frame) for frame in datasets.values())
        assert sizes[0] < sizes[-1]
        _assert_same_clean(here, _cleaned_apart(datasets, rules, monkeypatch, apart=sizes[len(sizes) // 2]))


def test_a_field_is_cleaned_side_by_side_only_with_fields_it_does_not_read():
    """Waves of fields cleaned side by side: a field that reads the record's country (a phone)
    after the country field is cleaned in a later wave, on the countries as cleaned; before it,
    beside it (it reads the countries as they were, as one field after another does)."""
    from crmmigrate.clean.engine import _waves

    account = MODEL.entity("account")
    field = {f.name: f for f in account.fields}
    assert _waves(account, [field[n] for n in ("name", "phone", "billing_country", "website")]) == [[0, 1, 2], [3]]
    assert _waves(account, [field[n] for n in ("billing_country", "phone")]) == [[0], [1]]
    assert _waves(account, [field[n] for n in ("name", "phone", "email")]) == [[0, 1, 2]]
    lead = MODEL.entity("lead")  # no country field: every field in one wave
    assert _waves(lead, [f for f in lead.fields if f.name != "id"]) == [list(range(len(lead.fields) - 1))]
