"""`crmmigrate init`: scaffold a migration project over the samples, or draft one over your own
exports (`--from`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.cli.terminal.init import init_from_summary, init_summary
from crmmigrate.errors import BadUsage
from crmmigrate.init_from import init_from
from crmmigrate.scaffold import init_project


@handles_errors
def command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to create the project.")],
    exports: Annotated[
        list[str] | None,
        typer.Option("--from", metavar="EXPORTS",
                     help="Draft the project from your own exports: a folder, a file or a SQLAlchemy URL "
                     "(every table of it). Repeatable. Without it, the project is the samples."),
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option("--entity", metavar="FILE=ENTITY",
                     help="With --from: the entity of an export (its file name, stem or table), when its "
                     "name and headers do not tell it, e.g. export1.csv=contact. Repeatable."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into DIR even if it is not empty.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Create a migration project in DIR: migration.yaml, the sample exports, a mapping per
    source and the rules, ready for `crmmigrate run DIR/migration.yaml`. With --from, draft it
    from your exports instead: each is read and profiled, its entity guessed from its name and
    headers, a mapping drafted, and its options and phone region (from the data) written into
    migration.yaml with why. Nothing is copied."""
    if not exports:
        if entity:
            raise BadUsage("--entity is for --from: it says what one of your exports holds.")
        init_summary(init_project(directory, force=force))
        return
    forced = {}
    for item in entity or []:
        key, sep, value = item.rpartition("=")
        if not sep or not key or not value:
            raise BadUsage(f"--entity {item!r}: write FILE=ENTITY, e.g. export1.csv=contact.")
        forced[key] = value.strip().lower()
    init_from_summary(init_from(directory, exports, entities=forced, force=force))
