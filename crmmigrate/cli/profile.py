"""`crmmigrate profile`: what is in each column of a source, to find dirt before mapping."""

from __future__ import annotations

from json import dumps
from typing import Annotated

import typer

from crmmigrate import project
from crmmigrate.cli.common import ConfigOpt, Verbose, handles_errors, takes_source
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.profile import profile_json, profile_table
from crmmigrate.extract import Source
from crmmigrate.migration import load_migration
from crmmigrate.profile import DEFAULT_TOP, profile_source


@handles_errors
@takes_source(configurable=True)
def command(
    source: Source | None,
    named: str | None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many top values and masks to show per column.")
    ] = DEFAULT_TOP,
    json: Annotated[
        bool, typer.Option("--json", help="Print the profile as JSON on stdout, nothing else.")
    ] = False,
    config: ConfigOpt = None,
    verbose: Verbose = False,
) -> None:
    """Profile every column of a source: fill rate, distinct and top values, value shapes
    (emails, phones, numbers and their decimal marks, date patterns and their day/month
    order), character masks, and warnings about what a mapping must deal with."""
    chosen = {"": source} if source is not None else {
        p.name: p.source for p in project.pick(load_migration(config), named)}
    if json and source is None:
        # One JSON document for every source of the config, by source name.
        found = {name: profile_source(one, top=top).as_dict() for name, one in chosen.items()}
        console.out.file.write(dumps(found, indent=2, ensure_ascii=False) + "\n")
        return
    for one in chosen.values():
        result = profile_source(one, top=top)
        if json:
            profile_json(result)
        else:
            profile_table(result)
