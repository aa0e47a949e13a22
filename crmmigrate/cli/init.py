"""`crmmigrate init`: scaffold a migration project over the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.scaffold import init_project


@handles_errors
def command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to create the project.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into DIR even if it is not empty.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Create a migration project in DIR: migration.yaml, the sample exports, a mapping per
    source and the rules, ready for `crmmigrate run DIR/migration.yaml`."""
    report.init_summary(init_project(directory, force=force))
