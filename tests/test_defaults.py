"""The default rules crmmigrate ships, and the one lookup every command uses: a migration
project's own rules/<name> first, else the shipped default, else an error naming both."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmmigrate import defaults, scaffold
from crmmigrate.clean import load_cleaning
from crmmigrate.cli import app
from crmmigrate.config import BadConfig
from crmmigrate.dedupe.rules import load_dedupe_rules
from crmmigrate.defaults import RULES_DIR, SAMPLE_MAPPINGS_DIR, SAMPLES_DIR, rules_file
from crmmigrate.migration import load_migration
from crmmigrate.reporting import load_report_rules
from crmmigrate.validate.rules import load_rules, load_thresholds

NAMES = ("validation.yaml", "thresholds.yaml", "cleaning.yaml", "dedupe.yaml", "reports.yaml")
LOADERS = {"validation.yaml": load_rules, "thresholds.yaml": load_thresholds,
           "cleaning.yaml": load_cleaning, "dedupe.yaml": load_dedupe_rules, "reports.yaml": load_report_rules}
runner = CliRunner()


@pytest.fixture
def no_shipped_rules(tmp_path, monkeypatch):
    """crmmigrate installed without its default rules."""
    empty = tmp_path / "installed" / "rules"
    empty.mkdir(parents=True)
    monkeypatch.setattr(defaults, "RULES_DIR", empty)
    return empty


def test_the_defaults_live_inside_the_package():
    package = Path(defaults.__file__).resolve().parent
    for folder in (RULES_DIR, SAMPLES_DIR, SAMPLE_MAPPINGS_DIR):
        assert folder.is_dir() and folder.is_relative_to(package), folder
    assert sorted(p.name for p in RULES_DIR.glob("*.yaml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_without_a_project_rules_folder_the_shipped_default_is_used(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rules_file(name) == RULES_DIR / name
    LOADERS[name]()  # the shipped default parses


@pytest.mark.parametrize("name", NAMES)
def test_the_projects_own_rules_win_over_the_default(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / name).write_text("tresholds: {}\n", encoding="utf-8")
    assert rules_file(name) == Path("rules") / name
    # Every loader goes through the lookup: it reads (and here refuses) the project's own file.
    with pytest.raises(BadConfig) as caught:
        LOADERS[name]()
    assert caught.value.file == str(Path("rules") / name)
    assert "tresholds" in caught.value.message


@pytest.mark.parametrize("name", NAMES)
def test_neither_the_projects_nor_a_shipped_file_names_both_places(name, tmp_path, monkeypatch, no_shipped_rules):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadConfig) as caught:
        LOADERS[name]()
    message = str(caught.value)
    assert f"no rules file {name!r}" in message
    assert f"the project's own {Path('rules') / name}" in message
    assert f"the default crmmigrate ships, {no_shipped_rules / name}" in message


def test_validate_without_any_rules_says_what_it_looked_for_and_exits_2(tmp_path, monkeypatch, no_shipped_rules):
    monkeypatch.chdir(tmp_path)
    mapping = SAMPLE_MAPPINGS_DIR / "cases.yaml"
    result = runner.invoke(app, ["validate", f"{mapping}={SAMPLES_DIR / 'call_centre' / 'cases.csv'}"])
    output = result.output.replace("\n", "")
    assert result.exit_code == 2, output
    name = re.search(r"no rules file '(\w+\.yaml)'", output).group(1)  # the first one validate reads
    assert name in ("validation.yaml", "thresholds.yaml")
    assert f"the project's own {Path('rules') / name}" in output
    assert str(no_shipped_rules / name) in output
    assert "Traceback" not in result.output


def _project(folder: Path, rules: dict[str, str] | None = None) -> Path:
    """A migration config over one sample source that names no rules files."""
    (folder / "mappings").mkdir(parents=True)
    shutil.copyfile(SAMPLE_MAPPINGS_DIR / "accounts.yaml", folder / "mappings" / "accounts.yaml")
    shutil.copyfile(SAMPLES_DIR / "legacy_crm" / "accounts.csv", folder / "accounts.csv")
    for name, text in (rules or {}).items():
        (folder / "rules").mkdir(exist_ok=True)
        (folder / "rules" / name).write_text(text, encoding="utf-8")
    config = folder / "migration.yaml"
    config.write_text("sources:\n  - {location: accounts.csv, mapping: mappings/accounts.yaml}\n", encoding="utf-8")
    return config


def test_run_takes_the_rules_beside_its_config_not_the_working_directorys(tmp_path, monkeypatch):
    own = (RULES_DIR / "cleaning.yaml").read_text(encoding="utf-8")
    config = _project(tmp_path / "project", {"cleaning.yaml": own})
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "rules").mkdir(parents=True)
    (elsewhere / "rules" / "cleaning.yaml").write_text(own, encoding="utf-8")
    monkeypatch.chdir(elsewhere)

    migration = load_migration(config)

    assert migration.cleaning == tmp_path / "project" / "rules" / "cleaning.yaml"
    for name, path in (("validation.yaml", migration.rules), ("thresholds.yaml", migration.thresholds),
                       ("dedupe.yaml", migration.dedupe)):
        assert path == RULES_DIR / name


def test_run_without_any_rules_says_what_it_looked_for(tmp_path, monkeypatch, no_shipped_rules):
    config = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadConfig) as caught:
        load_migration(config)
    message = str(caught.value)
    assert f"the project's own {tmp_path / 'project' / 'rules' / 'validation.yaml'}" in message
    assert str(no_shipped_rules / "validation.yaml") in message


def test_init_without_the_shipped_samples_says_so_and_exits_2(tmp_path, monkeypatch):
    missing = tmp_path / "installed" / "samples"
    monkeypatch.setattr(scaffold, "SAMPLES_DIR", missing)
    result = runner.invoke(app, ["init", str(tmp_path / "project")])
    assert result.exit_code == 2, result.output
    assert f"crmmigrate is installed without the files it ships (no {missing})" in result.output.replace("\n", "")
    assert not (tmp_path / "project").exists()
