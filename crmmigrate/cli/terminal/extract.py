"""How `crmmigrate extract` looks: what was read, every choice made while reading it."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from crmmigrate.cli.terminal.console import Facts, note
from crmmigrate.extract import ExtractReport
from crmmigrate.extract.base import describe_delimiter


def _how(forced: bool) -> str:
    return "forced" if forced else "detected"


def extract_summary(
    report: ExtractReport, *, output: Path | None = None, rejects: Path | None = None
) -> None:
    """What was read, every choice made while reading it, and where the results went."""
    table = Facts()
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
    table.add_row("rejected", rejected, style="red" if report.rejected else "")
    if output is not None:
        table.add_row("written", escape(str(output)))
    table.print()
    for text in report.notes:
        note(f"{report.file}: {text}")
