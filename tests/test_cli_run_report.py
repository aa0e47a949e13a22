"""`crmmigrate run` writes the report after the load into its run directory: report.html and
report.json with the samples' reconciliation all explained by the ledger, listed in run.json
with the report's gate; `--no-report` writes none; an error of the report's own is a warning
and the run stands."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.scaffold import init_project

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path / "project")
    return tmp_path / "project"


def run(project: Path, *options: str) -> tuple[Path, dict, str]:
    """`crmmigrate run` on the project (its gates forced, so every entity loads): the run
    directory, its run.json and the output; it must exit 0."""
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing", *options])
    assert result.exit_code == 0, result.output
    run_dir = project / "runs" / result.stdout.split()[1]
    return run_dir, json.loads((run_dir / "run.json").read_text(encoding="utf-8")), result.output


def test_run_writes_the_report_with_the_samples_reconciled(project):
    run_dir, log, output = run(project)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    lines = report["reconciliation"]
    assert {line["aggregate"] for line in lines} == {
        "pipeline amount by stage", "opportunities by stage", "accounts by owner", "contacts by owner",
        "opportunities by owner", "cases by status"}
    assert [line for line in lines if not line["ok"]] == []
    # Every row the ledger counts is on the legacy side: the cases' 201 extracted rows, the one
    # extract could not read among them.
    cases = {line["key"]: line for line in lines if line["aggregate"] == "cases by status"}
    assert sum(line["legacy"] for line in cases.values()) == 201
    assert cases["(unreadable)"]["explained"]["rejected"] == 1
    accounts = [line for line in lines if line["aggregate"] == "accounts by owner"]
    assert sum(line["explained"]["merged"] for line in accounts) == 20  # the ledger's 20 merged accounts
    assert (run_dir / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    assert log["files"]["report_json"] == str(run_dir / "report.json")
    assert log["files"]["report_html"] == str(run_dir / "report.html")
    assert log["report"]["passed"] is report["passed"]
    failed = [check["metric"] for check in report["gate"] if not check["passed"]]
    assert [line.split()[0] for line in log["report"]["failed"]] == failed
    assert (log["report"]["reconciled"], log["report"]["unexplained"], log["report"]["error"]) == (len(lines), [], None)
    assert f"report: {run_dir / 'report.html'}" in " ".join(output.split())
    assert f"reconciliation: all {len(lines)} line(s) explained by the ledger" in " ".join(output.split())


def test_no_report_writes_none(project):
    run_dir, log, output = run(project, "--no-report")
    assert not (run_dir / "report.json").exists() and not (run_dir / "report.html").exists()
    assert log["report"] is None and "report_json" not in log["files"]
    assert "report:" not in output


def test_an_error_of_the_report_is_a_warning_and_the_run_stands(project, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the reconciliation broke")

    monkeypatch.setattr("crmmigrate.reporting.reconcile.reconcile", broken)
    run_dir, log, output = run(project)
    assert log["status"] == "done" and log["ledger_ok"] is True
    assert log["report"]["error"] == "RuntimeError: the reconciliation broke"
    assert not (run_dir / "report.json").exists()
    said = " ".join(output.split())
    assert "warning: the report after the load was not written: RuntimeError: the reconciliation broke" in said
    assert f"crmmigrate report TARGET --legacy {run_dir}" in said


def test_report_legacy_reconciles_a_run_after_it_and_flags_a_row_deleted_by_hand(project, tmp_path):
    run_dir, _log, _output = run(project, "--no-report")
    url = f"sqlite:///{project / 'migration.db'}"
    with sqlite3.connect(project / "migration.db") as db:  # a hand deletes a case after the load
        db.execute("DELETE FROM \"case\" WHERE legacy_id = (SELECT min(legacy_id) FROM \"case\" WHERE status = 'New')")
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["report", url, "--legacy", str(run_dir), "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    said = " ".join(result.output.split())
    lines = json.loads(out.read_text(encoding="utf-8"))["reconciliation"]
    flagged = [(line["aggregate"], line["key"], line["unexplained"]) for line in lines if not line["ok"]]
    assert flagged == [("cases by status", "New", 1)]
    assert f"reconciliation with {run_dir}: 1 of {len(lines)} line(s) unexplained" in said
    assert "warning: reconciliation: cases by status 'New': legacy 71, target 70; 1 unexplained." in said


def test_an_unexplained_difference_holds_the_reports_gate(project, tmp_path):
    """With every other limit relaxed, the reconciliation alone decides: the run as loaded
    passes, and one case deleted by hand after it makes `report --legacy` exit 1, naming
    reconciliation.unexplained_lines in the gate (so CI can hold a cutover on it)."""
    run_dir, _log, _output = run(project, "--no-report")
    url = f"sqlite:///{project / 'migration.db'}"
    relaxed = ["--fail-on", "opportunity.past_due_share=100%", "--fail-on", "account.hierarchy_cycles=1000",
               "--fail-on", "opportunity.contact_role_coverage=0"]
    as_loaded = runner.invoke(app, ["report", url, "--legacy", str(run_dir), *relaxed])
    assert as_loaded.exit_code == 0, as_loaded.output
    with sqlite3.connect(project / "migration.db") as db:
        db.execute("DELETE FROM \"case\" WHERE legacy_id = (SELECT min(legacy_id) FROM \"case\")")
    out = tmp_path / "report.json"
    deleted = runner.invoke(app, ["report", url, "--legacy", str(run_dir), *relaxed, "--json", str(out)])
    assert deleted.exit_code == 1, deleted.output
    gate = {c["metric"]: c for c in json.loads(out.read_text(encoding="utf-8"))["gate"]}
    assert gate["reconciliation.unexplained_lines"]["value"] == 1
    assert not gate["reconciliation.unexplained_lines"]["passed"]
    assert [m for m, c in gate.items() if not c["passed"]] == ["reconciliation.unexplained_lines"]


def test_report_legacy_that_is_no_run_directory_is_refused(project, tmp_path):
    result = runner.invoke(app, ["report", f"sqlite:///{tmp_path / 'nothing.db'}", "--legacy", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {tmp_path} is not a run directory: it has no run.json." in " ".join(result.output.split())



def test_the_report_after_the_load_judges_picklists_by_the_configs_validation_rules(project, monkeypatch):
    import crmmigrate.reporting as reporting
    from crmmigrate.validate import load_rules

    given = {}
    build = reporting.build_report

    def spy(engine, **options):
        given.update(options)
        return build(engine, **options)

    monkeypatch.setattr(reporting, "build_report", spy)
    custom = project / "custom" / "validation.yaml"  # the config names its own rules, elsewhere
    custom.parent.mkdir()
    custom.write_text((project / "rules" / "validation.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    config = project / "migration.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("rules: rules/validation.yaml",
                                                                 "rules: custom/validation.yaml"), encoding="utf-8")
    run(project)
    assert given["validation"] == load_rules(custom)


def test_a_reader_that_goes_does_not_cost_the_report_files(project, tmp_path):
    """`crmmigrate report URL -o r.html | head -2`: head closes the pipe after two lines. The
    command used to die at its next line printed (BrokenPipeError), before it wrote any file,
    exit 1 with nothing said; now what it prints after is dropped, the files are written and the
    exit code is the gate's (the samples fail it: 1), the same as `validate ... | head`."""
    import subprocess
    import sys

    run(project, "--no-report")
    url = f"sqlite:///{project / 'migration.db'}"
    crmmigrate = [sys.executable, "-c", "from crmmigrate.cli import main; main()"]
    for command, files in (
        (["report", url, "-o", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")],
         ["r.html", "r.json"]),
        (["validate", "--config", str(project / "migration.yaml"), "--json", str(tmp_path / "v.json")], ["v.json"]),
    ):
        writer = subprocess.Popen([*crmmigrate, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert writer.stdout is not None
        writer.stdout.readline()
        writer.stdout.close()  # the reader goes after one line, as `head -1` does
        assert writer.wait(timeout=300) == 1
        for name in files:
            assert (tmp_path / name).stat().st_size > 0, name


def test_the_report_is_written_beside_the_ledger_s_reconciliation(project, monkeypatch):
    # Both only read the target: the report on a thread of its own while the run reconciles its
    # ledger, and a run whose reconciliation fails still has its report finished before it ends.
    import crmmigrate.run as run_module

    seen: dict[str, object] = {}
    writing, reconciling = run_module._write_report, run_module._reconcile

    def report(*args, **kwargs):
        seen["report thread"] = threading.current_thread().name
        started.set()
        try:
            return writing(*args, **kwargs)
        finally:
            seen["report done"] = True

    def reconcile(*args, **kwargs):
        seen["reconcile thread"] = threading.current_thread().name
        assert started.wait(60)  # the report has begun before the reconciliation ends
        return reconciling(*args, **kwargs)

    started = threading.Event()
    monkeypatch.setattr(run_module, "_write_report", report)
    monkeypatch.setattr(run_module, "_reconcile", reconcile)
    run_dir, log, _ = run(project)
    assert seen["reconcile thread"] == threading.main_thread().name
    assert seen["report thread"].startswith("crmmigrate-report")
    assert log["ledger_ok"] is True and log["report"]["error"] is None and log["report"]["unexplained"] == []
    assert {"reconcile", "report"} <= set(log["timings"])

    def broken(*args, **kwargs):
        assert started.wait(60)
        raise RuntimeError("the ledger broke")

    seen.clear()
    started.clear()
    monkeypatch.setattr(run_module, "_reconcile", broken)
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing"])
    assert result.exit_code != 0 and "the ledger broke" in result.output
    assert seen["report done"] is True  # waited for, not left running after the run
