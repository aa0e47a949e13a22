"""All terminal output of crmmigrate: rich tables for people, plain messages on stderr.

Library modules return data; only this module decides how it looks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmmigrate.extract import ExtractReport

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def fit_to_output() -> None:
    """Wrap to the terminal when there is one; never fold paths in pipes, logs and CI."""
    for console in (out, err):
        console.width = shutil.get_terminal_size().columns if console.is_terminal else 1000


def error(message: str) -> None:
    err.print(f"crmmigrate: error: {escape(message)}", markup=True)


def warning(message: str) -> None:
    err.print(f"crmmigrate: warning: {escape(message)}")


def traceback_text(text: str) -> None:
    err.print(escape(text), markup=False)


def _how(forced: bool) -> str:
    return "forced" if forced else "detected"


def describe_delimiter(delimiter: str) -> str:
    return f"{delimiter!r} ({_DELIMITER_NAMES[delimiter]})" if delimiter in _DELIMITER_NAMES else repr(delimiter)


def extract_summary(
    report: ExtractReport, *, output: Path | None = None, rejects: Path | None = None
) -> None:
    """What was read, every choice made while reading it, and where the results went."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("source", escape(report.source))
    table.add_row("file", escape(report.file))
    table.add_row("format", report.format)
    if report.encoding:
        how = _how(report.encoding_forced)
        if report.encoding_confidence is not None and not report.encoding_forced:
            how += f", confidence {report.encoding_confidence:.2f}"
        table.add_row("encoding", f"{report.encoding} ({how})")
    if report.delimiter:
        table.add_row(
            "delimiter", f"{describe_delimiter(report.delimiter)} ({_how(report.delimiter_forced)})"
        )
    if report.sheet:
        others = [s for s in report.sheets if s != report.sheet]
        text = escape(report.sheet)
        if others:
            text += f" (other sheets: {escape(', '.join(others))}; use --sheet)"
        table.add_row("sheet", text)
    if report.records_path:
        table.add_row("records", escape(report.records_path))
    if report.header_row is not None:
        if report.header_row == 0:
            text = "none (columns named by position)"
        else:
            text = f"row {report.header_row} ({_how(report.header_forced)})"
            if report.skipped_above_header:
                text += f"; {report.skipped_above_header} row(s) above it skipped"
        table.add_row("header", text)
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("columns", f"{len(report.columns)}: {escape(', '.join(report.columns))}")
    if report.skipped_blank:
        table.add_row("blank", f"{report.skipped_blank:,} blank line(s) skipped")
    rejected = f"{report.rejected:,}"
    if report.rejected and rejects is not None:
        rejected += f" -> {escape(str(rejects))}"
    table.add_row("rejected", rejected, style="red" if report.rejected else None)
    if output is not None:
        table.add_row("written", escape(str(output)))
    out.print(table)
    for note in report.notes:
        warning(f"{report.file}: {note}")
