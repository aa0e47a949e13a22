"""The command line: one module per command, each a thin layer over one library function."""

from __future__ import annotations

import typer

from crmmigrate import __version__
from crmmigrate.cli import (
    clean,
    dedupe,
    extract,
    init,
    load,
    map,
    mapping,
    profile,
    reporting,
    run,
    target,
    validate,
)
from crmmigrate.cli.common import Verbose, set_verbose

app = typer.Typer(
    name="crmmigrate",
    help="Move customer data from legacy systems into a new CRM, and clean it on the way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crmmigrate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Verbose = False,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    set_verbose(verbose, reset=True)


app.command("extract")(extract.command)
app.command("profile")(profile.command)
app.command("map")(map.command)
app.command("clean")(clean.command)
app.command("validate")(validate.command)
app.add_typer(dedupe.app, name="dedupe")
app.command("load")(load.command)
app.command("run")(run.command)
app.command("report")(reporting.command)
app.command("init")(init.command)
app.add_typer(target.app, name="target")
app.add_typer(mapping.app, name="mapping")


def main() -> None:
    app()
