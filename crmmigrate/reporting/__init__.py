"""`crmmigrate report`: the first reports on a loaded target, the dirt they expose, and a gate.

    report = build_report(engine, rules=load_report_rules())
    outputs.write_json(report, "report.json")

`build_report` only reads: every section is a set of aggregate queries in one read-only
transaction, so the report sees one state of the target even while nothing else is locked
(a run, which holds the target's lock, has them built side by side instead).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from crmmigrate import parallel

from crmmigrate.load.engine import side_by_side
from crmmigrate.load.schema import build_metadata
from crmmigrate.passwords import mask_url
from crmmigrate.progress import Progress
from crmmigrate.reporting.gate import judge
from crmmigrate.reporting.model import ReconcileLine, Report, Section
from crmmigrate.reporting.rules import ReportRules, load_report_rules
from crmmigrate.reporting.sections import SECTIONS, Context
from crmmigrate.reporting.target import NotATarget, check_is_target, open_target
from crmmigrate.validate.rules import ValidationRules, load_rules


def build_report(engine: sa.Engine, *, rules: ReportRules, as_of: dt.date | None = None,
                 progress: Progress | None = None, validation: ValidationRules | None = None,
                 held: bool = False) -> Report:
    """Every section of the report on the target behind `engine`, and the gate's verdict on
    its metrics. `as_of` is the day ages and past-due are counted to (default: today, UTC);
    `validation` the project's validation rules, whose picklist choices name the value a
    variant is of (default: rules/validation.yaml, else the shipped one). `held`: the caller
    holds the target's lock (a run, after its load), so no other run writes to it: the
    sections are built side by side, each on a connection of its own, one per core (the
    databases' work lets go of the GIL), instead of one after another in one read
    transaction."""
    started = time.perf_counter()
    check_is_target(engine)
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    report = Report(target=mask_url(engine.url), generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    as_of=as_of.isoformat())
    tables = {t.name: t for t in build_metadata().sorted_tables}
    validation = validation or load_rules()

    def built(named: tuple[str, Callable[[Context], Section]], connection: sa.Connection) -> Section:
        name, build = named
        if progress is not None:
            progress("report", name, 0, 1)
        section = build(Context(connection, tables, rules, as_of, validation))
        if progress is not None:
            progress("report", name, 1, 1)
        return section

    if side_by_side(engine, held=held):
        def alone(named: tuple[str, Callable[[Context], Section]]) -> Section:
            with engine.connect() as connection:
                try:
                    return built(named, connection)
                finally:
                    connection.rollback()

        pool = ThreadPoolExecutor(parallel.cores(), thread_name_prefix="crmmigrate-report")
        try:
            report.sections.extend(pool.map(alone, SECTIONS))
        finally:  # on Ctrl-C or an error, the sections not started are not waited for
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        with engine.connect() as connection:
            report.sections.extend(built(named, connection) for named in SECTIONS)
            connection.rollback()  # nothing was written; end the read transaction
    report.gate = judge(report.metrics, rules.fail_on)
    report.seconds = time.perf_counter() - started
    return report


def add_reconciliation(report: Report, lines: list[ReconcileLine], rules: ReportRules) -> None:
    """The reconciliation with the legacy records put in the report, and the gate judged again:
    its `reconciliation.unexplained_lines` can hold a cutover as any other metric."""
    report.reconciliation = lines
    report.gate = judge(report.metrics, rules.fail_on)


__all__ = ["NotATarget", "Report", "ReportRules", "add_reconciliation", "build_report", "load_report_rules",
           "open_target"]
