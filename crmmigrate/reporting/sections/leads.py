"""Leads: by source and status, how old the open ones are, and leads whose email is already
a contact's (they should be converted or merged, not worked again as new business)."""

from __future__ import annotations

import sqlalchemy as sa

from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections.base import (
    Context,
    biggest_first,
    finding,
    in_order,
    provenance,
    set_metric,
    share,
)
from crmmigrate.reporting.sections.cases import age_bucket, is_open

TITLE = "Leads"


def email_key(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.lower(sa.func.trim(column))


def build(ctx: Context) -> Section:
    section = Section(key="leads", title=TITLE)
    lead, contact = ctx.t("lead"), ctx.t("contact")
    source, status = ctx.exact(lead.c.source), ctx.exact(lead.c.status)
    statement = (sa.select(source.label("source"), status.label("status"), sa.func.count().label("leads"))
                 .group_by(source, status))
    section.tables.append(ctx.table("by_source_status", "Leads by source and status", statement,
                                    order=biggest_first(2), chart="stacked", x="source", y=["leads"],
                                    series="status"))
    open_ = is_open(lead.c.status, ctx.rules.lead)
    bucket, labels = age_bucket(ctx, lead.c.created_at, ctx.rules.lead.age_days)
    statement = sa.select(bucket.label("age"), sa.func.count().label("leads")).where(open_).group_by(bucket)
    rows = [[labels[age], count] for age, count in sorted(ctx.rows(statement), key=in_order(0))]
    section.tables.append(ctx.table(
        "open_by_age", "Open leads by age", rows=rows, columns=["age", "leads"], chart="bar", x="age", y=["leads"],
        note=f"age: days from created to {ctx.as_of.isoformat()}; open: {', '.join(ctx.rules.lead.open_statuses)}"))
    set_metric(section, "lead.open_count", ctx.count(lead, open_))

    # IN a subquery, not a correlated EXISTS: each database builds the contacts' keys once (an
    # index on SQLite, a hash on PostgreSQL and MariaDB) instead of scanning them per lead.
    known = sa.and_(lead.c.email.is_not(None),
                    email_key(lead.c.email).in_(sa.select(email_key(contact.c.email))
                                                .where(contact.c.email.is_not(None))))
    total = ctx.count(lead)
    count, examples = ctx.counted_examples(sa.select(*provenance(lead), lead.c.last_name, lead.c.company,
                                                     lead.c.email, lead.c.status).where(known).order_by(lead.c.id))
    section.findings.append(finding(
        "leads.known_contacts", "Leads already known as contacts (same email)", count, total, examples=examples,
        table="by_source_status",
        hint="Convert them onto the existing contact, or close them: sales would chase an existing customer "
             "as new business."))
    set_metric(section, "lead.known_contact_share", share(count, total))
    return section
