"""`crmmigrate clean`: normalise a canonical dataset with the cleaning rules, logging every change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.clean import clean_dataset
from crmmigrate.cli import report
from crmmigrate.cli.common import ForceOpt, OutputOpt, Verbose, handles_errors
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.staging import check_output


@handles_errors
def command(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET",
            help="A canonical dataset written by `crmmigrate map`, or MAPPING=SOURCE to map a source "
            "on the fly.",
        ),
    ],
    output: OutputOpt,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Cleaning rules [default: rules/cleaning.yaml].")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Region of phone numbers written without a country code, when the "
                     "record has no country, e.g. DE [default: phone_region of rules/validation.yaml]."),
    ] = None,
    changes: Annotated[
        Path | None, typer.Option("--changes", help="Change log CSV [default: OUTPUT.changes.csv].")
    ] = None,
    notes: Annotated[
        Path | None,
        typer.Option("--notes", help="Values reported or left alone, with why [default: OUTPUT.notes.csv]."),
    ] = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Clean DATASET with the rules (whitespace, mojibake, phones to E.164, emails, websites,
    countries, company and person names, dates) and write it to OUTPUT. Every changed value is
    a line of the change log; a value a rule cannot normalise is left as it was."""
    check_output(output)
    changes = changes or output.with_name(f"{output.stem}.changes.csv")
    notes = notes or output.with_name(f"{output.stem}.notes.csv")
    guard_outputs({"--output": output, "--changes": changes, "--notes": notes},
                  inputs=[dataset, rules], force=force)
    with report.progress() as progress:
        result = clean_dataset(dataset, output, rules=rules, region=region, changes=changes, notes=notes,
                               progress=progress)
    report.clean_summary(result, output=output, changes=changes, notes=notes)
