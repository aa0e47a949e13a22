"""`crmmigrate report` as a user runs it: exit codes, the console summary, JSON and JUnit."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app
from tests.reporting_target import AS_OF, planted_target

runner = CliRunner()


@pytest.fixture
def target(request, tmp_path):
    with planted_target(request, "sqlite", tmp_path) as url:
        yield url


def invoke(*args: str):
    return runner.invoke(app, ["report", *args, "--as-of", AS_OF.isoformat()])


def test_the_gate_fails_on_the_shipped_limits_and_json_holds_the_whole_report(target, tmp_path):
    result = invoke(target, "--json", str(tmp_path / "report.json"))

    assert result.exit_code == 1, result.output
    assert "FAIL opportunity.past_due_share = 16.7%, over its max 1.0%" in result.output
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["as_of"] == "2025-06-01" and data["passed"] is False
    pipeline = next(s for s in data["sections"] if s["key"] == "pipeline")
    past_due = next(f for f in pipeline["findings"] if f["key"] == "pipeline.past_due")
    assert (past_due["count"], past_due["of"], past_due["rate"]) == (2, 12, 2 / 12)
    assert past_due["examples"][0] == {"legacy_source": "legacy", "legacy_id": "O14", "name": "Deal 14",
                                       "stage": "Clsoed Won", "close_date": "2025-02-01", "owner": "Ann"}
    gate = {c["metric"]: c for c in data["gate"]}
    assert gate["opportunity.past_due_share"] == {"metric": "opportunity.past_due_share", "value": 2 / 12,
                                                  "limit": 0.01, "op": "max", "passed": False}


def test_fail_on_from_the_command_line_replaces_a_limit_in_the_metrics_direction(target):
    result = invoke(target, "--fail-on", "opportunity.past_due_share=20%")
    assert "pass opportunity.past_due_share = 16.7%, at most 20.0%" in result.output
    result = invoke(target, "--fail-on", "opportunity.past_due_share=20%", "--fail-on",
                    "opportunity.open_count=13")
    assert result.exit_code == 1
    assert "FAIL opportunity.open_count = 12, under its min 13" in result.output


def test_an_unknown_metric_is_bad_usage_with_a_guess(target):
    result = invoke(target, "--fail-on", "opportunity.past_due=1%")
    assert result.exit_code == 2
    assert "unknown metric 'opportunity.past_due' (did you mean 'opportunity.past_due_share'?)" in result.output


def test_json_to_stdout_keeps_the_summary_on_stderr(target):
    result = invoke(target, "--json", "-")
    assert json.loads(result.stdout)["target"] == target
    assert "report on" in result.stderr


def test_a_missing_sqlite_file_is_not_created(tmp_path):
    missing = tmp_path / "nothing.db"
    result = invoke(f"sqlite:///{missing}")
    assert result.exit_code == 2
    assert "no such database file" in result.output
    assert not missing.exists()


def test_a_database_that_is_no_target_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE account (id INTEGER)")
    result = invoke(f"sqlite:///{path}")
    assert result.exit_code == 2
    assert "this database is not a crmmigrate target: table 'account' has no column 'legacy_source'" in result.output


def test_the_report_never_writes_to_the_target(target, monkeypatch):
    import crmmigrate.reporting as reporting

    def sneaky(context):
        context.connection.exec_driver_sql("DELETE FROM account")
        raise AssertionError("the delete went through")

    monkeypatch.setattr(reporting, "SECTIONS", (("sneaky", sneaky),))
    result = invoke(target)
    assert result.exit_code == 3
    assert "attempt to write a readonly database" in result.output


def test_the_console_summary_gives_each_sections_findings_and_metrics(target):
    result = invoke(target, "--fail-on", "opportunity.past_due_share=20%", "--fail-on", "account.hierarchy_cycles=3",
                    "--fail-on", "opportunity.contact_role_coverage=20%")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "report on " + target + " (as of 2025-06-01," in out
    for title in ("Pipeline", "Accounts", "Contacts and contact roles", "Cases and activities", "Leads",
                  "Picklist noise", "Dates out of order"):
        assert f"\n{title}" in out
    assert "│Accounts in a parent cycle (their own ancestor)" in out and "│ legacy:A7" in out
    assert "  account.hierarchy_depth 3; account.hierarchy_cycles 3; account.parent_missing_share 20.0%;" in out
    assert "PASSED: all 4 gate checks" in out


def test_an_empty_target_reports_nothing_to_flag_and_passes(tmp_path):
    from crmmigrate.load import connect, init_target

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    init_target(connect(url))
    result = invoke(url)
    assert result.exit_code == 0, result.output
    assert "Pipeline: no records to judge" in result.stdout
    assert "Picklist noise: nothing to flag" in result.stdout
    # Nothing to compute the gate's metrics on: not required, so they pass.
    assert "pass opportunity.contact_role_coverage: not computed (no records to judge it on)" in result.stdout


def test_a_required_metric_that_cannot_be_computed_fails(tmp_path):
    from crmmigrate.load import connect, init_target

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    init_target(connect(url))
    rules = tmp_path / "reports.yaml"
    rules.write_text("fail_on:\n  opportunity.contact_role_coverage: {min: 0.5, required: true}\n", encoding="utf-8")
    result = invoke(url, "--rules", str(rules))
    assert result.exit_code == 1
    assert "FAIL opportunity.contact_role_coverage: not computed (no records to judge it on), but required" \
        in result.stdout


def test_a_misspelt_metric_in_the_rules_names_file_line_and_the_metrics(target, tmp_path):
    rules = tmp_path / "reports.yaml"
    rules.write_text("examples: 3\nfail_on:\n  opportunity.contact_roles_coverage: {min: 0.5}\n", encoding="utf-8")
    result = invoke(target, "--rules", str(rules))
    assert result.exit_code == 2
    assert (f"{rules}, line 3: fail_on.opportunity.contact_roles_coverage: unknown metric "
            "'opportunity.contact_roles_coverage' (did you mean 'opportunity.contact_role_coverage'?); the metrics "
            "are: opportunity.open_count, ") in result.output


def test_a_misspelt_key_in_the_rules_names_file_and_line(target, tmp_path):
    rules = tmp_path / "reports.yaml"
    rules.write_text("opportunity:\n  closed_won: [Won]\n  quarter_end_dayz: 10\n", encoding="utf-8")
    result = invoke(target, "--rules", str(rules))
    assert result.exit_code == 2
    assert f"{rules}, line 3: unknown key 'quarter_end_dayz' (did you mean 'quarter_end_days'?)" in result.output


def test_a_bad_as_of_date_is_bad_usage(target):
    result = runner.invoke(app, ["report", target, "--as-of", "31.01.2025"])
    assert result.exit_code == 2
    assert "--as-of '31.01.2025': not a date; write it as YYYY-MM-DD" in result.output


def test_config_gives_the_target_and_the_projects_rules(tmp_path, request):
    project = tmp_path / "project"
    (project / "rules").mkdir(parents=True)
    with planted_target(request, "sqlite", project):
        (project / "rules" / "reports.yaml").write_text("fail_on: {}\n", encoding="utf-8")
        (project / "rules" / "validation.yaml").write_text(
            "entities:\n  opportunity:\n    fields:\n      stage: {choices: [negotiation, Closed Won]}\n",
            encoding="utf-8")
        (project / "migration.yaml").write_text(
            "target: sqlite:///crm.db\nsources:\n  - {location: a.csv, mapping: m.yaml}\n",
            encoding="utf-8")
        (project / "a.csv").write_text("id,name\n1,x\n", encoding="utf-8")
        (project / "m.yaml").write_text("entity: account\nfields:\n  id: id\n  name: name\n", encoding="utf-8")
        result = invoke("--config", str(project / "migration.yaml"), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output  # the project's rules have no gate
    assert "PASSED: no gate checks (fail_on is empty)" in result.stdout
    # The project's validation choices say which spelling is meant.
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    stage = next(f for s in data["sections"] for f in s["findings"] if f["key"] == "picklists.opportunity.stage")
    assert {e["value"]: e["variant_of"] for e in stage["examples"]} == {"Clsoed Won": "Closed Won",
                                                                         "Negotiation": "negotiation"}


def test_a_password_in_the_url_is_never_shown(tmp_path):
    result = invoke("postgresql+psycopg://someone:s3cret-pw@127.0.0.1:1/nothing")
    assert result.exit_code == 2
    assert "s3cret-pw" not in result.output
    assert "cannot connect" in result.output


def test_junit_has_a_testcase_per_gate_check_and_per_error_finding(target, tmp_path):
    import xml.etree.ElementTree as ET

    invoke(target, "--junit", str(tmp_path / "report.xml"))
    root = ET.parse(tmp_path / "report.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    gate = suites["crmmigrate.report.gate"]
    assert [c.get("name") for c in gate.iter("testcase")] == [
        "opportunity.contact_role_coverage", "opportunity.past_due_share", "account.hierarchy_cycles",
        "reconciliation.unexplained_lines"]
    assert (gate.get("tests"), gate.get("failures")) == ("4", "3")  # not reconciled: passes, not computed
    findings = suites["crmmigrate.report.findings"]
    assert [c.get("name") for c in findings.iter("testcase")] == ["accounts.hierarchy_cycles"]
    failure = next(findings.iter("failure"))
    assert failure.get("message") == ("accounts.hierarchy_cycles: 3 of 10 (30.0%) Accounts in a parent cycle "
                                      "(their own ancestor)")
    assert "legacy_id='A7'" in failure.text
    assert (root.get("tests"), root.get("failures")) == ("5", "4")
