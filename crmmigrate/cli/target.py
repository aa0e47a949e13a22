"""`crmmigrate target`: create the target CRM schema, check a database against it, or rebuild
its id_map from the loaded tables."""

from __future__ import annotations

from typing import Annotated

import typer

from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.target import repair_lines
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.load import check_target, connect, init_target
from crmmigrate.load.repair import repair_id_map
from crmmigrate.passwords import mask_url

app = typer.Typer(help="Create the target schema, check it, or repair its id_map.",
                  no_args_is_help=True)

UrlArg = Annotated[str, typer.Argument(metavar="URL", help="SQLAlchemy URL of the target database.")]


@app.command("init")
@handles_errors
def init(url: UrlArg, verbose: Verbose = False) -> None:
    """Create every table of the target schema (one per entity, id_map and merged_record) that
    is missing."""
    created = init_target(connect(url))
    console.out.print(f"{mask_url(url)}: created {len(created)} table(s)"
                      + (f": {', '.join(created)}" if created else "; the schema was there already"))


@app.command("check")
@handles_errors
def check(url: UrlArg, verbose: Verbose = False) -> None:
    """Say whether a database matches the target schema; exit 1 when it does not."""
    problems = check_target(connect(url))
    if not problems:
        console.out.print(f"{mask_url(url)}: matches the target schema")
        return
    for problem in problems:
        console.out.print(f"{mask_url(url)}: {problem}")
    raise typer.Exit(EXIT_GATE_FAILED)


@app.command("repair")
@handles_errors
def repair(
    url: UrlArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")] = False,
    verbose: Verbose = False,
) -> None:
    """Rebuild id_map from the loaded tables where it disagrees with them: a row whose entry is
    missing, names another row, or says another run's write made the database refuse it gets a
    'loaded' entry with its id; a 'loaded' entry with no row is removed. Holds the target's lock
    (exit 2 while a run is writing). Every run does the same before it loads."""
    engine = connect(url)
    try:
        repaired = repair_id_map(engine, dry_run=dry_run)
    finally:
        engine.dispose()
    if not repaired:
        console.out.print(f"{mask_url(url)}: id_map agrees with the loaded tables; nothing to repair")
        return
    for line in repair_lines(repaired, dry_run=dry_run):
        console.out.print(f"{mask_url(url)}: {line}")
    console.out.print(f"{mask_url(url)}: {repaired.changed:,} id_map entr{'y' if repaired.changed == 1 else 'ies'} "
                      + ("would change (dry run)" if dry_run else "changed"))
