"""How `crmmigrate clean` looks: per field what changed and by which rule; date order decisions."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import Facts, note, out, warning
from crmmigrate.clean import CleanResult, FieldReport


def clean_summary(result: CleanResult, *, output: Path, changes: Path, notes: Path) -> None:
    """Per field, how many values changed and by which rule; date order decisions; notes."""
    rows = sum(len(f) for f in result.datasets.values())
    facts = Facts()
    facts.add_row("records", f"{rows:,} -> {escape(str(output))}")
    facts.add_row("changed", f"{len(result.changes):,} value(s) -> {escape(str(changes))}")
    facts.add_row("notes", f"{len(result.notes):,} value(s) reported or left alone -> {escape(str(notes))}",
                  style="yellow" if len(result.notes) else "")
    facts.print()
    clean_table(result.fields)


def clean_table(fields: list[FieldReport], *, console: Console | None = None) -> None:
    console = console or out
    table = Table(title="cleaning", title_justify="left", pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("steps")
    table.add_column("changed", justify="right")
    table.add_column("by rule")
    table.add_column("notes", justify="right")
    table.add_column("kept invalid", justify="right")
    for f in fields:
        rules = ", ".join(f"{rule} {count:,}" for rule, count in f.by_rule.most_common())
        table.add_row(escape(f"{f.entity}.{f.field}"), escape(", ".join(f.steps)), f"{f.changed:,}",
                      escape(rules), f"{f.notes:,}", f"{f.kept_invalid:,}")
    console.print(table)
    for f in fields:
        if f.dates is None:
            continue
        d = f.dates
        evidence = f"{d.day_first:,} only day-first, {d.month_first:,} only month-first, {d.either:,} either way"
        if d.order in ("dmy", "mdy"):
            note(f"{f.entity}.{f.field}: dates read {'day' if d.order == 'dmy' else 'month'} first ({evidence}).")
        elif d.contradictory:
            warning(f"{f.entity}.{f.field}: dates are written both day-first and month-first ({evidence}); "
                    "only unambiguous values were converted. Split the column by source, or set "
                    "{date: {order: dmy}} in the rules.")
        elif d.ambiguous:
            warning(f"{f.entity}.{f.field}: no value says whether day or month comes first ({evidence}); "
                    "ambiguous values are left as they were. Set {date: {order: dmy}} (or mdy) in the rules.")
