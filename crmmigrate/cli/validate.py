"""`crmmigrate validate`: the data-quality gate over canonical datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli.common import ConfigOpt, ForceOpt, Verbose, config_datasets, configured, handles_errors
from crmmigrate.cli.outputs import guard_outputs, write_machine_outputs
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.validate import validation_table
from crmmigrate.errors import EXIT_GATE_FAILED
from crmmigrate.validate import (
    load_rules,
    load_thresholds,
    outputs,
    parse_overrides,
    validate,
)


@handles_errors
def command(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DATASET...",
            help="Canonical datasets written by `crmmigrate map`, or MAPPING=SOURCE to map a "
            "source on the fly. Several datasets of one entity are validated together. With "
            "--config and none: every source of it, extracted, mapped and cleaned as `run` does.",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Validation rules [default: rules/validation.yaml].")
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option("--thresholds", help="Thresholds [default: rules/thresholds.yaml]."),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="Override one: ENTITY.FIELD=RATE or ENTITY.CLASS=RATE, e.g. contact.email=8%. "
            "Repeatable.",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON ('-' for stdout).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML: a testcase per entity.field.")
    ] = None,
    failures: Annotated[
        Path | None,
        typer.Option("--failures", help="Write every failing value (.csv or .parquet)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
    ] = None,
    config: ConfigOpt = None,
    force: ForceOpt = False,
    verbose: Verbose = False,
) -> None:
    """Validate canonical datasets against the rules and error-rate thresholds: per entity and
    field the errors, rate, threshold and verdict. Exits 1 when any threshold is broken."""
    to_stdout = json_path is not None and str(json_path) == "-"
    migration = configured(config, datasets)
    if migration is not None:  # options given on the command line win over the config's files
        rules, thresholds = rules or migration.rules, thresholds or migration.thresholds
    # Reports (JSON, JUnit, HTML) are rewritten freely; the failures file is data.
    guard_outputs({"--json": None if to_stdout else json_path, "--junit": junit, "--failures": failures,
                   "--html": html}, inputs=[*(datasets or []), rules, thresholds], force=force,
                  replaceable=["--failures"])
    limits = load_thresholds(thresholds).with_overrides(parse_overrides(threshold or []))
    with config_datasets(migration, datasets) as (found, notes), console.progress() as progress:
        result = validate(found, rules=load_rules(rules), thresholds=limits,
                          regions=migration.phone_regions if migration else None, progress=progress)
    validation_table(result, console=console.err if to_stdout else None)
    for text in notes:
        console.note(text)
    write_machine_outputs(result, outputs, json_path=json_path, junit=junit)
    if failures is not None:
        outputs.write_failures(result, failures)
    if html is not None:
        outputs.write_html(result, html)
    for text in result.notes:
        console.note(text)
    if not result.passed:
        raise typer.Exit(EXIT_GATE_FAILED)
