"""`crmmigrate profile`: what is in each column of a source, to find dirt before mapping."""

from __future__ import annotations

from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import Verbose, handles_errors, takes_source
from crmmigrate.extract import Source
from crmmigrate.profile import DEFAULT_TOP, profile_source


@handles_errors
@takes_source
def command(
    source: Source,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many top values and masks to show per column.")
    ] = DEFAULT_TOP,
    json: Annotated[
        bool, typer.Option("--json", help="Print the profile as JSON on stdout, nothing else.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Profile every column of a source: fill rate, distinct and top values, value shapes
    (emails, phones, numbers and their decimal marks, date patterns and their day/month
    order), character masks, and warnings about what a mapping must deal with."""
    result = profile_source(source, top=top)
    if json:
        report.profile_json(result)
    else:
        report.profile_table(result)
