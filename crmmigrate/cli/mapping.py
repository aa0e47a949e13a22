"""`crmmigrate mapping ...`: commands that help write mapping files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli.common import Verbose, handles_errors, takes_source
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.mapping import suggest_summary
from crmmigrate.errors import BadUsage
from crmmigrate.extract import Source
from crmmigrate.mapping.suggest import check_entity, suggest_mapping
from crmmigrate.staging import write_bytes
from crmmigrate.validate.rules import load_rules

app = typer.Typer(
    help="Write and check mapping files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_SUFFIXES = (".yaml", ".yml")


@app.command("suggest")
@handles_errors
@takes_source
def suggest(
    source: Source,
    entity: Annotated[
        str, typer.Option("--entity", help="The canonical entity to map to, e.g. contact.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the draft here (.yaml) [default: stdout]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")
    ] = False,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Validation rules whose picklist choices the draft maps "
                     "to [default: rules/validation.yaml]."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Draft a mapping file for SOURCE and one entity: each field's column guessed from
    header aliases in several languages and from the values (e-mails, phones, date formats,
    decimal marks), with its confidence; every other column kept as custom. A picklist's
    values the rules do not allow are listed in its map with their row counts, to fill in.
    Edit it, then run it with `crmmigrate map`."""
    check_entity(entity)
    if output is not None:
        _check_output(output, force=force)
    draft = suggest_mapping(source, entity, load_rules(rules))
    text = draft.to_yaml()
    if output is None:
        # stdout is the YAML alone, so it can be redirected; the summary goes to stderr.
        console.out.file.write(text)
        suggest_summary(draft, output=None)
        return
    write_bytes(output, text.encode("utf-8"))
    suggest_summary(draft, output=output)


def _check_output(output: Path, *, force: bool) -> None:
    """Before reading the source: a draft never replaces a mapping someone has edited."""
    if output.suffix.lower() not in _SUFFIXES:
        raise BadUsage(
            f"cannot write {str(output)!r}: a mapping file ends in .yaml or .yml.",
        )
    if output.exists() and not force:
        raise BadUsage(
            f"{output} exists; a draft would overwrite it.",
            hint="Choose another --output, or pass --force to replace it.",
        )
