"""Cases and activities: open cases by age and priority, cases with no activity logged against
them, activities by type and owner per week.

An activity points at its record through two columns: `related_entity` names the entity
('case') and `related_id` holds that entity's target id, so a case's activities are those with
related_entity = 'case' and related_id = case.id (an account's activity with the same number
is not one)."""

from __future__ import annotations

import sqlalchemy as sa

from crmmigrate.reporting.dialect import week_start
from crmmigrate.reporting.model import Section
from crmmigrate.reporting.rules import OpenItems
from crmmigrate.reporting.sections.base import (
    Context,
    biggest_first,
    finding,
    in_order,
    lowered,
    norm,
    provenance,
    set_metric,
    share,
)

TITLE = "Cases and activities"


def is_open(status: sa.ColumnElement, rules: OpenItems) -> sa.ColumnElement:
    """A status the rules call open (compared ignoring case and outer spaces)."""
    return norm(status).in_(lowered(rules.open_statuses))


def age_bucket(ctx: Context, column: sa.ColumnElement, days: list[int]) -> tuple[sa.ColumnElement, list[str]]:
    """A CASE giving each record's age bucket as a number (0 for the youngest), and the
    buckets' labels; the last label is for a record without the date. Ages are compared with
    cutoff datetimes bound as parameters."""
    labels = [f"{low}-{high} days" for low, high in zip([0, *(d + 1 for d in days[:-1])], days, strict=True)]
    labels += [f"over {days[-1]} days", "no date"]
    whens = [(column >= ctx.days_ago(limit), i) for i, limit in enumerate(days)]
    bucket = sa.case((column.is_(None), len(days) + 1), *whens, else_=len(days))
    return bucket, labels


def build(ctx: Context) -> Section:
    section = Section(key="cases", title=TITLE)
    case, activity = ctx.t("case"), ctx.t("activity")
    open_ = is_open(case.c.status, ctx.rules.case)
    bucket, labels = age_bucket(ctx, case.c.opened_at, ctx.rules.case.age_days)
    priority = ctx.exact(case.c.priority)
    statement = (sa.select(bucket.label("age"), priority.label("priority"), sa.func.count().label("cases"))
                 .where(open_).group_by(bucket, priority))
    rows = [[labels[age], *rest] for age, *rest in sorted(ctx.rows(statement), key=in_order(0, 1))]
    section.tables.append(ctx.table(
        "open_by_age", "Open cases by age and priority", rows=rows, columns=["age", "priority", "cases"],
        chart="stacked", x="age", y=["cases"], series="priority",
        note=f"age: days from opened to {ctx.as_of.isoformat()}; open: {', '.join(ctx.rules.case.open_statuses)}"))
    status = ctx.exact(case.c.status)
    statement = sa.select(status.label("status"), sa.func.count().label("cases")).group_by(status)
    section.tables.append(ctx.table("by_status", "Cases by status", statement, order=biggest_first(1),
                                    chart="bar", x="status", y=["cases"]))
    set_metric(section, "case.open_count", ctx.count(case, open_))

    logged = sa.exists().where(activity.c.related_entity == "case", activity.c.related_id == case.c.id)
    total, count = ctx.count(case), ctx.count(case, ~logged)
    examples = ctx.examples(sa.select(*provenance(case), case.c.subject, case.c.status, case.c.opened_at)
                            .where(~logged).order_by(case.c.id))
    section.findings.append(finding(
        "cases.without_activity", "Cases with no activity logged", count, total, examples=examples,
        table="open_by_age",
        hint="Either nobody worked them, or the call-centre log was not migrated or not linked to its case."))
    set_metric(section, "case.without_activity_share", share(count, total))
    _activities(ctx, section)
    return section


def _activities(ctx: Context, section: Section) -> None:
    activity = ctx.t("activity")
    week = week_start(sa.func.coalesce(activity.c.completed_at, activity.c.due_at))
    kind, owner = ctx.exact(activity.c.type), ctx.exact(activity.c.owner)
    statement = (sa.select(week.label("week"), kind.label("type"), owner.label("owner"),
                           sa.func.count().label("activities")).group_by(week, kind, owner))
    # Newest week first (a stable sort keeps type and owner in order within a week).
    rows = sorted(sorted(ctx.rows(statement), key=in_order(1, 2)), key=lambda r: r[0] or "", reverse=True)
    section.tables.append(ctx.table(
        "activities_by_week", "Activities by type and owner per week", rows=rows,
        columns=["week", "type", "owner", "activities"], chart="stacked", x="week", y=["activities"], series="type",
        note="week: the Monday of the week it was completed in (due, when not completed); newest first"))
