"""`crmmigrate init`: a project that runs out of the box, and never over someone's files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.scaffold import SAMPLE_SOURCES

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_init_copies_the_samples_mappings_and_rules(tmp_path):
    project = tmp_path / "demo"
    result = runner.invoke(app, ["init", str(project)])

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"created {project}: migration.yaml, samples/, mappings/, rules/ (24 files)\n"
        f"next: crmmigrate run {project / 'migration.yaml'}\n"
    )
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == sorted(
        ["migration.yaml", "rules/cleaning.yaml", "rules/dedupe.yaml", "rules/reports.yaml", "rules/thresholds.yaml",
         "rules/validation.yaml"]
        + [f"samples/{location}" for location, _ in SAMPLE_SOURCES]
        + [f"mappings/{mapping}.yaml" for _, mapping in SAMPLE_SOURCES]
    )
    for location, mapping in SAMPLE_SOURCES:
        assert (project / "samples" / location).read_bytes() == (ROOT / "samples" / location).read_bytes()
        assert (project / "mappings" / f"{mapping}.yaml").read_bytes() == (
            ROOT / "mappings" / "samples" / f"{mapping}.yaml").read_bytes()
    config = (project / "migration.yaml").read_text(encoding="utf-8")
    assert "  - location: sqlite:///samples/call_centre/callcentre.sqlite\n    mapping: mappings/calls.yaml\n" in config


def test_the_project_runs_out_of_the_box_from_anywhere(tmp_path, monkeypatch):
    runner.invoke(app, ["init", str(tmp_path / "demo")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # every path in the project is relative to its config

    result = runner.invoke(app, ["run", str(tmp_path / "demo" / "migration.yaml"), "--allow-failing"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "migration.db").is_file()
    assert list(elsewhere.iterdir()) == []


def test_init_refuses_a_directory_with_files_unless_forced(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    (project / "notes.txt").write_text("mine", encoding="utf-8")

    refused = runner.invoke(app, ["init", str(project)])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"crmmigrate: error: {project}: the directory is not empty. Choose a new directory, or pass "
        "--force to overwrite the project's files in it.\n")
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]

    forced = runner.invoke(app, ["init", str(project), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (project / "migration.yaml").is_file()
    assert (project / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_init_refuses_a_file(tmp_path):
    target = tmp_path / "demo"
    target.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2
    assert "this is a file, not a directory." in result.stderr
