"""`crmmigrate report`: the first reports on a loaded target, with the dirt they expose, as an
HTML dashboard, JSON and JUnit XML, and a gate on their metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from crmmigrate.cli.common import Verbose, handles_errors
from crmmigrate.cli.outputs import guard_outputs, write_machine_outputs
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.report import reconciled, report_summary, unexplained_lines
from crmmigrate.errors import EXIT_GATE_FAILED, BadUsage
from crmmigrate.migration import load_migration
from crmmigrate.progress import Progress
from crmmigrate.reporting import add_reconciliation, build_report, load_report_rules, open_target, outputs
from crmmigrate.reporting.html import write_html
from crmmigrate.load import connect
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.model import ReconcileLine
from crmmigrate.reporting.reconcile import describe, legacy_datasets, reconcile
from crmmigrate.reporting.reconcile import unexplained as find_unexplained
from crmmigrate.validate.rules import load_rules

_METRICS_HELP = ", ".join(f"{name} ({m.direction})" for name, m in METRICS.items())


def _as_of(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadUsage(f"--as-of {text!r}: not a date; write it as YYYY-MM-DD, e.g. 2025-01-31.") from None


@handles_errors
def command(
    target: Annotated[
        str | None,
        typer.Argument(metavar="TARGET_URL", help="SQLAlchemy URL of the loaded target, e.g. "
                       "sqlite:///migration.db [default: --config's target].", show_default=False),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML dashboard here, e.g. report.html.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON ('-' for stdout).")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML: a testcase per gate check and per "
                                  "finding of severity error.")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Report rules [default: rules/reports.yaml of the project, "
                                  "else the shipped one].")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", metavar="DATE", help="The day ages and past-due are counted to "
                                 "(YYYY-MM-DD) [default: today, UTC].")
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", metavar="METRIC=LIMIT",
                     help="Exit 1 when METRIC is past LIMIT (a number, or a percentage for a share), in "
                     f"the metric's direction; adds to or replaces the rules' fail_on. Repeatable. Metrics: "
                     f"{_METRICS_HELP}."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A migration config (migration.yaml): its target, and "
                                  "rules/reports.yaml beside it.")
    ] = None,
    legacy: Annotated[
        Path | None, typer.Option("--legacy", metavar="RUN_DIR", help="Reconcile with the legacy records of "
                                  "this run (runs/<run_id>/): pipeline by stage, records by owner, cases by "
                                  "status as the old systems held them beside the target, each difference "
                                  "explained by the ledger or flagged. Joined in a temporary table of the "
                                  "target's database, gone when it ends.")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Report on a loaded target: pipeline, accounts, contacts and contact roles, cases and
    activities, leads, picklist noise and dates out of order, each aggregated in the database
    with the dirt it exposes flagged and examples by legacy source and id. Reads only (with
    --legacy, the legacy records go into a temporary table). Exits 1 when a fail_on limit is
    broken."""
    project: Path | str = ""
    validation = None
    if config is not None:
        migration = load_migration(config)
        target = target or migration.target
        project = migration.file.parent
        validation = load_rules(migration.rules)
    if target is None:
        raise BadUsage("missing TARGET_URL: give the target's URL, or --config migration.yaml for its target.")
    to_stdout = json_path is not None and str(json_path) == "-"
    guard_outputs({"-o": output, "--json": None if to_stdout else json_path, "--junit": junit},
                  inputs=[target, rules, config], replaceable=[])  # reports: rewritten freely
    day = _as_of(as_of)
    report_rules = load_report_rules(rules, project=project).with_fail_on(fail_on or [])
    records, notes = legacy_datasets(legacy) if legacy is not None else ({}, [])
    engine = open_target(target)
    try:
        with console.progress() as progress:
            result = build_report(engine, rules=report_rules, as_of=day, progress=progress, validation=validation)
            if legacy is not None:
                add_reconciliation(result, _reconcile(target, records, progress), report_rules)
    finally:
        engine.dispose()
    report_summary(result, console=console.err if to_stdout else None)
    if legacy is not None:
        unexplained = [describe(line) for line in find_unexplained(result.reconciliation)]
        (console.err if to_stdout else console.out).print(
            f"reconciliation with {legacy}: {reconciled(len(result.reconciliation), unexplained)}",
            markup=False, soft_wrap=True)
        unexplained_lines(unexplained, notes)
    write_machine_outputs(result, outputs, json_path=json_path, junit=junit)
    if output is not None:
        write_html(result, output)
    if not result.passed:
        raise typer.Exit(EXIT_GATE_FAILED)


def _reconcile(target: str, records: dict[str, pd.DataFrame], progress: Progress) -> list[ReconcileLine]:
    """The reconciliation, on a connection of its own: the report's may not write, not even a
    temporary table."""
    progress("report", "reconciliation", 0, 1)
    engine = connect(target)
    try:
        lines = reconcile(engine, records)
    finally:
        engine.dispose()
    progress("report", "reconciliation", 1, 1)
    return lines
