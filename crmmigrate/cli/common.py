"""What every command shares: source options, --verbose, and turning errors into exit codes."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from crmmigrate.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, CrmMigrateError
from crmmigrate.extract import Source

_state = {"verbose": False}

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
    typer.Option("--format", help="Force the format: csv, excel, json, jsonl or sql."),
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
TableOpt = Annotated[str | None, typer.Option("--table", help="SQL: the table to read.")]
QueryOpt = Annotated[str | None, typer.Option("--query", help="SQL: a SELECT to read.")]


def set_verbose(verbose: bool, *, reset: bool = False) -> None:
    """`crmmigrate -v CMD` and `crmmigrate CMD -v` both turn it on; each run starts it off."""
    _state["verbose"] = verbose if reset else (_state["verbose"] or verbose)
    if _state["verbose"]:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def build_source(**options: Any) -> Source:
    """A Source from CLI options, with pydantic's complaints turned into a usage error."""
    try:
        return Source(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise CrmMigrateError(problems) from None


F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(command: F) -> F:
    """Turn library errors into a one-paragraph message and an exit code; no traceback
    unless --verbose."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = kwargs.get("verbose", False)
        set_verbose(bool(verbose))
        from crmmigrate.cli import report

        report.fit_to_output()
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CrmMigrateError as exc:
            if _state["verbose"]:
                report.traceback_text(traceback.format_exc())
            report.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            report.error("interrupted.")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug in crmmigrate, not in the user's data
            if _state["verbose"]:
                report.traceback_text(traceback.format_exc())
            report.error(
                f"internal error: {type(exc).__name__}: {exc}. This is a bug in crmmigrate; "
                "rerun with --verbose and report the traceback."
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


__all__ = ["EXIT_BAD_INPUT", "build_source", "handles_errors", "set_verbose"]
