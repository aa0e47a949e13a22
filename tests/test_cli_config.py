"""`--config migration.yaml` on the single-stage commands: one place for per-source settings,
so that a command run by itself judges the data as `crmmigrate run` does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.migration import load_migration
from crmmigrate.run import run_migration
from crmmigrate.validate import load_thresholds, validate
from crmmigrate.validate.checks import NO_REGION
from crmmigrate.validate.rules import ValidationRules

runner = CliRunner()

# Berlin, Munich, Cologne... written as Germans write them, without +49; the last is too short
# to be a number anywhere. A region other than DE reads most of them as invalid.
GERMAN_PHONES = ["030 12345678", "089 2345678", "+49 40 3456789", "0221 4567890", "0711 5678901", "030 12"]


@pytest.fixture
def german_project(tmp_path: Path) -> Path:
    """A contacts export with German numbers and no country column, its source's phone_region DE."""
    lines = ["Id;First;Last;Phone"] + [f"{i};Anna{i};Schmidt{i};{p}" for i, p in enumerate(GERMAN_PHONES, 1)]
    (tmp_path / "kontakte.csv").write_text("\n".join(lines) + "\n", encoding="cp1252")
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "contacts.yaml").write_text(
        "entity: contact\nfields:\n  id: Id\n  first_name: First\n  last_name: Last\n  phone: Phone\n",
        encoding="utf-8")
    (tmp_path / "migration.yaml").write_text(
        "target: sqlite:///crm.db\nsources:\n"
        "  - location: kontakte.csv\n    mapping: mappings/contacts.yaml\n    encoding: cp1252\n"
        "    phone_region: DE\n", encoding="utf-8")
    return tmp_path / "migration.yaml"


def _phone(result_json: dict) -> dict:
    contact = next(e for e in result_json["entities"] if e["entity"] == "contact")
    return next(c for c in contact["checks"] if c["field"] == "phone")


def test_validate_with_config_and_run_report_the_same_phone_rate(german_project: Path, tmp_path: Path):
    """The issue's case: a source whose region is not the shipped default. Its mapped file given to
    `validate --config` (its phones read in its source's region) and the config's sources mapped on
    the fly both report what `run` reports: one invalid number of six."""
    ran = run_migration(load_migration(german_project), dry_run=True)
    in_run = next(c for e in ran.validation.entities if e.entity == "contact" for c in e.checks if c.field == "phone")

    mapped = runner.invoke(app, ["map", "--config", str(german_project), "-o", str(tmp_path / "staged")])
    assert mapped.exit_code == 0, mapped.output
    staged = tmp_path / "staged" / "mapped" / "kontakte.parquet"
    assert pd.read_parquet(staged)["_source"].unique().tolist() == ["kontakte"]
    for datasets in ([str(staged)], []):
        result = runner.invoke(app, ["validate", "--config", str(german_project), *datasets, "--json", "-"])
        assert result.exit_code == 1, result.output  # 1 of 6 is over the 5% threshold
        phone = _phone(json.loads(result.stdout))
        assert (phone["errors"], phone["rows"]) == (in_run.errors, in_run.rows) == (1, 6)
        assert phone["rate"] == pytest.approx(in_run.rate)


def test_run_reads_numbers_clean_left_alone_in_their_sources_region(german_project: Path):
    """A project whose cleaning leaves phones as written (`phone: [text]`): the gate in `run` must
    still read a national number in its source's region, as `validate --config` does, not call
    every German number invalid for want of a region."""
    rules = german_project.parent / "rules"
    rules.mkdir()
    (rules / "cleaning.yaml").write_text("types:\n  phone: [text]\n", encoding="utf-8")
    ran = run_migration(load_migration(german_project), dry_run=True)
    in_run = next(c for e in ran.validation.entities if e.entity == "contact" for c in e.checks if c.field == "phone")
    result = runner.invoke(app, ["validate", "--config", str(german_project), "--json", "-"])
    phone = _phone(json.loads(result.stdout))
    assert (in_run.errors, in_run.rows) == (phone["errors"], phone["rows"]) == (1, 6)


def test_validate_without_config_has_no_region_for_national_numbers(german_project: Path, tmp_path: Path):
    """Without the config nothing says the numbers are German: the shipped rules assume no
    country, so each national number is an error that says how to give its region."""
    runner.invoke(app, ["map", "--config", str(german_project), "-o", str(tmp_path / "staged")])
    result = runner.invoke(app, ["validate", str(tmp_path / "staged" / "mapped" / "kontakte.parquet"),
                                 "--failures", str(tmp_path / "failures.csv")])
    assert result.exit_code == 1
    failures = pd.read_csv(tmp_path / "failures.csv", dtype=str)
    phones = failures[failures["field"] == "phone"]
    assert sorted(phones["value"].str.lstrip("'")) == sorted(p for p in GERMAN_PHONES if not p.startswith("+"))
    assert set(phones["reason"]) == {NO_REGION}


def test_validate_reads_each_source_in_its_own_region():
    """Two sources in one dataset: each national number is judged in its own source's region,
    the record's country still winning over both."""
    frame = pd.DataFrame({
        "id": ["1", "2", "3", "4"],
        "last_name": ["A", "B", "C", "D"],
        "phone": ["030 12345678", "(212) 555-0198", "030 12345678", "(212) 555-0198"],
        "mailing_country": [None, None, None, "US"],
        "_source": ["berlin", "newyork", "newyork", "berlin"],
        "_file": "x", "_row": ["1", "2", "3", "4"],
    })
    from crmmigrate.model import MODEL

    frame = frame.reindex(columns=[*MODEL.entity("contact").field_names, "_source", "_file", "_row"])
    result = validate({"contact": frame}, rules=ValidationRules(), thresholds=load_thresholds(),
                      regions={"berlin": "DE", "newyork": "US"})
    failing = result.failures[result.failures["field"] == "phone"]
    # Row 3 is a Berlin number in the New York source: invalid there. Row 4 is in the US by its country.
    assert failing["_row"].tolist() == ["3"]
    assert failing["reason"].iloc[0].startswith("invalid phone: not a valid number (read in US")


def test_source_options_come_from_the_config_only(german_project: Path, tmp_path: Path):
    result = runner.invoke(app, ["extract", "--config", str(german_project), "--encoding", "utf-8",
                                 "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "--encoding with --config: a source's options are read from" in result.output


def test_a_source_the_config_does_not_have_is_named(german_project: Path):
    result = runner.invoke(app, ["profile", "--config", str(german_project), "kontakt"])
    assert result.exit_code == 2
    assert "has no source 'kontakt' (did you mean 'kontakte'?); its sources: kontakte." in result.output


def test_a_dataset_command_needs_datasets_or_a_config():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "missing DATASET...: give canonical datasets, or --config migration.yaml" in result.output


def test_extract_and_profile_every_source_with_its_options(german_project: Path, tmp_path: Path):
    extracted = runner.invoke(app, ["extract", "--config", str(german_project), "-o", str(tmp_path / "out")])
    assert extracted.exit_code == 0, extracted.output
    assert "encoding   cp1252 (forced)" in extracted.output
    assert len(pd.read_parquet(tmp_path / "out" / "kontakte.parquet")) == 6

    profiled = runner.invoke(app, ["profile", "--config", str(german_project), "--json"])
    assert profiled.exit_code == 0, profiled.output
    assert list(json.loads(profiled.stdout)) == ["kontakte"]


def test_clean_with_config_uses_each_sources_region(german_project: Path, tmp_path: Path):
    result = runner.invoke(app, ["clean", "--config", str(german_project), "-o", str(tmp_path / "cleaned")])
    assert result.exit_code == 0, result.output
    phones = pd.read_parquet(tmp_path / "cleaned" / "contact.parquet")["phone"].tolist()
    assert phones[:5] == ["+493012345678", "+49892345678", "+49403456789", "+492214567890", "+497115678901"]
    assert (tmp_path / "cleaned" / "changes.csv").is_file() and (tmp_path / "cleaned" / "notes.csv").is_file()


def test_load_with_config_loads_into_its_target(german_project: Path):
    result = runner.invoke(app, ["load", "--config", str(german_project), "--allow-failing", "--rejects",
                                 str(german_project.parent / "load.rejects.csv")])
    assert result.exit_code == 0, result.output
    import sqlite3

    with sqlite3.connect(german_project.parent / "crm.db") as db:
        assert db.execute("SELECT count(*) FROM contact").fetchone() == (6,)


def test_dedupe_with_config_dedupes_every_source(german_project: Path, tmp_path: Path):
    """The config's sources, mapped and cleaned as a run does."""
    result = runner.invoke(app, ["dedupe", "--config", str(german_project), "-o", str(tmp_path / "dd")])
    assert result.exit_code == 0, result.output
    deduped = pd.read_csv(tmp_path / "dd" / "contact.csv", dtype=str)
    assert len(deduped) == 6
    assert deduped["phone"].str.lstrip("'").iloc[0] == "+493012345678"  # cleaned in its source's region
    assert list(json.loads((tmp_path / "dd" / "summary.json").read_text(encoding="utf-8"))["entities"]) == ["contact"]
