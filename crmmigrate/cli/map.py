"""`crmmigrate map`: turn a source into canonical records of one entity with a mapping file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate import project
from crmmigrate.cli.common import ConfigOpt, ForceOpt, OutputOpt, Verbose, handles_errors, takes_source
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.cli.terminal.map import map_summary
from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source, detect_format
from crmmigrate.mapping.config import load_mapping
from crmmigrate.mapping.engine import map_source
from crmmigrate.migration import Migration, load_migration
from crmmigrate.staging import check_output


@handles_errors
@takes_source(configurable=True)
def command(
    source: Source | None,
    named: str | None,
    output: OutputOpt,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="The mapping file (YAML) to apply [with --config: "
                                  "each source's own].")
    ] = None,
    filtered: Annotated[
        Path | None,
        typer.Option("--filtered", help="Filtered records CSV [default: OUTPUT.filtered.csv]."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Unreadable rows CSV [default: OUTPUT.rejects.csv]."),
    ] = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Map SOURCE (a legacy export, or a staged .parquet from extract) to canonical records
    of the mapping's entity, with provenance. Values a transform cannot parse are kept and
    listed in _issues; records a filter removes go to the filtered file with its name. With
    --config, each source is read and mapped as `run` does it, into the folder OUTPUT
    (extracted/NAME.parquet, mapped/NAME.parquet, mapped/NAME.filtered.csv)."""
    if source is None:
        _configured(load_migration(config), named, output, mapping=mapping, filtered=filtered, rejects=rejects,
                    force=force)
        return
    if mapping is None:
        raise BadUsage("missing option --mapping: the mapping file to apply.")
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
    map_summary(result, extracted, output=output, filtered=filtered, rejects=rejects)


def _configured(migration: Migration, named: str | None, output: Path, *, mapping: Path | None,
                filtered: Path | None, rejects: Path | None, force: bool) -> None:
    given = [name for name, value in (("--mapping", mapping), ("--filtered", filtered), ("--rejects", rejects))
             if value is not None]
    if given:
        raise BadUsage(f"{', '.join(given)} with --config: each source's mapping is the config's, and its "
                       "files go into the folder OUTPUT, as a run stages them.")
    for planned in project.pick(migration, named):
        stem = project.file_name(planned.name)
        files = {"--output": output / "mapped" / f"{stem}.parquet",
                 "--filtered": output / "mapped" / f"{stem}.filtered.csv",
                 "--rejects": output / "extracted" / f"{stem}.rejects.csv",
                 "extracted": output / "extracted" / f"{stem}.parquet"}
        guard_outputs(files, inputs=[planned.source.location, planned.mapping_path], force=force)
        run, *_ = project.extract_and_map(planned, output)
        map_summary(run.map, run.extract, output=files["--output"], filtered=files["--filtered"],
                    rejects=files["--rejects"])
