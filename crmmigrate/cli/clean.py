"""`crmmigrate clean`: normalise a canonical dataset with the cleaning rules, logging every change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate import project
from crmmigrate.clean import clean_dataset
from crmmigrate.cli.common import (
    ConfigOpt,
    ForceOpt,
    OutputOpt,
    Verbose,
    config_datasets,
    configured,
    handles_errors,
    region_option,
)
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.clean import clean_summary
from crmmigrate.errors import BadUsage
from crmmigrate.migration import Migration
from crmmigrate.staging import check_output, write_frames


@handles_errors
def command(
    output: OutputOpt,
    dataset: Annotated[
        str | None,
        typer.Argument(
            metavar="DATASET",
            help="A canonical dataset written by `crmmigrate map`, or MAPPING=SOURCE to map a source "
            "on the fly. With --config and none: every source of it, extracted and mapped as `run` does, "
            "cleaned into the folder OUTPUT (ENTITY.parquet, changes.csv, notes.csv).",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Cleaning rules [default: rules/cleaning.yaml].")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Region of phone numbers written without a country code, when the "
                     "record has no country and its source no phone_region in --config, e.g. DE [default: "
                     "phone_region of the validation rules]."),
    ] = None,
    changes: Annotated[
        Path | None, typer.Option("--changes", help="Change log CSV [default: OUTPUT.changes.csv].")
    ] = None,
    notes: Annotated[
        Path | None,
        typer.Option("--notes", help="Values reported or left alone, with why [default: OUTPUT.notes.csv]."),
    ] = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Clean DATASET with the rules (whitespace, mojibake, phones to E.164, emails, websites,
    countries, company and person names, dates) and write it to OUTPUT. Every changed value is
    a line of the change log; a value a rule cannot normalise is left as it was."""
    region = region_option(region)
    migration = configured(config, [dataset] if dataset else None)
    if migration is not None:
        _configured(migration, dataset, output, rules=rules, region=region, changes=changes, notes=notes,
                    force=force)
        return
    assert dataset is not None  # configured() refuses neither
    check_output(output)
    changes = changes or output.with_name(f"{output.stem}.changes.csv")
    notes = notes or output.with_name(f"{output.stem}.notes.csv")
    guard_outputs({"--output": output, "--changes": changes, "--notes": notes},
                  inputs=[dataset, rules], force=force)
    with console.progress() as progress:
        result = clean_dataset(dataset, output, rules=rules, region=region, changes=changes, notes=notes,
                               progress=progress)
    clean_summary(result, output=output, changes=changes, notes=notes)


def _configured(migration: Migration, dataset: str | None, output: Path, *, rules: Path | None,
                region: str | None, changes: Path | None, notes: Path | None, force: bool) -> None:
    """Clean with the config's cleaning rules and each source's phone_region: DATASET into the
    file OUTPUT, or with none every source of the config into the folder OUTPUT."""
    if dataset is None:
        if changes is not None or notes is not None:
            raise BadUsage("--changes or --notes with --config and no DATASET: they go into the folder OUTPUT.")
        changes, notes = output / "changes.csv", output / "notes.csv"
    else:
        check_output(output)
        changes = changes or output.with_name(f"{output.stem}.changes.csv")
        notes = notes or output.with_name(f"{output.stem}.notes.csv")
    with config_datasets(migration, [dataset] if dataset else None, clean_them=False) as (found, said):
        files = {"--output": output} if dataset else {
            f"--output ({entity})": output / f"{entity}.parquet" for entity in found}
        guard_outputs({**files, "--changes": changes, "--notes": notes},
                      inputs=[dataset, rules or migration.cleaning], force=force)
        result = project.cleaned(migration, found, rules=rules, region=region)
    for text in said:
        console.note(text)
    if dataset is None:
        for entity, frame in result.datasets.items():
            write_frames(output / f"{entity}.parquet", [frame])
    else:
        write_frames(output, result.datasets.values())
    write_frames(changes, [result.changes])
    write_frames(notes, [result.notes])
    clean_summary(result, output=output, changes=changes, notes=notes)
