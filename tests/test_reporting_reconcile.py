"""Reconcile before and after: a small legacy set run through the whole pipeline, with records
rejected, merged, filtered, changed by clean and quarantined, and every difference between the
legacy figures and the target's explained by them; rows a hand deleted from or added to the
target are left unexplained and flagged. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmmigrate.errors import BadUsage
from crmmigrate.load import connect
from crmmigrate.migration import load_migration
from crmmigrate.reporting.reconcile import CATEGORIES, CannotReconcile, legacy_datasets, reconcile, unexplained
from crmmigrate.reporting.target import open_target
from crmmigrate.run import run_migration
from tests.conftest import empty_database

MOJIBAKE = "Иванова Е.".encode().decode("cp1252")  # what a UTF-8 export read as Windows-1252 shows

ACCOUNTS = (
    "Id,Name,Owner,Website,Email,Created\n"
    "A1,Acme GmbH,Petrov A.,acme.de,info@acme.de,2021-01-01\n"
    "A2,Acme GmbH,Petrov A.,acme.de,info@acme.de,2021-02-01\n"  # a duplicate of A1: merged
    f"A3,Beta LLC,{MOJIBAKE},beta.com,hi@beta.com,2021-03-01\n"  # owner repaired by clean: changed
    "A4,,Petrov A.,gamma.com,,2021-04-01\n"  # no name: rejected
    "A5,Old Corp,Petrov A.,old.com,,2001-01-01\n"  # before the cutoff: filtered
)
OPPORTUNITIES = (
    "Id,Account,Name,Stage,Amount,Currency,Close,Owner\n"
    "O1,A1,Deal 1,Proposal,1000,USD,2024-01-31,Petrov A.\n"
    "O2,A3,Deal 2,Proposal,250.50,dollars,2024-02-28,Petrov A.\n"  # no currency code: quarantined
    "O3,A1,Deal 3,Closed Won,500,USD,2024-03-31,Petrov A.\n"  # its row is deleted by hand
    "O4,A1,Deal 4,Proposal,700,USD,,Petrov A.\n"  # no close date: rejected
    "O5,A2,Deal 5,Negotiation,300,USD,2024-04-30,Petrov A.\n"  # of the merged account: re-pointed
)
CASES = ("Id,Account,Subject,Status\nC1,A1,Broken,New\nC2,A3,Slow,Closed\n"
         "C3,A1,Lost,\n"  # no status: rejected
         "C4,A1,Late,New,x\n")  # a field too many: extract cannot read it

MAPPINGS = {
    "accounts": "entity: account\nfields:\n  id: Id\n  name: Name\n  owner: Owner\n  website: Website\n"
                "  email: Email\n  created_at: {from: Created, transforms: [date]}\n"
                "where:\n  - {name: since 2010, field: created_at, op: '>=', value: '2010-01-01'}\n",
    "opportunities": "entity: opportunity\nfields:\n  id: Id\n  account_id: Account\n  name: Name\n  stage: Stage\n"
                     "  amount: {from: Amount, transforms: [number]}\n  currency: Currency\n"
                     "  close_date: {from: Close, transforms: [date]}\n  owner: Owner\n",
    "cases": "entity: case\nfields:\n  id: Id\n  account_id: Account\n  subject: Subject\n  status: Status\n",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def target(request, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request, request.param, tmp_path)


@pytest.fixture
def migrated(tmp_path: Path, target: str) -> tuple[str, Path]:
    """The small legacy set run into `target`: the target URL and the run directory."""
    return target, migrate(tmp_path, target)


def migrate(tmp_path: Path, target: str) -> Path:
    """The small legacy set run into `target` (its gates forced: the rejects are the point);
    returns the run directory."""
    project = tmp_path / "project"
    project.mkdir()
    for name, text in (("accounts", ACCOUNTS), ("opportunities", OPPORTUNITIES), ("cases", CASES)):
        (project / f"{name}.csv").write_text(text, encoding="utf-8")
        (project / f"{name}.yaml").write_text(MAPPINGS[name], encoding="utf-8")
    # Two records are too little for the match model to learn from: a reviewer's decision merges them.
    (project / "dedupe-decisions.csv").write_text(
        "entity,source_a,id_a,source_b,id_b,decision\naccount,accounts,A1,accounts,A2,merge\n", encoding="utf-8")
    (project / "migration.yaml").write_text(
        f"target: {target}\nsources:\n"
        + "".join(f"  - {{location: {n}.csv, mapping: {n}.yaml}}\n" for n in ("accounts", "opportunities", "cases")),
        encoding="utf-8")
    result = run_migration(load_migration(project / "migration.yaml"), allow_failing=True, write_report=False)
    result.check_ledger()
    return result.run_dir


def lines_of(lines, aggregate: str) -> dict[str, tuple]:
    """Per group: legacy, target, the non-zero explanations, unexplained."""
    return {line.key: (line.legacy, line.target, {k: v for k, v in line.explained.items() if v}, line.unexplained)
            for line in lines if line.aggregate == aggregate}


def test_every_difference_is_explained_by_the_ledger_and_hand_edits_are_flagged(migrated):
    url, run_dir = migrated
    legacy, notes = legacy_datasets(run_dir)
    assert notes == []
    # The filtered account is on the legacy side, mapped again from the extracted rows.
    assert sorted(legacy["account"]["id"]) == ["A1", "A2", "A3", "A4", "A5"]
    # Of the staged records only the key and what an aggregate groups or sums is read.
    assert set(legacy["account"].columns) == {"id", "_source", "_row", "_unreadable", "owner"}
    assert set(legacy["opportunity"].columns) == {"id", "_source", "_row", "_unreadable", "stage", "currency",
                                                  "amount", "owner"}
    engine = connect(url)
    try:
        with engine.begin() as connection:  # what a hand does to the target after the load
            connection.execute(sa.text("DELETE FROM opportunity WHERE legacy_id = 'O3'"))
            connection.execute(sa.text(
                "INSERT INTO account (legacy_source, legacy_id, name, owner, row_hash, run_id) "
                "VALUES ('accounts', 'A9', 'Planted Ltd', 'Petrov A.', 'x', 'by hand')"))
        lines = reconcile(engine, legacy)
        # A run, which holds the target's lock, has the entities reconciled side by side, each on
        # a connection of its own: the same lines.
        assert reconcile(engine, legacy, held=True) == lines
    finally:
        engine.dispose()

    assert lines_of(lines, "accounts by owner") == {
        # A1 loaded; A2 merged into it, A4 rejected, A5 filtered; A9 added by hand.
        "Petrov A.": (4, 2, {"merged": 1, "rejected": 1, "filtered": 1}, -1),
        # A3 moved: its owner repaired by clean.
        MOJIBAKE: (1, 0, {"changed": 1}, 0),
        "Иванова Е.": (0, 1, {"changed": -1}, 0),
    }
    assert lines_of(lines, "opportunities by stage") == {
        "Closed Won": (1, 0, {}, 1),  # O3, deleted by hand
        "Negotiation": (1, 1, {}, 0),
        "Proposal": (3, 2, {"rejected": 1}, 0),
    }
    assert lines_of(lines, "pipeline amount by stage") == {
        "Closed Won · USD": (500.0, 0.0, {}, 500.0),
        "Negotiation · USD": (300.0, 300.0, {}, 0.0),
        "Proposal · dollars": (250.5, 0.0, {"quarantined": 250.5}, 0.0),
        "Proposal · USD": (1700.0, 1000.0, {"rejected": 700.0}, 0.0),
        "Proposal · (blank)": (0.0, 250.5, {"quarantined": -250.5}, 0.0),
    }
    assert lines_of(lines, "opportunities by owner") == {"Petrov A.": (5, 3, {"rejected": 1}, 1)}
    assert lines_of(lines, "cases by status") == {
        "Closed": (1, 1, {}, 0), "New": (1, 1, {}, 0), "(blank)": (1, 0, {"rejected": 1}, 0),
        "(unreadable)": (1, 0, {"rejected": 1}, 0)}  # C4: every row the ledger counts is on the legacy side
    assert lines_of(lines, "contacts by owner") == {}  # no contact source: no such aggregate
    assert {(line.aggregate, line.key) for line in unexplained(lines)} == {
        ("accounts by owner", "Petrov A."), ("opportunities by stage", "Closed Won"),
        ("pipeline amount by stage", "Closed Won · USD"), ("opportunities by owner", "Petrov A.")}
    assert all(list(line.explained) == list(CATEGORIES) for line in lines)


def test_nothing_of_the_reconciliation_stays_in_the_target(migrated):
    url, run_dir = migrated
    engine = connect(url)
    try:
        before = set(sa.inspect(engine).get_table_names())
        lines = reconcile(engine, legacy_datasets(run_dir)[0])
        assert set(sa.inspect(engine).get_table_names()) == before
        # Without a hand in the target, the ledger explains every difference.
        assert unexplained(lines) == []
    finally:
        engine.dispose()


def test_filtered_records_are_left_out_with_a_note_when_their_mapping_is_gone(migrated, tmp_path):
    _url, run_dir = migrated
    (tmp_path / "project" / "accounts.yaml").unlink()
    legacy, notes = legacy_datasets(run_dir)
    assert sorted(legacy["account"]["id"]) == ["A1", "A2", "A3", "A4"]
    assert notes == [f"1 filtered record(s) of source 'accounts' are left out of the legacy side: their "
                     f"mapping {str(tmp_path / 'project' / 'accounts.yaml')!r} is not there to read them again."]


def test_a_directory_that_is_no_run_is_refused(tmp_path):
    with pytest.raises(BadUsage, match="is not a run directory: it has no run.json"):
        legacy_datasets(tmp_path)


def test_a_read_only_connection_is_told_what_the_reconciliation_needs(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    run_dir = migrate(tmp_path, url)
    engine = open_target(url)  # the report's connection: the database refuses every write
    try:
        with pytest.raises(CannotReconcile, match="could not create its temporary table in the target's "
                                                  "database: attempt to write a readonly database"):
            reconcile(engine, legacy_datasets(run_dir)[0])
    finally:
        engine.dispose()


def test_a_line_is_described_with_its_figures_in_full():
    from crmmigrate.reporting.model import ReconcileLine
    from crmmigrate.reporting.reconcile import describe

    line = ReconcileLine("pipeline amount by stage", "Proposal · USD", 2_500_000.5, 1_000.0,
                         {"rejected": 700.0, "merged": 0.0}, 2_498_300.5)
    assert describe(line) == ("pipeline amount by stage 'Proposal · USD': legacy 2,500,000.5, target 1,000; "
                              "rejected 700; 2,498,300.5 unexplained")
    assert describe(ReconcileLine("accounts by owner", "Petrov A.", 4, 2, {"merged": 1, "rejected": 1}, 0)) == (
        "accounts by owner 'Petrov A.': legacy 4, target 2; merged 1, rejected 1")


def test_an_error_midway_leaves_no_temporary_table_and_is_the_error_raised(migrated, monkeypatch):
    url, run_dir = migrated
    legacy = legacy_datasets(run_dir)[0]
    import crmmigrate.reporting.reconcile as module

    def broken(connection, *_args):
        connection.exec_driver_sql("SELECT nothing FROM no_such_table")

    engine = connect(url)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(module, "_entity_lines", broken)
            for held in (False, True):  # one connection, or one per entity side by side
                with pytest.raises(sa.exc.DBAPIError, match="no_such_table"):
                    reconcile(engine, legacy, held=held)
        with engine.connect() as one, engine.connect() as other:  # the pooled connections: no table is left
            for connection in (one, other):
                assert not any(connection.dialect.has_table(connection, f"crmmigrate_legacy_{entity}")
                               for entity in legacy)
        assert unexplained(reconcile(engine, legacy)) == []
        assert unexplained(reconcile(engine, legacy, held=True)) == []
    finally:
        engine.dispose()
