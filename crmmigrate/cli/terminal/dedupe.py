"""How `crmmigrate dedupe` looks: per entity the pairs, clusters and merges; where the files went."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import Facts, out
from crmmigrate.dedupe import DedupeResult


def dedupe_summary(result: DedupeResult, files: dict[str, str], *, console: Console | None = None) -> None:
    """Per entity: records, candidate pairs, merged and review pairs, clusters, records merged;
    the pointers re-pointed; what the data could not decide (in yellow); where the files went,
    the HTML report among them."""
    console = console or out
    table = Table(title="dedupe", title_justify="left", pad_edge=False)
    for name, justify in (("entity", "left"), ("records", "right"), ("candidate pairs", "right"),
                          ("merge pairs", "right"), ("review pairs", "right"), ("clusters", "right"),
                          ("merged", "right"), ("kept", "right")):
        table.add_column(name, justify=justify, style="bold" if name == "entity" else None)
    for entity in result.entities:
        s = entity.summary()
        table.add_row(entity.entity, f"{s['records']:,}", f"{s['candidate_pairs']:,}", f"{s['merge_pairs']:,}",
                      f"{s['review_pairs']:,}", f"{s['clusters']:,}", f"{s['merged']:,}", f"{s['kept']:,}")
    console.print(table)
    if result.repointed:
        console.print("re-pointed to survivors: " + ", ".join(f"{k} {v:,}" for k, v in result.repointed.items()))
    counts = result.as_dict()
    if counts["leads_known"] or counts["leads_perhaps_known"]:
        console.print(f"leads a contact already is: {counts['leads_known']:,}, perhaps: "
                      f"{counts['leads_perhaps_known']:,}")
    for entity in result.entities:
        for key, value, size in entity.skipped_blocks[:5]:
            console.print(f"[yellow]{entity.entity}: key {escape(key)} = {escape(value)!r} is shared by {size:,} "
                          "records: too many to pair, none paired by it[/yellow]")
        for text in entity.warnings:
            console.print(f"[yellow]{escape(text)}[/yellow]")
    if files:
        facts = Facts()
        for name in ("clusters", "pairs", "review", "merged", "lead_matches", "summary", "report"):
            if name in files:
                facts.add_row(name, escape(files[name]))
        facts.print()
