"""The embedded engine's work shared among forked processes (sources of APART_BYTES or more in
all read in parts, one process per core; an entity of APART_ROWS records or more cleaned a
field per process and checked a slice of rows per process) against the same work done here, one
step after another: the same staged files, change log, failures, ledger, clusters and target
rows, row for row; broken quotes and code pages read the same; a reading process that dies is
a clear error, not a hang."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest


from crmmigrate import parallel
from crmmigrate.engines import local, reading
from crmmigrate.engines.local import LocalEngine
from crmmigrate.errors import EXIT_LOST, CrmMigrateError
from crmmigrate.migration import load_migration
from crmmigrate.scaffold import init_project

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from legacy_set import make_legacy_set  # noqa: E402
from same_run import assert_same_run, configure, run  # noqa: E402

needs_fork = pytest.mark.skipif(parallel.cores() < 2 or not parallel.can_fork(),
                                reason="reading in forked processes needs fork and two cores")


def here(monkeypatch) -> None:
    """Every source read, every entity cleaned and checked in this process, whatever its size."""
    monkeypatch.setattr(local, "APART_BYTES", 1 << 62)
    monkeypatch.setattr(parallel, "APART_ROWS", 1 << 62)


def apart(monkeypatch) -> None:
    """Every source read, every entity's fields cleaned and its rows checked in forked
    processes, however small."""
    monkeypatch.setattr(local, "APART_BYTES", 0)
    monkeypatch.setattr(parallel, "APART_ROWS", 0)


def parts_counted(monkeypatch) -> dict[str, int]:
    """Each source file's name and the parts the run splits it into, as it splits it."""
    split: dict[str, int] = {}
    local_partitions = reading.partitions

    def partitions(source, target_bytes, **options):
        found = local_partitions(source, target_bytes, **options)
        split[Path(source.location).name] = len(found)
        return found

    monkeypatch.setattr(reading, "partitions", partitions)
    return split


def test_only_sources_of_apart_bytes_or_more_are_read_apart(tmp_path: Path, monkeypatch) -> None:
    init_project(tmp_path / "project")
    planned = load_migration(tmp_path / "project" / "migration.yaml").sources
    assert not LocalEngine.apart(planned)  # the samples: a few kB
    size = sum(os.path.getsize(p.source.location) for p in planned if not p.source.is_url)  # a database: 0
    monkeypatch.setattr(local, "APART_BYTES", size)
    assert LocalEngine.apart(planned) == (parallel.cores() >= 2 and parallel.can_fork())
    monkeypatch.setattr(local, "APART_BYTES", size + 1)
    assert not LocalEngine.apart(planned)


@needs_fork
def test_the_samples_read_apart_run_as_read_here(tmp_path: Path, monkeypatch) -> None:
    init_project(tmp_path / "project")
    samples = tmp_path / "project" / "migration.yaml"
    here(monkeypatch)
    in_process = run(configure(samples, name="here", engine=None), allow_failing=True)
    apart(monkeypatch)
    split: list[int] = []

    def partitions(source, target_bytes, **options):
        found = local_partitions(source, target_bytes, **options)
        split.append(len(found))
        return found

    local_partitions = reading.partitions
    monkeypatch.setattr(reading, "partitions", partitions)
    # Parts of 2,000 bytes: every CSV in several parts, read by two processes.
    forked = run(configure(samples, name="forked", engine="engine: {name: local, part_bytes: 2000}"),
                 allow_failing=True)
    assert len(split) == len(forked.sources) and max(split) > 3
    assert_same_run(in_process, forked)
    assert forked.timings["read"] > 0


@needs_fork
def test_a_generated_set_read_apart_runs_as_read_here(tmp_path: Path, monkeypatch) -> None:
    """Every entity and format of bench/legacy_set.py (a cp1252 CSV, a `;` CSV with a BOM, an
    Excel sheet under title rows, JSON Lines), census names and their namesakes."""
    make_legacy_set(tmp_path, contacts=8_000, seed=5)
    config = tmp_path / "migration.yaml"
    here(monkeypatch)
    in_process = run(configure(config, name="here", engine=None))
    apart(monkeypatch)
    split = parts_counted(monkeypatch)
    forked = run(configure(config, name="forked", engine="engine: {name: local, part_bytes: 100000}"))
    assert sum(line.extracted for line in forked.ledger) > 3 * 8_000
    assert split["cases.jsonl"] > 3 and split["leads.xlsx"] == 1  # JSON Lines in parts, a sheet whole
    assert_same_run(in_process, forked)


@needs_fork
def test_cases_as_one_json_array_read_apart_run_as_read_here(tmp_path: Path, monkeypatch) -> None:
    """The generated cases written as one JSON array of records (a key of theirs first seen in
    the last record): read in parts by the forked readers, the run is the run reading it here."""
    make_legacy_set(tmp_path, contacts=3_000, seed=9)
    lines = [json.loads(line) for line in (tmp_path / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    lines[-1]["Escalation"] = {"Team": "tier 3"}
    (tmp_path / "cases.json").write_text(json.dumps(lines, ensure_ascii=False, indent=1), encoding="utf-8")
    (tmp_path / "cases.jsonl").unlink()
    mapping = tmp_path / "mappings" / "cases.yaml"
    mapping.write_text(mapping.read_text().replace("format: jsonl", "format: json"))
    config = tmp_path / "migration.yaml"
    config.write_text(config.read_text().replace("cases.jsonl", "cases.json"))
    here(monkeypatch)
    in_process = run(configure(config, name="here", engine=None))
    apart(monkeypatch)
    split = parts_counted(monkeypatch)
    forked = run(configure(config, name="forked", engine="engine: {name: local, part_bytes: 30000}"))
    assert split["cases.json"] > 3
    assert_same_run(in_process, forked)
    staged = pd.read_parquet(next((forked.run_dir / "extracted").glob("cases*.parquet")))
    assert staged["Escalation.Team"].dropna().tolist() == ["tier 3"]


@needs_fork
def test_a_run_on_one_core_is_the_run_on_two(tmp_path: Path, monkeypatch) -> None:
    """On two cores the leads are matched and dedupe's files written beside the load, whose
    pieces forked processes prepare once that is done (a bulk load from the first row, in
    pieces of 500); on one, all of it in this process, one step after another. Every file,
    figure and row agrees."""
    from crmmigrate.load import rows

    make_legacy_set(tmp_path, contacts=3_000, seed=6)
    config = tmp_path / "migration.yaml"
    config.write_text(config.read_text() + "bulk_rows: 1\n")
    monkeypatch.setattr(rows, "BULK_PIECE_ROWS", 500)
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 1)
    one = run(configure(config, name="one", engine=None))
    monkeypatch.undo()
    monkeypatch.setattr(rows, "BULK_PIECE_ROWS", 500)
    two = run(configure(config, name="two", engine=None))
    assert "dedupe" in one.timings and "dedupe_leads" in two.timings
    assert len(pd.read_csv(two.run_dir / "dedupe" / "lead_matches.csv")) > 0
    assert_same_run(one, two)


def _killed_in_a_fork(parent: int, matched):
    def matching(*args, **kwargs):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return matched(*args, **kwargs)
    return matching


@needs_fork
def test_the_leads_matching_killed_beside_the_load_is_done_again_after_it(tmp_path: Path, monkeypatch) -> None:
    """The process matching the leads beside the load killed (out of memory, say): the run
    does that work itself once the load is done, and ends as a run where nothing was killed."""
    from crmmigrate import run as run_module

    make_legacy_set(tmp_path, contacts=2_000, seed=8)
    config = tmp_path / "migration.yaml"
    monkeypatch.setattr(run_module, "lead_matches", _killed_in_a_fork(os.getpid(), run_module.lead_matches))
    killed = run(configure(config, name="killed", engine=None))
    monkeypatch.undo()
    whole = run(configure(config, name="whole", engine=None))
    assert len(pd.read_csv(killed.run_dir / "dedupe" / "lead_matches.csv")) > 0
    assert_same_run(whole, killed)


NAMES = ["José García", "Zoë Smith", "Søren Ærø", "Ann O'Neil", "Renée Dubois"]


def _contacts_with_a_broken_quote(folder: Path, *, broken: bool = True) -> Path:
    """A cp1252 contacts file of 400 rows: quoted fields with delimiters and line ends in them,
    and (`broken`) at row 151 a quote opened and never closed."""
    lines = ["Contact ID;Account ID;First Name;Last Name;Email;Notes"]
    for i in range(1, 401):
        first, last = NAMES[i % len(NAMES)].split(" ", 1)
        note = f'"said; ""call back""\non {i}"' if i % 7 == 0 else f"note {i}"
        if i == 151 and broken:
            note = '"this quote is never closed'
        lines.append(f"C{i};;{first};{last};p{i}@example.com;{note}")
    path = folder / "contacts.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def _read_apart_as_here(config: Path, monkeypatch, *, part_bytes: int):
    """The project run with every source read here, then read apart in parts of `part_bytes`:
    the same run (`assert_same_run`); the second run's result."""
    here(monkeypatch)
    in_process = run(configure(config, name="here", engine=None), allow_failing=True)
    apart(monkeypatch)
    forked = run(configure(config, name="forked", engine=f"engine: {{name: local, part_bytes: {part_bytes}}}"),
                 allow_failing=True)
    assert_same_run(in_process, forked)
    return forked


@needs_fork
def test_a_broken_quote_in_a_code_page_reads_apart_as_here(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    _contacts_with_a_broken_quote(folder)
    (folder / "contacts.yaml").write_text(
        "entity: contact\nfields:\n  id: Contact ID\n  account_id: Account ID\n  first_name: First Name\n"
        "  last_name: Last Name\n  email: Email\n", encoding="utf-8")
    config = folder / "migration.yaml"
    config.write_text("target: sqlite:///t.db\nsources:\n  - {location: contacts.csv, mapping: contacts.yaml}\n",
                      encoding="utf-8")
    forked = _read_apart_as_here(config, monkeypatch, part_bytes=1500)
    line = next(line for line in forked.ledger if line.entity == "contact")
    assert line.extracted == 400 and line.rejected >= 1 and line.balanced


@needs_fork
def test_a_lone_source_smaller_than_a_part_is_shared_among_the_processes(tmp_path: Path, monkeypatch) -> None:
    """One CSV of the size to read apart, under part_bytes: cut into parts for every process all
    the same (else one reads it while the other waits), and the parts are the whole."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    _contacts_with_a_broken_quote(folder, broken=False)
    (folder / "contacts.yaml").write_text("entity: contact\nfields:\n  id: Contact ID\n  last_name: Last Name\n",
                                          encoding="utf-8")
    config = folder / "migration.yaml"
    config.write_text("target: sqlite:///t.db\nsources:\n  - {location: contacts.csv, mapping: contacts.yaml}\n",
                      encoding="utf-8")
    planned = load_migration(config).sources
    apart(monkeypatch)
    monkeypatch.setattr(local, "MIN_PART_BYTES", 1000)
    engine = LocalEngine()  # parts of 64 MiB, the default
    try:
        readings = engine.read(planned, lambda *_: None)
        assert readings[0].count >= parallel.cores() * local.AHEAD_PER_PROCESS
        parts = [part.mapped for part in readings[0].parts() if part.extracted]
    finally:
        engine.close()
    here(monkeypatch)
    chunks = [part.mapped for part in LocalEngine().read(planned, lambda *_: None)[0].parts() if part.extracted]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), pd.concat(chunks, ignore_index=True))


def _killed(*_args) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@needs_fork
def test_a_reading_process_killed_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    init_project(tmp_path / "project")
    samples = tmp_path / "project" / "migration.yaml"
    apart(monkeypatch)
    # What the engine sends its processes to do, pickled by reference and found in the fork.
    monkeypatch.setattr(local, "read_part", _killed)
    with pytest.raises(parallel.ProcessLost) as caught:
        run(configure(samples, name="killed", engine="engine: {name: local, part_bytes: 2000}"))
    assert "ended without an answer (killed, or out of memory)" in str(caught.value)
    assert "accounts.csv" in str(caught.value)
    # Not bad input (2) nor a bug (3): the machine's (4), which a second try may pass.
    assert isinstance(caught.value, CrmMigrateError) and caught.value.exit_code == EXIT_LOST == 4


@needs_fork
def test_a_process_surveying_json_lines_killed_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    make_legacy_set(tmp_path, contacts=1_000, seed=5)
    apart(monkeypatch)
    monkeypatch.setattr(reading, "part_keys", _killed)
    with pytest.raises(parallel.ProcessLost) as caught:
        run(configure(tmp_path / "migration.yaml", name="killed", engine="engine: {name: local, part_bytes: 20000}"))
    assert "ended without an answer (killed, or out of memory), while" in str(caught.value)
    assert "cases.jsonl was surveyed for its columns" in str(caught.value)
    assert caught.value.exit_code == EXIT_LOST


# The run as a terminal starts it: Ctrl-C raises KeyboardInterrupt (a test runner started in the
# background of a shell ignores SIGINT, and its children inherit that).
RUN_APART = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "from crmmigrate import parallel; from crmmigrate.engines import local; "
             "parallel.APART_ROWS = 0; local.APART_BYTES = 0; from crmmigrate.cli import main; "
             "sys.argv = ['crmmigrate', 'run', sys.argv[1]]; sys.exit(main())")


# A bulk load whose pieces forked processes prepare faster than the run writes them (so that
# they wait for work), each piece prepared saying so with a file of its own.
RUN_LOADING = """
import os, pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from crmmigrate.load import rows
rows.BULK_PIECE_ROWS = 50
forked = rows._prepare_forked
def prepared(start):
    piece = forked(start)
    pathlib.Path(f"prepared-{os.getpid()}-{start}").touch()
    return piece
rows._prepare_forked = prepared
pieces = rows.RowPreparer._pieces
def slowly(self, *args):
    for piece in pieces(self, *args):
        time.sleep(0.5)
        yield piece
rows.RowPreparer._pieces = slowly
from crmmigrate.cli import main
sys.argv = ["crmmigrate", "run", sys.argv[1]]
sys.exit(main())
"""


def _interrupted(folder: Path, script: str, ready) -> None:
    """Run `script` on folder/migration.yaml; once `ready(run)` (a psutil.Process) gives the
    run's forked processes, Ctrl-C its process group as a terminal does. The run must say
    "interrupted" and exit 130; no process prints a traceback, none is left behind."""
    import subprocess
    import time

    log = (folder / "run.log").open("wb")
    child = subprocess.Popen([sys.executable, "-c", script, str(folder / "migration.yaml")],
                             cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        run = psutil.Process(child.pid)
        deadline = time.monotonic() + 120
        forked: list = []
        while not forked and child.poll() is None and time.monotonic() < deadline:
            forked = ready(run)
            time.sleep(0.02)
        assert forked, "the run never forked (or ended first): " + (folder / "run.log").read_text()
        os.killpg(child.pid, signal.SIGINT)
        assert child.wait(timeout=120) == 130
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    said = (folder / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "crmmigrate: error: interrupted." in said
    assert "Traceback" not in said and "KeyboardInterrupt" not in said
    gone, alive = psutil.wait_procs(forked, timeout=30)
    assert not alive


@needs_fork
def test_ctrl_c_stops_a_run_and_its_forked_processes_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C while the run's forked processes read, clean or check (an idle one printed a
    traceback, waiting for work)."""
    make_legacy_set(tmp_path, contacts=20_000, seed=4)
    _interrupted(tmp_path, RUN_APART, lambda run: run.children(recursive=True))


@needs_fork
def test_ctrl_c_stops_a_bulk_loads_forked_preparers_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C while a bulk load's pieces are prepared by forked processes (one waiting for work
    printed its own traceback)."""
    make_legacy_set(tmp_path, contacts=3_000, seed=4)
    config = tmp_path / "migration.yaml"
    config.write_text(config.read_text() + "bulk_rows: 1\n")
    # Once the preparers have the pieces ahead ready (PIECES_AHEAD), they wait for work.
    _interrupted(tmp_path, RUN_LOADING,
                 lambda run: run.children(recursive=True) if len(list(tmp_path.glob("prepared-*"))) >= 3 else [])


def _interrupt_handler(_item: int) -> str:
    return str(signal.getsignal(signal.SIGINT))


@needs_fork
def test_forked_processes_leave_ctrl_c_to_the_run() -> None:
    own = signal.getsignal(signal.SIGINT)
    with parallel.forked_pool(2) as pool:
        assert set(pool.map(_interrupt_handler, range(4))) == {str(signal.SIG_IGN)}
    assert signal.getsignal(signal.SIGINT) == own  # this process's own, untouched


def _read_samples(tmp_path: Path, monkeypatch, engine: LocalEngine, scratch: Path | None = None
                  ) -> tuple[list, Path | None]:
    """Every part of the samples as `engine` reads them apart, in parts of 2,000 bytes: what
    each part's `extracted` was, its chunks, read as the run reads them; and the engine's folder."""
    if not (tmp_path / "project").exists():
        init_project(tmp_path / "project")
    planned = load_migration(tmp_path / "project" / "migration.yaml").sources
    apart(monkeypatch)
    found = []
    try:
        readings = engine.read(planned, lambda *_: None, scratch)
        folder = engine._chunks
        for source in readings:
            for part in source.parts():
                if part.extracted:
                    chunks = [c if isinstance(c, pd.DataFrame) else c.to_pandas() for c in part.extracted]
                    found.append((part.extracted, chunks))
    finally:
        engine.close()
    return found, folder


@needs_fork
def test_the_readers_leave_their_chunks_in_files_the_run_takes_once_and_which_then_go(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    from crmmigrate.engines import EngineOptions
    from crmmigrate.staging import StagedChunks

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    found, folder = _read_samples(tmp_path, monkeypatch, LocalEngine(EngineOptions(part_bytes=2000)), run_dir)
    assert len(found) > 3 and folder is not None and folder.parent == run_dir  # in the run's directory
    for extracted, chunks in found:
        assert isinstance(extracted, StagedChunks) and extracted.path.parent == folder
        assert not extracted.path.exists()  # taken, then removed
        assert sum(map(len, chunks)) > 0
    assert not folder.exists() and not list(run_dir.iterdir())  # the engine's folder, gone with it
    # Where no folder can be made, the readers send the chunks back as before.
    sent, none = _read_samples(tmp_path, monkeypatch, LocalEngine(EngineOptions(part_bytes=2000)),
                               tmp_path / "no such folder")
    assert none is None and all(isinstance(extracted, list) for extracted, _ in sent)
    assert [len(c) for _, chunks in sent for c in chunks] == [len(c) for _, chunks in found for c in chunks]
    for (_, theirs), (_, ours) in zip(sent, found, strict=True):
        for their, our in zip(theirs, ours, strict=True):
            assert their.astype(object).where(their.notna(), None).values.tolist() == \
                our.astype(object).where(our.notna(), None).values.tolist()


@needs_fork
def test_a_source_of_only_its_header_read_apart_runs_as_read_here(tmp_path: Path, monkeypatch) -> None:
    """Its one part is one chunk of no rows: staged by the reader all the same, so its staged
    file is there, with its columns, as when it is read here."""
    init_project(tmp_path / "project")
    cases = tmp_path / "project" / "samples" / "call_centre" / "cases.csv"
    cases.write_bytes(cases.read_bytes().splitlines(keepends=True)[0])
    forked = _read_apart_as_here(tmp_path / "project" / "migration.yaml", monkeypatch, part_bytes=2000)
    staged = pd.read_parquet(forked.run_dir / "extracted" / "cases.parquet")
    assert staged.empty and len(staged.columns) > 3
    assert not [p for p in forked.run_dir.iterdir() if p.name.startswith(".parts-")]
