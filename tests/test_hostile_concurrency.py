"""Two runs on one target at once, and an id_map that disagrees with the loaded tables.

Before the target's lock, two `crmmigrate run` at once on PostgreSQL ended with one run "done"
after marking every row it found written by the other as `rejected` in id_map, the other with
exit 3, and every later run with exit 3. Now one run holds the target's lock from its connection
to its ledger: another waits for it (`--wait`) or is refused with exit 2, writing nothing. And
an id_map that disagrees with the tables (left by such a run, or a hand edit) is rebuilt from
them: by `crmmigrate target repair`, and by the next run before it loads.

Nothing here depends on timing luck: the test holds the lock itself to make runs wait, and
stops a run that holds it (SIGSTOP) to start another against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.load.lock import TargetBusy, target_lock
from tests.contacts_migration import write_contacts_migration
from tests.test_undo_merge import target  # noqa: F401  (the fixture: a new SQLite, PostgreSQL or MariaDB database)

runner = CliRunner()
ROWS = 3000
SECRET = "s3cret-pw"


def _write_migration(folder: Path, target_url: str) -> Path:
    """A migration of ROWS valid contacts, every one loadable (the gate passes: exit 0)."""
    return write_contacts_migration(folder, target_url, ROWS)


@pytest.fixture
def url(target: str) -> str:
    """An empty target of each kind; PostgreSQL's with a password (trust auth ignores it), which
    must never be shown."""
    parsed = sa.make_url(target)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(password=SECRET)
    return parsed.render_as_string(hide_password=False)


def _shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _start(config: Path, log: Path, *options: str) -> subprocess.Popen:
    """A real `crmmigrate run` in a process of its own, its output in files (no pipe to fill)."""
    return subprocess.Popen([sys.executable, "-m", "crmmigrate", "run", str(config), *options],
                            stdout=log.with_suffix(".out").open("w"), stderr=log.with_suffix(".err").open("w"),
                            env={**os.environ, "COLUMNS": "200"})


def _until(condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.02)


def _ledger(run_dir: Path) -> dict:
    (line,) = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["ledger"]
    return line


def _newest_run(folder: Path) -> Path:
    return max(folder.iterdir(), key=lambda d: json.loads((d / "run.json").read_text(encoding="utf-8"))["started_at"])


def _holds_lock(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with target_lock(engine):
            return False
    except TargetBusy:
        return True
    finally:
        engine.dispose()


def _no_write_lock(url: str) -> bool:
    """Whether nobody is writing to a SQLite target (a stopped run in its commit would keep
    even readers out); always true on a server."""
    if not url.startswith("sqlite"):
        return True
    connection = sqlite3.connect(sa.make_url(url).database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def _state(url: str) -> dict:
    """Rows, id_map by status, and how many `loaded` entries name their own row."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if "contact" not in sa.inspect(connection).get_table_names():
                return {"rows": 0, "statuses": {}, "agreeing": 0}
            rows = connection.execute(sa.text("SELECT COUNT(*) FROM contact")).scalar_one()
            statuses = dict(connection.execute(sa.text("SELECT status, COUNT(*) FROM id_map GROUP BY status")).all())
            agreeing = connection.execute(sa.text(
                "SELECT COUNT(*) FROM id_map m JOIN contact c ON c.id = m.target_id AND c.legacy_id = m.legacy_id "
                "AND c.legacy_source = m.source WHERE m.status = 'loaded' AND m.entity = 'contact'")).scalar_one()
    finally:
        engine.dispose()
    return {"rows": rows, "statuses": statuses, "agreeing": agreeing}


AGREES = {"rows": ROWS, "statuses": {"loaded": ROWS}, "agreeing": ROWS}


def _rerun_writes_nothing(config: Path, url: str) -> None:
    rerun = runner.invoke(app, ["run", str(config)], env={"COLUMNS": "200"})
    assert rerun.exit_code == 0, rerun.output
    line = _ledger(_newest_run(config.parent / "runs"))
    assert (line["inserted"], line["updated"], line["unchanged"], line["ok"]) == (0, 0, ROWS, True)
    assert _state(url) == AGREES


# -- the lock ------------------------------------------------------------------------------------


def test_two_runs_at_once_one_loads_the_other_waits_for_it(url, tmp_path):
    """The test holds the target's lock: both runs wait, saying so, and write nothing. Let go,
    one run loads every row; the other waits for it to finish, then finds nothing to write."""
    config = _write_migration(tmp_path, url)
    holder = sa.create_engine(url)
    runs = []
    try:
        with target_lock(holder):
            runs = [_start(config, tmp_path / name, "--wait", "300") for name in ("a", "b")]
            for name in ("a", "b"):
                err = tmp_path / f"{name}.err"
                _until(lambda err=err: "waiting up to 300 s" in err.read_text(encoding="utf-8"), f"run {name} to wait")
            assert all(run.poll() is None for run in runs)
            assert _state(url)["rows"] == 0
        for run in runs:
            run.wait(timeout=300)
    finally:
        holder.dispose()
        for run in runs:
            if run.poll() is None:
                run.kill()
    for name, run in zip("ab", runs, strict=True):
        assert run.returncode == 0, (tmp_path / f"{name}.out").read_text() + (tmp_path / f"{name}.err").read_text()
        err = (tmp_path / f"{name}.err").read_text(encoding="utf-8")
        assert f"{_shown(url)}: another crmmigrate run is writing to this target" in err
        assert SECRET not in err

    lines = sorted((_ledger(d) for d in (tmp_path / "runs").iterdir()), key=lambda line: line["inserted"])
    assert [(line["inserted"], line["unchanged"], line["rejected"], line["ok"]) for line in lines] == [
        (0, ROWS, 0, True), (ROWS, 0, 0, True)]
    assert _state(url) == AGREES
    _rerun_writes_nothing(config, url)


def test_a_run_started_while_another_loads_is_refused_with_exit_2(url, tmp_path):
    """Run A is stopped while it holds the target's lock; run B, started then, is refused at
    once with exit 2, naming the target without its password, and writes nothing. A then
    finishes alone, and its ledger agrees with id_map."""
    config = _write_migration(tmp_path, url)
    # --wait, so that the test's own look at the lock never makes A give up.
    first = _start(config, tmp_path / "a", "--wait", "300")
    stopped = False
    try:
        deadline = time.monotonic() + 120
        while True:
            assert first.poll() is None, "run A ended before it was seen holding the lock"
            assert time.monotonic() < deadline, "run A was never seen holding the lock"
            os.kill(first.pid, signal.SIGSTOP)
            stopped = True
            if _no_write_lock(url) and _holds_lock(url):
                break  # A holds the target's lock, and no database lock a newcomer would wait on
            os.kill(first.pid, signal.SIGCONT)
            stopped = False
            time.sleep(0.01)
        before = _state(url)
        second = subprocess.run([sys.executable, "-m", "crmmigrate", "run", str(config)], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}, check=False)
        assert second.returncode == 2, second.stdout + second.stderr
        assert (f"crmmigrate: error: {_shown(url)}: another crmmigrate run is writing to this target"
                in second.stderr)
        assert "nothing was written" in second.stderr
        assert "--wait SECONDS" in second.stderr
        assert SECRET not in second.stdout + second.stderr
        assert "Traceback" not in second.stderr
        assert _state(url) == before
        os.kill(first.pid, signal.SIGCONT)
        stopped = False
        first.wait(timeout=300)
    finally:
        if stopped:
            os.kill(first.pid, signal.SIGCONT)
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, (tmp_path / "a.out").read_text() + (tmp_path / "a.err").read_text()
    runs = {json.loads((d / "run.json").read_text(encoding="utf-8"))["status"]: d
            for d in (tmp_path / "runs").iterdir()}
    assert set(runs) == {"done", "failed"}
    refused = json.loads((runs["failed"] / "run.json").read_text(encoding="utf-8"))
    assert "another crmmigrate run is writing to this target" in refused["error"]
    assert SECRET not in (runs["failed"] / "run.json").read_text(encoding="utf-8")
    line = _ledger(runs["done"])
    assert (line["inserted"], line["ok"]) == (ROWS, True)
    assert _state(url) == AGREES
    _rerun_writes_nothing(config, url)


def test_a_wait_that_runs_out_is_refused_with_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    config = _write_migration(tmp_path, url)
    holder = sa.create_engine(url)
    try:
        with target_lock(holder):
            result = runner.invoke(app, ["run", str(config), "--wait", "0.5"])
    finally:
        holder.dispose()
    assert result.exit_code == 2, result.output
    assert "waiting up to 0.5 s for it to finish" in result.stderr
    assert (f"{url}: another crmmigrate run was still writing to this target after 0.5 s of waiting; nothing "
            f"was written (its lock is held by pid {os.getpid()} since ") in result.stderr
    assert _state(url)["rows"] == 0


def test_load_and_target_repair_are_refused_while_a_run_holds_the_target(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    mapping = tmp_path / "contacts.yaml"
    _write_migration(tmp_path, url)
    holder = sa.create_engine(url)
    runner.invoke(app, ["target", "init", url])
    try:
        with target_lock(holder):
            loaded = runner.invoke(app, ["load", f"{mapping}={tmp_path / 'contacts.csv'}", "--target", url,
                                         "--rejects", str(tmp_path / "rejects.csv")])
            repaired = runner.invoke(app, ["target", "repair", url])
    finally:
        holder.dispose()
    for result in (loaded, repaired):
        assert result.exit_code == 2, result.output
        # Each refusal names the holder: a refused run leaves the lock file as the holder wrote it.
        assert (f"crmmigrate: error: {url}: another crmmigrate run is writing to this target; nothing was "
                f"written (its lock is held by pid {os.getpid()} since ") in result.stderr
    assert _state(url)["rows"] == 0


HOLD_AND_FORK = """
import multiprocessing, sys, time
import sqlalchemy as sa
from crmmigrate.load.lock import target_lock

with target_lock(sa.create_engine(sys.argv[1])):
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(300,))
    child.start()  # as the bulk loader's preparers are forked, the lock held
    print(child.pid, flush=True)
    time.sleep(300)
"""


def test_a_killed_run_leaves_no_lock_behind_though_its_forked_children_live_on(url):
    """A run killed with SIGKILL while its forked children live on (they do: a process pool's
    workers outlive their parent) must not leave the target locked for every later run."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_AND_FORK, url], stdout=subprocess.PIPE, text=True)
    child = int(process.stdout.readline())
    try:
        assert _holds_lock(url)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        _until(lambda: not _holds_lock(url), "the killed run's lock to go", seconds=30)
        os.kill(child, 0)  # the child lives on (and would hold the lock, had it kept its copy)
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


# -- id_map repaired from the tables ---------------------------------------------------------------


def _damage(url: str) -> None:
    """What two runs at once, a crash or a hand could leave: entries `rejected` because the
    other run had written the row, entries missing, entries naming another row, an entry for no
    row. And one that is right: a record a later run rejected keeps the row an earlier one loaded."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "UPDATE id_map SET status = 'rejected', target_id = NULL, reason = 'database refused: duplicate "
                "key value violates unique constraint \"uq_contact_legacy\"' "
                "WHERE legacy_id IN ('C-0', 'C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6', 'C-7', 'C-8')"))
            connection.execute(sa.text(
                "UPDATE id_map SET status = 'rejected', target_id = NULL, reason = 'database refused: (sqlite3."
                "OperationalError) database is locked' WHERE legacy_id = 'C-9'"))
            connection.execute(sa.text(
                "UPDATE id_map SET status = 'rejected', target_id = NULL, reason = 'required field(s) last_name "
                "empty' WHERE legacy_id = 'C-30'"))
            connection.execute(sa.text(
                "DELETE FROM id_map WHERE legacy_id IN ('C-10', 'C-11', 'C-12', 'C-13', 'C-14')"))
            connection.execute(sa.text(
                "UPDATE id_map SET target_id = target_id + 1 WHERE legacy_id IN ('C-20', 'C-21', 'C-22')"))
            connection.execute(sa.text(
                "INSERT INTO id_map (entity, source, legacy_id, target_id, status, reason, run_id) "
                "VALUES ('contact', 'contacts', 'C-ghost', 999999, 'loaded', NULL, 'by-hand')"))
    finally:
        engine.dispose()


REPAIRED = [
    "id_map repaired: contact/contacts: 3 'loaded' entries naming another row, now naming the record's own",
    "id_map repaired: contact/contacts: 5 entries missing for rows the table holds, now 'loaded'",
    "id_map repaired: contact/contacts: 10 entries 'rejected' for rows the table holds, now 'loaded'",
    "id_map repaired: contact/contacts: 1 'loaded' entry with no row in the table removed (the next run loads "
    "them again)",
]


def test_target_repair_rebuilds_a_damaged_id_map_from_the_tables(url, tmp_path):
    config = _write_migration(tmp_path, url)
    first = runner.invoke(app, ["run", str(config)])
    assert first.exit_code == 0, first.output
    _damage(url)
    damaged = _state(url)
    assert damaged["agreeing"] == ROWS - 19

    dry = runner.invoke(app, ["target", "repair", url, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "19 id_map entries would change (dry run)" in dry.stdout
    assert _state(url) == damaged

    repaired = runner.invoke(app, ["target", "repair", url])
    assert repaired.exit_code == 0, repaired.output
    shown = _shown(url)
    assert repaired.stdout.splitlines() == [f"{shown}: {line}" for line in REPAIRED] + [
        f"{shown}: 19 id_map entries changed"]
    assert SECRET not in repaired.output
    # The record a later run rejected stays rejected: the next run says so again.
    assert _state(url) == {"rows": ROWS, "statuses": {"loaded": ROWS - 1, "rejected": 1}, "agreeing": ROWS - 1}

    again = runner.invoke(app, ["target", "repair", url])
    assert again.stdout.strip() == f"{shown}: id_map agrees with the loaded tables; nothing to repair"
    # The next run loads that record again (its values are valid, and its row as it was): the
    # row is written again with its entry, then nothing.
    rerun = runner.invoke(app, ["run", str(config)], env={"COLUMNS": "200"})
    assert rerun.exit_code == 0, rerun.output
    assert "id_map repaired" not in rerun.output
    line = _ledger(_newest_run(tmp_path / "runs"))
    assert (line["inserted"], line["updated"], line["unchanged"], line["ok"]) == (0, 1, ROWS - 1, True)
    assert _state(url) == AGREES
    _rerun_writes_nothing(config, url)


def test_the_next_run_repairs_id_map_instead_of_failing_forever(tmp_path):
    """What the unlocked concurrent runs left on PostgreSQL: every loaded row `rejected` in
    id_map. The next run used to exit 3, and every run after it; now it rebuilds id_map from
    the tables, says so, and writes nothing else."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    config = _write_migration(tmp_path, url)
    assert runner.invoke(app, ["run", str(config)]).exit_code == 0
    with sqlite3.connect(tmp_path / "crm.db") as connection:
        connection.execute("UPDATE id_map SET status = 'rejected', target_id = NULL, reason = 'database refused: "
                           "UNIQUE constraint failed: contact.legacy_source, contact.legacy_id'")
    result = runner.invoke(app, ["run", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "crmmigrate: note: id_map disagreed with the loaded tables before this run" in result.stderr
    assert (f"crmmigrate: note: id_map repaired: contact/contacts: {ROWS:,} entries 'rejected' for rows the "
            "table holds, now 'loaded'") in result.stderr
    log = json.loads((_newest_run(tmp_path / "runs") / "run.json").read_text(encoding="utf-8"))
    assert log["id_map_repaired"]["relinked"] == [
        {"entity": "contact", "source": "contacts", "was": "rejected", "count": ROWS}]
    (line,) = log["ledger"]
    assert (line["inserted"], line["updated"], line["unchanged"], line["ok"]) == (0, 0, ROWS, True)
    assert _state(url) == AGREES
    _rerun_writes_nothing(config, url)
