"""`crmmigrate load`: validate canonical datasets and load the ones that pass into the target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import ForceOpt, Verbose, handles_errors
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.load import connect, load
from crmmigrate.load.gate import loadable
from crmmigrate.run import new_run_id
from crmmigrate.staging import write_frames
from crmmigrate.validate import collect_datasets, load_rules, load_thresholds, validate


@handles_errors
def command(
    datasets: Annotated[
        list[str],
        typer.Argument(metavar="DATASET...",
                       help="Canonical datasets from `crmmigrate map`, or MAPPING=SOURCE."),
    ],
    target: Annotated[
        str, typer.Option("--target", "-t", help="SQLAlchemy URL of the target database.")
    ] = "sqlite:///migration.db",
    rejects: Annotated[
        Path, typer.Option("--rejects", help="Rows not loaded, with the reason (CSV).")
    ] = Path("load.rejects.csv"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but commit.")] = False,
    allow_failing: Annotated[
        bool, typer.Option("--allow-failing", help="Load entities whose gate fails too.")
    ] = False,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Validate DATASETs, then load every entity whose gate passes (and whose parents are
    loaded) into the target: parents first, upserted by (source, legacy id), so a rerun changes
    nothing. Exits 1 when an entity was held back by its gate."""
    guard_outputs({"--rejects": rejects}, inputs=[*datasets, target], force=force)
    data = collect_datasets(datasets)
    result = validate(data, rules=load_rules(), thresholds=load_thresholds())
    order, held = loadable(result, allow_failing=allow_failing)
    run_id = new_run_id()
    outcome = load(connect(target), data, validation=result, run_id=run_id, entities=order,
                   dry_run=dry_run)
    outcome.skipped = held
    write_frames(rejects, [outcome.rejects_frame()])
    report.load_summary(outcome, rejects=rejects)
    if held:
        raise typer.Exit(EXIT_GATE_FAILED)
