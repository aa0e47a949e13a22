"""How `crmmigrate target` looks where it says more than a line: what repairing id_map changed."""

from __future__ import annotations

from crmmigrate.load.repair import Repair


def repair_lines(repair: Repair, *, dry_run: bool = False) -> list[str]:
    """What repairing id_map changed, one line per entity, source and kind of change."""
    how = " (dry run: not committed)" if dry_run else ""
    return [f"id_map repaired{how}: {line}" for line in repair.lines()]
