"""The run library: the whole sample set into SQLite and PostgreSQL with an exact ledger, reruns
that change nothing, staged runs, dry runs, and config mistakes located by file and line."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from crmmigrate import parallel
from crmmigrate import run as run_module
from crmmigrate.config import BadConfig
from crmmigrate.errors import BadUsage, OutputError
from crmmigrate.migration import load_migration
from crmmigrate.run import RunResult, entity_names, run_migration
from crmmigrate.run_state import StageContext
from crmmigrate.scaffold import SAMPLE_SOURCES, init_project
from tests.test_staging import _mapping_of, _text_buffers, needs_proc

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "samples" / "truth.json").read_text(encoding="utf-8"))
# The sample source names are their mappings' names: truth.json knows their files.
TRUTH_BY_SOURCE = {mapping: TRUTH["files"][location] for location, mapping in SAMPLE_SOURCES}
HELD = {"account", "contact", "opportunity", "opportunity_contact_role", "case"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh database per test: the loader creates its tables in the default schema."""
    name = f"crm_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def with_target(project: Path, target: str) -> Path:
    config = project / "migration.yaml"
    text = config.read_text(encoding="utf-8").replace("sqlite:///migration.db", target)
    config.write_text(text, encoding="utf-8")
    return config


def counts(url: str, query: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(query))]
    finally:
        engine.dispose()


def assert_exact_ledger(result: RunResult) -> None:
    """Per source: extracted = loaded + merged + rejected + filtered, equal to the rows
    truth.json says the file holds, and id_map agreeing with every legacy id."""
    assert {line.source for line in result.ledger} == set(TRUTH_BY_SOURCE)
    for line in result.ledger:
        truth = TRUTH_BY_SOURCE[line.source]
        assert line.extracted == truth["data_rows"] + len(truth["rejects"]) == truth["records"], line
        assert line.balanced, line
        assert line.id_map_differ == 0, line
        # No legacy id repeats within a sample source, so each row has its own id_map entry.
        assert sum(line.id_map.values()) == line.extracted
    result.check_ledger()


def run_samples_twice(config: Path, url: str, *, allow_failing: bool) -> tuple[RunResult, RunResult]:
    migration = load_migration(config)
    first = run_migration(migration, allow_failing=allow_failing)
    second = run_migration(migration, allow_failing=allow_failing)
    return first, second


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_samples_gate_holds_back_failing_entities_and_rerun_changes_nothing(project, backend, request):
    url = f"sqlite:///{project / 'crm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_db")
    first, second = run_samples_twice(with_target(project, url), url, allow_failing=False)

    assert set(first.held) == HELD
    assert first.held["account"] == "gate failed: account.parent_id"
    assert first.held["case"] == "points into account, contact, which is held back"
    for result in (first, second):
        assert_exact_ledger(result)
        for line in result.ledger:
            if line.entity in HELD:
                assert (line.loaded, line.rejected) == (0, line.extracted)
                assert line.id_map == {"rejected": line.extracted}
    by_source = {line.source: line for line in first.ledger}
    assert (by_source["leads"].inserted, by_source["leads"].rejected) == (186, 14)
    # The extract reject of activities.jsonl (a malformed line) and its two rejects on load.
    assert (by_source["activities"].loaded, by_source["activities"].rejected) == (398, 3)
    assert by_source["calls"].inserted == 300
    assert all(line.inserted == line.updated == 0 for line in second.ledger)
    assert sum(line.unchanged for line in second.ledger) == 884

    assert counts(url, "SELECT COUNT(*) FROM lead") == [(186,)]
    assert counts(url, "SELECT COUNT(*) FROM activity") == [(698,)]
    assert counts(url, "SELECT COUNT(*) FROM account") == [(0,)]
    reasons = counts(url, "SELECT reason FROM id_map WHERE entity = 'account' GROUP BY reason")
    assert reasons == [("gate failed: account.parent_id",)]
    unreadable = counts(url, "SELECT legacy_id, status, reason FROM id_map WHERE source = 'cases' "
                             "AND legacy_id = 'row 215'")
    assert unreadable == [("row 215", "rejected", "expected 10 fields, found 11")]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_samples_allow_failing_load_everything_once(project, backend, request):
    url = f"sqlite:///{project / 'crm.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_db")
    first, second = run_samples_twice(with_target(project, url), url, allow_failing=True)

    assert first.held == {} and set(first.forced) == HELD - {"case"}
    # Leads a contact already is are flagged in the run too (10 of the samples' 12, one perhaps).
    assert first.dedupe.as_dict()["leads_known"] == 9
    assert len(pd.read_csv(first.run_dir / "dedupe" / "lead_matches.csv")) == 10
    for result in (first, second):
        assert_exact_ledger(result)
    loaded = {line.source: line.loaded for line in first.ledger}
    assert loaded == {line.source: line.loaded for line in second.ledger}
    assert all(line.inserted == line.loaded for line in first.ledger)
    assert all(line.inserted == line.updated == 0 for line in second.ledger)
    assert all(line.unchanged == line.loaded for line in second.ledger)
    # Every loaded row is in its table once, and id_map says so.
    for entity in ("account", "contact", "lead", "opportunity", "case", "activity"):
        expected = sum(line.loaded for line in first.ledger if line.entity == entity)
        assert counts(url, f'SELECT COUNT(*), COUNT(DISTINCT legacy_source || legacy_id) FROM "{entity}"') \
            == [(expected, expected)]
    statuses = dict(counts(url, "SELECT status, COUNT(*) FROM id_map GROUP BY status"))
    assert statuses == {"loaded": sum(loaded.values()), "merged": sum(line.merged for line in first.ledger),
                        "rejected": sum(line.rejected for line in first.ledger)}
    # The planted duplicates are merged: 20 accounts, 40 contacts, each into a loaded survivor (two
    # contacts, Дима for Дмитрий with no mailbox in common, wait in review: precision first).
    assert {line.entity: 0 for line in first.ledger} | {
        e: sum(line.merged for line in first.ledger if line.entity == e) for e in ("account", "contact")} == {
        "account": 20, "contact": 40, "lead": 0, "opportunity": 0, "opportunity_contact_role": 0, "case": 0,
        "activity": 0}
    assert counts(url, "SELECT COUNT(*) FROM id_map m JOIN id_map s ON s.entity = m.entity "
                       "AND s.target_id = m.target_id AND s.status = 'loaded' WHERE m.status = 'merged'") == [(60,)]
    # Each merged record's own values are kept, beside its id_map entry, pointing at the same survivor.
    merged = sum(line.merged for line in first.ledger)
    assert counts(url, "SELECT COUNT(*) FROM merged_record r JOIN id_map m ON m.entity = r.entity "
                       "AND m.source = r.source AND m.legacy_id = r.legacy_id AND m.status = 'merged' "
                       "AND m.target_id = r.survivor_id WHERE r.undone_run_id IS NULL") == [(merged,)]
    assert counts(url, "SELECT COUNT(*) FROM merged_record") == [(merged,)]


def test_only_stages_a_migration_and_pointers_resolve_through_id_map(project):
    url = f"sqlite:///{project / 'crm.db'}"
    migration = load_migration(with_target(project, url))
    accounts = run_migration(migration, only=entity_names(["accounts"]), allow_failing=True)
    assert [line.source for line in accounts.ledger] == ["accounts"]
    assert [e.entity for e in accounts.validation.entities] == ["account"]
    assert counts(url, "SELECT COUNT(*) FROM contact") == [(0,)]

    contacts = run_migration(migration, only=entity_names(["contact"]), allow_failing=True)
    assert [line.source for line in contacts.ledger] == ["contacts_crm", "contacts_reps"]
    for line in contacts.ledger:
        assert line.balanced and line.id_map_differ == 0
    # Accounts came from the first run: contacts point at their target ids.
    linked = counts(url, "SELECT COUNT(*) FROM contact c JOIN account a ON c.account_id = a.id "
                         "WHERE c.legacy_source = 'contacts_crm'")
    assert linked[0][0] > 190  # of 250, less the merged duplicates and those with no account
    assert counts(url, "SELECT COUNT(*) FROM id_map WHERE entity = 'account'") == [(150,)]


def test_entity_names_take_plurals_and_say_what_was_meant():
    assert entity_names(["accounts,contact", "Opportunities", "cases", "activities"]) == [
        "account", "contact", "opportunity", "case", "activity"]
    assert entity_names(["opportunity_contact_roles"]) == ["opportunity_contact_role"]
    with pytest.raises(BadUsage, match=r"unknown entity 'acount' \(did you mean 'account'\?\)"):
        entity_names(["acount"])


def test_dry_run_leaves_the_target_empty(project):
    url = f"sqlite:///{project / 'crm.db'}"
    result = run_migration(load_migration(with_target(project, url)), dry_run=True, allow_failing=True)
    assert result.dry_run
    assert sum(line.inserted for line in result.ledger) == 2317 - 60  # 60 duplicates merged
    for line in result.ledger:
        assert line.balanced and line.id_map is None
    for table in ("account", "contact", "lead", "activity", "id_map", "merged_record"):
        assert counts(url, f'SELECT COUNT(*) FROM "{table}"') == [(0,)]


def test_run_directory_holds_every_artifact(project):
    result = run_migration(load_migration(project / "migration.yaml"))
    run_dir = result.run_dir
    assert run_dir.parent == project / "runs"
    for name in ("accounts", "calls", "cases"):
        for path in (f"extracted/{name}.parquet", f"extracted/{name}.rejects.csv",
                     f"mapped/{name}.parquet", f"mapped/{name}.filtered.csv"):
            assert (run_dir / path).is_file(), path
    for path in ("clean/changes.csv", "clean/notes.csv", "validation/validation.json", "validation/validation.xml",
                 "validation/failures.csv", "validation/validation.html", "load.rejects.csv", "run.json"):
        assert (run_dir / path).is_file(), path
    changes = pd.read_csv(run_dir / "clean" / "changes.csv", dtype=str)
    # The run lets go of the changed cells once written, keeping their count.
    assert len(changes) == result.cleaning.changed > 0 and result.cleaning.changes.empty
    assert list(result.cleaning.changes.columns) == list(changes.columns)
    assert "BenoÃ®t" in set(changes["before"])
    assert "60999" in (run_dir / "extracted" / "cases.rejects.csv").read_text(encoding="utf-8")

    log = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert log["status"] == "done" and log["run_id"] == result.run_id
    assert log["clean"]["changed"] == len(changes)
    assert log["clean"]["notes"] == len(pd.read_csv(run_dir / "clean" / "notes.csv", dtype=str))
    assert log["target"] == f"sqlite:///{project / 'migration.db'}"
    assert set(log["timings"]) >= {"extract", "map", "clean", "validate", "ledger", "load"}
    assert log["clean"]["changed"] == len(changes)
    # Written beside dedupe by a forked process, and listed all the same.
    assert log["files"]["clean_changes"] == str(run_dir / "clean" / "changes.csv")
    assert log["files"]["clean_notes"] == str(run_dir / "clean" / "notes.csv")
    assert log["ledger"] == [line.as_dict() for line in result.ledger]
    assert log["ledger_ok"] is True
    assert log["gate"]["entities"]["account"] == {
        "passed": False, "rows": 150, "failed": ["account.parent_id"], "loaded": False,
        "held": "gate failed: account.parent_id"}
    assert [s["name"] for s in log["sources"]] == [m for _, m in SAMPLE_SOURCES]


def test_filtered_rows_are_in_the_ledger_with_the_filter_name(tmp_path):
    (tmp_path / "leads.csv").write_text(
        "No,Last,Company,Created\n1,Ito,Acme,2024-01-05\n2,Kim,Beta,2019-03-01\n3,Roe,Gamma,2023-07-09\n",
        encoding="utf-8")
    (tmp_path / "leads.yaml").write_text(
        "entity: lead\nfields:\n  id: 'No'\n  last_name: Last\n  company: Company\n"
        "  created_at: {from: Created, transforms: [date]}\n"
        "where:\n  - {name: since 2020, field: created_at, op: '>=', value: '2020-01-01'}\n",
        encoding="utf-8")
    (tmp_path / "migration.yaml").write_text(
        "sources:\n  - {location: leads.csv, mapping: leads.yaml}\n", encoding="utf-8")
    result = run_migration(load_migration(tmp_path / "migration.yaml"))
    (line,) = result.ledger
    assert (line.extracted, line.loaded, line.filtered, line.rejected) == (3, 2, 1, 0)
    assert line.id_map == {"loaded": 2, "filtered": 1}
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    assert counts(url, "SELECT legacy_id, status, reason FROM id_map WHERE status = 'filtered'") == [
        ("2", "filtered", "since 2020")]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("tagret: sqlite:///x.db\nsources: []\n", 1, "unknown key 'tagret' (did you mean 'target'?)"),
        ("sources:\n  - location: samples/legacy_crm/accounts.csv\n    maping: mappings/accounts.yaml\n", 3,
         "unknown key 'maping' (did you mean 'mapping'?)"),
        ("sources:\n  - location: samples/nowhere.csv\n    mapping: mappings/accounts.yaml\n", 2,
         "no such file"),
        ("sources:\n  - location: samples/legacy_crm/accounts.csv\n    mapping: mappings/nope.yaml\n", 3,
         "no such file"),
        (("sources:\n  - {location: samples/legacy_crm/accounts.csv, mapping: mappings/accounts.yaml}\n"
          "  - {location: samples/legacy_crm/accounts.csv, mapping: mappings/accounts.yaml}\n"), 3,
         "two sources are named 'accounts'"),
        (("target: nonsense\nsources:\n  - {location: samples/legacy_crm/accounts.csv, "
          "mapping: mappings/accounts.yaml}\n"), 1, "not a SQLAlchemy URL"),
        ("sources:\n  - location: samples/legacy_crm/accounts.csv\n    mapping: mappings/accounts.yaml\n"
         "    phone_region: Germany\n", 4, "not a region phonenumbers knows: 'Germany'"),
        ("cleaning: rules/nope.yaml\nsources:\n  - {location: samples/legacy_crm/accounts.csv, "
         "mapping: mappings/accounts.yaml}\n", 1, "no such file"),
    ],
)
def test_config_mistakes_name_file_and_line(project, text, line, message):
    config = project / "migration.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(BadConfig) as caught:
        load_migration(config)
    assert caught.value.file == str(config)
    assert caught.value.line == line
    assert message in caught.value.message


def test_a_mapping_mistake_names_the_mapping_file(project):
    mapping = project / "mappings" / "accounts.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("fields:", "feilds:"), encoding="utf-8")
    with pytest.raises(BadConfig, match=r"accounts.yaml, line \d+: unknown key 'feilds' \(did you mean 'fields'\?\)"):
        load_migration(project / "migration.yaml")


def test_rows_an_earlier_run_loaded_stay_loaded_when_the_gate_holds_their_entity(project):
    url = f"sqlite:///{project / 'crm.db'}"
    migration = load_migration(with_target(project, url))
    forced = run_migration(migration, allow_failing=True)
    held = run_migration(migration)

    assert "account" in held.held
    assert held.kept == {"account": 150, "contact": 448, "opportunity": 290,
                         "opportunity_contact_role": 350, "case": 195}
    lines = {line.source: line for line in held.ledger}
    # 20 of the 150 accounts were merged into others last time: they stay merged.
    assert (lines["accounts"].loaded, lines["accounts"].unchanged, lines["accounts"].merged,
            lines["accounts"].rejected) == (130, 130, 20, 0)
    # The contact the loader rejected last time is now rejected by the gate, with its reason.
    assert (lines["contacts_crm"].loaded + lines["contacts_crm"].merged, lines["contacts_crm"].rejected) == (249, 1)
    for line in held.ledger:
        assert line.ok, line
    assert counts(url, "SELECT COUNT(*) FROM account") == [(130,)]
    merged = sum(line.merged for line in forced.ledger if line.entity == "contact")
    assert counts(url, "SELECT status, COUNT(*) FROM id_map WHERE entity = 'contact' GROUP BY status "
                       "ORDER BY status") == [("loaded", 448 - merged), ("merged", merged), ("rejected", 2)]
    assert counts(url, "SELECT reason FROM id_map WHERE entity = 'contact' AND status = 'rejected'") == [
        ("gate failed: contact.email",)] * 2
    assert sum(line.loaded for line in forced.ledger) == sum(line.loaded for line in held.ledger)


def test_an_in_memory_target_gets_its_report_reconciled(project):
    """`target: sqlite://`: the reconciliation, which runs beside the report's sections on a
    connection of its own, runs after them instead (each thread would see its own empty
    database), and the report reconciles every line."""
    result = run_migration(load_migration(with_target(project, "sqlite://")), allow_failing=True)
    assert result.report is not None and result.report.error is None
    assert result.report.reconciled > 0 and not result.report.unexplained


def _in_a_forked_process(parent: int) -> bool:
    return os.getpid() != parent


FORKS = pytest.mark.skipif(parallel.cores() < 2 or not parallel.can_fork(),
                           reason="clean's files are written beside dedupe only with a second core to fork onto")


@FORKS
def test_clean_files_are_written_here_when_their_process_is_lost(project, monkeypatch):
    """The process writing clean's files beside dedupe killed (out of memory, say): the run
    writes them itself once dedupe is done, and lists them."""
    parent, write = os.getpid(), StageContext.write_cleaning

    def killed_when_forked(self, result):
        if _in_a_forked_process(parent):
            os._exit(9)  # as the kernel's OOM killer would leave it: no answer
        return write(self, result)

    monkeypatch.setattr(StageContext, "write_cleaning", killed_when_forked)
    result = run_migration(load_migration(project / "migration.yaml"))
    changes = pd.read_csv(result.run_dir / "clean" / "changes.csv", dtype=str)
    assert len(changes) == result.cleaning.changed > 0 and result.cleaning.changes.empty
    log = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert log["status"] == "done" and log["files"]["clean_changes"].endswith("changes.csv")


@FORKS
def test_a_clean_file_that_cannot_be_written_beside_dedupe_is_the_runs_error(project, monkeypatch):
    parent, write = os.getpid(), StageContext.write_cleaning

    def full_when_forked(self, result):
        if _in_a_forked_process(parent):
            raise OutputError("cannot write: No space left on device", file=str(self.run_dir / "clean"))
        return write(self, result)

    monkeypatch.setattr(StageContext, "write_cleaning", full_when_forked)
    with pytest.raises(OutputError, match="No space left on device"):
        run_migration(load_migration(project / "migration.yaml"))


def test_the_ledger_check_finds_each_id_map_entry_the_run_contradicts(tmp_path):
    """`_reconcile`'s check of id_map against what the run says of each legacy id, in Arrow: a
    padded id keys as the loader keys it, a blank one by its row, a record the load refused by
    the load's word, a merged id by dedupe's (the last word on an id counts); an entry a hand changed differs, and one deleted
    is missing (and differs too)."""
    from types import SimpleNamespace

    from crmmigrate.extract import Reject
    from crmmigrate.load import LoadReport, SourceLoad
    from crmmigrate.run import _Ledger, _reconcile

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    ledger = _Ledger(engine, "r1", dry_run=False)
    held = {"C9": "merged", "row 7": "rejected", "F1": "filtered", "C1": "loaded",
            "C2": "merged",  # the run loaded it: a hand changed its entry
            "C3": "rejected", "C5": "loaded"}  # "row 4" (a blank id) deleted by a hand
    ledger.id_map.record("contact", [{"source": "crm", "legacy_id": k, "target_id": None, "status": v, "reason": None}
                                     for k, v in held.items()])
    text = "str"
    contacts = pd.DataFrame({"id": [" C1 ", "C2", "", "C3", "C5"], "_row": ["2", "3", "4", "5", "6"],
                             "_source": ["crm"] * 5}, dtype=text)
    filtered = pd.DataFrame({"id": ["F1"], "_row": ["8"], "reason": ["old"]}, dtype=text)
    loaded = LoadReport("r1", "target", False, sources=[SourceLoad("contact", "crm", rows=5, inserted=4, rejected=1)],
                        rejects=[{"entity": "contact", "_source": "crm", "_row": "5", "legacy_id": "C3"}])
    merged = SimpleNamespace(entity="contact", merged=pd.DataFrame({"_source": ["crm", "crm"], "legacy_id": ["C9", "C5"]}))
    run = SimpleNamespace(entity="contact", name="crm", extracted=8)
    [line] = _reconcile([run], {"contact": contacts}, {"crm": filtered}, {"crm": [Reject("crm", "crm.csv", "7", "unbalanced quote", "\"x")]},
                        {}, {}, loaded, ledger, SimpleNamespace(entities=[merged]))
    assert line.id_map == {"merged": 2, "rejected": 2, "filtered": 1, "loaded": 2, "missing": 1}
    assert list(line.id_map) == ["merged", "loaded", "rejected", "filtered", "missing"]  # as they first come
    assert line.id_map_differ == 2  # C2, and the deleted row 4
    # C5 is said merged (a merged record's id), then loaded (another record's): the last word counts.
    assert (line.loaded, line.merged, line.rejected, line.filtered) == (4, 2, 2, 1)


def test_legacy_ids_padded_with_ascii_separators_keep_one_key_in_the_table_and_the_ledger(project):
    """A legacy id padded with U+001C to U+001F (ASCII, and whitespace to str.strip()): the
    loader keyed it untrimmed while the ledger keyed it trimmed, and the run failed its own
    ledger check (exit 3, "2 legacy id(s) whose id_map status is not the one this run gave
    them"). Both now take off what str.strip() takes off."""
    accounts = project / "samples" / "legacy_crm" / "accounts.csv"
    data = accounts.read_bytes()
    assert b"\r\n1001;" in data and b"\r\n1002;" in data
    accounts.write_bytes(data.replace(b"\r\n1001;", b"\r\n1001\x1f;", 1).replace(b"\r\n1002;", b"\r\n\x1c1002;", 1))
    url = f"sqlite:///{project / 'crm.db'}"
    result = run_migration(load_migration(with_target(project, url)), allow_failing=True)
    assert all(line.id_map_differ == 0 and line.balanced for line in result.ledger)
    assert counts(url, "SELECT legacy_id FROM account WHERE legacy_id IN ('1001', '1002') ORDER BY legacy_id") \
        == [("1001",), ("1002",)]


@needs_proc
def test_what_dedupe_holds_without_deduplicating_it_reads_from_a_file_not_the_runs_memory(project, monkeypatch):
    """The opportunities, cases, roles, leads and activities wait through dedupe (which reads
    and re-points their pointers only) in a file of the run directory that the system pages in
    as they are read, not in the run's own memory; the accounts and contacts it deduplicates
    stay as they were. The run is the same run, and leaves no such file behind."""
    seen: dict[str, tuple[set[bool], set[bool]]] = {}
    deduplicating = run_module.dedupe

    def watched(datasets, rules, **options):
        for name, frame in datasets.items():
            where = [_mapping_of(address) for address in _text_buffers(frame)]
            seen[name] = ({w is not None for w in where},
                          {w.startswith(str(project)) for w in where if w is not None})
        return deduplicating(datasets, rules, **options)

    monkeypatch.setattr(run_module, "dedupe", watched)
    result = run_migration(load_migration(project / "migration.yaml"), allow_failing=True)

    assert_exact_ledger(result)
    for name in ("opportunity", "opportunity_contact_role", "case", "lead", "activity"):
        assert seen[name] == ({True}, {True}), name  # every text column from a file of the project's
    for name in ("account", "contact"):
        assert seen[name] == ({False}, set()), name
    names = {p.name for p in result.run_dir.rglob("*")}
    assert not any(n.startswith("tmp") for n in names), names
