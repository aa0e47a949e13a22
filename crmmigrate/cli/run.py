"""`crmmigrate run`: a whole migration from one config file, resumable and accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.run import interrupted, run_summary, waiting
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.migration import load_migration, with_engine
from crmmigrate.run import entity_names, run_migration


@handles_errors
def command(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="The migration config (YAML), e.g. migration.yaml.")
    ],
    only: Annotated[
        str | None,
        typer.Option("--only", help="Run only these entities, e.g. account,contact (a staged "
                     "migration; pointers into entities an earlier run loaded still resolve)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything but commit: the target is left as it was.")
    ] = False,
    allow_failing: Annotated[
        bool, typer.Option("--allow-failing", help="Load entities whose gate fails too.")
    ] = False,
    batch_rows: Annotated[
        int | None,
        typer.Option("--batch-rows", min=1, help="Rows per load transaction [default: the config's "
                     "batch_rows, or 10000]."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0, metavar="SECONDS",
                     help="When another run is writing to the target (it holds the target's lock), "
                     "wait up to SECONDS for it to finish; 0 refuses at once (exit 2)."),
    ] = 0,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Write no report after the load (report.html, report.json "
                           "with the reconciliation); `crmmigrate report --legacy RUNS/RUN_ID` makes it later.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option("--engine", metavar="NAME", help="Where the work is done: local (this process) or dask "
                     "(a Dask cluster) [default: the config's `engine:`, or local]."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", metavar="ADDRESS", help="With --engine dask: the Dask scheduler to run on, "
                     "e.g. tcp://10.0.0.5:8786 [default: a LocalCluster of this machine's cores]."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="With --engine dask and no scheduler: the LocalCluster's worker "
                     "processes [default: the cores]."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run a migration: extract and map every source, validate every entity together, then load
    the entities whose gate passes (and whose parents are loaded) into the target. Every
    artifact goes into runs/<run_id>/ with run.json, and the ledger accounts for every extracted
    row. Rerun it to resume: what is loaded is not loaded twice. After the load the report on the
    target (as `crmmigrate report` writes it, reconciled with the legacy records) goes into the run
    directory too. Exits 1 when an entity was held back by its gate; 2, writing nothing, when
    another run holds the target."""
    migration = with_engine(load_migration(config), engine=engine, scheduler=scheduler, workers=workers)
    entities = entity_names([only]) if only is not None else None
    with console.progress() as progress:
        result = run_migration(migration, only=entities, dry_run=dry_run, allow_failing=allow_failing,
                               batch_rows=batch_rows, progress=progress, wait=wait, waiting=waiting,
                               interrupted=interrupted, write_report=not no_report)
    run_summary(result)
    result.check_ledger()
    if result.gate_failed:
        raise typer.Exit(EXIT_GATE_FAILED)
