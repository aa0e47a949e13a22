"""How `crmmigrate mapping suggest` looks: the drafted field for each column, and how sure."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import err, note, out, shown
from crmmigrate.mapping.suggest import Draft


def _confidence_cell(confidence: float) -> str:
    style = "green" if confidence >= 0.9 else "yellow" if confidence >= 0.7 else "red"
    return f"[{style}]{confidence:.2f}[/]"


def suggest_summary(draft: Draft, *, output: Path | None) -> None:
    """Which column each field is drafted from and how sure the guess is; then the columns
    kept as custom and the fields nothing was found for. On stderr when the draft itself
    went to stdout."""
    console = out if output is not None else err
    table = Table(pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("column", overflow="fold")
    table.add_column("confidence", justify="right")
    for guess in draft.guesses:
        table.add_row(escape(guess.field), escape(shown(guess.column)), _confidence_cell(guess.confidence))
    console.print(table)
    if draft.custom:
        console.print(f"custom   {len(draft.custom)}: {escape(', '.join(draft.custom))}")
    if draft.missing:
        console.print(f"missing  {len(draft.missing)}: {escape(', '.join(draft.missing))}")
    if output is not None:
        console.print(f"written  {escape(str(output))}")
    for text in draft.notes:
        note(text)
