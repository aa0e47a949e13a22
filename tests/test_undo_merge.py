"""Merges never lose data and can be undone, on SQLite, PostgreSQL and MariaDB: a merged
record's own values stay in the target (`merged_record`); an `apart` decision and a rerun bring
it back as a record of its own, its child pointing at it again and its survivor rebuilt without
it; a `merge` decision after the load removes the loaded row only once it is kept, pointers to
it moved to the survivor. The ledger holds throughout, and a further rerun writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from crmmigrate.cli import app
from tests.conftest import empty_database
from tests.test_cli_run import LEDGER, table

runner = CliRunner()

ACCOUNTS = """\
Id,Name,Industry,Phone,Website,Email,Street,City,Country,Region
A1,Acme Corporation,,+1 415 555 0100,acme.com,info@acme.com,1 Market St,San Francisco,US,Pacific
A2,ACME Corp.,Technology,+1 415 555 0100,,info@acme.com,,San Francisco,US,West
A3,Globex Ltd,Energy,+44 20 7946 0000,globex.co.uk,hello@globex.co.uk,10 Downing St,London,GB,
"""
CONTACTS = """\
Id,Account,First,Last,Email
C1,A1,Ann,Archer,ann@acme.com
C7,A2,Bob,Baker,bob@acme.com
C9,A3,Cy,Cole,cy@globex.co.uk
"""
HEADER = "entity,source_a,id_a,source_b,id_b,decision\n"
MERGE = "account,accounts,A1,accounts,A2,merge\n"
APART = "account,accounts,A1,accounts,A2,apart\n"
# A2 as the run reads it (phone cleaned to E.164): what merged_record keeps of it.
A2_ORIGINAL = {"id": "A2", "name": "ACME Corp.", "parent_id": None, "industry": "Technology",
               "phone": "+14155550100", "website": None, "email": "info@acme.com", "billing_street": None,
               "billing_city": "San Francisco", "billing_postal_code": None, "billing_state": None,
               "billing_country": "US", "owner": None, "created_at": None}
TABLES = {"account": "legacy_id", "contact": "legacy_id", "id_map": "entity, source, legacy_id",
          "merged_record": "entity, source, legacy_id"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def target(request, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty target database: a SQLite file, or a new database on the server."""
    yield from empty_database(request, request.param, tmp_path)


@pytest.fixture
def project(tmp_path: Path, target: str) -> Path:
    """Three accounts (A2 a duplicate of A1) and a contact of each, into `target`."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (folder / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    (folder / "accounts.yaml").write_text(
        "entity: account\nfields:\n  id: Id\n  name: Name\n  industry: Industry\n  phone: Phone\n"
        "  website: Website\n  email: Email\n  billing_street: Street\n  billing_city: City\n"
        "  billing_country: Country\ncustom:\n  - Region\n", encoding="utf-8")
    (folder / "contacts.yaml").write_text(
        "entity: contact\nfields:\n  id: Id\n  account_id: Account\n  first_name: First\n  last_name: Last\n"
        "  email: Email\n", encoding="utf-8")
    (folder / "migration.yaml").write_text(
        f"target: {target}\nsources:\n  - {{location: accounts.csv, mapping: accounts.yaml}}\n"
        "  - {location: contacts.csv, mapping: contacts.yaml}\n", encoding="utf-8")
    return folder


def decide(project: Path, *rows: str) -> None:
    """Append decisions to the project's decisions file (the last one about a pair holds)."""
    path = project / "dedupe-decisions.csv"
    if not path.exists():
        path.write_text(HEADER, encoding="utf-8")
    with path.open("a", encoding="utf-8") as f:
        f.writelines(rows)


def run(project: Path, *options: str) -> tuple[str, list[list[str]], str]:
    """`crmmigrate run` on the project: its run id, ledger table and notes; it must exit 0."""
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), *options])
    assert result.exit_code == 0, result.output
    run_id = result.stdout.split()[1]
    return run_id, table(result.stdout, LEDGER), result.stderr


def query(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def ids(url: str) -> dict[str, int]:
    """Target ids of the account rows by legacy id."""
    return {legacy: int(i) for legacy, i in query(url, "SELECT legacy_id, id FROM account")}


def pointers(url: str) -> dict[str, int | None]:
    """Each contact's account row id, by the contact's legacy id."""
    return dict(query(url, "SELECT legacy_id, account_id FROM contact"))


def merged_records(url: str) -> list[dict]:
    rows = query(url, "SELECT entity, source, legacy_id, survivor_id, original, custom, removed_row, run_id, "
                      "undone_run_id FROM merged_record ORDER BY entity, source, legacy_id")
    names = ("entity", "source", "legacy_id", "survivor_id", "original", "custom", "removed_row", "run_id",
             "undone_run_id")
    documents = ("original", "custom", "removed_row")
    return [{n: json.loads(v) if n in documents and isinstance(v, str) else v for n, v in zip(names, r, strict=True)}
            for r in rows]


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of the tables a run writes, in key order."""
    return {name: query(url, f"SELECT * FROM {name} ORDER BY {order}") for name, order in TABLES.items()}


def test_a_merged_record_keeps_its_values_and_an_apart_decision_brings_it_back(project, target):
    decide(project, MERGE)
    first, ledger, _ = run(project)
    assert ledger == [
        ["account", "accounts", "3", "2", "1", "0", "0", "2", "0", "0", "agrees"],
        ["contact", "contacts", "3", "3", "0", "0", "0", "3", "0", "0", "agrees"],
        ["all", "", "6", "5", "1", "0", "0", "5", "0", "0", ""]]
    rows = ids(target)
    assert set(rows) == {"A1", "A3"}
    # A1 survived with the industry only A2 had; A2's child points at A1.
    assert query(target, "SELECT industry FROM account WHERE legacy_id = 'A1'") == [("Technology",)]
    assert pointers(target) == {"C1": rows["A1"], "C7": rows["A1"], "C9": rows["A3"]}
    assert query(target, "SELECT status, target_id, reason FROM id_map WHERE legacy_id = 'A2'") == [
        ("merged", rows["A1"], "merged into accounts A1")]
    # Everything A2 said is still in the target.
    assert merged_records(target) == [{
        "entity": "account", "source": "accounts", "legacy_id": "A2", "survivor_id": rows["A1"],
        "original": A2_ORIGINAL, "custom": {"Region": "West"}, "removed_row": None, "run_id": first,
        "undone_run_id": None}]

    decide(project, APART)
    second, ledger, notes = run(project)
    # A2 is inserted, A1 rebuilt without it (updated), C7 pointed at A2 (updated).
    assert ledger == [
        ["account", "accounts", "3", "3", "0", "0", "0", "1", "1", "1", "agrees"],
        ["contact", "contacts", "3", "3", "0", "0", "0", "0", "1", "2", "agrees"],
        ["all", "", "6", "6", "0", "0", "0", "1", "2", "3", ""]]
    assert ("crmmigrate: note: account: 1 merge(s) undone: the record(s) are loaded on their own again, their "
            "merged_record entries marked undone.") in notes
    again = ids(target)
    assert set(again) == {"A1", "A2", "A3"}
    assert (again["A1"], again["A3"]) == (rows["A1"], rows["A3"])
    assert again["A2"] not in rows.values()
    assert query(target, "SELECT status, target_id, reason FROM id_map WHERE legacy_id = 'A2'") == [
        ("loaded", again["A2"], None)]
    assert pointers(target) == {"C1": again["A1"], "C7": again["A2"], "C9": again["A3"]}
    assert query(target, "SELECT legacy_id, name, industry, website, billing_street FROM account "
                         "WHERE legacy_id IN ('A1', 'A2') ORDER BY legacy_id") == [
        ("A1", "Acme Corporation", None, "acme.com", "1 Market St"),
        ("A2", "ACME Corp.", "Technology", None, None)]
    assert merged_records(target) == [{
        "entity": "account", "source": "accounts", "legacy_id": "A2", "survivor_id": rows["A1"],
        "original": A2_ORIGINAL, "custom": {"Region": "West"}, "removed_row": None, "run_id": first,
        "undone_run_id": second}]

    before = snapshot(target)
    _, ledger, notes = run(project)
    assert [line[7:9] for line in ledger] == [["0", "0"]] * 3  # nothing inserted or updated
    assert "undone" not in notes
    assert snapshot(target) == before


def test_a_merge_decision_after_the_load_removes_the_loaded_row_once_it_is_kept(project, target):
    decide(project, APART)  # whatever the matcher thinks, A1 and A2 are loaded apart first
    run(project)
    rows = ids(target)
    assert set(rows) == {"A1", "A2", "A3"}
    # Someone edits A2 in the new CRM after the cutover.
    engine = sa.create_engine(target, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE account SET phone = '+14155550199' WHERE legacy_id = 'A2'"))
    engine.dispose()

    decide(project, MERGE)
    merging, ledger, notes = run(project)
    assert ledger == [
        ["account", "accounts", "3", "2", "1", "0", "0", "0", "1", "1", "agrees"],
        ["contact", "contacts", "3", "3", "0", "0", "0", "0", "1", "2", "agrees"],
        ["all", "", "6", "5", "1", "0", "0", "0", "2", "3", ""]]
    assert ("crmmigrate: note: account: 1 row(s) an earlier run loaded are merged now and removed: their values "
            "are kept in merged_record, pointers to them point at their survivor.") in notes
    assert ids(target) == {"A1": rows["A1"], "A3": rows["A3"]}  # no stale row left behind
    assert query(target, "SELECT industry FROM account WHERE legacy_id = 'A1'") == [("Technology",)]
    assert pointers(target) == {"C1": rows["A1"], "C7": rows["A1"], "C9": rows["A3"]}
    assert query(target, "SELECT status, target_id, reason FROM id_map WHERE legacy_id = 'A2'") == [
        ("merged", rows["A1"], "merged into accounts A1")]
    (kept,) = merged_records(target)
    removed = kept.pop("removed_row")
    assert kept == {"entity": "account", "source": "accounts", "legacy_id": "A2", "survivor_id": rows["A1"],
                    "original": A2_ORIGINAL, "custom": {"Region": "West"}, "run_id": merging,
                    "undone_run_id": None}
    # The row as the target held it, the edit made in the new CRM included.
    assert {k: removed[k] for k in ("id", "legacy_source", "legacy_id", "name", "industry", "phone", "custom")} == {
        "id": rows["A2"], "legacy_source": "accounts", "legacy_id": "A2", "name": "ACME Corp.",
        "industry": "Technology", "phone": "+14155550199", "custom": {"Region": "West"}}

    before = snapshot(target)
    _, ledger, notes = run(project)
    assert [line[7:9] for line in ledger] == [["0", "0"]] * 3
    assert "removed" not in notes
    assert snapshot(target) == before

    # And back: the merge undone once more, A2 is a record of its own again, under a new id.
    decide(project, APART)
    undoing, ledger, _ = run(project)
    assert ledger[0] == ["account", "accounts", "3", "3", "0", "0", "0", "1", "1", "1", "agrees"]
    again = ids(target)
    assert pointers(target) == {"C1": rows["A1"], "C7": again["A2"], "C9": rows["A3"]}
    (kept,) = merged_records(target)
    assert (kept["undone_run_id"], kept["removed_row"]["phone"]) == (undoing, "+14155550199")


def test_a_merge_in_an_account_only_run_points_the_loaded_contacts_at_the_survivor(project, target):
    """The contacts are not in the run, so only the target knows C7 points at A2's row: it is
    pointed at A1's before A2's row goes (PostgreSQL and MariaDB would refuse otherwise)."""
    decide(project, APART)
    run(project)
    rows = ids(target)
    decide(project, MERGE)
    _, ledger, _ = run(project, "--only", "account")
    assert ledger == [["account", "accounts", "3", "2", "1", "0", "0", "0", "1", "1", "agrees"],
                      ["all", "", "3", "2", "1", "0", "0", "0", "1", "1", ""]]
    assert ids(target) == {"A1": rows["A1"], "A3": rows["A3"]}
    assert pointers(target) == {"C1": rows["A1"], "C7": rows["A1"], "C9": rows["A3"]}
    # The next full run resolves C7's pointer to the same row; its row is written once more
    # (its row hash was taken before the pointer moved), then never again.
    _, ledger, _ = run(project)
    assert ledger[1] == ["contact", "contacts", "3", "3", "0", "0", "0", "0", "1", "2", "agrees"]
    assert pointers(target) == {"C1": rows["A1"], "C7": rows["A1"], "C9": rows["A3"]}
    _, ledger, _ = run(project)
    assert [line[7:9] for line in ledger] == [["0", "0"]] * 3


def test_a_loaded_record_merged_into_a_survivor_not_loaded_keeps_its_row_until_the_survivor_is(project, target):
    decide(project, APART)
    run(project)
    rows = ids(target)
    # A1 loses its name: the loader rejects it, so A2, merged into it now, has no survivor row.
    accounts = project / "accounts.csv"
    accounts.write_text(ACCOUNTS.replace("A1,Acme Corporation,", "A1,,"), encoding="utf-8")
    decide(project, MERGE)
    _, ledger, notes = run(project, "--allow-failing")
    assert ledger[0] == ["account", "accounts", "3", "1", "1", "1", "0", "0", "0", "1", "agrees"]
    assert "removed" not in notes
    assert query(target, "SELECT status, target_id, reason FROM id_map WHERE legacy_id = 'A2'") == [
        ("merged", rows["A2"], "merged into accounts A1, which was not loaded; its own row stays")]
    assert set(ids(target)) == {"A1", "A2", "A3"}

    # A1 is loaded again: now A2's row goes, once kept, and its child follows to A1.
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    _, ledger, notes = run(project)
    assert ledger[0] == ["account", "accounts", "3", "2", "1", "0", "0", "0", "1", "1", "agrees"]
    assert "account: 1 row(s) an earlier run loaded are merged now and removed" in notes
    assert ids(target) == {"A1": rows["A1"], "A3": rows["A3"]}
    assert pointers(target) == {"C1": rows["A1"], "C7": rows["A1"], "C9": rows["A3"]}
    (kept,) = merged_records(target)
    assert (kept["survivor_id"], kept["removed_row"]["id"]) == (rows["A1"], rows["A2"])
    _, ledger, _ = run(project)
    assert [line[7:9] for line in ledger] == [["0", "0"]] * 3
