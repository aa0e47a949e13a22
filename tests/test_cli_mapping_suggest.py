"""`crmmigrate mapping suggest` as a user runs it: the draft file, the summary, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.mapping.config import load_mapping

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def contacts_csv(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Kontakt-Nr;Vorname;Nachname;E-Mail;Telefon;Erstellt;Bemerkung\n"
        "K1;Anna;Schmidt;anna@firma.de;+49 30 1234567;25.03.2021;VIP\n"
        "K2;Jörg;Müller;j.mueller@web.de;030 7654321;01.04.2021;\n"
        "K3;Олег;Иванов;oleg@mail.ru;+7 495 123-45-67;13.12.2020;звонить утром\n",
        encoding="utf-8",
    )
    return path


def table_rows(output: str) -> list[list[str]]:
    rows = []
    for line in output.splitlines():
        if line.startswith("│"):
            rows.append([c.strip() for c in line.strip("│").split("│")])
    return rows


def test_suggest_writes_a_draft_that_loads_and_prints_a_summary(contacts_csv, tmp_path):
    output = tmp_path / "draft.yaml"

    result = run("mapping", "suggest", str(contacts_csv), "--entity", "contact", "-o", str(output))

    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [
        ["id", "Kontakt-Nr", "0.99"],
        ["first_name", "Vorname", "0.95"],
        ["last_name", "Nachname", "0.95"],
        ["email", "E-Mail", "0.99"],
        ["phone", "Telefon", "0.99"],
        ["created_at", "Erstellt", "0.99"],
    ]
    assert "custom   1: Bemerkung" in result.stdout
    assert f"written  {output}" in result.stdout
    assert result.stderr == ""
    mapping = load_mapping(output)
    assert mapping.entity == "contact"
    assert mapping.fields["email"].columns == ["E-Mail"]
    assert [s.name for s in mapping.fields["email"].transforms] == ["strip", "lower"]
    assert mapping.fields["created_at"].transforms[1].datetime.formats == ["%d.%m.%Y"]
    assert mapping.custom == ["Bemerkung"]


def test_without_output_stdout_is_the_yaml_alone(contacts_csv):
    result = run("mapping", "suggest", str(contacts_csv), "--entity", "contact")

    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["entity"] == "contact"
    assert data["fields"]["id"] == {"from": "Kontakt-Nr", "transforms": ["strip"]}
    assert result.stdout.startswith(f"# Draft mapping: {contacts_csv} -> contact\n")
    # The summary goes to stderr, so `> draft.yaml` captures the draft only.
    assert table_rows(result.stderr)[0] == ["id", "Kontakt-Nr", "0.99"]


def test_source_options_reach_the_reader_and_the_draft(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("ID|Email\n1|a@x.de\n2|b@y.de\n", encoding="utf-8")
    output = tmp_path / "draft.yaml"

    result = run(
        "mapping", "suggest", str(path), "--entity", "lead", "--delimiter", "|", "-o", str(output)
    )

    assert result.exit_code == 0, result.output
    assert load_mapping(output).source.delimiter == "|"
    assert load_mapping(output).fields["email"].columns == ["Email"]


def test_a_sample_workbook_records_its_sheet(tmp_path):
    output = tmp_path / "reps.yaml"
    result = run(
        "mapping", "suggest", str(SAMPLES / "sales_reps" / "contacts.xlsx"), "--entity", "contact",
        "-o", str(output),
    )
    assert result.exit_code == 0, result.output
    mapping = load_mapping(output)
    assert mapping.source.sheet == "Contacts"
    assert mapping.fields["account_id"].columns == ["Acct #"]
    assert "Company" in mapping.custom


def test_unknown_entity_exits_2_with_a_suggestion(contacts_csv, tmp_path):
    output = tmp_path / "draft.yaml"
    result = run("mapping", "suggest", str(contacts_csv), "--entity", "contcat", "-o", str(output))

    assert result.exit_code == 2
    assert result.stderr == (
        "crmmigrate: error: unknown entity 'contcat' (did you mean 'contact'?); entities: "
        "account, contact, lead, opportunity, opportunity_contact_role, case, activity.\n"
    )
    assert result.stdout == ""
    assert not output.exists()


def test_missing_source_exits_2(tmp_path):
    missing = tmp_path / "nope.csv"
    result = run("mapping", "suggest", str(missing), "--entity", "contact")

    assert result.exit_code == 2
    assert result.stderr == f"crmmigrate: error: {missing}: no such file.\n"
    assert result.stdout == ""


def test_missing_entity_option_is_a_usage_error(contacts_csv):
    result = run("mapping", "suggest", str(contacts_csv))

    assert result.exit_code == 2
    assert "Missing option '--entity'" in result.stderr


def test_an_existing_draft_is_not_overwritten_without_force(contacts_csv, tmp_path):
    output = tmp_path / "draft.yaml"
    output.write_text("# my edits\n", encoding="utf-8")

    result = run("mapping", "suggest", str(contacts_csv), "--entity", "contact", "-o", str(output))

    assert result.exit_code == 2
    assert result.stderr == (
        f"crmmigrate: error: {output} exists; a draft would overwrite it. Choose another "
        "--output, or pass --force to replace it.\n"
    )
    assert output.read_text(encoding="utf-8") == "# my edits\n"

    forced = run(
        "mapping", "suggest", str(contacts_csv), "--entity", "contact", "-o", str(output), "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert load_mapping(output).entity == "contact"


def test_output_must_be_yaml(contacts_csv, tmp_path):
    result = run(
        "mapping", "suggest", str(contacts_csv), "--entity", "contact", "-o", str(tmp_path / "d.json")
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"crmmigrate: error: cannot write {str(tmp_path / 'd.json')!r}: a mapping file ends in "
        ".yaml or .yml.\n"
    )


def test_mapping_group_and_suggest_have_help():
    group = run("mapping", "--help")
    assert group.exit_code == 0
    assert "suggest" in group.stdout
    command = run("mapping", "suggest", "--help")
    assert command.exit_code == 0
    assert "Draft a mapping file for SOURCE" in command.stdout
    for option in ("--entity", "--output", "--force", "--verbose", "--encoding", "--sheet"):
        assert option in command.stdout


@pytest.fixture
def cases_csv(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "CaseNo,Title,Status,Priority\n"
        "C1,printer jam,New,Urgent\nC2,no login,New,Urgent\nC3,slow VPN,Closed,P3\n"
        "C4,broken screen,New,high\n",
        encoding="utf-8",
    )
    return path


def test_suggest_lists_picklist_values_the_rules_do_not_allow(cases_csv):
    result = run("mapping", "suggest", str(cases_csv), "--entity", "case")

    assert result.exit_code == 0, result.output
    draft = result.stdout[: result.stdout.index("┏")] if "┏" in result.stdout else result.stdout
    assert (
        "  priority:\n"
        "    from: Priority\n"
        "    transforms:\n"
        "      - strip\n"
        "      - map:\n"
        "          values:\n"
        "            # allowed: Low, Medium, High, Critical\n"
        "            high: High\n"
        "            Urgent: Urgent  # FILL IN: 2 row(s), not an allowed value\n"
        "            P3: P3  # FILL IN: 1 row(s), not an allowed value\n"
    ) in draft
    assert "  subject:\n    from: Title\n" in draft


def test_suggest_takes_the_picklist_choices_from_rules(cases_csv, tmp_path):
    rules = tmp_path / "validation.yaml"
    rules.write_text(
        "entities:\n  case:\n    fields:\n      priority: {choices: [Urgent, P3, High]}\n",
        encoding="utf-8",
    )

    result = run("mapping", "suggest", str(cases_csv), "--entity", "case", "--rules", str(rules))

    assert result.exit_code == 0, result.output
    assert "    transforms: [strip, {map: {values: {high: High}}}]\n" in result.stdout
    assert "FILL IN" not in result.stdout


def test_suggest_with_a_bad_rules_file_is_a_config_error(cases_csv, tmp_path):
    rules = tmp_path / "validation.yaml"
    rules.write_text("entities:\n  kase: {}\n", encoding="utf-8")

    result = run("mapping", "suggest", str(cases_csv), "--entity", "case", "--rules", str(rules))

    assert result.exit_code == 2
    assert "unknown entity 'kase' (did you mean 'case'?)" in result.output


def test_a_missing_picklist_field_lists_the_values_the_rules_allow(cases_csv):
    result = run("mapping", "suggest", str(cases_csv), "--entity", "case")

    assert result.exit_code == 0, result.output
    assert "  #   origin (picklist, one of Phone, Email, Web, Chat, Social, In Person)\n" in result.stdout
