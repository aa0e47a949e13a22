"""`crmmigrate extract`: read a legacy source into a staged file with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import ForceOpt, OutputOpt, Verbose, handles_errors, takes_source
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.extract import Source, default_rejects_path, extract


@handles_errors
@takes_source
def command(
    source: Source,
    output: OutputOpt,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected rows CSV [default: OUTPUT.rejects.csv]."),
    ] = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Read a CSV, Excel, JSON or SQL source into OUTPUT, every value a string, every row with
    its provenance (_source, _file, _row). Rows that cannot be read go to the rejects file."""
    rejects = rejects or default_rejects_path(output)
    guard_outputs({"--output": output, "--rejects": rejects}, inputs=[source.location], force=force)
    result = extract(source, output, rejects=rejects)
    report.extract_summary(result, output=output, rejects=rejects)
