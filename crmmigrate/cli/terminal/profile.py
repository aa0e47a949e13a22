"""How `crmmigrate profile` looks: a row per column, or the profile as JSON."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import out, shown, warning
from crmmigrate.profile import TIME_SUFFIX, ColumnProfile, Profile


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def _shape_label(column: ColumnProfile, shape: str) -> str:
    """A date shape with its order decided shows the decided format: nn.nn.yyyy -> dd.mm.yyyy."""
    base = shape.removesuffix(TIME_SUFFIX)
    for dates in column.dates:
        if dates.pattern == base:
            return dates.format + shape[len(base) :]
    return shape


def _fill_cell(column: ColumnProfile) -> str:
    text = f"{100 * column.fill_rate:.1f}"
    if column.blank:
        text += f"\n{column.blank:,} blank"
    if column.fill_rate < 0.5:
        return f"[red]{text}[/]"
    return text


def profile_table(profile: Profile) -> None:
    """One row per column: fill, distinct, top values, shapes and warnings; then each warning
    in full, and how the source was read."""
    table = Table(show_lines=True, pad_edge=False)
    table.add_column("column", style="bold", overflow="fold")
    table.add_column("fill %", justify="right")
    table.add_column("distinct", justify="right")
    table.add_column("top values", overflow="fold")
    table.add_column("shapes", overflow="fold")
    table.add_column("warnings", style="yellow", overflow="fold")
    for column in profile.columns:
        table.add_row(
            escape(column.name),
            _fill_cell(column),
            f"{column.distinct:,}",
            "\n".join(f"{escape(shown(v.value))} ({v.count:,})" for v in column.top),
            "\n".join(
                f"{escape(_shape_label(column, s.value))} {_percent(s.count, column.filled)}"
                for s in column.shapes
            ),
            "\n".join(w.code for w in column.warnings),
        )
    out.print(table)
    for column in profile.columns:
        for w in column.warnings:
            out.print(f"[yellow]{escape(column.name)}: {escape(w.message)}[/]")
    if profile.extract is not None:
        out.print(escape(profile.extract.describe()))
        for note in profile.extract.notes:
            warning(f"{profile.extract.file}: {note}")


def profile_json(profile: Profile) -> None:
    """The profile as JSON on stdout; written directly so rich never wraps or styles it."""
    import json

    out.file.write(json.dumps(profile.as_dict(), indent=2, ensure_ascii=False) + "\n")
