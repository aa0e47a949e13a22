"""How `crmmigrate report` looks in the terminal: per section its headline numbers and its
findings, then the gate's verdict, and the reconciliation with the legacy records (which the
report after a run shows too). Presentation only; the report itself is built elsewhere."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmmigrate.cli.terminal.console import note, out, warning
from crmmigrate.reporting.numbers import metric_text
from crmmigrate.reporting.model import Finding, Report
from crmmigrate.reporting.outputs import check_summary

_STYLE = {"error": "red", "warning": "yellow", "info": ""}


def verdict_line(report: Report) -> str:
    failed = [c for c in report.gate if not c.passed]
    if failed:
        return f"FAILED: {len(failed)} of {len(report.gate)} gate check(s): " + ", ".join(c.metric for c in failed)
    if not report.gate:
        return "PASSED: no gate checks (fail_on is empty)"
    return f"PASSED: all {len(report.gate)} gate checks"


def report_summary(report: Report, *, console: Console | None = None) -> None:
    """Per section its metrics and findings (count of population, worst first), then each gate
    check and the verdict."""
    console = console or out
    console.print(f"[bold]report on {escape(report.target)}[/bold] (as of {report.as_of}, "
                  f"{report.seconds:.1f} s)")
    for section in report.sections:
        judged = [f for f in section.findings if f.of]  # a finding of 0 records judged nothing
        if judged:
            _findings(judged, section.title, console)
        elif section.findings:
            console.print(f"[bold]{escape(section.title)}[/bold]: no records to judge")
        else:
            console.print(f"[bold]{escape(section.title)}[/bold]: nothing to flag")
        if section.metrics:
            console.print("  " + "; ".join(f"{escape(name)} {metric_text(name, value)}"
                                           for name, value in section.metrics.items()))
    for check in report.gate:
        colour = "green" if check.passed else "red"
        console.print(f"[{colour}]{'pass' if check.passed else 'FAIL'}[/{colour}] {escape(check_summary(check))}")
    colour = "green" if report.passed else "red"
    console.print(f"[bold {colour}]{escape(verdict_line(report))}[/bold {colour}]")


def _findings(findings: list[Finding], title: str, console: Console) -> None:
    """A section's findings, those found first (errors first, then by share), with the legacy
    source and id of the first example."""
    table = Table(title=escape(title), title_justify="left", pad_edge=False)
    table.add_column("finding")
    table.add_column("count", justify="right")
    table.add_column("of", justify="right")
    table.add_column("share", justify="right")
    table.add_column("example")
    for finding in sorted(findings, key=lambda f: (-(f.count > 0), f.severity != "error", -f.rate)):
        example = finding.examples[0] if finding.examples else None
        shown = f"{example.get('legacy_source')}:{example.get('legacy_id')}" if example else ""
        style = _STYLE[finding.severity] if finding.count else "dim"
        table.add_row(escape(finding.title), f"{finding.count:,}", f"{finding.of:,}",
                      f"{100 * finding.rate:.1f}%", escape(shown), style=style)
    console.print(table)


def reconciled(lines: int, unexplained: list[str]) -> str:
    """How many reconciliation lines the ledger explains."""
    if unexplained:
        return f"{len(unexplained):,} of {lines:,} line(s) unexplained"
    return f"all {lines:,} line(s) explained by the ledger"


def unexplained_lines(unexplained: list[str], notes: list[str]) -> None:
    """A warning per reconciliation line the ledger does not explain, and the notes on the legacy side."""
    for line in unexplained:
        warning(f"reconciliation: {line}.")
    for text in notes:
        note(text)
