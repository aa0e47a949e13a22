"""`crmmigrate load`: validate canonical datasets and load the ones that pass into the target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli.common import ConfigOpt, ForceOpt, Verbose, config_datasets, configured, handles_errors
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.load import load_summary
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.load import connect, load
from crmmigrate.load.gate import loadable
from crmmigrate.migration import DEFAULT_TARGET
from crmmigrate.run import new_run_id
from crmmigrate.staging import write_frames
from crmmigrate.validate import load_rules, load_thresholds, validate


@handles_errors
def command(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(metavar="DATASET...",
                       help="Canonical datasets from `crmmigrate map`, or MAPPING=SOURCE. With --config and "
                       "none: every source of it, extracted, mapped and cleaned as `run` does.",
                       show_default=False),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="SQLAlchemy URL of the target database [default: the "
                                 "config's target, or sqlite:///migration.db].")
    ] = None,
    rejects: Annotated[
        Path, typer.Option("--rejects", help="Rows not loaded, with the reason (CSV).")
    ] = Path("load.rejects.csv"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but commit.")] = False,
    allow_failing: Annotated[
        bool, typer.Option("--allow-failing", help="Load entities whose gate fails too.")
    ] = False,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Validate DATASETs, then load every entity whose gate passes (and whose parents are
    loaded) into the target: parents first, upserted by (source, legacy id), so a rerun changes
    nothing. Exits 1 when an entity was held back by its gate."""
    migration = configured(config, datasets)
    target = target or (migration.target if migration else DEFAULT_TARGET)
    guard_outputs({"--rejects": rejects}, inputs=[*(datasets or []), target], force=force)
    with config_datasets(migration, datasets) as (data, said):
        result = validate(data, rules=load_rules(migration.rules if migration else None),
                          thresholds=load_thresholds(migration.thresholds if migration else None),
                          regions=migration.phone_regions if migration else None)
    for text in said:
        console.note(text)
    order, held = loadable(result, allow_failing=allow_failing)
    run_id = new_run_id()
    with console.progress() as progress:
        outcome = load(connect(target), data, validation=result, run_id=run_id, entities=order,
                       dry_run=dry_run, progress=progress)
    outcome.skipped = held
    write_frames(rejects, [outcome.rejects_frame()])
    load_summary(outcome, rejects=rejects)
    if held:
        raise typer.Exit(EXIT_GATE_FAILED)
