"""`crmmigrate run` as an engineer runs it: exit codes, the ledger table, masked passwords, and a
run killed with SIGKILL in the middle of its load that a rerun finishes exactly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.scaffold import init_project
from tests.contacts_migration import write_contacts_migration

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path / "project")
    return tmp_path / "project"


def table(output: str, title: str) -> list[list[str]]:
    """The body rows of the rich table printed under `title`, as stripped cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 4:]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


LEDGER = "ledger: extracted = loaded + merged + rejected + filtered"
# entity, source, extracted, loaded, merged, rejected, filtered, inserted, updated, unchanged, id_map
FIRST_RUN = [
    ["account", "accounts", "150", "0", "0", "150", "0", "0", "0", "0", "agrees"],
    ["contact", "contacts_crm", "250", "0", "0", "250", "0", "0", "0", "0", "agrees"],
    ["contact", "contacts_reps", "200", "0", "0", "200", "0", "0", "0", "0", "agrees"],
    ["lead", "leads", "200", "186", "0", "14", "0", "186", "0", "0", "agrees"],
    ["opportunity", "opportunities", "300", "0", "0", "300", "0", "0", "0", "0", "agrees"],
    ["opportunity_contact_role", "opportunity_contact_roles", "350", "0", "0", "350", "0", "0", "0", "0",
     "agrees"],
    ["case", "cases", "201", "0", "0", "201", "0", "0", "0", "0", "agrees"],
    ["activity", "activities", "401", "398", "0", "3", "0", "398", "0", "0", "agrees"],
    ["activity", "calls", "300", "300", "0", "0", "0", "300", "0", "0", "agrees"],
    ["all", "", "2,352", "884", "0", "1,468", "0", "884", "0", "0", ""],
]


def test_the_samples_load_what_passes_the_gate_and_a_rerun_changes_nothing(project):
    config = str(project / "migration.yaml")
    first = runner.invoke(app, ["run", config])

    assert first.exit_code == 1, first.output
    assert table(first.stdout, LEDGER) == FIRST_RUN
    assert table(first.stdout, "gate")[0] == ["account", "150", "FAIL parent_id",
                                              "no: gate failed: account.parent_id"]
    assert table(first.stdout, "gate")[5] == ["case", "200", "PASS",
                                              "no: points into account, contact, which is held back"]
    assert first.stdout.splitlines()[-1] == (
        "FAILED: 5 entities held back: account, contact, opportunity, opportunity_contact_role, case; "
        "fix the data or the rules and run again (loaded rows are not loaded twice).")

    second = runner.invoke(app, ["run", config])
    assert second.exit_code == 1, second.output
    rows = table(second.stdout, LEDGER)
    assert [r[7:9] for r in rows] == [["0", "0"]] * len(rows)  # nothing inserted, nothing updated
    assert rows[-1] == ["all", "", "2,352", "884", "0", "1,468", "0", "0", "0", "884", ""]
    assert len(list((project / "runs").iterdir())) == 2


def test_allow_failing_loads_everything_and_exits_0(project):
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--allow-failing"])
    assert result.exit_code == 0, result.output
    assert table(result.stdout, LEDGER)[-1] == ["all", "", "2,352", "2,257", "60", "35", "0", "2,257", "0", "0", ""]
    assert "loaded although their gate failed (--allow-failing): account, contact, opportunity, " \
           "opportunity_contact_role." in result.stderr
    assert result.stdout.splitlines()[-1] == "done: every selected entity loaded."


def test_only_runs_the_named_entities(project):
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--only", "accounts,leads",
                                 "--allow-failing"])
    assert result.exit_code == 0, result.output
    assert [r[:4] for r in table(result.stdout, LEDGER)] == [
        ["account", "accounts", "150", "130"], ["lead", "leads", "200", "186"], ["all", "", "350", "316"]]
    assert "only     account, lead" in result.stdout


def test_only_with_an_unknown_entity_is_bad_usage(project):
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--only", "acounts"])
    assert result.exit_code == 2
    assert "crmmigrate: error: unknown entity 'acounts' (did you mean 'account'?)" in result.stderr


def test_dry_run_commits_nothing(project):
    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--dry-run", "--allow-failing"])
    assert result.exit_code == 0, result.output
    assert "(dry run: nothing committed)" in result.stdout
    assert {r[-1] for r in table(result.stdout, LEDGER)[:-1]} == {"not checked (dry run)"}
    engine = sa.create_engine(f"sqlite:///{project / 'migration.db'}")
    with engine.connect() as connection:
        for name in ("account", "contact", "lead", "activity", "id_map"):
            assert connection.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar() == 0
    engine.dispose()


def test_a_config_typo_exits_2_with_file_line_and_the_fix(project):
    config = project / "migration.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("thresholds:", "tresholds:"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"crmmigrate: error: {config}, line 6: unknown key 'tresholds' (did you mean 'thresholds'?)")
    assert not (project / "runs").exists()


def test_a_target_that_does_not_answer_exits_2_before_reading_anything(project):
    config = project / "migration.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "sqlite:///migration.db", "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/crm"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 2
    assert "crmmigrate: error: postgresql+psycopg://postgres:***@127.0.0.1:1/crm: cannot connect" in result.stderr
    assert "hunter2" not in result.output
    (run_dir,) = (project / "runs").iterdir()
    log = (run_dir / "run.json").read_text(encoding="utf-8")
    assert "hunter2" not in log
    assert json.loads(log)["status"] == "failed"


@pytest.mark.postgres
def test_a_password_appears_nowhere_in_output_or_the_run_directory(project, postgres_url):
    password = "pw-" + uuid.uuid4().hex[:10]
    name = f"crm_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        # The servers the tests use trust local connections, so any password gets in.
        url = sa.make_url(postgres_url).set(password=password, database=name).render_as_string(hide_password=False)
        config = project / "migration.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace("sqlite:///migration.db", url),
                          encoding="utf-8")
        result = runner.invoke(app, ["run", str(config), "--verbose"])
        assert result.exit_code == 1, result.output
        assert password not in result.output
        assert f"postgres:***@127.0.0.1:5432/{name}" in result.stdout
        files = [p for p in (project / "runs").rglob("*") if p.is_file()]
        assert len(files) > 20
        for path in files:
            assert password.encode() not in path.read_bytes(), path
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- resume --------------------------------------------------------------------------------------

CONTACTS = 60_000
NO_LAST_NAME = range(0, CONTACTS, 600)  # 100 rows a key check rejects on load
TEST_RECORDS = range(7, CONTACTS, 1200)  # 50 rows the mapping's filter removes


def _write_big_migration(folder: Path, target: str = "sqlite:///crm.db", bulk_rows: int = 0) -> Path:
    return write_contacts_migration(
        folder, target, CONTACTS, bulk_rows=bulk_rows,
        last_name=lambda i: "" if i in NO_LAST_NAME else ("Test" if i in TEST_RECORDS else f"Name{i}"),
        where="  - {name: no test records, field: last_name, op: '!=', value: Test}\n")


def _loaded_so_far(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        # Read-write, so that after a kill the hot journal is rolled back, as the rerun will.
        with sqlite3.connect(database, timeout=0.05) as connection:
            return connection.execute("SELECT COUNT(*) FROM contact").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked by the writer's commit
        return 0


def test_a_run_killed_during_its_load_is_finished_by_a_rerun_exactly(tmp_path):
    config = _write_big_migration(tmp_path)
    database = tmp_path / "crm.db"
    command = [sys.executable, "-m", "crmmigrate", "run", str(config)]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = 0
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        seen = _loaded_so_far(database)
        if 0 < seen < CONTACTS - 10_000:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"the run ended before it could be killed ({seen} rows seen)"
    (killed,) = (tmp_path / "runs").iterdir()
    assert json.loads((killed / "run.json").read_text(encoding="utf-8"))["status"] == "running"
    committed = _loaded_so_far(database)
    assert 0 < committed < CONTACTS - len(NO_LAST_NAME) - len(TEST_RECORDS)

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert json.loads((killed / "run.json").read_text(encoding="utf-8"))["status"] == "interrupted"
    assert f"crmmigrate: note: run {killed.name} (started " in rerun.stderr

    loadable = CONTACTS - len(NO_LAST_NAME) - len(TEST_RECORDS)
    with sqlite3.connect(database) as connection:
        rows, distinct = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT legacy_id) FROM contact").fetchone()
        statuses = dict(connection.execute("SELECT status, COUNT(*) FROM id_map GROUP BY status").fetchall())
        targets = connection.execute(
            "SELECT COUNT(*) FROM id_map m JOIN contact c ON c.id = m.target_id AND c.legacy_id = m.legacy_id "
            "WHERE m.status = 'loaded'").fetchone()[0]
    assert rows == distinct == loadable
    assert statuses == {"loaded": loadable, "rejected": len(NO_LAST_NAME), "filtered": len(TEST_RECORDS)}
    assert targets == loadable

    (finished,) = [d for d in (tmp_path / "runs").iterdir() if d != killed]
    log = json.loads((finished / "run.json").read_text(encoding="utf-8"))
    (line,) = log["ledger"]
    assert (line["extracted"], line["loaded"], line["rejected"], line["filtered"]) == (
        CONTACTS, loadable, len(NO_LAST_NAME), len(TEST_RECORDS))
    # The rows the killed run committed are not written again; the rest are inserted once.
    assert line["unchanged"] == committed
    assert line["inserted"] == loadable - committed
    assert line["updated"] == 0
    assert line["ok"] is True


def test_a_run_killed_during_a_sqlite_bulk_load_is_finished_by_a_rerun_exactly(tmp_path):
    """On SQLite a bulk load stages its rows in a file beside the target, then copies them in
    one transaction. A kill while it stages leaves the target as it was; the rerun loads it all
    and removes the file the killed run left."""
    config = _write_big_migration(tmp_path, bulk_rows=50_000)
    staging = tmp_path / "crm.db.crmmigrate-staging"
    command = [sys.executable, "-m", "crmmigrate", "run", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if staging.exists():
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it staged anything"
    assert _loaded_so_far(tmp_path / "crm.db") == 0

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    loadable = CONTACTS - len(NO_LAST_NAME) - len(TEST_RECORDS)
    with sqlite3.connect(tmp_path / "crm.db") as connection:
        rows, distinct = connection.execute("SELECT COUNT(*), COUNT(DISTINCT legacy_id) FROM contact").fetchone()
        statuses = dict(connection.execute("SELECT status, COUNT(*) FROM id_map GROUP BY status").fetchall())
        indexes = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert rows == distinct == loadable
    assert statuses == {"loaded": loadable, "rejected": len(NO_LAST_NAME), "filtered": len(TEST_RECORDS)}
    assert {"uq_contact_legacy", "ix_contact_account_id"} <= indexes
    assert not staging.exists()


@contextlib.contextmanager
def _new_database(server: str, drop: str) -> Iterator[tuple[sa.Engine, str, str, sa.Engine]]:
    """A new database on the server of `server`: an admin engine (autocommit), its name, its URL
    (with the password) and an engine on it; dropped after by `drop` (formatted with the name)."""
    name = f"crm_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {admin.dialect.identifier_preparer.quote(name)}"))
    url = sa.make_url(server).set(database=name)
    target = sa.create_engine(url)
    try:
        yield admin, name, url.render_as_string(hide_password=False), target
    finally:
        target.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(drop.format(name)))
        admin.dispose()


def _rerun_loads_exactly(command: list[str], target: sa.Engine) -> None:
    """The rerun of a run killed in its bulk load exits 0 with every loadable contact in the
    target once, and id_map agreeing with the rows."""
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    loadable = CONTACTS - len(NO_LAST_NAME) - len(TEST_RECORDS)
    with target.connect() as connection:
        rows, distinct = connection.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT legacy_id) FROM contact")).one()
        statuses = dict(connection.execute(sa.text("SELECT status, COUNT(*) FROM id_map GROUP BY status")).all())
        targets = connection.execute(sa.text(
            "SELECT COUNT(*) FROM id_map m JOIN contact c ON c.id = m.target_id AND c.legacy_id = m.legacy_id "
            "WHERE m.status = 'loaded'")).scalar_one()
    assert rows == distinct == loadable
    assert statuses == {"loaded": loadable, "rejected": len(NO_LAST_NAME), "filtered": len(TEST_RECORDS)}
    assert targets == loadable


@pytest.mark.postgres
def test_a_run_killed_during_a_bulk_load_is_finished_by_a_rerun_exactly(tmp_path, postgres_url):
    """60,000 new contacts load in bulk: one transaction, indexes dropped and built again. A
    kill during its COPY leaves the table as it was, indexes included; the rerun loads it all."""
    with _new_database(postgres_url, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)') as (admin, name, url, target):
        config = _write_big_migration(tmp_path, url, bulk_rows=50_000)
        command = [sys.executable, "-m", "crmmigrate", "run", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        copying = False
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            with admin.connect() as connection:
                copying = bool(connection.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND query LIKE 'COPY \"contact\" %'"),
                    {"db": name}).scalar_one())
            if copying:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, "the run ended before its COPY was seen"
        # The server rolls the load back once it sees the client gone.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with admin.connect() as connection:
                if not connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                                                  "AND pid <> pg_backend_pid()"), {"db": name}).scalar_one():
                    break
            time.sleep(0.05)
        with target.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM contact")).scalar_one() == 0
        assert {i["name"] for i in sa.inspect(target).get_indexes("contact")} >= {"uq_contact_legacy"}

        _rerun_loads_exactly(command, target)


@pytest.mark.mariadb
def test_a_run_killed_during_a_mariadb_bulk_load_is_finished_by_a_rerun_exactly(tmp_path, mariadb_url):
    """On MariaDB 60,000 new contacts load in bulk by LOAD DATA LOCAL INFILE in one
    transaction, the indexes kept. A kill while a piece is sent leaves the table as it was; the
    rerun loads it all, and the id_map agrees with the rows."""
    with _new_database(mariadb_url, "DROP DATABASE IF EXISTS {}") as (admin, name, url, target):
        def sessions(what: str = "") -> int:
            with admin.connect() as connection:
                return connection.execute(sa.text(
                    "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = :db AND ID <> CONNECTION_ID() "
                    "AND COALESCE(INFO, '') LIKE :what"), {"db": name, "what": what + "%"}).scalar_one()

        config = _write_big_migration(tmp_path, url, bulk_rows=50_000)
        command = [sys.executable, "-m", "crmmigrate", "run", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if sessions("LOAD DATA LOCAL INFILE"):
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        process.kill()  # (a run past the deadline, too: the database is dropped below)
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, "the run ended before its LOAD DATA was seen"
        # The server rolls the load back once it sees the client gone.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sessions():
            time.sleep(0.05)
        assert not sessions()
        with target.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM contact")).scalar_one() == 0

        _rerun_loads_exactly(command, target)
        assert {i["name"] for i in sa.inspect(target).get_indexes("contact")} >= {"uq_contact_legacy"}


# -- the ledger at 80 columns --------------------------------------------------------------------


def _big_ledger() -> list:
    from crmmigrate.run import LedgerLine

    return [
        LedgerLine("opportunity_contact_role", "opportunity_contact_roles", 1_834_567, 1_700_000, 34_567,
                   90_000, 10_000, 1_600_000, 99_999, 1, id_map={}, id_map_differ=0),
        LedgerLine("account", "accounts", 1_812_345, 1_812_345, 0, 0, 0, 1_812_345, 0, 0, id_map={},
                   id_map_differ=0),
        LedgerLine("account", "accounts_b", 12, 12, 0, 0, 0, 0, 12, 0, id_map=None),
    ]


def _render_ledger(width: int) -> str:
    import io

    from rich.console import Console

    from crmmigrate.cli.terminal.run import ledger_table

    console = Console(width=width, file=io.StringIO(), highlight=False, soft_wrap=False)
    ledger_table(_big_ledger(), console=console)
    return console.file.getvalue()


def test_the_ledger_is_whole_at_80_columns():
    output = _render_ledger(80)

    assert max(len(line) for line in output.splitlines()) <= 80
    assert "…" not in output
    cells = {cell.strip() for line in output.splitlines() for cell in line.split("│")}
    lines = _big_ledger()
    figures = {f"{getattr(line, name):,}" for line in lines for name in (
        "extracted", "loaded", "merged", "rejected", "filtered", "inserted", "updated", "unchanged")}
    totals = {f"{sum(getattr(line, name) for line in lines):,}" for name in (
        "extracted", "loaded", "merged", "rejected", "filtered", "inserted", "updated", "unchanged")}
    assert figures | totals <= cells, sorted((figures | totals) - cells)
    assert {"opportunity_contact_roles", "accounts", "accounts_b"} <= cells
    # Stacked: what happened to the rows, then how the loaded ones were written.
    assert LEDGER in output
    assert "loaded = inserted + updated + unchanged" in output


def test_the_ledger_is_one_table_on_a_wide_console():
    output = _render_ledger(200)
    rows = table(output, LEDGER)
    assert rows[0] == ["opportunity_contact_role", "opportunity_contact_roles", "1,834,567", "1,700,000",
                       "34,567", "90,000", "10,000", "1,600,000", "99,999", "1", "agrees"]
    assert "loaded = inserted" not in output


# -- a killed run ----------------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _running_log(project: Path, run_id: str, **fields) -> Path:
    """A run.json as a run writes it first, with `fields` (pid, host, target) as given."""
    path = project / "runs" / run_id / "run.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run_id": run_id, "status": "running", "started_at": "2026-01-02T03:04:05+00:00",
                                **fields}), encoding="utf-8")
    return path


def _new_run_id(project: Path, *old: str) -> str:
    (new,) = [d.name for d in (project / "runs").iterdir() if d.name not in old]
    return new


def test_a_run_whose_process_is_gone_is_marked_interrupted_by_the_next(project):
    killed = _running_log(project, "20260102T030405Z-dead00", pid=_dead_pid(), host=socket.gethostname(),
                          target="sqlite:///elsewhere.db")
    alive = _running_log(project, "20260102T030405Z-alive0", pid=os.getpid(), host=socket.gethostname(),
                         target="sqlite:///elsewhere.db")

    result = runner.invoke(app, ["run", str(project / "migration.yaml"), "--only", "accounts", "--allow-failing"])

    assert result.exit_code == 0, result.output
    log = json.loads(killed.read_text(encoding="utf-8"))
    new = _new_run_id(project, "20260102T030405Z-dead00", "20260102T030405Z-alive0")
    assert log["status"] == "interrupted"
    assert log["interrupted_found_by"] == new
    assert datetime.fromisoformat(log["interrupted_found_at"]) > datetime.fromisoformat(log["started_at"])
    said = [line for line in result.stderr.splitlines() if "interrupted" in line]
    assert said == ["crmmigrate: note: run 20260102T030405Z-dead00 (started 2026-01-02T03:04:05+00:00) was "
                    'interrupted: it was stopped before it finished; its run.json now says "status": '
                    '"interrupted".']
    # A run whose process still lives (waiting for a lock, or writing elsewhere) is left alone.
    assert json.loads(alive.read_text(encoding="utf-8"))["status"] == "running"
    assert json.loads((project / "runs" / new / "run.json").read_text(encoding="utf-8"))[
        "interrupted_runs_found"] == ["20260102T030405Z-dead00"]


def test_a_run_holding_the_target_lock_is_not_marked_interrupted(project):
    from crmmigrate.load.lock import target_lock
    from crmmigrate.migration import load_migration

    config = project / "migration.yaml"
    migration = load_migration(config)
    # From another host: its process cannot be looked up, only its lock on the target.
    other = _running_log(project, "20260102T030405Z-other0", pid=1, host="another-host",
                         target=migration.masked_target)
    engine = sa.create_engine(migration.target)
    try:
        with target_lock(engine):
            refused = runner.invoke(app, ["run", str(config), "--only", "accounts", "--allow-failing"])
        assert refused.exit_code == 2, refused.output
        assert json.loads(other.read_text(encoding="utf-8"))["status"] == "running"
        assert "interrupted" not in refused.stderr
    finally:
        engine.dispose()

    # Once the lock is free, that run is not writing to the target any more: it was killed.
    result = runner.invoke(app, ["run", str(config), "--only", "accounts", "--allow-failing"])
    assert result.exit_code == 0, result.output
    assert json.loads(other.read_text(encoding="utf-8"))["status"] == "interrupted"
    assert "run 20260102T030405Z-other0 (started" in result.stderr
