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
    assert "FAIL opportunity.past_due_share = 0.1667, over its max 0.01" in result.output
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
    assert "pass opportunity.past_due_share = 0.1667, at most 0.2" in result.output
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
