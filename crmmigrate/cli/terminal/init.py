"""How `crmmigrate init` looks: the project created, or the one drafted from exports."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import out, warning
from crmmigrate.defaults import RULES_DIR
from crmmigrate.init_from import Project
from crmmigrate.scaffold import Scaffold


def init_summary(scaffold: Scaffold) -> None:
    out.print(f"created {escape(str(scaffold.directory))}: migration.yaml, samples/, mappings/, rules/ "
              f"({len(scaffold.files)} files)")
    out.print(f"next: crmmigrate run {escape(str(scaffold.config))}")


def init_from_summary(project: Project) -> None:
    """Per export: its entity and why, its rows, its phone region and why; then what to do next."""
    table = Table(title=f"drafted {escape(str(project.config))}", title_justify="left", box=None,
                  pad_edge=False, show_edge=False)
    for name in ("source", "rows", "entity", "phone_region", "mapping"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for s in project.sources:
        table.add_row(escape(s.name), f"{s.rows:,}",
                      escape(s.entity) if s.entity else "[yellow]?[/yellow]",
                      escape(s.region.region or "-"), escape(str(s.mapping)))
    out.print(table)
    for s in project.sources:
        out.print(f"{escape(s.name)}: {escape(s.entity or 'entity not recognised')}: {escape(s.entity_why)}; "
                  f"phone_region {escape(s.region.region or 'not set')}: {escape(s.region.why)}")
    for path in project.skipped:
        warning(f"{path}: skipped: not a format crmmigrate reads (CSV, TSV, Excel, JSON, JSON Lines, SQLite).")
    for s in project.undecided:
        warning(f"{s.shown}: the entity could not be told ({s.entity_why}); write it in {s.mapping} "
                f"(entity: FILL IN), or run init again with --entity {Path(s.location).name}=ENTITY.")
    out.print(f"rules: crmmigrate's defaults ({escape(str(RULES_DIR))}); copy one into "
              f"{escape(str(project.directory / 'rules'))}/ to change it for this project")
    out.print("next:")
    out.print(f"  1. check and edit each mapping in {escape(str(project.directory / 'mappings'))}/ "
              "(every field marked with its confidence; picklist values to FILL IN)")
    out.print(f"  2. crmmigrate validate --config {escape(str(project.config))}")
    out.print(f"  3. crmmigrate run {escape(str(project.config))}")
