"""Dates out of order: an opportunity that closes before it was created, a case closed before
it was opened, an activity completed long before it was due, a record created after the day
the report is for. Each is a day/month swap or a default typed in the old system."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from crmmigrate.model import MODEL
from crmmigrate.reporting.dialect import day, days_between
from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections.base import (
    Context,
    finding,
    provenance,
    quarantined,
    quarantined_value,
    set_metric,
)

TITLE = "Dates out of order"


@dataclass(frozen=True)
class Order:
    """Two date columns of an entity that must not be out of order (`wrong`), judged where
    both are there."""

    key: str
    title: str
    entity: str
    first: str
    then: str
    wrong: Callable[[sa.Table], sa.ColumnElement]


def _orders(ctx: Context) -> list[Order]:
    early = ctx.rules.dates.activity_early_days
    return [
        Order("dates.opportunity_closes_before_created", "Opportunities that close before they were created",
              "opportunity", "created_at", "close_date", lambda t: t.c.close_date < day(t.c.created_at)),
        Order("dates.case_closed_before_opened", "Cases closed before they were opened", "case", "opened_at",
              "closed_at", lambda t: t.c.closed_at < t.c.opened_at),
        Order("dates.activity_completed_long_before_due",
              f"Activities completed more than {early} days before they were due", "activity", "completed_at",
              "due_at", lambda t: days_between(t.c.completed_at, t.c.due_at) > early),
    ]


def _created(ctx: Context) -> list[tuple[str, str]]:
    """(entity, column) of every record's creation date: created_at, a case's opened_at."""
    columns = [(name, "opened_at" if name == "case" else "created_at") for name in MODEL.names]
    return [(name, column) for name, column in columns if column in ctx.t(name).c]


def build(ctx: Context) -> Section:
    section = Section(key="dates", title=TITLE)
    checked, total = [], 0
    for order in _orders(ctx):
        table = ctx.t(order.entity)
        first, then = table.c[order.first], table.c[order.then]
        both = sa.and_(first.is_not(None), then.is_not(None))
        # Validation's own order checks leave the later date empty at load, kept in quarantine.
        kept = sa.and_(then.is_(None), quarantined(table, order.then, f"before {order.first}"))
        wrong = sa.or_(sa.and_(both, order.wrong(table)), kept)
        count, of = ctx.counts(table, wrong, sa.or_(both, kept))
        examples = ctx.examples(sa.select(*provenance(table), first, then, table.c.quarantine)
                                .where(wrong).order_by(table.c.id))
        for example in examples:
            quarantine = example.pop("quarantine")
            if example[order.then] is None:
                example[order.then] = quarantined_value(quarantine, order.then)
                example["loaded_empty"] = True
        section.findings.append(finding(order.key, order.title, count, of, examples=examples, table="checks",
                                        hint="Often a day and month read the wrong way round, or a default date "
                                             "typed in: check the record in the old system. loaded_empty: the "
                                             "load left the date empty and kept it in quarantine."))
        checked.append([order.title, of, count])
        total += count
    tomorrow = ctx.days_ago(-1)
    count = of = 0
    examples: list[dict] = []
    for entity, column in _created(ctx):
        table = ctx.t(entity)
        future = table.c[column] >= tomorrow
        here, dated = ctx.counts(table, future, table.c[column].is_not(None))
        count, of = count + here, of + dated
        if here and len(examples) < ctx.rules.examples:
            examples += [{"entity": entity, **e} for e in ctx.examples(
                sa.select(*provenance(table), table.c[column].label("created")).where(future).order_by(table.c.id))]
    title = f"Records created after {ctx.as_of.isoformat()}"
    section.findings.append(finding("dates.created_in_future", title, count, of,
                                    examples=examples[:ctx.rules.examples], table="checks",
                                    hint="A year typed wrong (2052 for 2025), or dates read as month/day."))
    checked.append([title, of, count])
    section.tables.append(ctx.table("checks", "Date checks", rows=checked, columns=["check", "records", "out_of_order"],
                                    chart="bar", x="check", y=["out_of_order"],
                                    note="records: those with both dates (or, for creation, with the date)"))
    set_metric(section, "dates.out_of_order", total + count)
    return section
