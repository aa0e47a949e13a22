"""How `crmmigrate run` looks: the lock it waits for, the gate's verdicts, then the ledger."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from crmmigrate.cli.terminal.console import Facts, note, out, warning
from crmmigrate.cli.terminal.report import reconciled, unexplained_lines
from crmmigrate.cli.terminal.target import repair_lines
from crmmigrate.run import LedgerLine, RunResult


def waiting(target: str, seconds: float) -> None:
    """Another run holds the target's lock, and this one waits for it."""
    note(f"{target}: another crmmigrate run is writing to this target (it holds the target's lock); "
         f"waiting up to {seconds:g} s for it to finish.")


def interrupted(run_id: str, started_at: str) -> None:
    """An earlier run was killed: its run.json said running; now it says interrupted."""
    note(f"run {run_id} (started {started_at}) was interrupted: it was stopped before it finished; "
         'its run.json now says "status": "interrupted".')


LEDGER_TITLE = "ledger: extracted = loaded + merged + rejected + filtered"
_ACCOUNTED = ("extracted", "loaded", "merged", "rejected", "filtered")
_WRITTEN = ("inserted", "updated", "unchanged")


def _id_map_cell(line: LedgerLine) -> str:
    if line.id_map is None:
        return "not checked (dry run)"
    if line.id_map_differ:
        return f"[bold red]{line.id_map_differ:,} differ[/]"
    return "[green]agrees[/]"


def _figures(line: LedgerLine, names: tuple[str, ...]) -> list[str]:
    cells = [f"{getattr(line, n):,}" for n in names]
    if names[0] == "extracted" and not line.balanced:
        cells[0] = f"[bold red]{line.extracted:,} ≠[/]"
    return cells


def _ledger_part(title: str, lines: list[LedgerLine], names: tuple[str, ...], *, id_map: bool,
                 stacked: bool) -> Table:
    """One ledger table: a row per entity and source with the `names` figures, then the totals.
    Stacked, the source sits indented under its entity in one column, and no cell is padded
    at the table's edges, so that figures keep their whole width on a narrow console."""
    table = Table(title=title, title_justify="left", pad_edge=False)
    labels = ["source"] if stacked else ["entity", "source"]
    for label in labels:
        table.add_column(label, overflow="fold")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    if id_map:
        table.add_column("id_map")
    check = (lambda line: [_id_map_cell(line)]) if id_map else (lambda line: [])
    entity = None
    for line in lines:
        if stacked and line.entity != entity:
            table.add_row(f"[bold]{escape(line.entity)}[/]")
        entity = line.entity
        label = [f"  {escape(line.source)}"] if stacked else [escape(line.entity), escape(line.source)]
        table.add_row(*label, *_figures(line, names), *check(line))
    table.add_section()
    totals = [f"{sum(getattr(line, n) for line in lines):,}" for n in names]
    table.add_row("all", *[""] * (len(labels) - 1), *totals, *([""] if id_map else []))
    return table


def ledger_table(lines: list[LedgerLine], *, console: Console | None = None) -> None:
    """Where every extracted row of every source ended. In one table when the console is wide
    enough for it; on a narrow one (80 columns), in two stacked tables, what happened to the
    rows and then how the loaded ones were written, so that no figure is ever cut."""
    console = console or out
    wide = _ledger_part(LEDGER_TITLE, lines, _ACCOUNTED + _WRITTEN, id_map=True, stacked=False)
    # Measured as if there were no edge: the console's own width would clamp the measure.
    if Measurement.get(console, console.options.update_width(10_000), wide).maximum <= console.width:
        console.print(wide)
        return
    console.print(_ledger_part(LEDGER_TITLE, lines, _ACCOUNTED, id_map=True, stacked=True))
    console.print(_ledger_part("loaded = inserted + updated + unchanged", lines, ("loaded", *_WRITTEN),
                               id_map=False, stacked=True))


def run_summary(result: RunResult) -> None:
    """The run's gate verdicts, then the ledger: where every extracted row of every source ended."""
    facts = Facts()
    facts.add_row("run", f"{result.run_id} -> {escape(str(result.run_dir))}")
    facts.add_row("target", escape(result.target) + (" (dry run: nothing committed)" if result.dry_run else ""))
    if result.only is not None:
        facts.add_row("only", ", ".join(result.only))
    rules = ", ".join(f"{rule} {count:,}" for rule, count in result.cleaning.by_rule().most_common())
    facts.add_row("cleaned", f"{result.cleaning.changed:,} value(s)" + (f" ({escape(rules)})" if rules else "")
                  + f" -> {escape(result.files['clean_changes'])}")
    if result.dedupe.entities:
        merged = ", ".join(f"{e.entity} {e.summary()['merged']:,} into {e.summary()['clusters']:,} survivors"
                           + (f", {e.summary()['review_pairs']:,} pair(s) to review" if e.summary()["review_pairs"]
                              else "") for e in result.dedupe.entities)
        facts.add_row("deduped", f"{escape(merged)} -> {escape(result.files['dedupe_clusters'])}")
    facts.print()

    gate = Table(title="gate", title_justify="left", pad_edge=False)
    for name in ("entity", "rows", "gate", "loaded"):
        gate.add_column(name, justify="right" if name == "rows" else "left")
    for entity in result.validation.entities:
        verdict = "[green]PASS[/]" if entity.passed else "[bold red]FAIL[/] " + escape(
            ", ".join(c.field for c in entity.failed))
        if entity.entity in result.held:
            loaded = "[yellow]no[/]: " + escape(result.held[entity.entity])
        else:
            loaded = "yes" + (" (--allow-failing)" if entity.entity in result.forced else "")
        gate.add_row(escape(entity.entity), f"{entity.rows:,}", verdict, loaded)
    out.print(gate)

    ledger_table(result.ledger)

    out.print(f"rows not loaded, with the reason: {escape(result.files['load_rejects'])} (load), "
              f"{escape(str(result.run_dir / 'extracted'))}/*.rejects.csv (extract), "
              f"{escape(result.files['validation_html'])} (validation)")
    if result.repaired:
        note("id_map disagreed with the loaded tables before this run (an earlier run ended without "
             "its ledger, two runs wrote at once, or a hand edit); it was rebuilt from the tables:")
        for line in repair_lines(result.repaired, dry_run=result.dry_run):
            note(line)
    for entity, count in result.kept.items():
        note(f"{entity}: {count:,} row(s) an earlier run loaded stay loaded as they were.")
    for entity, merges in result.merges.items():
        if merges.removed:
            note(f"{entity}: {merges.removed:,} row(s) an earlier run loaded are merged now and removed: their "
                 "values are kept in merged_record, pointers to them point at their survivor.")
        if merges.undone:
            note(f"{entity}: {merges.undone:,} merge(s) undone: the record(s) are loaded on their own again, "
                 "their merged_record entries marked undone.")
    for run in result.sources:
        for text in run.extract.notes:
            note(f"{run.extract.file}: {text}")
    if result.report is not None:
        _run_report_lines(result)
    if result.forced:
        warning(f"loaded although their gate failed (--allow-failing): {', '.join(result.forced)}.")
    if result.held:
        out.print(f"[bold red]FAILED: {len(result.held)} entit{'y' if len(result.held) == 1 else 'ies'} held "
                  f"back: {escape(', '.join(result.held))}; fix the data or the rules and run again "
                  "(loaded rows are not loaded twice).[/]", soft_wrap=True)
    else:
        out.print("[green]done: every selected entity loaded" + (" (dry run: nothing committed)"
                  if result.dry_run else "") + ".[/]")


def _run_report_lines(result: RunResult) -> None:
    """Where the report after the load went, its gate, and what the reconciliation left
    unexplained; or why it could not be written (the run stands either way)."""
    made = result.report
    assert made is not None
    if made.error is not None:
        warning(f"the report after the load was not written: {made.error} The migration is loaded; make the "
                f"report with `crmmigrate report TARGET --legacy {result.run_dir}`.")
        return
    verdict = "gate passed" if made.passed else f"gate FAILED: {'; '.join(made.failed)}"
    out.print(f"report: {escape(made.files['report_html'])} ({escape(verdict)}; reconciliation: "
              f"{reconciled(made.reconciled, made.unexplained)})", soft_wrap=True)
    unexplained_lines(made.unexplained, made.notes)
