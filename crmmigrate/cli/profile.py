"""`crmmigrate profile`: what is in each column of a source, to find dirt before mapping."""

from __future__ import annotations

from typing import Annotated

import typer

from crmmigrate.cli import report
from crmmigrate.cli.common import (
    DelimiterOpt,
    EncodingOpt,
    FormatOpt,
    HeaderRowOpt,
    NameOpt,
    QueryOpt,
    RecordsOpt,
    SheetOpt,
    SourceArg,
    TableOpt,
    Verbose,
    build_source,
    handles_errors,
)
from crmmigrate.profile import DEFAULT_TOP, profile_source


@handles_errors
def command(
    source: SourceArg,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many top values and masks to show per column.")
    ] = DEFAULT_TOP,
    json: Annotated[
        bool, typer.Option("--json", help="Print the profile as JSON on stdout, nothing else.")
    ] = False,
    format: FormatOpt = None,
    name: NameOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    header_row: HeaderRowOpt = None,
    sheet: SheetOpt = None,
    records: RecordsOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
    verbose: Verbose = False,
) -> None:
    """Profile every column of a source: fill rate, distinct and top values, value shapes
    (emails, phones, numbers and their decimal marks, date patterns and their day/month
    order), character masks, and warnings about what a mapping must deal with."""
    spec = build_source(
        location=source,
        name=name,
        format=format,
        encoding=encoding,
        delimiter=delimiter,
        header_row=header_row,
        sheet=sheet,
        records=records,
        table=table,
        query=query,
    )
    result = profile_source(spec, top=top)
    if json:
        report.profile_json(result)
    else:
        report.profile_table(result)
