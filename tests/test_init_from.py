"""`crmmigrate init DIR --from EXPORTS`: a project drafted from exports that are not the samples."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.config import BadConfig
from crmmigrate.init_from import guess_region, init_from
from crmmigrate.migration import load_migration

runner = CliRunner()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def entry(project, name: str):
    return next(s for s in project.sources if s.name == name)


# -- the entity ----------------------------------------------------------------------------------


def test_the_entity_comes_from_the_name_in_several_languages(tmp_path: Path):
    exports = tmp_path / "exports"
    write(exports / "Kunden.csv", "Nr;Firma;Ort\n1;Acme GmbH;Berlin\n2;Beta AG;Köln\n")
    write(exports / "CRM_Contacts_2019.csv", "Id,First,Last\n1,Anna,Schmidt\n")
    write(exports / "deals.csv", "Deal Id,Title,Amount\n1,Big one,100\n")
    write(exports / "tickets.jsonl", '{"id": "1", "subject": "Broken", "status": "New"}\n')
    write(exports / "deal_contact_roles.csv", "Deal,Contact,Role\n1,1,Decision Maker\n")

    project = init_from(tmp_path / "p", [str(exports)])

    assert {s.name: s.entity for s in project.sources} == {
        "Kunden": "account", "CRM_Contacts_2019": "contact", "deals": "opportunity", "tickets": "case",
        "deal_contact_roles": "opportunity_contact_role"}
    assert entry(project, "Kunden").entity_why.startswith("the name 'Kunden'; headers found: Firma")


def test_without_a_telling_name_the_headers_decide(tmp_path: Path):
    export = write(tmp_path / "export1.csv", "Kunden-Nr;Vorname;Nachname;Abteilung;E-Mail;Mobil\n"
                   "K1;Anna;Schmidt;Einkauf;a@x.de;0151 23456789\nK2;Paul;Bauer;IT;p@x.de;0160 2345678\n")

    project = init_from(tmp_path / "p", [str(export)])

    assert project.sources[0].entity == "contact"
    assert project.sources[0].entity_why.startswith("the headers: Kunden-Nr, Vorname, Nachname, E-Mail")


def test_an_export_whose_entity_cannot_be_told_is_left_for_the_user_and_said(tmp_path: Path):
    export = write(tmp_path / "data.csv", "a;b\n1;2\n3;4\n")

    result = runner.invoke(app, ["init", str(tmp_path / "p"), "--from", str(export)])

    assert result.exit_code == 0, result.output
    assert "data.csv: the entity could not be told (the name 'data' says nothing; the headers fit" in result.output
    assert "--entity data.csv=ENTITY" in result.output
    mapping = (tmp_path / "p" / "mappings" / "data.yaml").read_text(encoding="utf-8")
    assert "\nentity: FILL IN\n" in mapping
    # Never dropped: the source is in migration.yaml, and the config says what is missing.
    assert "location: ../data.csv" in (tmp_path / "p" / "migration.yaml").read_text(encoding="utf-8")
    with pytest.raises(BadConfig, match="data.yaml"):
        load_migration(tmp_path / "p" / "migration.yaml")

    again = runner.invoke(app, ["init", str(tmp_path / "p"), "--force", "--from", str(export),
                                "--entity", "data.csv=lead"])
    assert again.exit_code == 0, again.output
    assert load_migration(tmp_path / "p" / "migration.yaml").sources[0].entity == "lead"


# -- the phone region ----------------------------------------------------------------------------


def test_german_numbers_read_as_de():
    guess = guess_region(Counter({"030 12345678": 3, "089 2345678": 2, "0221 4567890": 1, "030 12": 1}), None)
    assert guess.region == "DE"
    assert guess.why.startswith("6 of 7 numbers without a country code are valid in DE")


def test_new_york_numbers_read_as_us_not_as_the_german_numbers_their_digits_also_make():
    phones = Counter({"(212) 736-5000": 1, "(718) 555-0142": 1, "(646) 321-7788": 1, "(917) 402-1234": 1})
    guess = guess_region(phones, None)
    assert guess.region == "US"
    assert "4 written as US writes them" in guess.why


def test_numbers_all_written_with_their_code_need_no_region():
    phones = Counter({"+49 30 12345678": 4, "+33 1 42 68 53 00": 2, "+1 212 736 5000": 1, "0044 20 7946 0958": 1})
    guess = guess_region(phones, None)
    assert guess.region is None
    assert guess.why == "every number has its country code; numbers with +: DE 4, FR 2, US 1"


def test_a_country_column_decides_between_plans_that_read_the_numbers_alike():
    # Austrian and German plans both take these digits; the country column says Austria.
    phones = Counter({"01 5123456": 1, "0316 812345": 1, "0662 871234": 1})
    guess = guess_region(phones, ("Land", Counter({"Österreich": 5, "Deutschland": 1})))
    assert guess.region == "AT"
    assert "country column 'Land' says AT for 5 of 6 records" in guess.why


def test_local_numbers_without_their_area_code_are_read_in_no_region():
    """Chicago's listings write 3865286: +49 3865286 is a valid German number, but no German
    writes a number without its leading 0, and no US number has 7 digits."""
    guess = guess_region(Counter({"3865286": 5, "2859902": 3, "5346361": 2, "9287085": 1}), None)
    assert guess.region is None
    assert guess.why.startswith("not guessed: no region reads most of the 11 numbers without a country code")


def test_no_region_when_most_numbers_fit_none():
    guess = guess_region(Counter({"12": 1, "0 0 0 0 0": 1, "99999": 3}), None)
    assert guess.region is None
    assert guess.why == "not guessed: no region reads most of the 4 numbers without a country code (most: none)"


def test_the_region_is_written_per_source_with_why(tmp_path: Path):
    write(tmp_path / "x" / "kontakte.csv", "Id;Vorname;Nachname;Telefon\n" + "".join(
        f"{i};A;B;0{a} {n}\n" for i, (a, n) in enumerate([("30", "12345678"), ("89", "2345678"), ("40", "3456789")])),
        encoding="cp1252")
    write(tmp_path / "x" / "leads.csv", "Id,First,Last,Company,Phone\n1,Ann,Lee,Acme,(212) 736-5000\n"
                                         "2,Bob,Ray,Beta,(718) 555-0142\n")

    init_from(tmp_path / "p", [str(tmp_path / "x")])

    text = (tmp_path / "p" / "migration.yaml").read_text(encoding="utf-8")
    assert "    phone_region: DE    # 3 of 3 numbers without a country code are valid in DE" in text
    assert "    phone_region: US    # 2 of 2 numbers without a country code are valid in US" in text
    migration = load_migration(tmp_path / "p" / "migration.yaml")
    assert migration.phone_regions == {"kontakte": "DE", "leads": "US"}


# -- the project ----------------------------------------------------------------------------------


def test_migration_yaml_lists_every_source_with_its_detected_options_and_loads(tmp_path: Path):
    exports = tmp_path / "exports"
    write(exports / "accounts.csv", "\ufeffKunden-Nr;Firma;Land\nK1;Acme GmbH;Deutschland\nK2;Beta AG;Österreich\n")
    write(exports / "contacts.txt", "Id\tFirst\tLast\tAccount\n1\tAnna\tSchmidt\tK1\n", encoding="cp1251")
    database = exports / "callcentre.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE calls (call_id INTEGER PRIMARY KEY, subject TEXT, called_at TEXT)")
        db.execute("INSERT INTO calls VALUES (1, 'Follow-up', '2024-01-02')")
    write(exports / "notes.docx", "not an export")

    result = runner.invoke(app, ["init", str(tmp_path / "p"), "--from", str(exports)])

    assert result.exit_code == 0, result.output
    assert "notes.docx: skipped: not a format crmmigrate reads" in result.output
    config = yaml.safe_load((tmp_path / "p" / "migration.yaml").read_text(encoding="utf-8"))
    by_mapping = {Path(s["mapping"]).stem: s for s in config["sources"]}
    assert by_mapping["accounts"] | {} == {"location": "../exports/accounts.csv", "mapping": "mappings/accounts.yaml",
                                          "encoding": "utf-8-sig", "delimiter": ";", "header_row": 1}
    assert by_mapping["contacts"]["delimiter"] == "\t"
    assert by_mapping["calls"]["location"] == "sqlite:///../exports/callcentre.sqlite"
    assert by_mapping["calls"]["table"] == "calls"
    migration = load_migration(tmp_path / "p" / "migration.yaml")
    assert [(s.name, s.entity) for s in migration.sources] == [
        ("accounts", "account"), ("contacts", "contact"), ("calls", "activity")]
    # No export or rules copied: the project is the config and the drafts.
    written = sorted(str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*") if p.is_file())
    assert written == ["mappings/accounts.yaml", "mappings/calls.yaml", "mappings/contacts.yaml", "migration.yaml"]


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("broken.xlsx", b"this is no workbook", "broken.xlsx"),
    ("cases.json", b'{"cases": [{"id": 1}, {"id": ', "cases.json"),
])
def test_an_unreadable_export_stops_with_its_name(tmp_path: Path, name: str, content: bytes, expected: str):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / name).write_bytes(content)

    result = runner.invoke(app, ["init", str(tmp_path / "p"), "--from", str(tmp_path / "x")])

    assert result.exit_code == 2, result.output
    assert result.output.startswith("crmmigrate: error: ") and expected in result.output
    assert "init stops rather than leave an export out: fix it, or give --from the other exports" in result.output
    assert "Traceback" not in result.output


def test_bad_from_and_entity_options_exit_2(tmp_path: Path):
    missing = runner.invoke(app, ["init", str(tmp_path / "p"), "--from", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output
    export = write(tmp_path / "data.csv", "a;b\n1;2\n")
    unknown = runner.invoke(app, ["init", str(tmp_path / "q"), "--from", str(export), "--entity", "data.csv=deal"])
    assert unknown.exit_code == 2
    assert "--entity: unknown entity 'deal'" in unknown.output
    stray = runner.invoke(app, ["init", str(tmp_path / "r"), "--from", str(export), "--entity", "other.csv=lead"])
    assert stray.exit_code == 2
    assert "--entity other.csv=lead: no such export" in stray.output


def test_two_exports_of_one_name_are_told_apart_by_their_folder(tmp_path: Path):
    write(tmp_path / "crm" / "contacts.csv", "Id,First,Last\n1,Anna,Schmidt\n")
    write(tmp_path / "sales_reps" / "contacts.csv", "No.,First Name,Last Name\n1,Paul,Bauer\n")

    project = init_from(tmp_path / "p", [str(tmp_path / "crm"), str(tmp_path / "sales_reps")])

    assert sorted(s.name for s in project.sources) == ["contacts", "sales_reps_contacts"]
    assert [s.name for s in load_migration(project.config).sources] == ["contacts", "sales_reps_contacts"]
