"""`crmmigrate extract`: read a legacy source into a staged file with provenance."""

from __future__ import annotations

from pathlib import Path
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
from crmmigrate.extract import default_rejects_path, extract


@handles_errors
def command(
    source: SourceArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write: a .parquet or .csv file.")
    ],
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected rows CSV [default: OUTPUT.rejects.csv]."),
    ] = None,
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
    """Read a CSV, Excel, JSON or SQL source into OUTPUT, every value a string, every row with
    its provenance (_source, _file, _row). Rows that cannot be read go to the rejects file."""
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
    rejects = rejects or default_rejects_path(output)
    result = extract(spec, output, rejects=rejects)
    report.extract_summary(result, output=output, rejects=rejects)
