"""Run a migration end to end from one config file, and account for every extracted row.

    migration = load_migration(Path("migration.yaml"))   # crmmigrate.migration
    result = run_migration(migration, only=["account", "contact"])
    result.ledger        # per entity and source: extracted = loaded + merged + rejected + filtered
    result.check_ledger()  # raises LedgerMismatch when the figures do not add up (a bug)

Per source: extract (staged, with its rejects), map (with its filtered records); then every
entity is validated together, the gate decides which entities may be loaded, and the loader
writes them. `_run` is that sequence, each stage a function over the run's `RunState` (what
passes between stages) in its `StageContext` (crmmigrate/run_state.py), which times the stage,
tells its progress and writes its files into the run's own directory (`runs/<run_id>/`), ending
with `run.json`. A rerun is the resume: the loader commits per batch with its id_map entries and
skips unchanged rows, and every ledger entry written here is an upsert.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from crmmigrate import parallel
from crmmigrate.clean import CleanResult, load_cleaning
from crmmigrate.dedupe import (
    DedupeResult,
    DedupeRules,
    MatchSpec,
    dedupe,
    lead_matches,
    load_dedupe_rules,
    read_decisions,
)
from crmmigrate.engines import Engine, SourceReading, open_engine
from crmmigrate.engines.local import LocalReading
from crmmigrate.errors import (
    EXIT_INTERNAL,
    BadUsage,
    CrmMigrateError,
)
from crmmigrate.extract import ExtractReport, Reject, rejects_frame
from crmmigrate.load import LoadReport, SourceLoad, connect, init_target, load, one_database_per_thread
from crmmigrate.load.id_map import Ledger
from crmmigrate.load.gate import loadable
from crmmigrate.load.lock import Waiting, target_lock
from crmmigrate.load.merges import MergedInTarget, keep_merged
from crmmigrate.load.repair import Repair, repair_id_map
from crmmigrate.load.schema import id_map_key, id_map_keys
from crmmigrate.mapping.engine import MapReport
from crmmigrate.migration import Migration, PlannedSource
from crmmigrate.model import ANY_ENTITY, MODEL
from crmmigrate.passwords import mask_text
from crmmigrate.progress import Progress, Tally
from crmmigrate.run_state import RunLog, RunState, StageContext
from crmmigrate.staging import ChunkWriter, file_name, parked, write_frames
from crmmigrate.validate import (
    ValidationResult,
    load_rules,
    load_thresholds,
)

STATUSES = ("loaded", "merged", "rejected", "filtered")

# Told for each earlier run found killed and marked interrupted: its run id, when it started.
Interrupted = Callable[[str, str], None]


class LedgerMismatch(CrmMigrateError):
    """The run's figures do not add up, or id_map disagrees with them: a bug in crmmigrate."""

    exit_code = EXIT_INTERNAL


def entity_names(items: list[str]) -> list[str]:
    """Entity names as a person types them: `account`, `accounts`, `Opportunities`."""
    found: list[str] = []
    for raw in items:
        for word in (w.strip() for w in raw.split(",")):
            if not word:
                continue
            name = word.lower().replace("-", "_")
            candidates = [name, name[:-3] + "y" if name.endswith("ies") else name, name.removesuffix("s"),
                          name.removesuffix("es")]
            match = next((c for c in candidates if c in MODEL.names), None)
            if match is None:
                raise BadUsage(MODEL.unknown(name, as_typed=word) + ".")
            if match not in found:
                found.append(match)
    return found


# -- what a run did ----------------------------------------------------------------------------


@dataclass
class SourceRun:
    """What extract and map did to one source."""

    name: str
    entity: str
    location: str  # no password in it
    mapping: str
    extract: ExtractReport
    map: MapReport
    files: dict[str, str]
    seconds: dict[str, float]

    @property
    def extracted(self) -> int:
        """Every row the source holds: read, or rejected by extract."""
        return self.extract.rows + self.extract.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "entity": self.entity, "location": self.location, "mapping": self.mapping,
            "extracted": self.extracted, "extract_rejected": self.extract.rejected,
            "mapped": self.map.rows_out, "filtered": sum(self.map.filtered.values()),
            "files": self.files, "seconds": self.seconds,
            "extract": self.extract.as_dict(), "map": self.map.as_dict(),
        }


@dataclass
class LedgerLine:
    """Where one source's rows of one entity ended: extracted = loaded + merged + rejected + filtered,
    from the run's own counts, and the same statuses as id_map holds them."""

    entity: str
    source: str
    extracted: int
    loaded: int = 0
    merged: int = 0
    rejected: int = 0
    filtered: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    id_map: dict[str, int] | None = None  # per status, over this run's legacy ids; None: not checked
    id_map_differ: int | None = None  # legacy ids whose id_map status is not the run's

    @property
    def balanced(self) -> bool:
        return self.extracted == self.loaded + self.merged + self.rejected + self.filtered

    @property
    def ok(self) -> bool:
        return self.balanced and not self.id_map_differ

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced, "ok": self.ok}


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    target: str  # masked
    dry_run: bool
    only: list[str] | None
    sources: list[SourceRun]
    cleaning: CleanResult
    validation: ValidationResult
    dedupe: DedupeResult  # its datasets and merged records let go once loaded and accounted for
    held: dict[str, str]  # entity -> why it was not loaded
    forced: list[str]  # entities loaded although their gate failed (--allow-failing)
    load: LoadReport
    ledger: list[LedgerLine]
    timings: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)  # entity -> rows of an earlier run left loaded
    # entity -> what keeping its merged records did: entries written, rows removed, merges undone
    merges: dict[str, MergedInTarget] = field(default_factory=dict)
    repaired: Repair = field(default_factory=Repair)  # what id_map said that the tables did not, put right
    report: RunReport | None = None  # the report written after the load; None: not written (dry run, --no-report)

    @property
    def gate_failed(self) -> bool:
        return bool(self.held)

    @property
    def mismatches(self) -> list[LedgerLine]:
        return [line for line in self.ledger if not line.ok]

    def check_ledger(self) -> None:
        """Raise LedgerMismatch when a source's rows do not add up or id_map disagrees."""
        bad = self.mismatches
        if not bad:
            return
        parts = []
        for line in bad:
            if not line.balanced:
                accounted = line.loaded + line.merged + line.rejected + line.filtered
                parts.append(f"{line.entity}/{line.source}: {line.extracted:,} extracted but "
                             f"{accounted:,} accounted for")
            if line.id_map_differ:
                parts.append(f"{line.entity}/{line.source}: {line.id_map_differ:,} legacy id(s) whose "
                             "id_map status is not the one this run gave them")
        raise LedgerMismatch(
            "the ledger does not add up: " + "; ".join(parts) + ".",
            file=str(self.run_dir / "run.json"),
            hint="This is a bug in crmmigrate; report it with the run directory.",
        )


# -- running -----------------------------------------------------------------------------------


def new_run_id(now: datetime | None = None) -> str:
    """A UTC timestamp (sorts by time) and a short random part (two runs in one second)."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_migration(
    migration: Migration,
    *,
    only: list[str] | None = None,
    dry_run: bool = False,
    allow_failing: bool = False,
    batch_rows: int | None = None,
    progress: Progress | None = None,
    wait: float = 0,
    waiting: Waiting | None = None,
    interrupted: Interrupted | None = None,
    write_report: bool = True,
) -> RunResult:
    """Extract, map, validate, gate and load every source of `migration` (of the `only`
    entities, when given), writing every artifact into a new run directory. The target's lock
    is held from the connection on: when another run holds it, wait up to `wait` seconds
    (telling `waiting`), then raise TargetBusy. Earlier runs that were killed are marked
    interrupted in their run.json once the lock is held (telling `interrupted`). After the
    load, with `write_report`, the report on the target (`crmmigrate report`) goes into the
    run directory, reconciled with this run's legacy records."""
    report = progress or (lambda *_: None)
    planned = migration.sources
    if only is not None:
        planned = [s for s in planned if s.entity in only]
        missing = [e for e in only if all(s.entity != e for s in planned)]
        if missing:
            raise BadUsage(
                f"no source of {migration.file} maps to {', '.join(missing)}.",
                hint=f"Its sources map to: {', '.join(sorted({s.entity for s in migration.sources}))}.",
            )
    started = datetime.now(UTC)
    run_id = new_run_id(started)
    run_dir = migration.run_dir / run_id
    log = RunLog(run_dir / "run.json", {
        "run_id": run_id, "status": "running", "started_at": started.isoformat(),
        "config": migration.as_dict(), "target": migration.masked_target, "dry_run": dry_run,
        "only": only, "allow_failing": allow_failing, "pid": os.getpid(), "host": socket.gethostname(),
    })
    log.write()  # first, so a killed run leaves a record that it started and never finished
    try:
        with contextlib.ExitStack() as held:  # the target's lock, taken once connected
            return _run(migration, planned, run_id, run_dir, started, log, only=only, dry_run=dry_run,
                        allow_failing=allow_failing, batch_rows=batch_rows, report=report,
                        lock=lambda engine: held.enter_context(target_lock(engine, wait=wait, waiting=waiting)),
                        interrupted=interrupted or (lambda *_: None), write_report=write_report)
    except CrmMigrateError as exc:
        # The run log says how the run ended, whatever ended it (the message has no password:
        # every error about a URL shows it masked).
        log.update({"status": "failed", "error": mask_text(str(exc), migration.target), "finished_at": datetime.now(UTC).isoformat()})
        log.write()
        raise


def _run(migration: Migration, planned: list[PlannedSource], run_id: str, run_dir: Path,
         started: datetime, log: RunLog, *, only: list[str] | None, dry_run: bool,
         allow_failing: bool, batch_rows: int | None, report: Progress,
         lock: Callable[[sa.Engine], None], interrupted: Interrupted, write_report: bool = True) -> RunResult:
    stages = StageContext(run_dir, report)
    engine = _open_target(migration, run_id, log, stages, lock, interrupted)
    # What an earlier run (or a hand) left in id_map that the tables contradict, put right first.
    state = RunState(planned, repaired=repair_id_map(engine, dry_run=dry_run))
    ledger = _Ledger(engine, run_id, dry_run)
    with stages.timed("engine"):
        work = open_engine(migration.engine)
    try:
        log.update({"engine": work.describe()})
        with stages.timed("read"):  # the wall time of extract and map, which are their parts' seconds summed
            _extract_and_map_sources(work, state, stages)
        _clean(migration, work, state, stages)
        try:
            _validate(migration, work, ledger, state, stages)
            _gate(state, allow_failing=allow_failing)
        except Exception:
            _write_cleaning(state, stages)  # a run the gate stops has them too
            raise
        with _cleaning_written_beside(state, stages, here=work.pairing is not None):
            leads = _dedupe(migration, work, ledger, state, stages)
    except Exception as exc:
        told = work.lost(exc)
        if told is None:
            raise
        raise told from exc
    finally:
        work.close()
    with _beside_the_load(leads, state, stages):
        with stages.timed("ledger"):
            state.kept = ledger.record(planned, state.datasets, state.filtered, state.rejects, state.held, report)
        _load(migration, engine, ledger, state, stages, run_id=run_id, dry_run=dry_run, batch_rows=batch_rows)
    with _reported_beside(engine, migration, planned, run_dir, state, stages, wanted=write_report and not dry_run):
        with stages.timed("reconcile"):
            state.ledger = _reconcile(state.sources, state.datasets, state.filtered, state.rejects, state.held,
                                      state.kept, state.loaded, ledger, state.deduped)
        state.let_go_of_records()
    engine.dispose()
    return _finish(migration, run_id, run_dir, started, log, state, stages, only=only, dry_run=dry_run)


def _open_target(migration: Migration, run_id: str, log: RunLog, stages: StageContext,
                 lock: Callable[[sa.Engine], None], interrupted: Interrupted) -> sa.Engine:
    """The target connected, its lock held, the earlier runs found killed marked so, its tables made."""
    # Connect before the long part, so a wrong URL or a server that is down fails at once.
    with stages.timed("connect"):
        engine = connect(migration.target)
    # One run at a time: another one's half-written rows would look like refusals to this one.
    with stages.timed("lock"):
        lock(engine)
    # Holding the lock, this run knows no other is writing to the target: one that says it is was killed.
    found = mark_interrupted(migration.run_dir, run_id, migration.masked_target)
    for killed, killed_at in found:
        interrupted(killed, killed_at)
    if found:
        log.update({"interrupted_runs_found": [killed for killed, _ in found]})
    init_target(engine)
    return engine


def _extract_and_map_sources(engine: Engine, state: RunState, stages: StageContext) -> None:
    frames: dict[str, list[pd.DataFrame]] = {}
    readings = engine.read(state.planned, stages.progress, scratch=stages.run_dir)
    for planned_source, reading in zip(state.planned, readings, strict=True):
        source_run, mapped, removed, unreadable = _extract_and_map(planned_source, reading, stages.run_dir,
                                                                   stages.progress)
        state.sources.append(source_run)
        frames.setdefault(planned_source.entity, []).append(mapped)
        state.filtered[planned_source.name] = removed
        state.rejects[planned_source.name] = unreadable
    for stage in ("extract", "map"):
        stages.timings[stage] = sum(r.seconds[stage] for r in state.sources)
    state.datasets = {entity: pd.concat(parts, ignore_index=True) for entity, parts in frames.items()}


def _clean(migration: Migration, engine: Engine, state: RunState, stages: StageContext) -> None:
    with stages.timed("clean"), stages.told("clean", "all entities", state.rows):
        state.rules = load_rules(migration.rules)
        state.cleaned = engine.clean(state.datasets, rules=load_cleaning(migration.cleaning),
                                     region=state.rules.phone_region, regions=migration.phone_regions,
                                     progress=stages.progress)
        state.datasets = state.cleaned.datasets
    parallel.give_back()  # the mapped records, let go


def _write_cleaning(state: RunState, stages: StageContext) -> None:
    cleaned: CleanResult | None = getattr(state, "cleaned", None)
    if cleaned is not None and not cleaned.let_go:
        stages.write_cleaning(cleaned)
        cleaned.let_go_of_cells()  # written: only their counts are needed from here


@contextlib.contextmanager
def _cleaning_written_beside(state: RunState, stages: StageContext, *, here: bool) -> Iterator[None]:
    """clean's change log and notes (two million changed cells at 1M contacts: seconds of one
    core) written in a forked process while the block (dedupe, whose blocking leaves a core
    idle) runs; written `here` first instead where the engine keeps threads of its own (the
    cluster engine's client), which a fork would copy stopped. The run lets go of the cells
    once they are written."""
    if here:
        _write_cleaning(state, stages)
        yield
        return
    cleaned = state.cleaned

    def written() -> dict[str, str]:
        return stages.write_cleaning(cleaned)

    def let_go(future: Future) -> None:
        if not future.cancelled() and future.exception() is None:
            cleaned.let_go_of_cells()  # written: only their counts are needed from here

    writing: Future | None = None
    try:
        with parallel.beside(written, "writing clean's change log and notes") as writing:
            writing.add_done_callback(let_go)
            yield
    finally:  # the block left by an error too: the process has ended, its files are listed
        if writing is not None and writing.done() and writing.exception() is None:
            stages.files.update(writing.result())
    assert writing is not None
    if isinstance(writing.exception(), parallel.ProcessLost):
        # Killed, out of memory most likely: written here, now that dedupe is done.
        logging.getLogger(__name__).debug("the writing of clean's files beside dedupe was lost", exc_info=True)
        _write_cleaning(state, stages)
    elif writing.exception() is not None:
        raise writing.exception()  # a file that could not be written: the run's error, as when written here


def _validate(migration: Migration, engine: Engine, ledger: _Ledger, state: RunState, stages: StageContext) -> None:
    with stages.timed("validate"), stages.told("validate", "all entities", state.rows):
        # A staged cutover: pointers into an entity outside this run can only lead to what is loaded.
        outside = _outside(state.datasets)
        in_target = ledger.pointable(outside) if outside else None
        state.validation = engine.validate(state.datasets, rules=state.rules,
                                           thresholds=load_thresholds(migration.thresholds), loaded=in_target,
                                           regions=migration.phone_regions, progress=stages.progress)
    with stages.timed("reports"):
        stages.write_validation(state.validation)


def _gate(state: RunState, *, allow_failing: bool) -> None:
    state.order, state.held = loadable(state.validation, allow_failing=allow_failing)
    state.forced = [e.entity for e in state.validation.entities if not e.passed and e.entity in state.order]


def _dedupe(migration: Migration, engine: Engine, ledger: _Ledger, state: RunState, stages: StageContext
            ) -> MatchSpec | None:
    """The entities deduplicated. The leads' matching to the contacts, and the writing of
    dedupe's files, are left to be done beside the load (`_beside_the_load`) where the
    engine is the embedded one: the leads' spec is returned then, else None."""
    with stages.timed("dedupe"):
        rules = load_dedupe_rules(migration.dedupe)
        deduped_entities = [e for e in state.order if e in rules.entities]
        records = sum(len(state.datasets[e]) for e in deduped_entities if e in state.datasets)
        with stages.told("dedupe", ", ".join(deduped_entities) or "nothing to dedupe", records):
            # Only what the gate lets through; leads are checked against contacts when both go in.
            leads = rules.leads if {"lead", "contact"} <= set(state.order) else None
            # The cluster engine pairs on its cluster, which it lets go before the load.
            beside = leads is not None and engine.pairing is None
            chosen = DedupeRules(entities={e: rules.entities[e] for e in deduped_entities},
                                 leads=None if beside else leads)
            decisions, loaded = read_decisions(migration.decisions), ledger.loaded(deduped_entities)
            _park(state, [e for e in state.datasets if e not in deduped_entities], stages.run_dir)
            # The cleaned records are handed over, not kept here: dedupe lets each entity's go
            # once it has its deduplicated records (a second copy of accounts and contacts
            # through the leads' matching, else), keeping only the merged records as cleaned,
            # which are what merged_record keeps of them.
            state.deduped = dedupe(_handed_over(state), chosen, decisions=decisions, loaded=loaded,
                                   invalid=_invalid_values(state.validation), progress=stages.progress,
                                   pairing=engine.pairing)
            state.datasets = state.deduped.datasets
            if not beside:
                stages.write_dedupe(state.deduped)
    state.merged_values = state.deduped.merged_records
    return leads if beside else None


@contextlib.contextmanager
def _beside_the_load(leads: MatchSpec | None, state: RunState, stages: StageContext) -> Iterator[None]:
    """The leads matched to the contacts and dedupe's files written, when `_dedupe` left them,
    in a forked process while the block (the load) runs: the load writes through one
    connection, on one core, and neither needs what the other does. Their seconds are
    run.json's `dedupe_leads`, beside `load`'s."""
    if leads is None:
        yield
        return
    deduped = state.deduped

    def match_and_write() -> tuple[pd.DataFrame, dict[str, str], float]:
        clock = time.perf_counter()
        deduped.lead_matches = lead_matches(deduped.datasets, leads)
        return deduped.lead_matches, stages.write_dedupe(deduped), time.perf_counter() - clock

    people = len(deduped.datasets["lead"]) + len(deduped.datasets["contact"])
    tally = Tally(stages.progress, "dedupe", "lead: matched to contacts", people)
    with parallel.beside(match_and_write, "matching the leads to the contacts") as matched:
        yield
    try:
        answer = matched.result()
    except parallel.ProcessLost:
        # Killed, out of memory most likely, while the load held its records too: done here,
        # now that the load is done, rather than the run failing after its load.
        logging.getLogger(__name__).debug("the leads' matching beside the load was lost", exc_info=True)
        answer = match_and_write()
    deduped.lead_matches, files, stages.timings["dedupe_leads"] = answer
    stages.files.update(files)
    tally.finish()


def _park(state: RunState, names: list[str], folder: Path) -> None:
    """The records of `names` (what dedupe holds without deduplicating: the opportunities, cases,
    roles and leads, whose pointers it reads and re-points) moved into files the system pages in
    as they are read (`staging.parked`), the run's own memory let go of them: at 5M contacts,
    gigabytes that sat beside the contacts' matching. The load reads them from there."""
    for name in names:
        frame = state.datasets[name] = parked(state.datasets[name], folder)
        if name in state.cleaned.datasets:  # the same records, which it holds too
            state.cleaned.datasets[name] = frame
    parallel.give_back()


def _handed_over(state: RunState) -> dict[str, pd.DataFrame]:
    """The run's datasets, which it no longer holds (nor its clean result)."""
    datasets, state.datasets = state.datasets, {}
    state.cleaned.datasets = {}
    return datasets


def _load(migration: Migration, engine: sa.Engine, ledger: _Ledger, state: RunState, stages: StageContext, *,
          run_id: str, dry_run: bool, batch_rows: int | None) -> None:
    report = stages.progress
    with stages.timed("load"):
        state.loaded = load(
            engine, state.datasets, validation=state.validation, run_id=run_id, entities=state.order,
            dry_run=dry_run, batch_rows=batch_rows or migration.config.batch_rows,
            bulk_rows=migration.config.bulk_rows,
            progress=report,
        )
        state.loaded.skipped = dict(state.held)
    with stages.timed("merged"):
        # The merged records' own values, as cleaned (dedupe leaves the datasets it is given as they were).
        state.merges = ledger.merged(state.deduped, state.merged_values)
    stages.write_load_rejects(state.loaded)


def _finish(migration: Migration, run_id: str, run_dir: Path, started: datetime, log: RunLog, state: RunState,
            stages: StageContext, *, only: list[str] | None, dry_run: bool) -> RunResult:
    """The run's result, and its run.json saying it is done and what it did."""
    outcome = RunResult(
        run_id=run_id, run_dir=run_dir, target=migration.masked_target, dry_run=dry_run, only=only,
        sources=state.sources, cleaning=state.cleaned, validation=state.validation, dedupe=state.deduped,
        held=state.held, forced=state.forced, load=state.loaded, ledger=state.ledger,
        timings=stages.timings, files=stages.files, kept={k: len(v) for k, v in state.kept.items() if v},
        merges=state.merges, repaired=state.repaired, report=state.report,
    )
    result, held, order = state.validation, state.held, state.order
    finished = datetime.now(UTC)
    log.update({
        "status": "done",
        "finished_at": finished.isoformat(),
        "seconds": (finished - started).total_seconds(),
        "timings": stages.timings,
        "sources": [r.as_dict() for r in state.sources],
        "clean": state.cleaned.as_dict(),
        "dedupe": state.deduped.as_dict(),
        "gate": {
            "passed": result.passed,
            "entities": {e.entity: {"passed": e.passed, "rows": e.rows, "failed": [c.name for c in e.failed],
                                    "loaded": e.entity in order, "held": held.get(e.entity)}
                         for e in result.entities},
            "forced": state.forced,
        },
        "load": [asdict(s) | {"loaded": s.loaded} for s in state.loaded.sources],
        "kept_from_earlier_runs": outcome.kept,
        "id_map_repaired": state.repaired.as_dict(),
        "merges": {entity: m.as_dict() for entity, m in state.merges.items()},
        "ledger": [line.as_dict() for line in state.ledger],
        "ledger_ok": not outcome.mismatches,
        "report": state.report.as_dict() if state.report else None,
        "files": stages.files,
    })
    log.write()
    return outcome


@dataclass
class RunReport:
    """What the report after the load found: its gate, the reconciliation lines the ledger
    does not explain, its files; or the error that kept it from being written (the run itself
    stands: the report can be made again with `crmmigrate report --legacy RUN_DIR`)."""

    files: dict[str, str] = field(default_factory=dict)
    passed: bool | None = None  # the report's gate; None: no report
    failed: list[str] = field(default_factory=list)  # the gate's failed checks, one line each
    reconciled: int = 0  # reconciliation lines
    unexplained: list[str] = field(default_factory=list)  # the lines the ledger does not explain, described
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _reported_beside(engine: sa.Engine, migration: Migration, planned: list[PlannedSource], run_dir: Path,
                     state: RunState, stages: StageContext, *, wanted: bool) -> Iterator[None]:
    """The report after the load (`_write_report`, when `wanted`) written on a thread of its own
    while the block (the ledger's reconciliation) runs: both only read the target, which the
    run's lock keeps as the load left it, and each spends most of its time in the database or
    in Arrow, which let go of the GIL; one after the other, one of them left a core idle. An
    in-memory SQLite target, a database per thread, has it written after the block."""
    def written() -> None:
        with stages.timed("report"):
            state.report = _write_report(engine, migration, planned, run_dir, stages.progress)
            stages.files.update(state.report.files)

    if not wanted or one_database_per_thread(engine):
        yield
        if wanted:
            written()
        return
    with ThreadPoolExecutor(1, thread_name_prefix="crmmigrate-report") as beside:  # waited for, whatever the block does
        writing = beside.submit(written)
        yield
    writing.result()


def _write_report(engine: sa.Engine, migration: Migration, planned: list[PlannedSource], run_dir: Path,
                  progress: Progress) -> RunReport:
    """report.json and report.html in the run directory: the report on the target, with the
    reconciliation of the legacy records this run read (its staged mapped records, and its
    filtered ones mapped again) against what the target holds. An error of the report's own
    is kept as a note, not raised: the migration is loaded whatever the report says."""
    from crmmigrate.reporting import add_reconciliation, build_report, load_report_rules, outputs
    from crmmigrate.reporting.html import write_html
    from crmmigrate.reporting.reconcile import describe, legacy_datasets, reconcile, unexplained

    def reconciled() -> tuple[list, list[str]]:
        progress("report", "reconciliation", 0, 1)
        legacy, notes = legacy_datasets(run_dir, {p.name: p.mapping for p in planned})
        lines = reconcile(engine, legacy, held=True)
        progress("report", "reconciliation", 1, 1)
        return lines, notes

    result = RunReport()
    try:
        report_rules = load_report_rules(project=migration.file.parent)
        # The reconciliation on a connection of its own beside the report's sections: the run
        # holds the target's lock, so both read the same state of it, and much of either is
        # the database's work or Arrow's, which let go of the GIL. An in-memory SQLite target
        # is one connection per thread, each its own empty database: there, one after the other.
        alone = one_database_per_thread(engine)
        with ThreadPoolExecutor(1, thread_name_prefix="crmmigrate-reconcile") as beside:
            reconciling = None if alone else beside.submit(reconciled)
            built = build_report(engine, rules=report_rules, progress=progress, validation=load_rules(migration.rules),
                                 held=True)
            lines, result.notes = reconciling.result() if reconciling is not None else reconciled()
        add_reconciliation(built, lines, report_rules)
        files = {"report_json": run_dir / "report.json", "report_html": run_dir / "report.html"}
        outputs.write_json(built, files["report_json"])
        write_html(built, files["report_html"])
    except Exception as exc:  # noqa: BLE001 - any failure of the report is its own, never the run's
        logging.getLogger(__name__).debug("the report after the load failed", exc_info=True)
        result.error = mask_text(f"{type(exc).__name__}: {exc}" if not isinstance(exc, CrmMigrateError)
                                 else str(exc), migration.target)
        return result
    result.files = {k: str(v) for k, v in files.items()}
    result.passed = built.passed
    result.failed = [outputs.check_summary(c) for c in built.gate if not c.passed]
    result.reconciled = len(built.reconciliation)
    result.unexplained = [describe(line) for line in unexplained(built.reconciliation)]
    return result


def _gone(pid: int) -> bool:
    """No process has this id (on this host) any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, and is another user's
        return False
    return False


def mark_interrupted(run_dir: Path, run_id: str, target: str) -> list[tuple[str, str]]:
    """Mark the runs in `run_dir` that say they are running but were killed: status
    `interrupted`, with when and by which run that was found. A run was killed when its process
    is gone from this host, or, for a run on another host (or from before runs recorded their
    process), when it wrote to `target` (masked), whose lock the caller holds. A run whose
    process lives (waiting for a lock, say) is left alone. Returns the marked runs' ids and starts."""
    marked = []
    here = socket.gethostname()
    for path in sorted(run_dir.glob("*/run.json")):
        if path.parent.name == run_id:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
        except (OSError, ValueError):
            continue  # not a run.json crmmigrate can read: not for it to change
        if not isinstance(data, dict) or data.get("status") != "running":
            continue
        pid = data.get("pid")
        if isinstance(pid, int) and data.get("host") == here:
            if not _gone(pid):
                continue
        elif data.get("target") != target:
            continue
        log = RunLog(path, data)
        log.update({"status": "interrupted", "interrupted_found_at": datetime.now(UTC).isoformat(),
                    "interrupted_found_by": run_id})
        log.write()
        marked.append((path.parent.name, str(data.get("started_at", "at an unknown time"))))
    return marked


def _extract_and_map(planned: PlannedSource, reading: SourceReading, run_dir: Path, report: Progress
                     ) -> tuple[SourceRun, pd.DataFrame, pd.DataFrame, list]:
    """One source read part by part (the embedded engine: chunk by chunk), each part staged as
    extracted and as mapped as it comes, so a large source never has to be read twice."""
    stem = file_name(planned.name)
    paths = {
        "extracted": run_dir / "extracted" / f"{stem}.parquet",
        "extract_rejects": run_dir / "extracted" / f"{stem}.rejects.csv",
        "mapped": run_dir / "mapped" / f"{stem}.parquet",
        "filtered": run_dir / "mapped" / f"{stem}.filtered.csv",
    }
    seconds = {"extract": 0.0, "map": 0.0}
    mapped_parts: list[pd.DataFrame] = []
    removed_parts: list[pd.DataFrame] = []
    unreadable: list[Reject] = []
    too_long: list[Reject] = []
    rows = mapped_rows = 0
    with (ChunkWriter(paths["extracted"]) as staged, ChunkWriter(paths["mapped"]) as mapped_out,
          ChunkWriter(paths["filtered"]) as removed_out):
        for part in reading.parts():
            for chunk in part.extracted:
                staged.write(chunk)
                rows += len(chunk)
            if part.extracted:  # a part with no chunks maps nothing
                mapped_out.write(part.mapped)
                removed_out.write(part.removed)
                mapped_parts.append(part.mapped)
                removed_parts.append(part.removed)
                mapped_rows += len(part.mapped) + len(part.too_long)
            unreadable += part.rejects
            too_long += part.too_long
            for stage in seconds:
                seconds[stage] += part.seconds.get(stage, 0.0)
            report("extract", planned.name, rows, None)
            report("map", planned.name, mapped_rows, None)
    extracted, map_report = reading.finish()
    # The counts are known now: both items have finished (their clocks stop).
    report("extract", planned.name, extracted.rows, extracted.rows)
    report("map", planned.name, map_report.rows_out, map_report.rows_out)
    run = SourceRun(
        name=planned.name, entity=planned.entity, location=planned.shown_location,
        mapping=str(planned.mapping_path), extract=extracted, map=map_report,
        files={k: str(v) for k, v in paths.items()}, seconds=seconds,
    )
    rejects = [*unreadable, *too_long]
    write_frames(paths["extract_rejects"], [rejects_frame(rejects)])
    return run, _joined(mapped_parts), _joined(removed_parts), rejects


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _invalid_values(result: ValidationResult) -> set[tuple[str, str, str]]:
    """(file, row, field) of every value validation failed: survivorship takes none of them."""
    failures = result.failures
    return set(zip(failures["_file"].astype(str), failures["_row"].astype(str), failures["field"].astype(str),
                   strict=True))


_OWN_ROW_STAYS = "; its own row stays"  # a merged record's row an earlier run loaded, while its survivor is not


def _outside(datasets: dict[str, pd.DataFrame]) -> list[str]:
    """The entities this run's records point into that are not in the run."""
    targets = {t for e in datasets for f in MODEL.entity(e).pointers
               for t in (MODEL.names if f.target == ANY_ENTITY else (f.target,))}
    return sorted(t for t in targets if t not in datasets)


class _Ledger:
    """The id_map entries this run writes itself: rows extract rejected, rows a filter removed,
    and rows of entities the gate held back. The loader writes the ones it loads or rejects.
    Read and written through load/id_map.py's Ledger."""

    def __init__(self, engine: sa.Engine, run_id: str, dry_run: bool) -> None:
        self.engine = engine
        self.run_id = run_id
        self.dry_run = dry_run
        self.id_map = Ledger(engine, run_id)
        init_target(engine)

    def record(self, planned: list[PlannedSource], datasets: dict[str, pd.DataFrame],
               filtered: dict[str, pd.DataFrame], rejects: dict[str, list], held: dict[str, str],
               report: Progress) -> dict[str, dict[tuple[str, str], str]]:
        """Write the entries; returns per held entity the (source, legacy id) an earlier run
        loaded, which keep their entry: the target still holds them and children resolve
        their pointers through them."""
        kept: dict[str, dict[tuple[str, str], str]] = {}
        for entity in held:
            kept[entity] = self.id_map.loaded_before(entity, [p.name for p in planned if p.entity == entity])
        for index, p in enumerate(planned):
            entries = [{"source": p.name, "legacy_id": f"row {r.row}", "target_id": None,
                        "status": "rejected", "reason": r.reason} for r in rejects[p.name]]
            removed = filtered[p.name]
            entries += [{"source": p.name, "legacy_id": id_map_key(i, row), "target_id": None,
                         "status": "filtered", "reason": reason}
                        for i, row, reason in zip(removed["id"], removed["_row"], removed["reason"], strict=True)]
            if p.entity in held and p.entity in datasets:
                frame = datasets[p.entity]
                mine = frame[frame["_source"] == p.name]
                reason = held[p.entity]
                for i, row in zip(mine["id"], mine["_row"], strict=True):
                    legacy = id_map_key(i, row)
                    if (p.name, legacy) not in kept[p.entity]:
                        entries.append({"source": p.name, "legacy_id": legacy, "target_id": None,
                                        "status": "rejected", "reason": reason})
            if entries and not self.dry_run:
                self.id_map.record(p.entity, entries)
            report("ledger", "sources", index + 1, len(planned))
        return kept

    def loaded(self, entities: list[str]) -> set[tuple[str, str, str]]:
        """(entity, source, legacy id) of the records of `entities` already in the target."""
        return self.id_map.loaded(entities)

    def pointable(self, entities: list[str]) -> dict[str, set[str]]:
        """Per entity, the legacy ids a pointer may lead to in the target: those the loader
        resolves (loaded, or merged into a loaded survivor)."""
        return self.id_map.pointable(entities)

    def merged(self, deduped: DedupeResult, records: dict[str, pd.DataFrame]) -> dict[str, MergedInTarget]:
        """id_map entries of the merged records: `merged`, with their survivor's target id (none
        when the survivor was not loaded: the reason says so), written where they are new or
        changed; and in the same transaction their own values (`records`: as dedupe was given them)
        kept in merged_record, the rows of those an earlier run loaded removed, and merges no
        longer made marked undone (`keep_merged`)."""
        outcome: dict[str, MergedInTarget] = {}
        if self.dry_run:
            return outcome
        for found in deduped.entities:
            with self.engine.begin() as connection:
                merged = found.merged
                survivors: list[int | None] = []  # per merged record: its survivor's target id
                own: list[int | None] = []  # and the record's own row, when it has one
                if not merged.empty:
                    rows = self.id_map.held(connection, found.entity)
                    targets: dict[tuple[str, str], int] = {}
                    # Rows of the records themselves: loaded by an earlier run (a row this run loaded
                    # is another record's, with the same legacy id), or kept for want of a survivor.
                    earlier: dict[tuple[str, str], int] = {}
                    before: dict[tuple[str, str], tuple] = {}  # merged entries as they are
                    for source, legacy, target, status, reason, run in rows:
                        key = (str(source), str(legacy))
                        if status == "loaded":
                            targets[key] = target
                            if run != self.run_id:
                                earlier[key] = target
                        else:
                            before[key] = (target, reason)
                            if str(reason).endswith(_OWN_ROW_STAYS):
                                earlier[key] = target
                    entries = []
                    for source, legacy, to_source, to_id in zip(merged["_source"], merged["legacy_id"],
                                                                merged["survivor_source"], merged["survivor_id"],
                                                                strict=True):
                        target = targets.get((to_source, to_id))
                        mine = earlier.get((source, legacy))  # its row, when an earlier run loaded it
                        reason = f"merged into {to_source} {to_id}"
                        if target is None:
                            reason += ", which was not loaded"
                            if mine is not None:  # it stays the record's row: pointers to it resolve
                                target, reason = mine, reason + _OWN_ROW_STAYS
                        if before.get((source, legacy)) != (target, reason):  # else merged as before
                            entries.append({"source": source, "legacy_id": legacy, "target_id": target,
                                            "status": "merged", "reason": reason})
                        survivors.append(target)
                        own.append(mine)
                    self.id_map.write(connection, found.entity, entries)
                outcome[found.entity] = keep_merged(
                    connection, found.entity, self.run_id,
                    merged.assign(survivor_target=pd.Series(survivors, index=merged.index, dtype=object),
                                  own_target=pd.Series(own, index=merged.index, dtype=object)),
                    records[found.entity])
        return outcome


def _reconcile(runs: list[SourceRun], datasets: dict[str, pd.DataFrame], filtered: dict[str, pd.DataFrame],
               rejects: dict[str, list], held: dict[str, str], kept: dict[str, dict[tuple[str, str], str]],
               loaded: LoadReport, ledger: _Ledger, deduped: DedupeResult) -> list[LedgerLine]:
    """Per source: where its rows ended by the run's own counts, and the status of each of
    its legacy ids in id_map against the one the run gave it."""
    by_source: dict[tuple[str, str], SourceLoad] = {(s.entity, s.source): s for s in loaded.sources}
    load_rejects: dict[tuple[str, str], dict[str, str]] = {}
    for r in loaded.rejects:
        key = (str(r["entity"]), str(r["_source"]))
        load_rejects.setdefault(key, {})[str(r["_row"])] = str(r["legacy_id"] or f"row {r['_row']}")
    merged: dict[tuple[str, str], list[str]] = {}
    for found in deduped.entities:
        for source, legacy in zip(found.merged["_source"].tolist(), found.merged["legacy_id"].tolist(), strict=True):
            merged.setdefault((found.entity, source), []).append(legacy)
    lines = []
    for run in runs:
        line = LedgerLine(run.entity, run.name, extracted=run.extracted)
        # What this run says became of each of the source's legacy ids, in the order it says
        # so (a later word on an id outranks an earlier one): its key and status, part by part.
        keys: list[pa.Array] = []
        said: list[pa.Array] = []

        def says(part: pa.Array | pa.ChunkedArray, status: str | pa.Array | pa.ChunkedArray) -> None:
            keys.append(_one_array(part))
            said.append(pa.repeat(status, len(part)) if isinstance(status, str) else _one_array(status))

        gone = merged.get((run.entity, run.name), [])
        says(pa.array(gone, pa.string()), "merged")
        line.merged += len(gone)
        says(pa.array([f"row {r.row}" for r in rejects[run.name]], pa.string()), "rejected")
        removed = filtered[run.name]
        says(id_map_keys(removed["id"], removed["_row"]), "filtered")
        line.rejected = len(rejects[run.name])
        line.filtered = len(removed)
        frame = datasets.get(run.entity)
        mine = (frame.loc[(frame["_source"] == run.name).to_numpy(dtype=bool), ["id", "_row"]] if frame is not None
                else pd.DataFrame(columns=["id", "_row"]))
        legacy = id_map_keys(mine["id"], mine["_row"])
        if run.entity in held:
            before = kept.get(run.entity, {})
            # loaded or merged before
            statuses = [before.get((run.name, key), "rejected") for key in legacy.to_pylist()]
            counted = Counter(statuses)
            line.loaded += counted["loaded"]
            line.unchanged += counted["loaded"]
            line.merged += counted["merged"]
            line.rejected += len(statuses) - counted["loaded"] - counted["merged"]
            says(legacy, pa.array(statuses, pa.string()))
        else:
            stats = by_source.get((run.entity, run.name), SourceLoad(run.entity, run.name))
            line.loaded += stats.loaded
            line.rejected += stats.rejected
            line.inserted, line.updated, line.unchanged = stats.inserted, stats.updated, stats.unchanged
            refused = load_rejects.get((run.entity, run.name), {})
            if refused:
                rows = pa.array(mine["_row"].astype(str), pa.string())  # as the load's rejects name them
                at = pc.index_in(rows, value_set=pa.array(list(refused), pa.string()))
                named = pc.is_valid(at)
                says(pc.if_else(named, pa.array(list(refused.values()), pa.string()).take(at), legacy),
                     pc.if_else(named, "rejected", "loaded"))
            else:
                says(legacy, "loaded")
        if not ledger.dry_run:
            expected_keys, expected = _last_said(pa.concat_arrays(keys), pa.concat_arrays(said))
            found = ledger.id_map.statuses(run.entity, run.name, expected_keys)  # null: not in id_map
            counts = pc.value_counts(pc.fill_null(found, "missing"))  # in the order statuses first come
            line.id_map = {str(k): int(v) for k, v in zip(counts.field("values").to_pylist(),
                                                          counts.field("counts").to_pylist(), strict=True)}
            # missing from id_map differs too
            line.id_map_differ = int(pc.sum(pc.invert(pc.fill_null(pc.equal(found, expected), False))).as_py() or 0)
        lines.append(line)
    return lines


def _one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _last_said(keys: pa.Array, said: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each key (in the order keys first come; a missing one left out) and the status said of it last."""
    present = pc.is_valid(keys)
    if not pc.all(present).as_py():
        keys, said = keys.filter(present), said.filter(present)
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy()
    _, first_backwards = np.unique(codes[::-1], return_index=True)  # a key's last place: its first, backwards
    return encoded.dictionary, said.take(pa.array(len(codes) - 1 - first_backwards))


def extract_and_map(planned: PlannedSource, folder: Path, progress: Progress | None = None
                    ) -> tuple[SourceRun, pd.DataFrame, pd.DataFrame, list[Reject]]:
    """One source of a migration extracted and mapped exactly as a run does it, staged in
    `folder` (extracted/, mapped/): what it did, its mapped records, the records its filters
    removed, and the rows that could not be read."""
    return _extract_and_map(planned, LocalReading(planned), folder, progress or (lambda *_: None))
