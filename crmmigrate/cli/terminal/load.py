"""How `crmmigrate load` looks: per entity and source what loading did."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import out, warning
from crmmigrate.load.engine import LoadReport


def load_summary(result: LoadReport, *, rejects: Path) -> None:
    """Per entity and source what loading did, then what was held back and why."""
    table = Table(title=f"load into {escape(result.target)}" + (" (dry run: nothing committed)" if result.dry_run else ""),
                  title_justify="left", pad_edge=False)
    for name in ("entity", "source", "rows", "inserted", "updated", "unchanged", "rejected", "quarantined"):
        table.add_column(name, justify="left" if name in ("entity", "source") else "right")
    for s in result.sources:
        table.add_row(escape(s.entity), escape(s.source), f"{s.rows:,}", f"{s.inserted:,}", f"{s.updated:,}",
                      f"{s.unchanged:,}", f"{s.rejected:,}", f"{s.quarantined:,}")
    out.print(table)
    if result.rejects:
        out.print(f"rejected rows and their reasons -> {escape(str(rejects))}")
    for entity, why in result.skipped.items():
        warning(f"{entity} not loaded: {why}")
