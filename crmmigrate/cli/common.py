"""What every command shares: source options, --verbose, and turning errors into exit codes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import pandas as pd
import typer
from pydantic import ValidationError

from crmmigrate.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, BadUsage, CrmMigrateError
from crmmigrate import project
from crmmigrate.datasets import collect_datasets
from crmmigrate.extract import Source
from crmmigrate.migration import Migration, load_migration
from crmmigrate.passwords import MaskingFilter
from crmmigrate.validate.rules import known_region

_state = {"verbose": False}
F = TypeVar("F", bound=Callable[..., Any])

Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show debug logging and tracebacks.")
]

SourceArg = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE", help="A file (CSV, TSV, XLSX, JSON, JSONL) or a SQLAlchemy URL."
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", help="Force the format: csv, excel, json, jsonl, sql, or parquet (staged)."
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Source name recorded in provenance [default: file stem]."),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Force the encoding, e.g. cp1251, utf-16, gbk.")
]
DelimiterOpt = Annotated[
    str | None, typer.Option("--delimiter", help="Force the delimiter: , ; | or tab.")
]
HeaderRowOpt = Annotated[
    int | None,
    typer.Option("--header-row", min=0, help="Row number of the header, from 1; 0: no header."),
]
SheetOpt = Annotated[
    str | None, typer.Option("--sheet", help="Excel sheet: its name, or its number from 1.")
]
RecordsOpt = Annotated[
    str | None,
    typer.Option("--records", help="JSON: dotted path to the array of records, e.g. data.items."),
]
OutputOpt = Annotated[
    Path, typer.Option("--output", "-o", help="Where to write: a .parquet or .csv file.")
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Overwrite output files that crmmigrate did not write (never an input)."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A migration config (migration.yaml): its rules, thresholds, cleaning and "
                 "dedupe files, and each source's extract options, mapping and phone_region, as `run` uses "
                 "them; with no DATASET or SOURCE, every source of it."),
]
TableOpt = Annotated[str | None, typer.Option("--table", help="SQL: the table to read.")]
QueryOpt = Annotated[str | None, typer.Option("--query", help="SQL: a SELECT to read.")]


def set_verbose(verbose: bool, *, reset: bool = False) -> None:
    """`crmmigrate -v CMD` and `crmmigrate CMD -v` both turn it on; each run starts it off."""
    _state["verbose"] = verbose if reset else (_state["verbose"] or verbose)
    if _state["verbose"]:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())


# The source argument and options every reading command takes, in --help order.
_SOURCE_PARAMETERS = (
    ("location", SourceArg, inspect.Parameter.empty),
    ("format", FormatOpt, None),
    ("name", NameOpt, None),
    ("encoding", EncodingOpt, None),
    ("delimiter", DelimiterOpt, None),
    ("header_row", HeaderRowOpt, None),
    ("sheet", SheetOpt, None),
    ("records", RecordsOpt, None),
    ("table", TableOpt, None),
    ("query", QueryOpt, None),
)


_NAMED_SOURCE = Annotated[
    str | None,
    typer.Argument(
        metavar="SOURCE",
        help="A file (CSV, TSV, XLSX, JSON, JSONL) or a SQLAlchemy URL; with --config, the name of one of "
        "its sources [default: every source].",
    ),
]


def takes_source(command: F | None = None, *, configurable: bool = False) -> Any:
    """Give a command the SOURCE argument and every source option, and call it with the
    built `Source` as its `source` parameter; the command declares only its own options.

    A `configurable` command also declares `config` (--config) and `named`: given a config,
    SOURCE is optional and names one of its sources (passed as `named`, with `source` None);
    the source options then come from the config only, one place for them."""
    if command is None:
        return functools.partial(takes_source, configurable=configurable)
    signature = inspect.signature(command)
    hints = get_type_hints(command, include_extras=True)  # annotations may be strings
    own = [
        p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if name not in ("source", "named")
    ]
    parameters = list(_SOURCE_PARAMETERS)
    if configurable:
        parameters[0] = ("location", _NAMED_SOURCE, None)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in parameters
    ]
    keyword_only = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name, _, _ in _SOURCE_PARAMETERS}
        if not configurable:
            return command(source=build_source(**options), **kwargs)
        location = options.pop("location")
        if kwargs.get("config") is None:
            if location is None:
                raise BadUsage("missing SOURCE: give a file or URL, or --config migration.yaml for its sources.")
            return command(source=build_source(location=location, **options), named=None, **kwargs)
        given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
        if given:
            raise BadUsage(
                f"{', '.join(given)} with --config: a source's options are read from {kwargs['config']}, "
                "so that every command reads it the same way.",
                hint="Set them on the source's entry in the config (see `Migration config` in the README).",
            )
        return command(source=None, named=location, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[added[0], *keyword_only, *added[1:]])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def configured(config: Path | None, datasets: list[str] | None) -> Migration | None:
    """The migration config a dataset command was given, read and checked; None without one.
    A command needs datasets or a config."""
    if config is None:
        if not datasets:
            raise BadUsage("missing DATASET...: give canonical datasets, or --config migration.yaml for its sources.")
        return None
    return load_migration(config)


@contextlib.contextmanager
def config_datasets(migration: Migration | None, items: list[str] | None, *, clean_them: bool = True
                    ) -> Iterator[tuple[dict[str, pd.DataFrame], list[str]]]:
    """The datasets of a command and notes about them: `items` as given, or every source of
    the config extracted and mapped (and cleaned) as a run does it, its staged files in a
    temporary folder removed after."""
    if migration is None:
        yield collect_datasets(items or []), []
        return
    with tempfile.TemporaryDirectory(prefix="crmmigrate-") as folder:
        yield project.datasets(migration, items, Path(folder), clean_them=clean_them)


def region_option(region: str | None, option: str = "--region") -> str | None:
    """A phone region from the command line, checked: an ISO 3166 code phonenumbers knows."""
    try:
        return known_region(region)
    except ValueError as exc:
        raise BadUsage(f"{option}: {exc}.") from None


def build_source(**options: Any) -> Source:
    """A Source from CLI options, with pydantic's complaints turned into a usage error."""
    try:
        return Source(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise CrmMigrateError(problems) from None


def handles_errors(command: F) -> F:
    """Turn library errors into a one-paragraph message and an exit code; no traceback
    unless --verbose."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = kwargs.get("verbose", False)
        set_verbose(bool(verbose))
        from crmmigrate.cli.terminal import console

        console.fit_to_output()
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CrmMigrateError as exc:
            if _state["verbose"]:
                console.traceback_text(traceback.format_exc())
            console.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted.")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug in crmmigrate, not in the user's data
            if _state["verbose"]:
                console.traceback_text(traceback.format_exc())
            console.error(
                f"internal error: {type(exc).__name__}: {exc}. This is a bug in crmmigrate; "
                "rerun with --verbose and report the traceback."
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


__all__ = ["EXIT_BAD_INPUT", "build_source", "handles_errors", "set_verbose", "takes_source"]
