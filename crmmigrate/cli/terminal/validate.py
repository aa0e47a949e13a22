"""How `crmmigrate validate` looks: every check against its threshold, then the gate's verdict."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import out
from crmmigrate.validate.outputs import percent_pair, verdict_line
from crmmigrate.validate.result import ValidationResult


def validation_table(result: ValidationResult, *, console: Console | None = None) -> None:
    """Per entity, every check against its threshold, failing checks first; then the gate's
    verdict in one line. `console` lets the caller send it to stderr when stdout holds JSON."""
    console = console or out
    for entity in result.entities:
        table = Table(title=f"{escape(entity.entity)} ({entity.rows:,} rows)", title_justify="left",
                      pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("class")
        table.add_column("errors", justify="right")
        table.add_column("rows", justify="right")
        table.add_column("rate", justify="right")
        table.add_column("threshold", justify="right")
        table.add_column("verdict")
        # sorted() is stable: within failing and passing, the validator's order is kept.
        for check in sorted(entity.checks, key=lambda c: c.passed):
            rate, threshold = percent_pair(check.rate, check.threshold)
            table.add_row(
                escape(check.field), escape(check.cls), f"{check.errors:,}", f"{check.rows:,}",
                rate, threshold, "[green]PASS[/]" if check.passed else "[bold red]FAIL[/]",
            )
        console.print(table)
    style = "green" if result.passed else "bold red"
    # One line whatever the width, so CI logs and greps see the whole list of failed checks.
    console.print(f"[{style}]{escape(verdict_line(result))}[/]", soft_wrap=True)
