"""bench/legacy_set.py at a tiny size: the legacy files are written as the old systems write them,
and the real `crmmigrate run` of its migration.yaml passes its gate, loads every entity, balances
the ledger and merges the known duplicate contacts into the right people."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import legacy_set  # noqa: E402
from realistic import make_crm  # noqa: E402

from crmmigrate.cli import app  # noqa: E402

CONTACTS, SEED = 2000, 5
ENTITIES = {"account", "contact", "lead", "opportunity", "opportunity_contact_role", "case"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("legacy")
    legacy_set.make_legacy_set(folder, CONTACTS, SEED)
    return folder


@pytest.fixture(scope="module")
def run(folder):
    result = CliRunner().invoke(app, ["run", str(folder / "migration.yaml")])
    (run_json,) = (folder / "runs").glob("*/run.json")
    return result, json.loads(run_json.read_text(encoding="utf-8"))


def test_every_file_is_written_as_its_legacy_system_writes_it(folder):
    accounts = (folder / "accounts.csv").read_bytes()
    assert accounts.startswith(b"\xef\xbb\xbfAccount ID;Account Name;")
    contacts = (folder / "contacts.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        contacts.decode("utf-8")
    text = contacts.decode("cp1252")
    assert text.startswith("Contact ID,Account ID,First Name,Last Name,")
    assert any(name in text for name in ("García", "José", "Rodríguez", "Martínez", "Hernández"))
    sheet = load_workbook(folder / "leads.xlsx", read_only=True)["Leads"]
    rows = list(sheet.iter_rows(max_row=5, values_only=True))
    assert rows[0][0] and rows[1][0] and not any(rows[2]) and rows[3][:3] == ("Lead ID", "First Name", "Last Name")
    first_case = json.loads((folder / "cases.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first_case["CreatedDate"].endswith("Z")
    mappings = {p.stem for p in (folder / "mappings").glob("*.yaml")}
    assert mappings == {"accounts", "contacts", "leads", "opportunities", "opportunity_contact_roles", "cases"}
    assert "target: sqlite:///target.db" in (folder / "migration.yaml").read_text()


def test_the_proportions_are_those_of_the_million_contact_set(folder):
    rows = json.loads((folder / legacy_set.STAMP).read_text())["rows"]
    assert rows["contacts"] == CONTACTS
    assert abs(rows["accounts"] / CONTACTS - 0.283) < 0.03
    assert (rows["leads"], rows["opportunities"], rows["cases"]) == (920, 1380, 460)
    assert 0.5 * rows["opportunities"] < rows["opportunity_contact_roles"] < 2 * rows["opportunities"]


def test_the_run_passes_its_gate_loads_every_entity_and_balances_the_ledger(run):
    result, record = run
    assert result.exit_code == 0, result.output
    assert record["status"] == "done" and record["ledger_ok"] is True
    gate = record["gate"]
    assert gate["passed"] is True
    assert set(gate["entities"]) == ENTITIES
    assert all(e["loaded"] for e in gate["entities"].values())
    for line in record["ledger"]:
        assert line["extracted"] == line["loaded"] + line["merged"] + line["rejected"] + line["filtered"]
        assert line["loaded"] > 0.9 * line["extracted"], line



def test_the_data_is_realistic_not_clean(folder, run):
    """A few percent of invalid values: the gate counts them, under its thresholds."""
    (report,) = (folder / "runs").glob("*/validation/validation.json")
    errors = {(e["entity"], f["field"]): f["rate"] for e in json.loads(report.read_text())["entities"]
              for f in e["checks"] if f.get("errors")}
    for field in [("contact", "email"), ("contact", "phone"), ("lead", "email"), ("opportunity", "stage"),
                  ("opportunity", "amount"), ("case", "status")]:
        assert 0 < errors[field] < 0.05, field


def test_known_duplicate_contacts_are_merged_into_the_same_person(folder, run):
    crm = make_crm(CONTACTS, SEED)
    person = dict(zip(crm.contacts["id"], crm.person, strict=True))
    db = sqlite3.connect(folder / "target.db")
    merged = db.execute(
        "SELECT m.legacy_id, s.legacy_id FROM id_map m JOIN id_map s ON s.entity = m.entity "
        "AND s.target_id = m.target_id AND s.status = 'loaded' "
        "WHERE m.entity = 'contact' AND m.status = 'merged'").fetchall()
    db.close()
    assert len(merged) > 0.5 * (CONTACTS // 10)  # a tenth of the contacts are copies
    right = sum(person[copy] == person[survivor] for copy, survivor in merged)
    assert right / len(merged) > 0.97


@pytest.mark.parametrize(("contacts", "seed"), [(3_000, 9), (50, 2), (20, 3)])
def test_small_sets_and_a_single_copy_are_made(tmp_path, contacts, seed):
    """A group of accounts small enough to get one copy (int(0.85) copies of originals once
    made none, and the generator failed: seen at 3,000 contacts, seed 9)."""
    counts = legacy_set.make_legacy_set(tmp_path, contacts=contacts, seed=seed)
    assert counts["contacts"] == contacts and counts["accounts"] >= 1
