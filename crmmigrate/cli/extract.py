"""`crmmigrate extract`: read a legacy source into a staged file with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate import project
from crmmigrate.cli.common import ConfigOpt, ForceOpt, OutputOpt, Verbose, handles_errors, takes_source
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.cli.terminal.extract import extract_summary
from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source, default_rejects_path, extract
from crmmigrate.migration import load_migration


@handles_errors
@takes_source(configurable=True)
def command(
    source: Source | None,
    named: str | None,
    output: OutputOpt,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected rows CSV [default: OUTPUT.rejects.csv]."),
    ] = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Read a CSV, Excel, JSON or SQL source into OUTPUT, every value a string, every row with
    its provenance (_source, _file, _row). Rows that cannot be read go to the rejects file.
    With --config, OUTPUT is a folder: each source goes to OUTPUT/NAME.parquet."""
    if source is not None:
        rejects = rejects or default_rejects_path(output)
        guard_outputs({"--output": output, "--rejects": rejects}, inputs=[source.location], force=force)
        result = extract(source, output, rejects=rejects)
        extract_summary(result, output=output, rejects=rejects)
        return
    if rejects is not None:
        raise BadUsage("--rejects with --config: each source's rejects go to OUTPUT/NAME.rejects.csv.")
    migration = load_migration(config)
    for planned in project.pick(migration, named):
        staged = output / f"{project.file_name(planned.name)}.parquet"
        rejected = default_rejects_path(staged)
        guard_outputs({"--output": staged, "--rejects": rejected}, inputs=[planned.source.location], force=force)
        result = extract(planned.source, staged, rejects=rejected)
        extract_summary(result, output=staged, rejects=rejected)
