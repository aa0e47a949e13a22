"""How `crmmigrate map` looks: what mapping did to every row."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from crmmigrate.cli.terminal.console import Facts, note, warning
from crmmigrate.extract import ExtractReport
from crmmigrate.mapping.engine import MapReport, issue_kind


def map_summary(
    result: MapReport,
    extracted: ExtractReport,
    *,
    output: Path,
    filtered: Path,
    rejects: Path,
) -> None:
    """What mapping did to every row, and what the engineer should look at next."""
    facts = Facts()
    facts.add_row("mapping", f"{escape(result.mapping)} -> {result.entity}")
    read = f"{escape(extracted.file)} ({extracted.rows:,} rows read"
    read += f", {extracted.rejected:,} unreadable -> {escape(str(rejects))})" if extracted.rejected else ")"
    facts.add_row("source", read)
    facts.add_row("records", f"{result.rows_out:,} -> {escape(str(output))}")
    removed = sum(result.filtered.values())
    facts.add_row("filtered", f"{removed:,}" + (f" -> {escape(str(filtered))}" if removed else ""))
    for name, count in result.filtered.items():
        facts.add_row("", f"{escape(name)}: {count:,}")
    invalid = sum(sum(c.values()) for c in result.invalid.values())
    facts.add_row("invalid", f"{invalid:,} value(s) kept as they were, listed in _issues",
                  style="yellow" if invalid else "")
    for name, reasons in result.invalid.items():
        for reason, count in reasons.items():
            sample = next((s for s in result.invalid_samples.get(name, []) if issue_kind(s["reason"]) == reason), None)
            example = f" (e.g. row {sample['row']}: {sample['value']!r})" if sample else ""
            facts.add_row("", escape(f"{name}: {count:,} {reason}{example}"))
    for name, values in result.unmapped.items():
        listed = ", ".join(f"{v!r} ({n})" for v, n in list(values.items())[:8])
        more = f" and {len(values) - 8} more" if len(values) > 8 else ""
        facts.add_row("unmapped", escape(f"{name}: {listed}{more}"), style="yellow")
    if result.custom:
        facts.add_row("custom", escape(", ".join(result.custom)))
    if result.dropped:
        facts.add_row("dropped", escape(", ".join(result.dropped)))
    facts.print()
    if result.unmentioned:
        warning(
            f"{result.mapping}: the mapping does not mention column(s) "
            f"{', '.join(repr(c) for c in result.unmentioned)}; they are kept as custom fields. "
            "Map them, or list them under custom: or drop:."
        )
    for text in extracted.notes:
        note(f"{extracted.file}: {text}")
