"""`crmmigrate map`: turn a source into canonical records of one entity with a mapping file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import ForceOpt, OutputOpt, Verbose, handles_errors, takes_source
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.extract import Source, detect_format
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import map_source
from crmmigrate.staging import check_output


@handles_errors
@takes_source
def command(
    source: Source,
    mapping: Annotated[
        Path, typer.Option("--mapping", "-m", help="The mapping file (YAML) to apply.")
    ],
    output: OutputOpt,
    filtered: Annotated[
        Path | None,
        typer.Option("--filtered", help="Filtered records CSV [default: OUTPUT.filtered.csv]."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Unreadable rows CSV [default: OUTPUT.rejects.csv]."),
    ] = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Map SOURCE (a legacy export, or a staged .parquet from extract) to canonical records
    of the mapping's entity, with provenance. Values a transform cannot parse are kept and
    listed in _issues; records a filter removes go to the filtered file with its name."""
    check_output(output)
    spec = load_mapping(mapping)
    # The mapping says how its raw source is read; options given on the command line win,
    # and a staged file from extract is already read: only the source name applies to it.
    defaults = spec.source.given()
    if detect_format(source) == "parquet":
        defaults = {k: v for k, v in defaults.items() if k == "name"}
    source = source.model_copy(
        update={k: v for k, v in defaults.items() if getattr(source, k) is None}
    )
    filtered = filtered or output.with_name(f"{output.stem}.filtered.csv")
    rejects = rejects or output.with_name(f"{output.stem}.rejects.csv")
    guard_outputs({"--output": output, "--filtered": filtered, "--rejects": rejects},
                  inputs=[source.location, mapping], force=force)
    result, extracted = map_source(spec, source, output, filtered=filtered, rejects=rejects)
    report.map_summary(result, extracted, output=output, filtered=filtered, rejects=rejects)
