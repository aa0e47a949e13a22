"""`crmmigrate target`: create the target CRM schema, or check a database against it."""

from __future__ import annotations

from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.load import check_target, connect, init_target
from crmmigrate.passwords import mask_url

app = typer.Typer(help="Create the target CRM schema, or check a database against it.",
                  no_args_is_help=True)

UrlArg = Annotated[str, typer.Argument(metavar="URL", help="SQLAlchemy URL of the target database.")]


@app.command("init")
@handles_errors
def init(url: UrlArg, verbose: Verbose = False) -> None:
    """Create every table of the target schema (one per entity, id_map and merged_record) that
    is missing."""
    created = init_target(connect(url))
    report.out.print(f"{mask_url(url)}: created {len(created)} table(s)"
                     + (f": {', '.join(created)}" if created else "; the schema was there already"))


@app.command("check")
@handles_errors
def check(url: UrlArg, verbose: Verbose = False) -> None:
    """Say whether a database matches the target schema; exit 1 when it does not."""
    problems = check_target(connect(url))
    if not problems:
        report.out.print(f"{mask_url(url)}: matches the target schema")
        return
    for problem in problems:
        report.out.print(f"{mask_url(url)}: {problem}")
    raise typer.Exit(EXIT_GATE_FAILED)
